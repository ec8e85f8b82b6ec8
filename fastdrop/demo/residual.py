"""``fastdrop demo residual``: DropPath (stochastic depth) rates in a residual network.

A residual MLP (a stem, then residual blocks ``x + drop_path(f(x))`` with
``f`` = LayerNorm - Linear - ReLU - Linear) learns the digits from a small
training set.  ``droppath`` drops a block's branch for whole examples, so a
dropped example skips that block (Huang et al., "Deep Networks with
Stochastic Depth", ECCV 2016).  The rate grows linearly with depth, their
"linear decay rule": block l of L drops with probability ``p * l / L``; the
arms differ in the last block's rate p.
"""
from __future__ import annotations

from typing import List, Tuple

import numpy as np

import fastdrop as fd
from fastdrop import graph as G

from .data import QUICK_VAL, digits
from .experiment import Arm, Experiment, PageLayer

__all__ = ["experiment", "RATES"]

RATES = (0.0, 0.1, 0.2, 0.3)
LEARNING_RATE = 1e-3
BATCH = 32


def label(rate: float) -> str:
    return "no DropPath" if rate == 0 else f"DropPath p = {rate:g}"


def _arm(rate: float, width: int, depth: int) -> Arm:
    def build(rng: np.random.Generator, generator: fd.Generator) -> G.Layer:
        blocks: List[G.Layer] = []
        for block in range(1, depth + 1):
            branch = G.Sequential([G.LayerNorm(width), G.Linear(width, width, rng=rng), G.ReLU(),
                                   G.Linear(width, width, rng=rng)])
            drop = fd.layer("droppath", p=rate * block / depth, generator=generator) if rate else None
            blocks.append(G.Residual(branch, drop=drop))
        return G.Sequential([G.Linear(64, width, rng=rng), *blocks, G.LayerNorm(width), G.Linear(width, 10, rng=rng)])

    def watch(model: G.Layer) -> List[Tuple[str, G.Layer]]:
        assert isinstance(model, G.Sequential)
        found = []
        for block in range(1, depth + 1):
            residual = model[block]
            assert isinstance(residual, G.Residual) and residual.drop is not None
            found.append((f"block {block}", residual.drop))
        return found

    return Arm(label(rate), build, watch if rate > 0 else None)


def experiment(quick: bool, seed: int) -> Experiment:
    width, depth, train_size = (16, 2, 200) if quick else (128, 6, 300)
    data = digits(train_size, seed, val_size=QUICK_VAL if quick else 0)
    return Experiment(
        name="residual", title="DropPath (stochastic depth) rates in a residual network",
        setup=(f"Residual MLP: linear(64, {width}), {depth} blocks x + droppath(LayerNorm - linear - ReLU - "
               f"linear)(x), LayerNorm, linear(10), on {data.description}; block l of {depth} drops its branch "
               f"for an example with probability p * l / {depth} (the linear decay rule), p = "
               f"{', '.join(f'{r:g}' for r in RATES)}; Adam (learning rate {LEARNING_RATE}); every arm starts "
               f"from the same weights and sees the same batches."),
        data=data, arms=[_arm(rate, width, depth) for rate in RATES],
        epochs=3 if quick else 60, repeats=2 if quick else 5, batch_size=BATCH, eval_every=1 if quick else 2,
        make_optimizer=lambda params: G.Adam(params, lr=LEARNING_RATE),
        page_layers=[PageLayer("input", 64, 64, what="pixels")]
        + [PageLayer(f"block {b}", BATCH, BATCH, f"block {b}", "examples of the batch")
           for b in range(1, depth + 1)]
        + [PageLayer("output", 10, 10)])

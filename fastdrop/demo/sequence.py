"""``fastdrop demo sequence``: elementwise vs locked (variational) dropout around a GRU.

Each 8x8 digit is read as a sequence of 8 rows of 8 pixels (the small
cousin of "sequential MNIST") by two stacked GRU layers; the classifier
reads the last hidden state.  Dropout sits on the sequence the first GRU
passes to the second, in two forms at the same p: elementwise, a new mask
at every time step, or locked (Gal & Ghahramani, NeurIPS 2016; the
"locked dropout" of Merity et al., ICLR 2018), one mask per sequence
shared by all its steps, so that a dropped unit is dropped for the whole
sequence.
"""
from __future__ import annotations

from typing import Dict, List, Tuple

import numpy as np

import fastdrop as fd
from fastdrop import graph as G

from .data import QUICK_VAL, digits
from .experiment import Arm, Experiment, PageLayer, VariantSpec, variant_layers

__all__ = ["experiment", "VARIANTS"]

P = 0.3
VARIANTS: Dict[str, VariantSpec] = {
    "no dropout": None,
    "elementwise": ("dropout", {"p": P}),
    "locked": ("locked", {"p": P, "time_axis": 1}),
}
LEARNING_RATE = 3e-3
BATCH = 32


def _arm(label: str, variant: VariantSpec, hidden: int) -> Arm:
    def build(rng: np.random.Generator, generator: fd.Generator) -> G.Layer:
        return G.Sequential([G.GRU(8, hidden, rng=rng), *variant_layers(variant, generator),
                             G.GRU(hidden, hidden, return_sequences=False, rng=rng), G.Linear(hidden, 10, rng=rng)])

    def watch(model: G.Layer) -> List[Tuple[str, G.Layer]]:
        assert isinstance(model, G.Sequential)
        return [("GRU 1 output", model[1])]

    return Arm(label, build, watch if variant is not None else None)


def experiment(quick: bool, seed: int) -> Experiment:
    hidden, train_size = (8, 200) if quick else (64, 300)
    data = digits(train_size, seed, layout="rows", val_size=QUICK_VAL if quick else 0)
    return Experiment(
        name="sequence", title="elementwise vs locked (variational) dropout between two GRU layers",
        setup=(f"GRU({hidden}) - [dropout] - GRU({hidden}, last step) - linear(10) on {data.description}; "
               f"the dropout on the first GRU's output sequence is elementwise (a new mask at each of the 8 "
               f"steps) or locked (one mask per sequence), both at p = {P}; Adam (learning rate "
               f"{LEARNING_RATE}); every arm starts from the same weights and sees the same batches."),
        data=data, arms=[_arm(label, variant, hidden) for label, variant in VARIANTS.items()],
        pairs=[("locked", "elementwise")],
        epochs=3 if quick else 60, repeats=2 if quick else 5, batch_size=BATCH, eval_every=1 if quick else 2,
        make_optimizer=lambda params: G.Adam(params, lr=LEARNING_RATE),
        page_layers=[PageLayer("input", 64, 64, what="pixels (8 rows = 8 steps)"),
                     PageLayer("GRU 1 output", hidden, hidden, "GRU 1 output", "units (across) x 8 steps (down)"),
                     PageLayer("GRU 2", 24, hidden), PageLayer("output", 10, 10)])

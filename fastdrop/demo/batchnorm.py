"""``fastdrop demo batchnorm``: dropout before vs after batch normalization.

Li, Chen, Hu & Yang, "Understanding the Disharmony between Dropout and
Batch Normalization by Variance Shift" (CVPR 2019): dropout scales the
variance of what it passes on in training but not in evaluation, so a
batch normalization layer downstream of it learns running statistics that
do not hold at evaluation time.  An MLP with batch normalization in each
hidden layer gets dropout at three places: right before each batch norm,
after each (before the next layer's linear map, which still feeds the
next batch norm), and only after the last batch norm, before the
classifier (the placement Li et al. recommend).  Besides the usual
numbers the table gives the variance shift of the last batch norm: its
running variance over the variance of its input at evaluation time, on
the validation set (1 when the running statistics hold).
"""
from __future__ import annotations

from typing import Dict, List, Tuple

import numpy as np

import fastdrop as fd
from fastdrop import graph as G

from .experiment import Arm, Data, Experiment, PageLayer
from .data import QUICK_VAL, digits

__all__ = ["experiment", "variance_shift", "PLACES"]

P = 0.5
PLACES = {
    "no dropout": "none",
    "before each BN": "before",
    "after each BN": "after",
    "after the last BN only": "last",
}
LEARNING_RATE, MOMENTUM, BATCH = 0.01, 0.9, 32


def _arm(label: str, place: str, hidden: int, depth: int) -> Arm:
    def build(rng: np.random.Generator, generator: fd.Generator) -> G.Layer:
        def drop() -> List[G.Layer]:
            return [G.Dropout(P, generator=generator)]

        layers: List[G.Layer] = []
        width = 64
        for block in range(depth):
            layers.append(G.Linear(width, hidden, rng=rng))
            if place == "before":
                layers += drop()
            layers += [G.BatchNorm(hidden), G.ReLU()]
            if place == "after" or (place == "last" and block == depth - 1):
                layers += drop()
            width = hidden
        return G.Sequential(layers + [G.Linear(hidden, 10, rng=rng)])

    def watch(model: G.Layer) -> List[Tuple[str, G.Layer]]:
        drops = [layer for layer in model.modules() if isinstance(layer, G.Dropout)]
        return [(f"dropout {i + 1}", layer) for i, layer in enumerate(drops[:2])]

    return Arm(label, build, watch if place != "none" else None)


def variance_shift(model: G.Layer, data: Data) -> Dict[str, float]:
    """Running variance / variance of the input at evaluation time, geometric mean over the units,
    for the last batch normalization layer (validation set, evaluation mode)."""
    assert isinstance(model, G.Sequential)
    norms = [i for i, layer in enumerate(model.layers) if isinstance(layer, G.BatchNorm)]
    last = norms[-1]
    model.eval()
    try:
        x = data.x_val
        for layer in model.layers[:last]:
            x = layer(x)
    finally:
        model.train()
    norm = model.layers[last]
    assert isinstance(norm, G.BatchNorm)
    ratio = norm.running_var / (np.var(x, axis=0) + norm.eps)
    return {"variance_shift": float(np.exp(np.mean(np.log(ratio))))}


def experiment(quick: bool, seed: int) -> Experiment:
    hidden, depth, train_size = (16, 2, 200) if quick else (256, 3, 300)
    data = digits(train_size, seed, val_size=QUICK_VAL if quick else 0)
    return Experiment(
        name="batchnorm", title="dropout before vs after batch normalization",
        setup=(f"MLP with {depth} hidden layers linear({hidden}) - BatchNorm - ReLU on {data.description}; "
               f"dropout p = {P} right before each batch norm, after each (after the ReLU), or only after the "
               f"last; SGD (learning rate {LEARNING_RATE}, momentum {MOMENTUM}); every arm starts from the same "
               f"weights and sees the same batches.  Variance shift: the last batch norm's running variance "
               f"over the variance of its input in evaluation (validation set; geometric mean over units)."),
        data=data, arms=[_arm(label, place, hidden, depth) for label, place in PLACES.items()],
        pairs=[("after each BN", "before each BN")],
        epochs=3 if quick else 60, repeats=2 if quick else 5, batch_size=BATCH, eval_every=1 if quick else 2,
        make_optimizer=lambda params: G.SGD(params, lr=LEARNING_RATE, momentum=MOMENTUM),
        extra=variance_shift, extra_columns=[("variance_shift", "variance shift", ".2f")],
        page_layers=[PageLayer("input", 64, 64, what="pixels"), PageLayer("dropout 1", 24, hidden, "dropout 1"),
                     PageLayer("dropout 2", 24, hidden, "dropout 2"), PageLayer("output", 10, 10)])

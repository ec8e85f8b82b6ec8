"""``fastdrop demo cnn``: which dropout after convolutions, elementwise, spatial or DropBlock?

A small convolutional network learns the 8x8 digits as (1, 8, 8) images
from a small training set, with dropout after each convolution in three
forms at the same drop probability: elementwise (single activations),
``spatial2d`` (whole feature maps per example, Tompson et al., CVPR 2015)
and ``dropblock2d`` (3 x 3 squares, Ghiasi et al., NeurIPS 2018).  The
argument for the last two: neighbouring activations of a feature map are
strongly correlated, so dropping one of them removes little information.
"""
from __future__ import annotations

from typing import Dict, List, Tuple

import numpy as np

import fastdrop as fd
from fastdrop import graph as G

from .data import QUICK_VAL, digits
from .experiment import Arm, Experiment, PageLayer, VariantSpec, variant_layers

__all__ = ["experiment", "VARIANTS"]

P = 0.4
BLOCK = 3
# label -> (registered variant, keyword arguments) of the layer after each convolution
VARIANTS: Dict[str, VariantSpec] = {
    "no dropout": None,
    "elementwise": ("dropout", {"p": P}),
    "spatial2d": ("spatial2d", {"p": P}),
    "dropblock2d": ("dropblock2d", {"p": P, "block_size": BLOCK}),
}
LEARNING_RATE, MOMENTUM, BATCH = 0.02, 0.9, 32


def _arm(label: str, variant: VariantSpec, channels: int) -> Arm:
    def build(rng: np.random.Generator, generator: fd.Generator) -> G.Layer:
        return G.Sequential([
            G.Conv2d(1, channels, 3, padding=1, rng=rng), G.ReLU(), *variant_layers(variant, generator),
            G.Conv2d(channels, 2 * channels, 3, padding=1, rng=rng), G.ReLU(), *variant_layers(variant, generator),
            G.MaxPool2d(2), G.Flatten(), G.Linear(2 * channels * 16, 10, rng=rng),
        ])

    def watch(model: G.Layer) -> List[Tuple[str, G.Layer]]:
        assert isinstance(model, G.Sequential)
        return [("conv 2", model[5])]

    return Arm(label, build, watch if variant is not None else None)


def experiment(quick: bool, seed: int) -> Experiment:
    channels, train_size = (4, 200) if quick else (16, 300)
    data = digits(train_size, seed, layout="image", val_size=QUICK_VAL if quick else 0)
    return Experiment(
        name="cnn", title="elementwise, spatial or DropBlock dropout after convolutions",
        setup=(f"CNN conv3x3({channels}) - ReLU - [dropout] - conv3x3({2 * channels}) - ReLU - [dropout] - "
               f"maxpool 2 - linear(10) on {data.description}; the dropout after each convolution is "
               f"elementwise, spatial2d (whole channels) or dropblock2d ({BLOCK}x{BLOCK} blocks), all at "
               f"p = {P}; SGD (learning rate {LEARNING_RATE}, momentum {MOMENTUM}); every arm starts from "
               f"the same weights and sees the same batches."),
        data=data, arms=[_arm(label, variant, channels) for label, variant in VARIANTS.items()],
        pairs=[("spatial2d", "elementwise"), ("dropblock2d", "elementwise")],
        epochs=3 if quick else 40, repeats=2 if quick else 3, batch_size=BATCH, eval_every=1 if quick else 2,
        make_optimizer=lambda params: G.SGD(params, lr=LEARNING_RATE, momentum=MOMENTUM),
        page_layers=[PageLayer("input", 64, 64, what="pixels"),
                     PageLayer("conv 1", channels, channels, what="channels"),
                     PageLayer("conv 2", 8, 2 * channels, "conv 2", "channels (8 x 8 maps)"),
                     PageLayer("output", 10, 10)])

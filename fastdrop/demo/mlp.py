"""``fastdrop demo mlp`` (the default): the drop probability p in an MLP that overfits without dropout.

A wide MLP (64 -> 512 -> 512 -> 10, about 300,000 weights) learns the 8x8
digits from only 300 training images (30 per class, 1,000 weights per
image), once for each p = 0, 0.2, 0.5, 0.8 on both hidden layers, from the
same initial weights and batch order.  Without dropout it fits the training
set exactly; the question is how much of the train/validation gap dropout
closes, and where it starts to underfit.  Srivastava et al., "Dropout: A
Simple Way to Prevent Neural Networks from Overfitting" (JMLR 2014), study
the same questions on MNIST in sections 7.3 (the rate) and 7.4 (the data
set size: with very small sets, 100 to 500 MNIST images, they saw no gain).
"""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

import numpy as np

import fastdrop as fd
from fastdrop import graph as G

from .data import QUICK_VAL, digits
from .experiment import Arm, Experiment, PageLayer
from .plots import masks_figure
from .report import pct

__all__ = ["experiment", "notes", "PS"]

PS = (0.0, 0.2, 0.5, 0.8)
# Plain SGD with momentum, as Srivastava et al. (2014) train; at this rate the
# p = 0.8 network still trains, at 0.03 it diverges.
LEARNING_RATE, MOMENTUM, BATCH = 0.01, 0.9, 32


def label(p: float) -> str:
    return f"p = {p:g}"


def _arm(p: float, hidden: int) -> Arm:
    def build(rng: np.random.Generator, generator: fd.Generator) -> G.Layer:
        return G.Sequential([
            G.Linear(64, hidden, rng=rng), G.ReLU(), G.Dropout(p, generator=generator),
            G.Linear(hidden, hidden, rng=rng), G.ReLU(), G.Dropout(p, generator=generator),
            G.Linear(hidden, 10, rng=rng),
        ])

    def watch(model: G.Layer) -> List[Tuple[str, G.Layer]]:
        assert isinstance(model, G.Sequential)
        return [("hidden 1", model[2]), ("hidden 2", model[5])]

    return Arm(label(p), build, watch if p > 0 else None)


def experiment(quick: bool, seed: int) -> Experiment:
    hidden, train_size = (32, 200) if quick else (512, 300)
    data = digits(train_size, seed, val_size=QUICK_VAL if quick else 0)
    return Experiment(
        name="mlp", title="the drop probability p in an MLP that overfits without dropout",
        setup=(f"MLP 64-{hidden}-{hidden}-10 (ReLU; dropout with probability p after each hidden layer) on "
               f"{data.description}; SGD (learning rate {LEARNING_RATE}, momentum {MOMENTUM}); every p "
               f"starts from the same weights and sees the same batches."),
        data=data, arms=[_arm(p, hidden) for p in PS],
        epochs=3 if quick else 100, repeats=2 if quick else 5, batch_size=BATCH, eval_every=1 if quick else 2,
        make_optimizer=lambda params: G.SGD(params, lr=LEARNING_RATE, momentum=MOMENTUM),
        notes=notes, figures=_masks_png,
        page_layers=[PageLayer("input", 64, 64, what="pixels"), PageLayer("hidden 1", 24, hidden, "hidden 1"),
                     PageLayer("hidden 2", 24, hidden, "hidden 2"), PageLayer("output", 10, 10)])


def _masks_png(results: Dict[str, Any], masks: Dict[str, Any], out: str) -> List[str]:
    masks_figure(masks, "hidden 1", f"{out}/masks.png")
    return ["masks.png"]


def notes(results: Dict[str, Dict[str, Any]]) -> Tuple[Dict[str, Any], List[str]]:
    """Did p = 0.2 and 0.5 narrow the gaps of p = 0, and does p = 0.8 underfit?

    Underfitting here means: it fits the training set worse than p = 0 in
    both loss and accuracy (dropout off) and validates worse than the best
    of the other p.
    """
    base = results[label(0.0)]["final"]
    found: Dict[str, Any] = {}
    lines = []
    for p in (0.2, 0.5):
        final = results[label(p)]["final"]
        loss_narrowed = bool(final["loss_gap"] < base["loss_gap"])
        acc_narrowed = bool(final["acc_gap"] < base["acc_gap"])
        found[f"gap_narrowed_at_{p}"] = {"loss_gap": loss_narrowed, "accuracy_gap": acc_narrowed}
        lines.append(
            f"- p = {p}: the loss gap {'narrowed' if loss_narrowed else 'did not narrow'} "
            f"({base['loss_gap']:.3f} at p = 0 -> {final['loss_gap']:.3f}); the accuracy gap "
            f"{'narrowed' if acc_narrowed else 'did not narrow'} ({100 * base['acc_gap']:.1f} -> "
            f"{100 * final['acc_gap']:.1f} points).")
    high = results[label(0.8)]["final"]
    best_other = max(results[label(p)]["final"]["val_acc"] for p in (0.0, 0.2, 0.5))
    fits_worse = high["train_acc"] < base["train_acc"] and high["train_loss"] > base["train_loss"]
    underfits = bool(fits_worse and high["val_acc"] < best_other)
    found["underfits_at_0.8"] = underfits
    lines.append(
        f"- p = 0.8: train accuracy {pct(high['train_acc'])} (p = 0: {pct(base['train_acc'])}), train loss "
        f"{high['train_loss']:.3f} (p = 0: {base['train_loss']:.3f}), validation accuracy {pct(high['val_acc'])} "
        f"(best of the others: {pct(best_other)}): "
        + ("it underfits." if underfits else "no underfitting by this test."))
    lines.append("  (Underfitting here means: it fits the training set worse than p = 0 in both loss and "
                 "accuracy, dropout off, and validates worse than the best other p.)")
    return found, lines

"""The pictures: one results figure per experiment, and the mask picture of the MLP.

Every axis says how its numbers were measured: "train" numbers are taken
in evaluation mode with dropout off, exactly like the validation ones.
Losses are drawn on linear axes cut to the range where the arms differ.
"""
from __future__ import annotations

import textwrap
from typing import Any, Dict, List

import numpy as np

from .experiment import Experiment

__all__ = ["results_figure", "masks_figure"]

TRAIN, VAL = "#1f77b4", "#d62728"
TRAIN_LABEL = "train (dropout off)"


def _finite(values: Any) -> np.ndarray:
    array = np.asarray(values, dtype=float).ravel()
    return array[np.isfinite(array)]


def _tick_labels(exp: Experiment, results: Dict[str, Any]) -> List[str]:
    """Arm labels wrapped to a few words a line, with the experiment's extra numbers below."""
    ticks = []
    for label, result in results.items():
        lines = [textwrap.fill(label, 16)]
        lines += [textwrap.fill(f"{header} {format(result['final'][key], fmt)}", 16)
                  for key, header, fmt in exp.extra_columns]
        ticks.append("\n".join(lines))
    return ticks


def _gap_panel(ax: Any, exp: Experiment, results: Dict[str, Any], metric: str, percent: bool) -> None:
    """Train and validation value of each arm joined by a bar: the gap at a glance."""
    scale = 100.0 if percent else 1.0
    labels = list(results)
    for i, label in enumerate(labels):
        final, spread = results[label]["final"], results[label]["std"]
        train, val = scale * final[f"train_{metric}"], scale * final[f"val_{metric}"]
        if not (np.isfinite(train) and np.isfinite(val)):
            ax.text(i, 0.5, "diverged", transform=ax.get_xaxis_transform(), ha="center", color="0.4")
            continue
        ax.plot([i, i], [train, val], color="0.75", linewidth=6, solid_capstyle="butt", zorder=1)
        ax.errorbar(i, train, yerr=scale * spread[f"train_{metric}"], fmt="o", color=TRAIN, ms=8, zorder=3,
                    capsize=3, label=TRAIN_LABEL if i == 0 else None)
        ax.errorbar(i, val, yerr=scale * spread[f"val_{metric}"], fmt="D", color=VAL, ms=7, zorder=3, capsize=3,
                    label="validation" if i == 0 else None)
        gap = abs(val - train)
        ax.annotate(f"gap {gap:.1f}" if percent else f"gap {gap:.3f}", ((i), (train + val) / 2),
                    xytext=(10, 0), textcoords="offset points", va="center", fontsize=8, color="0.3")
    ax.set_xticks(range(len(labels)), _tick_labels(exp, results))
    ax.set_xlim(-0.5, len(labels) - 0.2)
    values = _finite([scale * results[label]["final"][f"{split}_{metric}"] for label in labels
                      for split in ("train", "val")])
    if values.size:
        if percent:
            pad = 0.15 * max(float(np.ptp(values)), 1.0)
            ax.set_ylim(max(0.0, values.min() - pad), min(100.5, values.max() + pad))
        else:
            ax.set_ylim(0, 1.15 * values.max() if values.max() > 0 else 1)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="best", fontsize=8)


def _upper_limit(series: List[np.ndarray], skip: float = 0.1, span: float = 2.5) -> float:
    """A y limit that shows every curve after its first `skip` fraction of epochs, but at most
    `span` times the largest final value, so that the end of training stays readable."""
    tails = [_finite(s[int(skip * len(s)):]) for s in series]
    tails = [t for t in tails if t.size]
    if not tails:
        return 1.0
    return 1.1 * min(max(float(t.max()) for t in tails), span * max(float(t[-1]) for t in tails))


def _curve_panels(ax_loss: Any, ax_acc: Any, results: Dict[str, Any]) -> None:
    colors = [f"C{i}" for i in range(10)]
    loss_series = []
    acc_series = []
    for color, (label, result) in zip(colors, results.items()):
        curves = result["curves"]
        epochs = curves["epoch"]
        ax_loss.plot(epochs, curves["val_loss"], color=color, label=f"{label}: validation")
        ax_loss.plot(epochs, curves["train_loss"], color=color, linestyle="--", alpha=0.8,
                     label=f"{label}: train (dropout off)")
        ax_acc.plot(epochs, 100 * np.asarray(curves["val_acc"], dtype=float), color=color, label=label)
        loss_series += [np.asarray(curves["val_loss"], float), np.asarray(curves["train_loss"], float)]
        acc_series.append(100 * np.asarray(curves["val_acc"], float))
    ax_loss.set_ylim(0, _upper_limit(loss_series))
    tails = _finite(np.concatenate([s[int(0.1 * len(s)):] for s in acc_series])) if acc_series else np.array([])
    if tails.size:
        span = max(float(np.ptp(tails)), 1.0)
        ax_acc.set_ylim(max(0.0, tails.min() - 0.2 * span), min(100.5, tails.max() + 0.2 * span))
    for ax in (ax_loss, ax_acc):
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    ax_loss.set_ylabel("cross-entropy")
    ax_loss.set_title("Loss during training (solid: validation; dashed: train, dropout off)", fontsize=10)
    ax_loss.legend(fontsize=7, ncol=2)
    ax_acc.set_ylabel("validation accuracy (%)")
    ax_acc.set_title("Validation accuracy during training (dropout off)", fontsize=10)
    ax_acc.legend(fontsize=8)


def results_figure(exp: Experiment, results: Dict[str, Any], path: str) -> None:
    """Four panels: the final loss and accuracy gaps per arm, and the curves."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 8.5), layout="constrained")
    axes = fig.subplots(2, 2)
    runs = f"mean of {exp.repeats} runs, bars: ± 1 sd" if exp.repeats > 1 else "one run"
    _gap_panel(axes[0, 0], exp, results, "loss", percent=False)
    axes[0, 0].set_ylabel("cross-entropy")
    axes[0, 0].set_title(f"Loss after {exp.epochs} epochs ({runs})", fontsize=10)
    _gap_panel(axes[0, 1], exp, results, "acc", percent=True)
    axes[0, 1].set_ylabel("accuracy (%)")
    axes[0, 1].set_title(f"Accuracy after {exp.epochs} epochs ({runs})", fontsize=10)
    _curve_panels(axes[1, 0], axes[1, 1], results)
    caption = f"{exp.data.description}; every number measured with dropout off (evaluation mode)"
    fig.suptitle(f"fastdrop demo {exp.name}: {exp.title}\n" + textwrap.fill(caption, 150), fontsize=11)
    fig.savefig(path, dpi=100)


def masks_figure(masks: Dict[str, Dict[str, List[np.ndarray]]], layer: str, path: str) -> None:
    """Which units of `layer` were kept at each of the first training steps, one panel per arm."""
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure

    arms = [arm for arm in masks if masks[arm].get(layer)]
    fig = Figure(figsize=(11, 1.2 + 1.5 * max(len(arms), 1)), layout="constrained")
    axes = np.atleast_1d(fig.subplots(max(len(arms), 1), 1))
    cmap = ListedColormap(["#f2f2f2", "#1f4e79"])
    for ax, arm in zip(axes, arms):
        grid = np.array(masks[arm][layer], dtype=float)
        ax.imshow(grid, cmap=cmap, vmin=0, vmax=1, aspect="auto", interpolation="nearest")
        ax.set_title(f"{arm}: {100 * grid.mean():.0f}% of these kept (dark = kept, light = dropped)", fontsize=10)
        ax.set_ylabel("training step")
        ax.set_xlabel(f"unit of {layer} (first {grid.shape[1]}), first example of each batch")
    fig.suptitle("Masks seen by a fastdrop_mask_drawn observer")
    fig.savefig(path, dpi=100)

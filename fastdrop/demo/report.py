"""What the numbers say, and the files that say it: the table, results.md and results.json.

Arms are compared with the baseline run by run (repeat r of every arm
starts from the same seeds), with a Student t 95% confidence interval of
the mean paired difference: an arm is called better or worse only when
that interval excludes zero; otherwise the difference is within what the
runs' spread allows.
"""
from __future__ import annotations

import json
import math
import os
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

from .experiment import Experiment

__all__ = ["paired_difference", "compare", "table", "write_markdown", "write_json", "pct"]

MEASURED = ("Train loss and accuracy are measured on the whole training set in evaluation mode, "
            "dropout off, like the validation ones; the batch loss is the mean loss of the last "
            "epoch's training batches as the optimizer saw them, dropout on.  Gaps: validation minus "
            "training loss, training minus validation accuracy.")


def pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def paired_difference(arm: Sequence[float], baseline: Sequence[float]) -> Dict[str, Any]:
    """Mean of the per-run differences arm - baseline and its 95% confidence interval.

    The interval is mean +- t * sd / sqrt(n) with Student's t for n - 1
    degrees of freedom (two-sided 95%); with one run there is no interval.
    """
    diffs = np.asarray(arm, dtype=float) - np.asarray(baseline, dtype=float)
    n = int(np.count_nonzero(np.isfinite(diffs)))
    diffs = diffs[np.isfinite(diffs)]
    if n == 0:
        return {"mean": float("nan"), "low": float("nan"), "high": float("nan"), "runs": 0}
    mean = float(diffs.mean())
    if n < 2:
        return {"mean": mean, "low": float("nan"), "high": float("nan"), "runs": n}
    from scipy.stats import t  # type: ignore[import-untyped,unused-ignore]

    half = float(t.ppf(0.975, n - 1) * diffs.std(ddof=1) / math.sqrt(n))
    return {"mean": mean, "low": mean - half, "high": mean + half, "runs": n}


def _verdict(diff: Dict[str, Any], lower_is_better: bool) -> str:
    if diff["runs"] == 0:
        return "no finite result"
    if diff["runs"] < 2:
        return "one run, no interval"
    if diff["low"] > 0:
        return "worse" if lower_is_better else "better"
    if diff["high"] < 0:
        return "better" if lower_is_better else "worse"
    return "no clear difference"


def compare(exp: Experiment, results: Dict[str, Dict[str, Any]]) -> Tuple[Dict[str, Any], List[str]]:
    """Each arm against the baseline, then the experiment's further pairs, on validation loss
    and accuracy: numbers (keyed "arm vs reference") and sentences."""
    found: Dict[str, Any] = {}
    lines = []
    for label, reference in exp.comparisons():
        result, base = results[label], results[reference]
        loss = paired_difference(result["per_run"]["val_loss"], base["per_run"]["val_loss"])
        acc = paired_difference(result["per_run"]["val_acc"], base["per_run"]["val_acc"])
        loss["verdict"], acc["verdict"] = _verdict(loss, True), _verdict(acc, False)
        found[f"{label} vs {reference}"] = {"val_loss": loss, "val_acc": acc}
        lines.append(
            f"- {label} vs {reference}: validation loss {base['final']['val_loss']:.3f} -> "
            f"{result['final']['val_loss']:.3f} ({loss['mean']:+.3f}{_interval(loss, 1)}: {loss['verdict']}); "
            f"validation accuracy {pct(base['final']['val_acc'])} -> {pct(result['final']['val_acc'])} "
            f"({100 * acc['mean']:+.1f} points{_interval(acc, 100)}: {acc['verdict']}).")
    for label, result in results.items():
        if result["diverged"]:
            lines.append(f"- {label}: {result['diverged']} of {exp.repeats} runs diverged "
                         f"(non-finite training loss); their numbers are NaN.")
    return found, lines


def _interval(diff: Dict[str, Any], scale: float) -> str:
    if diff["runs"] < 2:
        return ""
    digits = 3 if scale == 1 else 1
    return f", 95% CI {scale * diff['low']:+.{digits}f} to {scale * diff['high']:+.{digits}f}, {diff['runs']} runs"


def _plus_minus(result: Dict[str, Any], key: str, percent: bool) -> str:
    value, spread = result["final"][key], result["std"][key]
    if percent:
        text = pct(value)
        return text + (f" ± {100 * spread:.1f}" if spread else "")
    return f"{value:.3f}" + (f" ± {spread:.3f}" if spread else "")


def table(exp: Experiment, results: Dict[str, Dict[str, Any]]) -> List[str]:
    """The Markdown table: one row per arm, means over the runs (± their standard deviation)."""
    head = ["", "train loss (dropout off)", "val loss", "loss gap", "train acc (dropout off)", "val acc",
            "acc gap", "batch loss (dropout on)"] + [header for _, header, _ in exp.extra_columns]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" + "---:|" * (len(head) - 1)]
    for label, result in results.items():
        final = result["final"]
        cells = [label, f"{final['train_loss']:.3f}", _plus_minus(result, "val_loss", False),
                 f"{final['loss_gap']:.3f}", pct(final["train_acc"]), _plus_minus(result, "val_acc", True),
                 f"{100 * final['acc_gap']:.1f} pts", f"{final['batch_loss']:.3f}"]
        cells += [format(final[key], fmt) for key, _, fmt in exp.extra_columns]
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def write_markdown(path: str, exp: Experiment, rows: List[str], comparison: List[str], notes: List[str],
                   footer: List[str]) -> None:
    runs = f"means over {exp.repeats} runs (± standard deviation)" if exp.repeats > 1 else "one run"
    lines = [f"# fastdrop demo {exp.name}: {exp.title}", "", exp.setup, "",
             f"{exp.epochs} epochs, batch {exp.batch_size}; {runs}. {MEASURED}", "", *rows, "",
             "## What the numbers say", "", *comparison]
    if notes:
        lines += ["", *notes]
    lines += ["", *footer]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def write_json(path: str, payload: Dict[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(_plain(payload), f, indent=1, allow_nan=True)


def _plain(value: Any) -> Any:
    """NumPy scalars and arrays as Python numbers and lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def output_dir(root: str, name: str) -> str:
    path = os.path.join(root, name)
    os.makedirs(path, exist_ok=True)
    return path

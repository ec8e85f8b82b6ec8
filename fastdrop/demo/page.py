"""``--html``: one self-contained page with the network's masks step by step, the curves and the table.

Everything is inline (style, script and data); the page loads nothing from
the network.  The masks come from the ``fastdrop_mask_drawn`` observer
(:class:`fastdrop.demo.training.MaskRecorder`): for the first training
steps of the first run of each arm, which units of each watched dropout
layer were kept for the batch's first example.
"""
from __future__ import annotations

import html
import json
import math
from typing import Any, Dict, List

import numpy as np

from .experiment import Experiment
from .page_assets import SCRIPT, STYLE
from .training import MaskRecorder

__all__ = ["write_page", "page_data"]


def _bits(mask: np.ndarray) -> str:
    return "".join("1" if kept else "0" for kept in np.asarray(mask, dtype=bool).ravel())


def _sample(x: np.ndarray) -> List[float]:
    return np.round(np.asarray(x, dtype=float).ravel(), 2).tolist()


def page_data(exp: Experiment, payload: Dict[str, Any], rows: List[str], findings: List[str],
              recorder: MaskRecorder) -> Dict[str, Any]:
    """Everything the page's script draws, as plain JSON-able values."""
    masks: Dict[str, Any] = {}
    samples: Dict[str, Any] = {}
    for arm, layers in recorder.masks.items():
        recorded = {name: steps for name, steps in layers.items() if steps}
        if not recorded:
            continue
        masks[arm] = {name: {"shape": list(steps[0].shape), "steps": [_bits(m) for m in steps]}
                      for name, steps in recorded.items()}
        samples[arm] = [_sample(exp.data.sample(i)) for i in recorder.samples.get(arm, [])]
    curves = {arm: {key: result["curves"][key] for key in ("epoch", "train_loss", "val_loss", "val_acc")}
              for arm, result in payload["results"].items()}
    table = [[cell.strip() for cell in row.strip().strip("|").split("|")] for row in rows if "---" not in row]
    return {"name": exp.name, "title": exp.title, "setup": exp.setup, "description": exp.data.description,
            "arms": [arm.label for arm in exp.arms], "epochs": exp.epochs, "repeats": exp.repeats,
            "layers": [vars(layer) for layer in exp.page_layers], "masks": masks, "samples": samples,
            "sample_shape": list(np.shape(exp.data.sample(0))), "curves": curves,
            "table": table, "findings": [line.lstrip("- ").strip() for line in findings],
            "seconds": payload["seconds"]}


def write_page(path: str, exp: Experiment, payload: Dict[str, Any], rows: List[str], findings: List[str],
               recorder: MaskRecorder) -> None:
    """Write the page to `path`."""
    data = json.dumps(_json_safe(page_data(exp, payload, rows, findings, recorder)),
                      allow_nan=False).replace("</", "<\\/")
    title = html.escape(f"fastdrop demo {exp.name}: {exp.title}")
    text = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{STYLE}</style>
</head>
<body data-status="loading">
<header><h1>{title}</h1><p id="setup"></p></header>
<main>
<section id="network-panel"><h2>Which neurons dropout kept, step by step</h2>
<div id="controls"></div><svg id="network" viewBox="0 0 860 470" role="img"></svg>
<p id="step-info"></p></section>
<section id="curves-panel"><h2>Training curves (dropout off)</h2>
<svg id="loss-chart" viewBox="0 0 430 260" role="img"></svg><svg id="acc-chart" viewBox="0 0 430 260" role="img"></svg>
<div id="legend"></div></section>
<section id="table-panel"><h2>Results</h2><table id="results"></table><ul id="findings"></ul>
<p class="note">Train columns are measured in evaluation mode with dropout off, like the validation ones;
the batch loss is the loss of the training batches with dropout on.</p></section>
</main>
<script id="demo-data" type="application/json">{data}</script>
<script>{SCRIPT}</script>
</body>
</html>
"""
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def _json_safe(value: Any) -> Any:
    """Plain Python values; NaN and infinities (a diverged run) become null."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value

"""The training loop every experiment shares, its progress display and its threads.

Each arm of an experiment is trained once per repeat.  Repeat r of every
arm starts from the same seeds (initial weights, batch order, masks), so
arms are compared pairwise, run by run.  Every point of the curves is
measured twice on the training set and once on the validation set:

* ``train_loss``, ``train_acc``, ``val_loss``, ``val_acc``: evaluation
  mode, dropout off (and batch normalization on its running statistics);
* ``batch_loss``: the mean loss of the epoch's training batches as the
  optimizer saw them, dropout on.
"""
from __future__ import annotations

import contextlib
import sys
import time
from typing import Any, Dict, Iterator, List, Optional, TextIO

import numpy as np

import fastdrop as fd
from fastdrop import graph as G

from .experiment import Arm, Data, Experiment

__all__ = ["Progress", "compute_threads", "MaskRecorder", "evaluate", "train_arm", "run_experiment",
           "METRICS"]

METRICS = ("train_loss", "val_loss", "train_acc", "val_acc", "batch_loss")
EVAL_CHUNK = 512   # rows per evaluation forward pass: bounds the memory of attention and convolutions


class Progress:
    """A progress display: tqdm's live bar on a terminal, plain lines elsewhere.

    On a terminal the bar redraws in place and shows the time left; in a
    file or pipe (a CI log) one line is written at each twentieth of the
    work (20 lines in all), each ending in a newline, in the same format.

    Parameters
    ----------
    total : int
        Number of steps (epochs, summed over arms and repeats).
    desc : str
        Name shown before the bar.
    stream : file, default sys.stderr
    """

    LINES = 20

    def __init__(self, total: int, desc: str, stream: Optional[TextIO] = None) -> None:
        from tqdm import tqdm  # type: ignore[import-untyped,unused-ignore]

        self.stream = stream if stream is not None else sys.stderr
        self.total, self.desc, self.done = total, desc, 0
        self.start = time.perf_counter()
        self._format = tqdm.format_meter
        isatty = getattr(self.stream, "isatty", None)
        self.bar = (tqdm(total=total, desc=desc, unit="epoch", file=self.stream, dynamic_ncols=True,
                         leave=True) if isatty is not None and isatty() else None)

    def update(self, label: str) -> None:
        """One step done; `label` says which (arm, run, epoch)."""
        self.done += 1
        if self.bar is not None:
            self.bar.set_postfix_str(label, refresh=False)
            self.bar.update(1)
        elif self.done * self.LINES // self.total != (self.done - 1) * self.LINES // self.total:
            line = self._format(self.done, self.total, time.perf_counter() - self.start, prefix=self.desc,
                                postfix=label, unit="epoch", ascii=True, ncols=100)
            self.stream.write(line + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@contextlib.contextmanager
def compute_threads(threads: int) -> Iterator[None]:
    """Run the block with `threads` BLAS/OpenMP threads and fastdrop kernel threads.

    NumPy's BLAS starts one thread per core for every matrix product; on
    the small products of these networks they mostly wait for each other,
    and on a machine where another process keeps a core busy they stall
    (the BLAS threads spin waiting for a thread that is not running).
    threadpoolctl sets the BLAS and OpenMP pools, fastdrop's
    :func:`fastdrop.config_context` its own kernels, all restored on exit.
    """
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped,unused-ignore]

    with threadpool_limits(limits=threads), fd.config_context(threads=threads):
        yield


class MaskRecorder:
    """A ``fastdrop_mask_drawn`` observer that keeps masks for the HTML page.

    For each watched dropout layer it keeps, at each of the first `steps`
    training steps, the mask of the batch's first example, cut to the
    first `units` units (or channels, time steps, rows) along each axis.
    """

    def __init__(self, steps: int = 120, units: int = 64) -> None:
        self.steps, self.units = steps, units
        self.masks: Dict[str, Dict[str, List[np.ndarray]]] = {}
        self.samples: Dict[str, List[int]] = {}
        self._watched: Dict[int, List[np.ndarray]] = {}
        self._arm: Optional[str] = None

    def watch(self, arm: str, layers: List[Any]) -> None:
        """Record the masks of `layers` ([(name, layer)]) under `arm`."""
        self._arm = arm
        self.masks[arm] = {}
        self.samples[arm] = []
        self._watched = {}
        for name, layer in layers:
            self.masks[arm][name] = self._watched[id(layer)] = []

    def step(self, sample_index: int) -> None:
        """A training step begins on a batch whose first example is `sample_index`."""
        if self._arm is not None and len(self.samples[self._arm]) < self.steps:
            self.samples[self._arm].append(int(sample_index))

    def stop(self) -> None:
        self._arm, self._watched = None, {}

    @fd.hookimpl
    def fastdrop_mask_drawn(self, layer: Any, handle: Any) -> None:
        masks = self._watched.get(id(layer))
        if masks is None or len(masks) >= self.steps:
            return
        kept = keep_pattern(layer, handle)
        masks.append(kept[tuple(slice(0, self.units) for _ in range(kept.ndim))].copy())


def keep_pattern(layer: Any, handle: Any) -> np.ndarray:
    """The first example's kept (True) and dropped elements, in the input's shape;
    for a mask with one decision per example (DropPath), the batch's decisions.

    Broadcast masks (spatial, locked) are broadcast to the input; DropBlock's
    handle holds the block seeds, which are grown into the dropped blocks
    (blocks of the layer's `block_size`: feature maps at least that large).
    """
    full = handle.mask()
    if full.ndim >= 2 and full.shape[0] > 1 and all(size == 1 for size in full.shape[1:]):
        return full.reshape(-1)     # one decision per example (DropPath): the whole batch's
    mask = full[:1]
    block = getattr(layer, "block_size", None)
    if block is not None and mask.ndim == 4:
        from fastdrop_plugins.dropblock import block_mask  # type: ignore[import-not-found,unused-ignore]

        # the handle covers the (H - b + 1) x (W - b + 1) seed positions; the demo's maps are
        # larger than its blocks, so b is the layer's block_size
        return ~block_mask(~mask, block)[0]
    return np.broadcast_to(mask, (1,) + tuple(handle.shape[1:]))[0]


def evaluate(model: G.Layer, x: np.ndarray, y: np.ndarray) -> Dict[str, float]:
    """Loss and accuracy in evaluation mode (dropout off); the model is left in training mode."""
    model.eval()
    try:
        logits = np.concatenate([model(x[i:i + EVAL_CHUNK]) for i in range(0, len(x), EVAL_CHUNK)])
    finally:
        model.train()
    loss, _ = G.softmax_cross_entropy(logits, y)
    return {"loss": loss, "acc": float(np.mean(np.argmax(logits, axis=1) == y))}


def train_arm(exp: Experiment, arm: Arm, repeat: int, seed: int, progress: Progress,
              recorder: Optional[MaskRecorder] = None) -> Dict[str, Any]:
    """Train `arm` once; return its curves and the trained model's extra numbers."""
    data = exp.data
    init_seed, order_seed, mask_seed = np.random.SeedSequence([seed, repeat]).spawn(3)
    model = arm.build(np.random.default_rng(init_seed), fd.Generator(mask_seed))
    # the page replays the first run of each arm
    watcher = recorder if recorder is not None and repeat == 0 and arm.watch is not None else None
    if watcher is not None and arm.watch is not None:
        watcher.watch(arm.label, arm.watch(model))
    optimizer = exp.make_optimizer(model.parameters())
    order = np.random.default_rng(order_seed)
    curves: Dict[str, List[float]] = {"epoch": [], **{metric: [] for metric in METRICS}}
    n = len(data.x_train)
    diverged = False
    try:
        for epoch in range(1, exp.epochs + 1):
            perm = order.permutation(n)
            batch_losses = []
            for start in range(0, n, exp.batch_size):
                batch = perm[start:start + exp.batch_size]
                if watcher is not None:
                    watcher.step(batch[0])
                optimizer.zero_grad()
                loss, dlogits = G.softmax_cross_entropy(model(data.x_train[batch]), data.y_train[batch])
                model.backward(dlogits)
                optimizer.step()
                batch_losses.append(loss)
            diverged = not np.isfinite(batch_losses).all()
            if epoch % exp.eval_every == 0 or epoch == exp.epochs or diverged:
                _record(curves, epoch, model, data, float(np.mean(batch_losses)))
            progress.update(f"{arm.label}, run {repeat + 1}/{exp.repeats}")
            if diverged:
                progress.done += exp.epochs - epoch
                break
    finally:
        if watcher is not None:
            watcher.stop()
    extra = exp.extra(model, data) if exp.extra is not None and not diverged else {}
    return {"curves": curves, "extra": extra, "diverged": diverged}


def _record(curves: Dict[str, List[float]], epoch: int, model: G.Layer, data: Data, batch_loss: float) -> None:
    with np.errstate(all="ignore"):
        train = evaluate(model, data.x_train, data.y_train)
        val = evaluate(model, data.x_val, data.y_val)
    curves["epoch"].append(epoch)
    for split, numbers in (("train", train), ("val", val)):
        for key, value in numbers.items():
            curves[f"{split}_{key}"].append(value)
    curves["batch_loss"].append(batch_loss)


def run_experiment(exp: Experiment, seed: int, progress: Progress,
                   recorder: Optional[MaskRecorder] = None) -> Dict[str, Dict[str, Any]]:
    """Train every arm `exp.repeats` times; return per arm the summary of :func:`summarise`."""
    results = {}
    for arm in exp.arms:
        runs = [train_arm(exp, arm, repeat, seed, progress, recorder) for repeat in range(exp.repeats)]
        results[arm.label] = summarise(runs)
    return results


def summarise(runs: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Mean curves over the runs, and the final numbers: mean, standard deviation, per run.

    A run that diverged (a non-finite training loss) counts with NaN.
    """
    length = max(len(run["curves"]["epoch"]) for run in runs)
    epochs = next(run["curves"]["epoch"] for run in runs if len(run["curves"]["epoch"]) == length)

    def padded(values: List[float]) -> List[float]:
        return list(values) + [float("nan")] * (length - len(values))

    curves: Dict[str, Any] = {"epoch": epochs}
    per_run: Dict[str, List[float]] = {}
    for key in METRICS:
        table = np.array([padded(run["curves"][key]) for run in runs], dtype=float)
        curves[key] = np.mean(table, axis=0).tolist()
        per_run[key] = table[:, -1].tolist()
    for key in runs[0]["extra"]:
        per_run[key] = [run["extra"].get(key, float("nan")) for run in runs]
    final = {key: float(np.mean(values)) for key, values in per_run.items()}
    final["loss_gap"] = final["val_loss"] - final["train_loss"]
    final["acc_gap"] = final["train_acc"] - final["val_acc"]
    spread = {key: float(np.std(values, ddof=1)) if len(values) > 1 else 0.0 for key, values in per_run.items()}
    return {"final": final, "std": spread, "per_run": per_run, "curves": curves,
            "diverged": sum(run["diverged"] for run in runs)}

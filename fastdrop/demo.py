"""``fastdrop demo``: the classic dropout experiments, on a CPU, in under two minutes.

An over-sized MLP (64 -> 256 -> 256 -> 10, about 85,000 weights) learns
scikit-learn's 8x8 digits from only 500 training images, once for each drop
probability p = 0, 0.2, 0.5 and 0.8, with the same initial weights and
batch order.  Srivastava et al., "Dropout: A Simple Way to Prevent Neural
Networks from Overfitting" (JMLR 2014), study the same questions on MNIST
in section 7.3 (the dropout rate) and 7.4 (the data set size).  It writes, under ``--out``:

* ``results.md``   the table of final train / validation loss and accuracy,
  their gaps, and what the numbers say (also printed);
* ``results.json`` the same numbers, the per-epoch curves and the settings;
* ``curves.png``   train and validation curves, one column per p;
* ``masks.png``    which hidden neurons were kept and which were dropped over
  the first training steps, as seen by a ``fastdrop_mask_drawn`` observer.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

import fastdrop as fd
from fastdrop import graph as G

PS = (0.0, 0.2, 0.5, 0.8)
# Plain SGD with momentum, as in Srivastava et al. (2014); a rate the p = 0.8
# network still trains at (at 0.03 it diverges).
LEARNING_RATE, MOMENTUM, BATCH = 0.01, 0.9, 32
MISSING_DEPS_MESSAGE = ('fastdrop demo needs scikit-learn and matplotlib: pip install "fastdropout[demo]"')


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="fastdrop demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="fastdrop-demo", help="output folder (default: fastdrop-demo/)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per run (default 100; 3 with --quick)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data split, weights and masks")
    parser.add_argument("--repeats", type=int, default=None,
                        help="runs per p, averaged (default 3; 1 with --quick)")
    parser.add_argument("--quick", action="store_true", help="a tiny run that checks the pipeline")
    args = parser.parse_args(argv)
    quick = args.quick
    args.epochs = args.epochs if args.epochs is not None else (3 if quick else 100)
    args.repeats = args.repeats if args.repeats is not None else (1 if quick else 3)
    args.hidden = 32 if quick else 256
    args.train_size = 200 if quick else 500
    if args.epochs < 1 or args.repeats < 1 or args.seed < 0:
        parser.error("--epochs and --repeats must be >= 1 and --seed >= 0")
    return args


# ---------------------------------------------------------------- data and model

def load_data(train_size, seed):
    """Digits scaled to [0, 1], split (stratified), standardised with the training statistics."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    x_train, x_val, y_train, y_val = train_test_split(x, y, train_size=train_size, stratify=y,
                                                      random_state=seed)
    mean, std = x_train.mean(axis=0), x_train.std(axis=0) + 0.1
    return (x_train - mean) / std, y_train, (x_val - mean) / std, y_val


def make_model(hidden, p, init_seed, generator):
    """64 -> hidden -> hidden -> 10 with ReLU and dropout after each hidden layer."""
    rng = np.random.default_rng(init_seed)
    return G.Sequential([
        G.Linear(64, hidden, rng=rng), G.ReLU(), G.Dropout(p, generator=generator),
        G.Linear(hidden, hidden, rng=rng), G.ReLU(), G.Dropout(p, generator=generator),
        G.Linear(hidden, 10, rng=rng),
    ])


def evaluate(model, x, y):
    """(loss, accuracy) in evaluation mode; the model is left in training mode."""
    model.eval()
    logits = model(x)
    model.train()
    loss, _ = G.softmax_cross_entropy(logits, y)
    return loss, float(np.mean(np.argmax(logits, axis=1) == y))


# ---------------------------------------------------------------- watching the masks

class MaskRecorder:
    """A ``fastdrop_mask_drawn`` observer: keeps the first `steps` masks that
    `target` draws, for the first sample of each batch and the first `neurons` units."""

    def __init__(self, steps=24, neurons=64):
        self.steps, self.neurons = steps, neurons
        self.target, self.masks = None, {}

    def watch(self, layer, key):
        self.target, self.key = layer, key
        self.masks[key] = []

    def stop(self):
        self.target = None

    @fd.hookimpl
    def fastdrop_mask_drawn(self, layer, handle):
        if layer is self.target and len(self.masks[self.key]) < self.steps:
            self.masks[self.key].append(handle.mask()[0, :self.neurons].copy())


# ---------------------------------------------------------------- training

class Progress:
    """A one-line text progress bar on stderr."""

    def __init__(self, total, width=30, stream=None):
        self.total, self.width = total, width
        self.stream = stream if stream is not None else sys.stderr
        self.done, self.start = 0, time.perf_counter()

    def advance(self, label):
        self.done += 1
        percent = 100 * self.done // self.total
        if percent == 100 * (self.done - 1) // self.total and self.done < self.total:
            return      # redraw once per percent, so a log file stays short
        filled = self.width * self.done // self.total
        elapsed = time.perf_counter() - self.start
        self.stream.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] "
                          f"{percent:3d}%  {label:<40} {elapsed:6.1f} s")
        if self.done == self.total:
            self.stream.write("\n")
        self.stream.flush()


def train_one(data, p, args, repeat, recorder, progress):
    """Train one model; return its per-epoch curves."""
    x_train, y_train, x_val, y_val = data
    seeds = np.random.SeedSequence([args.seed, repeat])
    init_seed, order_seed, mask_seed = seeds.spawn(3)
    model = make_model(args.hidden, p, init_seed, fd.Generator(mask_seed))
    if repeat == 0 and p > 0:
        recorder.watch(model[2], p)
    opt = G.SGD(model.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)
    order = np.random.default_rng(order_seed)
    curves = {"train_loss": [], "val_loss": [], "train_acc": [], "val_acc": []}
    for epoch in range(args.epochs):
        perm = order.permutation(len(x_train))
        for start in range(0, len(perm), BATCH):
            batch = perm[start:start + BATCH]
            opt.zero_grad()
            _, dlogits = G.softmax_cross_entropy(model(x_train[batch]), y_train[batch])
            model.backward(dlogits)
            opt.step()
        for split, (x, y) in (("train", (x_train, y_train)), ("val", (x_val, y_val))):
            loss, acc = evaluate(model, x, y)
            curves[f"{split}_loss"].append(loss)
            curves[f"{split}_acc"].append(acc)
        progress.advance(f"p={p:.1f} run {repeat + 1}/{args.repeats} epoch {epoch + 1}/{args.epochs}")
    recorder.stop()
    return curves


def summarise(curves_per_repeat):
    """Mean curves over the repeats, and the final numbers (mean and per repeat)."""
    mean_curves = {k: np.mean([c[k] for c in curves_per_repeat], axis=0).tolist()
                   for k in curves_per_repeat[0]}
    finals = {k: [c[k][-1] for c in curves_per_repeat] for k in curves_per_repeat[0]}
    final = {k: float(np.mean(v)) for k, v in finals.items()}
    final["loss_gap"] = final["val_loss"] - final["train_loss"]
    final["acc_gap"] = final["train_acc"] - final["val_acc"]
    return {"final": final, "final_per_repeat": finals, "curves": mean_curves}


# ---------------------------------------------------------------- what the numbers say

def findings(results):
    """Compare the runs with the expected pattern, from the numbers alone."""
    base = results[0.0]["final"]
    out, lines = {}, []
    for p in (0.2, 0.5):
        r = results[p]["final"]
        loss_narrowed = r["loss_gap"] < base["loss_gap"]
        acc_narrowed = r["acc_gap"] < base["acc_gap"]
        out[f"gap_narrowed_at_{p}"] = {"loss_gap": loss_narrowed, "accuracy_gap": acc_narrowed}
        lines.append(
            f"- p={p}: the loss gap {'narrowed' if loss_narrowed else 'did not narrow'} "
            f"({base['loss_gap']:.3f} at p=0 -> {r['loss_gap']:.3f}); the accuracy gap "
            f"{'narrowed' if acc_narrowed else 'did not narrow'} "
            f"({100 * base['acc_gap']:.1f} -> {100 * r['acc_gap']:.1f} points); validation accuracy "
            f"{100 * base['val_acc']:.1f}% -> {100 * r['val_acc']:.1f}%.")
    high = results[0.8]["final"]
    best_other_val = max(results[p]["final"]["val_acc"] for p in (0.0, 0.2, 0.5))
    fits_worse = high["train_acc"] < base["train_acc"] and high["train_loss"] > base["train_loss"]
    underfits = fits_worse and high["val_acc"] < best_other_val
    out["underfits_at_0.8"] = underfits
    lines.append(
        f"- p=0.8: train accuracy {100 * high['train_acc']:.1f}% (p=0: {100 * base['train_acc']:.1f}%), "
        f"train loss {high['train_loss']:.3f} (p=0: {base['train_loss']:.3f}), validation accuracy "
        f"{100 * high['val_acc']:.1f}% (best of the others: {100 * best_other_val:.1f}%): "
        + ("it underfits." if underfits else "no underfitting by this test."))
    lines.append("  (Underfitting here means: it fits the training set worse than p=0, in both loss "
                 "and accuracy, and validates worse than the best other p.)")
    return out, lines


def table(results):
    rows = ["| p | train loss | val loss | loss gap | train acc | val acc | acc gap |",
            "|---:|---:|---:|---:|---:|---:|---:|"]
    for p, r in results.items():
        f = r["final"]
        rows.append(f"| {p:.1f} | {f['train_loss']:.3f} | {f['val_loss']:.3f} | {f['loss_gap']:.3f} | "
                    f"{100 * f['train_acc']:.1f}% | {100 * f['val_acc']:.1f}% | "
                    f"{100 * f['acc_gap']:.1f} pts |")
    return rows


# ---------------------------------------------------------------- pictures

def plot_curves(results, title, path):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4 * len(results), 6.5), layout="constrained")
    axes = fig.subplots(2, len(results), sharey="row", squeeze=False)
    for col, (p, r) in enumerate(results.items()):
        c = r["curves"]
        epochs = np.arange(1, len(c["train_loss"]) + 1)
        for row, metric in enumerate(("loss", "acc")):
            ax = axes[row, col]
            ax.plot(epochs, c[f"train_{metric}"], label="train", color="tab:blue")
            ax.plot(epochs, c[f"val_{metric}"], label="validation", color="tab:orange")
            ax.grid(alpha=0.3)
            ax.set_xlabel("epoch")
            if row == 0:
                ax.set_yscale("log")
                ax.set_title(f"p = {p}")
        axes[0, 0].set_ylabel("cross-entropy (log scale)")
        axes[1, 0].set_ylabel("accuracy")
    axes[0, 0].legend()
    fig.suptitle(title)
    fig.savefig(path, dpi=110)


def plot_masks(masks, path):
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure

    keys = [k for k in masks if masks[k]]
    fig = Figure(figsize=(11, 1.0 + 1.4 * len(keys)), layout="constrained")
    axes = np.atleast_1d(fig.subplots(len(keys), 1))
    cmap = ListedColormap(["#f2f2f2", "#1f4e79"])
    for ax, p in zip(axes, keys):
        grid = np.array(masks[p], dtype=float)
        ax.imshow(grid, cmap=cmap, vmin=0, vmax=1, aspect="auto", interpolation="nearest")
        ax.set_title(f"p = {p}: kept {100 * grid.mean():.0f}% of these "
                     f"(dark = kept, light = dropped)", fontsize=10)
        ax.set_ylabel("training step")
        ax.set_xlabel("hidden neuron (first hidden layer, first image of each batch)")
    fig.suptitle("Masks seen by a fastdrop_mask_drawn observer")
    fig.savefig(path, dpi=110)


# ---------------------------------------------------------------- main

def main(argv=None):
    args = parse_args(argv)
    try:
        import matplotlib  # noqa: F401
        import sklearn  # noqa: F401
    except ImportError:
        print(MISSING_DEPS_MESSAGE, file=sys.stderr)
        return 2
    os.makedirs(args.out, exist_ok=True)
    started = time.perf_counter()
    data = load_data(args.train_size, args.seed)
    print(f"fastdrop demo: digits, MLP 64-{args.hidden}-{args.hidden}-10, {len(data[0])} training / "
          f"{len(data[2])} validation images, SGD, {args.epochs} epochs, {args.repeats} run(s) per p")

    recorder = MaskRecorder()
    fd.register(recorder)
    try:
        progress = Progress(len(PS) * args.repeats * args.epochs)
        results = {}
        for p in PS:
            runs = [train_one(data, p, args, repeat, recorder, progress) for repeat in range(args.repeats)]
            results[p] = summarise(runs)
    finally:
        fd.unregister(recorder)

    found, finding_lines = findings(results)
    rows = table(results)
    elapsed = time.perf_counter() - started
    report = ["# fastdrop demo: dropout on digits", "",
              f"MLP 64-{args.hidden}-{args.hidden}-10 (ReLU, dropout p after each hidden layer), "
              f"{len(data[0])} training and {len(data[2])} validation images, SGD (lr {LEARNING_RATE}, "
              f"momentum {MOMENTUM}, batch {BATCH}), "
              f"{args.epochs} epochs; means over {args.repeats} run(s) per p, seed {args.seed}. "
              f"Gaps: validation minus training loss, training minus validation accuracy.", "",
              *rows, "", "What the numbers say:", "", *finding_lines, "",
              f"Ran in {elapsed:.1f} s."]
    print()
    print("\n".join(report[4:]))

    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write("\n".join(report) + "\n")
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"settings": {k: v for k, v in vars(args).items()}, "findings": found,
                   "results": {str(p): r for p, r in results.items()}, "seconds": elapsed}, f, indent=1)
    plot_curves(results, f"Digits, MLP 64-{args.hidden}-{args.hidden}-10, {len(data[0])} training "
                         f"images: train and validation curves per dropout probability p",
                os.path.join(args.out, "curves.png"))
    plot_masks(recorder.masks, os.path.join(args.out, "masks.png"))
    print(f"\nwrote results.md, results.json, curves.png, masks.png to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Training speed: fastdrop.graph against PyTorch on the CPU, with and without dropout.

The same MLP (40 -> 512 -> 512 -> 10, ReLU, dropout after each hidden
layer), batch 100, SGD with momentum 0.9, on synthetic data.  For p = 0
and p = 0.5, each framework trains full epochs in turn (interleaved, so
both see the same machine state); the table gives the median epoch time,
the dropout overhead (epoch at p = 0.5 / epoch at p = 0) and fastdrop's
epoch time / PyTorch's.

    python benchmarks/bench_training.py --threads 1
"""
import argparse
import os
import sys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1,
                        help="threads for BLAS, PyTorch and fastdrop (default 1)")
    parser.add_argument("--epochs", type=int, default=7, help="timed epochs per configuration (median)")
    parser.add_argument("--samples", type=int, default=10000, help="training samples (100 per batch)")
    parser.add_argument("--no-torch", action="store_true", help="time fastdrop only")
    args = parser.parse_args(argv)
    if args.threads < 1 or args.epochs < 1 or args.samples < 100:
        parser.error("--threads and --epochs must be >= 1, --samples >= 100")
    return args


ARGS = parse_args()
# The thread counts of BLAS and OpenMP are read when the libraries load,
# so they are set before NumPy (and PyTorch) are imported.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "FASTDROP_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)

import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import fastdrop as fd  # noqa: E402
from fastdrop import graph as G  # noqa: E402

try:
    import torch  # noqa: E402
except ImportError:
    torch = None

SIZES = (40, 512, 512, 10)
BATCH = 100
LR, MOMENTUM = 0.01, 0.9


def synthetic_data(samples, seed=0):
    """Gaussian inputs, labels from a fixed random linear teacher."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((samples, SIZES[0]), dtype=np.float32)
    teacher = rng.standard_normal((SIZES[0], SIZES[-1])).astype(np.float32)
    y = np.argmax(x @ teacher, axis=1)
    return x, y


# ---------------------------------------------------------------- fastdrop

class FastdropRun:
    name = "fastdrop"

    def __init__(self, p, x, y):
        layers = []
        for i, (n_in, n_out) in enumerate(zip(SIZES[:-1], SIZES[1:])):
            layers.append(G.Linear(n_in, n_out, rng=i))
            if i < len(SIZES) - 2:
                layers += [G.ReLU(), G.Dropout(p, generator=fd.Generator(i))]
        self.model = G.Sequential(layers)
        self.opt = G.SGD(self.model.parameters(), lr=LR, momentum=MOMENTUM)
        self.x, self.y = x, y

    def epoch(self):
        model, opt = self.model, self.opt
        model.train()
        for start in range(0, len(self.x), BATCH):
            xb, yb = self.x[start:start + BATCH], self.y[start:start + BATCH]
            opt.zero_grad()
            loss, dlogits = G.softmax_cross_entropy(model(xb), yb)
            model.backward(dlogits)
            opt.step()
        return loss


# ---------------------------------------------------------------- PyTorch

class TorchRun:
    name = "PyTorch"

    def __init__(self, p, x, y):
        torch.manual_seed(0)
        layers = []
        for i, (n_in, n_out) in enumerate(zip(SIZES[:-1], SIZES[1:])):
            layers.append(torch.nn.Linear(n_in, n_out))
            if i < len(SIZES) - 2:
                layers += [torch.nn.ReLU(), torch.nn.Dropout(p)]
        self.model = torch.nn.Sequential(*layers)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=LR, momentum=MOMENTUM)
        self.loss_fn = torch.nn.CrossEntropyLoss()
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)

    def epoch(self):
        model, opt = self.model, self.opt
        model.train()
        for start in range(0, len(self.x), BATCH):
            xb, yb = self.x[start:start + BATCH], self.y[start:start + BATCH]
            opt.zero_grad()
            loss = self.loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
        return loss.item()


def time_epochs(runs, epochs):
    """Median seconds per epoch of each run; runs take turns epoch by epoch."""
    for run in runs:
        run.epoch()  # warm-up: allocations, BLAS and thread-pool start
    times = {id(run): [] for run in runs}
    for _ in range(epochs):
        for run in runs:
            start = time.perf_counter()
            run.epoch()
            times[id(run)].append(time.perf_counter() - start)
    return [statistics.median(times[id(run)]) for run in runs]


def main():
    fd.set_num_threads(ARGS.threads)
    frameworks = [FastdropRun]
    if torch is not None and not ARGS.no_torch:
        torch.set_num_threads(ARGS.threads)
        frameworks.append(TorchRun)
    x, y = synthetic_data(ARGS.samples)
    ps = (0.0, 0.5)
    runs = [cls(p, x, y) for cls in frameworks for p in ps]
    medians = time_epochs(runs, ARGS.epochs)
    epoch = {(run.name, p): t for run, p, t in zip(runs, [p for _ in frameworks for p in ps], medians)}

    print(f"MLP {'->'.join(map(str, SIZES))}, batch {BATCH}, {ARGS.samples // BATCH} steps per epoch, "
          f"SGD momentum {MOMENTUM}, threads {ARGS.threads}, median of {ARGS.epochs} epochs")
    versions = f"numpy {np.__version__}, fastdrop {fd.__version__}"
    if torch is not None and not ARGS.no_torch:
        versions += f", torch {torch.__version__}"
    elif torch is None:
        versions += ", PyTorch not importable: fastdrop only"
    print(versions)
    print()
    print("| framework | epoch p=0 (ms) | epoch p=0.5 (ms) | dropout overhead (p=0.5 / p=0) |")
    print("|---|---:|---:|---:|")
    for cls in frameworks:
        t0, t5 = epoch[(cls.name, 0.0)], epoch[(cls.name, 0.5)]
        print(f"| {cls.name} | {t0 * 1e3:.1f} | {t5 * 1e3:.1f} | {t5 / t0:.3f}x |")
    if len(frameworks) == 2:
        print()
        for p in ps:
            ratio = epoch[("fastdrop", p)] / epoch[("PyTorch", p)]
            print(f"fastdrop epoch / PyTorch epoch at p={p}: {ratio:.3f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

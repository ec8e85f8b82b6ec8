"""fastdrop.torch.Dropout against torch.nn.Dropout in PyTorch training on the CPU.

1. Epoch time: an MLP (40 -> 512 -> 512 -> 10, ReLU, dropout after each
   hidden layer), batch 100, Adam, on synthetic data, with torch.nn.Dropout
   and with fastdrop.torch.Dropout at p = 0.5, 0.1 and 0 (p = 0 is the
   baseline: both return their input untouched).  All configurations run
   in one model, whose dropout modules are swapped for each in turn, so
   that an overhead compares a model with itself: two separately built
   models of the same configuration differ by several per cent in epoch
   time (where their tensors happen to lie in memory).  Before each timed
   epoch the weights and Adam's state are reset in place to their initial
   values, so every epoch computes from the same state: the speed of an
   epoch depends on the values it computes (a model trained for longer
   computes more subnormal numbers, which are slow on x86), and a model
   whose state drifted while the configurations took turns measured x * 2
   1.6x slower than the same epochs from a reset state.  The
   configurations take turns (interleaved, in a new random order each
   round, so all see the same machine state and none always follows the
   same one); the tables give median epoch times and the dropout overhead:
   per round, the epoch at p over the epoch at p = 0 of the same
   implementation, and the median and quartiles of that ratio over the
   rounds (a shared host has slow and fast spells several seconds long,
   which a ratio within a round cancels and a ratio of medians does not),
   in wall time and in the CPU time of the process (which a loaded machine
   disturbs less: time spent waiting for a core is not counted).  A reference
   configuration trains with x * 2 in place of each dropout: the overhead
   of any out-of-place elementwise operation in that position (a new
   activation written, read by the next layer, and a backward pass), which
   no dropout that returns a new tensor can go below.
2. Per call: forward + backward through one dropout on a (100, 512)
   float32 batch, in microseconds of the thread's CPU time: torch's
   dropout, fastdrop.torch's eager path (keys from torch's generator, as
   in the epochs above, and from a fastdrop.Generator), and
   fastdrop.torch's custom operators (the path of compiled graphs and
   tensor subclasses), each against x * 2 (no dropout).
3. Memory: forward + backward through one dropout on a large activation,
   each run in a fresh process; the increase of peak resident memory over
   the resident memory before the pass (median of interleaved runs), and
   the bytes autograd saved for the dropout (saved-tensor hooks).

    python benchmarks/bench_torch.py --threads 1 2
"""
import argparse
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time

import torch

import fastdrop as fd
from fastdrop.bench import cpu_model
import fastdrop.torch as fdt
from fastdrop.torch import _ops, _streams

SIZES = (40, 512, 512, 10)
BATCH = 100
PS = (0.5, 0.1, 0.0)
IMPLEMENTATIONS = {"torch.nn.Dropout": torch.nn.Dropout, "fastdrop.torch.Dropout": fdt.Dropout}
REFERENCE = "x * 2"


class Twice(torch.nn.Module):
    """The reference: x * 2 where the dropout would be (p is ignored)."""

    def __init__(self, p):
        super().__init__()

    def forward(self, x):
        return x * 2.0


def load_average():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "unknown"


def synthetic_data(samples):
    """Gaussian inputs, labels from a fixed random linear teacher."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(samples, SIZES[0], generator=g)
    teacher = torch.randn(SIZES[0], SIZES[-1], generator=g)
    return x, (x @ teacher).argmax(dim=1)


def mlp(dropout, p):
    torch.manual_seed(0)
    layers = []
    for fan_in, fan_out in zip(SIZES[:-2], SIZES[1:-1]):
        layers += [torch.nn.Linear(fan_in, fan_out), torch.nn.ReLU(), dropout(p)]
    return torch.nn.Sequential(*layers, torch.nn.Linear(SIZES[-2], SIZES[-1]))


class Trainer:
    """One model and its optimizer; :meth:`use` swaps the modules in the
    dropout positions, :meth:`reset` restores the initial state in place."""

    def __init__(self):
        self.model = mlp(fdt.Dropout, PS[0])
        self.slots = [i for i, module in enumerate(self.model) if isinstance(module, fdt.Dropout)]
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.loss = torch.nn.CrossEntropyLoss()
        self.initial = [w.detach().clone() for w in self.model.parameters()]

    def use(self, modules):
        for slot, module in zip(self.slots, modules):
            self.model[slot] = module

    def reset(self):
        """Initial weights and a fresh Adam (zero moments and step count),
        written into the same tensors so nothing moves in memory."""
        with torch.no_grad():
            for w, w0 in zip(self.model.parameters(), self.initial):
                w.copy_(w0)
            for state in self.optimizer.state.values():
                for value in state.values():
                    value.zero_()

    def epoch(self, x, y):
        """(wall seconds, process CPU seconds) of one epoch."""
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(0, len(x), BATCH):
            self.optimizer.zero_grad()
            self.loss(self.model(x[i:i + BATCH]), y[i:i + BATCH]).backward()
            self.optimizer.step()
        return time.perf_counter() - wall, time.process_time() - cpu


def configurations(slots):
    """The modules of each (implementation, p) and of the reference, one per dropout position."""
    configs = {(name, p): [cls(p) for _ in range(slots)] for name, cls in IMPLEMENTATIONS.items() for p in PS}
    configs[(REFERENCE, None)] = [Twice(None) for _ in range(slots)]
    return configs


def epoch_times(threads, samples, repeats):
    torch.set_num_threads(threads)
    fd.set_num_threads(threads)
    x, y = synthetic_data(samples)
    trainer = Trainer()
    configs = configurations(len(trainer.slots))
    for modules in configs.values():  # warm-up: allocator, thread pools, first-call costs, Adam's state
        trainer.use(modules)
        trainer.epoch(x[:10 * BATCH], y[:10 * BATCH])
    times = {key: [] for key in configs}
    order = list(configs)
    shuffle = random.Random(0).shuffle
    for _ in range(repeats):
        shuffle(order)  # no configuration always follows the same one
        for key in order:
            trainer.use(configs[key])
            trainer.reset()
            times[key].append(trainer.epoch(x, y))
    # per clock: each configuration's epoch times, round by round
    return [{key: [t[clock] for t in runs] for key, runs in times.items()} for clock in (0, 1)]


def paired(times, key, base_keys):
    """Median and quartiles over rounds of key's epoch over the mean of
    base_keys' epochs in the same round: the machine's slow and fast spells
    (several seconds long on a shared host) cancel within a round."""
    ratios = [t / statistics.fmean(bases) for t, *bases in zip(times[key], *(times[b] for b in base_keys))]
    if len(ratios) < 2:  # one round: no spread to show
        return ratios[0], ratios[0], ratios[0]
    q1, median, q3 = statistics.quantiles(ratios, n=4)
    return median, q1, q3


def print_epochs(threads, times, samples, clock):
    print(f"\nepoch of {samples // BATCH} steps, {threads} thread(s), {clock}: median seconds; overhead: "
          f"median over rounds of the epoch at p / the epoch at p = 0 in the same round [quartiles]")
    print(f"{'p':>4} | {'torch.nn.Dropout: epoch, overhead':<33} | {'fastdrop.torch: epoch, overhead':<33} | "
          f"fastdrop/torch")
    for p in PS:
        cells = []
        for name in IMPLEMENTATIONS:
            median, q1, q3 = paired(times, (name, p), [(name, 0.0)])
            cells.append(f"{statistics.median(times[(name, p)]):7.3f} s {median:6.3f}x [{q1:.3f}, {q3:.3f}]")
        ratio, _, _ = paired(times, ("fastdrop.torch.Dropout", p), [("torch.nn.Dropout", p)])
        print(f"{p:>4} | {cells[0]:<33} | {cells[1]:<33} | {ratio:13.3f}x")
    median, q1, q3 = paired(times, (REFERENCE, None), [(name, 0.0) for name in IMPLEMENTATIONS])
    print(f"reference, {REFERENCE} in place of each dropout: {statistics.median(times[(REFERENCE, None)]):.3f} s, "
          f"{median:.3f}x [{q1:.3f}, {q3:.3f}] the mean of the two p = 0 epochs")


# ---------------------------------------------------------------- per call

def call_costs(repeats, calls=200):
    """Median thread CPU microseconds of one forward + backward, interleaved."""
    torch.set_num_threads(1)
    fd.set_num_threads(1)
    x = torch.randn(BATCH, 512, requires_grad=True)
    dy = torch.randn(BATCH, 512)
    a, da = x.detach().numpy().copy(), dy.numpy()
    g = fd.Generator(0)
    seed = torch.tensor(_streams.words(_streams.draw(g, 0.5, "inverted", x.shape, x.shape)), dtype=torch.int64)
    region = ([BATCH, 512], [BATCH, 512], [0, 0])

    def numpy_pair():
        _, h = fd.dropout(a, 0.5, generator=g, return_handle=True)
        fd.dropout_backward(da, h)

    variants = {
        "x * 2 (no dropout)": lambda: (x * 2.0).backward(dy),
        "torch.nn.functional.dropout": lambda: torch.nn.functional.dropout(x, 0.5).backward(dy),
        "fastdrop.torch.dropout": lambda: fdt.dropout(x, 0.5).backward(dy),
        "  with generator=": lambda: fdt.dropout(x, 0.5, generator=g).backward(dy),
        "operator fastdrop::dropout": lambda: _ops.dropout(x, seed, 0.5, "inverted", *region).backward(dy),
        # the kernels alone: fastdrop's NumPy calls on the same data
        "NumPy fd.dropout + backward": numpy_pair,
    }
    times = {name: [] for name in variants}
    for _ in range(repeats + 1):  # the first round warms up
        for name, forward_backward in variants.items():
            start = time.thread_time()
            for _ in range(calls):
                forward_backward()
            times[name].append((time.thread_time() - start) / calls * 1e6)
    print(f"\nforward + backward of one dropout (p = 0.5) on ({BATCH}, 512) float32, 1 thread: "
          f"median thread CPU time of {repeats} interleaved rounds of {calls} calls")
    base = statistics.median(times["x * 2 (no dropout)"][1:])
    for name, t in times.items():
        median = statistics.median(t[1:])
        print(f"{name:30} {median:8.1f} us   {median - base:+8.1f} us over x * 2")


# ---------------------------------------------------------------- memory

def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def memory_child(name, elements):
    """Run in a fresh process: peak RSS increase and saved bytes of one
    forward + backward through dropout at p = 0.5 on `elements` floats."""
    torch.set_num_threads(1)
    fd.set_num_threads(1)
    layer = IMPLEMENTATIONS[name](0.5)
    layer(torch.ones(64, requires_grad=True) * 1).sum().backward()  # first-call allocations
    x = torch.ones(elements, requires_grad=True)
    saved = []

    def pack(t):
        saved.append(t.numel() * t.element_size())
        return t

    before = rss_bytes()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        # x * 2 saves no tensor (its gradient is 2 * the incoming one), and
        # no name holds the activation: it lives only as long as autograd needs it
        layer(x * 2.0).sum().backward()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(max(0, peak - before), sum(saved))


def memory_table(elements, repeats):
    runs = {name: [] for name in IMPLEMENTATIONS}
    for _ in range(repeats):
        for name in IMPLEMENTATIONS:
            out = subprocess.run([sys.executable, __file__, "--memory-child", name, str(elements)],
                                 capture_output=True, text=True, check=True).stdout.split()
            runs[name].append((int(out[0]), int(out[1])))
    mib = 2**20
    print(f"\nforward + backward through dropout (p = 0.5) on {elements} float32 "
          f"({elements * 4 / mib:.0f} MiB), median of {repeats} fresh processes each")
    print(f"{'':24} {'peak RSS increase':>18} {'saved by autograd':>18}")
    for name, results in runs.items():
        peak = statistics.median(r[0] for r in results)
        saved = statistics.median(r[1] for r in results)
        print(f"{name:24} {peak / mib:14.1f} MiB {saved / mib:14.1f} MiB")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--samples", type=int, default=10000, help="training samples (100 per batch)")
    parser.add_argument("--repeats", type=int, default=7, help="timed epochs per configuration (median)")
    parser.add_argument("--memory-elements", type=int, default=16 * 2**20)
    parser.add_argument("--memory-repeats", type=int, default=3)
    parser.add_argument("--memory-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        memory_child(args.memory_child[0], int(args.memory_child[1]))
        return
    print(f"CPU: {cpu_model()}, {os.cpu_count()} logical CPUs; torch {torch.__version__}, "
          f"fastdrop {fd.__version__}, Python {platform.python_version()}; load average {load_average()}")
    for threads in args.threads:
        wall, cpu = epoch_times(threads, args.samples, args.repeats)
        print_epochs(threads, wall, args.samples, "wall time")
        print_epochs(threads, cpu, args.samples, "process CPU time")
    call_costs(args.repeats)
    memory_table(args.memory_elements, args.memory_repeats)
    print(f"\nload average at the end: {load_average()}")


if __name__ == "__main__":
    main()

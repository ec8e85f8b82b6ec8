"""Do fastdrop's kernels run in parallel with the GIL released?

Python threads, each calling fd.dropout in place on its own buffer, with the
kernels' own threading off (set_num_threads(1)) so that any parallelism
comes from the GIL being released.  Measured: wall time of 1 thread doing 1
job and of 2 threads doing 2 jobs (same job size).  If the GIL is released
and two cores are free, the ratio t(2 threads, 2 jobs) / t(1 thread, 1 job)
is close to 1; if the calls were serialized it would be close to 2.  The
default job (many calls on a buffer that stays in cache) is compute-bound;
jobs on buffers far larger than the caches measure memory bandwidth, which
two cores may share, instead.

Repeats are interleaved (1, 2, 1, 2, ...) so that drift in clock speed or
load affects both equally; the reported ratio is of the medians.

    python benchmarks/bench_threads.py [--elements N] [--calls C] [--repeats R] [--dtype float32]
"""
import argparse
import hashlib
import os
import statistics
import threading
import time

import numpy as np

import fastdrop as fd


def timed_jobs(buffers, p, generator, calls):
    """Wall time for len(buffers) threads, each running `calls` dropout calls
    on its own buffer."""
    start_line = threading.Barrier(len(buffers) + 1)

    def job(x):
        start_line.wait()
        for _ in range(calls):
            fd.dropout(x, p, inplace=True, generator=generator)

    threads = [threading.Thread(target=job, args=(x,)) for x in buffers]
    for t in threads:
        t.start()
    start_line.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


def timed_control(n_threads, data):
    """The same measurement for hashlib.sha256, which releases the GIL: if
    this does not scale either, the machine gives no second core."""
    start_line = threading.Barrier(n_threads + 1)

    def job():
        start_line.wait()
        hashlib.sha256(data).digest()

    threads = [threading.Thread(target=job) for _ in range(n_threads)]
    for t in threads:
        t.start()
    start_line.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


def python_progress(seconds=None, worker=None):
    """Loop iterations of pure Python per second in this thread, for
    `seconds` alone or while `worker` runs in another thread."""
    count = 0
    if worker is None:
        stop = time.perf_counter() + seconds
        while time.perf_counter() < stop:
            count += 1
        return count / seconds
    thread = threading.Thread(target=worker)
    t0 = time.perf_counter()
    thread.start()
    while thread.is_alive():
        count += 1
    return count / (time.perf_counter() - t0)


def gil_probe(elements, p, dtype):
    """Share of its solo speed a pure-Python loop keeps while one long
    dropout call runs in another thread: near 0 if the call held the GIL,
    about 1/2 on one free core, about 1 on two."""
    x = np.ones(elements, dtype=dtype)
    g = fd.Generator(1)
    alone = python_progress(seconds=0.3)
    beside = python_progress(worker=lambda: [fd.dropout(x, p, inplace=True, generator=g) for _ in range(5)])
    holding = python_progress(worker=lambda: sum(range(30_000_000)))   # one C call that keeps the GIL
    return beside / alone, holding / alone


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elements", type=int, default=65_536)
    parser.add_argument("--calls", type=int, default=100, help="dropout calls per job")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--dtype", default="float32", choices=["float16", "float32", "float64"])
    parser.add_argument("--p", type=float, default=0.5)
    args = parser.parse_args()

    fd.set_num_threads(1)
    generator = fd.Generator(0)
    buffers = [np.ones(args.elements, dtype=args.dtype) for _ in range(2)]
    timed_jobs(buffers[:1], args.p, generator, args.calls)          # warm-up: page faults, code paths
    timed_jobs(buffers, args.p, generator, args.calls)

    one, two, control_one, control_two = [], [], [], []
    data = bytes(16 << 20)
    for _ in range(args.repeats):
        one.append(timed_jobs(buffers[:1], args.p, generator, args.calls))
        two.append(timed_jobs(buffers, args.p, generator, args.calls))
        control_one.append(timed_control(1, data))
        control_two.append(timed_control(2, data))

    m1, m2 = statistics.median(one), statistics.median(two)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"fastdrop {fd.__version__}, isa={fd.get_isa()}, cpus={cpus}, dtype={args.dtype}, "
          f"elements per call={args.elements:,}, calls per job={args.calls}, repeats={args.repeats}")
    print(f"1 thread,  1 job : median {m1 * 1e3:8.2f} ms")
    print(f"2 threads, 2 jobs: median {m2 * 1e3:8.2f} ms")
    print(f"ratio (2 threads, 2 jobs) / (1 thread, 1 job) = {m2 / m1:.2f}  "
          f"(1.0 = perfect parallelism, 2.0 = serialized)")
    print(f"throughput speed-up with 2 threads = {2 * m1 / m2:.2f}x")
    c1, c2 = statistics.median(control_one), statistics.median(control_two)
    share, held = gil_probe(32 * args.elements, args.p, args.dtype)
    print(f"GIL probe: a Python loop keeps {share:.0%} of its solo speed while a long dropout call "
          f"runs in another thread ({held:.0%} beside sum(range(...)), which holds the GIL)")
    print(f"control (hashlib.sha256, GIL released): ratio = {c2 / c1:.2f}; "
          f"a control near 2 means this machine cannot run two threads at once")


if __name__ == "__main__":
    main()

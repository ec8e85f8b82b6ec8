"""Speed of dropout on blocks of a larger array, and on Dask arrays.

Three parts (all by default):

``region``  time per element of ``h.apply(block, offset=..., inplace=True)``
            against ``fd.dropout(block, inplace=True)`` on the same buffer,
            for row blocks, column blocks and tiles of a larger logical
            array (about 1 Mi float32 elements each), on 1 kernel thread
            (CPU time of the thread) and 2 (wall time).  Rows of a block map
            to runs of consecutive counters, which the kernel decides as one
            stream; a row draws the whole 16-element Philox block at each of
            its ends (or the whole 128-element chunk, where its chunks hold
            little else), so narrow blocks draw more random bits per
            element than a plain call.  ``benchmarks/bench_region.c``
            measures the same cases without Python (and under callgrind).

``views``   narrow column blocks that are views into a float32 array of
            --gib GiB, as Dask's blocks of ``from_array`` are: time per
            element of ``h.apply(view, offset=..., inplace=True)`` against
            ``fd.dropout`` on the same view (a plain call on the block as
            Dask hands it over), an in-place ``np.multiply`` on the view
            (one pass over the same memory, the least any in-place dropout
            can cost there) and ``fd.dropout`` on a contiguous copy, on 1
            kernel thread (wall time: the view's cost is memory's).

``dask``    GB/s (input bytes per second) on a float32 array of --gib GiB:
            ``fd.dropout`` in one call (kernel threads: fd.get_num_threads()),
            ``fastdrop.dask.dropout`` on the threaded scheduler and on a
            LocalCluster of 2 worker processes (1 thread each), and the
            recipe a Dask user writes today,
            ``(da.random.random(shape, chunks) >= p) * x / (1 - p)``, on both.
            Dask results are materialised with ``persist()`` (blocks left in
            memory, no final concatenation), the single call allocates its
            output.  The threaded methods run before the cluster starts;
            with the cluster running, the single call is timed again beside
            the cluster's methods.  Ratios are to the single call without
            the cluster.

Repeats are interleaved (every method once per round) and medians reported,
so that drift in clock speed or load from other processes hits all methods
alike; the CPU, core count and load average are printed with the figures.

    python benchmarks/bench_dask.py [region|views|dask|all] [--repeats R] [--gib G] [--p P] [--chunks auto|N]
"""
import argparse
import os
import statistics
import time

import numpy as np

import fastdrop as fd
from fastdrop.bench import cpu_model


def machine_line():
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{cpu_model()}, {os.cpu_count()} logical CPUs, load average {load:.2f}, ISA path {fd.get_isa()}"


def interleaved(methods, repeats, clock=time.perf_counter):
    """Median seconds of each method (name -> callable), repeats interleaved."""
    times = {name: [] for name in methods}
    for _ in range(repeats):
        for name, run in methods.items():
            t0 = clock()
            run()
            times[name].append(clock() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


# ---------------------------------------------------------------- region

# (label, logical shape, block shape, offset)
REGION_CASES = [
    ("row block", (2048, 2048), (512, 2048), (512, 0)),
    ("column block", (2048, 2048), (2048, 512), (0, 512)),
    ("tile", (2048, 2048), (1024, 1024), (1024, 1024)),
    ("tile, rows off chunk edges", (3000, 3000), (1000, 1000), (1000, 1000)),
    ("100-wide column block", (10486, 1000), (10486, 100), (0, 300)),
    ("rows sharing chunks", (8192, 200), (8192, 150), (0, 25)),
    ("20-wide column block", (16384, 64), (16384, 20), (0, 7)),
    ("300-wide column block", (4096, 4096), (4096, 300), (0, 1001)),
]


def bench_region(p, repeats, calls=5):
    print(f"region: h.apply on a block vs fd.dropout on the same buffer, float32, p={p}, in place, "
          f"median of {repeats} interleaved repeats of {calls} calls")
    print(f"  {machine_line()}")
    print(f"  {'block':28s} {'shape':>12s} {'threads':>7s} {'dropout ns/el':>14s} {'apply ns/el':>12s} {'ratio':>6s}")
    g = fd.Generator(0)
    for label, logical, shape, offset in REGION_CASES:
        block = np.random.default_rng(1).random(shape, dtype=np.float32)
        h = fd.dropout_handle(logical, p, generator=g)
        for threads in (1, 2):
            def plain():
                for _ in range(calls):
                    fd.dropout(block, p, inplace=True, generator=g)

            def apply():
                for _ in range(calls):
                    h.apply(block, offset=offset, inplace=True)

            # one thread: its CPU time, which other processes on a shared machine do not inflate
            clock = time.thread_time if threads == 1 else time.perf_counter
            with fd.config_context(threads=threads):
                med = interleaved({"plain": plain, "apply": apply}, repeats, clock)
            per = {k: v / calls / block.size * 1e9 for k, v in med.items()}
            print(f"  {label:28s} {str(shape):>12s} {threads:7d} {per['plain']:14.3f} {per['apply']:12.3f} "
                  f"{per['apply'] / per['plain']:6.2f}")


# ---------------------------------------------------------------- views

def bench_views(p, repeats, gib):
    side = int(round((gib * 2 ** 30 / 4) ** 0.5))
    x = np.random.default_rng(0).random((side, side), dtype=np.float32)
    rows = side // 2
    print(f"views: column blocks of {rows} rows, views into a float32 ({side}, {side}) array, p={p}, in place, "
          f"1 kernel thread, median of {repeats} interleaved repeats (wall time)")
    print(f"  {machine_line()}")
    print(f"  {'width':>5s} {'h.apply':>8s} {'fd.dropout':>11s} {'np.multiply':>12s} {'fd.dropout':>11s} "
          f"{'h.apply vs':>11s} {'h.apply vs':>11s}")
    print(f"  {'':5s} {'on view':>8s} {'on view':>11s} {'on view':>12s} {'on copy':>11s} "
          f"{'dropout':>11s} {'multiply':>11s}  (ns per element)")
    h = fd.dropout_handle(x.shape, p, generator=fd.Generator(0))
    one = np.float32(1.0)
    for width in (20, 100, 300, 1000):
        offset = (side // 4, side // 3 + 7)   # off block and chunk edges
        view = x[offset[0]:offset[0] + rows, offset[1]:offset[1] + width]
        copy = np.ascontiguousarray(view)
        g = fd.Generator(1)
        with fd.config_context(threads=1):
            med = interleaved({
                "apply": lambda: h.apply(view, offset=offset, inplace=True),
                "dropout": lambda: fd.dropout(view, p, inplace=True, generator=g),
                "multiply": lambda: np.multiply(view, one, out=view),
                "copy": lambda: fd.dropout(copy, p, inplace=True, generator=g),
            }, repeats)
        per = {k: v / view.size * 1e9 for k, v in med.items()}
        print(f"  {width:5d} {per['apply']:8.3f} {per['dropout']:11.3f} {per['multiply']:12.3f} {per['copy']:11.3f} "
              f"{per['apply'] / per['dropout']:10.2f}x {per['apply'] / per['multiply']:10.2f}x")


# ---------------------------------------------------------------- dask

def bench_dask(p, repeats, gib, chunks):
    import dask
    import dask.array as da
    import distributed

    import fastdrop.dask as fdd

    side = int(round((gib * 2 ** 30 / 4) ** 0.5))
    shape = (side, side)
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    x_da = da.from_array(x, chunks=chunks if chunks == "auto" else int(chunks))
    gbytes = x.nbytes / 1e9
    print(f"dask: float32 {shape} ({x.nbytes / 2 ** 30:.2f} GiB), chunks {x_da.chunksize} "
          f"({x_da.npartitions} blocks), p={p}, median of {repeats} interleaved repeats; "
          f"GB/s = input bytes / wall time")
    print(f"  {machine_line()}")
    g = fd.Generator(0)

    def recipe(arr):
        return (da.random.random(arr.shape, chunks=arr.chunks) >= p) * arr / (1 - p)

    def keep_threads(lazy):
        lazy.persist(scheduler="threads", num_workers=2)

    one_call = f"fd.dropout, one call ({fd.get_num_threads()} kernel threads)"
    # the threaded methods first, with no cluster whose processes and threads would share the two cores
    threaded = interleaved({
        one_call: lambda: fd.dropout(x, p, generator=g),
        "fastdrop.dask, threaded scheduler (2 threads)": lambda: keep_threads(fdd.dropout(x_da, p, generator=g)),
        "dask.array.random recipe, threaded (2 threads)": lambda: keep_threads(recipe(x_da)),
    }, repeats)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  worker_dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        # the input lives on the workers, as a cluster's data would; not timed
        x_cluster = da.random.default_rng(0).random(shape, chunks=x_da.chunks, dtype=np.float32).persist()
        distributed.wait(x_cluster)

        def on_cluster(lazy):
            distributed.wait(client.persist(lazy))

        clustered = interleaved({
            f"{one_call}, cluster running": lambda: fd.dropout(x, p, generator=g),
            "fastdrop.dask, LocalCluster 2 processes": lambda: on_cluster(fdd.dropout(x_cluster, p, generator=g)),
            "dask.array.random recipe, LocalCluster 2 processes": lambda: on_cluster(recipe(x_cluster)),
        }, repeats)
    base = threaded[one_call]
    print(f"  {'method':55s} {'s':>7s} {'GB/s':>7s} {'vs one call':>11s}")
    for name, t in {**threaded, **clustered}.items():
        print(f"  {name:55s} {t:7.3f} {gbytes / t:7.2f} {t / base:10.2f}x")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("part", nargs="?", default="all", choices=["region", "views", "dask", "all"])
    parser.add_argument("--repeats", type=int, default=None, help="interleaved rounds (region 21, views 9, dask 5)")
    parser.add_argument("--gib", type=float, default=1.0, help="size of the Dask benchmark's array in GiB")
    parser.add_argument("--p", type=float, default=0.3, help="drop probability")
    parser.add_argument("--chunks", default="auto", help="Dask chunk side ('auto': Dask's default)")
    args = parser.parse_args()
    if args.part in ("region", "all"):
        bench_region(args.p, args.repeats or 21)
    if args.part in ("views", "all"):
        bench_views(args.p, args.repeats or 9, args.gib)
    if args.part in ("dask", "all"):
        bench_dask(args.p, args.repeats or 5, args.gib, args.chunks)


if __name__ == "__main__":
    main()

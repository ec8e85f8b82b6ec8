"""``fastdrop bench``: dropout speed as ratios to one in-place np.multiply pass.

Every figure is a ratio of medians of interleaved repeats measured in the
same run (fastdrop, then the baseline, then fastdrop again, ...), so a busy
or throttled machine moves both sides alike.  Baselines:

* ``np.multiply(x, 1, out=x)``: one read and one write of the buffer, the
  physical floor for in-place dropout;
* the NumPy recipe from the dropout literature
  (``mask = rng.random(shape) < keep; x *= mask; x /= keep``);
* ``torch.nn.functional.dropout(t, p, training=True, inplace=True)`` on the
  same memory, when torch is importable.
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any, TextIO

import numpy as np

import fastdrop as fd
from fastdrop._config import cpu_model

SIZES = {"4Ki": 4 * 1024, "1Mi": 1024 * 1024, "16Mi": 16 * 1024 * 1024}


def _median_ratio(fn: Callable[[], object], baseline: Callable[[], object], repeats: int,
                  number: int) -> tuple[float, float]:
    """Median time of fn / median time of baseline, interleaved."""
    fn_times: list[float] = []
    base_times: list[float] = []
    fn(), baseline()  # warm up: page faults, caches, thread pools
    for _ in range(repeats):
        for fn_i, times in ((fn, fn_times), (baseline, base_times)):
            start = time.perf_counter()
            for _ in range(number):
                fn_i()
            times.append((time.perf_counter() - start) / number)
    return statistics.median(fn_times) / statistics.median(base_times), statistics.median(base_times)


def _torch() -> ModuleType | None:
    try:
        import torch
    except ImportError:
        return None
    return torch


def run(sizes: Sequence[str] = ("4Ki", "1Mi", "16Mi"), threads: Sequence[int] = (1, 2),
        ps: Sequence[float] = (0.5, 0.1), dtypes: Sequence[str] = ("float32",), repeats: int = 9,
        torch_compare: bool = True, isa: str | None = None, out: TextIO | None = None) -> list[dict[str, Any]]:
    """Print the benchmark table; return its rows as dicts."""
    out = sys.stdout if out is None else out
    torch = _torch() if torch_compare else None
    rows: list[dict[str, Any]] = []
    # config_context scopes the forced path and thread count to this run
    with fd.config_context(isa=isa or None):
        print(f"fastdrop {fd.__version__}, kernel path {fd.get_isa()}, numpy {np.__version__}, "
              f"Python {platform.python_version()}", file=out)
        print(f"CPU: {cpu_model()} ({platform.machine()}, {os.cpu_count()} logical CPUs)", file=out)
        header = (f"{'dtype':8} {'size':>5} {'thr':>3} {'p':>4} | {'fwd/mul':>8} {'bwd/mul':>8} "
                  f"{'recipe/mul':>10} {'torch/mul':>9} {'torch/fd':>8}")
        print(header, file=out)
        print("-" * len(header), file=out)
        for dtype in dtypes:
            for size in sizes:
                n = SIZES[size]
                number = max(1, (1 << 22) // n)
                for nthreads in threads:
                    if torch is not None:
                        torch.set_num_threads(nthreads)
                    with fd.config_context(threads=nthreads):
                        for p in ps:
                            rows.append(_one_row(dtype, size, n, nthreads, p, repeats, number, torch, out))
    return rows


def _one_row(dtype: str, size: str, n: int, nthreads: int, p: float, repeats: int, number: int,
             torch: ModuleType | None, out: TextIO) -> dict[str, Any]:
    x = np.ones(n, dtype=dtype)
    # the multiply baseline always runs on float32 of the same byte size, so
    # float16 and float64 are compared per byte
    base = np.ones(x.nbytes // 4, np.float32)
    one = np.float32(1)
    g = fd.Generator(0)
    mul = lambda: np.multiply(base, one, out=base)  # noqa: E731
    fwd = lambda: fd.dropout(x, p, inplace=True, generator=g)  # noqa: E731
    _, h = fd.dropout(x, p, generator=g, return_handle=True)
    bwd = lambda: fd.dropout_backward(x, h, inplace=True)  # noqa: E731
    row: dict[str, Any] = {"dtype": dtype, "size": size, "threads": nthreads, "p": p}
    row["forward"], row["multiply_s"] = _median_ratio(fwd, mul, repeats, number)
    row["backward"], _ = _median_ratio(bwd, mul, repeats, number)
    rng = np.random.default_rng(0)
    keep = 1 - p

    def recipe() -> None:
        mask = rng.random(x.shape, dtype=np.float32 if dtype != "float64" else np.float64) < keep
        # repeated in-place scaling overflows float16 to inf, and inf * 0 is NaN:
        # harmless for a timing, so keep the table free of warnings
        with np.errstate(over="ignore", invalid="ignore"):
            x.__imul__(mask)
            x.__itruediv__(keep)
    row["recipe"], _ = _median_ratio(recipe, mul, max(3, repeats // 3), number) if nthreads == 1 else (None, None)
    row["torch"] = row["torch_vs_fd"] = None
    if torch is not None and dtype in ("float32", "float64"):
        t = torch.from_numpy(x)
        functional: Any = torch.nn.functional
        tdrop = lambda: functional.dropout(t, p, training=True, inplace=True)  # noqa: E731
        # the torch / fastdrop figure is a target: as many repeats as fastdrop's
        row["torch"], _ = _median_ratio(tdrop, mul, repeats, number)
        row["torch_vs_fd"] = row["torch"] / row["forward"]

    def fmt(v: float | None, w: int) -> str:
        return f"{v:>{w}.2f}" if v is not None else f"{'-':>{w}}"
    print(f"{dtype:8} {size:>5} {nthreads:>3} {p:>4} | {fmt(row['forward'], 8)} {fmt(row['backward'], 8)} "
          f"{fmt(row['recipe'], 10)} {fmt(row['torch'], 9)} {fmt(row['torch_vs_fd'], 8)}", file=out, flush=True)
    return row


def _at_least_one(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be an integer of at least 1, got {text!r}")
    return int(text)


def _probability(text: str) -> float:
    try:
        p = float(text)
    except ValueError:
        p = math.nan
    if not 0.0 <= p <= 1.0:
        raise argparse.ArgumentTypeError(f"drop probabilities must lie in [0, 1], got {text!r}")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="fastdrop bench",
        description="Dropout speed as ratios to one in-place np.multiply pass over the same bytes "
                    "(medians of interleaved repeats), with the CPU and kernel path in the header.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["4Ki", "1Mi", "16Mi"], choices=list(SIZES),
                        help="buffer sizes in elements")
    parser.add_argument("--threads", nargs="+", type=_at_least_one, default=[1, 2], help="thread counts to run")
    parser.add_argument("--p", nargs="+", type=_probability, default=[0.5, 0.1], help="drop probabilities")
    parser.add_argument("--dtypes", nargs="+", default=["float32"], choices=["float16", "float32", "float64"],
                        help="element types (the baseline is always float32 of the same bytes)")
    parser.add_argument("--repeats", type=_at_least_one, default=9, help="interleaved repeats per figure (median)")
    parser.add_argument("--isa", default="auto",
                        help="force a kernel path, one of fastdrop.available_isas(); auto: the path fastdrop "
                             "would use (FASTDROP_ISA, else the best for this CPU)")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    args = parser.parse_args(argv)
    if args.isa.lower() != "auto" and args.isa.lower() not in fd.available_isas():
        parser.error(f"argument --isa: {args.isa!r} is not a path this CPU runs; "
                     f"choose from {', '.join(fd.available_isas() + ['auto'])}")
    run(args.sizes, args.threads, args.p, args.dtypes, args.repeats, not args.no_torch,
        None if args.isa == "auto" else args.isa)
    print("\nratios: time / time of np.multiply(x, 1, out=x) on a float32 buffer of the same bytes; "
          "median of interleaved repeats. torch/fd: how many times faster fastdrop is than torch.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

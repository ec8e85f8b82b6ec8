"""Dropout speed benchmark: the same as ``fastdrop bench`` (see fastdrop/bench.py).

    python benchmarks/bench_dropout.py                      # the README table
    python benchmarks/bench_dropout.py --dtypes float16 float32 float64 --sizes 16Mi
    python benchmarks/bench_dropout.py --isa avx2           # one kernel path
"""
import sys

from fastdrop.bench import main

if __name__ == "__main__":
    sys.exit(main())

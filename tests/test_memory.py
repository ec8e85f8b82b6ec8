"""Masks are recomputed, not stored: a forward + backward pair in place
allocates (almost) nothing beyond the caller's arrays."""
import tracemalloc

import numpy as np

import fastdrop as fd


def test_inplace_forward_backward_allocates_no_mask():
    n = 16 * 2**20  # 64 MiB of float32; a stored byte mask would be 16 MiB
    x = np.ones(n, np.float32)
    dy = np.ones(n, np.float32)
    g = fd.Generator(0)
    fd.dropout(np.ones(64, np.float32), 0.5, generator=g)  # warm caches of first use
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        _, h = fd.dropout(x, 0.3, inplace=True, generator=g, return_handle=True)
        fd.dropout_backward(dy, h, inplace=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # NumPy reports its buffers to tracemalloc; allow 1 MiB for Python objects
    assert peak - base < 2**20, f"peak grew by {(peak - base) / 2**20:.2f} MiB"
    # and the work was done
    assert 0.29 < (x == 0).mean() < 0.31


def test_allocating_call_allocates_only_its_output():
    n = 4 * 2**20
    x = np.ones(n, np.float32)
    g = fd.Generator(0)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        y = fd.dropout(x, 0.3, generator=g)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak - base < x.nbytes + 2**20
    assert y.shape == x.shape

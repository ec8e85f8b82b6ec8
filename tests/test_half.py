"""float16 conversion in the C core matches NumPy's (round to nearest even)."""
import numpy as np

from fastdrop import _kernels


def test_all_half_values_convert_exactly_to_float():
    h = np.arange(2**16, dtype=np.uint32).astype(np.uint16)
    got = _kernels.half_to_float(h)
    ref = h.view(np.float16).astype(np.float32)
    finite = np.isfinite(ref)
    np.testing.assert_array_equal(got[finite].view(np.uint32), ref[finite].view(np.uint32))
    assert np.array_equal(np.isnan(got), np.isnan(ref))
    assert np.array_equal(np.isinf(got), np.isinf(ref))


def test_float_to_half_rounds_like_numpy():
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2**32, size=2_000_000, dtype=np.uint64).astype(np.uint32)
    # add every half boundary and midpoint, where rounding decisions happen
    halves = np.arange(2**16, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(np.float32)
    mids = (halves.view(np.uint32) + np.uint32(1 << 12)).astype(np.uint32)
    special = np.concatenate([bits, halves.view(np.uint32), mids, mids - 1, mids + 1]).view(np.float32)
    special = special[~np.isnan(special)]
    got = _kernels.float_to_half(np.ascontiguousarray(special))
    with np.errstate(over="ignore"):
        ref = special.astype(np.float16).view(np.uint16)
    np.testing.assert_array_equal(got, ref)


def test_nan_stays_nan():
    x = np.array([np.nan, -np.nan], np.float32)
    got = _kernels.float_to_half(x).view(np.float16)
    assert np.isnan(got).all()

"""Statistics of the masks and of standard_normal, at stated sigma.

Every check is a z-score against the exact null distribution of a correct
implementation (fixed seeds, so each run is deterministic):

* a count k of kept elements among n, each kept with the realised
  probability q = t / 2**32, is Binomial(n, q):
  z = (k - n q) / sqrt(n q (1 - q));
* a Pearson correlation r of n pairs of independent indicators is
  approximately Normal(0, 1/n): z = r * sqrt(n);
* sample moments of n standard normals: mean has sigma sqrt(1/n), variance
  sqrt(2/n), skewness sqrt(6/n), excess kurtosis sqrt(24/n).

Every check requires |z| < Z_LIMIT = 5 (two-sided false-alarm probability
5.7e-7 per check).  The file makes about 1,500 such checks with three ISA
paths (1,161 of them the per-cell counts of the lane test), about 500 more
per extra ISA path, so the family-wise false-alarm probability for a correct
generator is below 2,500 * 5.7e-7 = 1.4e-3: a change of seed is very
unlikely to fail, while the biases the tests look for (a lane or byte
position with another keep rate, correlated neighbours, a stream reused)
give z-scores in the tens or hundreds.
"""
import numpy as np
import pytest

import fastdrop as fd
import reference as ref

Z_LIMIT = 5.0
TWO32 = 1 << 32


def keep_indicators(n, p, generator, dtype=np.float32):
    """1.0 where fastdrop kept element i of a call on ones, else 0.0."""
    y = fd.dropout(np.ones(n, dtype=dtype), p, generator=generator)
    return (y != 0).astype(np.float64)


def binomial_z(kept, n, q):
    return (kept - n * q) / np.sqrt(n * q * (1.0 - q))


def correlation_z(a, b):
    r = np.corrcoef(a, b)[0, 1]
    return r * np.sqrt(a.size)


def realised_keep_prob(p):
    return fd._dropout.threshold_for(p) / TWO32


# ---------------------------------------------------------------- positions and lanes

@pytest.mark.parametrize("isa", fd.available_isas())
@pytest.mark.parametrize("p", [0.5, 0.3, 1 - 0x80800000 / TWO32])
def test_no_byte_position_or_simd_lane_bias(isa, p):
    """Group elements by byte position j = i % 16 inside a block and by block
    offset (i // 16) % 8 inside an 8-block chunk (the SIMD lane): 128 cells
    of 16384 elements each, one binomial z per cell, plus the chi-square of
    all 128 (mean 128, sigma sqrt(2 * 128) = 16) against over-uniformity too."""
    with fd.config_context(isa=isa):
        keep = keep_indicators(1 << 21, p, fd.Generator(101))
    q = realised_keep_prob(p)
    cells = keep.reshape(-1, 8, 16).sum(axis=0)          # [lane, byte position]
    n_cell = keep.size // 128
    z = binomial_z(cells, n_cell, q)
    assert np.abs(z).max() < Z_LIMIT, np.unravel_index(np.abs(z).argmax(), z.shape)
    chi2 = float((z ** 2).sum())
    assert abs(chi2 - 128) / 16.0 < Z_LIMIT, chi2


def test_keep_rate_per_bit_of_the_top_byte():
    """Keep probability 2**-b keeps exactly the elements whose top b bits of
    byte 0 are zero: each bit of every byte position must be fair."""
    n = 1 << 20
    for bits in range(1, 9):
        p = 1.0 - 2.0 ** -bits
        keep = keep_indicators(n, p, fd.Generator(bits)).reshape(-1, 16).sum(axis=0)
        z = binomial_z(keep, n // 16, 2.0 ** -bits)
        assert np.abs(z).max() < Z_LIMIT, (bits, z)


def test_tied_elements_are_settled_by_the_next_stream_fairly():
    """t = 0x80800000: elements whose byte 0 equals 0x80 (1/256 of them) are
    kept iff byte 1 < 0x80, probability 1/2; ignoring the tie refinement
    would keep none of them."""
    n = 1 << 22
    g = fd.Generator(7)
    key, counter = g.key, g.counter
    p = 1 - 0x80800000 / TWO32
    keep = keep_indicators(n, p, g)
    byte0 = ref.block_bytes(np.arange(counter, counter + n // 16, dtype=np.uint64), 0, key, 10).reshape(-1)
    tied = byte0 == 0x80
    assert abs(binomial_z(tied.sum(), n, 1 / 256)) < Z_LIMIT
    assert abs(binomial_z(keep[tied].sum(), tied.sum(), 0.5)) < Z_LIMIT
    assert abs(binomial_z(keep.sum(), n, 0x80800000 / TWO32)) < Z_LIMIT


# ---------------------------------------------------------------- correlations

@pytest.mark.parametrize("lag", [1, 2, 4, 15, 16, 17, 64, 127, 128, 129, 1024])
def test_no_correlation_between_neighbouring_elements(lag):
    """Lags inside a word, across words and blocks, one block, one chunk."""
    keep = keep_indicators(1 << 21, 0.5, fd.Generator(202))
    assert abs(correlation_z(keep[:-lag], keep[lag:])) < Z_LIMIT


@pytest.mark.parametrize("p", [0.5, 0.1])
def test_no_correlation_between_consecutive_calls(p):
    g = fd.Generator(303)
    masks = [keep_indicators(1 << 20, p, g) for _ in range(4)]
    for a, b in zip(masks, masks[1:]):
        assert abs(correlation_z(a, b)) < Z_LIMIT


def test_no_correlation_between_spawned_generators():
    parent = fd.Generator(404)
    generators = [parent, *parent.spawn(4), *parent.spawn(1)]
    masks = [keep_indicators(1 << 20, 0.5, g) for g in generators]
    for i in range(len(masks)):
        for j in range(i + 1, len(masks)):
            assert abs(correlation_z(masks[i], masks[j])) < Z_LIMIT, (i, j)


def test_no_correlation_between_neighbouring_seeds():
    masks = [keep_indicators(1 << 20, 0.5, fd.Generator(seed)) for seed in range(4)]
    for a, b in zip(masks, masks[1:]):
        assert abs(correlation_z(a, b)) < Z_LIMIT


# ---------------------------------------------------------------- the p grid

P_GRID = [0.001, 0.005, 0.01, 0.05, 0.1, 0.2, 0.25, 1 / 3, 0.4, 0.5, 0.6, 2 / 3, 0.75, 0.8, 0.9,
          0.95, 0.99, 0.995, 0.999]


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_drop_rate_over_a_grid_of_p(dtype):
    n = 1 << 20
    g = fd.Generator(505)
    for p in P_GRID:
        keep = keep_indicators(n, p, g, dtype)
        q = realised_keep_prob(p)
        assert abs(q - (1 - p)) <= 2.0 ** -33
        assert abs(binomial_z(keep.sum(), n, q)) < Z_LIMIT, p


def test_p_exact_to_two_to_the_minus_33():
    for p in P_GRID + [1e-9, 1 - 1e-9, 0.123456789]:
        assert abs(realised_keep_prob(p) - (1 - p)) <= 2.0 ** -33, p


# ---------------------------------------------------------------- standard_normal

def test_standard_normal_moments():
    n = 1 << 21
    z = fd.standard_normal(n, (12345, 678), 1000)
    mean, centred = z.mean(), z - z.mean()
    var = (centred ** 2).mean()
    skew = (centred ** 3).mean() / var ** 1.5
    kurt = (centred ** 4).mean() / var ** 2 - 3.0
    assert abs(mean) / np.sqrt(1 / n) < Z_LIMIT
    assert abs(var - 1) / np.sqrt(2 / n) < Z_LIMIT
    assert abs(skew) / np.sqrt(6 / n) < Z_LIMIT
    assert abs(kurt) / np.sqrt(24 / n) < Z_LIMIT
    # tail and central masses, each a binomial count
    for bound, mass in ((1.0, 0.6826894921370859), (2.0, 0.9544997361036416), (3.0, 0.9973002039367398)):
        assert abs(binomial_z((np.abs(z) < bound).sum(), n, mass)) < Z_LIMIT, bound
    for lag in (1, 2, 4):                                     # inside a Box-Muller pair, a block, beyond
        assert abs(correlation_z(z[:-lag], z[lag:])) < Z_LIMIT, lag
        assert abs(correlation_z(z[:-lag] ** 2, z[lag:] ** 2)) < Z_LIMIT, lag

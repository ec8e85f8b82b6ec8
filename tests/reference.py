"""Plain NumPy twin of fastdrop's kernels, and an edge-case array generator.

The reference is built from two things only: the raw block function
``fastdrop.philox4x32`` (itself checked against the Random123 known-answer
vectors and against :func:`philox4x32_numpy` below) and the bit-to-element
mapping of the determinism specification, ``docs/determinism.rst``:

* a call reserves blocks ``[counter, counter + ceil(n / 16))``;
* logical element ``i`` (C order over the mask shape) uses block
  ``b = counter + i // 16`` and byte ``j = i % 16``, byte ``j`` being bits
  ``8*(j%4) .. 8*(j%4)+7`` of output word ``j // 4``;
* stream ``s`` is Philox4x32-R of the counter words
  ``(b mod 2**32, b // 2**32, s, 0)``;
* ``u(i) = byte_0 << 24 | byte_1 << 16 | byte_2 << 8 | byte_3`` with
  ``byte_s`` from stream ``s``; the element is kept iff ``u(i) < t``,
  ``t = round((1 - p) * 2**32)``.

Nothing here calls the compiled kernels' mask or apply code, so agreement
with ``fastdrop.dropout`` proves the specification.
"""
import itertools
import math

import numpy as np

import fastdrop as fd

TWO32 = 1 << 32
BLOCK_ELEMS = 16
STREAMS = 4          # bytes of the 32-bit uniform, most significant first
FLOAT_DTYPES = (np.float16, np.float32, np.float64)

# Philox4x32 constants (Salmon et al., SC'11, Section 5; Random123 philox.h).
PHILOX_M0, PHILOX_M1 = 0xD2511F53, 0xCD9E8D57
PHILOX_W0, PHILOX_W1 = 0x9E3779B9, 0xBB67AE85


# ---------------------------------------------------------------- Philox

def philox4x32_numpy(counters, key, rounds=10):
    """Philox4x32-R in uint64 NumPy arithmetic, independent of the C code.

    Used to check ``fd.philox4x32`` for every round count, beyond the
    Random123 known-answer vectors (which cover 7 and 10 rounds only).
    """
    c = np.asarray(counters, dtype=np.uint64).reshape(-1, 4)
    x0, x1, x2, x3 = (c[:, k].copy() for k in range(4))
    k0, k1 = np.uint64(key[0]), np.uint64(key[1])
    mask32 = np.uint64(0xFFFFFFFF)
    for r in range(rounds):
        if r:
            k0 = (k0 + np.uint64(PHILOX_W0)) & mask32
            k1 = (k1 + np.uint64(PHILOX_W1)) & mask32
        p0 = np.uint64(PHILOX_M0) * x0
        p1 = np.uint64(PHILOX_M1) * x2
        x0, x1, x2, x3 = ((p1 >> np.uint64(32)) ^ x1 ^ k0, p1 & mask32,
                          (p0 >> np.uint64(32)) ^ x3 ^ k1, p0 & mask32)
    out = np.stack([x0, x1, x2, x3], axis=-1).astype(np.uint32)
    return out.reshape(np.shape(counters))


# ---------------------------------------------------------------- the mapping

def threshold(p):
    """t = round((1 - p) * 2**32), the documented keep threshold."""
    return int(round((1.0 - p) * TWO32))


def block_bytes(blocks, stream, key, rounds):
    """Bytes 0..15 of each block of one stream: shape (len(blocks), 16), uint32.

    Byte j is bits 8*(j%4) .. 8*(j%4)+7 of output word j // 4.
    """
    blocks = np.asarray(blocks, dtype=np.uint64)
    counters = np.zeros((blocks.size, 4), dtype=np.uint32)
    counters[:, 0] = (blocks & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    counters[:, 1] = (blocks >> np.uint64(32)).astype(np.uint32)
    counters[:, 2] = stream
    words = fd.philox4x32(counters, key, rounds)                  # (nb, 4)
    shifts = np.arange(4, dtype=np.uint32) * np.uint32(8)
    per_word = (words[:, :, None] >> shifts) & np.uint32(0xFF)   # [block, word, byte in word]
    return per_word.reshape(blocks.size, BLOCK_ELEMS)             # index 4*word + byte = j


def uniforms(n, key, counter, rounds=10):
    """u(i) for i < n, uint64: the four stream bytes, stream 0 on top."""
    nblocks = -(-n // BLOCK_ELEMS)
    if nblocks == 0:
        return np.zeros(0, dtype=np.uint64)
    blocks = np.uint64(counter) + np.arange(nblocks, dtype=np.uint64)
    u = np.zeros(nblocks * BLOCK_ELEMS, dtype=np.uint64)
    for stream in range(STREAMS):
        byte = block_bytes(blocks, stream, key, rounds).reshape(-1).astype(np.uint64)
        u |= byte << np.uint64(8 * (STREAMS - 1 - stream))
    return u[:n]


def keep_mask(mask_shape, p, key, counter, rounds=10):
    """Boolean keep mask over `mask_shape`, True where u(i) < t."""
    n = math.prod(mask_shape)
    u = uniforms(n, key, counter, rounds)
    return (u < np.uint64(threshold(p))).reshape(mask_shape)


def blocks_consumed(mask_shape):
    return -(-math.prod(mask_shape) // BLOCK_ELEMS)


def scale_for(p, mode):
    if mode == "standard":
        return 1.0
    return 0.0 if p >= 1.0 else 1.0 / (1.0 - p)


def compute_dtype(dtype):
    return np.float64 if np.dtype(dtype) == np.float64 else np.float32


def dropout(x, p, key, counter, rounds=10, mode="inverted", mask_shape=None):
    """y = x * (kept ? scale : 0) in float32 (float16/32 input) or float64,
    the mask drawn over `mask_shape` and broadcast to x."""
    x = np.asarray(x)
    mask_shape = x.shape if mask_shape is None else tuple(mask_shape)
    cdt = compute_dtype(x.dtype)
    keep = keep_mask(mask_shape, p, key, counter, rounds)
    values = np.where(keep, cdt(scale_for(p, mode)), cdt(0.0)).astype(cdt)
    with np.errstate(invalid="ignore", over="ignore"):
        return (x.astype(cdt) * values).astype(x.dtype)


# ---------------------------------------------------------------- comparison

def same_values(a, b):
    """Bitwise equality, except that any NaN matches any NaN (payloads of
    NaNs through float16 conversions are not part of the contract)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    if not np.array_equal(nan_a, nan_b):
        return False
    uint = np.dtype(f"u{a.dtype.itemsize}")
    bits_a = np.ascontiguousarray(a).view(uint)
    bits_b = np.ascontiguousarray(b).view(uint)
    return bool(np.array_equal(bits_a[~nan_a], bits_b[~nan_b]))


# ---------------------------------------------------------------- edge cases

SPECIAL_VALUES = (0.0, -0.0, 1.0, -2.5, np.inf, -np.inf, np.nan, 6.0e-8, 1e-40, 65504.0, 3.0e38)


def fill(shape, dtype, seed=0, special=True):
    """A C-contiguous array of `shape` with varied values, some special
    (signed zeros, infinities, NaN, subnormals, values near overflow)."""
    rng = np.random.default_rng(seed)
    n = math.prod(shape)
    values = rng.standard_normal(n) * 100.0
    if special and n:
        picks = rng.integers(0, len(SPECIAL_VALUES), size=max(1, n // 7))
        where = rng.integers(0, n, size=picks.size)
        values[where] = np.asarray(SPECIAL_VALUES)[picks]
    with np.errstate(over="ignore"):
        return values.astype(dtype).reshape(shape)


def _views(base):
    """Views of one buffer: contiguous, strided, negative strides, transposed."""
    yield "contiguous", base
    if base.ndim >= 1:
        yield "reversed", base[::-1]
        yield "step2", base[::2]
        yield "step-3", base[::-3]
    if base.ndim >= 2:
        yield "transposed", base.T
        yield "inner-step", base[:, ::2]
        yield "both-negative", base[::-1, ::-2]
        yield "swapped", np.swapaxes(base, 0, -1)[..., ::-1]


def edge_arrays(dtypes=FLOAT_DTYPES, seed=0):
    """(label, array) pairs in the spirit of bottleneck's tests/util.py:
    size 0, 0-d, 1-d lengths around the 16-element block and 128-element
    chunk boundaries, 2-d to 5-d, non-contiguous and negative-stride views,
    unaligned buffers, every float width."""
    shapes = [(), (0,), (1,), (2, 0, 3), (15,), (16,), (17,), (127,), (128,), (129,), (300,),
              (3, 5), (4, 33), (2, 3, 4), (2, 1, 3, 5), (1, 2, 3, 2, 3), (0, 4, 2)]
    for dtype, shape in itertools.product(dtypes, shapes):
        base = fill(shape, dtype, seed=seed + len(shape))
        for label, view in _views(base):
            yield f"{np.dtype(dtype).name}{shape}-{label}", view
    for dtype in dtypes:
        item = np.dtype(dtype).itemsize
        raw = np.zeros(200 * item + 1, dtype=np.uint8)
        unaligned = np.ndarray((200,), dtype=dtype, buffer=raw, offset=1)
        unaligned[...] = fill((200,), dtype, seed=seed)
        yield f"{np.dtype(dtype).name}-unaligned", unaligned

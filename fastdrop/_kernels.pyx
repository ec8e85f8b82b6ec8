# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled core of fastdrop: thin, typed entry points over src_c/.

Validation happens in the Python layer (fastdrop/_dropout.py and
fastdrop/_validation.py); everything here assumes arguments that were
already checked.  The kernels run without the GIL, split across OpenMP
threads above a size threshold.  The fast path reads the C-level state of
generators and handles (fastdrop/_state.pyx) without Python attribute
lookups.
"""
import os

import numpy as np
cimport numpy as cnp
cimport cython
from cython.parallel cimport prange
from libc.limits cimport INT_MAX
from libc.stdint cimport uint32_t, uint64_t, int64_t, uint16_t

cnp.import_array()

# Below this many elements a call stays on one thread: starting threads
# costs more than the work.
cdef int64_t MIN_ELEMS_PER_THREAD = 65536

BLOCK_ELEMS = FD_BLOCK_ELEMS
CHUNK_ELEMS = FD_CHUNK_ELEMS
MAX_NDIM = FD_MAX_NDIM
NORMALS_PER_BLOCK = FD_NORMALS_PER_BLOCK
MIN_ROUNDS = FD_PHILOX_MIN_ROUNDS
MAX_ROUNDS = FD_PHILOX_MAX_ROUNDS
DEFAULT_ROUNDS = FD_PHILOX_DEFAULT_ROUNDS
THRESHOLD_ONE = FD_THRESHOLD_ONE
STREAM_NORMAL = FD_STREAM_NORMAL
COUNTER_LIMIT = 1 << 64          # blocks in one generator's counter space
ISA_CODES = {"portable": FD_ISA_PORTABLE, "avx2": FD_ISA_AVX2, "avx512": FD_ISA_AVX512, "neon": FD_ISA_NEON}
BFLOAT16 = FD_BFLOAT16
# The dtypes the kernels compute on; ml_dtypes.bfloat16 joins the first time
# the Python layer meets one (fastdrop never imports ml_dtypes itself).
DTYPE_CODES = {np.dtype(np.float16): FD_FLOAT16, np.dtype(np.float32): FD_FLOAT32,
               np.dtype(np.float64): FD_FLOAT64}

# The C-level types of generators and handles (fastdrop/_state.pyx), named
# here too: the Python layer reaches them through this module.
from fastdrop._state import CounterStream, MaskHandle


cdef extern from *:
    """
    #ifdef _OPENMP
    #define FD_OPENMP 1
    #else
    #define FD_OPENMP 0
    #endif
    """
    int FD_OPENMP


# ---------------------------------------------------------------- the CPU

def isa_best():
    """Code of the best ISA path this CPU supports (see ISA_CODES)."""
    return fd_isa_best()


def isa_supported(int isa):
    return bool(fd_isa_supported(isa))


def openmp_enabled():
    """True if the extension was built with OpenMP."""
    return bool(FD_OPENMP)


def threshold_for(double p):
    """The 32-bit keep threshold round((1 - p) * 2**32) of src_c/fd_mask.h."""
    return fd_threshold_for(p)


def inverted_scale(double p):
    """1 / (1 - p), or 0 for p = 1: the factor of kept elements."""
    return fd_inverted_scale(p)


# ---------------------------------------------------------------- kernels

def philox4x32(const uint32_t[:, ::1] counters, uint32_t k0, uint32_t k1, int rounds):
    """Raw block function over rows of a (n, 4) uint32 array."""
    cdef Py_ssize_t n = counters.shape[0], i
    out = np.empty((n, 4), dtype=np.uint32)
    cdef uint32_t[:, ::1] o = out
    cdef fd_ctr4 c, r
    cdef fd_key2 key
    key.v[0] = k0
    key.v[1] = k1
    with nogil:
        for i in range(n):
            c.v[0] = counters[i, 0]
            c.v[1] = counters[i, 1]
            c.v[2] = counters[i, 2]
            c.v[3] = counters[i, 3]
            r = fd_philox4x32(c, key, rounds)
            o[i, 0] = r.v[0]
            o[i, 1] = r.v[1]
            o[i, 2] = r.v[2]
            o[i, 3] = r.v[3]
    return out


cdef inline fd_mask_params _params(uint32_t k0, uint32_t k1, uint64_t counter, int rounds,
                                   uint64_t threshold) noexcept:
    cdef fd_mask_params mp
    mp.key.v[0] = k0
    mp.key.v[1] = k1
    mp.counter = counter
    mp.rounds = rounds
    mp.threshold = threshold
    return mp


cdef int _dtype_code(cnp.ndarray a) except -1:
    cdef int num = cnp.PyArray_TYPE(a)
    if num == cnp.NPY_FLOAT32:
        return FD_FLOAT32
    if num == cnp.NPY_FLOAT64:
        return FD_FLOAT64
    if num == cnp.NPY_FLOAT16:
        return FD_FLOAT16
    code = DTYPE_CODES.get(a.dtype)
    if code is None:
        raise TypeError("unsupported dtype %s" % a.dtype)
    return code


# GNU OpenMP's thread pool does not survive fork(): in a child, the first
# parallel region waits forever for threads that are gone.  So the kernels
# note when they first split a call, and a child forked after that keeps to
# one thread (every thread count gives the same bits).
cdef int _threads_started = 0
cdef int _thread_limit = INT_MAX


def _after_fork_in_child():
    global _thread_limit
    if _threads_started:
        _thread_limit = 1


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def thread_limit():
    """The most threads a kernel call may use in this process: 1 in a child
    forked after the kernels had split a call, else INT_MAX."""
    return _thread_limit


cdef int _threads_for(int64_t n, int nthreads) noexcept nogil:
    """Threads for a call of n elements: every call that splits (and so may
    start OpenMP's threads) chooses its count here."""
    global _threads_started
    cdef int64_t most = n // MIN_ELEMS_PER_THREAD
    if most > nthreads:
        most = nthreads
    if most > _thread_limit:
        most = _thread_limit
    if most <= 1:
        return 1
    _threads_started = 1
    return <int>most


cdef int64_t _ONE = 1    # the logical stride of a single run


cdef void _apply_run_threaded(int dtype, const char *x, char *y, int64_t n, int64_t xs, int64_t ys,
                              uint64_t first, const fd_mask_params *mp, double scale, int isa,
                              int nt) noexcept nogil:
    """One run of consecutive logical indices, split into chunk-sized pieces
    across nt threads (the split never changes a bit of the result)."""
    cdef int64_t piece, start, count
    cdef int t
    if nt <= 1:
        fd_apply_view(dtype, x, y, 1, &n, &xs, &ys, &_ONE, first, mp, scale, isa)
        return
    piece = (n + nt - 1) // nt
    piece = (piece + FD_CHUNK_ELEMS - 1) // FD_CHUNK_ELEMS * FD_CHUNK_ELEMS
    for t in prange(nt, num_threads=nt, schedule="static"):
        start = t * piece
        if start < n:
            count = piece if n - start > piece else n - start
            fd_apply_view(dtype, x + start * xs, y + start * ys, 1, &count, &xs, &ys, &_ONE,
                          first + <uint64_t>start, mp, scale, isa)


cdef int _collapse(int ndim, int64_t *shape, int64_t *xs, int64_t *ys, int64_t *ls,
                   int64_t itemsize) noexcept nogil:
    """Drop axes of length 1 and merge neighbours whose memory and logical
    strides both chain, in place; the last axis keeps logical stride 1.
    Returns the new number of axes (>= 1)."""
    cdef int d, k = 0
    for d in range(ndim):
        if shape[d] == 1:
            continue
        if k > 0 and (xs[k - 1] == xs[d] * shape[d] and ys[k - 1] == ys[d] * shape[d]
                      and ls[k - 1] == ls[d] * shape[d]):
            shape[k - 1] *= shape[d]
            xs[k - 1], ys[k - 1], ls[k - 1] = xs[d], ys[d], ls[d]
            continue
        shape[k], xs[k], ys[k], ls[k] = shape[d], xs[d], ys[d], ls[d]
        k += 1
    if k == 0 or ls[k - 1] != 1:
        shape[k], xs[k], ys[k], ls[k] = 1, itemsize, itemsize, 1
        k += 1
    return k


cdef int _apply_array(cnp.ndarray x, cnp.ndarray y, const fd_mask_params *mp, double scale,
                      const int64_t *lstrides, uint64_t first, int isa, int nthreads) except -1:
    """y = x * (kept ? scale : 0), element (i_0, ...) of x having the logical
    index first + sum i_d * lstrides[d] (in elements).  x and y: same shape
    and dtype, y is x or does not overlap it."""
    cdef int dtype = _dtype_code(x)
    cdef int ndim = cnp.PyArray_NDIM(x), d, t, nt
    cdef int64_t n = cnp.PyArray_SIZE(x)
    cdef int64_t itemsize = cnp.PyArray_ITEMSIZE(x)
    cdef int64_t shape[FD_MAX_NDIM + 1]
    cdef int64_t xs[FD_MAX_NDIM + 1]
    cdef int64_t ys[FD_MAX_NDIM + 1]
    cdef int64_t ls[FD_MAX_NDIM + 1]
    cdef const char *xp = <const char *>cnp.PyArray_DATA(x)
    cdef char *yp = <char *>cnp.PyArray_DATA(y)
    cdef int64_t piece, lo, rows
    if n == 0:
        return 0
    for d in range(ndim):
        shape[d] = cnp.PyArray_DIM(x, d)
        xs[d] = cnp.PyArray_STRIDE(x, d)
        ys[d] = cnp.PyArray_STRIDE(y, d)
        ls[d] = lstrides[d]
    with nogil:
        ndim = _collapse(ndim, shape, xs, ys, ls, itemsize)
        nt = _threads_for(n, nthreads)
        if ndim == 1:
            _apply_run_threaded(dtype, xp, yp, shape[0], xs[0], ys[0], first, mp, scale, isa, nt)
        elif nt <= 1 or shape[0] < 2:
            fd_apply_view(dtype, xp, yp, ndim, shape, xs, ys, ls, first, mp, scale, isa)
        else:
            # split the outer axis: each thread takes a band of it
            if nt > shape[0]:
                nt = <int>shape[0]
            piece = (shape[0] + nt - 1) // nt
            for t in prange(nt, num_threads=nt, schedule="static"):
                lo = t * piece
                if lo < shape[0]:
                    rows = piece if shape[0] - lo > piece else shape[0] - lo
                    _apply_band(dtype, xp + lo * xs[0], yp + lo * ys[0], ndim, rows, shape, xs, ys, ls,
                                first + <uint64_t>(lo * ls[0]), mp, scale, isa)
    return 0


cdef void _apply_band(int dtype, const char *x, char *y, int ndim, int64_t rows, const int64_t *shape,
                      const int64_t *xs, const int64_t *ys, const int64_t *ls, uint64_t first,
                      const fd_mask_params *mp, double scale, int isa) noexcept nogil:
    cdef int64_t band[FD_MAX_NDIM + 1]
    cdef int d
    band[0] = rows
    for d in range(1, ndim):
        band[d] = shape[d]
    fd_apply_view(dtype, x, y, ndim, band, xs, ys, ls, first, mp, scale, isa)


cdef int _c_strides(int ndim, const cnp.npy_intp *shape, int64_t *out) noexcept nogil:
    cdef int64_t step = 1
    cdef int d
    for d in range(ndim - 1, -1, -1):
        out[d] = step
        step *= shape[d]
    return 0


def apply(cnp.ndarray x, cnp.ndarray y, uint32_t k0, uint32_t k1, uint64_t counter, int rounds,
          uint64_t threshold, double scale, int isa, int nthreads):
    """y = x * (kept ? scale : 0), element by element in C order.

    x and y have the same shape and dtype; y may be x itself (in place) or
    any view that does not partly overlap x.
    """
    cdef fd_mask_params mp = _params(k0, k1, counter, rounds, threshold)
    cdef int64_t ls[FD_MAX_NDIM]
    _c_strides(cnp.PyArray_NDIM(x), cnp.PyArray_DIMS(x), ls)
    _apply_array(x, y, &mp, scale, ls, 0, isa, nthreads)


def apply_handle(_state.MaskHandle h, cnp.ndarray x, cnp.ndarray y, double scale, tuple lstrides, object first,
                 int isa, int nthreads):
    """y = x * (kept ? scale : 0) with the mask of handle `h`; element
    (i_0, ...) of x has logical index first + sum i_d * lstrides[d] in
    h's mask (lstrides None: C order over x's shape, first 0)."""
    cdef int64_t ls[FD_MAX_NDIM]
    cdef int d, ndim = cnp.PyArray_NDIM(x)
    if lstrides is None:
        _c_strides(ndim, cnp.PyArray_DIMS(x), ls)
        first = 0
    else:
        for d in range(ndim):
            ls[d] = lstrides[d]
    _apply_array(x, y, &h.params, scale, ls, <uint64_t>first, isa, nthreads)


def apply_contiguous(_state.MaskHandle h, size_t x, size_t y, int64_t n, int dtype, double scale, int isa,
                     int nthreads):
    """y = x * (kept ? scale : 0) over n contiguous elements of kernel dtype
    code `dtype` at addresses x and y (y == x or no overlap), element i
    having logical index i in h's mask: for callers that hold the memory
    (fastdrop.torch's tensors) and have checked all of it."""
    cdef int64_t item = fd_itemsize(dtype)
    if n <= 0:
        return
    with nogil:
        _apply_run_threaded(dtype, <const char *>x, <char *>y, n, item, item, 0, &h.params, scale, isa,
                            _threads_for(n, nthreads))


def keep_mask(cnp.ndarray out, uint32_t k0, uint32_t k1, uint64_t counter, int rounds,
              uint64_t threshold, int isa, uint64_t first=0):
    """Fill a C-contiguous uint8/bool array with 1 (kept) and 0 (dropped)."""
    cdef fd_mask_params mp = _params(k0, k1, counter, rounds, threshold)
    cdef unsigned char *p = <unsigned char *>cnp.PyArray_DATA(out)
    cdef int64_t n = out.size
    with nogil:
        fd_keep_range(p, n, first, &mp, isa)


def keep_elements(const uint64_t[::1] index, uint32_t k0, uint32_t k1, uint64_t counter, int rounds,
                  uint64_t threshold):
    """Scalar reference decisions for selected logical indices (for tests)."""
    cdef fd_mask_params mp = _params(k0, k1, counter, rounds, threshold)
    cdef Py_ssize_t n = index.shape[0], i
    out = np.empty(n, dtype=np.bool_)
    cdef unsigned char[::1] o = out.view(np.uint8)
    with nogil:
        for i in range(n):
            o[i] = fd_keep_element(&mp, index[i])
    return out


def normal(double[::1] out, uint32_t k0, uint32_t k1, uint64_t counter, int rounds, uint64_t first=0):
    """Standard normal deviates of logical elements first .. first+len(out)-1."""
    cdef fd_key2 key
    key.v[0] = k0
    key.v[1] = k1
    with nogil:
        fd_normal_range(&out[0] if out.shape[0] else NULL, out.shape[0], first, key, counter, rounds)


def half_to_float(const uint16_t[::1] h):
    out = np.empty(h.shape[0], dtype=np.float32)
    cdef float[::1] o = out
    cdef Py_ssize_t i
    for i in range(h.shape[0]):
        o[i] = fd_half_to_float(h[i])
    return out


def float_to_half(const float[::1] f):
    out = np.empty(f.shape[0], dtype=np.uint16)
    cdef uint16_t[::1] o = out
    cdef Py_ssize_t i
    for i in range(f.shape[0]):
        o[i] = fd_float_to_half(f[i])
    return out


# ---------------------------------------------------------------- fast path
#
# dropout() and dropout_backward() hand their most common calls here first:
# an exact numpy.ndarray of float16/32/64, C-contiguous and aligned, a
# Python float p in [0, 1], training, 'inverted', no out= and no
# mask_shape.  Everything else, and every call that would raise, returns
# NotImplemented untouched (nothing reserved, nothing written), so the full
# Python path gives the same results and the same errors.  Reservation,
# threshold, scale and handle fields come from the same functions the full
# path uses.

cdef object _handle_type = None


def set_handle_type(cls):
    """The MaskHandle subclass the fast path returns (fastdrop.DropoutHandle)."""
    global _handle_type
    if not (isinstance(cls, type) and issubclass(cls, _state.MaskHandle)):
        raise TypeError("cls must be a subclass of MaskHandle")
    _handle_type = cls


cdef inline bint _fast_array(object x, bint writeable):
    if type(x) is not np.ndarray:
        return False
    cdef cnp.ndarray a = <cnp.ndarray>x
    cdef int num = cnp.PyArray_TYPE(a)
    if num != cnp.NPY_FLOAT32 and num != cnp.NPY_FLOAT64 and num != cnp.NPY_FLOAT16:
        return False
    if not (cnp.PyArray_IS_C_CONTIGUOUS(a) and cnp.PyArray_ISALIGNED(a) and cnp.PyArray_ISNOTSWAPPED(a)) \
            or cnp.PyArray_SIZE(a) == 0:
        return False
    return not writeable or cnp.PyArray_ISWRITEABLE(a)


cdef inline cnp.ndarray _fast_destination(cnp.ndarray x, bint inplace):
    if inplace:
        return x
    return cnp.PyArray_EMPTY(cnp.PyArray_NDIM(x), cnp.PyArray_DIMS(x), cnp.PyArray_TYPE(x), 0)


cdef inline int _fast_apply(cnp.ndarray x, cnp.ndarray y, const fd_mask_params *mp, double scale,
                            tuple config) except -1:
    cdef int64_t n = cnp.PyArray_SIZE(x)
    cdef int isa = config[0], nthreads = config[1]
    cdef int64_t size = cnp.PyArray_ITEMSIZE(x)
    with nogil:
        _apply_run_threaded(_dtype_code_nogil(cnp.PyArray_TYPE(x)), <const char *>cnp.PyArray_DATA(x),
                            <char *>cnp.PyArray_DATA(y), n, size, size, 0, mp, scale, isa,
                            _threads_for(n, nthreads))
    return 0


cdef inline int _dtype_code_nogil(int num) noexcept nogil:
    if num == cnp.NPY_FLOAT32:
        return FD_FLOAT32
    if num == cnp.NPY_FLOAT64:
        return FD_FLOAT64
    return FD_FLOAT16


def fast_dropout(x, p, training, mode, inplace, out, mask_shape, generator, return_handle, tuple config):
    """dropout() for the common case, or NotImplemented (see above).
    `generator` is resolved (None stands for no generator of ours);
    `config` is (isa code, threads)."""
    if (type(p) is not float or not isinstance(generator, _state.CounterStream) or training is not True
            or out is not None or mask_shape is not None
            or not (inplace is True or inplace is False)
            or not (return_handle is True or return_handle is False) or mode != "inverted"):
        return NotImplemented
    cdef double pd = p
    if not (0.0 <= pd <= 1.0) or not _fast_array(x, inplace):
        return NotImplemented
    cdef cnp.ndarray xa = <cnp.ndarray>x
    cdef int64_t n = cnp.PyArray_SIZE(xa)
    cdef uint64_t start = 0
    cdef _state.CounterStream stream = <_state.CounterStream>generator
    cdef cnp.ndarray y = _fast_destination(xa, inplace)   # before the counter moves
    if stream.reserve_c(<uint64_t>((n + FD_BLOCK_ELEMS - 1) // FD_BLOCK_ELEMS), &start) != 0:
        return NotImplemented     # the full path raises CounterExhaustedError
    cdef fd_mask_params mp
    mp.key = stream._key
    mp.counter = start
    mp.rounds = stream._rounds
    mp.threshold = fd_threshold_for(pd)
    _fast_apply(xa, y, &mp, fd_inverted_scale(pd), config)
    if not return_handle:
        return y
    cdef _state.MaskHandle h = _handle_type.__new__(_handle_type)
    shape = x.shape
    h.set_fields((mp.key.v[0], mp.key.v[1]), start, mp.rounds, pd, shape, shape, "inverted", True)
    return y, h


def fast_backward(dy, handle, inplace, out, tuple config):
    """dropout_backward() for the common case, or NotImplemented."""
    if (out is not None or not isinstance(handle, _state.MaskHandle) or not (inplace is True or inplace is False)
            or not _fast_array(dy, inplace)):
        return NotImplemented
    cdef _state.MaskHandle h = <_state.MaskHandle>handle
    if not h.training or not h.elementwise or h.mode != "inverted" or dy.shape != h.shape:
        return NotImplemented
    cdef cnp.ndarray da = <cnp.ndarray>dy
    cdef cnp.ndarray y = _fast_destination(da, inplace)
    _fast_apply(da, y, &h.params, h.train_scale, config)
    return y

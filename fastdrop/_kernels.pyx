# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled core of fastdrop: thin, typed entry points over src_c/.

Validation happens in the Python layer (fastdrop/_dropout.py); everything here
assumes arguments that were already checked.  The kernels run without the
GIL, split across OpenMP threads above a size threshold.
"""
import numpy as np
cimport numpy as cnp
from cython.parallel cimport prange
from libc.stdint cimport uint32_t, uint64_t, int64_t, uint16_t
from libc.math cimport nearbyint

cnp.import_array()

# Below this many elements a call stays on one thread: starting threads
# costs more than the work.
cdef int64_t MIN_ELEMS_PER_THREAD = 65536

cdef int _dtype_code(cnp.ndarray a) except -1:
    cdef int num = cnp.PyArray_TYPE(a)
    if num == cnp.NPY_FLOAT32:
        return FD_FLOAT32
    if num == cnp.NPY_FLOAT64:
        return FD_FLOAT64
    if num == cnp.NPY_FLOAT16:
        return FD_FLOAT16
    raise TypeError("unsupported dtype %s" % a.dtype)


cdef fd_mask_params _params(uint32_t k0, uint32_t k1, uint64_t counter, int rounds, uint64_t threshold):
    cdef fd_mask_params mp
    mp.key.v[0] = k0
    mp.key.v[1] = k1
    mp.counter = counter
    mp.rounds = rounds
    mp.threshold = threshold
    return mp


cdef extern from *:
    """
    #ifdef _OPENMP
    #define FD_OPENMP 1
    #else
    #define FD_OPENMP 0
    #endif
    """
    int FD_OPENMP


def isa_best():
    """Code of the best ISA path this CPU supports (0 portable, 1 AVX2, 2 AVX-512)."""
    return fd_isa_best()


def isa_supported(int isa):
    return bool(fd_isa_supported(isa))


def openmp_enabled():
    """True if the extension was built with OpenMP."""
    return bool(FD_OPENMP)





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


cdef int _threads_for(int64_t n, int nthreads) nogil:
    cdef int64_t most = n // MIN_ELEMS_PER_THREAD
    if most < 1:
        return 1
    if most < nthreads:
        return <int>most
    return nthreads


cdef int _apply_contiguous(cnp.ndarray x, cnp.ndarray y, uint32_t k0, uint32_t k1, uint64_t counter, int rounds,
                           uint64_t threshold, double scale, int isa, int nthreads) except -1:
    cdef fd_mask_params mp = _params(k0, k1, counter, rounds, threshold)
    cdef int dtype = _dtype_code(x)
    cdef int64_t n = cnp.PyArray_SIZE(x)
    cdef const char *xp = <const char *>cnp.PyArray_DATA(x)
    cdef char *yp = <char *>cnp.PyArray_DATA(y)
    cdef int64_t itemsize = cnp.PyArray_ITEMSIZE(x)
    cdef int64_t piece, start, count
    cdef int t
    cdef int nt = _threads_for(n, nthreads)
    if n == 0:
        return 0
    with nogil:
        if nt <= 1:
            fd_apply_contiguous(dtype, xp, yp, n, 0, &mp, scale, isa)
        else:
            piece = (n + nt - 1) // nt
            piece = (piece + FD_CHUNK_ELEMS - 1) // FD_CHUNK_ELEMS * FD_CHUNK_ELEMS
            for t in prange(nt, num_threads=nt, schedule="static"):
                start = t * piece
                if start < n:
                    count = piece if n - start > piece else n - start
                    fd_apply_contiguous(dtype, xp + start * itemsize, yp + start * itemsize,
                                        count, <uint64_t>start, &mp, scale, isa)
    return 0


def apply(cnp.ndarray x, cnp.ndarray y, uint32_t k0, uint32_t k1, uint64_t counter, int rounds,
          uint64_t threshold, double scale, int isa, int nthreads):
    """y = x * (kept ? scale : 0), element by element in C order.

    x and y have the same shape and dtype; y may be x itself (in place) or
    any view that does not partly overlap x.
    """
    cdef fd_mask_params mp = _params(k0, k1, counter, rounds, threshold)
    cdef int dtype = _dtype_code(x)
    cdef int64_t n = x.size
    cdef const char *xp = <const char *>cnp.PyArray_DATA(x)
    cdef char *yp = <char *>cnp.PyArray_DATA(y)
    cdef int t
    cdef int ndim = x.ndim
    cdef int64_t shape[64]
    cdef int64_t xstrides[64]
    cdef int64_t ystrides[64]
    if n == 0:
        return
    # typed SIMD loads need aligned elements; unaligned buffers take the
    # strided path, which copies each element with memcpy
    if (cnp.PyArray_IS_C_CONTIGUOUS(x) and cnp.PyArray_IS_C_CONTIGUOUS(y)
            and cnp.PyArray_ISALIGNED(x) and cnp.PyArray_ISALIGNED(y)):
        _apply_contiguous(x, y, k0, k1, counter, rounds, threshold, scale, isa, nthreads)
        return
    if ndim == 0:
        ndim = 1
        shape[0] = 1
        xstrides[0] = 0
        ystrides[0] = 0
    else:
        for t in range(ndim):
            shape[t] = x.shape[t]
            xstrides[t] = x.strides[t]
            ystrides[t] = y.strides[t]
    with nogil:
        fd_apply_strided(dtype, xp, yp, ndim, shape, xstrides, ystrides, &mp, scale, isa)


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
# Python path gives the same results and the same errors.

cdef object _Generator = None
cdef object _Handle = None
cdef object _default_generator = None
cdef object _object_new = object.__new__
cdef object _COUNTER_LIMIT = 1 << 64
cdef double _TWO32 = 4294967296.0


def _init_fast(generator_type, handle_type, default_generator):
    """Called once by fastdrop._dropout: the classes the fast path builds on."""
    global _Generator, _Handle, _default_generator
    _Generator = generator_type
    _Handle = handle_type
    _default_generator = default_generator


cdef inline bint _fast_array(cnp.ndarray x, bint writeable):
    cdef int num = cnp.PyArray_TYPE(x)
    if num != cnp.NPY_FLOAT32 and num != cnp.NPY_FLOAT64 and num != cnp.NPY_FLOAT16:
        return False
    if not (cnp.PyArray_IS_C_CONTIGUOUS(x) and cnp.PyArray_ISALIGNED(x)):
        return False
    return not writeable or cnp.PyArray_ISWRITEABLE(x)


cdef inline cnp.ndarray _fast_destination(cnp.ndarray x, bint inplace):
    if inplace:
        return x
    return cnp.PyArray_EMPTY(cnp.PyArray_NDIM(x), cnp.PyArray_DIMS(x), cnp.PyArray_TYPE(x), 0)


cdef int _fast_apply(cnp.ndarray x, cnp.ndarray y, key, uint64_t counter, int rounds, double p, int isa,
                     int nthreads) except -1:
    """y = x * mask for drop probability p: the threshold and scale of
    threshold_for() and DropoutHandle.scale, computed in C."""
    cdef uint64_t threshold = <uint64_t>nearbyint((1.0 - p) * _TWO32)
    cdef double scale = 0.0 if p >= 1.0 else 1.0 / (1.0 - p)
    return _apply_contiguous(x, y, key[0], key[1], counter, rounds, threshold, scale, isa, nthreads)


def fast_dropout(x, p, training, mode, inplace, out, mask_shape, generator, return_handle, int isa,
                 int nthreads):
    """dropout() for the common case, or NotImplemented (see above)."""
    if (type(x) is not np.ndarray or type(p) is not float or training is not True or out is not None
            or mask_shape is not None or not (inplace is True or inplace is False)
            or not (return_handle is True or return_handle is False) or mode != "inverted"):
        return NotImplemented
    cdef double pd = p
    if not (0.0 <= pd <= 1.0):
        return NotImplemented
    cdef cnp.ndarray xa = <cnp.ndarray>x
    if not _fast_array(xa, inplace):
        return NotImplemented
    if generator is None:
        generator = _default_generator()
    elif type(generator) is not _Generator:
        return NotImplemented
    cdef int64_t n = cnp.PyArray_SIZE(xa)
    if n == 0:
        return NotImplemented
    cdef object blocks = (n + 15) // 16
    # reservation: atomic under the GIL (no Python code runs in between);
    # Generator.reserve goes through reserve_blocks below for the same reason
    start = generator._counter
    if start + blocks > _COUNTER_LIMIT:
        return NotImplemented
    key = generator._key
    cdef int rounds = generator._rounds
    cdef cnp.ndarray y = _fast_destination(xa, inplace)   # before the counter moves
    generator._counter = start + blocks
    _fast_apply(xa, y, key, start, rounds, pd, isa, nthreads)
    if not return_handle:
        return y
    shape = x.shape
    h = _object_new(_Handle)
    h.__dict__.update(key=key, counter=start, rounds=rounds, p=pd, shape=shape, mask_shape=shape,
                      mode="inverted", training=True)
    return y, h


def fast_backward(dy, handle, inplace, out, int isa, int nthreads):
    """dropout_backward() for the common case, or NotImplemented."""
    if (type(dy) is not np.ndarray or type(handle) is not _Handle or out is not None
            or not (inplace is True or inplace is False)):
        return NotImplemented
    d = handle.__dict__
    if d["training"] is not True or d["mode"] != "inverted":
        return NotImplemented
    cdef cnp.ndarray da = <cnp.ndarray>dy
    shape = dy.shape
    if (d["shape"] != shape or d["mask_shape"] != shape or not _fast_array(da, inplace)
            or cnp.PyArray_SIZE(da) == 0):
        return NotImplemented
    p = d["p"]
    if type(p) is not float:
        return NotImplemented
    cdef cnp.ndarray y = _fast_destination(da, inplace)
    _fast_apply(da, y, d["key"], d["counter"], d["rounds"], p, isa, nthreads)
    return y


def reserve_blocks(generator, blocks):
    """Generator.reserve's update of the counter, atomic under the GIL.

    Returns the first block, or None when the reservation would pass 2**64.
    """
    start = generator._counter
    if start + blocks > _COUNTER_LIMIT:
        return None
    generator._counter = start + blocks
    return start

# cython: language_level=3
"""C declarations of fastdrop's kernels (src_c/) and of its two C-level
types, for other Cython modules.

``from fastdrop._kernels cimport fd_mask_params, fd_apply_contiguous`` gives
the same kernels fastdrop uses (add ``fastdrop.get_include()`` to the
extension's include directories); ``from fastdrop._kernels cimport
CounterStream`` reserves counter blocks of a :class:`fastdrop.Generator`
without the GIL.
"""
cimport cython
from libc.stdint cimport uint32_t, uint64_t, int64_t, uint16_t

cdef extern from "fd_kernels.h" nogil:
    ctypedef struct fd_ctr4:
        uint32_t v[4]
    ctypedef struct fd_key2:
        uint32_t v[2]
    ctypedef struct fd_mask_params:
        fd_key2 key
        uint64_t counter
        int rounds
        uint64_t threshold

    enum: FD_ISA_PORTABLE
    enum: FD_ISA_AVX2
    enum: FD_ISA_AVX512
    enum: FD_ISA_NEON
    enum: FD_FLOAT16
    enum: FD_FLOAT32
    enum: FD_FLOAT64
    enum: FD_BFLOAT16
    enum: FD_BLOCK_ELEMS
    enum: FD_CHUNK_ELEMS
    enum: FD_MAX_NDIM
    enum: FD_NORMALS_PER_BLOCK
    enum: FD_PHILOX_MIN_ROUNDS
    enum: FD_PHILOX_MAX_ROUNDS
    enum: FD_PHILOX_DEFAULT_ROUNDS
    uint64_t FD_THRESHOLD_ONE
    uint32_t FD_STREAM_NORMAL

    fd_ctr4 fd_philox4x32(fd_ctr4 ctr, fd_key2 key, int rounds)
    int fd_isa_best()
    int fd_isa_supported(int isa)
    uint64_t fd_threshold_for(double p)
    double fd_inverted_scale(double p)
    int fd_keep_element(const fd_mask_params *mp, uint64_t i)
    void fd_keep_range(unsigned char *keep, int64_t n, uint64_t first,
                       const fd_mask_params *mp, int isa)
    void fd_apply_contiguous(int dtype, const char *x, char *y, int64_t n, uint64_t first,
                             const fd_mask_params *mp, double scale, int isa)
    void fd_apply_view(int dtype, const char *x, char *y, int ndim, const int64_t *shape,
                       const int64_t *xstrides, const int64_t *ystrides, const int64_t *lstrides,
                       uint64_t first, const fd_mask_params *mp, double scale, int isa)
    void fd_apply_strided(int dtype, const char *x, char *y, int ndim, const int64_t *shape,
                          const int64_t *xstrides, const int64_t *ystrides,
                          const fd_mask_params *mp, double scale, int isa)
    void fd_normal_range(double *z, int64_t n, uint64_t first, fd_key2 key, uint64_t counter,
                         int rounds)
    float fd_half_to_float(uint16_t h)
    uint16_t fd_float_to_half(float f)


cdef class CounterStream:
    """Key, rounds and next counter block of a Philox stream; the base of
    :class:`fastdrop.Generator`.  Reservations hold its lock, never the GIL."""
    cdef fd_key2 _key
    cdef int _rounds
    cdef uint64_t _next       # the next unused block, when not _at_end
    cdef bint _at_end         # every block up to 2**64 is used
    cdef cython.pymutex _lock

    cdef int reserve_c(self, uint64_t blocks, uint64_t *start) noexcept nogil


cdef class MaskHandle:
    """The fields of a :class:`fastdrop.DropoutHandle`, set once."""
    cdef readonly tuple key
    cdef readonly object counter
    cdef readonly int rounds
    cdef readonly double p
    cdef readonly tuple shape
    cdef readonly tuple mask_shape
    cdef readonly str mode
    cdef readonly bint training
    cdef fd_mask_params params
    cdef double train_scale    # factor of kept elements in training
    cdef bint elementwise      # mask_shape == shape
    cdef bint ready

    cdef int set_fields(self, tuple key, object counter, int rounds, double p, tuple shape,
                        tuple mask_shape, str mode, bint training) except -1

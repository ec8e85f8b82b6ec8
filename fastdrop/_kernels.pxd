# cython: language_level=3
"""C declarations of fastdrop's kernels (src_c/) and of its two C-level
types, for other Cython modules.

``from fastdrop._kernels cimport fd_mask_params, fd_apply_contiguous`` gives
the same kernels fastdrop uses (add ``fastdrop.get_include()`` to the
extension's include directories); ``from fastdrop._kernels cimport
CounterStream`` (declared in fastdrop/_state.pxd) reserves counter blocks of
a :class:`fastdrop.Generator` without the GIL.
"""
from libc.stdint cimport uint32_t, uint64_t, int64_t, uint16_t

from fastdrop cimport _state
from fastdrop._state cimport fd_ctr4, fd_inverted_scale, fd_key2, fd_mask_params, fd_threshold_for

cdef extern from "fd_kernels.h" nogil:

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
    int64_t fd_itemsize(int dtype)
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


# cython: language_level=3
"""C-level state of fastdrop's generators and dropout handles, and the C types
they hold (from src_c/), for other Cython modules."""
cimport cython
from libc.stdint cimport uint32_t, uint64_t

cdef extern from "fd_mask.h" nogil:
    ctypedef struct fd_ctr4:
        uint32_t v[4]
    ctypedef struct fd_key2:
        uint32_t v[2]
    ctypedef struct fd_mask_params:
        fd_key2 key
        uint64_t counter
        int rounds
        uint64_t threshold

    uint64_t FD_THRESHOLD_ONE
    uint64_t fd_threshold_for(double p)
    double fd_inverted_scale(double p)


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

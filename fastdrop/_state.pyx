# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The C-level state of generators and dropout handles.

A generator's counter is reserved by one function holding the generator's
own lock (never the GIL), from Python or from compiled code; a handle's
fields are set once, by one initializer that the Python constructor and the
compiled fast path share, so a field cannot go missing on either path.
"""
from libc.stdint cimport uint32_t, uint64_t

COUNTER_LIMIT = 1 << 64          # blocks in one generator's counter space
cdef object _COUNTER_LIMIT = COUNTER_LIMIT


# ---------------------------------------------------------------- counter state

cdef class CounterStream:
    """Key, rounds and next counter block of a Philox stream.

    Every reservation, from Python (:meth:`reserve`) or from compiled code
    (``reserve_c``, without the GIL), goes through one function holding
    this object's lock, so concurrent callers always get disjoint ranges,
    with or without a GIL.
    """

    cdef int reserve_c(self, uint64_t blocks, uint64_t *start) noexcept nogil:
        """Take `blocks` blocks; 0 and the first in *start, or -1 (nothing
        taken) when they would pass 2**64.  1 means the range starts at
        exactly 2**64 (only for blocks == 0)."""
        cdef int status = 0
        with self._lock:
            if self._at_end:
                status = 1 if blocks == 0 else -1
            elif blocks > 0 and blocks - 1 > <uint64_t>0xFFFFFFFFFFFFFFFF - self._next:
                status = -1
            else:
                start[0] = self._next
                self._next += blocks          # wraps to 0 exactly at 2**64
                if blocks > 0 and self._next == 0:
                    self._at_end = True
        return status

    def _reserve(self, uint64_t blocks):
        """The first block of `blocks` reserved ones, or None when they do not fit."""
        cdef uint64_t start = 0
        cdef int status = self.reserve_c(blocks, &start)
        if status < 0:
            return None
        return _COUNTER_LIMIT if status == 1 else start

    def _set_stream(self, uint32_t k0, uint32_t k1, int rounds, object counter):
        """Replace key, rounds and counter (0 <= counter <= 2**64) at once."""
        cdef bint at_end = counter == _COUNTER_LIMIT
        cdef uint64_t next_block = 0 if at_end else <uint64_t>counter
        with self._lock:
            self._key.v[0] = k0
            self._key.v[1] = k1
            self._rounds = rounds
            self._next = next_block
            self._at_end = at_end

    def _stream(self):
        """(k0, k1, rounds, counter), read at once."""
        cdef uint32_t k0, k1
        cdef int rounds
        cdef uint64_t next_block
        cdef bint at_end
        with self._lock:
            k0, k1, rounds = self._key.v[0], self._key.v[1], self._rounds
            next_block, at_end = self._next, self._at_end
        return k0, k1, rounds, (_COUNTER_LIMIT if at_end else next_block)

    @property
    def key(self):
        """The two 32-bit Philox key words."""
        return (self._key.v[0], self._key.v[1])

    @property
    def counter(self):
        """The next unused counter block (2**64 once every block is used)."""
        return self._stream()[3]

    @property
    def rounds(self):
        """Philox rounds, 7 to 16."""
        return self._rounds


# ---------------------------------------------------------------- handle fields

cdef class MaskHandle:
    """The fields of a dropout handle: set once by :meth:`set_fields`, the
    single initializer that the Python constructor and the fast path share,
    then read-only."""

    cdef int set_fields(self, tuple key, object counter, int rounds, double p, tuple shape,
                        tuple mask_shape, str mode, bint training) except -1:
        if self.ready:
            raise AttributeError("a DropoutHandle is immutable")
        self.key, self.counter, self.rounds, self.p = key, counter, rounds, p
        self.shape, self.mask_shape, self.mode, self.training = shape, mask_shape, mode, training
        self.params.key.v[0] = key[0]
        self.params.key.v[1] = key[1]
        # a handle at exactly 2**64 covers no block: nothing ever reads it
        self.params.counter = 0 if counter == _COUNTER_LIMIT else <uint64_t>counter
        self.params.rounds = rounds
        self.params.threshold = fd_threshold_for(p)
        self.train_scale = 1.0 if mode == "standard" else fd_inverted_scale(p)
        self.elementwise = mask_shape == shape
        self.ready = True
        return 0

    def _set_fields(self, key, counter, rounds, p, shape, mask_shape, mode, training):
        self.set_fields(key, counter, rounds, p, shape, mask_shape, mode, training)

    @property
    def threshold(self):
        """The 32-bit keep threshold: an element is kept iff its uniform u < threshold."""
        return self.params.threshold

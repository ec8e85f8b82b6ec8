"""The dropout handle: what a forward call keeps so that backward, or any
block of the same logical array, gets exactly the same mask again."""
from __future__ import annotations

import math
from typing import Any, Optional, Sequence, Tuple

import numpy as np
import numpy.typing as npt

from . import _config, _kernels
from ._random import COUNTER_LIMIT, _check_key, check_rounds
from ._validation import (check_bool, check_distinct_elements, check_float_array, check_float_dtype, check_int,
                          check_mask_shape, check_p, check_shape, compute_dtype)

__all__ = ["DropoutHandle", "MODES", "check_mode"]

MODES = ("inverted", "standard")
BLOCK_ELEMS: int = _kernels.BLOCK_ELEMS


def check_mode(mode: Any) -> str:
    """'inverted' or 'standard'."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    return str(mode)


def _c_strides(shape: Sequence[int]) -> Tuple[int, ...]:
    strides, step = [], 1
    for d in reversed(shape):
        strides.append(step)
        step *= d
    return tuple(reversed(strides))


def _partly_overlaps(x: np.ndarray, y: np.ndarray) -> bool:
    if x is y or not np.may_share_memory(x, y):
        return False
    same_view = (x.__array_interface__["data"][0] == y.__array_interface__["data"][0]
                 and x.strides == y.strides)
    return not same_view


class DropoutHandle(_kernels.MaskHandle):
    """What backward needs to regenerate a forward call's mask: a few numbers,
    never the mask itself.

    Parameters
    ----------
    key : (int, int)
        Philox key of the generator that drew the mask.
    counter : int
        First counter block of the call.
    rounds : int
        Philox rounds, 7 to 16.
    p : float
        Drop probability.
    shape : tuple of int
        Shape of the logical array (of the input, and of the gradient
        backward accepts).
    mask_shape : tuple of int, optional
        Shape over which the mask is drawn (broadcasts to `shape`); default
        `shape`.
    mode : {'inverted', 'standard'}
    training : bool
        False for a handle from an evaluation call: backward is then the
        evaluation scaling, no mask.

    Notes
    -----
    Handles are immutable, hashable, comparable and picklable (a handle is
    a few numbers; a Dask task graph or another process can carry it).
    :func:`fastdrop.dropout_handle` reserves the counters of a new one.

    Examples
    --------
    >>> import numpy as np, fastdrop as fd
    >>> y, h = fd.dropout(np.ones(6, np.float32), 0.5, generator=fd.Generator(0), return_handle=True)
    >>> h.counter_range, h.shape
    ((0, 1), (6,))
    >>> bool((h.apply(np.ones(6, np.float32)) == y).all())
    True
    """

    __slots__ = ()

    def __init__(self, key: Sequence[int], counter: int, rounds: int, p: float, shape: Sequence[int],
                 mask_shape: Optional[Sequence[int]] = None, mode: str = "inverted",
                 training: bool = True) -> None:
        key = _check_key(key)
        counter = check_int(counter, "counter", low=0, high=COUNTER_LIMIT)
        shape = check_shape(tuple(shape) if isinstance(shape, list) else shape)
        mask_shape = check_mask_shape(mask_shape, shape)
        training = check_bool(training, "training")
        blocks = -(-math.prod(mask_shape) // BLOCK_ELEMS) if training else 0
        if counter + blocks > COUNTER_LIMIT:  # the kernels would wrap to block 0 and reuse its bits
            raise ValueError(f"counter={counter} leaves fewer than the {blocks} blocks a mask of shape {mask_shape} "
                             f"needs before the end of the counter space (2**64)")
        self._set_fields(key, counter, check_rounds(rounds), check_p(p), shape, mask_shape, check_mode(mode),
                         training)

    @classmethod
    def _from_checked(cls, key: Tuple[int, int], counter: int, rounds: int, p: float, shape: Tuple[int, ...],
                      mask_shape: Tuple[int, ...], mode: str) -> "DropoutHandle":
        """A training handle from fields its caller has checked already (key
        and shapes as tuples of ints, p a float in [0, 1], mode one of MODES),
        for callers that would otherwise check each field twice."""
        h = cls.__new__(cls)
        h._set_fields(key, counter, rounds, p, shape, mask_shape, mode, True)
        return h

    # ------------------------------------------------------------ numbers

    @property
    def keep_prob(self) -> float:
        """The exact keep probability realised: threshold / 2**32."""
        return self.threshold / _kernels.THRESHOLD_ONE

    @property
    def blocks(self) -> int:
        """Counter blocks this call consumed."""
        if not self.training:
            return 0
        return -(-math.prod(self.mask_shape) // BLOCK_ELEMS)

    @property
    def counter_range(self) -> Tuple[int, int]:
        """(start, stop) of the counter blocks this call consumed."""
        return (self.counter, self.counter + self.blocks)

    @property
    def scale(self) -> float:
        """Factor applied to kept elements in training (0 if p == 1)."""
        return 1.0 if self.mode == "standard" else _kernels.inverted_scale(self.p)

    # ------------------------------------------------------------ masks

    def mask(self) -> npt.NDArray[np.bool_]:
        """Boolean mask of shape `mask_shape`, True where kept."""
        out = np.empty(self.mask_shape, dtype=np.bool_)
        if not self.training:
            out[...] = True
        elif out.size:
            _kernels.keep_mask(out.view(np.uint8), self.key[0], self.key[1], self.counter, self.rounds,
                               self.threshold, _config.current()[0])
        return out

    def packed_mask(self) -> npt.NDArray[np.uint8]:
        """``np.packbits(self.mask(), axis=None)``: one bit per element."""
        return np.packbits(self.mask(), axis=None)

    def mask_values(self, dtype: Any = np.float32) -> np.ndarray:
        """The mask as multipliers (0 or the scale) of shape `mask_shape`, of
        `dtype` (float16, float32, float64 or ml_dtypes.bfloat16)."""
        return self._mask_values(check_float_dtype(dtype), (0,) * len(self.mask_shape), self.mask_shape)

    def _mask_values(self, dtype: Any, offset: Sequence[int], shape: Sequence[int]) -> np.ndarray:
        """Multipliers of the block of the mask at `offset` with `shape`."""
        values = np.ones(tuple(shape), dtype=dtype)
        if self.training:
            self._kernel(values, values, _c_strides(self.mask_shape), offset)
        elif self.mode == "standard":
            values *= values.dtype.type(1.0 - self.p)
        return values

    def _kernel(self, x: np.ndarray, y: np.ndarray, lstrides: Tuple[int, ...], offset: Sequence[int]) -> None:
        if x.size:
            isa, threads = _config.current()
            first = sum(o * s for o, s in zip(offset, lstrides))
            _kernels.apply_handle(self, x, y, self.scale, lstrides, first, isa, threads)

    # ------------------------------------------------------------ applying

    def apply(self, x: npt.ArrayLike, *, offset: Optional[Sequence[int]] = None, inplace: bool = False,
              out: Optional[np.ndarray] = None) -> np.ndarray:
        """Multiply a block of the logical array by its part of the mask.

        `x` is the block of the handle's logical array (of shape
        ``self.shape``) that starts at index `offset` and has ``x.shape``;
        the result is ``x`` times the mask and scale the whole array would
        get there.  Forward and backward are this same product, so
        assembling ``h.apply(x[block], offset=start)`` over any tiling of x
        gives ``fd.dropout(x, ...)`` bit for bit.

        Parameters
        ----------
        x : array_like of float16, float32, float64 or ml_dtypes.bfloat16
            The block; ``x.ndim == len(self.shape)``.
        offset : tuple of int, optional
            Index of the block's first element in the logical array
            (default: all zeros).
        inplace : bool, default False
            Write into `x` (a writeable ndarray) and return it.
        out : ndarray, optional
            Write here (same shape and dtype as `x`) and return it.

        Returns
        -------
        ndarray
            For an evaluation handle in 'inverted' mode without `out`, `x` itself.

        Raises
        ------
        TypeError, ValueError
            A non-float `x`, an offset of the wrong length, a block that
            falls outside the handle's shape, a bad `out`.  Nothing is
            modified then.

        Examples
        --------
        >>> import numpy as np, fastdrop as fd
        >>> x = np.ones((4, 6), np.float32)
        >>> h = fd.dropout_handle(x.shape, 0.5, generator=fd.Generator(1))
        >>> whole = h.apply(x)
        >>> right = h.apply(x[1:, 3:], offset=(1, 3))
        >>> bool((right == whole[1:, 3:]).all())
        True
        """
        inplace = check_bool(inplace, "inplace")
        x = check_float_array(x, "x", writeable=inplace)
        offset = self._check_block(x.shape, offset)
        out = check_out(out, x, inplace)
        if not self.training and self.mode == "inverted" and out is None:
            return x
        return self._scale_into(x, _destination(x, inplace, out), offset)

    def _scale_whole(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """y = x times the whole mask and scale, unchecked: for a training
        handle whose mask_shape is its shape, and arrays of that shape and a
        kernel dtype, any strides, that are one array or do not overlap."""
        isa, threads = _config.current()
        _kernels.apply_handle(self, x, y, self.scale, None, 0, isa, threads)
        return y

    def _check_block(self, block: Tuple[int, ...], offset: Any) -> Tuple[int, ...]:
        if len(block) != len(self.shape):
            raise ValueError(f"x must have {len(self.shape)} dimensions like the handle's shape {self.shape}, "
                             f"got shape {block}")
        if offset is None:
            offset = (0,) * len(block)
        elif isinstance(offset, np.ndarray) and offset.ndim == 1:   # an index array, e.g. from np.argwhere
            offset = offset.tolist()
        elif not isinstance(offset, (tuple, list)):
            raise TypeError(f"offset must be a tuple of integers, got {offset!r}")
        if len(offset) != len(block):
            raise ValueError(f"offset must have {len(block)} entries (one per dimension), got {tuple(offset)}")
        offset = tuple(check_int(o, f"offset[{d}]", low=0) for d, o in enumerate(offset))
        for d, (o, b, s) in enumerate(zip(offset, block, self.shape)):
            if o + b > s:
                raise ValueError(f"offset[{d}] = {o} with a block of {b} along axis {d} passes the "
                                 f"handle's shape {self.shape}")
        return offset

    def _scale_into(self, x: np.ndarray, y: np.ndarray, offset: Tuple[int, ...]) -> np.ndarray:
        """y = x * the mask values of the block at `offset` (x already checked)."""
        if not self.training:
            return _eval_scale(x, y, self.p, self.mode)
        if _partly_overlaps(x, y):
            x = x.copy()
        if self.mask_shape == self.shape:
            self._kernel(x, y, _c_strides(self.shape), offset)
            return y
        values = self._block_values(compute_dtype(x.dtype), offset, x.shape)
        with np.errstate(all="ignore"):  # inf * 0 is NaN silently, as in the kernels
            np.multiply(x, values, out=y, casting="same_kind")
        return y

    def _block_values(self, dtype: Any, offset: Sequence[int], block: Sequence[int]) -> np.ndarray:
        """The multipliers of a training handle's mask over the block of shape
        `block` at `offset`, of length 1 along the axes the mask broadcasts
        over (so they broadcast over the block)."""
        mask_shape = (1,) * (len(self.shape) - len(self.mask_shape)) + self.mask_shape
        cells = [(0, 1) if m == 1 else (o, b) for m, o, b in zip(mask_shape, offset, block)]
        values = np.ones(tuple(b for _, b in cells), dtype=dtype)
        self._kernel(values, values, _c_strides(mask_shape), tuple(o for o, _ in cells))
        return values

    # ------------------------------------------------------------ value semantics

    def _fields(self) -> Tuple[Any, ...]:
        return (self.key, self.counter, self.rounds, self.p, self.shape, self.mask_shape, self.mode,
                self.training)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __reduce__(self) -> Tuple[Any, ...]:
        return (type(self), self._fields())

    def __dask_tokenize__(self) -> Tuple[Any, ...]:
        # equal handles name equal Dask graphs (pickle's bytes depend on shared tuples)
        return ("fastdrop.DropoutHandle",) + self._fields()

    def __repr__(self) -> str:
        names = ("key", "counter", "rounds", "p", "shape", "mask_shape", "mode", "training")
        return "DropoutHandle(" + ", ".join(f"{n}={v!r}" for n, v in zip(names, self._fields())) + ")"


_kernels.set_handle_type(DropoutHandle)


def check_out(out: Any, x: np.ndarray, inplace: bool) -> Optional[np.ndarray]:
    """`out` (None, or a writeable ndarray of x's shape and dtype)."""
    if out is None:
        return None
    if inplace:
        raise ValueError("give either inplace=True or out=, not both")
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}")
    if out.shape != x.shape:
        raise ValueError(f"out has shape {out.shape}, expected {x.shape}")
    if out.dtype != x.dtype:
        raise TypeError(f"out has dtype {out.dtype}, expected {x.dtype}")
    if not out.flags.writeable:
        raise ValueError("out is read-only")
    check_distinct_elements(out, "out")
    return out


def _destination(x: np.ndarray, inplace: bool, out: Optional[np.ndarray]) -> np.ndarray:
    if inplace:
        return x
    if out is not None:
        return out
    return np.empty_like(x, order="C")


def _eval_scale(x: np.ndarray, y: np.ndarray, p: float, mode: str) -> np.ndarray:
    """Evaluation: the identity ('inverted') or x * (1 - p) ('standard')."""
    if mode == "inverted":
        if y is not x:
            np.copyto(y, x)
        return y
    if _partly_overlaps(x, y):
        x = x.copy()
    with np.errstate(all="ignore"):
        return np.multiply(x, compute_dtype(x.dtype)(1.0 - p), out=y, casting="same_kind")

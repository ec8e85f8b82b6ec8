"""Functional dropout: validation and dtype/shape decisions here, the
arithmetic in the compiled kernels (fastdrop/_kernels.pyx over src_c/).

The common calls go to the compiled fast path first; it declines anything
unusual (returns NotImplemented, having touched nothing) and this module
then validates and computes the same result through the handle.
"""
from __future__ import annotations

import math
from typing import Any, Literal, Optional, Sequence, Tuple, Union, overload

import numpy as np
import numpy.typing as npt

from . import _config, _kernels
from ._handle import MODES, DropoutHandle, _destination, _eval_scale, check_mode, check_out
from ._random import COUNTER_LIMIT, Generator, default_generator
from ._validation import check_bool, check_float_array, check_generator, check_mask_shape, check_p, check_shape

__all__ = ["dropout", "dropout_backward", "dropout_handle", "threshold_for", "MODES"]

BLOCK_ELEMS: int = _kernels.BLOCK_ELEMS


def threshold_for(p: float) -> int:
    """The 32-bit keep threshold: element kept iff its uniform u < t.

    t = round((1 - p) * 2**32), so the keep probability is t / 2**32:
    p is honoured to within 2**-33, and p = 0 and p = 1 are exact.
    """
    return _kernels.threshold_for(check_p(p))


def reserve_checked(generator: Optional[Generator], shape: Tuple[int, ...], p: float,
                    mask_shape: Tuple[int, ...], mode: str) -> DropoutHandle:
    """The handle of a call whose arguments are checked: its counters reserved."""
    generator = default_generator() if generator is None else generator
    blocks = -(-math.prod(mask_shape) // BLOCK_ELEMS)
    start = generator._reserve(blocks) if blocks < COUNTER_LIMIT else None
    if start is None:
        start = generator.reserve(blocks)  # raises CounterExhaustedError
    return DropoutHandle._from_checked(generator.key, start, generator.rounds, p, shape, mask_shape, mode)


def dropout_handle(shape: Union[int, Sequence[int]], p: float, *, generator: Optional[Generator] = None,
                   mask_shape: Optional[Sequence[int]] = None, mode: str = "inverted") -> DropoutHandle:
    """Reserve the counters of a dropout call on a logical array, touching no data.

    The handle gets exactly the counters ``fd.dropout`` would reserve for an
    array of `shape`; :meth:`DropoutHandle.apply` then applies its mask to
    the whole array or to any block of it, anywhere (another thread,
    process or machine), with the same bits as one call.

    Parameters
    ----------
    shape : int or tuple of int
        Shape of the logical array.
    p : float in [0, 1]
        Drop probability.
    generator : fastdrop.Generator, optional
        Default: :func:`fastdrop.default_generator`.
    mask_shape : tuple of int, optional
        One keep decision per cell of this shape, broadcast to `shape`.
    mode : {'inverted', 'standard'}

    Returns
    -------
    DropoutHandle

    Raises
    ------
    TypeError, ValueError
        A bad argument, named in the message; no counter is reserved then.

    Examples
    --------
    >>> import numpy as np, fastdrop as fd
    >>> x = np.arange(1.0, 13.0).reshape(3, 4)
    >>> h = fd.dropout_handle(x.shape, 0.5, generator=fd.Generator(3))
    >>> top, bottom = h.apply(x[:1]), h.apply(x[1:], offset=(1, 0))
    >>> y = fd.dropout(x, 0.5, generator=fd.Generator(3))
    >>> bool((np.vstack([top, bottom]) == y).all())
    True
    """
    shape = check_shape(shape)
    p = check_p(p)
    mask_shape = check_mask_shape(mask_shape, shape)
    mode = check_mode(mode)
    return reserve_checked(check_generator(generator), shape, p, mask_shape, mode)


@overload
def dropout(x: npt.ArrayLike, p: float = ..., *, training: bool = ..., mode: str = ..., inplace: bool = ...,
            out: Optional[np.ndarray] = ..., mask_shape: Optional[Sequence[int]] = ...,
            generator: Optional[Generator] = ..., return_handle: Literal[False] = ...) -> np.ndarray: ...
@overload
def dropout(x: npt.ArrayLike, p: float = ..., *, training: bool = ..., mode: str = ..., inplace: bool = ...,
            out: Optional[np.ndarray] = ..., mask_shape: Optional[Sequence[int]] = ...,
            generator: Optional[Generator] = ..., return_handle: Literal[True]) -> Tuple[np.ndarray, DropoutHandle]: ...
def dropout(x: npt.ArrayLike, p: float = 0.5, *, training: bool = True, mode: str = "inverted",
            inplace: bool = False, out: Optional[np.ndarray] = None, mask_shape: Optional[Sequence[int]] = None,
            generator: Optional[Generator] = None,
            return_handle: bool = False) -> Union[np.ndarray, Tuple[np.ndarray, DropoutHandle]]:
    """Dropout on a NumPy array, with a counter-based Philox mask.

    Parameters
    ----------
    x : array_like of float16, float32, float64 or ml_dtypes.bfloat16
        Input.  Any layout: strided and negative-stride views give the
        values of the contiguous copy.
    p : float in [0, 1], default 0.5
        Drop probability.  Realised as a keep threshold of 32 bits
        (see :func:`threshold_for`): exact to 2**-33; p = 0 and 1 exact.
    training : bool, default True
        If False: 'inverted' returns `x` itself (no copy, unless `out` is
        given); 'standard' returns x * (1 - p).
    mode : {'inverted', 'standard'}
        'inverted' scales kept elements by 1 / (1 - p) in training;
        'standard' keeps them as they are and scales by 1 - p in evaluation.
    inplace : bool, default False
        Write into `x` (which must be a writeable ndarray) and return it.
    out : ndarray, optional
        Write here (same shape and dtype as `x`) and return it.
    mask_shape : tuple of int, optional
        Draw one keep decision per cell of this shape and broadcast it to
        `x` (e.g. ``(n, c, 1, 1)`` for channel dropout).  Default: x.shape.
    generator : fastdrop.Generator, optional
        Default: :func:`fastdrop.default_generator`.
    return_handle : bool, default False
        Also return a :class:`DropoutHandle` for :func:`dropout_backward`.

    Returns
    -------
    y : ndarray
    handle : DropoutHandle
        Only with ``return_handle=True``.

    Raises
    ------
    TypeError
        Non-float input, a non-number p, a generator of another type.
    ValueError
        p outside [0, 1] or NaN, read-only input in place, `out` of the
        wrong shape, a mask shape that does not broadcast.
        Nothing is modified when an error is raised.

    Notes
    -----
    Kept elements become ``x * scale`` and dropped ones ``x * 0`` (so a
    dropped NaN stays NaN, as in x * mask), computed in float32 for float16
    and float32 inputs and in float64 for float64.  Which random bits decide
    which element is documented in the determinism specification.

    Examples
    --------
    >>> import numpy as np, fastdrop as fd
    >>> g = fd.Generator(seed=0)
    >>> y, h = fd.dropout(np.ones(8, np.float32), 0.5, generator=g, return_handle=True)
    >>> sorted(set(y.tolist())) in ([0.0, 2.0], [0.0], [2.0])
    True
    >>> bool(np.array_equal(y != 0, h.mask()))
    True
    """
    y = _kernels.fast_dropout(x, p, training, mode, inplace, out, mask_shape,
                              default_generator() if generator is None else generator, return_handle,
                              _config.current())
    if y is not NotImplemented:
        return y
    p = check_p(p)
    training = check_bool(training, "training")
    mode = check_mode(mode)
    inplace = check_bool(inplace, "inplace")
    return_handle = check_bool(return_handle, "return_handle")
    x = check_float_array(x, "x", writeable=inplace)
    out = check_out(out, x, inplace)
    mask_shape = check_mask_shape(mask_shape, x.shape)
    generator = check_generator(generator) or default_generator()

    if not training:
        if mode == "inverted" and out is None:
            y = x
        else:
            y = _eval_scale(x, _destination(x, inplace, out), p, mode)
        h = DropoutHandle(generator.key, generator.counter, generator.rounds, p, x.shape, mask_shape, mode,
                          training=False)
        return (y, h) if return_handle else y

    h = reserve_checked(generator, x.shape, p, mask_shape, mode)
    y = h._scale_into(x, _destination(x, inplace, out), (0,) * x.ndim)
    return (y, h) if return_handle else y


def dropout_backward(dy: npt.ArrayLike, handle: DropoutHandle, *, inplace: bool = False,
                     out: Optional[np.ndarray] = None) -> np.ndarray:
    """Gradient of :func:`dropout`: the forward mask, regenerated, times dy.

    Parameters
    ----------
    dy : array_like of float16, float32, float64 or ml_dtypes.bfloat16
        Gradient with respect to the forward output; shape ``handle.shape``.
    handle : DropoutHandle
        From ``dropout(..., return_handle=True)``.
    inplace, out
        As in :func:`dropout`.  By default `dy` is left untouched.

    Returns
    -------
    dx : ndarray
        For an evaluation handle in 'inverted' mode, `dy` itself.

    Raises
    ------
    TypeError
        `handle` is not a DropoutHandle, or `dy` is not a float array.
    ValueError
        `dy` has another shape than the handle's.  Nothing is modified then.
    """
    y = _kernels.fast_backward(dy, handle, inplace, out, _config.current())
    if y is not NotImplemented:
        return y
    if not isinstance(handle, DropoutHandle):
        raise TypeError(f"handle must be a DropoutHandle from dropout(..., return_handle=True), "
                        f"got {type(handle).__name__}")
    inplace = check_bool(inplace, "inplace")
    dy = check_float_array(dy, "dy", writeable=inplace)
    if dy.shape != handle.shape:
        raise ValueError(f"dy has shape {dy.shape}, but the handle was made for shape {handle.shape}")
    return handle.apply(dy, inplace=inplace, out=out)

"""Dropout on Dask arrays whose masks do not depend on the chunking.

``fastdrop.dask.dropout(arr, p)`` reserves the counters of one
:func:`fastdrop.dropout` call on an array of ``arr.shape`` when it is
called, and returns a lazy array with one task per block; each task applies
the part of that call's mask that covers its block
(:meth:`fastdrop.DropoutHandle.apply` with the block's offset).  The result
is therefore, bit for bit, ``fastdrop.dropout`` on the computed array with
the generator in the same state, whatever the chunks, the scheduler, the
number of workers or the tasks that had to be run again.  The task graph
carries the handle (a few numbers), never a mask.

Needs Dask (``pip install "dask[array]"``; ``distributed`` for clusters).
``import fastdrop`` never imports this module.

Examples
--------
>>> import numpy as np, dask.array as da, fastdrop as fd
>>> import fastdrop.dask as fdd
>>> x = np.arange(1.0, 61.0).reshape(6, 10)
>>> lazy = fdd.dropout(da.from_array(x, chunks=(4, 3)), 0.5, generator=fd.Generator(7))
>>> eager = fd.dropout(x, 0.5, generator=fd.Generator(7))
>>> bool((lazy.compute() == eager).all())
True
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

try:
    import dask.array as da
    from dask.base import tokenize
except ImportError as exc:  # pragma: no cover - exercised only without Dask installed
    raise ImportError("fastdrop.dask needs Dask: pip install 'dask[array]' "
                      "(and 'distributed' to run on a cluster)") from exc

import fastdrop as fd
from fastdrop._validation import check_bool, is_float_dtype, refuse_dtype

__all__ = ["dropout", "dropout_backward"]


def _check_dask_array(arr: Any, name: str) -> "da.Array":
    """`arr` as a Dask array of a float dtype the kernels compute on, with
    known chunk sizes (each task needs its block's offset)."""
    if not isinstance(arr, da.Array):
        raise TypeError(f"{name} must be a dask.array.Array, got {type(arr).__name__}"
                        f" (use fastdrop.dropout for NumPy arrays)")
    if not is_float_dtype(arr.dtype):
        refuse_dtype(arr.dtype, name)   # a float dtype in the other byte order is named as such
    if not isinstance(arr._meta, np.ndarray):
        raise TypeError(f"{name} must have NumPy blocks (the kernels run on NumPy arrays), "
                        f"got blocks of type {type(arr._meta).__module__}.{type(arr._meta).__name__}")
    if any(math.isnan(n) for n in arr.shape):
        raise ValueError(f"{name} has unknown chunk sizes (shape {arr.shape}); "
                         f"call {name}.compute_chunk_sizes() first")
    return arr


def _apply_block(block: np.ndarray, handle: fd.DropoutHandle,
                 block_info: Optional[Dict[Any, Dict[str, Any]]] = None) -> np.ndarray:
    """One task: the block times its part of the handle's mask.  Dask runs
    the blocks in parallel, so the kernel stays on one thread."""
    location: List[Tuple[int, int]] = block_info[0]["array-location"]  # type: ignore[index]
    with fd.config_context(threads=1):
        return handle.apply(block, offset=tuple(start for start, _ in location))


def _apply_blocks(arr: "da.Array", handle: fd.DropoutHandle, prefix: str) -> "da.Array":
    # a new block is written: the input blocks may be shared with other tasks;
    # it is of the input's array type (a masked array's blocks stay masked)
    meta = np.empty_like(arr._meta, dtype=arr.dtype, shape=(0,) * arr.ndim)
    return arr.map_blocks(_apply_block, handle, dtype=arr.dtype, meta=meta, name=f"{prefix}-{tokenize(arr, handle)}")


def dropout(arr: "da.Array", p: float, *, generator: Optional[fd.Generator] = None,
            mask_shape: Optional[Sequence[int]] = None, mode: str = "inverted",
            return_handle: bool = False) -> Union["da.Array", Tuple["da.Array", fd.DropoutHandle]]:
    """Dropout on a Dask array, lazily, one task per block.

    The counters of the whole call are reserved now, exactly as
    ``fastdrop.dropout`` would reserve them for an array of ``arr.shape``
    (the generator moves the same way); computing the result later, in any
    order, on any scheduler, gives ``fastdrop.dropout(arr.compute(), p)``
    bit for bit for a generator in the state this call found.

    Parameters
    ----------
    arr : dask.array.Array of float16, float32, float64 or ml_dtypes.bfloat16
        Input, any chunking (irregular chunks too); chunk sizes must be known.
    p : float in [0, 1]
        Drop probability.
    generator : fastdrop.Generator, optional
        Default: :func:`fastdrop.default_generator`.
    mask_shape : tuple of int, optional
        One keep decision per cell of this shape, broadcast to ``arr.shape``
        (cells may straddle chunks).
    mode : {'inverted', 'standard'}
        As in :func:`fastdrop.dropout`.
    return_handle : bool, default False
        Also return the :class:`fastdrop.DropoutHandle` for
        :func:`dropout_backward`.

    Returns
    -------
    y : dask.array.Array
        Same shape, chunks and dtype as `arr`.
    handle : fastdrop.DropoutHandle
        Only with ``return_handle=True``.

    Raises
    ------
    TypeError
        `arr` is not a Dask array, not of a float dtype, or has blocks that
        are not NumPy arrays; a bad `p`, `generator` or `return_handle`.
    ValueError
        `arr` has unknown chunk sizes; `p` outside [0, 1]; a mask shape
        that does not broadcast.  No counter is reserved then.

    Examples
    --------
    >>> import numpy as np, dask.array as da, fastdrop as fd
    >>> import fastdrop.dask as fdd
    >>> x = da.ones((4, 6), chunks=((1, 3), (2, 4)), dtype=np.float32)
    >>> y, h = fdd.dropout(x, 0.5, generator=fd.Generator(0), return_handle=True)
    >>> bool((y.compute() == fd.dropout(np.ones((4, 6), np.float32), 0.5, generator=fd.Generator(0))).all())
    True
    >>> h.counter_range
    (0, 2)
    """
    arr = _check_dask_array(arr, "arr")
    return_handle = check_bool(return_handle, "return_handle")
    handle = fd.dropout_handle(arr.shape, p, generator=generator, mask_shape=mask_shape, mode=mode)
    y = _apply_blocks(arr, handle, "fastdrop-dropout")
    return (y, handle) if return_handle else y


def dropout_backward(darr: "da.Array", handle: fd.DropoutHandle) -> "da.Array":
    """Gradient of :func:`dropout`: the forward mask, regenerated block by block.

    Parameters
    ----------
    darr : dask.array.Array of float16, float32, float64 or ml_dtypes.bfloat16
        Gradient with respect to the forward output, of shape
        ``handle.shape`` (any chunking: it need not match the forward's).
    handle : fastdrop.DropoutHandle
        From ``dropout(..., return_handle=True)`` (this module's or
        :func:`fastdrop.dropout`'s).

    Returns
    -------
    dask.array.Array
        ``fastdrop.dropout_backward(darr.compute(), handle)``, lazily.

    Raises
    ------
    TypeError
        `handle` is not a DropoutHandle; `darr` is not a float Dask array
        of NumPy blocks.
    ValueError
        `darr` has another shape than the handle's.

    Examples
    --------
    >>> import numpy as np, dask.array as da, fastdrop as fd
    >>> import fastdrop.dask as fdd
    >>> x = da.ones(10, chunks=4)
    >>> y, h = fdd.dropout(x, 0.5, generator=fd.Generator(1), return_handle=True)
    >>> dx = fdd.dropout_backward(da.ones(10, chunks=5), h)
    >>> bool((dx.compute() == y.compute()).all())
    True
    """
    if not isinstance(handle, fd.DropoutHandle):
        raise TypeError(f"handle must be a fastdrop.DropoutHandle from dropout(..., return_handle=True), "
                        f"got {type(handle).__name__}")
    darr = _check_dask_array(darr, "darr")
    if darr.shape != handle.shape:
        raise ValueError(f"darr has shape {darr.shape}, but the handle was made for shape {handle.shape}")
    return _apply_blocks(darr, handle, "fastdrop-dropout-backward")

"""Argument checks shared by the core, the graph and the plugins.

Each check returns the value in its canonical type or raises ``TypeError``
(wrong kind of value) or ``ValueError`` (right kind, wrong value) with a
message that names the argument.  Checks run before any memory is touched,
so a call that raises has changed nothing.  Plugin authors get these
through :mod:`fastdrop.plugin`.
"""
from __future__ import annotations

import math
import numbers
import operator
import sys
from typing import Any, Optional, Sequence, Tuple

import numpy as np
import numpy.typing as npt

from . import _kernels

__all__ = ["check_p", "check_p_below_one", "check_bool", "check_int", "check_real", "check_shape",
           "check_float_array", "check_grad_shape", "check_generator", "check_mask_shape",
           "check_float_dtype", "float_dtypes", "compute_dtype", "is_float_dtype"]

# the most elements of a logical array: its strides in elements are signed 64-bit in the kernels
MAX_ELEMENTS = 2**63 - 1
_BUILTIN_FLOATS = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))


def _known_dtype(dtype: np.dtype) -> bool:
    """True for a kernel dtype; ``ml_dtypes.bfloat16`` is recognised (and
    remembered) here, so that fastdrop never has to import ml_dtypes."""
    if dtype in _kernels.DTYPE_CODES:
        return True
    if dtype.name == "bfloat16" and dtype.itemsize == 2 and dtype.type.__module__.startswith("ml_dtypes"):
        _kernels.DTYPE_CODES[dtype] = _kernels.BFLOAT16
        return True
    return False


def float_dtypes() -> Tuple[np.dtype, ...]:
    """The dtypes the kernels compute on: float16, float32, float64, and
    ``ml_dtypes.bfloat16`` once ml_dtypes is imported (no array can have
    that dtype before)."""
    ml_dtypes = sys.modules.get("ml_dtypes")
    if ml_dtypes is not None:
        _known_dtype(np.dtype(ml_dtypes.bfloat16))
    return tuple(_kernels.DTYPE_CODES)


def is_float_dtype(dtype: Any) -> bool:
    """True for a dtype the kernels compute on (see :func:`float_dtypes`);
    `dtype` is anything :class:`numpy.dtype` takes."""
    return _known_dtype(np.dtype(dtype))


def _dtype_names() -> str:
    return ", ".join(dt.name for dt in _BUILTIN_FLOATS) + " or ml_dtypes.bfloat16"


def refuse_dtype(dtype: np.dtype, name: str) -> None:
    """Raise the TypeError for a dtype the kernels do not compute on; a
    kernel dtype in the other byte order gets the conversion to make."""
    if not dtype.isnative and _known_dtype(dtype.newbyteorder("=")):
        raise TypeError(f"{name} has non-native byte order ({dtype.str}); convert it first, e.g. with "
                        f"{name}.astype({name}.dtype.newbyteorder('='))")
    raise TypeError(f"{name} must have dtype {_dtype_names()}, got {dtype}")


def check_float_dtype(dtype: Any, name: str = "dtype") -> np.dtype:
    """A dtype the kernels compute on (see :func:`float_dtypes`), as a
    :class:`numpy.dtype`, in the machine's byte order."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name} must be a NumPy dtype ({_dtype_names()}), got {dtype!r}") from None
    if not _known_dtype(dt):
        if not dt.isnative and _known_dtype(dt.newbyteorder("=")):
            raise TypeError(f"{name} has non-native byte order ({dt.str}); use {dt.newbyteorder('=').str}")
        raise TypeError(f"{name} must be {_dtype_names()}, got {dt}")
    return dt


def compute_dtype(dtype: Any) -> type:
    """The dtype dropout arithmetic runs in: float64 for float64, else float32."""
    return np.float64 if np.dtype(dtype) == np.float64 else np.float32


def check_p(p: object, name: str = "p") -> float:
    """A drop probability: a real number in [0, 1], returned as a float."""
    if isinstance(p, (bool, np.bool_)) or not isinstance(p, numbers.Real):
        raise TypeError(f"{name} must be a real number in [0, 1], got {type(p).__name__}")
    p = float(p)
    if math.isnan(p) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {p}")
    return p


def check_p_below_one(p: object, name: str = "p") -> float:
    """A drop probability in [0, 1): for variants whose rescaling is undefined
    when every unit is dropped."""
    p = check_p(p, name)
    if p == 1.0:
        raise ValueError(f"{name} must be in [0, 1) for this variant, got 1.0")
    return p


def check_bool(value: Any, name: str) -> bool:
    """True or False (a NumPy bool too); anything else is a TypeError."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _range_text(low: Optional[float], high: Optional[float], low_open: bool = False,
                high_open: bool = False) -> str:
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low}"
    return f"{'<' if high_open else '<='} {high}"


def check_int(value: object, name: str, low: Optional[int] = None, high: Optional[int] = None) -> int:
    """An integer (not a bool) in [low, high] (either bound optional).

    Examples
    --------
    >>> from fastdrop.plugin import check_int
    >>> check_int(3, "n", low=1)
    3
    >>> check_int(0, "n", low=1)
    Traceback (most recent call last):
    ...
    ValueError: n must be an integer >= 1, got 0
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        text = "an integer" if low is None and high is None else f"an integer {_range_text(low, high)}"
        raise TypeError(f"{name} must be {text}, got {value!r}")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must be an integer {_range_text(low, high)}, got {value}")
    return value


def check_real(value: object, name: str, low: float = -math.inf, high: float = math.inf,
               low_open: bool = False, high_open: bool = False) -> float:
    """A real number (not a bool, not NaN) in the interval from low to high,
    each end closed unless said open."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if math.isnan(value) or too_low or too_high:
        raise ValueError(f"{name} must be {_range_text(low, high, low_open, high_open)}, got {value}")
    return value


def check_shape(shape: Any, name: str = "shape") -> Tuple[int, ...]:
    """A shape: an integer or a sequence of non-negative integers, as a tuple."""
    if isinstance(shape, np.ndarray) and shape.ndim == 1:   # as numpy's own functions take it
        shape = shape.tolist()
    items = shape if isinstance(shape, (tuple, list)) else (shape,)
    try:
        dims = tuple(operator.index(d) for d in items if not isinstance(d, (bool, np.bool_)))
    except TypeError:
        dims = ()
    if len(dims) != len(items):
        raise TypeError(f"{name} must be an integer or a tuple of integers, got {shape!r}")
    if any(d < 0 for d in dims):
        raise ValueError(f"{name} must have non-negative dimensions, got {dims}")
    if math.prod(dims) > MAX_ELEMENTS:
        raise ValueError(f"{name} {dims} has more than 2**63 - 1 elements")
    return dims


def _is_dask_collection(x: Any) -> bool:
    # as dask.is_dask_collection: an xarray object has the method but returns None when NumPy-backed
    graph = getattr(x, "__dask_graph__", None)
    return callable(graph) and graph() is not None


def check_float_array(x: npt.ArrayLike, name: str = "x", writeable: bool = False) -> np.ndarray:
    """`x` as an ndarray of a kernel dtype; with `writeable`, an ndarray that
    may be written in place (a list cannot be, nor a read-only array)."""
    if not isinstance(x, np.ndarray):
        if _is_dask_collection(x):
            # np.asarray would compute every block of a lazy array here
            kind = f"{type(x).__module__}.{type(x).__name__}"
            if type(x).__module__.startswith("dask.array"):
                raise TypeError(f"{name} is a Dask array ({kind}); fastdrop.dask.dropout and "
                                f"fastdrop.dask.dropout_backward keep it lazy")
            raise TypeError(f"{name} is a lazy Dask collection ({kind}): compute it first, or pass its "
                            f"Dask array to fastdrop.dask")
        if writeable:
            raise TypeError(f"{name} must be a numpy.ndarray to be written in place, got {type(x).__name__}")
        x = np.asarray(x)
    if not _known_dtype(x.dtype):
        refuse_dtype(x.dtype, name)
    if writeable and not x.flags.writeable:
        raise ValueError(f"{name} is read-only; it cannot be written in place")
    if writeable:
        check_distinct_elements(x, name)
    return x


def check_distinct_elements(x: np.ndarray, name: str) -> None:
    """Refuse an array to be written whose elements share memory (a zero
    stride on an axis longer than 1, as broadcasting views have): the result
    of writing it would depend on the order of the writes."""
    if x.size == 0:
        return
    for axis, (n, stride) in enumerate(zip(x.shape, x.strides)):
        if stride == 0 and n > 1:
            raise ValueError(f"{name} has elements that share memory (stride 0 on axis {axis}); "
                             f"it cannot be written: pass a copy")


def check_grad_shape(dy: npt.ArrayLike, shape: Sequence[int], name: str = "dy") -> np.ndarray:
    """A gradient: a float array of the forward input's `shape`."""
    dy = check_float_array(dy, name)
    if dy.shape != tuple(shape):
        raise ValueError(f"{name} has shape {dy.shape}, but the forward input had shape {tuple(shape)}")
    return dy


def check_generator(generator: Any, name: str = "generator") -> Any:
    """A :class:`fastdrop.Generator` or None (the default generator, looked up at call time)."""
    if generator is not None and not isinstance(generator, _kernels.CounterStream):
        kind = type(generator)   # with its module: numpy's and torch's are called Generator too
        got = kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
        raise TypeError(f"{name} must be a fastdrop.Generator or None, got {got}")
    return generator


def check_mask_shape(mask_shape: Any, shape: Sequence[int], name: str = "mask_shape") -> Tuple[int, ...]:
    """A shape that broadcasts to `shape` (None: `shape` itself)."""
    if mask_shape is None:
        return tuple(shape)
    try:
        items = tuple(mask_shape)
    except TypeError:
        raise TypeError(f"{name} must be a tuple of integers, got {mask_shape!r}") from None
    dims = check_shape(items, name)
    ok = len(dims) <= len(shape) and all(m == 1 or m == s for m, s in zip(reversed(dims), reversed(tuple(shape))))
    if not ok:
        raise ValueError(f"{name} {dims} does not broadcast to the input shape {tuple(shape)} "
                         f"(each mask dimension must be 1 or equal the input's)")
    return dims

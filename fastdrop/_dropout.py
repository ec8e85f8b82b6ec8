"""Functional dropout: validation and dtype/shape decisions here, the
arithmetic in the compiled kernels (fastdrop/_kernels.pyx over src_c/)."""
import math
import numbers
import os
from dataclasses import dataclass

import numpy as np

from . import _kernels
from ._random import Generator, default_generator

__all__ = ["dropout", "dropout_backward", "DropoutHandle", "set_num_threads", "get_num_threads",
           "set_isa", "get_isa", "available_isas", "threshold_for", "MODES"]

MODES = ("inverted", "standard")
BLOCK_ELEMS = 16
_TWO32 = 1 << 32
_FLOAT_DTYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))

# ---------------------------------------------------------------- settings

_ISA_NAMES = {"portable": 0, "avx2": 1, "avx512": 2}


def _default_threads():
    env = os.environ.get("FASTDROP_NUM_THREADS")
    if env:
        try:
            n = int(env)
        except ValueError:
            raise ValueError(f"FASTDROP_NUM_THREADS must be a positive integer, got {env!r}") from None
        if n < 1:
            raise ValueError(f"FASTDROP_NUM_THREADS must be a positive integer, got {env!r}")
        return n
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _default_isa():
    env = os.environ.get("FASTDROP_ISA")
    if env:
        return _check_isa(env, "FASTDROP_ISA")
    return _kernels.isa_best()


def _check_isa(name, argname="isa"):
    if not isinstance(name, str):
        raise TypeError(f"{argname} must be a string, one of {available_isas()}, got {name!r}")
    code = _ISA_NAMES.get(name.lower())
    if code is None:
        raise ValueError(f"{argname} must be one of {list(_ISA_NAMES)}, got {name!r}")
    if not _kernels.isa_supported(code):
        raise ValueError(f"{argname}={name!r} is not supported by this CPU; available: {available_isas()}")
    return code


_settings = {"threads": None, "isa": None}


def set_num_threads(n):
    """Threads the kernels may use for large buffers (default: the CPUs this
    process may run on, or FASTDROP_NUM_THREADS).  Results never depend on it."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"n must be a positive integer, got {n!r}")
    if n < 1:
        raise ValueError(f"n must be a positive integer, got {n}")
    _settings["threads"] = int(n)


def get_num_threads():
    if _settings["threads"] is None:
        _settings["threads"] = _default_threads()
    return _settings["threads"]


def available_isas():
    """Names of the kernel paths this CPU can run, portable first."""
    return [name for name, code in _ISA_NAMES.items() if _kernels.isa_supported(code)]


def set_isa(name):
    """Force a kernel path ('portable', 'avx2', ...) or 'auto' for the best.
    Every path gives bit-identical results; this exists to prove it."""
    auto = isinstance(name, str) and name.lower() == "auto"
    _settings["isa"] = _kernels.isa_best() if auto else _check_isa(name)


def get_isa():
    if _settings["isa"] is None:
        _settings["isa"] = _default_isa()
    code = _settings["isa"]
    return next(name for name, c in _ISA_NAMES.items() if c == code)


def _isa_code():
    if _settings["isa"] is None:
        _settings["isa"] = _default_isa()
    return _settings["isa"]


# ---------------------------------------------------------------- validation

def check_p(p, name="p"):
    """p as a float in [0, 1]; TypeError/ValueError naming `name` otherwise."""
    if isinstance(p, (bool, np.bool_)) or not isinstance(p, numbers.Real):
        raise TypeError(f"{name} must be a real number in [0, 1], got {type(p).__name__}")
    p = float(p)
    if math.isnan(p) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {p}")
    return p


def threshold_for(p):
    """The 32-bit keep threshold: element kept iff its uniform u < t.

    t = round((1 - p) * 2**32), so the keep probability is t / 2**32:
    p is honoured to within 2**-33, and p = 0 and p = 1 are exact.
    """
    return int(round((1.0 - p) * _TWO32))


def _check_mode(mode):
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    return mode


def _check_float_array(x, name, writeable=False):
    if not isinstance(x, np.ndarray):
        if writeable:
            raise TypeError(f"{name} must be a numpy.ndarray to be written in place, got {type(x).__name__}")
        x = np.asarray(x)
    if x.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"{name} must have dtype float16, float32 or float64, got {x.dtype}")
    if writeable and not x.flags.writeable:
        raise ValueError(f"{name} is read-only; it cannot be written in place")
    return x


def _check_mask_shape(mask_shape, shape):
    if mask_shape is None:
        return tuple(shape)
    try:
        mask_shape = tuple(mask_shape)
    except TypeError:
        raise TypeError(f"mask_shape must be a tuple of integers, got {mask_shape!r}") from None
    for d in mask_shape:
        if isinstance(d, (bool, np.bool_)) or not isinstance(d, numbers.Integral):
            raise TypeError(f"mask_shape must be a tuple of integers, got {mask_shape!r}")
    mask_shape = tuple(int(d) for d in mask_shape)
    ok = len(mask_shape) <= len(shape) and all(
        m == 1 or m == s for m, s in zip(reversed(mask_shape), reversed(shape)))
    if not ok:
        raise ValueError(f"mask_shape {mask_shape} does not broadcast to the input shape {tuple(shape)} "
                         f"(each mask dimension must be 1 or equal the input's)")
    return mask_shape


def _check_generator(generator):
    if generator is None:
        return default_generator()
    if not isinstance(generator, Generator):
        raise TypeError(f"generator must be a fastdrop.Generator or None, got {type(generator).__name__}")
    return generator


def _check_out(out, x, inplace):
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
    return out


def _check_bool(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


# ---------------------------------------------------------------- the handle

@dataclass(frozen=True)
class DropoutHandle:
    """What backward needs to regenerate a forward call's mask: a few numbers,
    never the mask itself.

    Attributes
    ----------
    key : (int, int)
        Philox key of the generator that drew the mask.
    counter : int
        First counter block of the call.
    rounds : int
    p : float
        Drop probability.
    shape : tuple
        Shape of the input (and of the gradient backward accepts).
    mask_shape : tuple
        Shape over which the mask was drawn (broadcasts to `shape`).
    mode : {'inverted', 'standard'}
    training : bool
        False for a handle from an evaluation call: backward is then the
        evaluation scaling, no mask.
    """

    key: tuple
    counter: int
    rounds: int
    p: float
    shape: tuple
    mask_shape: tuple
    mode: str = "inverted"
    training: bool = True

    @property
    def keep_prob(self):
        """The exact keep probability realised: threshold / 2**32."""
        return threshold_for(self.p) / _TWO32

    @property
    def threshold(self):
        return threshold_for(self.p)

    @property
    def blocks(self):
        """Counter blocks this call consumed."""
        if not self.training:
            return 0
        return -(-math.prod(self.mask_shape) // BLOCK_ELEMS)

    @property
    def counter_range(self):
        """(start, stop) of the counter blocks this call consumed."""
        return (self.counter, self.counter + self.blocks)

    @property
    def scale(self):
        """Factor applied to kept elements in training (0 if p == 1)."""
        if self.mode == "standard":
            return 1.0
        return 0.0 if self.p >= 1.0 else 1.0 / (1.0 - self.p)

    def mask(self):
        """Boolean mask of shape `mask_shape`, True where kept."""
        out = np.empty(self.mask_shape, dtype=np.bool_)
        if not self.training:
            out[...] = True
            return out
        if out.size:
            _kernels.keep_mask(out.view(np.uint8), self.key[0], self.key[1], self.counter, self.rounds,
                               self.threshold, _isa_code())
        return out

    def packed_mask(self):
        """``np.packbits(self.mask(), axis=None)``: one bit per element."""
        return np.packbits(self.mask(), axis=None)

    def mask_values(self, dtype=np.float32):
        """The mask as multipliers (0 or the scale) of shape `mask_shape`."""
        values = np.ones(self.mask_shape, dtype=dtype)
        if self.training:
            _apply(values, values, self, self.scale)
        elif self.mode == "standard":
            values *= values.dtype.type(1.0 - self.p)
        return values


_kernels._init_fast(Generator, DropoutHandle, default_generator)


# ---------------------------------------------------------------- the kernels

def _compute_dtype(dtype):
    return np.float64 if dtype == np.float64 else np.float32


def _apply(x, y, h, scale):
    if x.size == 0:  # no block read; the counter may even sit at 2**64
        return
    _kernels.apply(x, y, h.key[0], h.key[1], h.counter, h.rounds, h.threshold, scale,
                   _isa_code(), get_num_threads())


def _partly_overlaps(x, y):
    if x is y or not np.may_share_memory(x, y):
        return False
    same_view = (x.__array_interface__["data"][0] == y.__array_interface__["data"][0]
                 and x.strides == y.strides)
    return not same_view


def _destination(x, inplace, out):
    if inplace:
        return x
    if out is not None:
        return out
    return np.empty_like(x, order="C")


def _masked_scale(x, y, h):
    """y = x * mask_values, for a handle drawn in training."""
    if _partly_overlaps(x, y):
        x = x.copy()
    if tuple(h.mask_shape) == x.shape:
        _apply(x, y, h, h.scale)
    else:
        values = h.mask_values(_compute_dtype(x.dtype))
        with np.errstate(all="ignore"):  # inf * 0 is NaN silently, as in the kernels
            np.multiply(x, values, out=y, casting="same_kind")
    return y


def _eval_scale(x, y, p, mode):
    if mode == "inverted":
        if y is not x:
            np.copyto(y, x)
        return y
    if _partly_overlaps(x, y):
        x = x.copy()
    with np.errstate(all="ignore"):
        return np.multiply(x, _compute_dtype(x.dtype)(1.0 - p), out=y, casting="same_kind")


def dropout(x, p=0.5, *, training=True, mode="inverted", inplace=False, out=None, mask_shape=None,
            generator=None, return_handle=False):
    """Dropout on a NumPy array, with a counter-based Philox mask.

    Parameters
    ----------
    x : array_like of float16, float32 or float64
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
    which element is documented in the README ("Determinism").

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
    y = _kernels.fast_dropout(x, p, training, mode, inplace, out, mask_shape, generator, return_handle,
                              _isa_code(), get_num_threads())
    if y is not NotImplemented:
        return y
    p = check_p(p)
    training = _check_bool(training, "training")
    mode = _check_mode(mode)
    inplace = _check_bool(inplace, "inplace")
    return_handle = _check_bool(return_handle, "return_handle")
    x = _check_float_array(x, "x", writeable=inplace)
    out = _check_out(out, x, inplace)
    mask_shape = _check_mask_shape(mask_shape, x.shape)
    generator = _check_generator(generator)

    if not training:
        if mode == "inverted" and out is None:
            y = x
        else:
            y = _eval_scale(x, _destination(x, inplace, out), p, mode)
        h = DropoutHandle(generator.key, generator.counter, generator.rounds, p, x.shape, mask_shape,
                          mode, training=False)
        return (y, h) if return_handle else y

    blocks = -(-math.prod(mask_shape) // BLOCK_ELEMS)
    h = DropoutHandle(generator.key, generator.reserve(blocks), generator.rounds, p, x.shape,
                      mask_shape, mode)
    y = _masked_scale(x, _destination(x, inplace, out), h)
    return (y, h) if return_handle else y


def dropout_backward(dy, handle, *, inplace=False, out=None):
    """Gradient of :func:`dropout`: the forward mask, regenerated, times dy.

    Parameters
    ----------
    dy : array_like of float16, float32 or float64
        Gradient with respect to the forward output; shape ``handle.shape``.
    handle : DropoutHandle
        From ``dropout(..., return_handle=True)``.
    inplace, out
        As in :func:`dropout`.  By default `dy` is left untouched.

    Returns
    -------
    dx : ndarray
        For an evaluation handle in 'inverted' mode, `dy` itself.
    """
    y = _kernels.fast_backward(dy, handle, inplace, out, _isa_code(), get_num_threads())
    if y is not NotImplemented:
        return y
    if not isinstance(handle, DropoutHandle):
        raise TypeError(f"handle must be a DropoutHandle from dropout(..., return_handle=True), "
                        f"got {type(handle).__name__}")
    inplace = _check_bool(inplace, "inplace")
    dy = _check_float_array(dy, "dy", writeable=inplace)
    if dy.shape != tuple(handle.shape):
        raise ValueError(f"dy has shape {dy.shape}, but the handle was made for shape {tuple(handle.shape)}")
    out = _check_out(out, dy, inplace)
    if not handle.training:
        if handle.mode == "inverted" and out is None:
            return dy
        return _eval_scale(dy, _destination(dy, inplace, out), handle.p, handle.mode)
    return _masked_scale(dy, _destination(dy, inplace, out), handle)

"""fastdrop's built-in dropout variants, each a plugin of its own.

The modules here are found through the ``fastdrop`` entry-point group, the
same way a third party's plugin is; ``fastdrop`` itself never imports them.
Each module's ``fastdrop_variants()`` hook returns its variant classes.

This package module holds what the variants share: argument checks and
:class:`BroadcastDropout`, the base of the variants whose mask is drawn over
a small shape and broadcast to the input (spatial, droppath, locked).
"""
import numbers

import numpy as np

import fastdrop as fd
from fastdrop import graph
from fastdrop._dropout import check_p
from fastdrop._registry import mask_drawn

__all__ = ["BroadcastDropout", "check_bool", "check_float_array", "check_generator", "check_grad_shape", "check_int",
           "check_p_below_one", "DropProbability"]

_FLOAT_DTYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))


def check_bool(value, name):
    """`value` as a bool; TypeError naming `name` for anything but True/False."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_int(value, name):
    """`value` as an int; TypeError naming `name` for a non-integer."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    return int(value)


def check_generator(generator):
    """A fastdrop.Generator or None (the default generator, looked up at call time)."""
    if generator is not None and not isinstance(generator, fd.Generator):
        raise TypeError(f"generator must be a fastdrop.Generator or None, got {type(generator).__name__}")
    return generator


def check_p_below_one(p, name="p"):
    """p in [0, 1): for variants whose rescaling is undefined when every unit is dropped."""
    p = check_p(p, name)
    if p == 1.0:
        raise ValueError(f"{name} must be in [0, 1) for this variant, got 1.0")
    return p


def check_float_array(x, name="x"):
    """`x` as a float16/32/64 ndarray; TypeError naming `name` otherwise."""
    if not isinstance(x, np.ndarray):
        x = np.asarray(x)
    if x.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"{name} must have dtype float16, float32 or float64, got {x.dtype}")
    return x


def check_grad_shape(dy, shape):
    """`dy` as a float array of the forward input's `shape`."""
    dy = check_float_array(dy, "dy")
    if dy.shape != tuple(shape):
        raise ValueError(f"dy has shape {dy.shape}, but the last forward input had shape {tuple(shape)}")
    return dy


class DropProbability:
    """Mixin: a drop probability `p` validated on every assignment, and the
    generator the variant draws from.

    ``check_probability`` is the validator (``check_p`` by default;
    variants whose rescaling is undefined at p = 1 use ``check_p_below_one``).
    """

    check_probability = staticmethod(check_p)

    def _init_draws(self, p, generator):
        self.p = p
        self.generator = check_generator(generator)
        self.handle = None

    @property
    def p(self):
        """Drop probability, validated on assignment."""
        return self._p

    @p.setter
    def p(self, value):
        self._p = self.check_probability(value)


class BroadcastDropout(DropProbability, graph.Variant):
    """Inverted dropout whose keep decisions are drawn over a smaller shape.

    Subclasses define :meth:`mask_shape`: the shape (broadcastable to the
    input) over which one keep decision per cell is drawn with the core
    kernel; NumPy broadcasting applies it.  Kept cells are scaled by
    ``1 / (1 - p)``; evaluation is the identity.  Backward regenerates the
    mask from the stored :class:`fastdrop.DropoutHandle` (no mask is kept).

    Parameters
    ----------
    p : float in [0, 1], default 0.5
        Probability that a cell of the mask is dropped.
    generator : fastdrop.Generator, optional
        Default: :func:`fastdrop.default_generator` at call time.

    Attributes
    ----------
    handle : fastdrop.DropoutHandle or None
        The last training draw (None after an evaluation call or p = 0).
    """

    def __init__(self, p=0.5, *, generator=None):
        self._init_draws(p, generator)
        self._shape = None

    def mask_shape(self, x):
        """The shape over which keep decisions are drawn for input `x`."""
        raise NotImplementedError

    def forward(self, x):
        x = check_float_array(x)
        mask_shape = self.mask_shape(x)
        if not self.training or self._p == 0.0:
            self.handle, self._shape = None, x.shape
            return x
        y, handle = fd.dropout(x, self._p, mask_shape=mask_shape, inplace=self.overwrite_input,
                               generator=self.generator, return_handle=True)
        self.handle, self._shape = handle, x.shape
        mask_drawn(self, handle)
        return y

    def backward(self, dy):
        if self._shape is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        dy = check_grad_shape(dy, self._shape)
        if self.handle is None:
            return dy
        return fd.dropout_backward(dy, self.handle, inplace=self.overwrite_grad)

    def __repr__(self):
        return f"{type(self).__name__}(p={self._p})"

"""Dense layers and elementwise activations."""
from __future__ import annotations

import math
from typing import Any, List, Optional, Tuple, Union

import numpy as np

from .._layer import Layer, Parameter
from .._validation import check_bool, check_float_array, check_int

__all__ = ["Linear", "ReLU", "Tanh", "make_rng", "check_float_dtype", "check_sizes", "fan_in_uniform",
           "check_input_shape"]

RngLike = Union[np.random.Generator, int, None]


def make_rng(rng: RngLike) -> np.random.Generator:
    """A NumPy generator for initial weights: given, seeded from an int, or fresh."""
    if rng is None or (isinstance(rng, (int, np.integer)) and not isinstance(rng, (bool, np.bool_))):
        return np.random.default_rng(rng)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, an int or None, got {type(rng).__name__}")
    return rng


def check_float_dtype(dtype: Any, name: str = "dtype") -> np.dtype:
    """A floating-point parameter dtype."""
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"{name} must be a floating-point dtype, got {dtype}")
    return dtype


def check_sizes(value: Any, name: str, dims: int, low: int = 1) -> Tuple[int, ...]:
    """An int, or a tuple of `dims` ints, each >= `low`: a kernel size, stride or padding per spatial axis."""
    items = value if isinstance(value, (tuple, list)) else (value,) * dims
    if len(items) != dims:
        raise ValueError(f"{name} must be an integer or a tuple of {dims} integers, got {value!r}")
    return tuple(check_int(item, name, low=low) for item in items)


def fan_in_uniform(rng: np.random.Generator, shape: Tuple[int, ...], fan_in: int, dtype: np.dtype) -> np.ndarray:
    """Uniform on [-1/sqrt(fan_in), 1/sqrt(fan_in)]: torch's default for the
    weights and biases of convolutions and recurrent layers (its
    ``kaiming_uniform_(a=sqrt(5))`` reduces to this bound)."""
    bound = 1.0 / math.sqrt(fan_in)
    return rng.uniform(-bound, bound, shape).astype(dtype)


def check_input_shape(x: Any, ndim: Union[int, Tuple[int, ...]], layout: str, axis: Optional[int] = None,
                      size: Optional[int] = None, name: str = "x") -> np.ndarray:
    """A float array with `ndim` dimensions (one of them, given a tuple) and,
    if `axis` is given, `size` along it; the message shows the expected `layout`."""
    x = check_float_array(x, name)
    allowed = ndim if isinstance(ndim, tuple) else (ndim,)
    if x.ndim not in allowed or (axis is not None and x.shape[axis] != size):
        raise ValueError(f"{name} must have shape {layout}, got shape {x.shape}")
    return x


class Linear(Layer):
    """Affine map ``y = x @ weight + bias``.

    Parameters
    ----------
    in_features, out_features : int
        Sizes of the last axis of the input and of the output.
    bias : bool, default True
    rng : numpy.random.Generator, int or None
        Source of the initial weights (an int seeds a new NumPy generator).
    dtype : float dtype, default float32

    Attributes
    ----------
    weight : Parameter, shape (in_features, out_features)
        He initialisation: normal with standard deviation sqrt(2 / in_features),
        which keeps the activation variance constant through ReLU layers
        (He et al., "Delving Deep into Rectifiers", ICCV 2015).
    bias : Parameter of shape (out_features,), or None
        Zero at first.
    """

    fresh_output = True
    fresh_grad = True

    def __init__(self, in_features: int, out_features: int, bias: bool = True, rng: RngLike = None,
                 dtype: Any = np.float32) -> None:
        self.in_features = check_int(in_features, "in_features", low=1)
        self.out_features = check_int(out_features, "out_features", low=1)
        bias = check_bool(bias, "bias")
        dtype = check_float_dtype(dtype)
        rng = make_rng(rng)
        std = math.sqrt(2.0 / self.in_features)
        self.weight = Parameter(rng.normal(0.0, std, (self.in_features, self.out_features)).astype(dtype))
        self.bias: Optional[Parameter] = Parameter(np.zeros(self.out_features, dtype)) if bias else None
        self._x: Optional[np.ndarray] = None

    def parameters(self) -> List[Parameter]:
        return [self.weight] if self.bias is None else [self.weight, self.bias]

    def forward(self, x: Any) -> np.ndarray:
        x = check_float_array(x)
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise ValueError(f"x must have last dimension {self.in_features}, got shape {x.shape}")
        self._x = x
        y = x @ self.weight.data
        if self.bias is not None:
            y += self.bias.data
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        if self._x is None:
            raise RuntimeError("Linear.backward called before forward")
        x2d = self._x.reshape(-1, self.in_features)
        dy2d = dy.reshape(-1, self.out_features)
        self.weight.grad += x2d.T @ dy2d
        if self.bias is not None:
            self.bias.grad += dy2d.sum(axis=0)
        return dy @ self.weight.data.T

    def __repr__(self) -> str:
        return f"Linear({self.in_features}, {self.out_features}, bias={self.bias is not None})"


class ReLU(Layer):
    """``max(x, 0)`` elementwise; the gradient passes where x > 0."""

    fresh_output = True
    fresh_grad = True

    def forward(self, x: Any) -> np.ndarray:
        self._x = check_float_array(x)
        return np.maximum(self._x, 0)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy * (self._x > 0)

    def __repr__(self) -> str:
        return "ReLU()"


class Tanh(Layer):
    """``tanh(x)`` elementwise; backward uses the stored output, 1 - y**2."""

    fresh_grad = True

    def forward(self, x: Any) -> np.ndarray:
        self._y = np.tanh(check_float_array(x))
        return self._y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy * (1 - self._y * self._y)

    def __repr__(self) -> str:
        return "Tanh()"

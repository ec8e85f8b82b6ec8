"""Convolutions over channels-first inputs, as one matrix product each.

im2col: a strided view of every kernel window
(:func:`numpy.lib.stride_tricks.sliding_window_view`, subsampled by the
stride) is copied once into a (N, C * prod(kernel), positions) matrix and
multiplied by the weights reshaped to (out_channels, C * prod(kernel)).
Backward multiplies by the transposed weights and adds the windows back
(col2im), one strided slice per kernel offset: no Python loop over pixels.
"""
from __future__ import annotations

import itertools
import math
from typing import Any, ClassVar, List, Optional, Tuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .._layer import Layer, Parameter
from .._validation import check_bool, check_grad_shape, check_int
from .layers import RngLike, check_float_dtype, check_input_shape, check_sizes, fan_in_uniform, make_rng

__all__ = ["Conv1d", "Conv2d"]


class _ConvNd(Layer):
    """Shared body of :class:`Conv1d` and :class:`Conv2d` (``spatial_dims`` 1 or 2)."""

    spatial_dims: ClassVar[int] = 0
    layout: ClassVar[str] = ""
    fresh_output = True
    fresh_grad = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 bias: bool = True, rng: RngLike = None, dtype: Any = np.float32) -> None:
        dims = self.spatial_dims
        self.in_channels = check_int(in_channels, "in_channels", low=1)
        self.out_channels = check_int(out_channels, "out_channels", low=1)
        self.kernel_size = check_sizes(kernel_size, "kernel_size", dims, low=1)
        self.stride = check_sizes(stride, "stride", dims, low=1)
        self.padding = check_sizes(padding, "padding", dims, low=0)
        bias = check_bool(bias, "bias")
        dtype = check_float_dtype(dtype)
        rng = make_rng(rng)
        fan_in = self.in_channels * math.prod(self.kernel_size)
        self.weight = Parameter(fan_in_uniform(rng, (self.out_channels, self.in_channels) + self.kernel_size,
                                               fan_in, dtype))
        self.bias: Optional[Parameter] = (Parameter(fan_in_uniform(rng, (self.out_channels,), fan_in, dtype))
                                          if bias else None)
        self._cols: Optional[np.ndarray] = None
        self._shape: Tuple[int, ...] = ()

    def parameters(self) -> List[Parameter]:
        return [self.weight] if self.bias is None else [self.weight, self.bias]

    def output_size(self, size: Tuple[int, ...]) -> Tuple[int, ...]:
        """Spatial output size for spatial input size `size`."""
        return tuple((s + 2 * p - k) // st + 1
                     for s, p, k, st in zip(size, self.padding, self.kernel_size, self.stride))

    def _padded(self, x: np.ndarray) -> np.ndarray:
        if not any(self.padding):
            return x
        return np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in self.padding])

    def forward(self, x: Any) -> np.ndarray:
        dims = self.spatial_dims
        x = check_input_shape(x, dims + 2, self.layout, axis=1, size=self.in_channels)
        out_size = self.output_size(x.shape[2:])
        if min(out_size) < 1:
            raise ValueError(f"x's spatial size {x.shape[2:]} with padding {self.padding} is smaller than "
                             f"the kernel {self.kernel_size}")
        n = x.shape[0]
        windows = sliding_window_view(self._padded(x), self.kernel_size, axis=tuple(range(2, 2 + dims)))
        windows = windows[(slice(None), slice(None)) + tuple(slice(None, None, s) for s in self.stride)]
        # (N, C, *out, *kernel) -> (N, C, *kernel, *out): rows of the matrix are (channel, kernel offset)
        order = (0, 1) + tuple(range(2 + dims, 2 + 2 * dims)) + tuple(range(2, 2 + dims))
        cols = windows.transpose(order).reshape(n, -1, math.prod(out_size))
        y = np.matmul(self.weight.data.reshape(self.out_channels, -1), cols)
        if self.bias is not None:
            y += self.bias.data[:, None]
        self._cols, self._shape = cols, x.shape
        return y.reshape((n, self.out_channels) + out_size)

    def backward(self, dy: Any) -> np.ndarray:
        if self._cols is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        n, channels = self._shape[:2]
        out_size = self.output_size(self._shape[2:])
        dy = check_grad_shape(dy, (n, self.out_channels) + out_size).reshape(n, self.out_channels, -1)
        weight = self.weight.data.reshape(self.out_channels, -1)
        # one product per sample, summed: BLAS reads the transposed columns in place, no copy of them
        self.weight.grad += np.matmul(dy, self._cols.swapaxes(1, 2)).sum(axis=0).reshape(self.weight.data.shape)
        if self.bias is not None:
            self.bias.grad += dy.sum(axis=(0, 2))
        dcols = np.matmul(weight.T, dy).reshape((n, channels) + self.kernel_size + out_size)
        padded = tuple(s + 2 * p for s, p in zip(self._shape[2:], self.padding))
        dx = np.zeros((n, channels) + padded, dtype=dcols.dtype)
        for offset in itertools.product(*(range(k) for k in self.kernel_size)):
            region = tuple(slice(o, o + s * (m - 1) + 1, s) for o, s, m in zip(offset, self.stride, out_size))
            dx[(slice(None), slice(None)) + region] += dcols[(slice(None), slice(None)) + offset]
        inner = tuple(slice(p, p + s) for p, s in zip(self.padding, self._shape[2:]))
        return dx[(slice(None), slice(None)) + inner]

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None})")


_DOC = """{dims}-d convolution (cross-correlation, as torch's ``nn.{cls}``) of {layout} inputs.

    ``y[n, o] = bias[o] + sum over c and the kernel window of weight[o, c] * x[n, c]``,
    the window moving by `stride` over the input zero-padded by `padding`
    on each side.

    Parameters
    ----------
    in_channels, out_channels : int >= 1
    kernel_size : int or tuple of {dims} int >= 1
    stride : int or tuple of {dims} int >= 1, default 1
    padding : int or tuple of {dims} int >= 0, default 0
        Zeros added on both sides of each spatial axis.
    bias : bool, default True
    rng : numpy.random.Generator, int or None
        Source of the initial weights (an int seeds a new NumPy generator).
    dtype : float dtype, default float32

    Attributes
    ----------
    weight : Parameter, shape (out_channels, in_channels, {kernel})
        torch's layout and initialisation: uniform on [-1/sqrt(fan_in),
        1/sqrt(fan_in)] with fan_in = in_channels * {fan_in}.
    bias : Parameter of shape (out_channels,), or None
        Uniform on the same interval, as in torch.

    Raises
    ------
    TypeError, ValueError
        A bad argument (named); in forward, an input that is not {layout}
        with `in_channels` channels or is smaller than the kernel.  Nothing
        is changed then.

    Notes
    -----
    Forward keeps the im2col matrix, shape (N, in_channels * {fan_in},
    output positions), for the weight gradient; the input gradient adds
    the windows back with one strided slice per kernel offset.

    Examples
    --------
    >>> import numpy as np
    >>> from fastdrop import graph
    >>> conv = graph.{cls}(3, 8, kernel_size=3, padding=1, rng=0)
    >>> conv(np.ones({example}, np.float32)).shape
    {result}
    """


class Conv1d(_ConvNd):
    spatial_dims = 1
    layout = "(N, C, L)"
    __doc__ = _DOC.format(dims=1, cls="Conv1d", layout=layout, kernel="kernel_size", fan_in="kernel_size",
                          example="(2, 3, 10)", result="(2, 8, 10)")


class Conv2d(_ConvNd):
    spatial_dims = 2
    layout = "(N, C, H, W)"
    __doc__ = _DOC.format(dims=2, cls="Conv2d", layout=layout, kernel="kH, kW", fan_in="kH * kW",
                          example="(2, 3, 5, 6)", result="(2, 8, 5, 6)")

"""Pooling and reshaping: max pooling over non-overlapping windows, global
average pooling, and flattening for the dense layers after a convolution."""
from __future__ import annotations

import math
from typing import Any, Optional, Tuple

import numpy as np

from .._layer import Layer
from .._validation import check_bool, check_float_array, check_grad_shape
from .layers import check_input_shape, check_sizes

__all__ = ["MaxPool2d", "GlobalAvgPool", "Flatten"]


class MaxPool2d(Layer):
    """Maximum over non-overlapping ``kH x kW`` windows of (N, C, H, W) inputs.

    The stride is the kernel size and there is no padding (torch's
    ``nn.MaxPool2d(kernel_size)``); rows and columns that do not fill a
    whole window are left out (floor mode), so the output is
    (N, C, H // kH, W // kW).

    Parameters
    ----------
    kernel_size : int or (int, int) >= 1

    Raises
    ------
    TypeError, ValueError
        A bad `kernel_size`; in forward, an input that is not 4-dimensional
        or smaller than one window.

    Notes
    -----
    Forward keeps the position of each window's maximum (the first one on
    ties, as ``numpy.argmax``); backward sends each output gradient there
    and zero elsewhere.

    Examples
    --------
    >>> import numpy as np
    >>> from fastdrop import graph
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> graph.MaxPool2d(2)(x)[0, 0]
    array([[ 5.,  7.],
           [13., 15.]])
    """

    fresh_output = True
    fresh_grad = True

    def __init__(self, kernel_size: Any) -> None:
        self.kernel_size = check_sizes(kernel_size, "kernel_size", 2, low=1)
        self._argmax: Optional[np.ndarray] = None
        self._shape: Tuple[int, ...] = ()

    def _windows(self, x: np.ndarray) -> np.ndarray:
        """(N, C, H // kH, W // kW, kH * kW): each window's elements on the last axis."""
        n, c, h, w = x.shape
        kh, kw = self.kernel_size
        ho, wo = h // kh, w // kw
        blocks = x[:, :, :ho * kh, :wo * kw].reshape(n, c, ho, kh, wo, kw)
        return blocks.transpose(0, 1, 2, 4, 3, 5).reshape(n, c, ho, wo, kh * kw)

    def forward(self, x: Any) -> np.ndarray:
        x = check_input_shape(x, 4, "(N, C, H, W)")
        if x.shape[2] < self.kernel_size[0] or x.shape[3] < self.kernel_size[1]:
            raise ValueError(f"x's spatial size {x.shape[2:]} is smaller than the kernel {self.kernel_size}")
        windows = self._windows(x)
        argmax = windows.argmax(axis=-1)
        self._argmax, self._shape = argmax, x.shape
        return np.take_along_axis(windows, argmax[..., None], axis=-1)[..., 0]

    def backward(self, dy: Any) -> np.ndarray:
        if self._argmax is None:
            raise RuntimeError("MaxPool2d.backward called before forward")
        dy = check_grad_shape(dy, self._argmax.shape)
        n, c, ho, wo = dy.shape
        kh, kw = self.kernel_size
        dwindows = np.zeros(dy.shape + (kh * kw,), dtype=dy.dtype)
        np.put_along_axis(dwindows, self._argmax[..., None], dy[..., None], axis=-1)
        dx = np.zeros(self._shape, dtype=dy.dtype)
        dx[:, :, :ho * kh, :wo * kw] = (dwindows.reshape(n, c, ho, wo, kh, kw).transpose(0, 1, 2, 4, 3, 5)
                                        .reshape(n, c, ho * kh, wo * kw))
        return dx

    def __repr__(self) -> str:
        return f"MaxPool2d(kernel_size={self.kernel_size})"


class GlobalAvgPool(Layer):
    """Mean over every spatial axis: (N, C, ...) -> (N, C).

    Parameters
    ----------
    channels_last : bool, default False
        The input is (N, ..., C) instead: the mean runs over the axes
        between the first and the last, so (N, T, D) token features of an
        attention layer become (N, D).

    Raises
    ------
    TypeError
        `channels_last` is not a bool.
    ValueError
        In forward, an input with fewer than 3 dimensions.

    Examples
    --------
    >>> import numpy as np
    >>> from fastdrop import graph
    >>> graph.GlobalAvgPool()(np.ones((2, 3, 4, 4), np.float32)).shape
    (2, 3)
    """

    fresh_output = True
    fresh_grad = True

    def __init__(self, channels_last: bool = False) -> None:
        self.channels_last = check_bool(channels_last, "channels_last")
        self._shape: Optional[Tuple[int, ...]] = None

    def _axes(self, ndim: int) -> Tuple[int, ...]:
        return tuple(range(1, ndim - 1)) if self.channels_last else tuple(range(2, ndim))

    def forward(self, x: Any) -> np.ndarray:
        x = check_float_array(x)
        if x.ndim < 3:
            layout = "(N, ..., C)" if self.channels_last else "(N, C, ...)"
            raise ValueError(f"x must have shape {layout} with at least one spatial axis, got shape {x.shape}")
        self._shape = x.shape
        return x.mean(axis=self._axes(x.ndim))

    def backward(self, dy: Any) -> np.ndarray:
        if self._shape is None:
            raise RuntimeError("GlobalAvgPool.backward called before forward")
        shape = self._shape
        axes = self._axes(len(shape))
        dy = check_grad_shape(dy, tuple(s for i, s in enumerate(shape) if i not in axes))
        count = math.prod(shape[i] for i in axes)
        dy = np.expand_dims(dy, axes) / dy.dtype.type(count)
        return np.array(np.broadcast_to(dy, shape))

    def __repr__(self) -> str:
        return f"GlobalAvgPool(channels_last={self.channels_last})"


class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1 * d2 * ...), in C order (torch's ``nn.Flatten()``).

    The output is a view of the input where NumPy can make one; a dropout
    layer right after may then work in place only if the input itself was
    a fresh array, which is what ``fresh_output`` reports.

    Examples
    --------
    >>> import numpy as np
    >>> from fastdrop import graph
    >>> graph.Flatten()(np.ones((2, 3, 4, 4), np.float32)).shape
    (2, 48)
    """

    def __init__(self) -> None:
        self._shape: Optional[Tuple[int, ...]] = None

    @property
    def fresh_output(self) -> bool:  # type: ignore[override]
        return self.overwrite_input

    def forward(self, x: Any) -> np.ndarray:
        x = check_float_array(x)
        if x.ndim < 1:
            raise ValueError(f"x must have a batch axis (at least 1 dimension), got shape {x.shape}")
        self._shape = x.shape
        return x.reshape(x.shape[0], math.prod(x.shape[1:]))

    def backward(self, dy: Any) -> np.ndarray:
        if self._shape is None:
            raise RuntimeError("Flatten.backward called before forward")
        dy = check_grad_shape(dy, (self._shape[0], math.prod(self._shape[1:])))
        return dy.reshape(self._shape)

    def __repr__(self) -> str:
        return "Flatten()"

"""Normalization layers: layer normalization over the features of each
sample, and batch normalization over the batch with running statistics."""
from __future__ import annotations

from typing import Any, List, Optional, Tuple

import numpy as np

from .._layer import Layer, Parameter
from .._validation import check_float_array, check_grad_shape, check_int, check_real
from .layers import check_float_dtype

__all__ = ["LayerNorm", "BatchNorm"]


def _normalize_backward(dy: np.ndarray, xhat: np.ndarray, inv_std: np.ndarray, gamma: np.ndarray,
                        axes: Tuple[int, ...]) -> np.ndarray:
    """dL/dx of ``xhat * gamma + beta``, xhat = (x - mean) * inv_std with mean and
    variance taken over `axes`: the projection that removes the gradient's
    mean and its component along xhat."""
    dxhat = dy * gamma
    mean_dxhat = dxhat.mean(axis=axes, keepdims=True)
    mean_dxhat_xhat = (dxhat * xhat).mean(axis=axes, keepdims=True)
    return inv_std * (dxhat - mean_dxhat - xhat * mean_dxhat_xhat)


class LayerNorm(Layer):
    """Normalize the last axis of each sample to mean 0 and variance 1, then scale and shift.

    ``y = (x - mean) / sqrt(var + eps) * weight + bias``, mean and (biased)
    variance over the last axis, as torch's ``nn.LayerNorm(dim)``.

    Parameters
    ----------
    dim : int >= 1
        Size of the last axis.
    eps : float > 0, default 1e-5
    dtype : float dtype, default float32

    Attributes
    ----------
    weight : Parameter, shape (dim,)
        Ones at first (torch's initialisation).
    bias : Parameter, shape (dim,)
        Zeros at first.

    Raises
    ------
    TypeError, ValueError
        A bad argument (named); in forward, an input whose last axis is not `dim`.

    Examples
    --------
    >>> import numpy as np
    >>> from fastdrop import graph
    >>> y = graph.LayerNorm(4)(np.array([[1.0, 2.0, 3.0, 4.0]]))
    >>> bool(abs(y.mean()) < 1e-12), round(float(y.std()), 4)
    (True, 1.0)
    """

    fresh_output = True
    fresh_grad = True

    def __init__(self, dim: int, eps: float = 1e-5, dtype: Any = np.float32) -> None:
        self.dim = check_int(dim, "dim", low=1)
        self.eps = check_real(eps, "eps", 0.0, low_open=True)
        dtype = check_float_dtype(dtype)
        self.weight = Parameter(np.ones(self.dim, dtype))
        self.bias = Parameter(np.zeros(self.dim, dtype))
        self._xhat: Optional[np.ndarray] = None
        self._inv_std: Optional[np.ndarray] = None

    def parameters(self) -> List[Parameter]:
        return [self.weight, self.bias]

    def forward(self, x: Any) -> np.ndarray:
        x = check_float_array(x)
        if x.ndim < 1 or x.shape[-1] != self.dim:
            raise ValueError(f"x must have last dimension {self.dim}, got shape {x.shape}")
        mean = x.mean(axis=-1, keepdims=True)
        centered = x - mean
        inv_std = 1.0 / np.sqrt((centered * centered).mean(axis=-1, keepdims=True) + self.eps)
        xhat = centered * inv_std
        self._xhat, self._inv_std = xhat, inv_std
        return xhat * self.weight.data + self.bias.data

    def backward(self, dy: Any) -> np.ndarray:
        if self._xhat is None or self._inv_std is None:
            raise RuntimeError("LayerNorm.backward called before forward")
        dy = check_grad_shape(dy, self._xhat.shape)
        leading = tuple(range(dy.ndim - 1))
        self.weight.grad += (dy * self._xhat).sum(axis=leading)
        self.bias.grad += dy.sum(axis=leading)
        return _normalize_backward(dy, self._xhat, self._inv_std, self.weight.data, (-1,))

    def __repr__(self) -> str:
        return f"LayerNorm({self.dim}, eps={self.eps})"


class BatchNorm(Layer):
    """Batch normalization (Ioffe & Szegedy, ICML 2015) of (N, C) or (N, C, ...) inputs.

    In training each channel is normalized with the mean and (biased)
    variance of the batch over every axis but the channel axis 1, and the
    running statistics move towards them:
    ``running = (1 - momentum) * running + momentum * batch_statistic``,
    with the unbiased variance, as torch's ``nn.BatchNorm1d/2d/3d``.  In
    evaluation the running statistics are used instead.

    Parameters
    ----------
    num_features : int >= 1
        Number of channels C.
    eps : float > 0, default 1e-5
    momentum : float in [0, 1], default 0.1
    dtype : float dtype, default float32

    Attributes
    ----------
    weight, bias : Parameter, shape (num_features,)
        Ones and zeros at first (torch's initialisation).
    running_mean, running_var : ndarray, shape (num_features,)
        Zeros and ones at first; updated in place in training.  They are
        not trainable: :meth:`buffers` returns them, and
        :func:`fastdrop.graph.save` / :func:`~fastdrop.graph.load` carry
        them along with the parameters.

    Raises
    ------
    TypeError, ValueError
        A bad argument (named); in forward, an input without `num_features`
        channels on axis 1, or with a single value per channel in training
        (its variance is undefined).  Nothing is changed then.

    Examples
    --------
    >>> import numpy as np
    >>> from fastdrop import graph
    >>> bn = graph.BatchNorm(3)
    >>> y = bn(np.random.default_rng(0).normal(5.0, 2.0, (64, 3, 4, 4)))
    >>> bool(np.allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-6))
    True
    >>> bn.running_mean.round(1)
    array([0.5, 0.5, 0.5], dtype=float32)
    """

    fresh_output = True
    fresh_grad = True

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1,
                 dtype: Any = np.float32) -> None:
        self.num_features = check_int(num_features, "num_features", low=1)
        self.eps = check_real(eps, "eps", 0.0, low_open=True)
        self.momentum = check_real(momentum, "momentum", 0.0, 1.0)
        dtype = check_float_dtype(dtype)
        self.weight = Parameter(np.ones(self.num_features, dtype))
        self.bias = Parameter(np.zeros(self.num_features, dtype))
        self.running_mean = np.zeros(self.num_features, dtype)
        self.running_var = np.ones(self.num_features, dtype)
        self._xhat: Optional[np.ndarray] = None
        self._inv_std: Optional[np.ndarray] = None
        self._batch_stats = False

    def parameters(self) -> List[Parameter]:
        return [self.weight, self.bias]

    def buffers(self) -> List[np.ndarray]:
        """The running statistics, ``[running_mean, running_var]``: state that is saved but not trained."""
        return [self.running_mean, self.running_var]

    def _channel_shape(self, ndim: int) -> Tuple[int, ...]:
        return (1, self.num_features) + (1,) * (ndim - 2)

    def forward(self, x: Any) -> np.ndarray:
        x = check_float_array(x)
        if x.ndim < 2 or x.shape[1] != self.num_features:
            raise ValueError(f"x must have shape (N, {self.num_features}) or (N, {self.num_features}, ...), "
                             f"got shape {x.shape}")
        axes = (0,) + tuple(range(2, x.ndim))
        shape = self._channel_shape(x.ndim)
        count = x.size // self.num_features
        if self.training:
            if count < 2:
                raise ValueError(f"x must have more than one value per channel in training, got shape {x.shape}")
            mean = x.mean(axis=axes, keepdims=True)
            centered = x - mean
            var = (centered * centered).mean(axis=axes, keepdims=True)
            self.running_mean *= 1 - self.momentum
            self.running_mean += self.momentum * mean.reshape(-1)
            self.running_var *= 1 - self.momentum
            self.running_var += (self.momentum * count / (count - 1)) * var.reshape(-1)
        else:
            centered = x - self.running_mean.reshape(shape)
            var = self.running_var.reshape(shape)
        inv_std = 1.0 / np.sqrt(var + self.eps)
        xhat = centered * inv_std
        self._xhat, self._inv_std, self._batch_stats = xhat, inv_std, self.training
        return xhat * self.weight.data.reshape(shape) + self.bias.data.reshape(shape)

    def backward(self, dy: Any) -> np.ndarray:
        if self._xhat is None or self._inv_std is None:
            raise RuntimeError("BatchNorm.backward called before forward")
        dy = check_grad_shape(dy, self._xhat.shape)
        axes = (0,) + tuple(range(2, dy.ndim))
        shape = self._channel_shape(dy.ndim)
        self.weight.grad += (dy * self._xhat).sum(axis=axes)
        self.bias.grad += dy.sum(axis=axes)
        gamma = self.weight.data.reshape(shape)
        if not self._batch_stats:
            # evaluation: a fixed affine map per channel
            return dy * (gamma * self._inv_std)
        return _normalize_backward(dy, self._xhat, self._inv_std, gamma, axes)

    def __repr__(self) -> str:
        return f"BatchNorm({self.num_features}, eps={self.eps}, momentum={self.momentum})"

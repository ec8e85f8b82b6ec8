"""Optimizers: plain SGD with momentum, and Adam with decoupled weight decay."""
from __future__ import annotations

import math
from typing import Iterable, List, Optional, Sequence

import numpy as np

from .._layer import Layer, Parameter
from .._validation import check_real

__all__ = ["SGD", "Adam"]


class _Optimizer:
    def __init__(self, params: Iterable[Parameter], lr: float) -> None:
        if isinstance(params, (Parameter, Layer)) or not hasattr(params, "__iter__"):
            raise TypeError("params must be an iterable of Parameter objects, e.g. model.parameters()")
        params = list(params)
        for i, param in enumerate(params):
            if not isinstance(param, Parameter):
                raise TypeError(f"params[{i}] must be a Parameter, got {type(param).__name__}")
        if not params:
            raise ValueError("params must not be empty")
        self.params: List[Parameter] = params
        self.lr = check_real(lr, "lr", 0.0, low_open=True)

    def zero_grad(self) -> None:
        """Zero the gradient of every parameter."""
        for param in self.params:
            param.zero_grad()


class SGD(_Optimizer):
    """Stochastic gradient descent with optional momentum and L2 weight decay.

    Parameters
    ----------
    params : iterable of Parameter
    lr : float > 0
    momentum : float in [0, 1), default 0
        Velocity ``v = momentum * v + g``; step ``-lr * v``.
    weight_decay : float >= 0, default 0
        Adds ``weight_decay * w`` to the gradient.
    """

    def __init__(self, params: Iterable[Parameter], lr: float, momentum: float = 0.0,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        self.momentum = check_real(momentum, "momentum", 0.0, 1.0, high_open=True)
        self.weight_decay = check_real(weight_decay, "weight_decay", 0.0)
        self.velocity: Optional[List[np.ndarray]] = (
            [np.zeros_like(p.data) for p in self.params] if self.momentum else None)

    def step(self) -> None:
        """Update every parameter from its gradient."""
        for i, param in enumerate(self.params):
            grad = param.grad
            if self.weight_decay:
                grad = grad + self.weight_decay * param.data
            if self.velocity is not None:
                velocity = self.velocity[i]
                velocity *= self.momentum
                velocity += grad
                grad = velocity
            param.data -= self.lr * grad


class Adam(_Optimizer):
    """Adam (Kingma & Ba, 2015) with decoupled weight decay (AdamW; Loshchilov & Hutter, 2019).

    Parameters
    ----------
    params : iterable of Parameter
    lr : float > 0, default 1e-3
    betas : (float, float) in [0, 1), default (0.9, 0.999)
        Decay rates of the first and second moment estimates.
    eps : float > 0, default 1e-8
    weight_decay : float >= 0, default 0
        Each step multiplies the weights by ``1 - lr * weight_decay``,
        separately from the gradient step.
    """

    def __init__(self, params: Iterable[Parameter], lr: float = 1e-3, betas: Sequence[float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"betas must be a pair of floats, got {betas!r}")
        self.betas = tuple(check_real(b, f"betas[{i}]", 0.0, 1.0, high_open=True) for i, b in enumerate(betas))
        self.eps = check_real(eps, "eps", 0.0, low_open=True)
        self.weight_decay = check_real(weight_decay, "weight_decay", 0.0)
        self.m = [np.zeros_like(p.data) for p in self.params]
        self.v = [np.zeros_like(p.data) for p in self.params]
        self.t = 0

    def step(self) -> None:
        """Update every parameter from its gradient."""
        self.t += 1
        beta1, beta2 = self.betas
        step_size = self.lr * math.sqrt(1 - beta2 ** self.t) / (1 - beta1 ** self.t)
        eps_hat = self.eps * math.sqrt(1 - beta2 ** self.t)
        for param, m, v in zip(self.params, self.m, self.v):
            grad = param.grad
            m *= beta1
            m += (1 - beta1) * grad
            v *= beta2
            v += (1 - beta2) * (grad * grad)
            if self.weight_decay:
                param.data *= 1 - self.lr * self.weight_decay
            param.data -= step_size * m / (np.sqrt(v) + eps_hat)

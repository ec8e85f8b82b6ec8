"""Parameters, the layer base class and the variant base class.

A leaf module: the graph's layers, the core's :class:`Dropout` and every
plugin's variants derive from these, and the registry checks variants
against :class:`Variant`, without importing one another.
"""
from __future__ import annotations

from typing import Any, ClassVar, List, Optional

import numpy as np
import numpy.typing as npt

from ._validation import check_bool

__all__ = ["Parameter", "Layer", "Variant"]


class Parameter:
    """A trainable array and its gradient.

    Parameters
    ----------
    data : array_like
        The initial value (kept as an ndarray, not copied if it is one).

    Attributes
    ----------
    data : ndarray
        The value; optimizers update it in place.
    grad : ndarray
        Same shape and dtype, zero until a backward pass adds into it.
    """

    def __init__(self, data: npt.ArrayLike) -> None:
        self.data: np.ndarray = np.asarray(data)
        self.grad: np.ndarray = np.zeros_like(self.data)

    def zero_grad(self) -> None:
        """Set the gradient to zero, in place."""
        self.grad[...] = 0

    def __repr__(self) -> str:
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


class Layer:
    """Base of every layer: forward(x), backward(dy), parameters(), train()/eval().

    ``forward`` keeps what ``backward`` needs; ``backward(dy)`` adds the
    parameter gradients into each ``Parameter.grad`` and returns dL/dx.

    Attributes
    ----------
    training : bool
        Training (True, the default) or evaluation mode.
    fresh_output, fresh_grad : bool
        Class facts: True when forward (backward) returns a new array that
        the layer keeps no reference to, so the next layer may overwrite it.
    overwrite_input, overwrite_grad : bool
        Set by containers: True when this layer may write into the array
        forward (backward) receives.  Only layers that gain from working in
        place read them (e.g. :class:`fastdrop.graph.Dropout`).
    """

    training: bool = True
    fresh_output: bool = False
    fresh_grad: bool = False
    overwrite_input: bool = False
    overwrite_grad: bool = False

    def forward(self, x: Any) -> Any:
        """The layer's output for input `x` (keeps what backward needs)."""
        raise NotImplementedError

    def backward(self, dy: Any) -> Any:
        """dL/dx from dL/dy; adds into the parameters' gradients."""
        raise NotImplementedError

    def __call__(self, x: Any) -> Any:
        return self.forward(x)

    def children(self) -> List["Layer"]:
        """Sub-layers, for containers."""
        return []

    def modules(self) -> List["Layer"]:
        """This layer and every layer below it, depth first."""
        found = [self]
        for child in self.children():
            found.extend(child.modules())
        return found

    def parameters(self) -> List[Parameter]:
        """Every trainable parameter of this layer and its sub-layers, in order."""
        params: List[Parameter] = []
        for child in self.children():
            params.extend(child.parameters())
        return params

    def zero_grad(self) -> None:
        """Zero the gradient of every parameter."""
        for param in self.parameters():
            param.zero_grad()

    def train(self, mode: bool = True) -> "Layer":
        """Switch this layer and every sub-layer to training (mode=True) or evaluation."""
        self.training = check_bool(mode, "mode")
        for child in self.children():
            child.train(mode)
        return self

    def eval(self) -> "Layer":
        """Switch to evaluation mode (``train(False)``)."""
        return self.train(False)


class Variant(Layer):
    """Base of every dropout variant plugin.

    Subclasses set ``name`` (unique registry name) and ``description`` (one
    line), override ``forward`` and ``backward``, and must be constructible
    with no arguments.
    """

    name: ClassVar[Optional[str]] = None
    description: ClassVar[str] = ""

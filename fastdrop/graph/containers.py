"""Containers: layers in sequence, and a skip connection around a block."""
from __future__ import annotations

from typing import Any, List, Optional, Sequence

import numpy as np

from .._layer import Layer
from .._random import Generator
from .._shared import layer as registered_layer
from .._validation import check_float_array, check_generator, check_real

__all__ = ["Sequential", "Residual", "check_layer"]


def check_layer(value: Any, name: str) -> Layer:
    """A fastdrop.graph.Layer; TypeError naming `name` otherwise."""
    if not isinstance(value, Layer):
        raise TypeError(f"{name} must be a fastdrop.graph.Layer, got {type(value).__name__}")
    return value


class Sequential(Layer):
    """Layers applied one after the other; backward runs them in reverse.

    Parameters
    ----------
    layers : list of Layer

    Notes
    -----
    A layer that follows one with a fresh output is allowed to overwrite its
    input (``overwrite_input``), and a layer that precedes one with a fresh
    gradient its incoming gradient (``overwrite_grad``): that is what lets
    Dropout work in place without copying.
    """

    def __init__(self, layers: Sequence[Layer]) -> None:
        if isinstance(layers, Layer) or not isinstance(layers, (list, tuple)):
            raise TypeError(f"layers must be a list of Layer objects, got {type(layers).__name__}")
        for i, item in enumerate(layers):
            check_layer(item, f"layers[{i}]")
        self.layers: List[Layer] = list(layers)
        for before, item in zip(self.layers, self.layers[1:]):
            item.overwrite_input = before.fresh_output
            before.overwrite_grad = item.fresh_grad

    @property
    def fresh_output(self) -> bool:  # type: ignore[override]
        return bool(self.layers) and self.layers[-1].fresh_output

    @property
    def fresh_grad(self) -> bool:  # type: ignore[override]
        return bool(self.layers) and self.layers[0].fresh_grad

    def children(self) -> List[Layer]:
        return list(self.layers)

    def forward(self, x: Any) -> Any:
        for item in self.layers:
            x = item.forward(x)
        return x

    def backward(self, dy: Any) -> Any:
        for item in reversed(self.layers):
            dy = item.backward(dy)
        return dy

    def __getitem__(self, i: int) -> Layer:
        return self.layers[i]

    def __len__(self) -> int:
        return len(self.layers)

    def __repr__(self) -> str:
        inner = ",\n".join("  " + repr(item).replace("\n", "\n  ") for item in self.layers)
        return f"Sequential([\n{inner}\n])"


class Residual(Layer):
    """``y = x + drop(block(x))``: a skip connection around `block`.

    Parameters
    ----------
    block : Layer
        Must return an array of the input's shape.
    drop : Layer, optional
        A layer on the branch, after the block, typically
        ``fd.layer("droppath", p=0.1)`` (whole samples of the branch
        dropped; Huang et al., "Deep Networks with Stochastic Depth", 2016).
    drop_path : float in [0, 1), default 0.0
        Shorthand: if positive and `drop` is not given, the branch gets the
        registered ``"droppath"`` variant with this probability.
    generator : fastdrop.Generator, optional
        Passed to the layer `drop_path` builds.

    Examples
    --------
    >>> import numpy as np, fastdrop as fd
    >>> from fastdrop import graph
    >>> block = graph.Sequential([graph.Linear(4, 4, rng=0), graph.ReLU()])
    >>> res = graph.Residual(block, drop=fd.layer("dropout", p=0.1))
    >>> res(np.ones((2, 4), np.float32)).shape
    (2, 4)
    """

    fresh_output = True
    fresh_grad = True

    def __init__(self, block: Layer, drop: Optional[Layer] = None, drop_path: float = 0.0,
                 generator: Optional[Generator] = None) -> None:
        self.block = check_layer(block, "block")
        self.drop_path = check_real(drop_path, "drop_path", 0.0, 1.0, high_open=True)
        check_generator(generator)
        if drop is not None:
            if self.drop_path > 0:
                raise ValueError("give either drop= or drop_path=, not both")
            self.drop: Optional[Layer] = check_layer(drop, "drop")
        elif self.drop_path > 0:
            self.drop = registered_layer("droppath", p=self.drop_path, generator=generator)
        else:
            self.drop = None
        if self.drop is not None:
            self.drop.overwrite_input = block.fresh_output

    @property
    def drop_path_layer(self) -> Optional[Layer]:
        """The branch's drop layer (None without one)."""
        return self.drop

    def children(self) -> List[Layer]:
        return [self.block] if self.drop is None else [self.block, self.drop]

    def forward(self, x: Any) -> np.ndarray:
        x = check_float_array(x)
        h = self.block.forward(x)
        if h.shape != x.shape:
            raise ValueError(f"block must keep the input's shape {x.shape}, but it returned {h.shape}")
        if self.drop is not None:
            h = self.drop.forward(h)
        return x + h

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dh = dy if self.drop is None else self.drop.backward(dy)
        return dy + self.block.backward(dh)

    def __repr__(self) -> str:
        block = repr(self.block).replace("\n", "\n  ")
        return f"Residual({block}, drop={self.drop!r})"

"""Models as data: a list of ``(name, kwargs)`` pairs built into layers."""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Sequence, Tuple, Union, cast

from .._layer import Layer
from .._shared import layer as registered_layer
from .containers import Residual, Sequential
from .attention import SelfAttention
from .conv import Conv1d, Conv2d
from .embedding import Embedding
from .layers import Linear, ReLU, Tanh
from .norm import BatchNorm, LayerNorm
from .pool import Flatten, GlobalAvgPool, MaxPool2d
from .recurrent import GRU

__all__ = ["build", "CORE_LAYERS", "register_core_layer"]

Spec = Sequence[Union[str, Tuple[str, Dict[str, Any]]]]


def _build_sequential(layers: Spec) -> Sequential:
    return build(layers)


def _build_residual(block: Any, **kwargs: Any) -> Residual:
    if isinstance(block, (list, tuple)):
        block = build(block)
    drop = kwargs.pop("drop", None)
    if isinstance(drop, (list, tuple)) and len(drop) == 2 and isinstance(drop[0], str):
        drop = build(cast(Spec, [drop]))[0]
    return Residual(block, drop=drop, **kwargs)


CORE_LAYERS: Dict[str, Callable[..., Layer]] = {
    "linear": Linear,
    "relu": ReLU,
    "tanh": Tanh,
    "sequential": _build_sequential,
    "residual": _build_residual,
    "conv1d": Conv1d,
    "conv2d": Conv2d,
    "maxpool2d": MaxPool2d,
    "globalavgpool": GlobalAvgPool,
    "flatten": Flatten,
    "embedding": Embedding,
    "layernorm": LayerNorm,
    "batchnorm": BatchNorm,
    "selfattention": SelfAttention,
    "gru": GRU,
}


def register_core_layer(name: str, make: Callable[..., Layer]) -> None:
    """Let :func:`build` make graph layer `name` (the graph's own layers only;
    dropout variants come from the plugin registry)."""
    CORE_LAYERS[name] = make


def build(spec: Spec) -> Sequential:
    """A :class:`Sequential` from data: a list of ``(name, kwargs)`` pairs.

    Core layer names ("linear", "relu", "tanh", "sequential" with
    ``layers=[...]``, "residual" with ``block=[...]`` and optionally
    ``drop=(name, kwargs)``, "conv1d", "conv2d", "maxpool2d",
    "globalavgpool", "flatten", "embedding", "layernorm", "batchnorm",
    "selfattention", "gru": the keys of :data:`CORE_LAYERS`) are built here;
    any other name (every dropout variant, "dropout" included) is resolved
    through the plugin registry, :func:`fastdrop.layer`.  A bare name
    stands for ``(name, {})``.

    Examples
    --------
    >>> from fastdrop import graph as G
    >>> G.build([("linear", {"in_features": 4, "out_features": 8}), "relu"])[1]
    ReLU()
    """
    if not isinstance(spec, (list, tuple)):
        raise TypeError(f"spec must be a list of (name, kwargs) pairs, got {type(spec).__name__}")
    entries: List[Tuple[str, Dict[str, Any]]] = []
    for i, item in enumerate(spec):
        if isinstance(item, str):
            item = (item, {})
        if (not isinstance(item, (list, tuple)) or len(item) != 2 or not isinstance(item[0], str)
                or not isinstance(item[1], dict)):
            raise TypeError(f"spec[{i}] must be a (name, kwargs) pair with a str name and a dict, got {item!r}")
        entries.append((item[0], item[1]))
    layers: List[Layer] = []
    for name, kwargs in entries:
        make = CORE_LAYERS.get(name)
        layers.append(make(**kwargs) if make is not None else registered_layer(name, **kwargs))
    return Sequential(layers)

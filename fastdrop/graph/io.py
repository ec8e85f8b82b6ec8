"""Saving and loading a model's parameters."""
from __future__ import annotations

import os
from typing import Any, Dict, Union

import numpy as np

from .._layer import Layer
from .containers import check_layer

__all__ = ["save", "load"]

PathLike = Union[str, "os.PathLike[str]"]


def _check_path(path: Any) -> PathLike:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    return path


def save(model: Layer, path: PathLike) -> None:
    """Write ``model.parameters()`` to an ``.npz`` file, in order, as ``param_0``, ``param_1``, ...

    Every layer's trainable arrays are saved, whatever the layer (running
    statistics that are not parameters, such as batch normalization's, are
    saved by the layer's own ``state`` where it has one).
    """
    check_layer(model, "model")
    path = _check_path(path)
    arrays: Dict[str, Any] = {f"param_{i}": p.data for i, p in enumerate(model.parameters())}
    np.savez(path, **arrays)


def load(model: Layer, path: PathLike) -> Layer:
    """Copy the parameters saved by :func:`save` into `model` (same architecture).

    Raises ValueError, changing nothing, if the file does not match the
    model's parameter count or shapes.
    """
    check_layer(model, "model")
    path = _check_path(path)
    params = model.parameters()
    names = [f"param_{i}" for i in range(len(params))]
    with np.load(path) as saved:
        if sorted(saved.files) != sorted(names):
            raise ValueError(f"path {os.fspath(path)!r} holds {len(saved.files)} arrays, "
                             f"but the model has {len(params)} parameters")
        arrays = [saved[name] for name in names]
    for i, (param, array) in enumerate(zip(params, arrays)):
        if array.shape != param.data.shape:
            raise ValueError(f"parameter {i} in {os.fspath(path)!r} has shape {array.shape}, "
                             f"but the model's has shape {param.data.shape}")
    for param, array in zip(params, arrays):
        np.copyto(param.data, array, casting="same_kind")
    return model

"""Saving and loading a model's parameters and buffers.

A layer's trainable arrays are its ``parameters()``; arrays it updates
without training them (batch normalization's running statistics) are its
*buffers*: a layer that has some defines ``buffers()``, returning its own
arrays (not its children's), which it updates in place.  Both kinds are
saved in model order, so a file loads into any model of the same
architecture.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Union

import numpy as np

from .._layer import Layer
from .containers import check_layer

__all__ = ["save", "load", "buffers"]

PathLike = Union[str, "os.PathLike[str]"]


def _check_path(path: Any) -> PathLike:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    return path


def buffers(model: Layer) -> List[np.ndarray]:
    """Every non-trainable state array of `model` and its sub-layers, in
    ``model.modules()`` order (each layer's ``buffers()``, where it has one)."""
    check_layer(model, "model")
    found: List[np.ndarray] = []
    for layer in model.modules():
        own = getattr(layer, "buffers", None)
        if callable(own):
            found.extend(own())
    return found


def _named_arrays(model: Layer) -> Dict[str, Any]:
    arrays = {f"param_{i}": p.data for i, p in enumerate(model.parameters())}
    arrays.update({f"buffer_{i}": b for i, b in enumerate(buffers(model))})
    return arrays


def save(model: Layer, path: PathLike) -> None:
    """Write the model's parameters and buffers to an ``.npz`` file.

    ``model.parameters()`` are saved in order as ``param_0``, ``param_1``,
    ...; the buffers (:func:`buffers`: running statistics of batch
    normalization) as ``buffer_0``, ``buffer_1``, ...

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> from fastdrop import graph
    >>> model = graph.Sequential([graph.Linear(3, 4, rng=0), graph.BatchNorm(4)])
    >>> _ = model(np.ones((8, 3), np.float32))
    >>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
    >>> graph.save(model, path)
    >>> sorted(np.load(path).files)
    ['buffer_0', 'buffer_1', 'param_0', 'param_1', 'param_2', 'param_3']
    """
    check_layer(model, "model")
    path = _check_path(path)
    np.savez(path, **_named_arrays(model))


def load(model: Layer, path: PathLike) -> Layer:
    """Copy the parameters and buffers saved by :func:`save` into `model` (same architecture).

    Raises ValueError, changing nothing, if the file does not match the
    model's parameter or buffer count or shapes.
    """
    check_layer(model, "model")
    path = _check_path(path)
    targets = _named_arrays(model)
    with np.load(path) as saved:
        if sorted(saved.files) != sorted(targets):
            n_params = len(model.parameters())
            raise ValueError(f"path {os.fspath(path)!r} holds {len(saved.files)} arrays, but the model has "
                             f"{n_params} parameters and {len(targets) - n_params} buffers")
        arrays = {name: saved[name] for name in targets}
    for name, target in targets.items():
        if arrays[name].shape != target.shape:
            kind, i = name.split("_")
            what = "parameter" if kind == "param" else "buffer"
            raise ValueError(f"{what} {i} in {os.fspath(path)!r} has shape {arrays[name].shape}, "
                             f"but the model's has shape {target.shape}")
    for name, target in targets.items():
        np.copyto(target, arrays[name], casting="same_kind")
    return model

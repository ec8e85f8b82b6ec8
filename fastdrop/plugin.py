"""The public API for writing dropout variants as plugins.

Everything a variant plugin needs, in one import: the base classes
(:class:`Variant`, and :class:`BroadcastDropout` for variants whose mask is
drawn over a small shape and broadcast, as spatial, DropPath and locked
dropout are), the argument checks the core itself uses, the
``@hookimpl`` marker, :func:`mask_drawn` for observers, and the registry
types.  The built-in plugins import nothing else from fastdrop's internals.

Examples
--------
>>> import numpy as np, fastdrop as fd
>>> from fastdrop import plugin
>>> class RowDropout(plugin.BroadcastDropout):
...     name, description = "rowdrop_doc", "Drops whole rows (an example)."
...     def mask_shape(self, x):
...         return (x.shape[0], 1)
>>> layer = RowDropout(0.5, generator=fd.Generator(0))
>>> y = layer(np.ones((4, 3), np.float32))
>>> bool(all(len(set(row.tolist())) == 1 for row in y))
True
"""
from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from ._discovery import ENTRY_POINT_GROUP, BrokenPlugin, PluginInfo
from ._dropout import dropout, dropout_backward
from ._handle import DropoutHandle, check_mode
from ._hooks import mask_drawn
from ._layer import Layer, Parameter, Variant
from ._plugin_checks import DuplicateVariantError, InvalidVariantError, PluginError, PluginWarning
from ._random import Generator
from ._registry import Registry, VariantInfo
from ._shared import current_registry, registry_context
from ._validation import (check_bool, check_float_array, check_generator, check_grad_shape, check_int, check_mask_shape,
                          check_p, check_p_below_one, check_real, check_shape, compute_dtype, float_dtypes,
                          is_float_dtype)
from .hookspecs import hookimpl

__all__ = [
    # base classes
    "Variant", "Layer", "Parameter", "DropProbability", "BroadcastDropout", "DropoutHandle",
    # hooks
    "hookimpl", "mask_drawn",
    # argument checks
    "check_p", "check_p_below_one", "check_bool", "check_int", "check_real", "check_shape",
    "check_float_array", "check_grad_shape", "check_generator", "check_mask_shape", "check_mode",
    "compute_dtype", "float_dtypes", "is_float_dtype",
    # the registry
    "Registry", "VariantInfo", "PluginInfo", "BrokenPlugin", "PluginWarning", "PluginError",
    "DuplicateVariantError", "InvalidVariantError", "current_registry", "registry_context",
    "ENTRY_POINT_GROUP",
]


class DropProbability:
    """Mixin: a drop probability `p` validated on every assignment, and the
    generator the variant draws from.

    ``check_probability`` is the validator (:func:`check_p` by default;
    variants whose rescaling is undefined at p = 1 use
    :func:`check_p_below_one`).
    """

    check_probability = staticmethod(check_p)
    generator: Optional[Generator]
    handle: Any

    def _init_draws(self, p: float, generator: Optional[Generator]) -> None:
        self.p = p
        self.generator = check_generator(generator)
        self.handle = None

    @property
    def p(self) -> float:
        """Drop probability, validated on assignment."""
        return self._p

    @p.setter
    def p(self, value: float) -> None:
        self._p = self.check_probability(value)


class BroadcastDropout(DropProbability, Variant):
    """Inverted dropout whose keep decisions are drawn over a smaller shape.

    Subclasses define :meth:`mask_shape`: the shape (broadcastable to the
    input) over which one keep decision per cell is drawn with the core
    kernel; NumPy broadcasting applies it.  Kept cells are scaled by
    ``1 / (1 - p)`` (or not at all with ``scale_by_keep = False``);
    evaluation is the identity.  Backward regenerates the mask from the
    stored :class:`fastdrop.DropoutHandle` (no mask is kept).

    Parameters
    ----------
    p : float in [0, 1], default 0.5
        Probability that a cell of the mask is dropped.
    generator : fastdrop.Generator, optional
        Default: :func:`fastdrop.default_generator` at call time.

    Attributes
    ----------
    handle : fastdrop.DropoutHandle or None
        The last training draw (None after an evaluation call or p = 0).
    scale_by_keep : bool
        Class or instance setting: True (the default) scales kept cells by
        1 / (1 - p); False keeps them as they are (the handle's mode is
        then 'standard').
    """

    scale_by_keep: bool = True

    def __init__(self, p: float = 0.5, *, generator: Optional[Generator] = None) -> None:
        self._init_draws(p, generator)
        self._shape: Optional[Tuple[int, ...]] = None

    def mask_shape(self, x: np.ndarray) -> Tuple[int, ...]:
        """The shape over which keep decisions are drawn for input `x`."""
        raise NotImplementedError

    def forward(self, x: Any) -> np.ndarray:
        x = check_float_array(x)
        mask_shape = self.mask_shape(x)
        if not self.training or self._p == 0.0:
            self.handle, self._shape = None, x.shape
            return x
        mode = "inverted" if self.scale_by_keep else "standard"
        y, handle = dropout(x, self._p, mode=mode, mask_shape=mask_shape, inplace=self.overwrite_input,
                            generator=self.generator, return_handle=True)
        self.handle, self._shape = handle, x.shape
        mask_drawn(self, handle)
        return y

    def backward(self, dy: Any) -> np.ndarray:
        if self._shape is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        dy = check_grad_shape(dy, self._shape)
        if self.handle is None:
            return dy
        return dropout_backward(dy, self.handle, inplace=self.overwrite_grad)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(p={self._p})"

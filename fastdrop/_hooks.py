"""The relay of the training hook ``fastdrop_mask_drawn``.

Variants call :func:`mask_drawn` after each draw.  The relay knows nothing
of plugins itself: the registry connects a source of observers at import
(:func:`connect`), so this module sits below the registry and the layers
that draw masks, and no import runs upward.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

__all__ = ["mask_drawn", "connect"]

_source: Optional[Callable[[], Any]] = None


def connect(source: Callable[[], Any]) -> None:
    """Take observers from ``source()``: an object with ``observers`` (a
    tuple, or None before the entry points are loaded),
    ``load_entry_points()`` and ``notify(layer, handle)``."""
    global _source
    _source = source


def mask_drawn(layer: Any, handle: Any) -> None:
    """Tell the ``fastdrop_mask_drawn`` observers that `layer` drew a mask.

    Every variant calls this after each draw in training.  Without
    observers it returns after one attribute test.  An observer that raises
    is reported with a :class:`fastdrop.PluginWarning`; training goes on.
    """
    if _source is None:
        return
    registry = _source()
    if registry.observers is None:
        registry.load_entry_points()
    if registry.observers:
        registry.notify(layer, handle)

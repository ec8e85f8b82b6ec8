"""The shared registry: the one behind :func:`fastdrop.variants`,
:func:`fastdrop.layer`, :func:`fastdrop.register` and the
``fastdrop_mask_drawn`` observers, created (with the entry-point plugins)
at first use, and the module-level functions that use it."""
from __future__ import annotations

import contextlib
import threading
from typing import Any, Dict, Iterator, Optional, Type, TypeVar

from . import _hooks
from ._layer import Variant
from ._registry import Registry

__all__ = ["variants", "layer", "register", "unregister", "current_registry", "registry_context"]

_shared: Optional[Registry] = None
_Plugin = TypeVar("_Plugin")   # register() returns its argument, so it can decorate a class
_shared_lock = threading.Lock()


def current_registry() -> Registry:
    """The registry behind :func:`fastdrop.variants`, :func:`fastdrop.layer`,
    :func:`fastdrop.register` and the ``fastdrop_mask_drawn`` observers
    (created, with the entry-point plugins, at first use)."""
    global _shared
    registry = _shared
    if registry is None:
        with _shared_lock:
            if _shared is None:
                _shared = Registry()
            registry = _shared
    return registry


@contextlib.contextmanager
def registry_context(registry: Registry) -> Iterator[Registry]:
    """Use `registry` as the shared registry inside a ``with`` block (for
    tests and applications that want their own set of plugins); the previous
    one comes back on exit.  The switch is process-wide.

    Examples
    --------
    >>> import fastdrop as fd
    >>> from fastdrop.plugin import Registry, registry_context
    >>> with registry_context(Registry(entry_points=False)):
    ...     sorted(fd.variants())
    ['dropout']
    """
    global _shared
    if not isinstance(registry, Registry):
        raise TypeError(f"registry must be a fastdrop.plugin.Registry, got {type(registry).__name__}")
    with _shared_lock:
        previous, _shared = _shared, registry
    try:
        yield registry
    finally:
        with _shared_lock:
            _shared = previous


_hooks.connect(current_registry)


def variants() -> Dict[str, Type[Variant]]:
    """Every registered dropout variant.

    Returns
    -------
    dict
        ``{name: variant class}``, sorted by name; a new dict on each call.

    Raises
    ------
    DuplicateVariantError
        Two plugins claim one name (the message names both).
    InvalidVariantError
        A plugin returned an invalid class (the message names the plugin).

    Notes
    -----
    The first call loads the ``fastdrop`` entry-point plugins.  A plugin
    that fails to import or raises in its hook is skipped with a
    :class:`PluginWarning`.

    Examples
    --------
    >>> import fastdrop as fd
    >>> fd.variants()["dropout"].name
    'dropout'
    """
    return current_registry().variants()


def layer(name: str, **kwargs: Any) -> Variant:
    """Build a registered variant by name.

    Parameters
    ----------
    name : str
        A key of :func:`variants`.
    **kwargs
        Passed to the variant's constructor.

    Returns
    -------
    fastdrop.Variant

    Raises
    ------
    TypeError
        `name` is not a string.
    ValueError
        No variant is registered under `name` (the message lists the names).

    Examples
    --------
    >>> import fastdrop as fd
    >>> fd.layer("dropout", p=0.1).p
    0.1
    """
    return current_registry().layer(name, **kwargs)


def register(obj: _Plugin, name: Optional[str] = None) -> _Plugin:
    """Register a plugin defined in a script or notebook.

    Parameters
    ----------
    obj : module, object or Variant subclass
        An object with ``@fastdrop.hookimpl`` hook functions, or a bare
        :class:`fastdrop.Variant` subclass (then registered as a plugin
        providing that one class).
    name : str, optional
        Plugin name.  Default: the module or class's qualified name.

    Returns
    -------
    obj
        Unchanged, so ``@fd.register`` works as a class decorator.

    Raises
    ------
    PluginError
        The plugin raised in its hook, returned an invalid class
        (:class:`InvalidVariantError`; so does a class that is not a
        Variant), or claims a taken name (:class:`DuplicateVariantError`).
        Nothing is registered then.
    ValueError
        The object (or the name) is already registered.

    Warns
    -----
    PluginWarning
        A ``fastdrop_*`` function of the plugin lacks ``@fastdrop.hookimpl``.

    Examples
    --------
    >>> import fastdrop as fd
    >>> @fd.register
    ... class Halve(fd.Variant):
    ...     name, description = "halve_doc", "Multiplies by 0.5 (an example)."
    ...     def forward(self, x):
    ...         return x * 0.5
    ...     def backward(self, dy):
    ...         return dy * 0.5
    >>> fd.layer("halve_doc")(2.0)
    1.0
    >>> fd.unregister(Halve)
    """
    return current_registry().register(obj, name=name)


def unregister(obj: Any) -> None:
    """Remove a plugin: the object given to :func:`register`, or a plugin name."""
    current_registry().unregister(obj)

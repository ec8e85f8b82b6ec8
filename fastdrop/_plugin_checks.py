"""What a plugin must be: the registry's errors and warnings, and the
checks of plugin objects and of the variant classes they provide."""
from __future__ import annotations

import inspect
import warnings
from typing import Any, List, Type

import pluggy

from ._discovery import PluginInfo
from ._layer import Layer, Variant

__all__ = ["PluginWarning", "PluginError", "DuplicateVariantError", "InvalidVariantError",
           "check_variant_class", "variant_classes", "check_plugin_object", "is_plugin_class", "HOOK_PREFIX"]

HOOK_PREFIX = "fastdrop_"
_MARKER = "fastdrop_impl"   # the attribute pluggy.HookimplMarker("fastdrop") sets


class PluginWarning(UserWarning):
    """A plugin was skipped (failed to import, or raised in a hook), or
    looks like it meant to implement a hook and does not."""


class PluginError(Exception):
    """A plugin breaks the rules of the registry; the message names it."""


class DuplicateVariantError(PluginError, ValueError):
    """Two variant classes claim one name; the message names both plugins."""

    def __init__(self, name: str, first: PluginInfo, second: PluginInfo) -> None:
        super().__init__(f"variant name {name!r} is claimed by two plugins: {first} and {second}; "
                         f"uninstall or unregister one of them")
        self.name = name
        self.plugins = (first.name, second.name)


class InvalidVariantError(PluginError, TypeError):
    """A plugin provides something that is not a valid variant class."""

    def __init__(self, origin: PluginInfo, problem: str) -> None:
        super().__init__(f"plugin {origin}: {problem}")
        self.plugin = origin.name


def _needs_arguments(cls: type) -> bool:
    try:
        inspect.signature(cls).bind()
    except TypeError:
        return True
    except ValueError:   # no signature to inspect (a builtin): cannot tell
        return False
    return False


def check_variant_class(cls: Any, origin: PluginInfo) -> None:
    """Raise InvalidVariantError (naming the plugin) unless `cls` is a usable variant."""
    if not isinstance(cls, type) or not issubclass(cls, Variant):
        raise InvalidVariantError(origin, f"fastdrop_variants() returned {cls!r}, which is not a subclass of "
                                          f"fastdrop.graph.Variant")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name or any(c.isspace() for c in name):
        raise InvalidVariantError(origin, f"variant class {cls.__qualname__} has no valid `name` "
                                          f"(a non-empty string without spaces), got {name!r}")
    for method in ("forward", "backward"):
        impl = getattr(cls, method, None)
        if impl is getattr(Layer, method) or not callable(impl):
            raise InvalidVariantError(origin, f"variant class {cls.__qualname__} ({name!r}) does not "
                                              f"define `{method}`")
    description = getattr(cls, "description", None)
    if not isinstance(description, str) or "\n" in description.strip():
        raise InvalidVariantError(origin, f"variant class {cls.__qualname__} ({name!r}) must have a "
                                          f"one-line string `description`, got {description!r}")
    if _needs_arguments(cls):
        raise InvalidVariantError(origin, f"variant class {cls.__qualname__} ({name!r}) cannot be built "
                                          f"with no arguments; give every constructor argument a default")


def variant_classes(result: Any, origin: PluginInfo) -> List[Type[Variant]]:
    """The classes a fastdrop_variants() implementation returned, validated."""
    if result is None:
        return []
    if not isinstance(result, (list, tuple)):
        raise InvalidVariantError(origin, f"fastdrop_variants() must return a list of variant "
                                          f"classes, got {type(result).__name__}")
    for cls in result:
        check_variant_class(cls, origin)
    return list(result)


def check_plugin_object(pm: pluggy.PluginManager, plugin: Any, info: PluginInfo) -> None:
    """After registration: refuse hook wrappers (PluginError), and warn about
    ``fastdrop_*`` functions that lack ``@fastdrop.hookimpl`` (pluggy
    ignores those silently, so the plugin would contribute nothing)."""
    for caller in pm.get_hookcallers(plugin) or ():
        for impl in caller.get_hookimpls():
            if impl.plugin is plugin and (impl.wrapper or impl.hookwrapper):
                raise PluginError(f"plugin {info}: hook wrappers are not supported "
                                  f"(in {impl.function.__name__})")
    for attr in dir(plugin):
        if not attr.startswith(HOOK_PREFIX):
            continue
        try:
            value = getattr(plugin, attr)
        except Exception:
            continue
        if inspect.isroutine(value) and not hasattr(value, _MARKER):
            warnings.warn(f"fastdrop plugin {info}: {attr}() is not marked with @fastdrop.hookimpl, so "
                          f"it is ignored; decorate it to implement the hook", PluginWarning, stacklevel=5)


def is_plugin_class(obj: Any) -> bool:
    """True for a class whose attributes implement fastdrop hooks (a plugin
    written as a namespace class)."""
    return any(hasattr(getattr(obj, attr, None), _MARKER) for attr in dir(obj) if attr.startswith(HOOK_PREFIX))

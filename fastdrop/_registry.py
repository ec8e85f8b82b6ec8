"""Variant registry: a pluggy plugin manager for the project "fastdrop".

Plugins are found through the entry-point group ``fastdrop`` the first time
the registry is used (not at ``import fastdrop``), or registered at run time
with :func:`register`.  The hooks are specified in :mod:`fastdrop.hookspecs`;
discovery lives in ``_discovery``, the rules a plugin must follow in
``_plugin_checks``, the relay of the training hook in ``_hooks``.

Faults are contained: a plugin that fails to import or raises in its hook is
reported with a :class:`PluginWarning` and skipped; two variants claiming one
name, or a variant class that breaks the rules, is a :class:`PluginError`
naming the plugins involved.
"""
from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Set, Tuple, Type

import pluggy

from . import _builtin, hookspecs
from ._discovery import BrokenPlugin, PluginInfo, installed_entry_points
from ._layer import Variant
from ._plugin_checks import (DuplicateVariantError, InvalidVariantError, PluginError, PluginWarning,
                             check_plugin_object, is_plugin_class, variant_classes)
from ._version import __version__
from .hookspecs import hookimpl

__all__ = ["Registry", "VariantInfo"]

PROJECT = "fastdrop"
BUILTIN_PLUGIN = "builtin"


@dataclass(frozen=True)
class VariantInfo:
    """A registered variant class and the plugin that provides it."""

    cls: Type[Variant]
    plugin: PluginInfo

    @property
    def name(self) -> str:
        return str(self.cls.name)

    @property
    def description(self) -> str:
        return self.cls.description


class _ClassPlugin:
    """The plugin that ``register(SomeVariant)`` creates for a bare class."""

    def __init__(self, cls: Type[Variant]) -> None:
        self.cls = cls

    @hookimpl
    def fastdrop_variants(self) -> List[Type[Variant]]:
        return [self.cls]


def _call_impl(impl: Any, **kwargs: Any) -> Any:
    return impl.function(*(kwargs[arg] for arg in impl.argnames))


Report = Tuple[Dict[str, VariantInfo], List[PluginError], List[BrokenPlugin]]


class Registry:
    """A plugin manager for fastdrop's hooks and the table of variants.

    The module-level functions (:func:`fastdrop.variants`,
    :func:`fastdrop.layer`, :func:`fastdrop.register`, ...) use one shared
    instance (fastdrop/_shared.py); tests and embedding applications may
    build their own and install it with
    :func:`fastdrop.plugin.registry_context`.

    Parameters
    ----------
    entry_points : bool, default True
        Load the plugins of the ``fastdrop`` entry-point group at first use.
        With False only the built-in plugin and plugins registered with
        :meth:`register` are known.

    Examples
    --------
    >>> from fastdrop.plugin import Registry
    >>> sorted(Registry(entry_points=False).variants())
    ['dropout']
    """

    def __init__(self, entry_points: bool = True) -> None:
        self._pm = pluggy.PluginManager(PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self._lock = threading.RLock()
        self._origins: Dict[str, PluginInfo] = {}
        self._class_plugins: Dict[type, _ClassPlugin] = {}
        self._import_broken: List[BrokenPlugin] = []
        self._warned: Set[Tuple[PluginInfo, str, type, str]] = set()
        self._cache: Optional[Report] = None
        self.observers: Optional[Tuple[Any, ...]] = None
        self._entry_points_pending = bool(entry_points)
        self._add(_builtin, PluginInfo(BUILTIN_PLUGIN, "fastdropout", __version__))
        if not entry_points:
            self._refresh_observers()

    @property
    def plugin_manager(self) -> pluggy.PluginManager:
        """The underlying :class:`pluggy.PluginManager` (register through this class)."""
        return self._pm

    # ------------------------------------------------------------ loading

    def load_entry_points(self) -> None:
        """Load the ``fastdrop`` entry-point plugins, once; later calls do nothing."""
        if not self._entry_points_pending:
            return
        with self._lock:
            if not self._entry_points_pending:
                return
            self._entry_points_pending = False
            for ep, info in installed_entry_points():
                self._load_entry_point(ep, info)
            self._changed()

    def _load_entry_point(self, ep: Any, info: PluginInfo) -> None:
        if self._pm.get_plugin(info.name) is not None or self._pm.is_blocked(info.name):
            info = PluginInfo(f"{info.distribution}:{info.name}", info.distribution, info.version)
        try:
            plugin = ep.load()
        except Exception as exc:
            self._skip(BrokenPlugin(info, "import", exc), persistent=True)
            return
        try:
            self._add(plugin, info)
        except Exception as exc:
            self._skip(BrokenPlugin(info, "registration", exc), persistent=True)

    def _add(self, plugin: Any, info: PluginInfo) -> str:
        """Register `plugin` under info.name, or raise having registered nothing."""
        name = self._pm.register(plugin, name=info.name)
        if name is None:
            raise PluginError(f"plugin {info} is blocked")
        try:
            self._pm.check_pending()
            check_plugin_object(self._pm, plugin, info)
        except Exception:
            self._pm.unregister(plugin)
            raise
        self._origins[name] = info
        return name

    def _skip(self, broken: BrokenPlugin, persistent: bool = False) -> None:
        if persistent:
            self._import_broken.append(broken)
        key = (broken.plugin, broken.stage, type(broken.error), str(broken.error))
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(broken.message, PluginWarning, stacklevel=4)

    def _changed(self) -> None:
        self._cache = None
        self._refresh_observers()

    def _refresh_observers(self) -> None:
        self.observers = tuple(self._pm.hook.fastdrop_mask_drawn.get_hookimpls())

    # ------------------------------------------------------------ the table

    def _collect(self) -> Report:
        """(table, problems, hook failures) from every fastdrop_variants() implementation."""
        table: Dict[str, VariantInfo] = {}
        problems: List[PluginError] = []
        failures: List[BrokenPlugin] = []
        for impl in self._pm.hook.fastdrop_variants.get_hookimpls():
            origin = self._origins.get(impl.plugin_name, PluginInfo(impl.plugin_name))
            try:
                result = _call_impl(impl)
            except Exception as exc:
                failures.append(BrokenPlugin(origin, "the fastdrop_variants() hook", exc))
                continue
            try:
                classes = variant_classes(result, origin)
            except InvalidVariantError as exc:
                problems.append(exc)
                continue
            for cls in classes:
                known = table.get(str(cls.name))
                if known is not None:
                    problems.append(DuplicateVariantError(str(cls.name), known.plugin, origin))
                else:
                    table[str(cls.name)] = VariantInfo(cls, origin)
        return dict(sorted(table.items())), problems, failures

    def report(self) -> Report:
        """(variant table, problems, broken plugins), without warnings or raising:
        what ``fastdrop plugins`` prints."""
        table, problems, failures = self._cached()
        return dict(table), list(problems), list(self._import_broken) + list(failures)

    def _cached(self) -> Report:
        self.load_entry_points()
        with self._lock:
            if self._cache is None:
                self._cache = self._collect()
            return self._cache

    def _warn_failures(self, failures: List[BrokenPlugin], exclude: Optional[str] = None) -> None:
        for broken in failures:
            if broken.plugin.name != exclude:
                self._skip(broken)

    def variant_table(self) -> Dict[str, VariantInfo]:
        """{name: VariantInfo} for every registered variant, sorted by name.

        Raises
        ------
        DuplicateVariantError
            Two plugins claim one name.
        InvalidVariantError
            A plugin returned something that is not a valid variant class.
        """
        table, problems, failures = self._cached()
        self._warn_failures(failures)
        if problems:
            raise problems[0]
        return dict(table)

    def variants(self) -> Dict[str, Type[Variant]]:
        """{name: variant class} for every registered variant (a new dict each call)."""
        return {name: info.cls for name, info in self.variant_table().items()}

    def broken(self) -> List[BrokenPlugin]:
        """Every plugin skipped so far, as :class:`BrokenPlugin` records."""
        _, _, failures = self._cached()
        self._warn_failures(failures)
        return list(self._import_broken) + list(failures)

    def layer(self, name: str, **kwargs: Any) -> Variant:
        """Build the variant registered as `name` with keyword arguments `kwargs`."""
        if not isinstance(name, str):
            raise TypeError(f"name must be a string naming a registered variant, got {name!r}")
        table = self.variants()
        cls = table.get(name)
        if cls is None:
            hint = "; some plugins are broken, see `fastdrop plugins`" if self.broken() else ""
            raise ValueError(f"name must be a registered variant, one of {sorted(table)}, "
                             f"got {name!r}{hint}")
        return cls(**kwargs)

    # ------------------------------------------------------------ run-time plugins

    def register(self, obj: Any, name: Optional[str] = None) -> Any:
        """Register a plugin object or module, or a bare Variant subclass.

        Checked at once: a class that is neither a Variant subclass nor a
        namespace of hook implementations, a plugin that raises in its hook,
        returns an invalid class or claims a name already taken is refused
        (unregistered again) and the error raised.  Returns `obj`, so that
        it can be used as a class decorator.
        """
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a string or None, got {name!r}")
        self.load_entry_points()
        with self._lock:
            plugin = obj
            if isinstance(obj, type) and issubclass(obj, Variant):
                if obj in self._class_plugins:
                    raise ValueError(f"obj: variant class {obj.__qualname__} is already registered")
                plugin = _ClassPlugin(obj)
                name = name or f"{obj.__module__}.{obj.__qualname__}"
            elif isinstance(obj, type) and not is_plugin_class(obj):
                raise InvalidVariantError(PluginInfo(name or f"{obj.__module__}.{obj.__qualname__}"),
                                          f"obj: {obj.__qualname__} is not a subclass of fastdrop.graph.Variant "
                                          f"and implements no fastdrop hook")
            info = PluginInfo(name or self._pm.get_canonical_name(obj))
            registered = self._add(plugin, info)
            try:
                self._check_registered(registered)
            except BaseException:
                self._remove(registered)
                raise
            if plugin is not obj:
                self._class_plugins[obj] = plugin
        return obj

    def _check_registered(self, name: str) -> None:
        self._changed()
        _, problems, failures = self._cached()
        for broken in failures:
            if broken.plugin.name == name:
                raise PluginError(f"plugin {broken.plugin} raised in fastdrop_variants(): "
                                  f"{type(broken.error).__name__}: {broken.error}") from broken.error
        for problem in problems:
            if name in getattr(problem, "plugins", (getattr(problem, "plugin", None),)):
                raise problem
        self._warn_failures(failures, exclude=name)

    def unregister(self, obj: Any) -> None:
        """Remove a plugin given as the registered object, bare class, or plugin name."""
        with self._lock:
            name = self._plugin_name(obj)
            self._remove(name)
            for cls, plugin in list(self._class_plugins.items()):
                if self._pm.get_name(plugin) is None:
                    del self._class_plugins[cls]

    def _plugin_name(self, obj: Any) -> str:
        self.load_entry_points()
        if isinstance(obj, str):
            if self._pm.get_plugin(obj) is None:
                raise ValueError(f"obj: no plugin named {obj!r} is registered")
            return obj
        plugin = self._class_plugins.get(obj, obj) if isinstance(obj, type) else obj
        name = self._pm.get_name(plugin)
        if name is None:
            raise ValueError(f"obj: {obj!r} is not a registered plugin")
        return name

    def _remove(self, name: str) -> None:
        self._pm.unregister(name=name)
        self._origins.pop(name, None)
        self._changed()

    # ------------------------------------------------------------ observers

    def notify(self, layer: Any, handle: Any) -> None:
        """Call every fastdrop_mask_drawn implementation; one that raises is warned about."""
        for impl in self.observers or ():
            try:
                _call_impl(impl, layer=layer, handle=handle)
            except Exception as exc:
                origin = self._origins.get(impl.plugin_name, PluginInfo(impl.plugin_name))
                self._skip(BrokenPlugin(origin, "the fastdrop_mask_drawn() hook", exc))

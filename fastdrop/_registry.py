"""Variant registry: a pluggy plugin manager for the project "fastdrop".

Plugins are found through the entry-point group ``fastdrop`` the first time
the registry is used (not at ``import fastdrop``), or registered at run time
with :func:`register`.  The hooks are specified in :mod:`fastdrop.hookspecs`.

Faults are contained: a plugin that fails to import or raises in its hook is
reported with a :class:`PluginWarning` and skipped; two variants claiming one
name, or a variant class that breaks the rules, is a :class:`PluginError`
naming the plugins involved.
"""
import threading
import warnings
from dataclasses import dataclass

import pluggy

from . import hookspecs
from .hookspecs import hookimpl

__all__ = ["hookimpl", "variants", "layer", "register", "unregister", "mask_drawn", "plugins_main",
           "Registry", "PluginInfo", "VariantInfo", "BrokenPlugin", "PluginWarning", "PluginError",
           "DuplicateVariantError", "InvalidVariantError", "ENTRY_POINT_GROUP"]

PROJECT = "fastdrop"
ENTRY_POINT_GROUP = "fastdrop"
BUILTIN_PLUGIN = "builtin"


class PluginWarning(UserWarning):
    """A plugin was skipped (failed to import, or raised in a hook)."""


class PluginError(Exception):
    """A plugin breaks the rules of the registry; the message names it."""


class DuplicateVariantError(PluginError, ValueError):
    """Two variant classes claim one name; the message names both plugins."""

    def __init__(self, name, first, second):
        super().__init__(f"variant name {name!r} is claimed by two plugins: {first} and {second}; "
                         f"uninstall or unregister one of them")
        self.name = name
        self.plugins = (first.name, second.name)


class InvalidVariantError(PluginError, TypeError):
    """A plugin returned something that is not a valid variant class."""

    def __init__(self, origin, problem):
        super().__init__(f"plugin {origin}: {problem}")
        self.plugin = origin.name


@dataclass(frozen=True)
class PluginInfo:
    """Where a plugin comes from: its name (the entry-point name for an
    installed plugin), and its distribution and version (None for a plugin
    registered at run time)."""

    name: str
    distribution: str = None
    version: str = None

    @property
    def source(self):
        """'distribution version', or 'registered at run time'."""
        if self.distribution is None:
            return "registered at run time"
        return f"{self.distribution} {self.version}"

    def __str__(self):
        return f"{self.name!r} ({self.source})"


@dataclass(frozen=True)
class VariantInfo:
    """A registered variant class and the plugin that provides it."""

    cls: type
    plugin: PluginInfo

    @property
    def name(self):
        return self.cls.name

    @property
    def description(self):
        return self.cls.description


@dataclass(frozen=True)
class BrokenPlugin:
    """A plugin that was skipped, the stage at which it failed, and why."""

    plugin: PluginInfo
    stage: str
    error: BaseException

    @property
    def message(self):
        return (f"fastdrop plugin {self.plugin} was skipped: {self.stage} failed with "
                f"{type(self.error).__name__}: {self.error}")


# ---------------------------------------------------------------- validation

def _check_variant_class(cls, origin):
    """Raise InvalidVariantError (naming the plugin) unless `cls` is a usable variant."""
    from .graph import Layer, Variant
    if not isinstance(cls, type) or not issubclass(cls, Variant):
        raise InvalidVariantError(origin, f"fastdrop_variants() returned {cls!r}, which is not a "
                                          f"subclass of fastdrop.graph.Variant")
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


def _variant_classes(result, origin):
    """The classes a fastdrop_variants() implementation returned, validated."""
    if result is None:
        return []
    if not isinstance(result, (list, tuple)):
        raise InvalidVariantError(origin, f"fastdrop_variants() must return a list of variant "
                                          f"classes, got {type(result).__name__}")
    for cls in result:
        _check_variant_class(cls, origin)
    return list(result)


def _is_variant_class(obj):
    from .graph import Variant
    return isinstance(obj, type) and issubclass(obj, Variant)


class _ClassPlugin:
    """The plugin that ``register(SomeVariant)`` creates for a bare class."""

    def __init__(self, cls):
        self.cls = cls

    @hookimpl
    def fastdrop_variants(self):
        return [self.cls]


def _call_impl(impl, **kwargs):
    return impl.function(*(kwargs[arg] for arg in impl.argnames))


# ---------------------------------------------------------------- entry points

def _installed_entry_points():
    """(entry point, PluginInfo) for each entry point of the group, once per distribution."""
    import importlib.metadata
    seen = set()
    for dist in list(importlib.metadata.distributions()):
        dist_name = dist.metadata["name"] or "<unnamed distribution>"
        for ep in dist.entry_points:
            key = (dist_name.lower().replace("_", "-"), ep.name)
            if ep.group != ENTRY_POINT_GROUP or key in seen:
                continue
            seen.add(key)
            yield ep, PluginInfo(ep.name, dist_name, dist.version)


# ---------------------------------------------------------------- the registry

class Registry:
    """A plugin manager for fastdrop's hooks and the table of variants.

    The module-level functions (:func:`variants`, :func:`layer`,
    :func:`register`, ...) use one shared instance; tests and embedding
    applications may build their own.

    Parameters
    ----------
    entry_points : bool, default True
        Load the plugins of the ``fastdrop`` entry-point group at first use.
        With False only the built-in plugin and plugins registered with
        :meth:`register` are known.

    Examples
    --------
    >>> from fastdrop._registry import Registry
    >>> reg = Registry(entry_points=False)
    >>> sorted(reg.variants())
    ['dropout']
    """

    def __init__(self, entry_points=True):
        self._pm = pluggy.PluginManager(PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self._lock = threading.RLock()
        self._origins = {}
        self._class_plugins = {}
        self._import_broken = []
        self._warned = set()
        self._cache = None
        self.observers = None
        self._entry_points_pending = bool(entry_points)
        self._add(_builtin_module(), _builtin_info())
        if not entry_points:
            self._refresh_observers()

    @property
    def plugin_manager(self):
        """The underlying :class:`pluggy.PluginManager` (register through this class)."""
        return self._pm

    # ------------------------------------------------------------ loading

    def load_entry_points(self):
        """Load the ``fastdrop`` entry-point plugins, once; later calls do nothing."""
        if not self._entry_points_pending:
            return
        with self._lock:
            if not self._entry_points_pending:
                return
            self._entry_points_pending = False
            for ep, info in _installed_entry_points():
                self._load_entry_point(ep, info)
            self._changed()

    def _load_entry_point(self, ep, info):
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

    def _add(self, plugin, info):
        """Register `plugin` under info.name, or raise having registered nothing."""
        name = self._pm.register(plugin, name=info.name)
        try:
            self._pm.check_pending()
            _reject_wrappers(self._pm, plugin, info)
        except Exception:
            self._pm.unregister(plugin)
            raise
        self._origins[name] = info
        return name

    def _skip(self, broken, persistent=False):
        if persistent:
            self._import_broken.append(broken)
        key = (broken.plugin, broken.stage, type(broken.error), str(broken.error))
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(broken.message, PluginWarning, stacklevel=4)

    def _changed(self):
        self._cache = None
        self._refresh_observers()

    def _refresh_observers(self):
        self.observers = tuple(self._pm.hook.fastdrop_mask_drawn.get_hookimpls())

    # ------------------------------------------------------------ the table

    def _collect(self):
        """(table, problems, hook failures) from every fastdrop_variants() implementation."""
        table, problems, failures = {}, [], []
        for impl in self._pm.hook.fastdrop_variants.get_hookimpls():
            origin = self._origins.get(impl.plugin_name, PluginInfo(impl.plugin_name))
            try:
                result = _call_impl(impl)
            except Exception as exc:
                failures.append(BrokenPlugin(origin, "the fastdrop_variants() hook", exc))
                continue
            try:
                classes = _variant_classes(result, origin)
            except InvalidVariantError as exc:
                problems.append(exc)
                continue
            for cls in classes:
                known = table.get(cls.name)
                if known is not None:
                    problems.append(DuplicateVariantError(cls.name, known.plugin, origin))
                else:
                    table[cls.name] = VariantInfo(cls, origin)
        return dict(sorted(table.items())), problems, failures

    def _report(self):
        self.load_entry_points()
        with self._lock:
            if self._cache is None:
                self._cache = self._collect()
            return self._cache

    def _warn_failures(self, failures, exclude=None):
        for broken in failures:
            if broken.plugin.name != exclude:
                self._skip(broken)

    def variant_table(self):
        """{name: VariantInfo} for every registered variant, sorted by name.

        Raises
        ------
        DuplicateVariantError
            Two plugins claim one name.
        InvalidVariantError
            A plugin returned something that is not a valid variant class.
        """
        table, problems, failures = self._report()
        self._warn_failures(failures)
        if problems:
            raise problems[0]
        return dict(table)

    def variants(self):
        """{name: variant class} for every registered variant (a new dict each call)."""
        return {name: info.cls for name, info in self.variant_table().items()}

    def broken(self):
        """Every plugin skipped so far, as :class:`BrokenPlugin` records."""
        _, _, failures = self._report()
        self._warn_failures(failures)
        return list(self._import_broken) + list(failures)

    def layer(self, name, **kwargs):
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

    def register(self, obj, name=None):
        """Register a plugin object or module, or a bare Variant subclass.

        Checked at once: if the plugin raises in its hook, returns an
        invalid class or claims a name already taken, it is unregistered
        again and the error is raised.  Returns `obj`, so that it can be used
        as a class decorator.
        """
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a string or None, got {name!r}")
        self.load_entry_points()
        with self._lock:
            plugin = obj
            if _is_variant_class(obj):
                if obj in self._class_plugins:
                    raise ValueError(f"obj: variant class {obj.__qualname__} is already registered")
                plugin = _ClassPlugin(obj)
                name = name or f"{obj.__module__}.{obj.__qualname__}"
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

    def _check_registered(self, name):
        self._changed()
        table, problems, failures = self._report()
        for broken in failures:
            if broken.plugin.name == name:
                raise PluginError(f"plugin {broken.plugin} raised in fastdrop_variants(): "
                                  f"{type(broken.error).__name__}: {broken.error}") from broken.error
        for problem in problems:
            if name in getattr(problem, "plugins", (getattr(problem, "plugin", None),)):
                raise problem
        self._warn_failures(failures, exclude=name)

    def unregister(self, obj):
        """Remove a plugin given as the registered object, bare class, or plugin name."""
        with self._lock:
            name = self._plugin_name(obj)
            self._remove(name)
            for cls, plugin in list(self._class_plugins.items()):
                if self._pm.get_name(plugin) is None:
                    del self._class_plugins[cls]

    def _plugin_name(self, obj):
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

    def _remove(self, name):
        self._pm.unregister(name=name)
        self._origins.pop(name, None)
        self._changed()

    # ------------------------------------------------------------ observers

    def notify(self, layer, handle):
        """Call every fastdrop_mask_drawn implementation; one that raises is warned about."""
        for impl in self.observers or ():
            try:
                _call_impl(impl, layer=layer, handle=handle)
            except Exception as exc:
                origin = self._origins.get(impl.plugin_name, PluginInfo(impl.plugin_name))
                self._skip(BrokenPlugin(origin, "the fastdrop_mask_drawn() hook", exc))


def _reject_wrappers(pm, plugin, info):
    for caller in pm.get_hookcallers(plugin) or ():
        for impl in caller.get_hookimpls():
            if impl.plugin is plugin and (impl.wrapper or impl.hookwrapper):
                raise PluginError(f"plugin {info}: hook wrappers are not supported "
                                  f"(in {impl.function.__name__})")


def _builtin_module():
    from . import _builtin
    return _builtin


def _builtin_info():
    from . import __version__
    return PluginInfo(BUILTIN_PLUGIN, "fastdrop", __version__)


# ---------------------------------------------------------------- the shared registry

_REGISTRY = None
_REGISTRY_LOCK = threading.Lock()


def _current():
    global _REGISTRY
    if _REGISTRY is None:
        with _REGISTRY_LOCK:
            if _REGISTRY is None:
                _REGISTRY = Registry()
    return _REGISTRY


def variants():
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
    return _current().variants()


def layer(name, **kwargs):
    """Build a registered variant by name.

    Parameters
    ----------
    name : str
        A key of :func:`variants`.
    **kwargs
        Passed to the variant's constructor.

    Returns
    -------
    fastdrop.graph.Variant

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
    return _current().layer(name, **kwargs)


def register(obj, name=None):
    """Register a plugin defined in a script or notebook.

    Parameters
    ----------
    obj : module, object or Variant subclass
        An object with ``@fastdrop.hookimpl`` hook functions, or a bare
        :class:`fastdrop.graph.Variant` subclass (then registered as a
        plugin providing that one class).
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
        (:class:`InvalidVariantError`) or claims a taken name
        (:class:`DuplicateVariantError`).  Nothing is registered then.
    ValueError
        The object (or the name) is already registered.

    Examples
    --------
    >>> import fastdrop as fd
    >>> from fastdrop import graph
    >>> @fd.register
    ... class Halve(graph.Variant):
    ...     name, description = "halve_doc", "Multiplies by 0.5 (an example)."
    ...     def forward(self, x):
    ...         return x * 0.5
    ...     def backward(self, dy):
    ...         return dy * 0.5
    >>> fd.layer("halve_doc")(2.0)
    1.0
    >>> fd._registry.unregister(Halve)
    """
    return _current().register(obj, name=name)


def unregister(obj):
    """Remove a plugin: the object given to :func:`register`, or a plugin name."""
    _current().unregister(obj)


def mask_drawn(layer, handle):
    """Tell the ``fastdrop_mask_drawn`` observers that `layer` drew a mask.

    Every variant calls this after each draw in training.  Without
    observers it returns after one attribute test.
    """
    registry = _REGISTRY if _REGISTRY is not None else _current()
    if registry.observers is None:
        registry.load_entry_points()
    if registry.observers:
        registry.notify(layer, handle)


# ---------------------------------------------------------------- `fastdrop plugins`

def _columns(rows):
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return ["  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1]
            for row in rows]


def _variant_lines(table):
    rows = [("variant", "plugin", "distribution", "description")]
    rows += [(name, info.plugin.name, info.plugin.source, info.description)
             for name, info in table.items()]
    return [f"variants ({len(table)}):"] + _columns(rows)


def plugins_main(argv=None, registry=None):
    """``fastdrop plugins``: list every variant and every broken plugin.

    Prints, for each variant, its plugin (the entry-point name), the
    distribution and version that provide it, and its description; then
    each broken plugin with its error, and each conflict.  Returns 0, or 1
    when some plugin is broken or in conflict.
    """
    import argparse
    parser = argparse.ArgumentParser(prog="fastdrop plugins",
                                     description="List the registered dropout variants and broken plugins.")
    try:
        parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code
    registry = registry or _current()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginWarning)
        table, problems, _ = registry._report()
        broken = registry.broken()
    lines = _variant_lines(table)
    if broken:
        lines.append(f"broken plugins ({len(broken)}):")
        lines += [f"  {b.plugin}: {b.stage} failed: {type(b.error).__name__}: {b.error}" for b in broken]
    if problems:
        lines.append(f"conflicts and invalid variants ({len(problems)}):")
        lines += [f"  {problem}" for problem in problems]
    print("\n".join(lines))
    return 1 if broken or problems else 0

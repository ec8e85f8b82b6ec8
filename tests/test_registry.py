"""The plugin registry: entry points (faked by patching importlib.metadata, as
pluggy's own tests do), run-time registration, fault handling, the mask
observers and `fastdrop plugins`.  Each test gets its own plugin manager."""
import importlib.metadata
import inspect
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import fastdrop as fd
import fastdrop.plugin
from fastdrop import graph, hookspecs
from fastdrop.__main__ import main as cli_main
from fastdrop.__main__ import plugins_main
from fastdrop.plugin import DuplicateVariantError, InvalidVariantError, PluginError, PluginWarning, Registry

from variant_util import MaskRecorder


# ---------------------------------------------------------------- fakes

class FakeEntryPoint:
    """The part of importlib.metadata.EntryPoint that the registry uses."""

    def __init__(self, name, target, group="fastdrop"):
        self.name, self.group, self.value = name, group, f"fake_module_{name}"
        self._target = target

    def load(self):
        if isinstance(self._target, BaseException):
            raise self._target
        return self._target


class FakeDistribution:
    def __init__(self, name, version, *entry_points):
        self.metadata = {"name": name}
        self.version = version
        self.entry_points = entry_points


@pytest.fixture
def installed(monkeypatch):
    """installed(*dists): make importlib.metadata.distributions() return these fakes."""
    calls = []

    def install(*dists):
        def distributions():
            calls.append(1)
            return iter(dists)
        monkeypatch.setattr(importlib.metadata, "distributions", distributions)
        return calls
    install()
    return install


def make_variant(name, description="A test variant.", **overrides):
    namespace = {"name": name, "description": description,
                 "forward": lambda self, x: x, "backward": lambda self, dy: dy}
    namespace.update(overrides)
    return type(f"Variant_{name}", (graph.Variant,), namespace)


class Provides:
    """A plugin object whose fastdrop_variants() returns the given classes."""

    def __init__(self, *classes):
        self.classes = classes

    @fd.hookimpl
    def fastdrop_variants(self):
        return list(self.classes)


class Raises:
    @fd.hookimpl
    def fastdrop_variants(self):
        raise RuntimeError("the hook exploded")


def variants_quietly(registry):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginWarning)
        return registry.variants()


# ---------------------------------------------------------------- the hook specs

def test_hookimpl_marker_is_defined_once_and_exported():
    assert fd.hookimpl is hookspecs.hookimpl is fastdrop.plugin.hookimpl
    assert hookspecs.hookimpl.project_name == "fastdrop"
    assert hookspecs.hookspec.project_name == "fastdrop"


@pytest.mark.parametrize("hook", ["fastdrop_variants", "fastdrop_mask_drawn"])
def test_every_hook_is_specified_and_documented(hook):
    spec = getattr(hookspecs, hook)
    assert hasattr(spec, "fastdrop_spec")
    doc = inspect.getdoc(spec)
    assert "Since version 0.1" in doc and "Called" in doc


# ---------------------------------------------------------------- loading

def test_builtin_plugin_registers_only_plain_dropout(installed):
    assert Registry().variants() == {"dropout": graph.Dropout}


def test_entry_points_are_loaded_at_first_use_only_once(installed):
    calls = installed(FakeDistribution("dist-a", "1.2", FakeEntryPoint("a", Provides(make_variant("va")))))
    registry = Registry()
    assert calls == []
    assert set(registry.variants()) == {"dropout", "va"}
    registry.variants()
    registry.layer("va")
    assert len(calls) == 1


def test_variant_table_names_plugin_distribution_and_version(installed):
    cls = make_variant("va")
    installed(FakeDistribution("dist-a", "1.2", FakeEntryPoint("a", Provides(cls))))
    info = Registry().variant_table()["va"]
    assert (info.cls, info.plugin.name, info.plugin.distribution, info.plugin.version) == \
        (cls, "a", "dist-a", "1.2")
    assert info.description == "A test variant."


def test_entry_points_of_other_groups_are_ignored(installed):
    installed(FakeDistribution("dist-a", "1", FakeEntryPoint("a", Provides(make_variant("va")), group="other")))
    assert set(Registry().variants()) == {"dropout"}


def test_distribution_seen_twice_on_the_path_is_loaded_once(installed):
    plugin = Provides(make_variant("va"))
    dist = FakeDistribution("dist-a", "1", FakeEntryPoint("a", plugin))
    installed(dist, dist)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert set(Registry().variants()) == {"dropout", "va"}


def test_same_entry_point_name_in_two_distributions_keeps_both(installed):
    installed(FakeDistribution("dist-a", "1", FakeEntryPoint("x", Provides(make_variant("va")))),
              FakeDistribution("dist-b", "2", FakeEntryPoint("x", Provides(make_variant("vb")))))
    table = Registry().variant_table()
    assert table["va"].plugin.name == "x"
    assert (table["vb"].plugin.name, table["vb"].plugin.distribution) == ("dist-b:x", "dist-b")


def test_returned_dict_is_a_copy(installed):
    registry = Registry()
    registry.variants().clear()
    assert "dropout" in registry.variants()


# ---------------------------------------------------------------- faults: warnings

def test_plugin_failing_to_import_warns_naming_entry_point_and_distribution(installed):
    installed(FakeDistribution("broken-dist", "0.3", FakeEntryPoint("bad", ImportError("no module named nowhere"))),
              FakeDistribution("good-dist", "1", FakeEntryPoint("good", Provides(make_variant("ok")))))
    registry = Registry()
    with pytest.warns(PluginWarning, match=r"'bad' \(broken-dist 0\.3\).*import.*no module named nowhere"):
        table = registry.variants()
    assert set(table) == {"dropout", "ok"}
    assert isinstance(registry.layer("ok"), graph.Variant)
    [broken] = registry.broken()
    assert (broken.plugin.name, broken.plugin.distribution, broken.stage) == ("bad", "broken-dist", "import")


def test_plugin_raising_in_its_hook_warns_and_is_skipped(installed):
    installed(FakeDistribution("raising-dist", "2.0", FakeEntryPoint("boom", Raises())),
              FakeDistribution("good-dist", "1", FakeEntryPoint("good", Provides(make_variant("ok")))))
    registry = Registry()
    with pytest.warns(PluginWarning, match=r"'boom' \(raising-dist 2\.0\).*fastdrop_variants.*the hook exploded"):
        assert set(registry.variants()) == {"dropout", "ok"}
    assert [b.plugin.name for b in registry.broken()] == ["boom"]


def test_plugin_with_unknown_hook_is_skipped_with_a_warning(installed):
    class Misspelled:
        @fd.hookimpl
        def fastdrop_variant(self):
            return []
    installed(FakeDistribution("typo-dist", "1", FakeEntryPoint("typo", Misspelled())))
    registry = Registry()
    with pytest.warns(PluginWarning, match=r"'typo' \(typo-dist 1\).*registration.*fastdrop_variant"):
        assert set(registry.variants()) == {"dropout"}


# ---------------------------------------------------------------- faults: errors

def test_two_variants_claiming_one_name_is_an_error_naming_both_plugins(installed):
    installed(FakeDistribution("dist-a", "1", FakeEntryPoint("first", Provides(make_variant("same")))),
              FakeDistribution("dist-b", "2", FakeEntryPoint("second", Provides(make_variant("same")))))
    registry = Registry()
    with pytest.raises(DuplicateVariantError, match=r"'same'.*'first' \(dist-a 1\).*'second' \(dist-b 2\)") as info:
        registry.variants()
    assert info.value.plugins == ("first", "second")
    with pytest.raises(DuplicateVariantError):
        registry.layer("dropout")


@pytest.mark.parametrize("cls, problem", [
    (make_variant(None), r"no valid `name`"),
    (make_variant("has space"), r"no valid `name`"),
    (make_variant("nofwd", forward=graph.Layer.forward), r"does not define `forward`"),
    (make_variant("nobwd", backward=graph.Layer.backward), r"does not define `backward`"),
    (make_variant("twolines", description="one\ntwo"), r"one-line string `description`"),
    (type("NotAVariant", (), {"name": "x"}), r"not a subclass of fastdrop.graph.Variant"),
    ("a string", r"not a subclass of fastdrop.graph.Variant"),
])
def test_invalid_variant_class_is_an_error_naming_the_plugin(installed, cls, problem):
    installed(FakeDistribution("dist-a", "1", FakeEntryPoint("culprit", Provides(cls))))
    with pytest.raises(InvalidVariantError, match=r"plugin 'culprit' \(dist-a 1\): .*" + problem) as info:
        Registry().variants()
    assert info.value.plugin == "culprit"


def test_hook_returning_a_non_list_is_an_error_naming_the_plugin(installed):
    class ReturnsClass:
        @fd.hookimpl
        def fastdrop_variants(self):
            return make_variant("bare")
    installed(FakeDistribution("dist-a", "1", FakeEntryPoint("culprit", ReturnsClass())))
    with pytest.raises(InvalidVariantError, match=r"'culprit'.*must return a list"):
        Registry().variants()


# ---------------------------------------------------------------- run-time registration

def test_register_plugin_object_and_unregister(installed):
    registry = Registry()
    plugin = Provides(make_variant("va"), make_variant("vb"))
    assert registry.register(plugin, name="mine") is plugin
    table = registry.variant_table()
    assert {table["va"].plugin.name, table["vb"].plugin.name} == {"mine"}
    assert table["va"].plugin.source == "registered at run time"
    registry.unregister(plugin)
    assert set(registry.variants()) == {"dropout"}


def test_register_bare_class_works_as_decorator(installed):
    registry = Registry()
    cls = make_variant("bare")
    assert registry.register(cls) is cls
    assert registry.variants()["bare"] is cls
    with pytest.raises(ValueError, match="already registered"):
        registry.register(cls)
    registry.unregister(cls)
    assert "bare" not in registry.variants()
    registry.register(cls)
    assert registry.variants()["bare"] is cls


def test_register_taken_name_raises_and_registers_nothing(installed):
    installed(FakeDistribution("dist-a", "1", FakeEntryPoint("owner", Provides(make_variant("taken")))))
    registry = Registry()
    before = registry.variants()
    with pytest.raises(DuplicateVariantError, match=r"'owner' \(dist-a 1\).*'intruder' \(registered at run time\)"):
        registry.register(Provides(make_variant("taken")), name="intruder")
    assert registry.variants() == before
    assert registry.plugin_manager.get_plugin("intruder") is None


def test_register_invalid_class_raises_and_registers_nothing(installed):
    registry = Registry()
    with pytest.raises(InvalidVariantError, match="'bad'"):
        registry.register(Provides(make_variant("x", backward=graph.Layer.backward)), name="bad")
    assert registry.plugin_manager.get_plugin("bad") is None
    assert set(registry.variants()) == {"dropout"}


def test_register_plugin_raising_in_hook_raises_and_registers_nothing(installed):
    registry = Registry()
    with pytest.raises(PluginError, match=r"'boom'.*the hook exploded"):
        registry.register(Raises(), name="boom")
    assert registry.plugin_manager.get_plugin("boom") is None


def test_register_hook_wrapper_is_refused(installed):
    class Wrapper:
        @fd.hookimpl(wrapper=True)
        def fastdrop_variants(self):
            return (yield)
    registry = Registry()
    with pytest.raises(PluginError, match="hook wrappers are not supported"):
        registry.register(Wrapper(), name="wrap")
    assert registry.plugin_manager.get_plugin("wrap") is None


def test_register_rejects_non_string_name(installed):
    with pytest.raises(TypeError, match="name must be a string"):
        Registry().register(Provides(), name=3)


def test_unregister_unknown_plugin_raises(installed):
    registry = Registry()
    with pytest.raises(ValueError, match="no plugin named 'ghost'"):
        registry.unregister("ghost")
    with pytest.raises(ValueError, match="not a registered plugin"):
        registry.unregister(Provides())


def test_module_level_functions_use_the_shared_registry(monkeypatch, fresh_registry):
    fresh_registry()
    cls = fd.register(make_variant("shared_v", __init__=lambda self, scale=1: setattr(self, "scale", scale)))
    assert fd.variants()["shared_v"] is cls
    built = fd.layer("shared_v", scale=3)
    assert isinstance(built, cls) and built.scale == 3
    fd.unregister(cls)
    assert "shared_v" not in fd.variants()


# ---------------------------------------------------------------- layer()

def test_layer_builds_with_keyword_arguments(installed):
    layer = Registry().layer("dropout", p=0.25)
    assert isinstance(layer, graph.Dropout) and layer.p == 0.25


def test_layer_unknown_name_lists_the_registered_names(installed):
    with pytest.raises(ValueError, match=r"name must be a registered variant, one of \['dropout'\], got 'nope'"):
        Registry().layer("nope")


def test_layer_unknown_name_mentions_broken_plugins(installed):
    installed(FakeDistribution("d", "1", FakeEntryPoint("bad", ImportError("gone"))))
    registry = Registry()
    with pytest.warns(PluginWarning), pytest.raises(ValueError, match="fastdrop plugins"):
        registry.layer("nope")


def test_layer_name_must_be_a_string(installed):
    with pytest.raises(TypeError, match="name must be a string"):
        Registry().layer(3)


# ---------------------------------------------------------------- mask observers

def test_mask_drawn_without_observers_does_not_notify(monkeypatch, fresh_registry):
    registry = fresh_registry()
    assert registry.observers == ()
    monkeypatch.setattr(registry, "notify", lambda layer, handle: pytest.fail("notified"))
    fd.mask_drawn(object(), object())
    layer = graph.Dropout(0.5, generator=fd.Generator(0))
    layer(np.ones(8))


def test_mask_drawn_reaches_registered_observers(monkeypatch, fresh_registry):
    registry = fresh_registry()
    recorder = MaskRecorder()
    registry.register(recorder, name="recorder")
    layer = graph.Dropout(0.5, generator=fd.Generator(0))
    layer(np.ones(8))
    assert recorder.seen == [(layer, layer.handle)]
    registry.unregister("recorder")
    assert registry.observers == ()
    layer(np.ones(8))
    assert len(recorder.seen) == 1


def test_observer_raising_warns_and_others_still_see_the_mask(monkeypatch, fresh_registry):
    registry = fresh_registry()

    class Broken:
        @fd.hookimpl
        def fastdrop_mask_drawn(self, handle):
            raise ValueError("observer failed")
    recorder = MaskRecorder()
    registry.register(recorder, name="recorder")
    registry.register(Broken(), name="broken_observer")
    layer = graph.Dropout(0.5, generator=fd.Generator(0))
    with pytest.warns(PluginWarning, match=r"'broken_observer'.*fastdrop_mask_drawn.*observer failed"):
        y = layer(np.ones(8))
    assert recorder.seen == [(layer, layer.handle)]
    assert np.array_equal(y != 0, layer.handle.mask())


def test_mask_drawn_loads_entry_point_observers(monkeypatch, installed, fresh_registry):
    recorder = MaskRecorder()
    calls = installed(FakeDistribution("stats-dist", "1", FakeEntryPoint("stats", recorder)))
    fresh_registry(entry_points=True)
    layer = graph.Dropout(0.5, generator=fd.Generator(0))
    layer(np.ones(8))
    layer(np.ones(8))
    assert [seen for seen, _ in recorder.seen] == [layer, layer]
    assert len(calls) == 1


# ---------------------------------------------------------------- `fastdrop plugins`

def test_plugins_command_lists_variants_with_plugin_distribution_version(monkeypatch, installed, capsys, fresh_registry):
    installed(FakeDistribution("dist-a", "1.2", FakeEntryPoint("alpha_plug", Provides(
        make_variant("va", description="Does the first thing.")))))
    fresh_registry(entry_points=True)
    assert cli_main(["plugins"]) == 0
    out = capsys.readouterr().out
    va_line = next(line for line in out.splitlines() if line.split()[:1] == ["va"])
    assert va_line.split()[1:4] == ["alpha_plug", "dist-a", "1.2"]
    assert va_line.endswith("Does the first thing.")
    dropout_line = next(line for line in out.splitlines() if line.split()[:1] == ["dropout"])
    assert dropout_line.split()[1:4] == ["builtin", "fastdropout", fd.__version__]
    assert "broken" not in out


def test_plugins_command_lists_broken_plugins_and_conflicts(installed, capsys):
    installed(FakeDistribution("broken-dist", "0.3", FakeEntryPoint("bad", ImportError("no module named nowhere"))),
              FakeDistribution("raising-dist", "2", FakeEntryPoint("boom", Raises())),
              FakeDistribution("d1", "1", FakeEntryPoint("first", Provides(make_variant("same")))),
              FakeDistribution("d2", "1", FakeEntryPoint("second", Provides(make_variant("same")))))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert plugins_main([], registry=Registry()) == 1
    out = capsys.readouterr().out
    assert "broken plugins (2):" in out
    assert "'bad' (broken-dist 0.3): import failed: ImportError: no module named nowhere" in out
    assert "'boom' (raising-dist 2)" in out and "the hook exploded" in out
    assert "'first' (d1 1) and 'second' (d2 1)" in out


def test_plugins_command_rejects_unknown_arguments(capsys):
    assert plugins_main(["--bogus"]) == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


# ---------------------------------------------------------------- a real broken distribution

def _write_dist_info(site, dist, version, entry_points):
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text("[fastdrop]\n" + entry_points + "\n")


def test_broken_installed_plugin_never_breaks_import_or_the_builtins(tmp_path):
    _write_dist_info(tmp_path, "ghost-plugin", "9.9", "ghost = ghost_module_that_does_not_exist")
    code = textwrap.dedent("""
        import warnings, numpy as np, fastdrop as fd
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            layer = fd.layer("spatial2d", p=0.5)
        print(layer.name, layer(np.ones((2, 3, 4, 4))).shape)
        print([str(w.message) for w in caught])
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    # run from tmp_path so the installed package is imported, not the source tree
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    first, warned = run.stdout.splitlines()[:2]
    assert first == "spatial2d (2, 3, 4, 4)"
    assert "'ghost' (ghost-plugin 9.9)" in warned and "ModuleNotFoundError" in warned
    cli = subprocess.run([sys.executable, "-m", "fastdrop", "plugins"], capture_output=True, text=True, env=env,
                         cwd=tmp_path)
    assert cli.returncode == 1
    assert "'ghost' (ghost-plugin 9.9): import failed: ModuleNotFoundError" in cli.stdout
    assert "spatial2d" in cli.stdout


# ---------------------------------------------------------------- what register() refuses or warns about

def test_register_a_class_that_is_not_a_variant_raises_and_registers_nothing():
    registry = Registry(entry_points=False)
    before = registry.plugin_manager.get_plugins()

    class NotAVariant:
        name = "plain"

    with pytest.raises(InvalidVariantError, match=r"NotAVariant.*not a subclass of fastdrop.graph.Variant"):
        registry.register(NotAVariant)
    assert registry.plugin_manager.get_plugins() == before
    assert "plain" not in registry.variants()


def test_a_plugin_written_as_a_class_of_hook_implementations_is_accepted():
    class Namespace:
        @staticmethod
        @fd.hookimpl
        def fastdrop_variants():
            return [make_variant("from_namespace")]

    registry = Registry(entry_points=False)
    registry.register(Namespace, name="namespace")
    assert "from_namespace" in registry.variants()


def test_variant_needing_constructor_arguments_is_refused_naming_the_plugin():
    class NeedsWidth(graph.Variant):
        name, description = "needs_width", "Needs an argument (a test)."

        def __init__(self, width):
            self.width = width

        def forward(self, x):
            return x

        def backward(self, dy):
            return dy

    registry = Registry(entry_points=False)
    with pytest.raises(InvalidVariantError, match=r"plugin 'widthy'.*needs_width.*cannot be built with no arguments"):
        registry.register(Provides(NeedsWidth), name="widthy")
    assert "needs_width" not in registry.variants()
    assert registry.plugin_manager.get_plugin("widthy") is None


def test_installed_variant_needing_arguments_is_an_error_naming_its_plugin(installed):
    cls = make_variant("argful", __init__=lambda self, size: None)
    installed(FakeDistribution("dist-b", "2", FakeEntryPoint("argplugin", Provides(cls))))
    with pytest.raises(InvalidVariantError, match=r"plugin 'argplugin' \(dist-b 2\).*no arguments"):
        Registry().variants()


def test_hook_function_without_the_marker_warns_naming_it():
    class Forgetful:
        def fastdrop_variants(self):          # no @fd.hookimpl: pluggy would ignore it silently
            return [make_variant("forgotten")]

    registry = Registry(entry_points=False)
    with pytest.warns(PluginWarning, match=r"fastdrop_variants\(\) is not marked with @fastdrop.hookimpl"):
        registry.register(Forgetful(), name="forgetful")
    assert "forgotten" not in registry.variants()


def test_module_plugin_with_an_unmarked_observer_warns(installed):
    module = type(sys)("fake_observer_module")
    module.fastdrop_mask_drawn = lambda layer, handle: None
    installed(FakeDistribution("dist-c", "3", FakeEntryPoint("observer", module)))
    with pytest.warns(PluginWarning, match=r"'observer'.*fastdrop_mask_drawn\(\)"):
        Registry().variants()


def test_marked_hooks_give_no_warning():
    registry = Registry(entry_points=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PluginWarning)
        registry.register(Provides(make_variant("quiet")), name="quiet-plugin")
    assert "quiet" in registry.variants()

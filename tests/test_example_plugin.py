"""The third-party example distribution (plugins/fastdrop-example-plugin),
reached only through its entry point, as any installed plugin is.

CI installs it (pip install ./plugins/fastdrop-example-plugin); without it
this module is skipped, and only then."""
import importlib.metadata
import math

import numpy as np
import pytest

import fastdrop as fd
from fastdrop.plugin import current_registry
from fastdrop import graph
from fastdrop.__main__ import main as cli_main

from variant_util import MaskRecorder, binomial_sigma, numeric_grad

DIST_NAME = "fastdrop-example-plugin"
try:
    DIST = importlib.metadata.distribution(DIST_NAME)
except importlib.metadata.PackageNotFoundError:
    pytest.skip(f"{DIST_NAME} is not installed (pip install ./plugins/fastdrop-example-plugin)",
                allow_module_level=True)


def curriculum(**kwargs):
    return fd.layer("curriculum", **kwargs)


def morerio_drop_rate(p, gamma, t):
    """1 - theta(t), with theta(t) = (1 - theta_bar) exp(-gamma t) + theta_bar, theta_bar = 1 - p
    (Morerio et al. 2017, eq. for the keep probability)."""
    theta_bar = 1 - p
    return 1 - ((1 - theta_bar) * math.exp(-gamma * t) + theta_bar)


def test_found_through_its_entry_point_with_distribution_and_version():
    [ep] = [ep for ep in DIST.entry_points if ep.group == "fastdrop"]
    info = current_registry().variant_table()["curriculum"]
    assert (info.plugin.name, info.plugin.distribution, info.plugin.version) == (ep.name, DIST_NAME, DIST.version)
    assert info.cls.__module__ == ep.value
    assert issubclass(info.cls, graph.Variant)


def test_listed_by_fastdrop_plugins(capsys):
    assert cli_main(["plugins"]) in (0, 1)
    line = next(line for line in capsys.readouterr().out.splitlines() if line.split()[:1] == ["curriculum"])
    assert line.split()[1:4] == ["curriculum", DIST_NAME, DIST.version]
    assert line.endswith(fd.variants()["curriculum"].description)


def test_constructible_without_arguments():
    layer = fd.variants()["curriculum"]()
    assert layer.step == 0 and layer.training


def test_first_step_is_the_identity_and_the_rate_follows_the_schedule():
    p, gamma = 0.5, 0.2
    layer = curriculum(p=p, gamma=gamma, generator=fd.Generator(0))
    x = np.random.default_rng(0).standard_normal((8, 8))
    np.testing.assert_array_equal(layer(x), x)
    for t in range(1, 12):
        layer(x)
        assert layer.handle.p == pytest.approx(morerio_drop_rate(p, gamma, t), rel=1e-12)
    assert layer.step == 12


def test_late_in_training_the_drop_rate_is_p():
    p, n = 0.4, 20_000
    layer = curriculum(p=p, gamma=1.0, generator=fd.Generator(1))
    layer.step = 60                                   # exp(-60) is far below 2**-33: the rate is p
    y = layer(np.ones(n))
    assert abs(np.mean(y == 0) - p) < 5 * binomial_sigma(p, n)     # 5 binomial sigma
    np.testing.assert_allclose(np.unique(y), [0.0, 1 / (1 - p)])


def test_eval_is_identity_and_does_not_advance_the_schedule():
    layer = curriculum(p=0.5, gamma=1.0, generator=fd.Generator(2))
    layer.step = 10
    x = np.ones(16)
    assert layer.eval()(x) is x
    assert layer.step == 10 and layer.generator.counter == 0


def test_gradient_matches_finite_differences():
    # Linear in x once the mask is fixed: differences are exact up to rounding.
    layer = curriculum(p=0.5, gamma=1.0, generator=fd.Generator(3))
    layer.step = 5
    x = np.random.default_rng(1).standard_normal((4, 5))
    w = np.random.default_rng(2).standard_normal((4, 5))
    state = layer.generator.get_state()

    def loss():
        layer.generator.set_state(state)
        layer.step = 5
        return float((w * layer(x)).sum())

    loss()
    np.testing.assert_allclose(layer.backward(w), numeric_grad(loss, x), rtol=1e-6, atol=1e-8)


def test_same_seed_same_masks():
    x = np.ones((6, 6))
    a, b = (curriculum(p=0.5, gamma=1.0, generator=fd.Generator(4)) for _ in range(2))
    for _ in range(4):
        np.testing.assert_array_equal(a(x), b(x))


def test_observers_see_every_training_draw(monkeypatch, fresh_registry):
    layer = curriculum(p=0.5, gamma=1.0, generator=fd.Generator(5))
    registry = fresh_registry()
    recorder = MaskRecorder()
    registry.register(recorder, name="recorder")
    handles = []
    for _ in range(3):
        layer(np.ones(10))
        handles.append(layer.handle)
    layer.eval()(np.ones(10))
    assert recorder.seen == [(layer, h) for h in handles]


@pytest.mark.parametrize("kwargs, error, argument", [
    ({"p": 1.5}, ValueError, "p"), ({"p": "high"}, TypeError, "p"), ({"gamma": 0.0}, ValueError, "gamma"),
    ({"gamma": math.inf}, ValueError, "gamma"), ({"generator": 7}, TypeError, "generator"),
])
def test_arguments_are_validated(kwargs, error, argument):
    with pytest.raises(error, match=rf"\b{argument}\b"):
        curriculum(**kwargs)


def test_a_forward_that_raises_changes_nothing():
    layer = curriculum(p=0.5, gamma=1.0, generator=fd.Generator(6))
    layer(np.ones(4))
    handle, state = layer.handle, layer.generator.get_state()
    with pytest.raises(TypeError, match="dtype"):
        layer(np.arange(4))
    assert (layer.step, layer.handle, layer.generator.get_state()) == (1, handle, state)
    with pytest.raises(ValueError, match="step"):
        layer.step = -1
    assert layer.step == 1

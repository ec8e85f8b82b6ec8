"""The built-in variant plugins, tested through the registry (fd.layer), as a
user gets them: the shared contract first, then each variant's own behaviour.

Statistical checks use fixed seeds; their tolerances are 5 standard
deviations of the estimate (binomial for drop fractions, normal for means
and variances), so a correct implementation fails with probability < 1e-6
per check, and a wrong rate or scale fails by far more than that."""
import math

import numpy as np
import pytest

import fastdrop as fd
from fastdrop import graph
from fastdrop.plugin import current_registry

from variant_util import MaskRecorder, binomial_sigma, numeric_grad

BUILTIN = {"spatial1d", "spatial2d", "spatial3d", "dropconnect", "droppath", "locked", "alpha", "gaussian",
           "dropblock2d", "embedding_dropout"}
MASK_VARIANTS = {"dropout", "spatial1d", "spatial2d", "spatial3d", "droppath", "locked"}

# (name, constructor kwargs, input shape); the generator is added by the tests.
CASES = [
    ("dropout", {}, (3, 4)),
    ("spatial1d", {}, (3, 4, 5)),
    ("spatial2d", {}, (2, 4, 3, 3)),
    ("spatial2d", {"channels_last": True}, (2, 3, 3, 4)),
    ("spatial3d", {}, (2, 3, 2, 2, 2)),
    ("dropconnect", {"in_features": 5, "out_features": 3, "rng": 0, "dtype": np.float64}, (4, 5)),
    ("droppath", {"p": 0.5}, (6, 2, 3)),
    ("droppath", {"p": 0.5, "mode": "batch"}, (4, 3)),
    ("droppath", {"p": 0.5, "scale_by_keep": False}, (6, 2, 3)),
    ("locked", {}, (5, 3, 4)),
    ("locked", {"time_axis": 1}, (3, 5, 4)),
    ("alpha", {"p": 0.3}, (4, 6)),
    ("gaussian", {}, (4, 6)),
    ("dropblock2d", {"p": 0.5, "block_size": 3}, (2, 3, 6, 5)),
    ("dropblock2d", {"p": 0.5, "block_size": 2}, (2, 2, 4, 4)),
    ("dropblock2d", {"p": 0.5, "block_size": 7}, (3, 2, 3, 4)),
]
CASE_IDS = [f"{name}-{'-'.join(map(str, kw.values()))}" if kw else name for name, kw, _ in CASES]
PLUGIN_CASES = [case for case in CASES if case[0] != "dropout"]
PLUGIN_IDS = [i for i, case in zip(CASE_IDS, CASES) if case[0] != "dropout"]


def build(name, kwargs, seed=0):
    return fd.layer(name, generator=fd.Generator(seed), **kwargs)


def sample(shape, seed=1):
    return np.random.default_rng(seed).standard_normal(shape)


def eval_reference(layer, x):
    """What evaluation must return: x itself, or the plain affine map for DropConnect."""
    if layer.name == "dropconnect":
        return x @ layer.weight.data + layer.bias.data
    return x


# ---------------------------------------------------------------- registration

def test_every_builtin_variant_is_registered_by_the_fastdropout_distribution():
    table = current_registry().variant_table()
    assert BUILTIN | {"dropout"} <= set(table)
    for name in BUILTIN:
        info = table[name]
        assert info.plugin.distribution == "fastdropout"
        assert info.cls.__module__ == f"fastdrop_plugins.{info.plugin.name}"


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_variant_is_constructible_without_arguments_and_described(name):
    cls = fd.variants()[name]
    layer = cls()
    assert isinstance(layer, graph.Variant) and layer.training
    assert cls.description and "\n" not in cls.description


# ---------------------------------------------------------------- the shared contract

@pytest.mark.parametrize("name, kwargs, shape", CASES, ids=CASE_IDS)
def test_eval_is_identity_and_draws_nothing(name, kwargs, shape):
    layer = build(name, kwargs).eval()
    x, state = sample(shape), layer.generator.get_state()
    y = layer(x)
    np.testing.assert_array_equal(y, eval_reference(layer, x))
    dy = sample(y.shape, seed=2)
    expected = dy @ layer.weight.data.T if name == "dropconnect" else dy
    np.testing.assert_array_equal(layer.backward(dy), expected)
    assert layer.generator.get_state() == state


@pytest.mark.parametrize("name, kwargs, shape", CASES, ids=CASE_IDS)
def test_training_changes_the_input(name, kwargs, shape):
    layer = build(name, kwargs)
    x = sample(shape)
    layer.p = 0.5
    outputs = [layer(x) for _ in range(4)]
    assert any(not np.array_equal(y, eval_reference(layer.eval(), x)) for y in outputs)


@pytest.mark.parametrize("name, kwargs, shape", CASES, ids=CASE_IDS)
def test_same_seed_same_output_other_seed_other_output(name, kwargs, shape):
    x = sample(shape)
    runs = [[build(name, kwargs, seed)(x) for _ in range(3)] for seed in (5, 5, 6)]
    for a, b in zip(runs[0], runs[1]):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, c) for a, c in zip(runs[0], runs[2]))


@pytest.mark.parametrize("name, kwargs, shape", CASES, ids=CASE_IDS)
def test_default_generator_is_looked_up_at_call_time(name, kwargs, shape):
    layer = fd.layer(name, **kwargs)
    fd.seed(11)
    x = sample(shape)
    np.testing.assert_array_equal(layer(x), build(name, kwargs, seed=11)(x))


@pytest.mark.parametrize("name, kwargs, shape", CASES, ids=CASE_IDS)
def test_gradient_matches_finite_differences(name, kwargs, shape):
    # The loss sum(w * layer(x)) is linear in x (and in the weights) once the
    # mask is fixed, so central differences are exact up to rounding: 1e-6.
    layer = build(name, kwargs)
    state = layer.generator.get_state()
    x = sample(shape)
    y = layer(x)
    w = sample(y.shape, seed=3)

    def loss():
        layer.generator.set_state(state)
        return float((w * layer(x)).sum())

    for param in layer.parameters():
        param.zero_grad()
    loss()
    dx = layer.backward(w)
    np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=1e-6, atol=1e-8)
    for param in layer.parameters():
        analytic = param.grad.copy()
        np.testing.assert_allclose(analytic, numeric_grad(loss, param.data), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name, kwargs, shape", CASES, ids=CASE_IDS)
def test_backward_leaves_the_callers_gradient_untouched(name, kwargs, shape):
    layer = build(name, kwargs)
    y = layer(sample(shape))
    dy = sample(y.shape, seed=2)
    saved = dy.copy()
    dx = layer.backward(dy)
    np.testing.assert_array_equal(dy, saved)
    assert not np.shares_memory(dx, dy)


@pytest.mark.parametrize("name, kwargs, shape", CASES, ids=CASE_IDS)
def test_observers_see_every_training_draw_and_no_eval_call(monkeypatch, name, kwargs, shape, fresh_registry):
    layer = build(name, kwargs)
    registry = fresh_registry()
    recorder = MaskRecorder()
    registry.register(recorder, name="recorder")
    x = sample(shape)
    handles = []
    for _ in range(3):
        y = layer(x)
        handles.append(layer.handle)
        if name in MASK_VARIANTS:
            kept = np.broadcast_to(layer.handle.mask(), y.shape)
            np.testing.assert_array_equal(y != 0, kept)
    layer.eval()(x)
    assert [seen for seen, _ in recorder.seen] == [layer] * 3
    assert [handle for _, handle in recorder.seen] == handles
    assert len({handle.counter_range for handle in handles}) == 3


@pytest.mark.parametrize("name, kwargs, shape", PLUGIN_CASES, ids=PLUGIN_IDS)
@pytest.mark.parametrize("p, error", [(-0.1, ValueError), (1.5, ValueError), (math.nan, ValueError),
                                      ("0.5", TypeError), (True, TypeError)])
def test_p_is_validated(name, kwargs, shape, p, error):
    with pytest.raises(error, match=r"\bp\b"):
        fd.layer(name, **dict(kwargs, p=p))
    layer = build(name, kwargs)
    before = layer.p
    with pytest.raises(error, match=r"\bp\b"):
        layer.p = p
    assert layer.p == before


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_generator_is_validated(name):
    with pytest.raises(TypeError, match="generator must be a fastdrop.Generator"):
        fd.layer(name, generator=42)


@pytest.mark.parametrize("name, kwargs, shape", PLUGIN_CASES, ids=PLUGIN_IDS)
def test_backward_before_forward_raises(name, kwargs, shape):
    with pytest.raises(RuntimeError, match="before forward"):
        build(name, kwargs).backward(np.ones(shape))


@pytest.mark.parametrize("name, kwargs, shape", PLUGIN_CASES, ids=PLUGIN_IDS)
def test_forward_that_raises_changes_nothing(name, kwargs, shape):
    layer = build(name, kwargs)
    layer(sample(shape))
    handle, state = layer.handle, layer.generator.get_state()
    bad = np.arange(math.prod(shape)).reshape(shape)
    with pytest.raises(TypeError, match="dtype"):
        layer(bad)
    assert layer.handle is handle and layer.generator.get_state() == state
    np.testing.assert_array_equal(bad, np.arange(math.prod(shape)).reshape(shape))


@pytest.mark.parametrize("name, kwargs, shape", PLUGIN_CASES, ids=PLUGIN_IDS)
def test_backward_that_raises_changes_nothing(name, kwargs, shape):
    layer = build(name, kwargs)
    y = layer(sample(shape))
    handle = layer.handle
    grads = [param.grad.copy() for param in layer.parameters()]
    with pytest.raises(ValueError, match="dy has shape"):
        layer.backward(np.ones(y.shape + (1,)))
    assert layer.handle is handle
    for param, grad in zip(layer.parameters(), grads):
        np.testing.assert_array_equal(param.grad, grad)
    np.testing.assert_array_equal(layer.backward(np.ones(y.shape)), layer.backward(np.ones(y.shape)))


@pytest.mark.parametrize("name, kwargs, shape", PLUGIN_CASES, ids=PLUGIN_IDS)
def test_float32_input_gives_float32_output(name, kwargs, shape):
    kwargs = dict(kwargs, dtype=np.float32) if name == "dropconnect" else kwargs
    layer = build(name, kwargs)
    y = layer(sample(shape).astype(np.float32))
    assert y.dtype == np.float32
    assert layer.backward(np.ones(y.shape, np.float32)).dtype == np.float32


# ---------------------------------------------------------------- spatial

@pytest.mark.parametrize("name, channels_last, shape", [
    ("spatial1d", False, (64, 32, 3)), ("spatial2d", False, (64, 32, 2, 2)),
    ("spatial3d", False, (64, 32, 2, 1, 2)), ("spatial2d", True, (64, 2, 2, 32)),
    ("spatial1d", True, (64, 3, 32)),
])
def test_spatial_drops_whole_channels_at_rate_p(name, channels_last, shape):
    p = 0.3
    layer = fd.layer(name, p=p, channels_last=channels_last, generator=fd.Generator(3))
    y = layer(np.ones(shape))
    channels = np.moveaxis(y, -1, 1) if channels_last else y
    per_channel = channels.reshape(shape[0], channels.shape[1], -1)
    assert np.all(per_channel == per_channel[..., :1])            # a channel is dropped whole
    np.testing.assert_allclose(np.unique(per_channel), [0.0, 1 / (1 - p)])
    n = shape[0] * channels.shape[1]                                # 2048 channel decisions
    dropped = np.mean(per_channel[..., 0] == 0)
    assert abs(dropped - p) < 5 * binomial_sigma(p, n)             # 5 binomial sigma


@pytest.mark.parametrize("name, shape", [("spatial1d", (2, 3)), ("spatial2d", (2, 3, 4)),
                                         ("spatial3d", (2, 3, 4, 4))])
def test_spatial_rejects_wrong_rank_naming_the_layout(name, shape):
    layer = fd.layer(name, generator=fd.Generator(0))
    with pytest.raises(ValueError, match=r"x must be .*\(N, C"):
        layer(np.ones(shape))
    with pytest.raises(ValueError, match=r"x must be .*C\)"):
        fd.layer(name, channels_last=True)(np.ones(shape))
    assert layer.generator.counter == 0


def test_spatial_channels_last_must_be_bool():
    with pytest.raises(TypeError, match="channels_last"):
        fd.layer("spatial2d", channels_last="yes")


# ---------------------------------------------------------------- dropconnect

def test_dropconnect_uses_one_weight_mask_per_call_for_the_whole_batch():
    p = 0.4
    layer = fd.layer("dropconnect", in_features=40, out_features=50, p=p, rng=0, dtype=np.float64,
                     generator=fd.Generator(1))
    y = layer(np.eye(40))                                           # row i = masked weight row i + bias
    expected = layer.weight.data * layer.handle.mask() / (1 - p)
    np.testing.assert_allclose(y - layer.bias.data, expected, rtol=1e-12, atol=1e-15)
    dropped = 1 - layer.handle.mask().mean()
    assert abs(dropped - p) < 5 * binomial_sigma(p, 40 * 50)        # 5 binomial sigma over 2000 weights


def test_dropconnect_weight_gradient_is_masked_and_scaled():
    p = 0.5
    layer = fd.layer("dropconnect", in_features=6, out_features=4, p=p, rng=0, dtype=np.float64,
                     generator=fd.Generator(2))
    x, dy = sample((3, 6)), sample((3, 4), seed=4)
    layer(x)
    layer.backward(dy)
    np.testing.assert_allclose(layer.weight.grad, (x.T @ dy) * layer.handle.mask() / (1 - p), rtol=1e-12)
    np.testing.assert_allclose(layer.bias.grad, dy.sum(axis=0), rtol=1e-12)


def test_dropconnect_gradients_accumulate_until_zero_grad():
    layer = fd.layer("dropconnect", in_features=4, out_features=3, rng=0, dtype=np.float64,
                     generator=fd.Generator(2))
    x, dy = sample((5, 4)), sample((5, 3), seed=4)
    layer(x)
    layer.backward(dy)
    once = [p.grad.copy() for p in layer.parameters()]
    layer.backward(dy)
    for param, grad in zip(layer.parameters(), once):
        np.testing.assert_allclose(param.grad, 2 * grad, rtol=1e-12)
    layer.zero_grad()
    assert all(not p.grad.any() for p in layer.parameters())


def test_dropconnect_is_a_linear_layer_with_parameters():
    layer = fd.layer("dropconnect", in_features=3, out_features=2, bias=False)
    assert isinstance(layer, graph.Linear)
    assert [p.data.shape for p in layer.parameters()] == [(3, 2)]
    assert all(isinstance(p, graph.Parameter) for p in layer.parameters())


@pytest.mark.parametrize("kwargs, error, argument", [
    ({"in_features": 0}, ValueError, "in_features"), ({"out_features": 2.5}, TypeError, "out_features"),
    ({"bias": "no"}, TypeError, "bias"), ({"rng": "seed"}, TypeError, "rng"),
])
def test_dropconnect_validates_arguments(kwargs, error, argument):
    with pytest.raises(error, match=argument):
        fd.layer("dropconnect", **kwargs)


def test_dropconnect_rejects_wrong_input_width_changing_nothing():
    layer = fd.layer("dropconnect", in_features=3, out_features=2, generator=fd.Generator(0))
    with pytest.raises(ValueError, match="last dimension 3"):
        layer(np.ones((2, 4)))
    assert layer.generator.counter == 0 and layer.handle is None


# ---------------------------------------------------------------- droppath

def test_droppath_row_drops_whole_samples_at_rate_p():
    p = 0.2
    layer = fd.layer("droppath", p=p, generator=fd.Generator(4))
    y = layer(np.ones((4000, 3, 2)))
    per_sample = y.reshape(4000, -1)
    assert np.all(per_sample == per_sample[:, :1])
    np.testing.assert_allclose(np.unique(per_sample), [0.0, 1 / (1 - p)])    # timm's 1 / keep scaling
    dropped = np.mean(per_sample[:, 0] == 0)
    assert abs(dropped - p) < 5 * binomial_sigma(p, 4000)                   # 5 binomial sigma


def test_droppath_batch_drops_all_or_nothing_at_rate_p():
    p, calls = 0.3, 2000
    layer = fd.layer("droppath", p=p, mode="batch", generator=fd.Generator(5))
    outcomes = []
    for _ in range(calls):
        values = np.unique(layer(np.ones((4, 3))))
        assert len(values) == 1
        outcomes.append(values[0] == 0)
    assert abs(np.mean(outcomes) - p) < 5 * binomial_sigma(p, calls)         # 5 binomial sigma


def test_droppath_mode_is_validated():
    with pytest.raises(ValueError, match="mode must be one of"):
        fd.layer("droppath", mode="sample")


def test_residual_branch_goes_through_droppath():
    p = 0.5
    block = graph.Linear(3, 3, rng=0, dtype=np.float64)
    res = graph.Residual(block, drop_path=p, generator=fd.Generator(6))
    assert isinstance(res.drop_path_layer, fd.variants()["droppath"])
    x = sample((8, 3))
    y = res(x)
    keep = res.drop_path_layer.handle.mask().reshape(8, 1)
    np.testing.assert_allclose(y, x + keep * (x @ block.weight.data) / (1 - p), rtol=1e-12)


# ---------------------------------------------------------------- locked

@pytest.mark.parametrize("time_axis, shape", [(0, (6, 50, 40)), (1, (50, 6, 40)), (-2, (50, 6, 40))])
def test_locked_shares_one_mask_over_time(time_axis, shape):
    p = 0.25
    layer = fd.layer("locked", p=p, time_axis=time_axis, generator=fd.Generator(7))
    y = np.moveaxis(layer(np.ones(shape)), time_axis, 0)
    assert np.all(y == y[:1])
    dropped = np.mean(y[0] == 0)
    assert abs(dropped - p) < 5 * binomial_sigma(p, 50 * 40)                # 5 binomial sigma, 2000 units


def test_locked_time_axis_is_validated():
    with pytest.raises(TypeError, match="time_axis must be an integer"):
        fd.layer("locked", time_axis=0.0)
    layer = fd.layer("locked", time_axis=3, generator=fd.Generator(0))
    with pytest.raises(ValueError, match="time_axis=3 is out of range"):
        layer(np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        fd.layer("locked")(np.ones(5))
    assert layer.generator.counter == 0


# ---------------------------------------------------------------- alpha

def test_selu_constants_are_the_fixed_point_of_mean_0_variance_1():
    from fastdrop_plugins.alpha import SELU_ALPHA, SELU_LAMBDA
    z = np.linspace(-12, 12, 2_000_001)
    density = np.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    selu = SELU_LAMBDA * np.where(z > 0, z, SELU_ALPHA * np.expm1(z))
    dz = z[1] - z[0]
    assert abs(np.sum(selu * density) * dz) < 1e-9
    assert abs(np.sum(selu * selu * density) * dz - 1) < 1e-9


@pytest.mark.parametrize("p", [0.05, 0.1, 0.5])
def test_alpha_keeps_mean_zero_and_variance_one(p):
    n = 2_000_000
    x = np.random.default_rng(8).standard_normal(n)
    y = fd.layer("alpha", p=p, generator=fd.Generator(9))(x)
    # The mean of n values of variance 1 has sigma 1/sqrt(n).  The sample
    # variance has sigma sqrt((m4 - 1) / n), m4 the fourth central moment,
    # estimated from the sample.  Tolerance: 5 sigma each.
    m4 = np.mean((y - y.mean()) ** 4)
    assert abs(y.mean()) < 5 / math.sqrt(n)
    assert abs(y.var() - 1) < 5 * math.sqrt((m4 - 1) / n)


def test_alpha_sets_dropped_units_to_the_affine_image_of_alpha_prime():
    from fastdrop_plugins.alpha import ALPHA_PRIME, affine_coefficients
    layer = fd.layer("alpha", p=0.4, generator=fd.Generator(10))
    x = sample((30, 20))
    y = layer(x)
    kept = layer.handle.mask()
    a, b = affine_coefficients(layer.handle.keep_prob)
    np.testing.assert_allclose(y[~kept], a * ALPHA_PRIME + b, rtol=1e-12)
    np.testing.assert_allclose(y[kept], a * x[kept] + b, rtol=1e-12)
    assert 0 < kept.sum() < kept.size


def test_alpha_refuses_p_one():
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\)"):
        fd.layer("alpha", p=1.0)


# ---------------------------------------------------------------- gaussian

@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_gaussian_noise_has_mean_one_and_variance_p_over_1_minus_p(p):
    n = 200_000
    noise = fd.layer("gaussian", p=p, generator=fd.Generator(12))(np.ones(n))
    var = p / (1 - p)
    # Normal noise: the mean has sigma sqrt(var / n), the sample variance
    # sigma var * sqrt(2 / (n - 1)).  Tolerance: 5 sigma each.
    assert abs(noise.mean() - 1) < 5 * math.sqrt(var / n)
    assert abs(noise.var() - var) < 5 * var * math.sqrt(2 / (n - 1))


def test_gaussian_backward_regenerates_the_noise_without_storing_it():
    layer = fd.layer("gaussian", p=0.5, generator=fd.Generator(13))
    x = np.ones((50, 20))
    y = layer(x)
    assert layer.handle.counter_range == (0, fd.normal_blocks(x.size))
    assert not any(isinstance(v, np.ndarray) and v.shape == x.shape for v in vars(layer).values())
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), y)


def test_gaussian_refuses_p_one():
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\)"):
        fd.layer("gaussian", p=1.0)


# ---------------------------------------------------------------- p = 0 and p = 1

@pytest.mark.parametrize("name", sorted(BUILTIN - {"dropconnect", "embedding_dropout"}))
def test_p_zero_is_the_identity(name):
    four_d = name in ("spatial2d", "dropblock2d")
    x = sample((4, 3, 2, 2, 2) if name == "spatial3d" else (4, 3, 2, 2) if four_d else (4, 3, 2))
    layer = fd.layer(name, p=0.0, generator=fd.Generator(0))
    np.testing.assert_array_equal(layer(x), x)
    assert layer.generator.counter == 0


@pytest.mark.parametrize("name", ["spatial1d", "droppath", "locked"])
def test_p_one_drops_everything(name):
    layer = fd.layer(name, p=1.0, generator=fd.Generator(0))
    x = sample((4, 3, 2))
    np.testing.assert_array_equal(layer(x), np.zeros_like(x))
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), np.zeros_like(x))

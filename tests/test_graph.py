"""fastdrop.graph: gradients against finite differences, modes, optimizers,
saving, building from data, MC dropout, learning, and bad input."""
import math

import numpy as np
import pytest

import fastdrop as fd
from fastdrop import graph as G

from variant_util import MaskRecorder

# Central differences in float64 with step EPS: the truncation error is
# about EPS**2 * |f'''| ~ 1e-12 and the rounding error about
# 1e-16 * |f| / EPS ~ 1e-9 for the |f| ~ 10 losses below, so analytic and
# numeric gradients must agree to ~1e-8; RTOL/ATOL leave a factor of 10-100
# of margin while still catching any wrong term (errors of order 1e-2 or more).
EPS = 1e-6
RTOL, ATOL = 1e-5, 1e-7


def numeric_grad(f, array):
    """d f() / d array by central differences, perturbing `array` in place."""
    grad = np.zeros_like(array)
    for idx in np.ndindex(array.shape):
        old = array[idx]
        array[idx] = old + EPS
        f_plus = f()
        array[idx] = old - EPS
        f_minus = f()
        array[idx] = old
        grad[idx] = (f_plus - f_minus) / (2 * EPS)
    return grad


def check_gradients(layer, x, generators=()):
    """Compare layer.backward and every Parameter.grad with finite differences
    of the scalar loss sum(w * layer(x)).  The generators are reset before each
    forward pass, so every evaluation draws the same dropout masks."""
    states = [g.get_state() for g in generators]

    def reset():
        for g, state in zip(generators, states):
            g.set_state(state)

    reset()
    w = np.random.default_rng(99).standard_normal(layer.forward(x).shape)

    def loss():
        reset()
        return float(np.sum(w * layer.forward(x)))

    reset()
    layer.forward(x)
    layer.zero_grad()
    dx = layer.backward(w.copy())
    np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=RTOL, atol=ATOL, err_msg="d/dx")
    for i, param in enumerate(layer.parameters()):
        np.testing.assert_allclose(param.grad, numeric_grad(loss, param.data), rtol=RTOL, atol=ATOL,
                                   err_msg=f"parameter {i}")


def away_from_zero(shape, seed=0):
    """float64 values with |v| >= 0.1, so no ReLU kink lies within EPS."""
    rng = np.random.default_rng(seed)
    v = rng.standard_normal(shape)
    return np.where(v >= 0, v + 0.1, v - 0.1)


def mlp(sizes, p=0.0, seed=0, dtype=np.float32, generator=None, activation=G.ReLU):
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(G.Linear(n_in, n_out, rng=seed + i, dtype=dtype))
        if i < len(sizes) - 2:
            layers += [activation(), G.Dropout(p, generator=generator)]
    return G.Sequential(layers)


class Probe(G.Layer):
    """Identity that returns a fresh copy and remembers it."""

    fresh_output = True

    def forward(self, x):
        self.output = np.array(x)
        return self.output

    def backward(self, dy):
        return dy


# ---------------------------------------------------------------- gradients, layer by layer

@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradients(bias):
    layer = G.Linear(4, 3, bias=bias, rng=0, dtype=np.float64)
    check_gradients(layer, np.random.default_rng(1).standard_normal((5, 4)))


def test_linear_gradients_with_leading_axes():
    layer = G.Linear(4, 3, rng=0, dtype=np.float64)
    layer.bias.data[:] = [0.5, -1.0, 2.0]
    check_gradients(layer, np.random.default_rng(1).standard_normal((2, 3, 4)))


def test_relu_gradients():
    check_gradients(G.ReLU(), away_from_zero((6, 5)))


def test_tanh_gradients():
    check_gradients(G.Tanh(), np.random.default_rng(2).standard_normal((6, 5)))


@pytest.mark.parametrize("mode", ["inverted", "standard"])
@pytest.mark.parametrize("training", [True, False])
def test_dropout_gradients(mode, training):
    g = fd.Generator(3)
    layer = G.Dropout(0.4, mode=mode, generator=g).train(training)
    x = np.random.default_rng(4).standard_normal((8, 7))
    if training:
        layer.forward(x)
        kept = layer.handle.mask()
        assert 0 < kept.sum() < kept.size, "the check needs some dropped and some kept elements"
    check_gradients(layer, x, generators=[g])


def test_residual_gradients():
    block = G.Sequential([G.Linear(5, 5, rng=0, dtype=np.float64), G.Tanh()])
    check_gradients(G.Residual(block), np.random.default_rng(5).standard_normal((4, 5)))


def test_residual_with_drop_path_gradients():
    g = fd.Generator(6)
    block = G.Sequential([G.Linear(5, 5, rng=0, dtype=np.float64), G.Tanh()])
    check_gradients(G.Residual(block, drop_path=0.5, generator=g),
                    np.random.default_rng(5).standard_normal((16, 5)), generators=[g])


@pytest.mark.parametrize("make_drop", [
    lambda g: fd.layer("droppath", p=0.5, generator=g),
    lambda g: G.Dropout(0.3, generator=g),
], ids=["droppath", "dropout"])
def test_residual_takes_any_layer_for_its_branch(make_drop):
    g = fd.Generator(7)
    block = G.Sequential([G.Linear(5, 5, rng=0, dtype=np.float64), G.Tanh()])
    residual = G.Residual(block, drop=make_drop(g))
    assert residual.children()[1] is residual.drop
    check_gradients(residual, np.random.default_rng(5).standard_normal((16, 5)), generators=[g])


def test_residual_refuses_both_drop_and_drop_path():
    with pytest.raises(ValueError, match="drop"):
        G.Residual(G.ReLU(), drop=G.Dropout(0.1), drop_path=0.1)
    with pytest.raises(TypeError, match="drop"):
        G.Residual(G.ReLU(), drop="droppath")


# ---------------------------------------------------------------- gradients, whole models

def test_mlp_with_dropout_gradients():
    g = fd.Generator(7)
    model = G.Sequential([
        G.Linear(6, 8, rng=0, dtype=np.float64), G.ReLU(), G.Dropout(0.3, generator=g),
        G.Linear(8, 8, rng=1, dtype=np.float64), G.Tanh(), G.Dropout(0.5, mode="standard", generator=g),
        G.Linear(8, 3, rng=2, dtype=np.float64),
    ])
    x = np.random.default_rng(8).standard_normal((5, 6))
    check_gradients(model, x, generators=[g])
    masks = [layer.handle.mask() for layer in (model[2], model[5])]
    assert all(0 < m.sum() < m.size for m in masks), "both dropout layers must drop something"


def test_model_gradients_through_the_loss():
    g = fd.Generator(9)
    model = mlp((4, 8, 8, 3), p=0.25, dtype=np.float64, generator=g)
    x = np.random.default_rng(10).standard_normal((6, 4))
    labels = np.array([0, 1, 2, 0, 1, 2])
    state = g.get_state()

    def loss():
        g.set_state(state)
        return G.softmax_cross_entropy(model(x), labels)[0]

    g.set_state(state)
    model.zero_grad()
    model.backward(G.softmax_cross_entropy(model(x), labels)[1])
    for i, param in enumerate(model.parameters()):
        np.testing.assert_allclose(param.grad, numeric_grad(loss, param.data), rtol=RTOL, atol=ATOL,
                                   err_msg=f"parameter {i}")


def test_losses_match_their_definitions_and_gradients():
    rng = np.random.default_rng(11)
    logits = rng.standard_normal((5, 4))
    labels = np.array([3, 0, 1, 1, 2])
    loss, dlogits = G.softmax_cross_entropy(logits, labels)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert loss == pytest.approx(-np.mean(np.log(probs[np.arange(5), labels])), rel=1e-12)
    np.testing.assert_allclose(
        dlogits, numeric_grad(lambda: G.softmax_cross_entropy(logits, labels)[0], logits),
        rtol=RTOL, atol=ATOL)

    pred, target = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    loss, dpred = G.mse(pred, target)
    assert loss == pytest.approx(np.mean((pred - target) ** 2), rel=1e-12)
    np.testing.assert_allclose(dpred, numeric_grad(lambda: G.mse(pred, target)[0], pred),
                               rtol=RTOL, atol=ATOL)


def test_cross_entropy_is_stable_for_large_logits():
    loss, dlogits = G.softmax_cross_entropy(np.array([[1000.0, 0.0]], np.float32), np.array([1]))
    assert loss == pytest.approx(1000.0) and np.all(np.isfinite(dlogits))
    assert dlogits.dtype == np.float32


def test_backward_accumulates_and_zero_grad_clears():
    model = mlp((3, 4, 2), dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((5, 3))
    dy = np.ones((5, 2))
    model(x)
    model.backward(dy)
    once = [p.grad.copy() for p in model.parameters()]
    model(x)
    model.backward(dy)
    for first, param in zip(once, model.parameters()):
        np.testing.assert_allclose(param.grad, 2 * first)
    assert any(np.any(g != 0) for g in once)
    model.zero_grad()
    assert all(np.all(p.grad == 0) for p in model.parameters())


# ---------------------------------------------------------------- dropout in the graph

def test_dropout_works_in_place_on_fresh_activations_only():
    x = np.random.default_rng(0).standard_normal((20, 30)).astype(np.float32)
    x_before = x.copy()
    probe = Probe()
    model = G.Sequential([G.Dropout(0.5, generator=fd.Generator(0)), probe,
                          G.Dropout(0.5, generator=fd.Generator(1))])
    y = model(x)
    np.testing.assert_array_equal(x, x_before)          # the caller's input is not written
    assert y is probe.output                             # after a fresh output: in place
    dy = np.ones_like(y)
    model.backward(dy)
    np.testing.assert_array_equal(dy, np.ones_like(y))  # the caller's gradient is not written


def test_dropout_after_tanh_keeps_tanh_output_for_backward():
    g = fd.Generator(2)
    model = G.Sequential([G.Tanh(), G.Dropout(0.5, generator=g)])
    assert not model[1].overwrite_input
    check_gradients(model, np.random.default_rng(3).standard_normal((6, 6)), generators=[g])


def test_dropout_layer_drops_with_probability_p():
    layer = G.Dropout(0.3, generator=fd.Generator(5))
    y = layer(np.ones((200, 500), np.float32))
    kept = y != 0
    # 100000 Bernoulli(0.7) draws: standard deviation of the kept fraction is
    # sqrt(0.21 / 1e5) ~ 0.0015, so 0.01 is more than six standard deviations.
    assert abs(kept.mean() - 0.7) < 0.01
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-6)
    np.testing.assert_array_equal(kept, layer.handle.mask())


def test_dropout_with_p_zero_is_identity_and_draws_nothing():
    g = fd.Generator(0)
    x = np.ones((3, 3), np.float32)
    layer = G.Dropout(0.0, generator=g)
    assert layer(x) is x and layer.backward(x) is x and g.counter == 0


def test_variant_contract():
    layer = G.Dropout()
    assert isinstance(layer, G.Variant) and G.Dropout.name == "dropout"
    assert layer.p == 0.5 and layer.mode == "inverted"
    assert G.Dropout.description and "\n" not in G.Dropout.description


def test_mask_drawn_is_announced_in_training_only(fresh_registry):
    recorder = MaskRecorder()
    fresh_registry().register(recorder, name="recorder")
    layer = G.Dropout(0.5, generator=fd.Generator(0))
    x = np.ones((4, 4), np.float32)
    layer(x)
    assert len(recorder.seen) == 1 and recorder.seen[0][0] is layer and recorder.seen[0][1] is layer.handle
    layer.eval()(x)
    assert len(recorder.seen) == 1


def test_mask_drawn_reaches_registered_observers():
    class Observer:
        def __init__(self):
            self.masks = []

        @fd.hookimpl
        def fastdrop_mask_drawn(self, layer, handle):
            if layer is target:
                self.masks.append(handle.mask())

    target = G.Dropout(0.5, generator=fd.Generator(0))
    observer = Observer()
    fd.register(observer)
    try:
        y = target(np.ones((3, 8), np.float32))
    finally:
        fd.unregister(observer)
    assert len(observer.masks) == 1
    np.testing.assert_array_equal(observer.masks[0], y != 0)


# ---------------------------------------------------------------- train / eval

def test_train_and_eval_reach_every_layer():
    inner = G.Sequential([G.Linear(4, 4, rng=0), G.Dropout(0.5)])
    model = G.Sequential([G.Linear(4, 4, rng=1), G.Residual(inner), G.Dropout(0.2)])
    assert all(layer.training for layer in model.modules())
    model.eval()
    assert len(model.modules()) == 7 and not any(layer.training for layer in model.modules())
    model.train()
    assert all(layer.training for layer in model.modules())


def test_eval_mode_turns_dropout_off():
    x = np.random.default_rng(0).standard_normal((10, 10)).astype(np.float32)
    inverted = G.Dropout(0.5).eval()
    np.testing.assert_array_equal(inverted(x), x)
    standard = G.Dropout(0.25, mode="standard").eval()
    np.testing.assert_allclose(standard(x), 0.75 * x, rtol=1e-6)
    np.testing.assert_allclose(standard.backward(np.ones_like(x)), 0.75, rtol=1e-6)
    trained = G.Dropout(0.5).train()(x)
    assert np.any(trained == 0)


def test_model_output_is_deterministic_in_eval_and_random_in_train():
    model = mlp((5, 32, 3), p=0.5, generator=fd.Generator(0))
    x = np.random.default_rng(1).standard_normal((4, 5)).astype(np.float32)
    assert not np.array_equal(model(x), model(x))
    model.eval()
    np.testing.assert_array_equal(model(x), model(x))


# ---------------------------------------------------------------- optimizers

def test_sgd_step_with_momentum_and_weight_decay():
    param = G.Parameter(np.array([1.0, -2.0]))
    opt = G.SGD([param], lr=0.1, momentum=0.9, weight_decay=0.01)
    velocity = np.zeros(2)
    w = param.data.copy()
    for grad in ([0.5, 0.5], [1.0, -1.0], [0.0, 2.0]):
        param.grad[:] = grad
        opt.step()
        velocity = 0.9 * velocity + (np.array(grad) + 0.01 * w)
        w = w - 0.1 * velocity
        np.testing.assert_allclose(param.data, w, rtol=1e-12)
    opt.zero_grad()
    assert np.all(param.grad == 0)


def test_adam_matches_the_textbook_update():
    rng = np.random.default_rng(0)
    param = G.Parameter(rng.standard_normal(5))
    opt = G.Adam([param], lr=0.01, betas=(0.8, 0.99), eps=1e-6)
    w, m, v = param.data.copy(), np.zeros(5), np.zeros(5)
    for t in range(1, 6):
        grad = rng.standard_normal(5)
        param.grad[:] = grad
        opt.step()
        m = 0.8 * m + 0.2 * grad
        v = 0.99 * v + 0.01 * grad ** 2
        m_hat, v_hat = m / (1 - 0.8 ** t), v / (1 - 0.99 ** t)
        w = w - 0.01 * m_hat / (np.sqrt(v_hat) + 1e-6)
        np.testing.assert_allclose(param.data, w, rtol=1e-12)


def test_adam_weight_decay_is_decoupled_from_the_gradient():
    param = G.Parameter(np.array([2.0, -4.0]))
    opt = G.Adam([param], lr=0.1, weight_decay=0.5)
    for _ in range(3):
        opt.step()     # zero gradient: only the decay acts
    np.testing.assert_allclose(param.data, np.array([2.0, -4.0]) * (1 - 0.1 * 0.5) ** 3, rtol=1e-12)


# ---------------------------------------------------------------- save / load

def test_save_load_round_trip(tmp_path):
    model = mlp((4, 6, 3), seed=0)
    model[0].bias.data[:] = np.arange(6)
    path = tmp_path / "model.npz"
    G.save(model, path)
    other = mlp((4, 6, 3), seed=10)
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    model.eval(), other.eval()
    assert not np.array_equal(model(x), other(x))
    G.load(other, path)
    np.testing.assert_array_equal(model(x), other(x))
    for a, b in zip(model.parameters(), other.parameters()):
        assert b.data.dtype == a.data.dtype
        np.testing.assert_array_equal(a.data, b.data)


def test_load_into_another_architecture_changes_nothing(tmp_path):
    path = tmp_path / "model.npz"
    G.save(mlp((4, 6, 3)), path)
    for wrong in (mlp((4, 7, 3), seed=1), mlp((4, 6, 6, 3), seed=1)):
        before = [p.data.copy() for p in wrong.parameters()]
        with pytest.raises(ValueError, match="path|parameter"):
            G.load(wrong, path)
        for b, p in zip(before, wrong.parameters()):
            np.testing.assert_array_equal(b, p.data)


# ---------------------------------------------------------------- models as data

def test_build_core_layers():
    model = G.build([("linear", {"in_features": 3, "out_features": 5, "rng": 0}), "relu",
                     ("residual", {"block": [("linear", {"in_features": 5, "out_features": 5}),
                                             ("tanh", {})]}),
                     ("sequential", {"layers": [("linear", {"in_features": 5, "out_features": 2})]})])
    assert [type(layer) for layer in model.layers] == [G.Linear, G.ReLU, G.Residual, G.Sequential]
    assert model(np.ones((4, 3), np.float32)).shape == (4, 2)
    assert len(model.parameters()) == 6


def test_build_resolves_variants_through_the_registry():
    model = G.build([("linear", {"in_features": 3, "out_features": 5}),
                     ("dropout", {"p": 0.25})])
    assert isinstance(model[1], G.Dropout) and model[1].p == 0.25


@pytest.mark.parametrize("spec, error", [
    ("linear", TypeError),
    ([("linear",)], TypeError),
    ([("linear", [3, 4])], TypeError),
    ([(3, {})], TypeError),
])
def test_build_rejects_bad_specs(spec, error):
    with pytest.raises(error, match="spec"):
        G.build(spec)


# ---------------------------------------------------------------- MC dropout

def test_mc_predict_shape_and_values():
    model = mlp((5, 64, 4), p=0.5, generator=fd.Generator(0))
    x = np.random.default_rng(1).standard_normal((7, 5)).astype(np.float32)
    mean, std = G.mc_predict(model, x, T=20)
    assert mean.shape == std.shape == (7, 4)
    np.testing.assert_allclose(mean.sum(axis=1), 1.0, rtol=1e-6)
    assert np.all(std >= 0) and np.all(std > 0)   # dropout at 0.5 on 64 units moves every output


def test_mc_predict_equals_the_mean_of_its_passes():
    g = fd.Generator(3)
    model = mlp((5, 16, 3), p=0.5, generator=g)
    x = np.random.default_rng(1).standard_normal((4, 5)).astype(np.float32)
    state = g.get_state()
    passes = []
    for _ in range(5):
        logits = model(x).astype(np.float64)
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        passes.append(e / e.sum(axis=1, keepdims=True))
    g.set_state(state)
    mean, std = G.mc_predict(model, x, T=5)
    np.testing.assert_allclose(mean, np.mean(passes, axis=0), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(std, np.std(passes, axis=0), rtol=1e-4, atol=1e-7)


def test_mc_predict_is_deterministic_for_a_generator_state():
    g = fd.Generator(5)
    model = mlp((5, 32, 3), p=0.3, generator=g)
    x = np.random.default_rng(2).standard_normal((6, 5)).astype(np.float32)
    state = g.get_state()
    first = G.mc_predict(model, x, T=10)
    second = G.mc_predict(model, x, T=10)
    assert not np.array_equal(first[0], second[0])   # the generator moved on
    g.set_state(state)
    third = G.mc_predict(model, x, T=10)
    np.testing.assert_array_equal(first[0], third[0])
    np.testing.assert_array_equal(first[1], third[1])


def test_mc_predict_restores_modes_and_only_enables_dropout():
    model = G.Sequential([G.Linear(3, 8, rng=0), G.ReLU(), G.Dropout(0.5), G.Linear(8, 2, rng=1)])
    model[2].eval()     # the opposite of what mc_predict needs, for every layer
    modes = [layer.training for layer in model.modules()]
    assert modes == [True, True, True, False, True]
    G.mc_predict(model, np.ones((2, 3), np.float32), T=3)
    assert [layer.training for layer in model.modules()] == modes

    plain = G.Sequential([G.Linear(3, 4, rng=0), G.Dropout(0.0), G.Linear(4, 2, rng=1)])
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    mean, std = G.mc_predict(plain, x, T=4)
    logits = plain.eval()(x).astype(np.float64)
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(mean, expected, rtol=1e-6)
    assert np.all(std < 1e-7)


# ---------------------------------------------------------------- learning

def two_spirals(n_per_class, seed=0):
    rng = np.random.default_rng(seed)
    t = np.sqrt(rng.uniform(0.05, 1.0, n_per_class)) * 3 * np.pi
    arm = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (3 * np.pi)
    x = np.concatenate([arm, -arm]) + rng.normal(0, 0.02, (2 * n_per_class, 2))
    y = np.repeat([0, 1], n_per_class)
    return x.astype(np.float32), y


def train(model, x, y, steps, lr):
    opt = G.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        _, dlogits = G.softmax_cross_entropy(model(x), y)
        model.backward(dlogits)
        opt.step()
    model.eval()
    return float(np.mean(np.argmax(model(x), axis=1) == y))


def test_mlp_learns_two_spirals_which_a_linear_model_cannot():
    x, y = two_spirals(150)
    # Interleaved spirals are not linearly separable: the best linear
    # classifier on these points gets 0.70 (the same after 3000 steps), while
    # the two hidden layers reach 1.0 (for several seeds).
    linear_acc = train(G.Sequential([G.Linear(2, 2, rng=0)]), x, y, steps=300, lr=0.02)
    model = mlp((2, 64, 64, 2), p=0.1, generator=fd.Generator(0))
    mlp_acc = train(model, x, y, steps=600, lr=0.01)
    assert linear_acc < 0.8
    assert mlp_acc >= 0.95


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("make, error, name", [
    (lambda: G.Linear(0, 3), ValueError, "in_features"),
    (lambda: G.Linear(3, 2.5), TypeError, "out_features"),
    (lambda: G.Linear(3, 2, rng="seed"), TypeError, "rng"),
    (lambda: G.Linear(3, 2, bias=1), TypeError, "bias"),
    (lambda: G.Linear(3, 2, dtype=np.int32), TypeError, "dtype"),
    (lambda: G.Dropout(1.5), ValueError, "p"),
    (lambda: G.Dropout("0.5"), TypeError, "p"),
    (lambda: G.Dropout(0.5, mode="gaussian"), ValueError, "mode"),
    (lambda: G.Dropout(0.5, generator=np.random.default_rng(0)), TypeError, "generator"),
    (lambda: G.Sequential(G.ReLU()), TypeError, "layers"),
    (lambda: G.Sequential([G.ReLU(), "relu"]), TypeError, r"layers\[1\]"),
    (lambda: G.Residual(G.ReLU(), drop_path=1.0), ValueError, "drop_path"),
    (lambda: G.Residual(np.ones(2)), TypeError, "block"),
    (lambda: G.SGD([], lr=0.1), ValueError, "params"),
    (lambda: G.SGD(G.Linear(2, 2), lr=0.1), TypeError, "params"),
    (lambda: G.SGD([np.ones(2)], lr=0.1), TypeError, r"params\[0\]"),
    (lambda: G.SGD(G.Linear(2, 2).parameters(), lr=-1), ValueError, "lr"),
    (lambda: G.SGD(G.Linear(2, 2).parameters(), lr=0.1, momentum=1.0), ValueError, "momentum"),
    (lambda: G.Adam(G.Linear(2, 2).parameters(), betas=(0.9,)), TypeError, "betas"),
    (lambda: G.Adam(G.Linear(2, 2).parameters(), betas=(0.9, 1.0)), ValueError, r"betas\[1\]"),
    (lambda: G.Adam(G.Linear(2, 2).parameters(), eps=0), ValueError, "eps"),
    (lambda: G.Adam(G.Linear(2, 2).parameters(), weight_decay=math.nan), ValueError, "weight_decay"),
    (lambda: G.mc_predict(G.Linear(2, 2), np.ones((1, 2)), T=0), ValueError, "T"),
    (lambda: G.mc_predict("model", np.ones((1, 2))), TypeError, "model"),
    (lambda: G.save(G.Linear(2, 2), 3), TypeError, "path"),
    (lambda: G.Linear(2, 2).train("yes"), TypeError, "mode"),
])
def test_bad_arguments_are_named(make, error, name):
    with pytest.raises(error, match=name):
        make()


def test_bad_forward_input_changes_nothing():
    g = fd.Generator(0)
    layer = G.Dropout(0.5, generator=g)
    with pytest.raises(TypeError, match="x"):
        layer(np.ones((2, 2), np.int64))
    assert g.counter == 0 and layer.handle is None
    with pytest.raises(ValueError, match="last dimension 3"):
        G.Linear(3, 2)(np.ones((4, 5), np.float32))
    with pytest.raises(ValueError, match="keep the input's shape"):
        G.Residual(G.Linear(3, 2))(np.ones((4, 3), np.float32))


@pytest.mark.parametrize("logits, labels, error, name", [
    (np.ones((2, 3)), np.array([0, 3]), ValueError, "labels"),
    (np.ones((2, 3)), np.array([0.0, 1.0]), TypeError, "labels"),
    (np.ones((2, 3)), np.array([0, 1, 2]), ValueError, "labels"),
    (np.ones(3), np.array([0]), ValueError, "logits"),
    (np.ones((2, 3), np.int64), np.array([0, 1]), TypeError, "logits"),
])
def test_cross_entropy_rejects_bad_input(logits, labels, error, name):
    with pytest.raises(error, match=name):
        G.softmax_cross_entropy(logits, labels)


def test_mse_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="target"):
        G.mse(np.ones(3), np.ones(4))

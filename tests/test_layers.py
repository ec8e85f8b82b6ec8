"""The convolution, pooling, normalization, embedding, attention and recurrent
layers of fastdrop.graph: gradients against finite differences, values
against plain NumPy references (and against torch where it is installed),
initialisation, dtypes, modes, saving, building from data and bad input.

Finite differences: central, float64, step 1e-6 (variant_util.numeric_grad).
The truncation error is ~1e-12 |f'''| and the rounding error ~1e-16 |f| / 1e-6
~ 1e-9 for the |f| ~ 10 losses here, so RTOL = 1e-5 and ATOL = 1e-7 leave a
margin of 10-100 while any wrong term (errors of order 1e-2) fails."""
import math

import numpy as np
import pytest

import fastdrop as fd
from fastdrop import graph as G

from variant_util import binomial_sigma, numeric_grad

RTOL, ATOL = 1e-5, 1e-7


def normal(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def distinct(shape, seed=0):
    """float64 values at least 0.01 apart, so no max-pool tie lies within the finite-difference step."""
    return np.random.default_rng(seed).permutation(math.prod(shape)).reshape(shape) * 0.01


def token_ids(shape, vocab, seed=0):
    return np.random.default_rng(seed).integers(0, vocab, shape)


def check_gradients(layer, x, generator=None):
    """layer.backward and every Parameter.grad against central differences of
    sum(w * layer(x)); the generator is reset before each forward pass, so
    every pass draws the same dropout mask.  Integer inputs get no dx."""
    state = generator.get_state() if generator is not None else None

    def loss():
        if generator is not None:
            generator.set_state(state)
        return float(np.sum(w * layer.forward(x)))

    w = normal(layer.forward(x).shape, seed=99)
    loss()
    layer.zero_grad()
    dx = layer.backward(w.copy())
    if x.dtype.kind == "f":
        np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=RTOL, atol=ATOL, err_msg="d/dx")
    else:
        assert dx is None
    for i, param in enumerate(layer.parameters()):
        np.testing.assert_allclose(param.grad, numeric_grad(loss, param.data), rtol=RTOL, atol=ATOL,
                                   err_msg=f"parameter {i}")


def with_values(layer, seed=5):
    """Give normalization layers non-trivial weight and bias, so their gradients are tested too."""
    for i, param in enumerate(layer.parameters()):
        param.data[...] = normal(param.data.shape, seed + i)
    return layer


# (id, maker(dtype), input maker(dtype)): every layer in a configuration worth checking.
LAYERS = [
    ("conv1d", lambda dt: G.Conv1d(3, 4, 3, stride=2, padding=1, rng=0, dtype=dt),
     lambda dt: normal((2, 3, 7)).astype(dt)),
    ("conv2d", lambda dt: G.Conv2d(2, 3, 3, rng=0, dtype=dt), lambda dt: normal((2, 2, 5, 4)).astype(dt)),
    ("conv2d-pairs", lambda dt: G.Conv2d(2, 3, (3, 2), stride=(2, 1), padding=(1, 0), rng=1, dtype=dt),
     lambda dt: normal((2, 2, 6, 5)).astype(dt)),
    ("conv2d-nobias", lambda dt: G.Conv2d(2, 2, 2, stride=2, padding=1, bias=False, rng=2, dtype=dt),
     lambda dt: normal((1, 2, 5, 5)).astype(dt)),
    ("maxpool2d", lambda dt: G.MaxPool2d(2), lambda dt: distinct((2, 3, 5, 4)).astype(dt)),
    ("maxpool2d-pairs", lambda dt: G.MaxPool2d((3, 2)), lambda dt: distinct((1, 2, 6, 7)).astype(dt)),
    ("globalavgpool", lambda dt: G.GlobalAvgPool(), lambda dt: normal((2, 3, 4, 2)).astype(dt)),
    ("globalavgpool-last", lambda dt: G.GlobalAvgPool(channels_last=True), lambda dt: normal((2, 5, 3)).astype(dt)),
    ("flatten", lambda dt: G.Flatten(), lambda dt: normal((2, 3, 2, 2)).astype(dt)),
    ("embedding", lambda dt: G.Embedding(6, 3, rng=0, dtype=dt), lambda dt: np.array([[0, 5, 2, 5], [2, 2, 1, 0]])),
    ("layernorm", lambda dt: with_values(G.LayerNorm(5, dtype=dt)), lambda dt: normal((2, 3, 5)).astype(dt)),
    ("batchnorm-2d", lambda dt: with_values(G.BatchNorm(3, dtype=dt)), lambda dt: normal((6, 3)).astype(dt)),
    ("batchnorm-4d", lambda dt: with_values(G.BatchNorm(2, dtype=dt)), lambda dt: normal((3, 2, 2, 3)).astype(dt)),
    ("batchnorm-eval", lambda dt: with_values(G.BatchNorm(2, dtype=dt)).eval(),
     lambda dt: normal((3, 2, 4)).astype(dt)),
    ("selfattention", lambda dt: G.SelfAttention(8, 2, rng=0, dtype=dt), lambda dt: normal((2, 4, 8)).astype(dt)),
    ("selfattention-causal", lambda dt: G.SelfAttention(6, 3, causal=True, rng=1, dtype=dt),
     lambda dt: normal((2, 5, 6)).astype(dt)),
    ("gru", lambda dt: G.GRU(3, 4, rng=0, dtype=dt), lambda dt: normal((2, 5, 3)).astype(dt)),
    ("gru-last", lambda dt: G.GRU(2, 3, return_sequences=False, rng=1, dtype=dt),
     lambda dt: normal((3, 4, 2)).astype(dt)),
]
LAYER_IDS = [case[0] for case in LAYERS]


# ---------------------------------------------------------------- gradients

@pytest.mark.parametrize("name, make, data", LAYERS, ids=LAYER_IDS)
def test_gradients_match_finite_differences(name, make, data):
    check_gradients(make(np.float64), data(np.float64))


@pytest.mark.parametrize("causal", [False, True])
def test_attention_dropout_gradients_match_finite_differences(causal):
    g = fd.Generator(3)
    layer = G.SelfAttention(6, 2, attn_dropout=0.3, causal=causal, rng=0, dtype=np.float64, generator=g)
    x = normal((2, 4, 6))
    check_gradients(layer, x, generator=g)
    kept = layer.handle.mask()
    assert 0 < kept.sum() < kept.size, "the check needs some dropped and some kept probabilities"


def test_flatten_lets_dropout_work_in_place_only_after_a_fresh_output():
    g = fd.Generator(4)
    fresh = G.Sequential([G.ReLU(), G.Flatten(), G.Dropout(0.5, generator=g)])
    kept = G.Sequential([G.Tanh(), G.Flatten(), G.Dropout(0.5, generator=g)])
    assert fresh[2].overwrite_input and not kept[2].overwrite_input
    x = normal((4, 2, 3))
    x = np.where(x >= 0, x + 0.1, x - 0.1)          # no ReLU kink within the step
    check_gradients(fresh, x, generator=g)
    check_gradients(kept, x, generator=g)          # Tanh's kept output must survive the dropout


# ---------------------------------------------------------------- values, without torch

def reference_conv2d(x, weight, bias, stride, padding):
    """Cross-correlation by the definition, one output position at a time."""
    x = np.pad(x, [(0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2])
    kh, kw = weight.shape[2:]
    ho, wo = (x.shape[2] - kh) // stride[0] + 1, (x.shape[3] - kw) // stride[1] + 1
    y = np.empty((x.shape[0], weight.shape[0], ho, wo))
    for i in range(ho):
        for j in range(wo):
            patch = x[:, :, i * stride[0]:i * stride[0] + kh, j * stride[1]:j * stride[1] + kw]
            y[:, :, i, j] = np.tensordot(patch, weight, axes=([1, 2, 3], [1, 2, 3])) + bias
    return y


@pytest.mark.parametrize("kernel, stride, padding", [(3, 1, 0), ((2, 3), (2, 1), (1, 2)), (1, 3, 0)])
def test_conv2d_is_the_cross_correlation(kernel, stride, padding):
    conv = G.Conv2d(3, 4, kernel, stride=stride, padding=padding, rng=0, dtype=np.float64)
    x = normal((2, 3, 7, 6))
    expected = reference_conv2d(x, conv.weight.data, conv.bias.data, conv.stride, conv.padding)
    np.testing.assert_allclose(conv(x), expected, rtol=1e-12, atol=1e-12)


def test_conv1d_equals_conv2d_on_a_single_row():
    conv1 = G.Conv1d(2, 3, 3, stride=2, padding=1, rng=0, dtype=np.float64)
    conv2 = G.Conv2d(2, 3, (1, 3), stride=(1, 2), padding=(0, 1), rng=0, dtype=np.float64)
    conv2.weight.data[...] = conv1.weight.data[:, :, None, :]
    x = normal((2, 2, 9))
    np.testing.assert_allclose(conv1(x), conv2(x[:, :, None, :])[:, :, 0], rtol=1e-12)


def test_maxpool_takes_the_window_maximum_and_drops_the_remainder():
    x = distinct((2, 3, 7, 5))
    y = G.MaxPool2d((2, 2))(x)
    assert y.shape == (2, 3, 3, 2)
    for i in range(3):
        for j in range(2):
            np.testing.assert_array_equal(y[:, :, i, j], x[:, :, 2 * i:2 * i + 2, 2 * j:2 * j + 2].max(axis=(2, 3)))


def test_maxpool_sends_the_gradient_to_the_first_maximum_on_ties():
    pool = G.MaxPool2d(2)
    pool(np.ones((1, 1, 2, 2)))
    np.testing.assert_array_equal(pool.backward(np.full((1, 1, 1, 1), 3.0))[0, 0], [[3.0, 0.0], [0.0, 0.0]])


def test_global_avg_pool_and_flatten_shapes():
    x = normal((2, 3, 4, 5))
    np.testing.assert_allclose(G.GlobalAvgPool()(x), x.mean(axis=(2, 3)))
    np.testing.assert_allclose(G.GlobalAvgPool(channels_last=True)(x), x.mean(axis=(1, 2)))
    np.testing.assert_array_equal(G.Flatten()(x), x.reshape(2, 60))


def test_layernorm_normalizes_each_sample():
    y = G.LayerNorm(16, dtype=np.float64)(normal((5, 16)) * 3 + 2)
    np.testing.assert_allclose(y.mean(axis=-1), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=-1), 1, rtol=1e-4)    # eps = 1e-5 against variance ~ 9


def test_batchnorm_uses_batch_statistics_in_training_and_running_ones_in_evaluation():
    bn = G.BatchNorm(3, momentum=0.25, dtype=np.float64)
    x = normal((8, 3, 2, 2)) * np.array([1.0, 2.0, 3.0])[:, None, None] + 5
    y = bn(x)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3), ddof=1)   # running variance is unbiased
    np.testing.assert_allclose(bn.running_mean, 0.25 * mean, rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, 0.75 + 0.25 * var, rtol=1e-12)
    running = [b.copy() for b in bn.buffers()]
    bn.eval()
    x2 = normal((4, 3, 2, 2), seed=1)
    expected = (x2 - running[0][:, None, None]) / np.sqrt(running[1][:, None, None] + bn.eps)
    np.testing.assert_allclose(bn(x2), expected, rtol=1e-12)
    for before, after in zip(running, bn.buffers()):
        np.testing.assert_array_equal(before, after)                    # evaluation updates nothing


def test_embedding_looks_up_rows_and_adds_repeated_ids():
    emb = G.Embedding(5, 3, rng=0, dtype=np.float64)
    ids = np.array([[4, 0], [4, 4]])
    np.testing.assert_array_equal(emb(ids), emb.weight.data[ids])
    assert emb.backward(np.ones((2, 2, 3))) is None
    np.testing.assert_array_equal(emb.weight.grad[:, 0], [1, 0, 0, 0, 3])


def reference_attention(x, layer, multiplier=None):
    """Self-attention written out head by head, with an optional multiplier on the probabilities."""
    n, t, dim = x.shape
    hd = dim // layer.heads
    qkv = x @ layer.qkv.weight.data + layer.qkv.bias.data
    heads = []
    for h in range(layer.heads):
        q, k, v = (qkv[..., part * dim + h * hd:part * dim + (h + 1) * hd] for part in range(3))
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(hd)
        if layer.causal:
            scores = np.where(np.tri(t, dtype=bool), scores, -np.inf)
        probs = np.exp(scores - scores.max(axis=-1, keepdims=True))
        probs /= probs.sum(axis=-1, keepdims=True)
        if multiplier is not None:
            probs = probs * multiplier[:, h]
        heads.append(probs @ v)
    return np.concatenate(heads, axis=-1) @ layer.proj.weight.data + layer.proj.bias.data


@pytest.mark.parametrize("causal", [False, True])
def test_attention_matches_the_head_by_head_definition(causal):
    layer = G.SelfAttention(8, 2, causal=causal, rng=0, dtype=np.float64)
    layer.qkv.bias.data[...] = normal(24, seed=3)
    x = normal((3, 5, 8))
    np.testing.assert_allclose(layer(x), reference_attention(x, layer), rtol=1e-12, atol=1e-12)


def test_attention_dropout_drops_probabilities_with_the_kernel_mask():
    p = 0.4
    layer = G.SelfAttention(8, 2, attn_dropout=p, rng=0, dtype=np.float64, generator=fd.Generator(5))
    x = normal((4, 6, 8))
    y = layer(x)
    handle = layer.handle
    assert handle.shape == handle.mask_shape == (4, 2, 6, 6) and handle.p == p
    np.testing.assert_allclose(y, reference_attention(x, layer, handle.mask() / (1 - p)), rtol=1e-12, atol=1e-12)


def test_attention_dropout_rate_is_p():
    p = 0.25
    layer = G.SelfAttention(4, 2, attn_dropout=p, rng=0, generator=fd.Generator(6))
    layer(np.ones((50, 10, 4), np.float32))
    dropped = 1 - layer.handle.mask().mean()
    assert abs(dropped - p) < 5 * binomial_sigma(p, 50 * 2 * 10 * 10)   # 5 binomial sigma, 10000 draws


def test_attention_backward_regenerates_the_mask_from_the_handle():
    g = fd.Generator(7)
    layer = G.SelfAttention(4, 1, attn_dropout=0.5, rng=0, dtype=np.float64, generator=g)
    x, dy = normal((3, 5, 4)), normal((3, 5, 4), seed=1)
    layer(x)
    kept = [v for v in vars(layer).values() if isinstance(v, np.ndarray)]
    kept += [a for v in vars(layer).values() if isinstance(v, tuple) for a in v if isinstance(a, np.ndarray)]
    assert not any(a.dtype == bool for a in kept)
    probabilities = [a for a in kept if a.shape == layer.handle.shape]
    assert probabilities and all(np.allclose(a.sum(axis=-1), 1) for a in probabilities)   # undropped only
    first = layer.backward(dy)
    fd.dropout(np.ones(100), 0.5, generator=g)          # the generator moves on: backward does not care
    np.testing.assert_array_equal(layer.backward(dy), first)
    own = layer.handle
    layer.handle = fd.dropout_handle(own.shape, 0.5, generator=g)   # another mask: another gradient
    assert not np.array_equal(layer.backward(dy), first)


def test_attention_is_deterministic_without_dropout_and_in_evaluation():
    g = fd.Generator(8)
    x = normal((2, 4, 4))
    plain = G.SelfAttention(4, 2, rng=0, generator=g)
    np.testing.assert_array_equal(plain(x), plain(x))
    dropping = G.SelfAttention(4, 2, attn_dropout=0.5, rng=0, generator=g)
    assert not np.array_equal(dropping(x), dropping(x))
    state = g.get_state()
    dropping.eval()
    np.testing.assert_array_equal(dropping(x), plain(x))
    assert g.get_state() == state and dropping.handle is None and plain.handle is None


def test_causal_attention_ignores_the_future():
    layer = G.SelfAttention(6, 2, causal=True, rng=0, dtype=np.float64)
    x = normal((2, 7, 6))
    later = x.copy()
    later[:, 4:] += 10.0
    np.testing.assert_array_equal(layer(x)[:, :4], layer(later)[:, :4])
    assert not np.allclose(layer(x)[:, 4:], layer(later)[:, 4:])


def reference_gru(x, gru):
    h_size = gru.hidden_size
    sig = lambda a: 1 / (1 + np.exp(-a))
    h = np.zeros((x.shape[0], h_size))
    out = []
    for t in range(x.shape[1]):
        gi = x[:, t] @ gru.weight_ih.data + gru.bias_ih.data
        gh = h @ gru.weight_hh.data + gru.bias_hh.data
        r = sig(gi[:, :h_size] + gh[:, :h_size])
        z = sig(gi[:, h_size:2 * h_size] + gh[:, h_size:2 * h_size])
        n = np.tanh(gi[:, 2 * h_size:] + r * gh[:, 2 * h_size:])
        h = (1 - z) * n + z * h
        out.append(h)
    return np.stack(out, axis=1)


def test_gru_follows_the_gate_equations_and_returns_the_last_step_on_request():
    gru = G.GRU(3, 4, rng=0, dtype=np.float64)
    x = normal((2, 6, 3))
    expected = reference_gru(x, gru)
    np.testing.assert_allclose(gru(x), expected, rtol=1e-12, atol=1e-14)
    last = G.GRU(3, 4, return_sequences=False, rng=0, dtype=np.float64)
    np.testing.assert_allclose(last(x), expected[:, -1], rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------- dtypes, initialisation

@pytest.mark.parametrize("name, make, data", LAYERS, ids=LAYER_IDS)
def test_float32_in_float32_out(name, make, data):
    layer = make(np.float32)
    y = layer(data(np.float32))
    assert y.dtype == np.float32
    dx = layer.backward(np.ones(y.shape, np.float32))
    assert dx is None if name == "embedding" else dx.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in layer.parameters())


def uniform_within(values, bound):
    """All in [-bound, bound] and a standard deviation within 5 sigma of bound / sqrt(3)."""
    n = values.size
    # uniform: variance b^2 / 3, fourth central moment b^4 / 5, so the sample
    # variance has sigma sqrt((b^4 / 5 - b^4 / 9) / n).
    sigma = math.sqrt((bound ** 4 / 5 - bound ** 4 / 9) / n)
    return np.abs(values).max() <= bound and abs(values.var() - bound ** 2 / 3) < 5 * sigma


def test_initialisation_follows_torch():
    conv = G.Conv2d(16, 32, 3, rng=0)
    assert conv.weight.data.shape == (32, 16, 3, 3)
    assert uniform_within(conv.weight.data, 1 / math.sqrt(16 * 9))
    assert uniform_within(conv.bias.data, 1 / math.sqrt(16 * 9)) or conv.bias.data.size < 100
    assert uniform_within(G.Conv1d(8, 64, 5, rng=0).weight.data, 1 / math.sqrt(40))
    gru = G.GRU(10, 32, rng=0)
    assert all(uniform_within(p.data, 1 / math.sqrt(32)) for p in gru.parameters())
    attn = G.SelfAttention(32, 4, rng=0)
    assert uniform_within(attn.qkv.weight.data, math.sqrt(6 / (32 + 96)))
    assert uniform_within(attn.proj.weight.data, 1 / math.sqrt(32))
    assert not attn.qkv.bias.data.any() and not attn.proj.bias.data.any()
    emb = G.Embedding(100, 50, rng=0).weight.data
    # standard normal: the mean of 5000 values has sigma 1/sqrt(5000), the variance sigma sqrt(2/5000); 5 sigma
    assert abs(emb.mean()) < 5 / math.sqrt(5000) and abs(emb.var() - 1) < 5 * math.sqrt(2 / 5000)
    for norm in (G.LayerNorm(4), G.BatchNorm(4)):
        np.testing.assert_array_equal(norm.weight.data, 1)
        np.testing.assert_array_equal(norm.bias.data, 0)


def test_same_rng_seed_same_weights():
    for make in (lambda s: G.Conv2d(2, 3, 3, rng=s), lambda s: G.GRU(2, 3, rng=s),
                 lambda s: G.SelfAttention(4, 2, rng=s), lambda s: G.Embedding(4, 2, rng=s)):
        a, b, c = make(1), make(1), make(2)
        for pa, pb, pc in zip(a.parameters(), b.parameters(), c.parameters()):
            np.testing.assert_array_equal(pa.data, pb.data)
        assert any(not np.array_equal(pa.data, pc.data) for pa, pc in zip(a.parameters(), c.parameters()))


# ---------------------------------------------------------------- save / load, build

def small_cnn(seed, side=4):
    features = 4 * (side // 2) ** 2
    return G.Sequential([G.Conv2d(1, 4, 3, padding=1, rng=seed), G.BatchNorm(4), G.ReLU(), G.MaxPool2d(2),
                         G.Flatten(), G.LayerNorm(features), G.Linear(features, 3, rng=seed + 1)])


def test_save_load_round_trip_carries_batchnorm_running_statistics(tmp_path):
    model = small_cnn(0)
    x = normal((8, 1, 4, 4)).astype(np.float32)
    for _ in range(3):
        model(x)
    path = tmp_path / "cnn.npz"
    G.save(model, path)
    other = small_cnn(10)
    G.load(other, path)
    assert len(G.buffers(other)) == 2
    for a, b in zip(G.buffers(model), G.buffers(other)):
        np.testing.assert_array_equal(a, b)
    assert other[1].running_mean is G.buffers(other)[0]           # loaded in place
    model.eval(), other.eval()
    np.testing.assert_array_equal(model(x), other(x))


def test_load_without_the_buffers_changes_nothing(tmp_path):
    path = tmp_path / "no_bn.npz"
    G.save(G.Sequential([G.Conv2d(1, 4, 3, padding=1, rng=0), G.ReLU()]), path)
    model = G.Sequential([G.Conv2d(1, 4, 3, padding=1, rng=1), G.BatchNorm(4)])
    before = [p.data.copy() for p in model.parameters()] + [b.copy() for b in G.buffers(model)]
    with pytest.raises(ValueError, match="2 buffers"):
        G.load(model, path)
    for saved, now in zip(before, [p.data for p in model.parameters()] + G.buffers(model)):
        np.testing.assert_array_equal(saved, now)


def test_load_rejects_a_buffer_of_another_shape(tmp_path):
    path = tmp_path / "bn.npz"
    G.save(G.Sequential([G.BatchNorm(4)]), path)
    with np.load(path) as saved:
        arrays = dict(saved)
    arrays["buffer_1"] = np.ones(5, np.float32)
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match="buffer 1"):
        G.load(G.Sequential([G.BatchNorm(4)]), path)


def test_build_knows_every_new_layer():
    spec = [("embedding", {"num_embeddings": 10, "embedding_dim": 8}),
            ("selfattention", {"dim": 8, "heads": 2, "attn_dropout": 0.1}),
            ("layernorm", {"dim": 8}), ("gru", {"input_size": 8, "hidden_size": 6}),
            ("conv1d", {"in_channels": 5, "out_channels": 4, "kernel_size": 3}),
            ("batchnorm", {"num_features": 4}), ("globalavgpool", {}),
            ("conv2d", {"in_channels": 1, "out_channels": 2, "kernel_size": 1}), ("maxpool2d", {"kernel_size": 2}),
            ("flatten", {})]
    model = G.build(spec)
    assert [type(layer) for layer in model.layers] == [G.Embedding, G.SelfAttention, G.LayerNorm, G.GRU, G.Conv1d,
                                                       G.BatchNorm, G.GlobalAvgPool, G.Conv2d, G.MaxPool2d, G.Flatten]
    assert {name for name, _ in spec} <= set(G.CORE_LAYERS)
    cnn = G.build([("conv2d", {"in_channels": 1, "out_channels": 4, "kernel_size": 3, "padding": 1}),
                   ("batchnorm", {"num_features": 4}), "relu", ("spatial2d", {"p": 0.1}),
                   ("maxpool2d", {"kernel_size": 2}), "flatten", ("linear", {"in_features": 64, "out_features": 3})])
    assert cnn(np.ones((2, 1, 8, 8), np.float32)).shape == (2, 3)


def test_a_small_cnn_learns_to_tell_bars_apart():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 64)
    x = rng.normal(0, 0.3, (64, 1, 6, 6)).astype(np.float32)
    x[labels == 0, 0, :, 2] += 1.0                    # a vertical bar
    x[labels == 1, 0, 3, :] += 1.0                    # a horizontal bar
    model = small_cnn(0, side=6)
    opt = G.Adam(model.parameters(), lr=0.02)
    for _ in range(40):
        model.zero_grad()
        loss, dlogits = G.softmax_cross_entropy(model(x), labels)
        model.backward(dlogits)
        opt.step()
    model.eval()
    # chance is 0.5; the two bar orientations are separable by one 3x3 filter
    assert (model(x).argmax(axis=1) == labels).mean() >= 0.95


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("make, error, argument", [
    (lambda: G.Conv2d(0, 2, 3), ValueError, "in_channels"),
    (lambda: G.Conv2d(1, 2.0, 3), TypeError, "out_channels"),
    (lambda: G.Conv2d(1, 2, (3,)), ValueError, "kernel_size"),
    (lambda: G.Conv2d(1, 2, 3, stride=0), ValueError, "stride"),
    (lambda: G.Conv1d(1, 2, 3, padding=-1), ValueError, "padding"),
    (lambda: G.Conv1d(1, 2, 3, bias="no"), TypeError, "bias"),
    (lambda: G.Conv1d(1, 2, 3, dtype=np.int32), TypeError, "dtype"),
    (lambda: G.Conv1d(1, 2, 3, rng="seed"), TypeError, "rng"),
    (lambda: G.MaxPool2d(0), ValueError, "kernel_size"),
    (lambda: G.MaxPool2d((2, 2, 2)), ValueError, "kernel_size"),
    (lambda: G.GlobalAvgPool(channels_last=1), TypeError, "channels_last"),
    (lambda: G.Embedding(0, 3), ValueError, "num_embeddings"),
    (lambda: G.Embedding(3, 2.5), TypeError, "embedding_dim"),
    (lambda: G.LayerNorm(0), ValueError, "dim"),
    (lambda: G.LayerNorm(3, eps=0.0), ValueError, "eps"),
    (lambda: G.BatchNorm(-1), ValueError, "num_features"),
    (lambda: G.BatchNorm(3, momentum=1.5), ValueError, "momentum"),
    (lambda: G.SelfAttention(6, 4), ValueError, "multiple of heads"),
    (lambda: G.SelfAttention(6, 0), ValueError, "heads"),
    (lambda: G.SelfAttention(6, 2, attn_dropout=1.5), ValueError, "attn_dropout"),
    (lambda: G.SelfAttention(6, 2, causal="yes"), TypeError, "causal"),
    (lambda: G.SelfAttention(6, 2, generator=3), TypeError, "generator"),
    (lambda: G.GRU(0, 3), ValueError, "input_size"),
    (lambda: G.GRU(3, None), TypeError, "hidden_size"),
    (lambda: G.GRU(3, 3, return_sequences=0), TypeError, "return_sequences"),
])
def test_bad_arguments_are_named(make, error, argument):
    with pytest.raises(error, match=argument):
        make()


# (layer id, a bad forward input, the text the message must contain)
BAD_INPUTS = {
    "conv1d": (np.ones((2, 4, 7)), r"x must have shape \(N, C, L\)"),
    "conv2d": (np.ones((2, 2, 2, 2)), "smaller than the kernel"),
    "conv2d-pairs": (np.ones((2, 2, 6)), r"x must have shape \(N, C, H, W\)"),
    "conv2d-nobias": (np.ones((1, 2, 5, 5), np.int64), "dtype"),
    "maxpool2d": (np.ones((2, 3, 1, 4)), "smaller than the kernel"),
    "maxpool2d-pairs": (np.ones((2, 6, 7)), r"\(N, C, H, W\)"),
    "globalavgpool": (np.ones((2, 3)), "at least one spatial axis"),
    "globalavgpool-last": (np.ones(3), r"\(N, \.\.\., C\)"),
    "flatten": (np.float64(1.0), "batch axis"),
    "embedding": (np.array([[0, 6]]), r"ids must be in \[0, 6\)"),
    "layernorm": (np.ones((2, 4)), "last dimension 5"),
    "batchnorm-2d": (np.ones((1, 3)), "more than one value per channel"),
    "batchnorm-4d": (np.ones((3, 3, 2, 3)), r"x must have shape \(N, 2\)"),
    "batchnorm-eval": (np.ones(2), r"\(N, 2\)"),
    "selfattention": (np.ones((2, 4, 6)), r"\(N, T, 8\)"),
    "selfattention-causal": (np.ones((5, 6)), r"\(N, T, 6\)"),
    "gru": (np.ones((2, 0, 3)), "at least one time step"),
    "gru-last": (np.ones((3, 4, 3)), r"\(N, T, 2\)"),
}


def layer_state(layer):
    arrays = [p.data for p in layer.parameters()] + [p.grad for p in layer.parameters()] + G.buffers(layer)
    return [a.copy() for a in arrays]


@pytest.mark.parametrize("name, make, data", LAYERS, ids=LAYER_IDS)
def test_forward_that_raises_changes_nothing(name, make, data):
    bad, message = BAD_INPUTS[name]
    layer = make(np.float64)
    x = data(np.float64)
    y = layer(x)
    dy = normal(y.shape, seed=4)
    layer.backward(dy)
    before = layer_state(layer)
    with pytest.raises((TypeError, ValueError), match=message):
        layer(bad)
    for saved, now in zip(before, layer_state(layer)):
        np.testing.assert_array_equal(saved, now)
    layer.zero_grad()
    dx = layer.backward(dy)                         # still the gradient of the good call
    fresh = make(np.float64)
    fresh(x)
    expected = fresh.backward(dy)
    if dx is not None:
        np.testing.assert_array_equal(dx, expected)
    for a, b in zip(layer.parameters(), fresh.parameters()):
        np.testing.assert_array_equal(a.grad, b.grad)


@pytest.mark.parametrize("name, make, data", LAYERS, ids=LAYER_IDS)
def test_backward_checks_the_gradient_shape_and_order(name, make, data):
    layer = make(np.float64)
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.ones(3))
    y = layer(data(np.float64))
    grads = layer_state(layer)
    with pytest.raises(ValueError, match="dy has shape"):
        layer.backward(np.ones(y.shape + (1,)))
    for saved, now in zip(grads, layer_state(layer)):
        np.testing.assert_array_equal(saved, now)


@pytest.mark.parametrize("name, make, data", LAYERS, ids=LAYER_IDS)
def test_backward_leaves_the_callers_gradient_untouched(name, make, data):
    layer = make(np.float64)
    y = layer(data(np.float64))
    dy = normal(y.shape, seed=2)
    saved = dy.copy()
    layer.backward(dy)
    np.testing.assert_array_equal(dy, saved)


def test_batchnorm_refusing_a_single_value_keeps_its_running_statistics():
    bn = G.BatchNorm(3)
    with pytest.raises(ValueError, match="more than one value per channel"):
        bn(np.ones((1, 3, 1), np.float32))
    np.testing.assert_array_equal(bn.running_mean, 0)
    np.testing.assert_array_equal(bn.running_var, 1)
    bn.eval()
    assert bn(np.ones((1, 3), np.float32)).shape == (1, 3)     # evaluation takes a single sample


def test_embedding_rejects_non_integer_ids():
    with pytest.raises(TypeError, match="ids must be an integer array"):
        G.Embedding(4, 2)(np.array([0.0, 1.0]))


def test_attention_that_raises_draws_no_mask():
    g = fd.Generator(0)
    layer = G.SelfAttention(4, 2, attn_dropout=0.5, generator=g)
    with pytest.raises(ValueError, match=r"\(N, T, 4\)"):
        layer(np.ones((2, 3, 5), np.float32))
    assert g.counter == 0 and layer.handle is None


# ---------------------------------------------------------------- against torch, where it is installed

def torch_pair(layer, x, torch_forward, torch_params):
    """Run `layer` and torch on the same input and gradient; return both
    outputs, input gradients and the parameter gradients torch computed
    (in `torch_params` order, already in fastdrop's layout)."""
    torch = pytest.importorskip("torch")
    y = layer(x)
    dy = normal(y.shape, seed=7)
    dx = layer.backward(dy)
    xt = torch.tensor(x, requires_grad=True)
    params = [torch.tensor(p, requires_grad=True) for p in torch_params]
    yt = torch_forward(xt, *params)
    yt.backward(torch.tensor(dy))
    return (y, yt.detach().numpy()), (dx, xt.grad.numpy()), [p.grad.numpy() for p in params]


def assert_close_all(pairs):
    for ours, theirs in pairs:
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dims, stride, padding", [(1, 2, 1), (2, (2, 1), (0, 1))])
def test_convolutions_match_torch(dims, stride, padding):
    torch = pytest.importorskip("torch")
    layer = (G.Conv1d if dims == 1 else G.Conv2d)(3, 4, 3, stride=stride, padding=padding, rng=0, dtype=np.float64)
    x = normal((2, 3, 7) if dims == 1 else (2, 3, 7, 6))
    conv = torch.nn.functional.conv1d if dims == 1 else torch.nn.functional.conv2d
    forward = lambda xt, w, b: conv(xt, w, b, stride=stride, padding=padding)
    y, dx, (dw, db) = torch_pair(layer, x, forward, [layer.weight.data, layer.bias.data])
    assert_close_all([y, dx, (layer.weight.grad, dw), (layer.bias.grad, db)])


def test_pooling_and_normalization_match_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = distinct((2, 3, 7, 6))
    y, dx, _ = torch_pair(G.MaxPool2d((2, 3)), x, lambda xt: F.max_pool2d(xt, (2, 3)), [])
    assert_close_all([y, dx])
    layer = with_values(G.LayerNorm(6, dtype=np.float64))
    y, dx, (dw, db) = torch_pair(layer, normal((2, 3, 6)), lambda xt, w, b: F.layer_norm(xt, (6,), w, b, 1e-5),
                                 [layer.weight.data, layer.bias.data])
    assert_close_all([y, dx, (layer.weight.grad, dw), (layer.bias.grad, db)])
    for training in (True, False):
        layer = with_values(G.BatchNorm(3, dtype=np.float64))
        layer.running_mean[...], layer.running_var[...] = [0.5, -1.0, 2.0], [1.5, 0.5, 3.0]
        mean, var = torch.tensor(layer.running_mean.copy()), torch.tensor(layer.running_var.copy())
        forward = lambda xt, w, b: F.batch_norm(xt, mean, var, w, b, training=training, momentum=0.1, eps=1e-5)
        y, dx, (dw, db) = torch_pair(layer.train(training), normal((4, 3, 2, 2)) * 2 + 1, forward,
                                     [layer.weight.data, layer.bias.data])
        assert_close_all([y, dx, (layer.weight.grad, dw), (layer.bias.grad, db),
                          (layer.running_mean, mean.numpy()), (layer.running_var, var.numpy())])


@pytest.mark.parametrize("causal", [False, True])
def test_attention_matches_torch_multihead_attention(causal):
    torch = pytest.importorskip("torch")
    layer = G.SelfAttention(8, 2, causal=causal, rng=0, dtype=np.float64)
    layer.qkv.bias.data[...] = normal(24, seed=3)
    layer.proj.bias.data[...] = normal(8, seed=4)
    mask = torch.triu(torch.ones(5, 5, dtype=torch.bool), 1) if causal else None

    def forward(xt, w_in, b_in, w_out, b_out):
        y, _ = torch.nn.functional.multi_head_attention_forward(
            xt.transpose(0, 1), xt.transpose(0, 1), xt.transpose(0, 1), 8, 2, w_in.T, b_in, None, None, False,
            0.0, w_out.T, b_out, need_weights=False, attn_mask=mask)
        return y.transpose(0, 1)

    params = [layer.qkv.weight.data, layer.qkv.bias.data, layer.proj.weight.data, layer.proj.bias.data]
    y, dx, grads = torch_pair(layer, normal((3, 5, 8)), forward, params)
    assert_close_all([y, dx] + [(p.grad, g) for p, g in zip(layer.parameters(), grads)])


def test_gru_matches_torch():
    torch = pytest.importorskip("torch")
    layer = G.GRU(3, 4, rng=0, dtype=np.float64)

    gru = torch.nn.GRU(3, 4, batch_first=True).double()

    def forward(xt, w_ih, w_hh, b_ih, b_hh):
        weights = {"weight_ih_l0": w_ih.T, "weight_hh_l0": w_hh.T, "bias_ih_l0": b_ih, "bias_hh_l0": b_hh}
        return torch.func.functional_call(gru, weights, (xt,))[0]

    y, dx, grads = torch_pair(layer, normal((2, 6, 3)), forward, [p.data for p in layer.parameters()])
    assert_close_all([y, dx] + [(p.grad, g) for p, g in zip(layer.parameters(), grads)])

"""DropBlock, embedding dropout and DropPath's scale_by_keep, each through the
registry as a user gets them.  The shared variant contract (evaluation,
seeds, finite-difference gradients, observers, p validation, bad input) runs
for dropblock2d and droppath(scale_by_keep=False) in test_variants.py's
CASES; embedding dropout, whose input is token ids, gets its version here.

Statistical checks use fixed seeds and a tolerance of 5 standard deviations
of the estimate (binomial for fractions), so a correct implementation fails
with probability < 1e-6 per check (< 1e-4 for the 64 per-position checks
together) and a wrong rate fails by far more than that."""
import math

import numpy as np
import pytest

import fastdrop as fd
from fastdrop import graph

from variant_util import MaskRecorder, binomial_sigma, numeric_grad

from fastdrop_plugins.dropblock import block_mask, seed_rate


def sample(shape, seed=1):
    return np.random.default_rng(seed).standard_normal(shape)


# ---------------------------------------------------------------- dropblock2d

def dropblock(p, block_size, seed=0, **kwargs):
    return fd.layer("dropblock2d", p=p, block_size=block_size, generator=fd.Generator(seed), **kwargs)


def reference_blocks(seeds, block_size):
    """The dropped elements by the definition: each seed (i, j) drops rows i..i+b-1, columns j..j+b-1."""
    n, c, hs, ws = seeds.shape
    dropped = np.zeros((n, c, hs + block_size - 1, ws + block_size - 1), dtype=bool)
    for index in zip(*np.nonzero(seeds)):
        a, b, i, j = index
        dropped[a, b, i:i + block_size, j:j + block_size] = True
    return dropped


def test_seed_rate_is_the_papers_gamma():
    # Ghiasi et al. (2018), eq. 1 with keep_prob = 1 - p and feat_size = H = W,
    # the expression torchvision's drop_block2d uses: 0.1 * 196 / (49 * 64).
    assert seed_rate(0.1, 7, 14, 14) == pytest.approx(0.00625, rel=1e-15)
    assert seed_rate(0.3, 3, 6, 8) == pytest.approx(0.3 * 48 / (9 * 4 * 6), rel=1e-15)
    assert seed_rate(1.0, 5, 5, 5) == 1.0          # one position, which must drop the whole map


@pytest.mark.parametrize("block_size, shape", [(3, (2, 3, 9, 7)), (2, (2, 2, 6, 6)), (1, (1, 2, 4, 5)),
                                               (5, (2, 2, 5, 8))])
def test_dropblock_drops_the_blocks_grown_from_the_seeds_and_rescales(block_size, shape):
    layer = dropblock(0.4, block_size, seed=2, eps=1e-6)
    x = sample(shape)
    y = layer(x)
    seeds = ~layer.handle.mask()
    assert layer.handle.shape == (shape[0], shape[1], shape[2] - block_size + 1, shape[3] - block_size + 1)
    assert layer.handle.p == pytest.approx(seed_rate(0.4, block_size, shape[2], shape[3]), rel=1e-15)
    dropped = reference_blocks(seeds, block_size)
    np.testing.assert_array_equal(block_mask(seeds, block_size), dropped)
    assert dropped.any() and not dropped.all()
    scale = dropped.size / (1e-6 + np.count_nonzero(~dropped))
    np.testing.assert_allclose(y, np.where(dropped, 0.0, x * scale), rtol=1e-12, atol=0)
    np.testing.assert_allclose(layer.backward(np.ones(shape)), np.where(dropped, 0.0, scale), rtol=1e-12)


@pytest.mark.parametrize("block_size", [1, 3, 5])
def test_dropblock_blocks_are_torchvisions_for_odd_sizes(block_size):
    # torchvision.ops.drop_block2d pads the seed grid by b // 2 and takes a
    # b x b max-pool with stride 1 and padding b // 2; given the same seeds,
    # the dropped elements must be the same.
    torch = pytest.importorskip("torch")
    layer = dropblock(0.5, block_size, seed=3)
    layer(np.ones((2, 3, 9, 8)))
    seeds = torch.tensor((~layer.handle.mask()).astype(np.float64))
    half = block_size // 2
    noise = torch.nn.functional.max_pool2d(torch.nn.functional.pad(seeds, [half] * 4), block_size, stride=1,
                                           padding=half)
    np.testing.assert_array_equal(block_mask(~layer.handle.mask(), block_size), noise.numpy() == 1)


def test_dropblock_seeds_fall_at_rate_gamma():
    p, block_size, shape = 0.3, 3, (100, 20, 10, 10)
    layer = dropblock(p, block_size, seed=4)
    layer(np.ones(shape, np.float32))
    gamma = seed_rate(p, block_size, 10, 10)
    seeds = ~layer.handle.mask()
    assert abs(seeds.mean() - gamma) < 5 * binomial_sigma(gamma, seeds.size)    # 5 binomial sigma, 128000 seeds


def test_dropblock_drops_each_position_with_the_probability_of_its_seeds():
    # Position (i, j) lies in the blocks of c_i * c_j seed positions, so it is
    # dropped with probability 1 - (1 - gamma)**(c_i c_j); maps are
    # independent, so over N * C = 4000 maps the dropped fraction at each
    # position is binomial.
    p, block_size, side, maps = 0.3, 3, 8, 4000
    layer = dropblock(p, block_size, seed=5)
    y = layer(np.ones((maps // 4, 4, side, side)))
    gamma = seed_rate(p, block_size, side, side)
    covers = np.array([min(i, side - block_size) - max(0, i - block_size + 1) + 1 for i in range(side)])
    expected = 1 - (1 - gamma) ** np.outer(covers, covers)
    observed = (y == 0).reshape(maps, side, side).mean(axis=0)
    sigma = np.sqrt(expected * (1 - expected) / maps)
    assert np.all(np.abs(observed - expected) < 5 * sigma)                     # 5 binomial sigma each
    assert abs((y == 0).mean() - p) < 0.1           # overlaps keep the realised fraction just under p


def test_dropblock_clips_a_block_larger_than_the_map():
    p, maps = 0.4, 3000
    layer = dropblock(p, 7, seed=6)
    y = layer(np.ones((maps // 3, 3, 3, 5)))
    assert layer.handle.shape == (maps // 3, 3, 1, 3)              # block clipped to 3 x 3
    per_map = (y == 0).reshape(maps, 3, 5)
    dropped_maps = per_map.any(axis=(1, 2))
    gamma = seed_rate(p, 3, 3, 5)                                 # 0.4 * 15 / (9 * 3)
    # a map keeps everything only if none of its 3 seeds fires
    q = 1 - (1 - gamma) ** 3
    assert abs(dropped_maps.mean() - q) < 5 * binomial_sigma(q, maps)   # 5 binomial sigma


def test_dropblock_p_one_on_a_block_sized_map_drops_everything():
    layer = dropblock(1.0, 4, seed=7)
    x = sample((2, 3, 4, 4))
    np.testing.assert_array_equal(layer(x), np.zeros_like(x))
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), np.zeros_like(x))


def test_dropblock_backward_regenerates_the_seeds_from_the_handle():
    g = fd.Generator(8)
    layer = fd.layer("dropblock2d", p=0.5, block_size=3, generator=g)
    x = sample((2, 4, 7, 7))
    y = layer(x)
    assert not any(isinstance(v, np.ndarray) for v in vars(layer).values())
    fd.dropout(np.ones(64), 0.5, generator=g)
    np.testing.assert_array_equal(layer.backward(x), y)          # the multiplier again, from the handle


@pytest.mark.parametrize("kwargs, error, argument", [
    ({"block_size": 0}, ValueError, "block_size"), ({"block_size": 2.5}, TypeError, "block_size"),
    ({"eps": 0.0}, ValueError, "eps"), ({"eps": "small"}, TypeError, "eps"),
])
def test_dropblock_validates_its_arguments(kwargs, error, argument):
    with pytest.raises(error, match=argument):
        fd.layer("dropblock2d", **kwargs)


def test_dropblock_rejects_input_that_is_not_4d_changing_nothing():
    layer = dropblock(0.5, 3, seed=9)
    with pytest.raises(ValueError, match=r"4-dimensional \(N, C, H, W\)"):
        layer(np.ones((2, 3, 8)))
    assert layer.generator.counter == 0 and layer.handle is None


# ---------------------------------------------------------------- embedding_dropout

def embedding(p, num=50, dim=4, seed=0, dtype=np.float64, generator_seed=0):
    return fd.layer("embedding_dropout", num_embeddings=num, embedding_dim=dim, p=p, rng=seed, dtype=dtype,
                    generator=fd.Generator(generator_seed))


def test_embedding_dropout_is_an_embedding_with_parameters():
    layer = embedding(0.2)
    assert isinstance(layer, graph.Embedding) and isinstance(layer, graph.Variant)
    assert [p.data.shape for p in layer.parameters()] == [(50, 4)]
    same = graph.Embedding(50, 4, rng=0, dtype=np.float64)
    np.testing.assert_array_equal(layer.weight.data, same.weight.data)      # the same initialisation


def test_embedding_dropout_drops_whole_ids_for_the_whole_call():
    p = 0.5
    layer = embedding(p, generator_seed=1)
    ids = np.random.default_rng(2).integers(0, 50, (8, 30))
    y = layer(ids)
    handle = layer.handle
    assert handle.shape == (50, 4) and handle.mask_shape == (50, 1)
    kept_ids = handle.mask()[:, 0]
    np.testing.assert_array_equal(y, handle.apply(layer.weight.data)[ids])     # the dropped table, looked up
    np.testing.assert_array_equal((y != 0).all(axis=-1), kept_ids[ids])      # whole vectors, every occurrence
    np.testing.assert_allclose(y[kept_ids[ids]], layer.weight.data[ids][kept_ids[ids]] / (1 - p), rtol=1e-15)
    assert 0 < kept_ids[np.unique(ids)].sum() < len(np.unique(ids))


def test_embedding_dropout_drops_ids_at_rate_p():
    p, num = 0.3, 20000
    layer = embedding(p, num=num, dim=2, generator_seed=3)
    y = layer(np.arange(num))
    dropped = (y == 0).all(axis=1).mean()
    assert abs(dropped - p) < 5 * binomial_sigma(p, num)                     # 5 binomial sigma


def test_embedding_dropout_draws_a_new_row_mask_each_call():
    layer = embedding(0.5, generator_seed=4)
    ids = np.arange(50)
    masks = [(layer(ids) != 0).all(axis=1) for _ in range(3)]
    assert not np.array_equal(masks[0], masks[1]) and not np.array_equal(masks[1], masks[2])
    again = embedding(0.5, generator_seed=4)
    np.testing.assert_array_equal((again(ids) != 0).all(axis=1), masks[0])


def test_embedding_dropout_evaluation_is_the_plain_lookup_and_draws_nothing():
    layer = embedding(0.5).eval()
    ids = np.array([[1, 2], [2, 49]])
    state = layer.generator.get_state()
    np.testing.assert_array_equal(layer(ids), layer.weight.data[ids])
    layer.backward(np.ones((2, 2, 4)))
    np.testing.assert_array_equal(layer.weight.grad[:, 0], np.bincount(ids.ravel(), minlength=50))
    assert layer.generator.get_state() == state and layer.handle is None


def test_embedding_dropout_weight_gradient_matches_finite_differences():
    # Linear in the weights once the row mask is fixed: exact up to rounding, 1e-6.
    layer = embedding(0.5, num=8, dim=3, generator_seed=5)
    state = layer.generator.get_state()
    ids = np.array([[0, 3, 3, 7], [1, 3, 5, 0]])
    w = sample((2, 4, 3), seed=6)

    def loss():
        layer.generator.set_state(state)
        return float((w * layer(ids)).sum())

    loss()
    assert layer.backward(w) is None
    np.testing.assert_allclose(layer.weight.grad, numeric_grad(loss, layer.weight.data), rtol=1e-6, atol=1e-8)
    kept = layer.handle.mask()[:, 0]
    used = np.unique(ids)
    assert 0 < kept[used].sum() < len(used), "the check needs dropped and kept ids"
    assert not layer.weight.grad[~kept].any()


def test_embedding_dropout_observers_see_every_training_draw(fresh_registry):
    layer = embedding(0.5)
    recorder = MaskRecorder()
    fresh_registry().register(recorder, name="recorder")
    handles = []
    for _ in range(3):
        layer(np.arange(10))
        handles.append(layer.handle)
    layer.eval()(np.arange(10))
    assert recorder.seen == [(layer, handle) for handle in handles]


def test_embedding_dropout_p_zero_and_one():
    ids = np.arange(50)
    zero = embedding(0.0)
    np.testing.assert_array_equal(zero(ids), zero.weight.data)
    assert zero.generator.counter == 0
    one = embedding(1.0)
    np.testing.assert_array_equal(one(ids), 0)


def test_embedding_dropout_keeps_float32():
    layer = embedding(0.5, dtype=np.float32)
    assert layer(np.arange(5)).dtype == np.float32
    layer.backward(np.ones((5, 4), np.float32))
    assert layer.weight.grad.dtype == np.float32


@pytest.mark.parametrize("p, error", [(-0.1, ValueError), (1.5, ValueError), (math.nan, ValueError),
                                      ("0.5", TypeError)])
def test_embedding_dropout_p_is_validated(p, error):
    with pytest.raises(error, match=r"\bp\b"):
        fd.layer("embedding_dropout", p=p)
    layer = embedding(0.2)
    with pytest.raises(error, match=r"\bp\b"):
        layer.p = p
    assert layer.p == 0.2


@pytest.mark.parametrize("ids, error, message", [
    (np.array([0.0, 1.0]), TypeError, "ids must be an integer array"),
    (np.array([0, 50]), ValueError, r"ids must be in \[0, 50\)"),
    (np.array([-1, 2]), ValueError, r"ids must be in \[0, 50\)"),
])
def test_embedding_dropout_forward_that_raises_changes_nothing(ids, error, message):
    layer = embedding(0.5)
    good = np.array([1, 2, 3])
    y = layer(good)
    handle, state = layer.handle, layer.generator.get_state()
    with pytest.raises(error, match=message):
        layer(ids)
    assert layer.handle is handle and layer.generator.get_state() == state
    layer.backward(np.ones_like(y))
    np.testing.assert_array_equal(layer.weight.grad[good], np.where(handle.mask()[good], 2.0, 0.0)
                                  * np.ones((3, 4)))


def test_embedding_dropout_backward_checks_order_and_shape():
    layer = embedding(0.5)
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.ones((3, 4)))
    layer(np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="dy has shape"):
        layer.backward(np.ones((3, 5)))
    assert not layer.weight.grad.any()


# ---------------------------------------------------------------- droppath scale_by_keep

def test_droppath_without_scale_by_keep_keeps_samples_as_they_are():
    p, n = 0.25, 4000
    layer = fd.layer("droppath", p=p, scale_by_keep=False, generator=fd.Generator(10))
    x = sample((n, 3))
    y = layer(x)
    kept = layer.handle.mask().reshape(n)
    assert layer.handle.mode == "standard"
    np.testing.assert_array_equal(y[kept], x[kept])                         # no 1 / (1 - p)
    np.testing.assert_array_equal(y[~kept], 0)
    assert abs((~kept).mean() - p) < 5 * binomial_sigma(p, n)              # 5 binomial sigma
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), np.broadcast_to(kept[:, None], x.shape))


def test_droppath_scale_by_keep_scales_kept_samples_by_one_over_keep():
    p = 0.25
    scaled = fd.layer("droppath", p=p, scale_by_keep=True, generator=fd.Generator(11))
    plain = fd.layer("droppath", p=p, scale_by_keep=False, generator=fd.Generator(11))
    x = sample((200, 4))
    np.testing.assert_allclose(scaled(x), plain(x) / (1 - p), rtol=1e-15)    # same mask, timm's scaling
    # evaluation is the identity either way (timm's drop_path returns x)
    np.testing.assert_array_equal(plain.eval()(x), x)


def test_droppath_expected_output_with_and_without_scale_by_keep():
    # E[y] = x with scaling, (1 - p) x without.  Over n samples of x = 1 the
    # mean has standard deviation sqrt(p (1 - p) / n) * scale; 5 sigma.
    p, n = 0.4, 20000
    for scale_by_keep, expected, scale in ((True, 1.0, 1 / (1 - p)), (False, 1 - p, 1.0)):
        layer = fd.layer("droppath", p=p, scale_by_keep=scale_by_keep, generator=fd.Generator(12))
        mean = layer(np.ones((n, 2))).mean()
        assert abs(mean - expected) < 5 * scale * binomial_sigma(p, n)


def test_droppath_scale_by_keep_is_validated():
    with pytest.raises(TypeError, match="scale_by_keep"):
        fd.layer("droppath", scale_by_keep="no")
    assert "scale_by_keep=False" in repr(fd.layer("droppath", scale_by_keep=False))


def test_residual_branch_with_unscaled_droppath():
    block = graph.Linear(3, 3, rng=0, dtype=np.float64)
    res = graph.Residual(block, drop=fd.layer("droppath", p=0.5, scale_by_keep=False, generator=fd.Generator(13)))
    x = sample((8, 3))
    y = res(x)
    keep = res.drop_path_layer.handle.mask().reshape(8, 1)
    np.testing.assert_allclose(y, x + keep * (x @ block.weight.data), rtol=1e-12)

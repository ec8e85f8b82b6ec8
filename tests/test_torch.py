"""fastdrop.torch against PyTorch's own dropout test procedures
(test/nn/test_dropout.py: statistics, eval identity, in place, discontiguous
input, p = 0 and 1, empty tensors, feature-dropout shapes), plus seeding,
bit-equality with the NumPy core, DropPath, AlphaDropout and replace_dropout.

Statistical checks are z-scores against the exact distribution of a correct
implementation, with fixed seeds; each requires |z| < Z_LIMIT = 5 (two-sided
false-alarm probability 5.7e-7 per check).
"""
import copy
import doctest
import math
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import fastdrop as fd  # noqa: E402
import fastdrop.torch as fdt  # noqa: E402
from fastdrop.torch import _ops  # noqa: E402

Z_LIMIT = 5.0
DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]


def dtype_id(dtype):
    return str(dtype).removeprefix("torch.")
NN = {fdt.Dropout: torch.nn.Dropout, fdt.Dropout1d: torch.nn.Dropout1d, fdt.Dropout2d: torch.nn.Dropout2d,
      fdt.Dropout3d: torch.nn.Dropout3d}
# input shapes as torch's tests use them: (batch or features, channels, spatial...)
SHAPES = {fdt.Dropout: (4096,), fdt.Dropout1d: (64, 64, 3), fdt.Dropout2d: (512, 8, 2, 3),
          fdt.Dropout3d: (512, 8, 1, 2, 3)}


def binomial_z(kept, n, keep_prob):
    return (kept - n * keep_prob) / math.sqrt(n * keep_prob * (1.0 - keep_prob))


def cells(cls, x):
    """Number of independent keep decisions `cls` makes for input x."""
    return x.numel() if cls is fdt.Dropout else x.shape[0] * x.shape[1]


def kept_cells(cls, y):
    flat = y.reshape(y.shape[0], y.shape[1], -1) if cls is not fdt.Dropout else y.reshape(-1, 1, 1)
    return int((flat != 0).any(dim=-1).sum())


def numpy_of(t):
    return _ops.numpy_view(t)


# ---------------------------------------------------------------- torch's _test_dropout procedure

@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("cls", list(SHAPES))
def test_statistics_eval_identity_and_inplace(cls, dtype):
    """Input filled with 1 - p: kept cells become 1, so the kept count is
    Binomial(cells, 1 - p) in the output and in the gradient of backward(input)."""
    p = 0.2
    torch.manual_seed(0)
    x = torch.full(SHAPES[cls], 1 - p, dtype=dtype)
    n = cells(cls, x)
    for inplace in (False, True):
        leaf = x.clone().requires_grad_()
        y = cls(p, inplace)(leaf + 0 if inplace else leaf)
        kept = kept_cells(cls, y)
        assert abs(binomial_z(kept, n, 1 - p)) < Z_LIMIT
        assert set(torch.unique(y.detach().float()).tolist()) == {0.0, 1.0}
        y.backward(x)
        assert torch.equal(leaf.grad != 0, y.detach() != 0)  # the same mask, regenerated
    for inplace in (False, True):
        module = cls(p, inplace).eval()
        assert module(x) is x
        assert torch.equal(x, torch.full(SHAPES[cls], 1 - p, dtype=dtype))
    assert repr(cls(p)) == repr(NN[cls](p)) and str(cls(p, True)) == str(NN[cls](p, True))


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_keep_rate_of_the_torch_stream(p):
    torch.manual_seed(1)
    y = fdt.dropout(torch.ones(2**16), p)
    assert abs(binomial_z(int(y.count_nonzero()), y.numel(), 1 - p)) < Z_LIMIT
    assert set(y.unique().tolist()) <= {0.0, float(torch.tensor(1 / (1 - p), dtype=torch.float32))}


def test_p_zero_and_one():
    x = torch.randn(5, 7, requires_grad=True)
    assert fdt.dropout(x, 0.0) is x and fdt.Dropout(0.0)(x) is x
    y = fdt.dropout(x, 1.0)
    assert torch.equal(y, torch.zeros_like(x))
    y.sum().backward()
    assert torch.equal(x.grad, torch.zeros_like(x))
    # dropped elements are x * 0, as torch's p = 1 (a NaN stays NaN)
    special = torch.tensor([float("nan"), float("inf"), -2.0])
    assert torch.equal(fdt.dropout(special, 1.0).isnan(), torch.nn.functional.dropout(special, 1.0).isnan())


def test_p_zero_draws_nothing_from_either_stream():
    x, images = torch.randn(5, 7), torch.randn(2, 3, 4, 4)
    g = fd.Generator(3)
    torch.manual_seed(0)
    assert fdt.Dropout(0.0, generator=g)(x) is x and fdt.Dropout2d(0.0, generator=g)(images) is images
    assert fdt.Dropout(0.0)(x) is x
    assert g.counter == 0
    after = torch.rand(3)
    torch.manual_seed(0)
    assert torch.equal(after, torch.rand(3))  # torch's stream did not move either
    # the core, unlike torch, reserves at p = 0 (docs/torch.rst says so)
    fd.dropout(x.numpy(), 0.0, generator=g)
    assert g.counter == -(-35 // 16)


@pytest.mark.parametrize("module, shape", [(fdt.Dropout, (5, 7)), (fdt.Dropout1d, (2, 3, 4)),
                                           (fdt.Dropout2d, (2, 3, 4, 4)), (fdt.Dropout3d, (2, 3, 2, 2, 2)),
                                           (fdt.AlphaDropout, (5, 7))])
@pytest.mark.parametrize("inplace", [False, True])
def test_p_one_draws_nothing_from_either_stream_as_torch(module, shape, inplace):
    x = torch.randn(shape)
    g = fd.Generator(3)
    torch.manual_seed(0)
    for generator in (g, None):
        y = module(1.0, inplace=inplace, generator=generator)(x)
        assert torch.equal(y, torch.zeros(shape)) and (y is x) == inplace
    assert g.counter == 0
    after = torch.rand(3)
    x = torch.ones(shape)
    torch.manual_seed(0)
    getattr(torch.nn, module.__name__)(1.0)(x)   # torch's own module at p = 1 draws nothing either
    assert torch.equal(after, torch.rand(3))


def test_empty_tensors():
    for shape in [(0,), (3, 0), (0, 4, 2)]:
        x = torch.empty(shape)
        y = fdt.dropout(x, 0.5)
        assert y.shape == x.shape
    assert fdt.Dropout2d(0.5)(torch.empty(0, 3, 2, 2)).shape == (0, 3, 2, 2)


# ---------------------------------------------------------------- layouts

@pytest.mark.parametrize("cls", [fdt.Dropout, fdt.Dropout2d])
def test_discontiguous_input_gets_the_contiguous_copys_result(cls):
    for memory_format in (torch.contiguous_format, torch.channels_last):
        base = torch.empty(2, 3, 3, 6, memory_format=memory_format).uniform_(1, 2)
        x = base[..., ::2]
        y = cls(0.5, generator=fd.Generator(3))(x)
        expected = cls(0.5, generator=fd.Generator(3))(x.contiguous())
        assert torch.equal(y, expected)
        assert y.is_contiguous(memory_format=memory_format)
        for p in (0.0, 1e-10):  # keeps everything: the values come through unchanged
            assert torch.equal(cls(p)(x), x)


def test_output_keeps_the_inputs_dimension_order():
    ones = torch.ones(2, 3, 4, 5)
    for perm in [(0, 1, 2, 3), (0, 2, 3, 1), (3, 1, 0, 2), (2, 0, 3, 1)]:
        inverse = tuple(sorted(range(4), key=perm.__getitem__))
        for shift in [(0, 0), (1, 0), (0, 1), (1, 1)]:
            x = ones.permute(perm).contiguous().permute(inverse)[shift[0]:, shift[1]:]
            y = fdt.Dropout(0.3)(x)
            assert y.permute(perm).is_contiguous()
            assert not torch.equal(y, x)


LAYOUT_CASES = {
    "expanded rows": lambda: torch.randn(1, 5).expand(4, 5),
    "expanded middle": lambda: torch.randn(3, 1, 5).expand(3, 4, 5),
    "expanded channels": lambda: torch.randn(1, 3, 1, 1).expand(8, 3, 4, 4),
    "expanded, transposed": lambda: torch.randn(6, 1).expand(6, 4).t(),
    "transposed": lambda: torch.randn(5, 4).t(),
    "transposed, sliced": lambda: torch.randn(8, 6).t()[:, ::2],
    "channels_last, sliced": lambda: torch.randn(2, 3, 8, 8).to(memory_format=torch.channels_last)[:, :, ::2],
    "permuted, sliced": lambda: torch.randn(3, 4, 5).permute(2, 0, 1)[::2],
    "size-1 dimension, sliced": lambda: torch.randn(4, 1, 6)[:, :, ::2],
}


@pytest.mark.parametrize("case", list(LAYOUT_CASES))
def test_output_strides_are_those_of_torchs_elementwise_operators(case):
    """Expanded inputs included: their result is contiguous, so .view works on it."""
    x = LAYOUT_CASES[case]()
    for module in (fdt.Dropout(0.5), fdt.AlphaDropout(0.5)):
        y = module(x)
        assert y.stride() == (x * 2).stride(), (case, y.stride())
    assert torch.equal(fdt.dropout(x, 0.5, generator=fd.Generator(1)),
                       fdt.dropout(x.contiguous(), 0.5, generator=fd.Generator(1)))


# ---------------------------------------------------------------- seeding

def test_torch_manual_seed_fixes_the_masks():
    model = torch.nn.Sequential(fdt.Dropout(0.5), fdt.Dropout2d(0.3), fdt.DropPath(0.4))
    x = torch.ones(8, 4, 3, 3)
    torch.manual_seed(11)
    first = [model(x) for _ in range(2)]
    torch.manual_seed(11)
    again = [model(x) for _ in range(2)]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not torch.equal(first[0], first[1])  # each call draws a new key


def test_key_is_drawn_from_torchs_generator_as_documented():
    """Two values of torch.randint(0, 2**32, (2,), dtype=torch.int64) are the
    key; the counter is 0 and Philox runs 10 rounds."""
    shape, p = (6, 40), 0.3
    torch.manual_seed(5)
    y = fdt.dropout(torch.ones(shape), p)
    after = torch.rand(1)
    torch.manual_seed(5)
    k0, k1 = torch.randint(0, 2**32, (2,), dtype=torch.int64).tolist()
    assert torch.equal(after, torch.rand(1))  # the call consumed exactly that draw
    h = fd.DropoutHandle(key=(k0, k1), counter=0, rounds=10, p=p, shape=shape, mask_shape=shape)
    assert np.array_equal(y.numpy() != 0, h.mask())


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_generator_gives_fastdrops_numpy_result_bit_for_bit(dtype):
    x = torch.randn(33, 17).to(dtype)
    g, g_numpy = fd.Generator(9), fd.Generator(9)
    y = fdt.dropout(x, 0.35, generator=g)
    expected = fd.dropout(numpy_of(x), 0.35, generator=g_numpy)
    assert np.array_equal(numpy_of(y).view(np.uint8), expected.view(np.uint8))
    assert g.counter == g_numpy.counter


def test_feature_dropout_draws_the_cells_of_its_mask_shape():
    x = torch.ones(5, 7, 4, 4)
    y = fdt.Dropout2d(0.5, generator=fd.Generator(2))(x)
    expected = fd.dropout(x.numpy(), 0.5, mask_shape=(5, 7, 1, 1), generator=fd.Generator(2))
    assert np.array_equal(y.numpy(), expected)


# ---------------------------------------------------------------- feature dropout shapes

@pytest.mark.parametrize("cls, shape", [(fdt.Dropout1d, (10, 4, 2)), (fdt.Dropout2d, (10, 4, 2, 2)),
                                        (fdt.Dropout3d, (10, 4, 2, 2, 2))])
def test_whole_channels_are_dropped(cls, shape):
    for inplace in (False, True):
        y = cls(0.5, inplace)(torch.ones(shape))
        per_channel = y.reshape(shape[0], shape[1], -1).count_nonzero(dim=-1)
        assert set(per_channel.unique().tolist()) <= {0, math.prod(shape[2:])}


@pytest.mark.parametrize("cls, shape", [(fdt.Dropout1d, (50, 2)), (fdt.Dropout3d, (50, 2, 2, 2))])
def test_unbatched_input_gets_its_batched_forms_mask(cls, shape):
    x = torch.rand(shape)
    for inplace in (False, True):
        state = torch.get_rng_state()
        unbatched = cls(0.5, inplace)(x.clone())
        torch.set_rng_state(state)
        batched = cls(0.5, inplace)(x.clone().unsqueeze(0)).squeeze(0)
        assert torch.equal(unbatched, batched)


@pytest.mark.filterwarnings("ignore:Dropout3d. got a:UserWarning", "ignore:dropout3d. Received a:UserWarning")
@pytest.mark.parametrize("shape", [(40, 5), (40, 5, 3), (40, 2, 2, 2, 2, 2)])
def test_dropout3d_on_other_dimensions_draws_per_index_of_dim_0_as_torchs(shape):
    """torch's dropout3d takes every input that is not 5-D as unbatched."""
    for layer in (fdt.Dropout3d(0.5, generator=fd.Generator(4)), torch.nn.Dropout3d(0.5)):
        y = layer(torch.ones(shape)).reshape(shape[0], -1)
        assert all(len(row.unique()) == 1 for row in y), type(layer)
        assert 0 < int((y[:, 0] == 0).sum()) < shape[0]   # P(all 40 equal) = 2**-39


def test_dimension_checks_and_warnings_as_torchs():
    with pytest.raises(RuntimeError, match="Dropout1d.*got a 4D input"):
        fdt.Dropout1d(0.5)(torch.rand(1, 2, 2, 2))
    with pytest.raises(RuntimeError, match="Dropout1d.*got a 1D input"):
        fdt.Dropout1d(0.5)(torch.rand(2))
    for shape, message in [((1, 2, 2, 2, 2), "5-D input"), ((1, 2), "2-D input"), ((1, 2, 2), "3D input")]:
        with pytest.warns(UserWarning, match=f"Dropout2d: got a {message}"):
            fdt.Dropout2d(0.5)(torch.rand(shape))
    for shape, message in [((1, 2, 2, 2, 2, 2), "6-D input"), ((1, 2, 2), "3-D input")]:
        with pytest.warns(UserWarning, match=f"Dropout3d: got a {message}") as record:
            fdt.Dropout3d(0.5)(torch.rand(shape))
        assert record[0].filename == __file__   # attributed to the caller, not to torch's Module
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fdt.Dropout2d(0.5)(torch.rand(2, 3, 4, 4))


@pytest.mark.filterwarnings("ignore:Dropout[23]d. got a:UserWarning")
@pytest.mark.parametrize("module, shape", [(fdt.Dropout2d, (4, 3, 16)), (fdt.Dropout2d, (4, 3)),
                                           (fdt.Dropout3d, (4, 3, 5))])
def test_inputs_that_warn_compile_with_fullgraph_to_the_eager_result(module, shape):
    x = torch.randn(shape)
    eager = module(0.5, generator=fd.Generator(6))(x)
    compiled = torch.compile(module(0.5, generator=fd.Generator(6)), fullgraph=True)
    assert torch.equal(compiled(x), eager)


# ---------------------------------------------------------------- AlphaDropout and DropPath

@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_alpha_dropout_keeps_mean_zero_and_variance_one(p):
    """For x ~ N(0, 1), y has mean 0 and variance 1 exactly; the sample mean
    has sigma 1/sqrt(n) and the sample variance sqrt((E[y^4] - 1) / n), with
    E[y^4] = q E[(a x + b)^4] + p (b - a ALPHA)^4 computed exactly."""
    n = 2**16
    torch.manual_seed(2)
    x = torch.randn(n, dtype=torch.float64)
    y = fdt.AlphaDropout(p)(x)
    a, b = _ops.alpha_coefficients(p)
    q = 1 - p
    m4 = q * (3 * a**4 + 6 * a**2 * b**2 + b**4) + p * (b - a * _ops.ALPHA) ** 4
    assert abs(float(y.mean())) * math.sqrt(n) < Z_LIMIT
    assert abs(float(y.var()) - 1) / math.sqrt((m4 - 1) / n) < Z_LIMIT


def test_alpha_dropout_gradient_is_a_times_the_mask():
    x = torch.randn(300, dtype=torch.float64, requires_grad=True)
    y = fdt.AlphaDropout(0.3)(x)
    y.backward(torch.ones_like(y))
    a, b = _ops.alpha_coefficients(0.3)
    kept = (y.detach() - b - a * x.detach()).abs() < 1e-12
    assert torch.equal(x.grad, kept.double() * a)
    assert fdt.AlphaDropout(0.3).eval()(x) is x
    assert torch.equal(fdt.AlphaDropout(1.0)(x.detach()), torch.zeros(300, dtype=torch.float64))


def test_drop_path_follows_timm():
    n = 4096
    x = torch.ones(n, 3, 5)
    y = fdt.DropPath(0.25)(x)
    per_sample = y.reshape(n, -1)
    assert torch.equal(per_sample.amin(dim=1), per_sample.amax(dim=1))  # one draw per sample
    kept = int((per_sample[:, 0] != 0).sum())
    assert abs(binomial_z(kept, n, 0.75)) < Z_LIMIT
    assert set(per_sample[:, 0].unique().tolist()) == {0.0, float(torch.tensor(1 / 0.75))}
    unscaled = fdt.DropPath(0.25, scale_by_keep=False)(x)
    assert set(unscaled.unique().tolist()) == {0.0, 1.0}
    assert fdt.DropPath(0.25).eval()(x) is x and fdt.DropPath(0.0)(x) is x
    assert torch.equal(fdt.DropPath(1.0)(x), torch.zeros_like(x))
    assert repr(fdt.DropPath(0.1234)) == "DropPath(drop_prob=0.123)"


# ---------------------------------------------------------------- replace_dropout

class Block(torch.nn.Module):
    def __init__(self, shared):
        super().__init__()
        self.layers = torch.nn.ModuleList([torch.nn.Linear(4, 4), torch.nn.Dropout(0.1, inplace=True)])
        self.heads = torch.nn.ModuleDict({"a": torch.nn.Dropout2d(0.2), "b": shared})
        self.custom = type("MyDropout", (torch.nn.Dropout,), {})(0.3)
        self.feature_alpha = torch.nn.FeatureAlphaDropout(0.4)


def test_replace_dropout_swaps_nested_modules_in_place():
    shared = torch.nn.AlphaDropout(0.05)
    model = torch.nn.Sequential(torch.nn.Dropout(0.5), Block(shared),
                                torch.nn.Sequential(torch.nn.Dropout1d(0.6), torch.nn.Dropout3d(0.7), shared))
    model[2].eval()
    keys = list(model.state_dict())
    g = fd.Generator(0)
    assert fdt.replace_dropout(model, generator=g) is model
    block = model[1]
    swapped = [(model[0], fdt.Dropout, 0.5, False), (block.layers[1], fdt.Dropout, 0.1, True),
               (block.heads["a"], fdt.Dropout2d, 0.2, False), (model[2][0], fdt.Dropout1d, 0.6, False),
               (model[2][1], fdt.Dropout3d, 0.7, False), (block.heads["b"], fdt.AlphaDropout, 0.05, False)]
    for module, cls, p, inplace in swapped:
        assert type(module) is cls and module.p == p and module.inplace == inplace and module.generator is g
    assert model[2][2] is block.heads["b"]  # shared stays shared
    assert not model[2][0].training and model[0].training
    assert type(block.custom).__name__ == "MyDropout" and type(block.feature_alpha) is torch.nn.FeatureAlphaDropout
    assert list(model.state_dict()) == keys
    assert type(fdt.replace_dropout(torch.nn.Dropout(0.3))) is fdt.Dropout


def test_modules_copy_and_pickle_with_their_generator_state():
    model = torch.nn.Sequential(fdt.Dropout(0.5, generator=fd.Generator(4)), fdt.DropPath(0.3))
    fdt._streams.stream_id(model[0].generator)  # as a compiled graph would number it
    clones = [copy.deepcopy(model), pickle.loads(pickle.dumps(model))]
    x = torch.ones(6, 10)
    torch.manual_seed(0)
    expected = model(x)
    for clone in clones:
        torch.manual_seed(0)
        assert torch.equal(clone(x), expected)
        # a copy is a generator of its own: it gets its own stream number when compiled
        assert getattr(clone[0].generator, fdt._streams.STREAM_ATTR, None) is None


# ---------------------------------------------------------------- packaging

def test_import_fastdrop_does_not_import_torch(tmp_path):
    code = "import sys, fastdrop; assert 'torch' not in sys.modules, 'torch was imported'"
    # run from a directory of its own: from the clone root, Python would import the source tree
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("module", ["fastdrop.torch", "fastdrop.torch.functional", "fastdrop.torch.modules"])
def test_docstring_examples_run(module):
    failed, attempted = doctest.testmod(sys.modules[module], optionflags=doctest.ELLIPSIS)
    assert attempted > 0 and failed == 0

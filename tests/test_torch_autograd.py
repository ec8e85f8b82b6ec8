"""fastdrop.torch under autograd and torch.compile: nothing saved for the
dropout, gradcheck in float64, torch's in-place rules, torch.library.opcheck
on every operator, and compiled models bit-identical to eager."""
import contextlib
import functools
import threading

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

import fastdrop as fd  # noqa: E402
import fastdrop.torch as fdt  # noqa: E402
from fastdrop.torch import _ops  # noqa: E402


# forward-mode AD loads its decompositions with torch.jit.script on first
# use, which torch 2.13 deprecates with a warning
JIT_SCRIPT_DEPRECATED = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")


def mlp(dropout, *, p=0.5):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.ReLU(), dropout(p), torch.nn.Linear(64, 8))


def saved_by(model, x):
    saved = []

    def pack(t):
        saved.append((tuple(t.shape), t.dtype))
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x).sum().backward()
    return saved


def test_autograd_saves_no_tensor_for_the_dropout():
    x = torch.randn(32, 16)
    without = saved_by(mlp(lambda p: torch.nn.Identity()), x)
    assert saved_by(mlp(fdt.Dropout), x) == without
    assert saved_by(mlp(lambda p: fdt.Dropout(p, generator=fd.Generator(0))), x) == without
    # the hook sees what torch's dropout keeps: a mask of the activation's shape
    assert len(saved_by(mlp(torch.nn.Dropout), x)) > len(without)


def test_backward_regenerates_the_forward_mask():
    x = torch.randn(50, 30, requires_grad=True)
    y = fdt.Dropout(0.4)(x)
    dy = torch.randn(50, 30)
    y.backward(dy)
    assert torch.equal(x.grad, dy * (y.detach() != 0) * torch.tensor(1 / 0.6))


@pytest.mark.parametrize("module", [lambda g: fdt.Dropout(0.4, generator=g),
                                    lambda g: fdt.Dropout2d(0.5, generator=g),
                                    lambda g: fdt.AlphaDropout(0.3, generator=g),
                                    lambda g: fdt.DropPath(0.5, generator=g)],
                         ids=["Dropout", "Dropout2d", "AlphaDropout", "DropPath"])
def test_gradcheck_float64(module):
    # a fresh generator per call: gradcheck calls the function many times and
    # needs the same mask each time
    def f(t):
        return module(fd.Generator(4))(t)

    x = torch.randn(6, 3, 2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(f, (x,))
    assert torch.autograd.gradgradcheck(f, (x,))


@pytest.mark.parametrize("module", [lambda g: fdt.Dropout(0.4, generator=g),
                                    lambda g: fdt.Dropout2d(0.5, generator=g),
                                    lambda g: fdt.AlphaDropout(0.3, generator=g),
                                    lambda g: fdt.DropPath(0.5, generator=g)],
                         ids=["Dropout", "Dropout2d", "AlphaDropout", "DropPath"])
@JIT_SCRIPT_DEPRECATED
def test_forward_mode_ad_float64(module):
    """Tangents (torch.autograd.forward_ad dual tensors) are multiplied by
    the mask, as gradients are: gradcheck's forward-AD check."""
    def f(t):
        return module(fd.Generator(4))(t)

    x = torch.randn(6, 3, 2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(f, (x,), check_forward_ad=True)


@pytest.mark.parametrize("inplace", [False, True])
@JIT_SCRIPT_DEPRECATED
def test_dual_tensor_tangent_gets_the_mask_of_its_primal(inplace):
    import torch.autograd.forward_ad as fwad
    x, tangent = torch.randn(40, 30), torch.randn(40, 30)
    expected = fdt.dropout(x, 0.5, generator=fd.Generator(9))
    with fwad.dual_level():
        dual = fwad.make_dual(x.clone(), tangent.clone())
        y = fdt.dropout(dual, 0.5, inplace=inplace, generator=fd.Generator(9))
        primal, y_tangent = fwad.unpack_dual(y)
    assert torch.equal(primal, expected)
    assert y_tangent is not None and torch.equal(y_tangent, tangent * (expected != 0) * 2.0)


# ---------------------------------------------------------------- in place

def test_inplace_on_a_leaf_that_requires_grad_gets_torchs_error_and_changes_nothing():
    g = fd.Generator(1)
    for leaf in (torch.randn(4, 5, requires_grad=True),):
        for target in (leaf, leaf[1]):
            before, state, rng = leaf.detach().clone(), g.get_state(), torch.get_rng_state()
            for generator in (g, None):
                with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
                    fdt.dropout(target, 0.5, inplace=True, generator=generator)
                with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
                    fdt.AlphaDropout(0.5, inplace=True, generator=generator)(target)
            assert torch.equal(leaf.detach(), before) and g.get_state() == state
            assert torch.equal(torch.get_rng_state(), rng)
    with torch.no_grad():  # as torch: allowed outside autograd
        w = torch.ones(100, requires_grad=True)
        assert fdt.dropout(w, 0.5, inplace=True) is w and (w == 0).any()


def _split_output(rest):
    h = torch.randn(4, 6, *rest, requires_grad=True) * 1
    return h, h.chunk(3, dim=1)[0]


def _view_made_without_grad(rest):
    h = torch.randn(4, 6, *rest, requires_grad=True) * 1
    with torch.no_grad():
        view = h[:2]
    return h, view


@pytest.mark.parametrize("make, message", [(_split_output, "Output 0 of Split is a view"),
                                           (_view_made_without_grad, "view was created in no_grad mode")])
@pytest.mark.parametrize("module, rest", [(fdt.Dropout, ()), (fdt.Dropout1d, (3,)), (fdt.Dropout2d, (3, 3)),
                                          (fdt.AlphaDropout, ())])
def test_inplace_on_a_view_torch_forbids_gets_torchs_error_and_changes_nothing(make, message, module, rest):
    base, view = make(rest)
    with pytest.raises(RuntimeError, match=message):   # torch's own dropout refuses it in these words
        torch.nn.functional.dropout(view, 0.5, inplace=True)
    g = fd.Generator(1)
    before, state, rng = base.detach().clone(), g.get_state(), torch.get_rng_state()
    for generator in (g, None):
        with pytest.raises(RuntimeError, match=message):
            module(0.5, inplace=True, generator=generator)(view)
    assert torch.equal(base.detach(), before) and g.get_state() == state
    assert torch.equal(torch.get_rng_state(), rng)


def test_inplace_on_a_view_of_an_activation_backpropagates():
    x = torch.randn(6, 8, requires_grad=True)
    h = x * 3
    out = fdt.Dropout(0.5, inplace=True, generator=fd.Generator(2))(h[:, 2:6])
    expected = fdt.Dropout(0.5, generator=fd.Generator(2))(x.detach()[:, 2:6] * 3)
    assert torch.equal(out.detach(), expected)
    h.sum().backward()
    want = torch.full_like(x, 3.0)
    want[:, 2:6] = (expected != 0) * 2.0 * 3
    assert torch.equal(x.grad, want)


def test_inplace_under_autograd_writes_once_and_backpropagates():
    x = torch.randn(40, 10, requires_grad=True)
    h = x * 3
    version = h._version
    out = fdt.Dropout(0.5, inplace=True, generator=fd.Generator(2))(h)
    assert out is h and h._version > version
    expected = fdt.Dropout(0.5, generator=fd.Generator(2))(x.detach() * 3)
    assert torch.equal(out.detach(), expected)
    out.sum().backward()
    assert torch.equal(x.grad, (expected != 0) * torch.full_like(expected, 2.0 * 3))


def test_inplace_after_an_op_that_saved_its_output_fails_in_backward_as_torch():
    for dropout in (torch.nn.functional.dropout, fdt.dropout):
        x = torch.randn(5, requires_grad=True)
        y = torch.sigmoid(x)
        dropout(y, 0.5, inplace=True)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()


def test_inplace_without_grad_is_zero_copy_on_every_dtype():
    for dtype in (torch.float16, torch.float32, torch.float64):
        x = torch.ones(64, 3, dtype=dtype)[:, 1]
        pointer = x.data_ptr()
        with torch.no_grad():
            y = fdt.dropout(x, 0.5, inplace=True, generator=fd.Generator(0))
        assert y is x and x.data_ptr() == pointer
        assert torch.equal(x, fdt.dropout(torch.ones(64, dtype=dtype), 0.5, generator=fd.Generator(0)))


# ---------------------------------------------------------------- the eager path's common call

COMMON_CALL_LAYOUTS = {
    # a view or conversion of a (6, 10, 4) float32 leaf
    "contiguous": lambda t: t,
    "transposed": lambda t: t.transpose(0, 2),
    "strided": lambda t: t[:, ::3],
    "expanded": lambda t: t[:1].expand(6, 10, 4),
    "float64": lambda t: t.double(),
    "float16": lambda t: t.half(),
    "bfloat16": lambda t: t.bfloat16(),
}


@pytest.mark.parametrize("layout", list(COMMON_CALL_LAYOUTS))
@pytest.mark.parametrize("source", ["torch", "generator"])
def test_common_call_gives_the_checked_paths_bits(layout, source, monkeypatch):
    """A float p takes the short path to the kernel (_eager.dropout); a NumPy
    float p (a float subclass) takes the full one, through the checks and
    _apply_mask.  Both give the same outputs, layouts, gradients and
    generator states."""
    short_calls = []
    short = fdt.functional._eager.dropout
    monkeypatch.setattr(fdt.functional._eager, "dropout", lambda *a: short_calls.append(1) or short(*a))
    results = []
    for p in (0.3, np.float64(0.3)):
        torch.manual_seed(7)
        g = fd.Generator(7)
        leaf = torch.randn(6, 10, 4, generator=torch.Generator().manual_seed(1), requires_grad=True)
        x = COMMON_CALL_LAYOUTS[layout](leaf)
        y = fdt.dropout(x, p, generator=g if source == "generator" else None)
        y.backward(torch.arange(y.numel(), dtype=y.dtype).reshape(y.shape))
        results.append((y.detach(), leaf.grad, y.stride(), g.counter, torch.rand(1), len(short_calls)))
    (y, dx, strides, counter, after, short_taken), expected = results
    assert short_taken == 1 and expected[5] == 1  # the float p only
    assert torch.equal(y, expected[0]) and torch.equal(dx, expected[1])
    assert strides == expected[2] and counter == expected[3] and torch.equal(after, expected[4])
    assert (y == 0).any() and (y != 0).any()


def test_common_call_without_grad_and_in_inference_mode():
    x = torch.randn(50, 8)
    for context in (torch.no_grad, torch.inference_mode):
        with context():
            y = fdt.dropout(x, 0.5, generator=fd.Generator(2))
        assert y.grad_fn is None and torch.equal(y, fdt.dropout(x, 0.5, generator=fd.Generator(2)))


def test_torch_stream_key_drawn_first_in_inference_mode_still_works_outside():
    """The torch stream draws keys into a per-thread tensor; one made inside
    inference mode could not be written outside it, so it never is."""
    outcome = []

    def run():
        with torch.inference_mode():
            fdt.dropout(torch.ones(20), 0.5)
        outcome.append(fdt.dropout(torch.ones(20, requires_grad=True), 0.5).sum())

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert len(outcome) == 1 and outcome[0].requires_grad


def test_common_call_with_an_exhausted_generator_raises_and_changes_nothing():
    g = fd.Generator(3)
    state = g.get_state()
    state["counter"] = 2**64 - 1  # one block left; 100 elements need 7
    g.set_state(state)
    x = torch.ones(100, requires_grad=True)
    for call in (lambda: fdt.dropout(x, 0.5, generator=g), lambda: fdt.Dropout(0.5, generator=g)(x)):
        with pytest.raises(fd.CounterExhaustedError):
            call()
        assert g.get_state() == state and torch.equal(x, torch.ones(100)) and x.grad is None


def test_common_call_saves_nothing_and_backward_twice_regenerates_the_mask():
    x = torch.randn(30, 20, requires_grad=True)
    layer = fdt.Dropout(0.5)
    y = layer(x * 1.0)
    dy = torch.randn(30, 20)
    first, = torch.autograd.grad(y, x, dy, retain_graph=True)
    second, = torch.autograd.grad(y, x, dy)
    assert torch.equal(first, second) and torch.equal(first, dy * (y.detach() != 0) * 2.0)
    assert saved_by(mlp(fdt.Dropout), torch.randn(4, 16)) == saved_by(mlp(lambda p: torch.nn.Identity()),
                                                                      torch.randn(4, 16))


def test_common_call_applies_its_function_as_function_apply_does(monkeypatch):
    """The short path applies its autograd Function through the C apply; on a
    torch without the internals that takes, and under torch.func transforms,
    through Function.apply of its setup_context twin."""
    from fastdrop.torch import _eager
    handle = fdt._streams.draw(fd.Generator(1), 0.5, "inverted", (8, 5), (8, 5))
    results = []
    for apply in (_eager._whole_apply, _eager._Whole.apply, _eager._WholeSetUp.apply):
        x = torch.randn(8, 5, generator=torch.Generator().manual_seed(0), requires_grad=True)
        y = apply(x, handle)
        y.backward(torch.ones(8, 5))
        results.append((y.detach(), x.grad))
    for y, grad in results[1:]:
        assert torch.equal(y, results[0][0]) and torch.equal(grad, results[0][1])
    monkeypatch.delattr(torch._C._functorch, "unwrap_if_dead")
    assert _eager._c_apply() == _eager._WholeSetUp.apply


FUNC_MODULES = {"Dropout": lambda g: fdt.Dropout(0.4, generator=g),
           "Dropout2d": lambda g: fdt.Dropout2d(0.5, generator=g),
           "AlphaDropout": lambda g: fdt.AlphaDropout(0.3, generator=g),
           "DropPath": lambda g: fdt.DropPath(0.5, generator=g),
           "Dropout, torch's key": lambda g: fdt.Dropout(0.4)}


@pytest.mark.parametrize("name", FUNC_MODULES)
def test_torch_func_grad_and_vjp_equal_autograd(name):
    x = torch.randn(6, 3, 4, 4, dtype=torch.float64)
    weights = torch.arange(x.numel(), dtype=x.dtype).view_as(x)

    def loss(t):
        torch.manual_seed(5)
        return (FUNC_MODULES[name](fd.Generator(3))(t) * weights).sum()

    by_func = torch.func.grad(loss)(x)
    leaf = x.clone().requires_grad_()
    loss(leaf).backward()
    assert torch.equal(by_func, leaf.grad) and by_func.count_nonzero() < x.numel()

    def forward(t):
        torch.manual_seed(5)
        return FUNC_MODULES[name](fd.Generator(3))(t)

    _, vjp = torch.func.vjp(forward, x)
    assert torch.equal(vjp(weights)[0], leaf.grad)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("name", FUNC_MODULES)
def test_batched_gradients_equal_one_backward_per_gradient(name, dtype):
    """autograd.grad(is_grads_batched=True) (what jacobian(vectorize=True)
    and gradcheck(check_batched_grad=True) use) runs backward under vmap:
    each gradient of the batch gets exactly what its own backward gives."""
    x = torch.randn(6, 3, 4, 4, dtype=dtype, requires_grad=True)
    torch.manual_seed(5)
    y = FUNC_MODULES[name](fd.Generator(3))(x)
    grads = torch.randn((5,) + tuple(x.shape)).to(dtype)
    (batched,) = torch.autograd.grad(y, x, grads, is_grads_batched=True, retain_graph=True)
    one_by_one = torch.stack([torch.autograd.grad(y, x, g, retain_graph=True)[0] for g in grads])
    assert torch.equal(batched, one_by_one) and 0 < batched.count_nonzero() < batched.numel()


@pytest.mark.parametrize("name", ["Dropout", "AlphaDropout", "Dropout2d"])
def test_vectorized_jacobian_and_batched_gradcheck(name):
    x = torch.randn(2, 3, 2, 2, dtype=torch.float64, requires_grad=True)

    def f(t):
        return FUNC_MODULES[name](fd.Generator(1))(t)

    jac = torch.autograd.functional.jacobian(f, x, vectorize=True)
    assert torch.equal(jac, torch.autograd.functional.jacobian(f, x))
    assert torch.autograd.gradcheck(f, (x,), check_batched_grad=True)


@pytest.mark.parametrize("name", FUNC_MODULES)
@JIT_SCRIPT_DEPRECATED
def test_torch_func_jvp_equals_dual_tensors(name):
    import torch.autograd.forward_ad as fwad
    x, v = torch.randn(6, 3, 4, 4, dtype=torch.float64), torch.randn(6, 3, 4, 4, dtype=torch.float64)

    def f(t):
        torch.manual_seed(5)
        return FUNC_MODULES[name](fd.Generator(3))(t)

    out, by_func = torch.func.jvp(f, (x,), (v,))
    with fwad.dual_level():
        primal, tangent = fwad.unpack_dual(f(fwad.make_dual(x, v)))
    assert torch.equal(out, primal) and torch.equal(by_func, tangent)


@JIT_SCRIPT_DEPRECATED
def test_torch_func_jvp_in_place_equals_out_of_place():
    x, v = torch.randn(20, 30, dtype=torch.float64), torch.randn(20, 30, dtype=torch.float64)

    def f(inplace):
        return lambda t: fdt.dropout(t * 1.0, 0.5, inplace=inplace, generator=fd.Generator(3))

    out, tangent = torch.func.jvp(f(True), (x,), (v,))
    expected_out, expected_tangent = torch.func.jvp(f(False), (x,), (v,))
    assert torch.equal(out, expected_out) and torch.equal(tangent, expected_tangent)


@JIT_SCRIPT_DEPRECATED
@pytest.mark.parametrize("randomness", ["error", "different", "same"])
@pytest.mark.parametrize("seeded", ["generator", "torch"])
def test_torch_func_vmap_is_refused_before_anything_is_drawn(randomness, seeded):
    """fastdrop defines no rule for a batch's masks under vmap: every
    randomness mode gets the same clear error, and nothing is drawn."""
    g = fd.Generator(0) if seeded == "generator" else None
    rng = torch.get_rng_state()
    for call in (lambda t: fdt.dropout(t, 0.5, generator=g), lambda t: fdt.Dropout2d(0.5, generator=g)(t),
                 lambda t: fdt.AlphaDropout(0.5, generator=g)(t)):
        with pytest.raises(RuntimeError, match="fastdrop.torch does not support torch.vmap"):
            torch.func.vmap(call, randomness=randomness)(torch.ones(3, 2, 2, 4, 4))
    assert torch.equal(torch.get_rng_state(), rng) and (g is None or g.counter == 0)
    with pytest.raises(RuntimeError, match="fastdrop.torch does not support torch.vmap"):
        torch.func.jacfwd(lambda t: fdt.dropout(t, 0.5, generator=g))(torch.ones(4))


# ---------------------------------------------------------------- the operator path in eager mode

class Recorder(TorchDispatchMode):
    """Records every operator that reaches the dispatcher."""

    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(func)
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("variant", ["dropout", "inplace", "alpha"])
def test_under_a_dispatch_mode_the_operators_run_and_give_the_same_bits(variant):
    """A torch-dispatch mode must see the dropout, so calls under one take the
    custom operators instead of the eager path; both give the same result."""
    def run(mode):
        x = torch.randn(20, 7, generator=torch.Generator().manual_seed(0)).requires_grad_()
        with mode:
            h = x * 1.5
            if variant == "alpha":
                y = fdt.AlphaDropout(0.3, generator=fd.Generator(5))(h)
            else:
                y = fdt.dropout(h, 0.3, inplace=variant == "inplace", generator=fd.Generator(5))
            y.backward(torch.ones_like(y))
        return y.detach(), x.grad

    recorder = Recorder()
    eager = run(contextlib.nullcontext())
    through_operators = run(recorder)
    assert torch.equal(eager[0], through_operators[0]) and torch.equal(eager[1], through_operators[1])
    op = torch.ops.fastdrop.alpha_dropout.default if variant == "alpha" else torch.ops.fastdrop.dropout.default
    assert op in recorder.ops
    with torch.no_grad(), Recorder() as no_grad:
        x = torch.ones(6)
        assert fdt.dropout(x, 0.5, inplace=True, generator=fd.Generator(5)) is x
    assert torch.ops.fastdrop.dropout_.default in no_grad.ops
    assert torch.equal(x, fdt.dropout(torch.ones(6), 0.5, generator=fd.Generator(5)))


MODULES = {"Dropout": lambda g: fdt.Dropout(0.5, generator=g), "Dropout2d": lambda g: fdt.Dropout2d(0.5, generator=g),
           "DropPath": lambda g: fdt.DropPath(0.5, generator=g), "AlphaDropout": lambda g: fdt.AlphaDropout(0.5, generator=g)}


@pytest.mark.parametrize("name", MODULES)
def test_a_fake_tensor_mode_gets_shapes_and_draws_nothing(name):
    """Under FakeTensorMode (shape propagation, as export and compile do)
    the seed is the operator's fake one: no counter is reserved and torch's
    stream does not move, so later real masks are those of a run without it."""
    from torch._subclasses.fake_tensor import FakeTensor, FakeTensorMode
    g = fd.Generator(0)
    torch.manual_seed(0)
    state = torch.get_rng_state()
    with FakeTensorMode():
        for generator in (g, None):
            x = torch.empty(4, 5, 3, 3, requires_grad=True)
            y = MODULES[name](generator)(x * 1.0)
            y.sum().backward()
            assert isinstance(y, FakeTensor) and y.shape == x.shape and x.grad.shape == x.shape
    assert g.counter == 0 and torch.equal(torch.get_rng_state(), state)


@pytest.mark.parametrize("name", MODULES)
def test_under_a_dispatch_mode_the_torch_stream_gives_the_same_bits(name):
    results = []
    for mode in (contextlib.nullcontext(), Recorder()):
        torch.manual_seed(3)
        with mode:
            results.append(MODULES[name](None)(torch.ones(4, 5, 3, 3)))
    assert torch.equal(results[0], results[1])


# ---------------------------------------------------------------- opcheck

def seed(words=(12345, 678, 9, 1, 10)):
    return torch.tensor(words, dtype=torch.int64)


def region_cases():
    """(x, shape, mask_shape, offset) of representative calls."""
    return [
        (torch.randn(5, 3), [5, 3], [5, 3], [0, 0]),
        (torch.randn(4, 3, requires_grad=True), [10, 3], [10, 3], [6, 0]),  # a shard's block
        (torch.randn(2, 3, 2, 2), [6, 3, 2, 2], [6, 3, 1, 1], [2, 0, 0, 0]),  # channel mask, sharded
        (torch.randn(0, 3), [0, 3], [0, 3], [0, 0]),
        (torch.randn(3, 5).t(), [5, 3], [5, 3], [0, 0]),
        (torch.randn(8, dtype=torch.float64, requires_grad=True)[1:], [7], [7], [0]),
        (torch.randn(6, 2, dtype=torch.float16), [6, 2], [6, 2], [0, 0]),
    ]


@pytest.mark.parametrize("case", range(len(region_cases())))
def test_opcheck(case):
    x, shape, mask_shape, offset = region_cases()[case]
    for mode in ("inverted", "standard"):
        torch.library.opcheck(_ops.dropout, (x, seed(), 0.3, mode, shape, mask_shape, offset))
        torch.library.opcheck(_ops.dropout_, (x.detach().clone(), seed(), 0.3, mode, shape, mask_shape, offset))
    torch.library.opcheck(_ops.alpha_dropout, (x, seed(), 0.3, shape, mask_shape, offset))
    torch.library.opcheck(_ops.alpha_dropout_backward, (x, seed(), 0.3, shape, mask_shape, offset))


@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
@pytest.mark.parametrize("module", [fdt.Dropout, fdt.AlphaDropout, fdt.DropPath])
def test_half_precision_block_compiles_to_eagers_gradient_bits(dtype, module):
    """A half-precision dropout inside a float32 model: the compiled graph may
    fuse the casts around the operators, so every product with the mask
    (alpha dropout's gain included) is one operator that rounds once."""
    torch._dynamo.reset()   # one code object compiled for every parameter set: start each afresh
    torch.manual_seed(0)
    x0, dy = torch.randn(64, 16), torch.randn(64, 16)
    results = []
    for compiled in (False, True):
        layer = module(0.3, generator=fd.Generator(0))

        def step(x):
            return layer(x.to(dtype)).float()

        run = torch.compile(step, fullgraph=True) if compiled else step
        x = x0.clone().requires_grad_()
        y = run(x)
        y.backward(dy)
        results.append((y.detach(), x.grad))
    assert torch.equal(results[0][0], results[1][0])
    assert torch.equal(results[0][1], results[1][1])


def test_opcheck_draw_seed():
    # A draw reserves counters, so two runs of it differ by design: the check
    # that compares an eager run with a compiled one does not apply (compiled
    # draws are tested below, against eager, on whole models).
    g = fd.Generator(0)
    for stream in (0, fdt._streams.stream_id(g)):
        torch.library.opcheck(_ops.draw_seed, (torch.randn(3, 4), stream, 0.5, [3, 4], [3, 1],
                                                  fdt._streams.UNSHARDED),
                              test_utils=("test_schema", "test_autograd_registration", "test_faketensor"))


def test_region_operator_is_fastdrops_handle_apply():
    x = torch.randn(4, 3, 2, 2)
    h = fdt._streams.handle(seed().tolist(), 0.3, "inverted", (6, 3, 2, 2), (6, 3, 1, 1))
    y = _ops.dropout(x, seed(), 0.3, "inverted", [6, 3, 2, 2], [6, 3, 1, 1], [2, 0, 0, 0])
    assert torch.equal(y, torch.from_numpy(h.apply(x.numpy(), offset=(2, 0, 0, 0))))


@pytest.mark.parametrize("mode", ["inverted", "standard"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_whole_tensor_operator_call_equals_the_checked_path(dtype, mode):
    """The operator's common call (the whole mask of a contiguous tensor,
    as compiled modules make it) takes a short path: the same bits as the
    checked one, and whatever the handle's constructor refuses still goes
    to the checked path and raises naming the field."""
    x = torch.randn(5, 7).to(dtype)
    words = [11, 22, 3, 1, 10]
    y = torch.ops.fastdrop.dropout(x, torch.tensor(words), 0.3, mode, [5, 7], [5, 7], [0, 0])
    h = fdt._streams.handle(words, 0.3, mode, (5, 7), (5, 7))
    assert torch.equal(y, _ops.mask_product(x.t().contiguous().t(), h, [0, 0]))   # checked path (strided)
    for bad, field in [([2**32, 22, 3, 1, 10], r"key\[0\]"), ([11, 22, 3, 1, 3], "rounds"),
                       ([11, 22, 2**32 - 1, 2**32 - 1, 10], "counter")]:
        with pytest.raises(ValueError, match=field):
            torch.ops.fastdrop.dropout(x, torch.tensor(bad), 0.3, mode, [5, 7], [5, 7], [0, 0])
    with pytest.raises(ValueError, match=r"\bp\b"):
        torch.ops.fastdrop.dropout(x, torch.tensor(words), 1.5, mode, [5, 7], [5, 7], [0, 0])


# ---------------------------------------------------------------- torch.compile

class Net(torch.nn.Module):
    """Every variant, both key sources, in place and not, in one small graph
    (compiling is slow).  Only layers whose compiled kernels round as eager
    ones do (bias-free matmuls, ReLU; a compiled bias gradient sums the batch
    in another order), so the comparison can be exact."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        generator = fd.Generator(8)
        self.fc1 = torch.nn.Linear(75, 64, bias=False)
        self.channel = fdt.Dropout2d(0.3, generator=generator)
        self.path = fdt.DropPath(0.25)
        self.fc2 = torch.nn.Linear(64, 32, bias=False)
        self.drop = fdt.Dropout(0.5, inplace=True, generator=generator)
        self.alpha = fdt.AlphaDropout(0.2)
        self.out = torch.nn.Linear(32, 3, bias=False)

    def forward(self, x):
        h = torch.relu(self.fc1(x.flatten(1))).view(-1, 4, 4, 4)
        h = self.path(self.channel(h)).flatten(1)
        h = torch.relu(self.drop(self.fc2(h)))
        return self.out(self.alpha(h))


def run_steps(model, steps=3):
    results = []
    torch.manual_seed(21)
    for _ in range(steps):
        x = torch.randn(6, 3, 5, 5)
        out = model(x)
        out.square().sum().backward()
        results.append([out.detach().clone()] + [p.grad.clone() for p in model.parameters()])
    return results


# inductor itself calls a deprecated torch.jit helper while compiling
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
def test_compiled_model_is_bit_identical_to_eager():
    eager = run_steps(Net())
    compiled_model = Net()
    compiled = run_steps(torch.compile(compiled_model, fullgraph=True))
    for step_eager, step_compiled in zip(eager, compiled):
        for a, b in zip(step_eager, step_compiled):
            assert torch.equal(a, b)
    assert compiled_model.drop.generator.counter > 0


@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("make", [lambda g: fdt.Dropout(0.3, generator=g), lambda g: fdt.Dropout2d(0.3, generator=g),
                                  lambda g: fdt.DropPath(0.3, generator=g), lambda g: fdt.AlphaDropout(0.3, generator=g)],
                         ids=["Dropout", "Dropout2d", "DropPath", "AlphaDropout"])
@pytest.mark.parametrize("seeded", ["generator", "torch"])
def test_dynamic_compile_and_a_p_that_changes_between_calls(make, seeded):
    """dynamic=True makes p a symbolic float: the checks must trace, and each p give eager's bits."""
    x = torch.randn(4, 6, 3, 3)
    results = []
    for compiled in (False, True):
        g = fd.Generator(5) if seeded == "generator" else None
        layer = make(g)
        run = torch.compile(layer, fullgraph=True, dynamic=True) if compiled else layer
        torch.manual_seed(8)
        outputs = []
        for p in (0.3, 0.6):
            if isinstance(layer, fdt.DropPath):
                layer.drop_prob = p
            else:
                layer.p = p
            outputs.append(run(x))
        results.append(outputs)
    for eager, compiled in zip(*results):
        assert torch.equal(eager, compiled)
    assert not torch.equal(results[0][0], results[0][1])
    f = torch.compile(lambda t, p: fdt.dropout(t, p), fullgraph=True)
    for p in (0.5, 0.25):
        torch.manual_seed(2)
        compiled = f(x, p)
        torch.manual_seed(2)
        assert torch.equal(compiled, fdt.dropout(x, p))


def test_activation_checkpointing_recomputes_the_same_mask():
    """torch.utils.checkpoint restores torch's RNG state before recomputing,
    so the torch stream draws the same key again."""
    layer = torch.nn.Sequential(torch.nn.Linear(8, 8), fdt.Dropout(0.5), torch.nn.Linear(8, 8))
    x = torch.randn(16, 8, requires_grad=True)
    grads = []
    for checkpointed in (False, True):
        torch.manual_seed(3)
        x.grad = None
        out = torch.utils.checkpoint.checkpoint(layer, x, use_reentrant=False) if checkpointed else layer(x)
        out.sum().backward()
        grads.append(x.grad.clone())
    assert torch.equal(grads[0], grads[1])


class _CheckpointedBlocks(torch.nn.Module):
    def __init__(self, generator, context_fn):
        super().__init__()
        torch.manual_seed(0)
        self.blocks = torch.nn.ModuleList(
            torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), fdt.Dropout(0.5, generator=generator),
                                torch.nn.Linear(32, 16)) for _ in range(2))
        self.context_fn = context_fn

    def forward(self, x):
        for block in self.blocks:
            if self.context_fn is None:
                x = block(x)
            else:
                x = torch.utils.checkpoint.checkpoint(block, x, use_reentrant=False, context_fn=self.context_fn)
        return x


def _output_and_grads(model, x, compiled):
    run = torch.compile(model, fullgraph=True) if compiled else model
    torch.manual_seed(1)
    y = run(x)
    y.sum().backward()
    return [y.detach()] + [p.grad for p in model.parameters()]


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("seeded", [True, False], ids=["generator", "torch"])
def test_checkpoint_context_recomputes_every_mask_exactly(seeded, compiled):
    """With checkpoint_context the recomputation reuses the forward's seeds:
    a fastdrop.Generator (which a second draw would advance) and compiled
    regions (which fail to compile without it) give the bits of the same
    model without checkpointing."""
    x = torch.randn(8, 16)
    plain = _output_and_grads(_CheckpointedBlocks(fd.Generator(0) if seeded else None, None), x, compiled)
    for context_fn in (fdt.checkpoint_context,
                       functools.partial(fdt.checkpoint_context, policy=[torch.ops.aten.mm.default])):
        checkpointed = _output_and_grads(_CheckpointedBlocks(fd.Generator(0) if seeded else None, context_fn), x,
                                         compiled)
        assert all(torch.equal(a, b) for a, b in zip(plain, checkpointed))
    if seeded and not compiled:
        # without it, the recomputation reserves new counters: other masks, wrong gradients
        default = _output_and_grads(_CheckpointedBlocks(fd.Generator(0), lambda: (contextlib.nullcontext(),
                                                                                  contextlib.nullcontext())),
                                    x, False)
        assert torch.equal(default[0], plain[0])
        assert not all(torch.equal(a, b) for a, b in zip(default[1:], plain[1:]))


@pytest.mark.parametrize("seeded", [True, False], ids=["generator", "torch"])
def test_checkpoint_context_takes_repeated_and_double_backward_in_eager_mode(seeded):
    """In eager mode the region's handles are replayed in every
    recomputation: a second backward through the graph and a gradient of a
    gradient (a gradient penalty) give what the un-checkpointed model gives."""
    x = torch.randn(8, 16, requires_grad=True)

    def grads(context_fn):
        model = _CheckpointedBlocks(fd.Generator(0) if seeded else None, context_fn)
        torch.manual_seed(1)
        y = model(x)
        params = list(model.parameters())
        first = torch.autograd.grad(y.square().sum(), params + [x], create_graph=True, retain_graph=True)
        again = torch.autograd.grad(y.sum(), [x], retain_graph=True)
        penalty = torch.autograd.grad(sum(g.square().sum() for g in first), params)
        return [*first, *again, *penalty]

    plain = grads(None)
    for context_fn in (fdt.checkpoint_context, functools.partial(fdt.checkpoint_context, policy=lambda *a: None)):
        assert all(torch.equal(a, b) for a, b in zip(plain, grads(context_fn)))


def test_checkpoint_context_nested_regions_recompute_every_mask():
    g_plain, g_ck = fd.Generator(5), fd.Generator(5)
    inner = lambda g: torch.nn.Sequential(torch.nn.Linear(6, 6), fdt.Dropout(0.5, generator=g))  # noqa: E731

    def run(g, checkpointed):
        torch.manual_seed(0)
        a, b = inner(g), inner(g)

        def outer(t):
            t = torch.utils.checkpoint.checkpoint(a, t, use_reentrant=False, context_fn=fdt.checkpoint_context) \
                if checkpointed else a(t)
            return b(t)

        x = torch.ones(4, 6, requires_grad=True)
        y = torch.utils.checkpoint.checkpoint(outer, x, use_reentrant=False, context_fn=fdt.checkpoint_context) \
            if checkpointed else outer(x)
        y.square().sum().backward()
        return [y.detach(), x.grad] + [p.grad for p in [*a.parameters(), *b.parameters()]]

    assert all(torch.equal(u, v) for u, v in zip(run(g_plain, False), run(g_ck, True)))
    assert g_plain.get_state() == g_ck.get_state()   # the recomputations reserved nothing


def test_checkpoint_context_refuses_policies_torch_refuses():
    with pytest.raises(ValueError, match="policy"):
        fdt.checkpoint_context(policy=[torch.ops.aten.mm])          # a packet, not an overload
    for policy in ("mm", {torch.ops.aten.mm.default}):
        with pytest.raises(TypeError, match="policy"):
            fdt.checkpoint_context(policy=policy)


def test_bfloat16_under_cpu_autocast():
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), fdt.Dropout(0.5, generator=fd.Generator(0)),
                                torch.nn.Linear(16, 2))
    x = torch.randn(4, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        hidden = model[0](x)
        dropped = model[1](hidden)
        out = model[2](dropped)
    assert hidden.dtype == dropped.dtype == torch.bfloat16
    expected = fdt.dropout(hidden.float(), 0.5, generator=fd.Generator(0)).bfloat16()
    assert torch.equal(dropped, expected)  # 0 or 2 * v: exact in bfloat16
    out.float().sum().backward()
    assert model[0].weight.grad is not None


# ---------------------------------------------------------------- TorchScript

@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning", "ignore:.*is deprecated:DeprecationWarning")
@pytest.mark.parametrize("module", [fdt.Dropout, fdt.Dropout2d, fdt.AlphaDropout, fdt.DropPath])
def test_jit_trace_in_training_is_refused_and_in_eval_traces_the_identity(module):
    """The tracer cannot see the kernels write: a trace would replay a
    constant or an uninitialised tensor, so it is refused with a clear error."""
    x = torch.randn(4, 3, 5, 5)
    g = fd.Generator(2)
    layer = module(0.5, generator=g)
    with pytest.raises(RuntimeError, match="torch.jit.trace"):
        torch.jit.trace(layer, x, check_trace=False)
    assert g.counter == 0
    traced = torch.jit.trace(layer.eval(), x, check_trace=False)
    assert torch.equal(traced(x + 1), x + 1)

"""Bad input to fastdrop.torch: each call raises an exception whose message
names the offending argument, and changes nothing (the input, the
generator's state, torch's RNG state)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import fastdrop as fd  # noqa: E402
import fastdrop.torch as fdt  # noqa: E402


class Env:
    def __init__(self):
        self.x = torch.randn(4, 3, 2, 2)
        self.g = fd.Generator(3)

    def snapshot(self):
        return self.x.clone(), self.g.get_state(), torch.get_rng_state()

    def assert_unchanged(self, snap):
        x, state, rng = snap
        assert torch.equal(self.x, x), "input changed"
        assert self.g.get_state() == state, "generator state changed"
        assert torch.equal(torch.get_rng_state(), rng), "torch's RNG state changed"


def sparse():
    return torch.ones(4, 3).to_sparse()


CASES = {
    # input
    "integer tensor": (lambda e: fdt.dropout(torch.arange(6), 0.5), TypeError, "input.*int64"),
    "bool tensor": (lambda e: fdt.Dropout()(torch.ones(3, dtype=torch.bool)), TypeError, "input.*bool"),
    "complex tensor": (lambda e: fdt.dropout(torch.ones(3, dtype=torch.complex64)), TypeError, "input.*complex"),
    "sparse tensor": (lambda e: fdt.dropout(sparse(), 0.5), TypeError, "input.*sparse"),
    # a meta tensor stands in for CUDA ones: both fail the same device check
    "meta device": (lambda e: fdt.dropout(torch.empty(3, device="meta"), 0.5), ValueError, "input.*device meta"),
    "meta device, module": (lambda e: fdt.Dropout2d()(torch.empty(2, 3, 4, 4, device="meta")), ValueError,
                            "input.*CPU"),
    "not a tensor": (lambda e: fdt.dropout(e.x.numpy(), 0.5), TypeError, "input.*torch.Tensor"),
    "expanded, in place": (lambda e: fdt.dropout(torch.ones(1, 3).expand(4, 3), 0.5, inplace=True,
                                                 generator=e.g), RuntimeError, "input.*share memory"),
    # p
    "nested tensor": (lambda e: fdt.dropout(torch.nested.nested_tensor([torch.ones(2), torch.ones(3)]), 0.5,
                                            generator=e.g), TypeError, "input.*nested"),
    "jagged nested tensor": (lambda e: fdt.Dropout(generator=e.g)(
        torch.nested.nested_tensor([torch.ones(2), torch.ones(3)], layout=torch.jagged)), TypeError, "input.*nested"),
    "mkldnn tensor": (lambda e: fdt.dropout(torch.ones(4).to_mkldnn(), 0.5, generator=e.g), TypeError,
                      "input.*_mkldnn.*to_dense"),
    # p: torch's words for a value outside [0, 1], with the argument's name
    "p above 1": (lambda e: fdt.dropout(e.x, 1.5, generator=e.g), ValueError,
                  r"^dropout probability has to be between 0 and 1, but got 1.5 \(argument p\)$"),
    "p a 0-d tensor above 1": (lambda e: fdt.Dropout(torch.tensor(1.5)), ValueError, r"but got 1.5 \(argument p\)"),
    "p a 1-d tensor": (lambda e: fdt.Dropout(torch.tensor([0.5])), TypeError, r"\bp\b"),
    "p below 0": (lambda e: fdt.Dropout(-0.1), ValueError, r"\bp\b"),
    "p NaN": (lambda e: fdt.dropout(e.x, float("nan"), generator=e.g), ValueError, r"\bp\b"),
    "p a string": (lambda e: fdt.dropout(e.x, "0.5"), TypeError, r"\bp\b"),
    "p changed on the module": (lambda e: _with(fdt.Dropout(generator=e.g), p=2.0)(e.x), ValueError, r"\bp\b"),
    "drop_prob above 1": (lambda e: fdt.DropPath(1.2), ValueError, "drop_prob"),
    "alpha p above 1": (lambda e: fdt.AlphaDropout(3), ValueError, r"\bp\b"),
    # other arguments
    "training not bool": (lambda e: fdt.dropout(e.x, 0.5, training="yes"), TypeError, "training"),
    "inplace not bool": (lambda e: fdt.Dropout(0.5, inplace=1), TypeError, "inplace"),
    "scale_by_keep not bool": (lambda e: fdt.DropPath(0.1, scale_by_keep=None), TypeError, "scale_by_keep"),
    "torch generator": (lambda e: fdt.dropout(e.x, 0.5, generator=torch.Generator()), TypeError, "generator"),
    "generator on module": (lambda e: fdt.Dropout1d(generator=123), TypeError, "generator"),
    "shard unknown": (lambda e: fdt.Dropout(shard="rows"), ValueError, "shard"),
    "shard without process group": (lambda e: fdt.Dropout(0.5, generator=e.g, shard="batch")(e.x), ValueError,
                                    "shard.*process group"),
    "shard without process group, torch stream": (lambda e: fdt.dropout(e.x, 0.5, shard="batch"), ValueError,
                                                  "shard.*process group"),
    "replace_dropout non-module": (lambda e: fdt.replace_dropout([torch.nn.Dropout()]), TypeError, "module"),
    "replace_dropout bad shard": (lambda e: fdt.replace_dropout(torch.nn.Dropout(), shard=1), ValueError, "shard"),
    # dimensions, as torch
    "Dropout1d 4D": (lambda e: fdt.Dropout1d(generator=e.g)(e.x), RuntimeError, "Dropout1d.*4D"),
    "Dropout2d 1D": (lambda e: fdt.Dropout2d(generator=e.g)(torch.ones(5)), RuntimeError, "Dropout2d"),
    "DropPath 0-d": (lambda e: fdt.DropPath(0.5, generator=e.g)(torch.tensor(1.0)), ValueError, "DropPath.*0-d"),
}


def _with(module, **attributes):
    for name, value in attributes.items():
        setattr(module, name, value)
    return module


@pytest.mark.filterwarnings("ignore:Dropout2d", "ignore:The PyTorch API of nested tensors is in prototype")
@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_names_the_argument_and_changes_nothing(case):
    call, exc, message = CASES[case]
    env = Env()
    snap = env.snapshot()
    with pytest.raises(exc, match=message):
        call(env)
    env.assert_unchanged(snap)


def test_a_0d_tensor_p_and_numpy_bools_are_taken_as_torch_takes_them():
    x = torch.ones(8, 16)
    want = fdt.dropout(x, 0.25, generator=fd.Generator(2))
    assert torch.equal(fdt.dropout(x, torch.tensor(0.25), generator=fd.Generator(2)), want)
    assert torch.equal(fdt.Dropout(torch.tensor(0.25), inplace=np.bool_(False), generator=fd.Generator(2))(x), want)
    y = x.clone()
    assert fdt.dropout(y, 0.25, training=np.bool_(True), inplace=np.bool_(True), generator=fd.Generator(2)) is y
    assert torch.equal(y, want)
    assert fdt.Dropout(torch.tensor(0)).p == 0.0 and fdt.Dropout(torch.tensor(1)).p == 1.0   # integer 0-d tensors


@pytest.mark.parametrize("cls, shape", [(fdt.Dropout1d, (3, 5)), (fdt.Dropout3d, (3, 2, 2, 2))])
def test_unbatched_input_gets_the_errors_of_the_input_itself(cls, shape):
    """An unbatched input is dropped as a batch of one; the errors are about
    the input, not that batch: a leaf's in-place error (not a view's), and
    a 0-d input's dimension count."""
    leaf = torch.ones(shape, requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        cls(0.5, inplace=True, generator=fd.Generator(0))(leaf)
    if cls is fdt.Dropout3d:
        with pytest.warns(UserWarning), pytest.raises(RuntimeError, match="got a 0D input"):
            cls(0.5, generator=fd.Generator(0))(torch.tensor(1.0))


def test_bfloat16_without_ml_dtypes_is_refused_before_any_draw(monkeypatch):
    """Without ml_dtypes NumPy cannot see bfloat16: the input check says so
    before a key or counter is drawn, on the fast and the checked path."""
    from fastdrop.torch import _checks, _eager
    plain = tuple(d for d in _checks.FLOAT_DTYPES if d != torch.bfloat16)
    monkeypatch.setattr(_checks, "KERNEL_DTYPES", plain)
    monkeypatch.setattr(_eager, "_KERNEL_DTYPES", frozenset(plain))
    env = Env()
    env.x = env.x.to(torch.bfloat16)
    for call in (lambda: fdt.dropout(env.x, 0.5, generator=env.g), lambda: fdt.dropout(env.x, 0.5),
                 lambda: fdt.dropout(env.x, 0.5, inplace=True, generator=env.g)):
        snap = env.snapshot()
        with pytest.raises(TypeError, match="input.*ml_dtypes"):
            call()
        env.assert_unchanged(snap)


@pytest.mark.parametrize("p, mask_shape, match", [(2.0, [4], "p must be in"), (-1.0, [4], "p must be in"),
                                                  (0.5, [7, 3], "mask_shape")])
def test_the_draw_operator_checks_before_spending_counters(p, mask_shape, match):
    """torch.ops.fastdrop.draw_seed is callable by anyone: bad arguments raise
    and leave the generator where it was."""
    from fastdrop.torch import _streams
    g = fd.Generator(0)
    stream = _streams.stream_id(g)
    state = g.get_state()
    with pytest.raises(ValueError, match=match):
        torch.ops.fastdrop.draw_seed(torch.empty(0), stream, p, [4], mask_shape, _streams.UNSHARDED)
    assert g.get_state() == state


def test_a_draw_under_a_fake_tensor_mode_leaves_later_eager_calls_working():
    """The per-thread key buffer is never made under a dispatch mode, so a
    thread's first draw inside FakeTensorMode cannot poison its later eager calls."""
    import threading
    from torch._subclasses.fake_tensor import FakeTensorMode
    outcome = {}

    def run():
        try:
            with FakeTensorMode() as mode:
                fdt.dropout(mode.from_tensor(torch.ones(8)), 0.5)
        except Exception:   # data-dependent under fake tensors: not what is tested here
            pass
        torch.manual_seed(5)
        outcome["eager"] = fdt.dropout(torch.ones(1000), 0.5)
    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    torch.manual_seed(5)
    assert torch.equal(outcome["eager"], fdt.dropout(torch.ones(1000), 0.5))


def test_in_place_into_an_inference_tensor_outside_inference_mode_is_refused_as_torch_does():
    with torch.inference_mode():
        x, torchs = torch.ones(10), torch.ones(10)
    g = fd.Generator(0)
    with pytest.raises(RuntimeError, match="inference"):
        torch.nn.functional.dropout(torchs, 0.5, inplace=True)
    with pytest.raises(RuntimeError, match="input is an inference tensor"):
        fdt.dropout(x, 0.5, inplace=True, generator=g)
    assert g.counter == 0 and bool((x == 1).all())
    with torch.inference_mode():
        assert fdt.dropout(x, 0.5, inplace=True, generator=g) is x
    assert g.counter == 1


@pytest.mark.parametrize("inplace", [False, True])
def test_a_negated_view_gives_the_result_of_its_values(inplace):
    """x.conj().imag is a view with torch's negative bit: memory holds -x."""
    z = torch.randn(6, 40, dtype=torch.complex64, generator=torch.Generator().manual_seed(1))
    view = z.conj().imag
    assert view.is_neg()
    expected = fdt.dropout(view.resolve_neg().clone(), 0.3, generator=fd.Generator(4))
    g = fd.Generator(4)
    result = fdt.dropout(view, 0.3, inplace=inplace, generator=g)
    assert torch.equal(result, expected) and g.counter == -(-240 // 16)
    if inplace:
        assert result is view and torch.equal(z.imag, -expected)
    leaf = z.clone().requires_grad_()
    fdt.dropout(leaf.conj().imag, 0.3, generator=fd.Generator(4)).sum().backward()
    assert torch.equal(leaf.grad.imag != 0, expected != 0)

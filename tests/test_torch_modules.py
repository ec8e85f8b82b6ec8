"""fastdrop.torch's modules as torch code sees them: instances of torch's
dropout classes (so model-wide isinstance idioms reach them), and
replace_dropout, which swaps all of a model's torch dropout modules or none,
takes whatever values torch itself accepted for p and inplace, and keeps what
was attached to the old module (hooks, attributes)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import fastdrop as fd  # noqa: E402
import fastdrop.torch as fdt  # noqa: E402

nn = torch.nn
TORCH_CLASSES = {fdt.Dropout: nn.Dropout, fdt.Dropout1d: nn.Dropout1d, fdt.Dropout2d: nn.Dropout2d,
                 fdt.Dropout3d: nn.Dropout3d, fdt.AlphaDropout: nn.AlphaDropout}


def dropout_kinds(model):
    """The package ('torch' or 'fastdrop') of each dropout module in `model`."""
    return [type(m).__module__.split(".")[0] for m in model.modules() if "Dropout" in type(m).__name__]


# ---------------------------------------------------------------- subclasses of torch's classes

@pytest.mark.parametrize("cls", list(TORCH_CLASSES), ids=lambda cls: cls.__name__)
def test_modules_are_instances_of_torch_dropout_classes(cls):
    module = cls(0.3, generator=fd.Generator(0))
    assert isinstance(module, TORCH_CLASSES[cls]) and isinstance(module, nn.modules.dropout._DropoutNd)
    assert module.p == 0.3 and module.inplace is False
    assert list(module.state_dict()) == [] and list(module.parameters()) == []
    assert not isinstance(fdt.DropPath(0.1), nn.modules.dropout._DropoutNd)


def test_monte_carlo_dropout_idiom_reaches_swapped_modules():
    """model.eval() then .train() on every isinstance(m, nn.Dropout): two
    passes differ only if the dropout is back in training mode."""
    torch.manual_seed(0)
    model = fdt.replace_dropout(nn.Sequential(nn.Linear(64, 64), nn.Dropout(0.5), nn.Linear(64, 4)))
    model.eval()
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.train()
    assert model[1].training and not model[0].training
    x = torch.ones(1, 64)
    assert not torch.equal(model(x), model(x))


def test_p_set_model_wide_through_isinstance_takes_effect():
    model = fdt.replace_dropout(nn.Sequential(nn.Dropout(0.5), nn.Dropout2d(0.5)))
    x = torch.ones(8, 4, 3, 3)
    for p, expected in ((0.0, x), (1.0, torch.zeros_like(x))):
        for m in model.modules():
            if isinstance(m, nn.modules.dropout._DropoutNd):
                m.p = p
        assert torch.equal(model(x), expected)
    assert repr(model[0]) == "Dropout(p=1.0, inplace=False)"


def test_replace_dropout_leaves_fastdrop_modules_and_torch_subclasses_alone():
    g = fd.Generator(1)
    mine = fdt.Dropout(0.2, generator=g)
    custom = type("MyDropout", (nn.Dropout,), {})(0.3)
    model = nn.Sequential(mine, custom, fdt.AlphaDropout(0.1))
    fdt.replace_dropout(model, generator=fd.Generator(2))
    assert model[0] is mine and mine.generator is g and model[1] is custom
    assert type(model[2]) is fdt.AlphaDropout


# ---------------------------------------------------------------- values torch accepts

@pytest.mark.parametrize("p, inplace, expected", [
    (0.5, None, (0.5, False)), (0.5, 0, (0.5, False)), (0.25, 1, (0.25, True)),
    (0.5, np.bool_(True), (0.5, True)), (torch.tensor(0.25), False, (0.25, False)),
    (True, False, (1.0, False)), (np.float32(0.5), False, (0.5, False)), (0, False, (0.0, False)),
], ids=["inplace None", "inplace 0", "inplace 1", "inplace numpy bool", "p 0-d tensor", "p bool",
        "p numpy float", "p int"])
def test_replace_dropout_converts_what_torch_accepted(p, inplace, expected):
    old = nn.Dropout(p, inplace)
    old(torch.ones(4))  # torch accepts and runs it
    model = fdt.replace_dropout(nn.Sequential(nn.Dropout(0.1), old))
    new = model[1]
    assert type(new) is fdt.Dropout and (new.p, new.inplace) == expected
    assert type(new.p) is float and type(new.inplace) is bool


# ---------------------------------------------------------------- all or nothing

def with_attribute(module, name, value):
    setattr(module, name, value)
    return module


@pytest.mark.parametrize("make_bad, error, match", [
    (lambda: nn.Dropout(float("nan")), ValueError, r"'1\.1'.*between 0 and 1, but got nan \(argument p\)"),
    (lambda: with_attribute(nn.Dropout(0.5), "p", "0.5"), TypeError, r"'1\.1'.*\bp\b.*str"),
    (lambda: with_attribute(nn.AlphaDropout(0.5), "inplace", torch.ones(2)), TypeError, r"'1\.1'.*inplace"),
], ids=["p NaN", "p set to a string", "inplace without a truth value"])
def test_replace_dropout_that_raises_changes_nothing(make_bad, error, match):
    """torch's constructor lets a NaN p through, and p and inplace can be set
    to anything afterwards: replace_dropout refuses them, naming the module's
    path, and the modules met before it are not swapped."""
    first, second, last = nn.Dropout(0.1), nn.Dropout2d(0.2), make_bad()
    model = nn.Sequential(first, nn.Sequential(second, last))
    with pytest.raises(error, match=match):
        fdt.replace_dropout(model)
    assert model[0] is first and model[1][0] is second and model[1][1] is last
    assert dropout_kinds(model) == ["torch"] * 3


def test_replace_dropout_rolls_back_when_an_assignment_raises():
    """A module registration hook that refuses the third swap: the first two
    are undone."""
    model = nn.Sequential(nn.Dropout(0.1), nn.Dropout(0.2), nn.Dropout(0.3))
    seen = []

    def refuse_third(parent, name, submodule):
        if isinstance(submodule, fdt.Dropout):
            seen.append(name)
            if len(seen) == 3:
                raise RuntimeError("refused")
        return None

    olds = list(model)
    handle = nn.modules.module.register_module_module_registration_hook(refuse_third)
    try:
        with pytest.raises(RuntimeError, match="refused"):
            fdt.replace_dropout(model)
    finally:
        handle.remove()
    assert list(model) == olds and dropout_kinds(model) == ["torch"] * 3


def test_replace_dropout_handles_a_module_graph_with_a_cycle():
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.1))
    model[0].owner = model  # a child that refers back to its parent
    fdt.replace_dropout(model)
    assert type(model[1]) is fdt.Dropout


# ---------------------------------------------------------------- hooks and attributes

def test_replace_dropout_keeps_hooks_and_attributes():
    calls = []
    old = nn.Dropout(0.5)
    handles = [
        old.register_forward_pre_hook(lambda m, args: calls.append(("pre", type(m)))),
        old.register_forward_hook(lambda m, args, out: calls.append(("forward", type(m)))),
        old.register_forward_hook(lambda m, args, kwargs, out: calls.append(("forward kwargs", type(m))),
                                  with_kwargs=True),
        old.register_full_backward_pre_hook(lambda m, grad_out: calls.append(("backward pre", type(m)))),
        old.register_full_backward_hook(lambda m, grad_in, grad_out: calls.append(("backward", type(m)))),
    ]
    old.tag = "encoder.dropout"
    old.register_buffer("step", torch.tensor(3))
    model = nn.Sequential(nn.Linear(4, 4), old)
    keys = list(model.state_dict())
    fdt.replace_dropout(model, generator=fd.Generator(0))
    new = model[1]
    assert type(new) is fdt.Dropout and new.tag == "encoder.dropout" and list(model.state_dict()) == keys
    model(torch.ones(2, 4)).sum().backward()
    kinds = ["pre", "forward", "forward kwargs", "backward pre", "backward"]
    assert calls == [(kind, fdt.Dropout) for kind in kinds]
    for handle in handles:  # the handles taken on the torch module still remove the hooks
        handle.remove()
    calls.clear()
    model(torch.ones(2, 4)).sum().backward()
    assert calls == []


def test_replace_dropout_keeps_its_own_arguments_over_attributes():
    old = nn.Dropout(0.4)
    old.generator = "not a generator"
    g = fd.Generator(0)
    new = fdt.replace_dropout(nn.Sequential(old))[0]
    assert new.generator is None and new.shard is None and new.p == 0.4
    assert fdt.replace_dropout(nn.Sequential(nn.Dropout(0.4)), generator=g)[0].generator is g
    eval_old = nn.Dropout(0.4).eval()
    assert not fdt.replace_dropout(eval_old).training


def test_replace_dropout_leaves_a_module_with_its_own_forward_alone():
    """A forward set on the instance may do more than dropout, as a subclass's may."""
    old = nn.Dropout(0.4)
    old.forward = lambda x: x * 2
    model = fdt.replace_dropout(nn.Sequential(old))
    assert model[0] is old


def test_replace_dropout_does_not_keep_a_compiled_call_of_the_old_module():
    """Module.compile() on the old module binds its call to that module: kept,
    it would run torch's dropout."""
    old = nn.Dropout(0.5)
    old.compile()
    new = fdt.replace_dropout(old, generator=fd.Generator(3))
    x = torch.ones(64)
    assert torch.equal(new(x), fdt.Dropout(0.5, generator=fd.Generator(3))(x))


# ---------------------------------------------------------------- torch.fx

MODULES = [fdt.Dropout, fdt.Dropout1d, fdt.Dropout2d, fdt.Dropout3d, fdt.AlphaDropout, fdt.DropPath]
INPUT_SHAPES = {fdt.Dropout1d: (4, 3, 5), fdt.Dropout2d: (4, 3, 5, 2), fdt.Dropout3d: (4, 3, 2, 2, 2)}


@pytest.mark.parametrize("cls", MODULES, ids=lambda cls: cls.__name__)
def test_fx_records_the_modules_as_leaves_as_it_records_torch_dropout(cls):
    """symbolic_trace (and what builds on it: FX quantization, feature
    extractors) keeps each module as one call_module node, as it keeps
    torch's; the traced graph calls the module, so it draws the same masks
    and follows train() and eval()."""
    model = nn.Sequential(nn.Identity(), cls(0.5, generator=fd.Generator(4)))
    traced = torch.fx.symbolic_trace(model)
    assert [(n.op, n.target) for n in traced.graph.nodes] == [
        ("placeholder", "input"), ("call_module", "0"), ("call_module", "1"), ("output", "output")]
    x = torch.randn(INPUT_SHAPES.get(cls, (4, 6)))
    state = model[1].generator.get_state()
    y = traced(x)
    model[1].generator.set_state(state)
    assert torch.equal(y, model(x))
    assert torch.equal(traced.eval()(x), x)


def test_fx_records_the_functional_call_and_refuses_a_generator_it_cannot_record():
    traced = torch.fx.symbolic_trace(lambda x: fdt.dropout(x, 0.25, training=True))
    calls = [n for n in traced.graph.nodes if n.op == "call_function"]
    assert [(n.target, n.args[1:]) for n in calls] == [(fdt.dropout, (0.25, True, False))]
    torch.manual_seed(5)
    y = traced(torch.ones(64))
    torch.manual_seed(5)
    assert torch.equal(y, fdt.dropout(torch.ones(64), 0.25))
    with pytest.raises(TypeError, match="generator"):
        torch.fx.symbolic_trace(lambda x: fdt.dropout(x, 0.25, generator=fd.Generator(0)))
    with pytest.raises(ValueError, match=r"\bp\b"):
        torch.fx.symbolic_trace(lambda x: fdt.dropout(x, 1.5))


# ---------------------------------------------------------------- evaluation passes any tensor through

def _quantized():
    return torch.quantize_per_tensor(torch.randn(4, 3), 0.1, 0, torch.quint8)


@pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor:UserWarning")
@pytest.mark.parametrize("make", [_quantized, lambda: torch.empty(4, 3, device="meta"), lambda: torch.arange(12)],
                         ids=["quantized", "meta", "int64"])
@pytest.mark.parametrize("cls", [fdt.Dropout, fdt.AlphaDropout, fdt.DropPath], ids=lambda cls: cls.__name__)
def test_evaluation_and_p_zero_return_any_tensor_as_torch_does(make, cls):
    """A model trained with fastdrop runs through eager quantization or on
    the meta device in evaluation: there the modules, like torch's, return
    their input without looking at its dtype or device; in training they
    refuse it, naming input."""
    x = make()
    assert cls(0.5).eval()(x) is x
    assert cls(0.0)(x) is x
    with pytest.raises((TypeError, ValueError), match="input"):
        cls(0.5)(x)


@pytest.mark.filterwarnings("ignore:Dropout2d")
@pytest.mark.parametrize("make", [lambda: torch.empty(4, 3, device="meta"), lambda: torch.arange(12),
                                  lambda: torch.ones(3, dtype=torch.bool), lambda: torch.ones(3, dtype=torch.complex64)],
                         ids=["meta", "int64", "bool", "complex64"])
@pytest.mark.parametrize("call", [lambda x: fdt.dropout(x, 1.0), lambda x: fdt.Dropout(1.0)(x),
                                  lambda x: fdt.Dropout2d(1.0)(x), lambda x: fdt.AlphaDropout(1.0)(x)],
                         ids=["dropout", "Dropout", "Dropout2d", "AlphaDropout"])
def test_p_one_zeroes_any_tensor_in_its_own_dtype_as_torch_does(make, call):
    x = make()
    expected = x * torch.zeros((), dtype=x.dtype, device=x.device)
    y = call(x)
    assert y.dtype == x.dtype and y.device == x.device and y.shape == x.shape
    if x.device.type != "meta":
        assert torch.equal(y, expected) and not y.any()
    empty = torch.empty(0, 3)
    assert fdt.dropout(empty, 1.0) is empty


@pytest.mark.filterwarnings("ignore:.torch.jit.script. is deprecated:DeprecationWarning")
def test_replace_dropout_refuses_a_torchscript_module():
    scripted = torch.jit.script(nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5)))
    with pytest.raises(TypeError, match="TorchScript"):
        fdt.replace_dropout(scripted)
    # a scripted part holding a dropout is refused by its path; one without is left alone
    model = nn.Sequential(nn.Linear(2, 2), torch.jit.script(nn.Sequential(nn.ReLU(), nn.Dropout(0.5))),
                          nn.Dropout(0.5))
    with pytest.raises(TypeError, match="'1.1'.*TorchScript module '1'"):
        fdt.replace_dropout(model)
    assert dropout_kinds(model) == ["torch"]   # nothing swapped
    model[1] = torch.jit.script(nn.Sequential(nn.ReLU()))
    fdt.replace_dropout(model)
    assert isinstance(model[2], fdt.Dropout)

"""Bad-input catalogue: every public function and constructor of the core,
every kind of wrong argument.  Each call must raise ValueError or TypeError
whose message names the offending argument, and must change nothing: no
array, no generator counter or key, no global setting (validation happens
before any memory is touched).
"""
import re
from dataclasses import dataclass, field

import numpy as np
import pytest

import fastdrop as fd


class Env:
    """Fresh arrays, a generator and a handle for each case; snapshot() and
    assert_unchanged() compare everything a failing call could have touched."""

    def __init__(self):
        rng = np.random.default_rng(0)
        self.x = rng.standard_normal((4, 5)).astype(np.float32)
        self.x16 = self.x.astype(np.float16)
        self.ro = self.x.copy()
        self.ro.flags.writeable = False
        self.out = np.zeros((4, 5), np.float32)
        self.out_ro = np.zeros((4, 5), np.float32)
        self.out_ro.flags.writeable = False
        self.out_wrong_shape = np.zeros((5, 4), np.float32)
        self.out_wrong_dtype = np.zeros((4, 5), np.float64)
        self.ints = np.arange(20).reshape(4, 5)
        self.g = fd.Generator(1)
        _, self.handle = fd.dropout(self.x.copy(), 0.5, generator=self.g, return_handle=True)
        self.dy = rng.standard_normal((4, 5)).astype(np.float32)
        self.dy_wrong = np.zeros((5, 4), np.float32)
        self.counters = np.zeros((3, 4), np.uint32)

    def arrays(self):
        return {k: v for k, v in vars(self).items() if isinstance(v, np.ndarray)}

    def snapshot(self):
        return ({k: v.copy() for k, v in self.arrays().items()}, self.g.get_state(),
                fd.default_generator().get_state(), fd.get_num_threads(), fd.get_isa())

    def assert_unchanged(self, snap):
        arrays, state, default_state, threads, isa = snap
        for name, before in arrays.items():
            after = getattr(self, name)
            assert np.array_equal(after, before, equal_nan=after.dtype.kind == "f"), f"{name} changed"
        assert _same_state(self.g.get_state(), state), "generator state changed"
        assert _same_state(fd.default_generator().get_state(), default_state), "default generator changed"
        assert fd.get_num_threads() == threads
        assert fd.get_isa() == isa


def _same_state(a, b):
    return {k: v for k, v in a.items() if k != "seed_seq"} == {k: v for k, v in b.items() if k != "seed_seq"}


@dataclass
class Case:
    id: str
    call: object              # Env -> anything; must raise
    names: str                # regex the message must contain (the argument's name)
    exc: tuple = (ValueError, TypeError)
    xfail: str = ""
    marks: list = field(default_factory=list)


def drop(**kw):
    def call(e):
        args = {"x": e.x, "p": 0.5, "generator": e.g}
        args.update({k: (getattr(e, v[1:]) if isinstance(v, str) and v.startswith("@") else v)
                     for k, v in kw.items()})
        x, p = args.pop("x"), args.pop("p")
        return fd.dropout(x, p, **args)
    return call


NOT_A_HANDLE = "handle must be"
CASES = [
    # ---- dropout: p
    *[Case(f"dropout-p={p!r}", drop(p=p), r"\bp\b", (ValueError,))
      for p in (-0.1, 1.1, float("nan"), float("inf"), -float("inf"), -1e-300, 1 + 1e-12)],
    *[Case(f"dropout-p={p!r}", drop(p=p), r"\bp\b", (TypeError,))
      for p in ("0.5", None, True, False, np.bool_(True), [0.5], 0.5 + 0j, np.array([0.5]))],
    # ---- dropout: x
    *[Case(f"dropout-x-{kind}", drop(x=x), r"\bx\b", (TypeError,))
      for kind, x in [("int", np.arange(6)), ("bool", np.ones(3, bool)), ("object", np.array([1.0, None])),
                      ("complex", np.ones(3, np.complex64)), ("str", np.array(["a"])), ("none", None),
                      ("datetime", np.array(["2020-01-01"], dtype="datetime64[D]")),
                      ("uint8", np.zeros(4, np.uint8)), ("longdouble", np.ones(3, np.longdouble))]],
    Case("dropout-x-int-inplace", drop(x="@ints", inplace=True), r"\bx\b", (TypeError,)),
    Case("dropout-x-readonly-inplace", drop(x="@ro", inplace=True), r"\bx\b", (ValueError,)),
    Case("dropout-x-list-inplace", drop(x=[1.0, 2.0], inplace=True), r"\bx\b", (TypeError,)),
    # ---- dropout: out
    Case("dropout-out-wrong-shape", drop(out="@out_wrong_shape"), r"\bout\b"),
    Case("dropout-out-wrong-dtype", drop(out="@out_wrong_dtype"), r"\bout\b"),
    Case("dropout-out-readonly", drop(out="@out_ro"), r"\bout\b"),
    Case("dropout-out-list", drop(out=[0.0] * 20), r"\bout\b", (TypeError,)),
    Case("dropout-out-and-inplace", drop(out="@out", inplace=True), r"\bout\b|inplace"),
    Case("dropout-out-and-inplace-eval", drop(out="@out", inplace=True, training=False), r"\bout\b|inplace"),
    # ---- dropout: mask_shape
    *[Case(f"dropout-mask_shape={m!r}", drop(mask_shape=m), r"mask_shape", (ValueError,))
      for m in ((3,), (4, 5, 1), (1, 4, 5), (2, 5), (4, 4), (0, 5), (-1, 5), (4, -5))],
    *[Case(f"dropout-mask_shape={m!r}", drop(mask_shape=m), r"mask_shape", (TypeError,))
      for m in (5, "ab", (1.5, 5), (True, 5), (None, 5), 2.0)],
    # ---- dropout: the other keywords
    *[Case(f"dropout-generator={type(g).__name__}", drop(generator=g), r"generator", (TypeError,))
      for g in (np.random.default_rng(0), 0, "g", np.random.SeedSequence(0))],
    *[Case(f"dropout-mode={m!r}", drop(mode=m), r"\bmode\b", (ValueError,))
      for m in ("bogus", None, "Inverted", "")],
    *[Case(f"dropout-{kw}={v!r}", drop(**{kw: v}), kw, (TypeError,))
      for kw in ("training", "inplace", "return_handle") for v in (1, "yes", None)],
    # ---- dropout_backward
    Case("backward-dy-wrong-shape", lambda e: fd.dropout_backward(e.dy_wrong, e.handle), r"\bdy\b", (ValueError,)),
    Case("backward-dy-int", lambda e: fd.dropout_backward(e.ints, e.handle), r"\bdy\b", (TypeError,)),
    Case("backward-dy-complex", lambda e: fd.dropout_backward(e.dy.astype(np.complex64), e.handle),
         r"\bdy\b", (TypeError,)),
    Case("backward-dy-readonly-inplace", lambda e: fd.dropout_backward(e.ro, e.handle, inplace=True),
         r"\bdy\b", (ValueError,)),
    *[Case(f"backward-handle-{type(h).__name__}", (lambda h: lambda e: fd.dropout_backward(e.dy, h))(h),
           r"handle", (TypeError,))
      for h in (None, {}, (0, 0), "handle", np.ones(3))],
    Case("backward-out-wrong-shape", lambda e: fd.dropout_backward(e.dy, e.handle, out=e.out_wrong_shape), r"\bout\b"),
    Case("backward-out-wrong-dtype", lambda e: fd.dropout_backward(e.dy, e.handle, out=e.out_wrong_dtype), r"\bout\b"),
    Case("backward-out-readonly", lambda e: fd.dropout_backward(e.dy, e.handle, out=e.out_ro), r"\bout\b"),
    Case("backward-out-and-inplace", lambda e: fd.dropout_backward(e.dy, e.handle, out=e.out, inplace=True),
         r"\bout\b|inplace"),
    Case("backward-inplace-not-bool", lambda e: fd.dropout_backward(e.dy, e.handle, inplace=1), r"inplace",
         (TypeError,)),
    # ---- Generator
    *[Case(f"Generator-seed={s!r}", (lambda s: lambda e: fd.Generator(s))(s), r"\bseed\b", (exc,))
      for s, exc in ((-1, ValueError), (-(2 ** 70), ValueError), (1.5, TypeError), ("1", TypeError),
                     (True, TypeError), (b"1", TypeError), (1.0, TypeError))],
    *[Case(f"Generator-rounds={r!r}", (lambda r: lambda e: fd.Generator(0, rounds=r))(r), r"\brounds\b", (exc,))
      for r, exc in ((6, ValueError), (17, ValueError), (0, ValueError), (-1, ValueError),
                     (10.0, TypeError), ("10", TypeError), (True, TypeError), (None, TypeError))],
    # ---- Generator.set_state
    Case("set_state-not-dict", lambda e: e.g.set_state([1, 2]), r"\bstate\b", (TypeError,)),
    Case("set_state-bit_generator", lambda e: e.g.set_state({**e.g.get_state(), "bit_generator": "PCG64"}),
         r"bit_generator", (ValueError,)),
    *[Case(f"set_state-missing-{k}", (lambda k: lambda e: e.g.set_state(
        {a: b for a, b in e.g.get_state().items() if a != k}))(k), k, (ValueError,))
      for k in ("rounds", "key", "counter")],
    *[Case(f"set_state-{k}={v!r}", (lambda k, v: lambda e: e.g.set_state({**e.g.get_state(), k: v}))(k, v), k)
      for k, v in (("rounds", 6), ("rounds", 17), ("rounds", 10.5), ("rounds", "10"),
                   ("key", (1,)), ("key", (1, 2, 3)), ("key", None), ("key", (-1, 0)), ("key", (0, 2 ** 32)),
                   ("key", (1.5, 0)), ("key", ("a", 0)), ("key", 7),
                   ("counter", -1), ("counter", 2 ** 64 + 1), ("counter", 1.5), ("counter", True),
                   ("counter", "0"), ("counter", None))],
    Case("set_state-seed_seq-empty", lambda e: e.g.set_state({**e.g.get_state(), "seed_seq": {}}), r"seed_seq"),
    Case("set_state-seed_seq-str", lambda e: e.g.set_state({**e.g.get_state(), "seed_seq": "x"}), r"seed_seq"),
    # ---- Generator.spawn / reserve
    Case("spawn-negative", lambda e: e.g.spawn(-1), r"\bn\b", (ValueError,)),
    Case("spawn-float", lambda e: e.g.spawn(1.5), r"\bn\b", (TypeError,)),
    Case("spawn-str", lambda e: e.g.spawn("2"), r"\bn\b", (TypeError,)),
    Case("spawn-bool", lambda e: e.g.spawn(True), r"\bn\b", (TypeError,)),
    Case("reserve-negative", lambda e: e.g.reserve(-1), r"blocks", (ValueError,)),
    Case("reserve-float", lambda e: e.g.reserve(1.5), r"blocks", (TypeError,)),
    Case("reserve-bool", lambda e: e.g.reserve(True), r"blocks", (TypeError,)),
    # ---- seed
    *[Case(f"seed-{s!r}", (lambda s: lambda e: fd.seed(s))(s), r"\bseed\b", (exc,))
      for s, exc in ((-1, ValueError), ("x", TypeError), (1.5, TypeError), (True, TypeError))],
    Case("seed-rounds", lambda e: fd.seed(0, rounds=6), r"\brounds\b", (ValueError,)),
    # ---- philox4x32
    *[Case(f"philox-counters-{kind}", (lambda c: lambda e: fd.philox4x32(c, (0, 0)))(c), r"counters", (exc,))
      for kind, c, exc in (("float", np.zeros(4), TypeError), ("bool", np.zeros(4, bool), TypeError),
                           ("complex", np.zeros(4, complex), TypeError), ("object", np.array([0, 0, 0, None]), TypeError),
                           ("str", ["a", "b", "c", "d"], TypeError), ("shape3", np.zeros(3, np.uint32), ValueError),
                           ("shape2x5", np.zeros((2, 5), np.uint32), ValueError), ("0d", np.uint32(0), ValueError),
                           ("negative", [0, 0, 0, -1], ValueError), ("2**32", [0, 0, 0, 2 ** 32], ValueError),
                           ("int64-big", np.array([0, 0, 0, 2 ** 40]), ValueError))],
    *[Case(f"philox-key={k!r}", (lambda k: lambda e: fd.philox4x32(e.counters, k))(k), r"\bkey\b")
      for k in ((1,), (1, 2, 3), None, (-1, 0), (2 ** 32, 0), (1.5, 0), ("a", "b"), 5, (True, 0))],
    *[Case(f"philox-rounds={r!r}", (lambda r: lambda e: fd.philox4x32(e.counters, (0, 0), r))(r), r"\brounds\b")
      for r in (6, 17, 1.5, True, "10", None)],
    # ---- standard_normal
    *[Case(f"normal-shape={s!r}", (lambda s: lambda e: fd.standard_normal(s, (0, 0), 0))(s), r"\bshape\b", (exc,))
      for s, exc in ((-1, ValueError), ((2, -1), ValueError), (1.5, TypeError), ("ab", TypeError),
                     ((1.5,), TypeError), (None, TypeError))],
    *[Case(f"normal-key={k!r}", (lambda k: lambda e: fd.standard_normal(3, k, 0))(k), r"\bkey\b")
      for k in ((1,), None, (-1, 0), (2 ** 32, 0))],
    *[Case(f"normal-counter={c!r}", (lambda c: lambda e: fd.standard_normal(3, (0, 0), c))(c), r"\bcounter\b", (exc,))
      for c, exc in ((-1, ValueError), (2 ** 64, ValueError), (1.5, TypeError),
                     (None, TypeError), ("0", TypeError), (True, TypeError))],
    Case("normal-counter-past-the-end", lambda e: fd.standard_normal(5, (0, 0), 2 ** 64 - 1), r"\bcounter\b",
         (ValueError,)),
    *[Case(f"normal-rounds={r!r}", (lambda r: lambda e: fd.standard_normal(3, (0, 0), 0, rounds=r))(r), r"\brounds\b")
      for r in (6, 17, 2.0)],
    # ---- settings
    *[Case(f"set_num_threads({n!r})", (lambda n: lambda e: fd.set_num_threads(n))(n), r"\bn\b", (exc,))
      for n, exc in ((0, ValueError), (-1, ValueError), (1.5, TypeError), ("2", TypeError), (True, TypeError),
                     (None, TypeError))],
    *[Case(f"set_isa({n!r})", (lambda n: lambda e: fd.set_isa(n))(n), r"\bisa\b|\bname\b", (exc,))
      for n, exc in (("bogus", ValueError), ("sse9", ValueError), ("", ValueError), (1, TypeError),
                     (None, TypeError))],
]


def _params():
    return [pytest.param(case, id=case.id,
                         marks=[pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else [])
            for case in CASES]


@pytest.fixture(autouse=True)
def restore_default_generator():
    state = fd.default_generator().get_state()
    yield
    fd.default_generator().set_state(state)


@pytest.mark.parametrize("case", _params())
def test_bad_argument_raises_naming_it_and_changes_nothing(case):
    env = Env()
    snap = env.snapshot()
    with pytest.raises(case.exc) as info:
        case.call(env)
    assert re.search(case.names, str(info.value)), f"message does not name the argument: {info.value}"
    env.assert_unchanged(snap)


def test_every_public_callable_of_the_core_is_in_the_catalogue():
    covered = {"dropout", "dropout_backward", "Generator", "set_state", "spawn", "reserve", "seed",
               "philox4x32", "standard_normal", "set_num_threads", "set_isa"}
    prefixes = {"dropout": "dropout-", "dropout_backward": "backward-", "Generator": "Generator-",
                "set_state": "set_state-", "spawn": "spawn-", "reserve": "reserve-", "seed": "seed-",
                "philox4x32": "philox-", "standard_normal": "normal-", "set_num_threads": "set_num_threads(",
                "set_isa": "set_isa("}
    assert set(prefixes) == covered
    for name, prefix in prefixes.items():
        assert any(c.id.startswith(prefix) for c in CASES), name


def test_dropout_of_a_view_rejected_in_place_leaves_the_base_alone():
    base = np.arange(12, dtype=np.float64).reshape(3, 4)
    view = base[:, ::2]
    view.flags.writeable = False
    before = base.copy()
    with pytest.raises(ValueError, match=r"\bx\b"):
        fd.dropout(view, 0.5, inplace=True)
    assert np.array_equal(base, before)

"""A typed program over fastdrop's public API.

tests/test_typing.py runs mypy --strict on it (every assert_type must hold)
and runs it, so that it stays a working program.
"""
import os
import tempfile
from typing import Dict, List, Tuple, Type

import numpy as np
import numpy.typing as npt
from typing_extensions import assert_type

import fastdrop as fd
from fastdrop import graph as G
from fastdrop import plugin

# ---------------------------------------------------------------- generators
g = fd.Generator(seed=0, rounds=10)
assert_type(g.key, Tuple[int, int])
assert_type(g.counter, int)
assert_type(g.spawn(2), List[fd.Generator])
state = g.get_state()
g.set_state(state)
assert_type(fd.Generator.from_state(state), fd.Generator)
assert_type(fd.seed(1), fd.Generator)
assert_type(fd.default_generator(), fd.Generator)
assert_type(fd.philox4x32(np.zeros((2, 4), np.uint32), (1, 2)), npt.NDArray[np.uint32])
assert_type(fd.standard_normal((3,), key=(1, 2), counter=0), npt.NDArray[np.float64])
assert_type(fd.normal_blocks(100), int)

# ---------------------------------------------------------------- functional dropout
x = np.ones((8, 16), np.float32)
y = fd.dropout(x, 0.5, generator=g)
assert_type(y, np.ndarray)
y2, h = fd.dropout(x, 0.25, generator=g, return_handle=True)
assert_type(h, fd.DropoutHandle)
dx = fd.dropout_backward(np.ones_like(y2), h)
assert_type(dx, np.ndarray)
assert_type(h.mask(), npt.NDArray[np.bool_])
assert_type(h.packed_mask(), npt.NDArray[np.uint8])
assert_type(h.counter_range, Tuple[int, int])
assert_type(fd.dropout(x, 0.5, training=False), np.ndarray)
assert_type(fd.dropout(x, 0.5, mask_shape=(8, 1), mode="standard"), np.ndarray)

whole = fd.dropout_handle(x.shape, 0.5, generator=fd.Generator(3))
top = whole.apply(x[:4])
bottom = whole.apply(x[4:], offset=(4, 0))
assert_type(top, np.ndarray)
assert (np.vstack([top, bottom]) == fd.dropout(x, 0.5, generator=fd.Generator(3))).all()

# ---------------------------------------------------------------- settings
fd.set_num_threads(1)
assert_type(fd.get_num_threads(), int)
assert_type(fd.available_isas(), List[str])
fd.set_isa("auto")
assert_type(fd.get_isa(), str)
with fd.config_context(isa="portable", threads=1):
    config = fd.get_config()
fd.set_config(threads=config["threads"] if isinstance(config["threads"], int) else 1)
assert_type(fd.get_include(), str)
assert_type(fd.__version__, str)


# ---------------------------------------------------------------- variants and plugins
@fd.register
class Halve(fd.Variant):
    name = "halve_typing_sample"
    description = "Multiplies by 0.5."

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x * 0.5

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy * 0.5


assert_type(Halve, Type[Halve])
assert_type(fd.variants(), Dict[str, Type[fd.Variant]])
halve = fd.layer("halve_typing_sample")
assert_type(halve, fd.Variant)
fd.unregister(Halve)


class RowDropout(plugin.BroadcastDropout):
    name = "rowdrop_typing_sample"
    description = "Drops whole rows."

    def mask_shape(self, x: np.ndarray) -> Tuple[int, ...]:
        return (x.shape[0], 1)


class RowPlugin:
    @fd.hookimpl
    def fastdrop_variants(self) -> List[Type[fd.Variant]]:
        return [RowDropout]


row_plugin = RowPlugin()
fd.register(row_plugin, name="row-plugin")
rows = fd.layer("rowdrop_typing_sample", p=0.5, generator=fd.Generator(0))
fd.unregister(row_plugin)
assert_type(plugin.check_p(0.5), float)
assert_type(plugin.check_int(3, "n", low=0), int)
assert_type(plugin.check_float_array([1.0, 2.0]), np.ndarray)
try:
    fd.register(object, name="not-a-plugin")
except fd.InvalidVariantError as exc:
    assert_type(exc, fd.InvalidVariantError)
    assert isinstance(exc, fd.PluginError)
else:
    raise AssertionError("a class that is not a Variant was registered")

# ---------------------------------------------------------------- the layer graph
model = G.Sequential([G.Linear(16, 32, rng=0), G.ReLU(), G.Dropout(0.5, generator=fd.Generator(1)),
                      rows, G.Linear(32, 4, rng=1)])
optimizer = G.Adam(model.parameters(), lr=1e-2)
labels = np.arange(8) % 4
for _ in range(3):
    model.zero_grad()
    loss, dlogits = G.softmax_cross_entropy(model(x), labels)
    assert_type(loss, float)
    model.backward(dlogits)
    optimizer.step()
mean, std = G.mc_predict(model, x, T=4)
assert_type(mean, np.ndarray)
built = G.build([("linear", {"in_features": 16, "out_features": 4}), "relu"])
assert_type(built, G.Sequential)
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "model.npz")
    G.save(model, path)
    assert_type(G.load(model, path), G.Layer)

"""fastdrop.dask: dropout on Dask arrays equals fastdrop.dropout on the
computed array bit for bit, for any chunking, on the synchronous and
threaded schedulers and on a cluster of worker processes, also when a
worker dies in the middle of a computation.  Skipped only where Dask is not
installed (CI installs it).
"""
import doctest
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastdrop as fd
import reference as ref

da = pytest.importorskip("dask.array")
fdd = pytest.importorskip("fastdrop.dask")
dask = pytest.importorskip("dask")

DTYPES = (np.float16, np.float32, np.float64)
SETTINGS = dict(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


def same_bits(a, b):
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(
        np.ascontiguousarray(a).view(np.uint8), np.ascontiguousarray(b).view(np.uint8))


def check_chunking(x, chunks, p=0.3, *, seed=3, scheduler="sync", **kwargs):
    """fdd.dropout over `chunks` equals fd.dropout on x, and both moved their
    generator by the same counters when the graph was built."""
    g_dask, g_numpy = fd.Generator(seed), fd.Generator(seed)
    lazy, h = fdd.dropout(da.from_array(x, chunks=chunks), p, generator=g_dask, return_handle=True, **kwargs)
    assert g_dask.get_state() == fd.Generator(seed).get_state() | {"counter": h.counter_range[1]}
    expected, h_numpy = fd.dropout(x, p, generator=g_numpy, return_handle=True, **kwargs)
    assert h == h_numpy and g_dask.counter == g_numpy.counter
    got = lazy.compute(scheduler=scheduler)
    assert same_bits(got, expected), f"chunks {lazy.chunks}"
    return lazy, h


# ---------------------------------------------------------------- chunkings

CHUNKINGS = [
    ((1000,), 1000),                         # one block
    ((1000,), 128),                          # aligned with the kernel's chunks
    ((1000,), 7),
    ((1000,), ((1, 127, 129, 255, 488),)),   # irregular, cutting chunk edges
    ((37, 300), (5, 77)),
    ((37, 300), ((1, 36), (150, 1, 149))),
    ((37, 300), (37, 1)),                    # single columns
    ((6, 7, 130), (2, 3, 64)),
    ((3, 4, 5, 70), ((1, 2), (4,), (2, 2, 1), (35, 35))),
    ((4, 5), (1, 1)),                        # single elements
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, chunks", CHUNKINGS)
def test_any_chunking_equals_one_call(dtype, shape, chunks):
    check_chunking(ref.fill(shape, dtype, seed=len(shape)), chunks)


@pytest.mark.parametrize("mode", ["inverted", "standard"])
@pytest.mark.parametrize("shape, chunks, mask_shape", [
    ((6, 5, 7, 9), (4, 2, 3, 5), (6, 5, 1, 1)),
    ((6, 5, 7, 9), ((1, 5), (5,), (7,), (2, 7)), (5, 1, 9)),
    ((40, 33), (7, 10), (40, 1)),
])
def test_mask_shape_cells_across_chunks(mode, shape, chunks, mask_shape):
    check_chunking(ref.fill(shape, np.float32), chunks, 0.4, mode=mode, mask_shape=mask_shape)


def test_zero_d_and_empty_arrays():
    check_chunking(np.array(2.5, np.float64), ())
    check_chunking(np.zeros((0, 6), np.float32), (1, 4))


@st.composite
def chunked_arrays(draw):
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.integers(1, 400 if ndim == 1 else 12)) for _ in range(ndim))
    chunks = []
    for n in shape:
        cuts = sorted({0, n} | draw(st.sets(st.integers(1, max(1, n - 1)), max_size=5)))
        chunks.append(tuple(b - a for a, b in zip(cuts[:-1], cuts[1:])))
    return dict(shape=shape, chunks=tuple(chunks), dtype=draw(st.sampled_from(DTYPES)),
                p=draw(st.sampled_from((0.5, 0.1, 0.3, 0.9))), seed=draw(st.integers(0, 2 ** 32)),
                mode=draw(st.sampled_from(("inverted", "standard"))))


@settings(max_examples=60, **SETTINGS)
@given(chunked_arrays())
def test_random_chunkings_equal_one_call(case):
    x = ref.fill(case["shape"], case["dtype"], seed=case["seed"] % 89)
    check_chunking(x, case["chunks"], case["p"], seed=case["seed"], mode=case["mode"])


def test_threaded_scheduler_and_repeated_computes():
    x = ref.fill((300, 410), np.float32, seed=1)
    lazy, _ = check_chunking(x, (23, 61), scheduler="threads")
    first = lazy.compute(scheduler="threads")
    fd.dropout(x, 0.5, generator=fd.default_generator())      # other draws in between change nothing
    assert same_bits(lazy.compute(scheduler="threads"), first)


def test_rechunked_and_lazy_inputs():
    """Blocks that arrive from upstream tasks (arange, rechunk) rather than
    from an array in the graph."""
    lazy_x = da.arange(5000, chunks=300, dtype=np.float64).reshape(50, 100).rechunk((13, 27))
    y = fdd.dropout(lazy_x, 0.2, generator=fd.Generator(9))
    expected = fd.dropout(np.arange(5000, dtype=np.float64).reshape(50, 100), 0.2, generator=fd.Generator(9))
    assert same_bits(y.compute(scheduler="threads"), expected)


def test_default_generator_moves_as_dropout_does():
    fd.seed(12)
    y = fdd.dropout(da.ones((20, 30), chunks=7, dtype=np.float32), 0.5)
    after_dask = fd.default_generator().get_state()
    fd.seed(12)
    expected = fd.dropout(np.ones((20, 30), np.float32), 0.5)
    assert fd.default_generator().get_state() == after_dask
    assert same_bits(y.compute(), expected)


def test_backward_regenerates_the_forward_mask_on_another_chunking():
    x = ref.fill((64, 90), np.float32, seed=2)
    dy = ref.fill((64, 90), np.float32, seed=3)
    _, h = fdd.dropout(da.from_array(x, chunks=(10, 45)), 0.4, generator=fd.Generator(4), return_handle=True)
    dx = fdd.dropout_backward(da.from_array(dy, chunks=(64, 7)), h)
    _, h_numpy = fd.dropout(x, 0.4, generator=fd.Generator(4), return_handle=True)
    assert same_bits(dx.compute(), fd.dropout_backward(dy, h_numpy))


def test_result_keeps_chunks_dtype_and_names_distinct_calls():
    x = da.ones((10, 12), chunks=((3, 7), (5, 7)), dtype=np.float16)
    g = fd.Generator(0)
    y1, y2 = fdd.dropout(x, 0.5, generator=g), fdd.dropout(x, 0.5, generator=g)
    assert y1.chunks == x.chunks and y1.dtype == np.float16
    assert y1.name != y2.name                      # two calls, two masks: never merged by Dask
    assert not same_bits(y1.compute(), y2.compute())


# ---------------------------------------------------------------- the graph

def pickled_layer(y):
    return len(pickle.dumps(dict(y.dask.layers[y.name])))


def test_graph_carries_only_the_handle():
    """The dropout layer's size does not depend on the size of the blocks
    (no mask, no per-block array), and is small per block."""
    grid = (4, 5)
    blocks = grid[0] * grid[1]
    sizes = []
    for block in [(2, 3), (400, 300)]:
        x = da.zeros((grid[0] * block[0], grid[1] * block[1]), chunks=block, dtype=np.float32)
        sizes.append(pickled_layer(fdd.dropout(x, 0.5, generator=fd.Generator(0))))
    # blocks of 20000 times more elements: a few more digits in each block's location, nothing else
    assert abs(sizes[1] - sizes[0]) < 16 * blocks, sizes
    assert sizes[1] < 1000 * blocks, sizes         # per block: a task, the handle, a location


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("arr, kwargs, error, name", [
    (np.ones((4, 4), np.float32), {}, TypeError, "arr"),
    (da.ones((4, 4), chunks=2, dtype=np.int32), {}, TypeError, "arr"),
    (da.ones((4, 4), chunks=2, dtype=bool), {}, TypeError, "arr"),
    (da.ones((4, 4), chunks=2, dtype=np.complex64), {}, TypeError, "arr"),
    (da.ones((4, 4), chunks=2, dtype=np.dtype(np.float32).newbyteorder()), {}, TypeError, "non-native byte order"),
    (da.ones(8, chunks=2)[da.ones(8, chunks=2) > 0], {}, ValueError, "arr"),   # unknown chunk sizes
    (da.ones((4, 4), chunks=2), dict(p=1.5), ValueError, "p"),
    (da.ones((4, 4), chunks=2), dict(p="0.5"), TypeError, "p"),
    (da.ones((4, 4), chunks=2), dict(mask_shape=(3, 1)), ValueError, "mask_shape"),
    (da.ones((4, 4), chunks=2), dict(mode="scaled"), ValueError, "mode"),
    (da.ones((4, 4), chunks=2), dict(generator=np.random.default_rng(0)), TypeError, "generator"),
    (da.ones((4, 4), chunks=2), dict(return_handle="yes"), TypeError, "return_handle"),
])
def test_bad_input_raises_naming_the_argument_and_reserves_nothing(arr, kwargs, error, name):
    g = fd.Generator(1)
    kwargs = dict(kwargs)
    p = kwargs.pop("p", 0.5)
    kwargs.setdefault("generator", g)
    state = g.get_state()
    with pytest.raises(error) as info:
        fdd.dropout(arr, p, **kwargs)
    assert name in str(info.value), str(info.value)
    assert g.get_state() == state


def test_a_dask_array_given_to_the_numpy_functions_is_refused_uncomputed():
    computed = []
    x = da.ones((4, 4), chunks=2, dtype=np.float32).map_blocks(lambda b: computed.append(b.size) or b)
    computed.clear()   # map_blocks ran the function on empty blocks to learn its output type
    g = fd.Generator(0)
    state = g.get_state()
    _, h = fd.dropout(np.ones((4, 4), np.float32), 0.5, generator=fd.Generator(0), return_handle=True)
    for call in (lambda: fd.dropout(x, 0.5, generator=g), lambda: h.apply(x),
                 lambda: fd.dropout_backward(x, h)):
        with pytest.raises(TypeError, match="fastdrop.dask"):
            call()
    assert computed == [] and g.get_state() == state
    with pytest.raises(TypeError, match="compute it first"):
        fd.dropout(dask.delayed(np.ones)(4), 0.5, generator=g)

    class NumPyBacked:   # as an xarray object over NumPy data: the method is there, the graph is not
        def __dask_graph__(self):
            return None

        def __array__(self, dtype=None, copy=None):
            return np.ones(4, np.float32)

    assert fd.dropout(NumPyBacked(), 0.5, generator=g).shape == (4,)


def test_equal_handles_name_equal_graphs():
    """Dask names a graph by the tokens of its inputs: equal calls (the same
    handle, however its tuples are shared) give the same name, so Dask can
    merge them; different handles never do."""
    x = da.ones((6, 8), chunks=3, dtype=np.float32)
    h = fd.dropout_handle((6, 8), 0.5, generator=fd.Generator(0))
    twin = fd.DropoutHandle(key=h.key, counter=h.counter, rounds=h.rounds, p=h.p, shape=(6, 8),
                            mask_shape=[6, 8], mode=h.mode)
    assert twin == h and dask.base.tokenize(twin) == dask.base.tokenize(h)
    assert dask.base.tokenize(pickle.loads(pickle.dumps(h))) == dask.base.tokenize(h)
    y1 = fdd.dropout(x, 0.5, generator=fd.Generator(0))
    y2 = fdd.dropout(x, 0.5, generator=fd.Generator(0), mask_shape=(6, 8))
    y3 = fdd.dropout(x, 0.5, generator=fd.Generator(1))
    assert y1.name == y2.name != y3.name


def test_blocks_other_than_numpy_arrays_are_refused_and_reserve_nothing():
    sparse = pytest.importorskip("scipy.sparse")
    arr = da.from_array(sparse.csr_matrix(np.ones((6, 6))), chunks=3, asarray=False)
    g = fd.Generator(1)
    with pytest.raises(TypeError, match="arr must have NumPy blocks.*csr_matrix"):
        fdd.dropout(arr, 0.5, generator=g)
    assert g.counter == 0
    _, h = fdd.dropout(da.ones((6, 6), chunks=3), 0.5, generator=fd.Generator(0), return_handle=True)
    with pytest.raises(TypeError, match="darr must have NumPy blocks"):
        fdd.dropout_backward(arr, h)


def test_masked_blocks_keep_their_type_and_mask():
    data = np.arange(1, 37, dtype=np.float32).reshape(6, 6)
    mask = (np.arange(36) % 5 == 0).reshape(6, 6)
    arr = da.ma.masked_array(da.from_array(data, chunks=(4, 2)), mask=da.from_array(mask, chunks=(4, 2)))
    y = fdd.dropout(arr, 0.5, generator=fd.Generator(3))
    assert isinstance(y._meta, np.ma.MaskedArray)
    got = y.compute()
    assert isinstance(got, np.ma.MaskedArray)
    np.testing.assert_array_equal(np.ma.getmaskarray(got), mask)
    np.testing.assert_array_equal(got.data[~mask], fd.dropout(data, 0.5, generator=fd.Generator(3))[~mask])


def test_bad_backward_input_names_the_argument():
    _, h = fdd.dropout(da.ones((4, 6), chunks=2), 0.5, generator=fd.Generator(0), return_handle=True)
    with pytest.raises(TypeError, match="handle"):
        fdd.dropout_backward(da.ones((4, 6), chunks=2), "not a handle")
    with pytest.raises(ValueError, match="darr"):
        fdd.dropout_backward(da.ones((4, 5), chunks=2), h)
    with pytest.raises(TypeError, match="darr"):
        fdd.dropout_backward(da.ones((4, 6), chunks=2, dtype=np.int64), h)
    with pytest.raises(TypeError, match="darr"):
        fdd.dropout_backward(np.ones((4, 6)), h)


# ---------------------------------------------------------------- module

def test_examples_in_docstrings_run():
    result = doctest.testmod(fdd, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_bfloat16_is_taken_in_a_fresh_process(tmp_path):
    """bfloat16 is accepted before any core call has seen it, and gives the core's bits."""
    pytest.importorskip("ml_dtypes")
    code = """
import numpy as np, ml_dtypes, dask.array as da, fastdrop as fd, fastdrop.dask as fdd
x = np.arange(60, dtype=np.float32).reshape(6, 10).astype(ml_dtypes.bfloat16)
y = fdd.dropout(da.from_array(x, chunks=(4, 3)), 0.3, generator=fd.Generator(1)).compute()
assert (y.view(np.uint16) == fd.dropout(x, 0.3, generator=fd.Generator(1)).view(np.uint16)).all()
print(y.dtype)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "bfloat16"


def test_import_fastdrop_imports_no_dask(tmp_path):
    code = "import sys, fastdrop; print('dask' in sys.modules or 'fastdrop.dask' in sys.modules)"
    # run from a directory of its own: from the clone root, Python would import the source tree
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------- a cluster of worker processes

@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  worker_dashboard_address=None) as cluster, distributed.Client(cluster) as c:
        yield c


def test_distributed_workers_give_the_same_bits(client):
    x = ref.fill((120, 250), np.float32, seed=6)
    lazy = fdd.dropout(da.from_array(x, chunks=(17, 40)), 0.3, generator=fd.Generator(21), mask_shape=None)
    got = client.compute(lazy).result()
    assert same_bits(got, fd.dropout(x, 0.3, generator=fd.Generator(21)))
    ran_on = client.run(os.getpid)
    assert len(set(ran_on.values())) == 2 and os.getpid() not in ran_on.values()


def _kill_worker_the_first_time(block, flag):
    """Make the worker process that runs the first such task die (the flag
    file says it already happened); other runs pass the block through."""
    if not os.path.exists(flag):
        with open(flag, "w"):
            pass
        os._exit(1)
    return block


def test_a_worker_dying_mid_computation_changes_nothing(client, tmp_path):
    """A worker process dies while it holds dropout blocks and runs a task:
    the scheduler runs the lost tasks again elsewhere, and they redraw the
    same masks."""
    flag = str(tmp_path / "killed")
    x = ref.fill((96, 400), np.float64, seed=8)
    y = fdd.dropout(da.from_array(x, chunks=(8, 50)), 0.5, generator=fd.Generator(33))
    # meta given: Dask would otherwise call the function here, in this process, to infer it
    z = y.map_blocks(_kill_worker_the_first_time, flag, dtype=y.dtype, meta=np.empty((0, 0), y.dtype))
    got = client.compute(z).result(timeout=120)
    assert os.path.exists(flag), "no worker was killed"
    assert same_bits(got, fd.dropout(x, 0.5, generator=fd.Generator(33)))

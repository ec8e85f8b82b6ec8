"""Thread safety: Python threads sharing one Generator get disjoint counter
ranges that together cover the counter space without gaps, never crash, and
get the bits a serial call with the same counter gets; the kernels' own
threads (set_num_threads) never change a result.

That the kernels run in parallel with the GIL released is a timing claim:
benchmarks/bench_threads.py shows it (no timed assertions in tests).
"""
import threading

import numpy as np
import pytest

import fastdrop as fd
import reference as ref

N_THREADS = 8
CALLS_PER_THREAD = 40
BIG = 128 * 1024 + 777          # above the size at which the kernels split work



def run_in_threads(target, n=N_THREADS):
    """Start n threads on target(index) together; re-raise the first error."""
    barrier = threading.Barrier(n)
    errors = []

    def body(index):
        try:
            barrier.wait()
            target(index)
        except BaseException as exc:           # reported in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def assert_tiles(ranges, start, stop):
    """The (start, stop) ranges are disjoint and cover [start, stop) exactly."""
    position = start
    for a, b in sorted(ranges):
        assert a == position, f"gap or overlap at block {position}: next range {(a, b)}"
        position = b
    assert position == stop


def test_shared_generator_hands_out_disjoint_covering_ranges_and_serial_bits():
    g = fd.Generator(2024)
    results = [[] for _ in range(N_THREADS)]

    def work(index):
        rng = np.random.default_rng(index)
        dtype = (np.float16, np.float32, np.float64)[index % 3]
        for _ in range(CALLS_PER_THREAD):
            n = int(rng.choice([0, 1, 16, 100, 129, 5000, 40000]))
            x = rng.standard_normal(n).astype(dtype)
            p = float(rng.choice([0.1, 0.5, 0.77]))
            x_before = x.copy()
            y, h = fd.dropout(x, p, generator=g, return_handle=True, inplace=bool(rng.integers(2)))
            results[index].append((x_before, y.copy(), p, h))

    before = g.counter
    run_in_threads(work)
    handles = [h for per_thread in results for (_, _, _, h) in per_thread]
    assert len(handles) == N_THREADS * CALLS_PER_THREAD
    assert_tiles([h.counter_range for h in handles], before, g.counter)

    serial = fd.Generator(2024)
    for per_thread in results:
        for x, y, p, h in per_thread:
            serial.set_state({**serial.get_state(), "counter": h.counter})
            assert ref.same_values(y, fd.dropout(x, p, generator=serial))
            assert np.array_equal(h.mask(), ref.keep_mask(h.mask_shape, p, g.key, h.counter))


def test_concurrent_reserve_is_atomic():
    g = fd.Generator(0)
    taken = [[] for _ in range(N_THREADS)]

    def work(index):
        for k in range(2000):
            blocks = (index * 7 + k) % 5
            taken[index].append((lambda s: (s, s + blocks))(g.reserve(blocks)))

    run_in_threads(work)
    assert_tiles([r for per in taken for r in per], 0, g.counter)


def test_default_generator_shared_by_threads():
    fd.seed(99)
    start = fd.default_generator().counter
    handles = [[] for _ in range(N_THREADS)]

    def work(index):
        for _ in range(30):
            _, h = fd.dropout(np.ones(300, np.float32), 0.5, return_handle=True)
            handles[index].append(h)

    run_in_threads(work)
    assert_tiles([h.counter_range for per in handles for h in per], start, fd.default_generator().counter)


def test_threads_running_big_calls_with_kernel_threads_do_not_interfere(scoped_config):
    """Python threads, each a large call that the kernel itself splits."""
    scoped_config(threads=2)
    g = fd.Generator(5)
    outputs = [None] * 4

    def work(index):
        x = ref.fill((BIG,), np.float32, seed=index, special=False)
        outputs[index] = (x, *fd.dropout(x, 0.25, generator=g, return_handle=True))

    run_in_threads(work, 4)
    for x, y, h in outputs:
        assert ref.same_values(y, ref.dropout(x, 0.25, g.key, h.counter))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("isa", fd.available_isas())
def test_kernel_thread_count_never_changes_the_result(dtype, isa, scoped_config):
    scoped_config(isa=isa)
    x = ref.fill((BIG,), dtype, seed=1)
    results = {}
    for threads in (1, 2, 3, 4):
        scoped_config(threads=threads)
        g = fd.Generator(77)
        y = fd.dropout(x, 0.3, generator=g)
        z = x.copy()
        fd.dropout(z, 0.3, generator=fd.Generator(77), inplace=True)
        assert ref.same_values(z, y)
        results[threads] = y
    for threads in (2, 3, 4):
        assert ref.same_values(results[threads], results[1]), threads
    assert ref.same_values(results[1], ref.dropout(x, 0.3, fd.Generator(77).key, 0))

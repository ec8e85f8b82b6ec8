"""A process forked after the kernels ran on several threads (os.fork,
multiprocessing's 'fork' start method, torch DataLoader workers on Linux)
runs them on one thread, with the same bits: GNU OpenMP's thread pool does
not survive fork(), and a parallel region in the child would wait forever
for threads that are gone.

Each child runs under a deadline and is killed when it passes it, so a
hang fails the test instead of stalling the suite.
"""
import multiprocessing
import os
import select
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import fastdrop as fd
import reference as ref

# Well above two threads' worth of elements (MIN_ELEMS_PER_THREAD in
# fastdrop/_kernels.pyx is 65536), so every call here may split.
BIG = 4 * 65536 + 333
DEADLINE_S = 30     # a child that works needs well under a second

fork = pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(),
                          reason="no fork() on this platform")


def run_forked(work):
    """Run work() in a forked child; return the bytes it returns, or fail
    when the child raises, dies or passes the deadline."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)

    def child():
        try:
            send.send_bytes(b"ok" + work())
        except BaseException as exc:       # reported by the parent
            send.send_bytes(b"error" + repr(exc).encode())

    process = context.Process(target=child)
    process.start()
    send.close()
    answered = False
    try:
        if not receive.poll(DEADLINE_S):
            pytest.fail(f"the forked child did not answer within {DEADLINE_S} s (hung in a kernel call?)")
        message = receive.recv_bytes()
        answered = True
    except EOFError:
        pytest.fail("the forked child died without an answer")
    finally:
        process.join(DEADLINE_S if answered else 0)
        if process.is_alive():
            process.kill()
            process.join()
    assert message.startswith(b"ok"), message.decode(errors="replace")
    return message[2:]


def threaded_call(dtype=np.float32):
    """A call the kernels split across two threads."""
    with fd.config_context(threads=2):
        fd.dropout(np.ones(BIG, dtype), 0.5, generator=fd.Generator(0), inplace=True)


def one_thread_result(x, p, seed):
    with fd.config_context(threads=1):
        return fd.dropout(x, p, generator=fd.Generator(seed))


@fork
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_child_forked_after_threaded_call_gets_the_one_thread_bits(dtype, scoped_config):
    threaded_call(dtype)
    scoped_config(threads=2)
    x = ref.fill((BIG,), dtype, seed=3)
    rows = x[: BIG // 9 * 9].reshape(-1, 9)[::-1, :8]   # no single run: the kernels split its rows

    def work():
        return fd.dropout(x, 0.3, generator=fd.Generator(11)).tobytes() \
            + fd.dropout(rows, 0.3, generator=fd.Generator(12)).tobytes()

    expected = one_thread_result(x, 0.3, 11).tobytes() + one_thread_result(rows, 0.3, 12).tobytes()
    assert run_forked(work) == expected


@fork
def test_child_forked_after_threaded_call_reports_one_thread(scoped_config):
    threaded_call()
    scoped_config(threads=2)

    def work():
        reported = (fd.get_num_threads(), fd.get_config()["threads"])
        with fd.config_context(threads=4):
            reported += (fd.get_num_threads(),)
        fd.set_num_threads(3)
        reported += (fd.get_num_threads(),)
        return bytes(reported)

    assert fd.get_num_threads() == 2
    assert run_forked(work) == bytes([1, 1, 1, 1])
    assert fd.get_num_threads() == 2      # the parent keeps its threads


@fork
def test_grandchild_stays_on_one_thread(scoped_config):
    threaded_call()
    scoped_config(threads=2)
    x = ref.fill((BIG,), np.float32, seed=5)
    assert run_forked(lambda: run_forked(lambda: fd.dropout(x, 0.5, generator=fd.Generator(2)).tobytes())) \
        == one_thread_result(x, 0.5, 2).tobytes()


@fork
def test_child_of_a_process_that_never_split_keeps_its_threads(tmp_path):
    # a fresh interpreter whose kernels never started threads: its child
    # has a working OpenMP pool and keeps the setting
    code = textwrap.dedent("""
        import os, numpy as np, fastdrop as fd
        fd.set_num_threads(2)
        fd.dropout(np.ones(1000, np.float32), 0.5)          # small: one thread
        pid = os.fork()
        if pid == 0:
            fd.dropout(np.ones(%d, np.float32), 0.5)
            os._exit(0 if fd.get_num_threads() == 2 else 3)
        print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
    """ % BIG)
    # from a directory of its own, so that it imports the installed fastdrop, not the source tree
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=DEADLINE_S,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0"


@fork
def test_os_fork_child_after_threaded_call_finishes():
    threaded_call()
    x = ref.fill((BIG,), np.float64, seed=8)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:                                          # pragma: no cover (the child)
        status = 1
        try:
            os.close(read_end)
            with fd.config_context(threads=2):
                y = fd.dropout(x, 0.9, generator=fd.Generator(4))
            with os.fdopen(write_end, "wb") as f:
                f.write(y.tobytes())
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    try:
        got = _read_with_deadline(read_end, pid)
    finally:
        os.close(read_end)
    assert got == one_thread_result(x, 0.9, 4).tobytes()


def _read_with_deadline(fd_in, pid):
    """All bytes a child writes to fd_in; kill it and fail past the deadline."""
    chunks, deadline = [], time.monotonic() + DEADLINE_S
    while True:
        ready, _, _ = select.select([fd_in], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail(f"the forked child did not finish within {DEADLINE_S} s (hung in a kernel call?)")
        chunk = os.read(fd_in, 1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    return b"".join(chunks)


# ---------------------------------------------------------------- torch

class _DropoutDataset:
    """Item i: a large tensor through fastdrop.torch.dropout with generator i."""

    def __init__(self, torch, n):
        self.torch, self.n = torch, n

    def __len__(self):
        return 4

    def __getitem__(self, i):
        import fastdrop.torch as fdt
        with fd.config_context(threads=2):
            return fdt.dropout(self.torch.arange(self.n, dtype=self.torch.float32), 0.25, generator=fd.Generator(i))


@fork
def test_torch_dataloader_workers_forked_after_threaded_call():
    torch = pytest.importorskip("torch")
    import fastdrop.torch as fdt
    with fd.config_context(threads=2):
        fdt.Dropout(0.5)(torch.randn(256, 1024))          # a threaded call in the parent
    dataset = _DropoutDataset(torch, BIG)
    loader = torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=2,
                                         multiprocessing_context="fork", timeout=DEADLINE_S)
    got = list(loader)                                    # raises RuntimeError past the deadline
    assert len(got) == len(dataset)
    for i, y in enumerate(got):
        with fd.config_context(threads=1):
            expected = fdt.dropout(torch.arange(BIG, dtype=torch.float32), 0.25, generator=fd.Generator(i))
        assert y.numpy().tobytes() == expected.numpy().tobytes()

"""shard="batch" under torch.distributed: two gloo processes on loopback
against one process on the global batch (the ranks run torch_ddp_worker.py).

* masks: the two ranks' outputs, stacked, equal the one-process output bit
  for bit, for every variant and both key sources;
* training: parameters after a few DDP steps equal the one-process run's to
  float32 all-reduce rounding (DDP averages the two half-batch gradients
  where one process averages the whole batch: a few ulps per step);
  without shard="batch" the ranks draw their own masks and the parameters
  differ by far more, which shows the comparison can fail;
* bad input: unequal local batch sizes (an empty one included), other
  widths or p, or other generator states make every rank raise a
  ValueError naming shard, with nothing changed;
* torch.compile: a compiled sharded dropout gives the eager masks and
  refuses unequal batches the same way.
"""
import pathlib
import socket
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
if not torch.distributed.is_available():
    pytest.skip("this torch build has no torch.distributed", allow_module_level=True)

WORKER = pathlib.Path(__file__).with_name("torch_ddp_worker.py")
WORLD = 2
sys.path.insert(0, str(WORKER.parent))
import torch_ddp_worker as worker  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    port = free_port()
    procs = [subprocess.Popen([sys.executable, str(WORKER), str(rank), str(WORLD), str(port),
                               str(out / f"rank{rank}.pt")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) for rank in range(WORLD)]
    logs = []
    for proc in procs:
        try:
            logs.append(proc.communicate(timeout=300)[0])
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            raise
    for proc, log in zip(procs, logs):
        assert proc.returncode == 0, log
    return [torch.load(out / f"rank{rank}.pt") for rank in range(WORLD)]


def test_ranks_draw_the_masks_of_one_process(ranks):
    _, _, images = worker.global_data()
    expected = worker.masks(images, None)
    for name, calls in expected.items():
        for call, whole in enumerate(calls):
            stacked = torch.cat([rank["masks"][name][call] for rank in ranks])
            assert torch.equal(stacked, whole), name
        assert not torch.equal(calls[0], calls[1])


def test_ddp_training_matches_one_process(ranks):
    inputs, targets, _ = worker.global_data()
    expected = worker.train(worker.model(None), inputs, targets)
    for rank in ranks:
        for got, want in zip(rank["params"], expected):
            # float32 rounding of the all-reduce, carried through 3 steps
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    distance = max(float((got - want).abs().max()) for got, want in zip(ranks[0]["params_unsharded"], expected))
    assert distance > 1e-3


REFUSALS = {"uneven": "batch size", "empty": "batch size", "other_seed": "generator state",
            "other_torch_seed": "generator state", "other_width": "same call", "other_p": "same call"}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_disagreeing_ranks_are_refused_and_nothing_changes(ranks, case):
    for rank in ranks:
        message, unchanged = rank["bad_input"][case]
        assert message is not None and "shard" in message and REFUSALS[case] in message
        assert unchanged


def test_compiled_sharded_dropout_matches_eager_and_refuses_unequal_batches(ranks):
    for rank in ranks:
        same, *refusals = rank["compiled"]
        assert same
        for message, unchanged in refusals:
            assert message is not None and "batch size" in message and unchanged

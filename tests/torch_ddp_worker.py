"""One rank of the shard="batch" checks in test_torch_distributed.py.

Usage: python torch_ddp_worker.py RANK WORLD_SIZE PORT OUT_FILE

Joins a gloo process group on 127.0.0.1, runs every check on this rank's
block of the shared global data and saves what it saw to OUT_FILE (a dict
read by the test, which computes the one-process results itself).
"""
import sys

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

import fastdrop as fd
import fastdrop.torch as fdt

GLOBAL_BATCH = 8
STEPS = 3


def global_data():
    """Inputs and targets every rank (and the one-process run) builds alike."""
    g = torch.Generator().manual_seed(123)
    return (torch.randn(GLOBAL_BATCH, 12, generator=g), torch.randn(GLOBAL_BATCH, 3, generator=g),
            torch.rand(GLOBAL_BATCH, 4, 3, 3, generator=g) + 0.5)


def mask_modules(shard):
    """(name, module, seeds torch before the call?) of every variant."""
    return [("dropout", fdt.Dropout(0.5, generator=fd.Generator(7), shard=shard), False),
            ("dropout2d", fdt.Dropout2d(0.4, generator=fd.Generator(8), shard=shard), False),
            ("drop_path", fdt.DropPath(0.5, generator=fd.Generator(9), shard=shard), False),
            ("alpha", fdt.AlphaDropout(0.3, generator=fd.Generator(10), shard=shard), False),
            ("torch_stream", fdt.Dropout(0.5, shard=shard), True)]


def masks(images, shard):
    out = {}
    for name, module, seed_torch in mask_modules(shard):
        if seed_torch:
            torch.manual_seed(5)
        out[name] = [module(images) for _ in range(2)]
    return out


def model(shard):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(12, 32), torch.nn.ReLU(),
                               fdt.Dropout(0.5, generator=fd.Generator(11), shard=shard),
                               torch.nn.Linear(32, 32), torch.nn.ReLU(),
                               fdt.Dropout(0.2, generator=fd.Generator(12), shard=shard),
                               torch.nn.Linear(32, 3))


def train(net, inputs, targets, steps=STEPS):
    """SGD with momentum on the mean squared error; returns the parameters."""
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    for _ in range(steps):
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(net(inputs), targets).backward()
        optimizer.step()
    return [p.detach().clone() for p in net.parameters()]


def refused(call, tensor, generator):
    """The message of the ValueError `call` raises, checking it changed nothing."""
    before, state = tensor.clone(), generator.get_state() if generator else None
    rng = torch.get_rng_state()
    try:
        call()
    except ValueError as exc:
        unchanged = (torch.equal(tensor, before) and torch.equal(torch.get_rng_state(), rng)
                     and (generator is None or generator.get_state() == state))
        return str(exc), unchanged
    return None, None


def bad_input(rank):
    uneven = torch.ones(4 if rank == 0 else 3, 5)
    g = fd.Generator(1)
    results = {"uneven": refused(lambda: fdt.Dropout(0.5, generator=g, shard="batch")(uneven), uneven, g)}
    other = fd.Generator(2 if rank == 0 else 3)
    x = torch.ones(4, 5)
    results["other_seed"] = refused(lambda: fdt.Dropout(0.5, generator=other, shard="batch")(x), x, other)
    torch.manual_seed(rank)
    results["other_torch_seed"] = refused(lambda: fdt.dropout(x, 0.5, shard="batch"), x, None)
    # an empty local batch is unequal too: that rank must take part in the check
    empty = torch.ones(0 if rank == 0 else 3, 5)
    g = fd.Generator(1)
    results["empty"] = refused(lambda: fdt.Dropout(0.5, generator=g, shard="batch")(empty), empty, g)
    wide = torch.ones(2, 5 if rank == 0 else 6)
    g = fd.Generator(1)
    results["other_width"] = refused(lambda: fdt.Dropout(0.5, generator=g, shard="batch")(wide), wide, g)
    g = fd.Generator(1)
    results["other_p"] = refused(lambda: fdt.Dropout(0.5 if rank == 0 else 0.25, generator=g, shard="batch")(x),
                                 x, g)
    return results


def compiled(rank):
    """A compiled sharded dropout against the eager one, and its refusal of unequal batches."""
    x = torch.ones(4, 6)
    eager = fdt.Dropout(0.5, generator=fd.Generator(3), shard="batch")(x)
    module = fdt.Dropout(0.5, generator=fd.Generator(3), shard="batch")
    run = torch.compile(lambda t: module(t) * 1.0, fullgraph=True)
    same = torch.equal(run(x), eager)
    uneven = torch.ones(4 if rank == 0 else 3, 6)
    empty = torch.ones(0 if rank == 0 else 4, 6)
    return same, refused(lambda: run(uneven), uneven, module.generator), \
        refused(lambda: run(empty), empty, module.generator)


def main(rank, world, port, out_file):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    rows = GLOBAL_BATCH // world
    block = slice(rank * rows, (rank + 1) * rows)
    inputs, targets, images = global_data()
    result = {"masks": masks(images[block], "batch")}
    result["params"] = train(DistributedDataParallel(model("batch")), inputs[block], targets[block])
    result["params_unsharded"] = train(DistributedDataParallel(model(None)), inputs[block], targets[block])
    result["bad_input"] = bad_input(rank)
    result["compiled"] = compiled(rank)
    torch.save(result, out_file)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])

"""``shard="batch"``: data-parallel ranks apply their rows of one global mask.

Rank r of W, holding B rows, applies rows [r*B, (r+1)*B) of the mask drawn
for a logical batch of W*B rows, every rank starting from the same generator
state; so W processes draw exactly the masks one process draws on the whole
batch.  Before each draw the ranks compare their row counts, a digest of
the rest of the call and their generator states in one small all_reduce
(MAX over the values and their negatives gives each value's maximum and
minimum at once).
"""
import zlib
from typing import Sequence, Tuple

import torch
import torch.distributed as dist

__all__ = ["batch_block", "call_fingerprint", "check_ranks_agree"]


def batch_block(x: torch.Tensor, mask_shape: Sequence[int],
                name: str = "shard") -> Tuple[Tuple[int, ...], Tuple[int, ...], Tuple[int, ...], int]:
    """(logical shape, logical mask shape, offset, local rows) of this rank's block of `x`."""
    if not (dist.is_available() and dist.is_initialized()):
        raise ValueError(f"{name}='batch' needs an initialized torch.distributed process group "
                         f"(torch.distributed.init_process_group); without one use {name}=None")
    if x.dim() == 0:
        raise ValueError(f"{name}='batch' splits dimension 0 of input (the batch), but input is 0-d")
    world, rank = dist.get_world_size(), dist.get_rank()
    rows = x.shape[0]
    shape = (world * rows,) + tuple(x.shape[1:])
    mask_shape = (world * rows,) + tuple(mask_shape[1:])
    offset = (rank * rows,) + (0,) * (x.dim() - 1)
    return shape, mask_shape, offset, rows


def call_fingerprint(shape: Sequence[int], mask_shape: Sequence[int], p: float) -> int:
    """A 32-bit digest of what every rank's call must share besides the rows:
    the other dimensions of the input and of the mask, and p."""
    return zlib.crc32(repr((tuple(shape[1:]), tuple(mask_shape[1:]), float(p))).encode())


def check_ranks_agree(rows: int, seed_words: Sequence[int], fingerprint: int, name: str = "shard") -> None:
    """Raise on every rank unless all ranks hold `rows` rows, make a call of
    the same `fingerprint` and start from the same seed words."""
    local = torch.tensor([rows, fingerprint, *seed_words], dtype=torch.int64)
    extremes = torch.cat([local, -local])
    dist.all_reduce(extremes, op=dist.ReduceOp.MAX)
    high, low = extremes[:local.numel()], -extremes[local.numel():]
    if high[0] != low[0]:
        raise ValueError(f"{name}='batch' needs the same local batch size (input.shape[0]) on every rank, "
                         f"got sizes from {int(low[0])} to {int(high[0])}")
    if high[1] != low[1]:
        raise ValueError(f"{name}='batch' needs the same call on every rank: the ranks differ in "
                         f"input.shape[1:], in the mask's shape or in p")
    if not torch.equal(high[2:], low[2:]):
        raise ValueError(f"{name}='batch' needs the same generator state on every rank: give every rank "
                         f"the same fastdrop.Generator(seed), or seed torch identically on every rank")

"""Where each call's Philox key and counter come from.

A call's mask is fixed by five words, the *seed*: key words k0 and k1, the
64-bit first counter block split into two 32-bit halves (torch integers are
signed 64-bit, the counter is unsigned 64-bit), and the Philox round count.
To the custom operators the seed travels as a 5-element int64 tensor, so
that torch.compile treats it as data computed at run time rather than a
constant baked into the graph; the eager path keeps the five integers.

Two sources, called streams:

* stream 0, torch's default CPU generator (no ``generator=``): each call
  draws ``torch.randint(0, 2**32, (2,), dtype=torch.int64)`` as the key
  (k0, k1), counter 0, 10 rounds.  ``torch.manual_seed(s)`` therefore fixes
  every mask, and each call consumes two values of torch's stream.
* a :class:`fastdrop.Generator`: the call reserves the counter blocks of its
  logical mask with :func:`fastdrop.dropout_handle`, exactly as
  ``fastdrop.dropout`` would.  Compiled graphs refer to the generator by a
  small integer (its stream number) and look it up when they run.
"""
import itertools
import threading
import weakref
from typing import List, Optional, Sequence

import torch

import fastdrop as fd
from fastdrop._dropout import reserve_checked
from fastdrop._validation import check_mask_shape, check_p, check_shape

from . import _shard

__all__ = ["TORCH_STREAM", "TORCH_STREAM_ROUNDS", "SEED_WORDS", "UNSHARDED", "shard_rows", "stream_id", "draw",
           "draw_by_id", "words", "peek", "handle", "dispatch_modes", "SeedLog"]

TORCH_STREAM = 0
TORCH_STREAM_ROUNDS = 10
SEED_WORDS = 5
# shard_rows of a call without shard="batch"; a sharded call passes its local
# batch size, or EMPTY_SHARD for an empty one, which must still meet the other ranks
UNSHARDED = 0
EMPTY_SHARD = -1
_LOW32 = (1 << 32) - 1
STREAM_ATTR = "_fastdrop_torch_stream"
streams: "weakref.WeakValueDictionary[int, fd.Generator]" = weakref.WeakValueDictionary()
next_stream = itertools.count(TORCH_STREAM + 1)


def shard_rows(rows: int) -> int:
    """The shard_rows argument of a call under shard="batch" with `rows` local rows."""
    return rows if rows else EMPTY_SHARD


def stream_id(generator: Optional[fd.Generator]) -> int:
    """The stream number of `generator` (None: torch's default generator).

    Only compiled graphs need it, so the registration lives in a module that
    is imported while torch.compile traces (marking a function for the
    compiler imports torch._dynamo, which takes seconds).  Registration
    comes first on every path, so that a trace that restarts (as dynamic
    shapes and symbolic floats make it do) runs the same code again.
    """
    if generator is None:
        return TORCH_STREAM
    from ._compiled_streams import register
    register(generator)
    number: int = getattr(generator, STREAM_ATTR)  # read back: the graph guards on it
    return number


# Each thread draws keys into its own two-element tensor, which saves
# randint's allocation per call.  Under a functorch transform (which refuses
# writes into a tensor made outside it) or a dispatch mode such as
# FakeTensorMode (which would make the cached tensor a fake one) the draw
# allocates as randint does.
_key_buffers = threading.local()
_transforms_active = getattr(torch._C, "_are_functorch_transforms_active", lambda: False)
dispatch_modes = getattr(torch._C, "_len_torch_dispatch_stack", lambda: 1)


def _refuse_vmap() -> None:
    """Under torch.func.vmap (and what builds on it: jacrev, jacfwd, hessian)
    a call would need a rule for the batch's masks, which fastdrop does not
    define; say so before anything is drawn."""
    from torch._C._functorch import TransformType
    from torch._functorch.pyfunctorch import retrieve_all_functorch_interpreters
    if any(level.key() == TransformType.Vmap for level in retrieve_all_functorch_interpreters()):
        raise RuntimeError("fastdrop.torch does not support torch.vmap (nor jacrev, jacfwd or hessian, "
                           "which use it): apply the dropout to the whole batch, or loop over it")


def _torch_key(source: Optional[torch.Generator] = None) -> List[int]:
    """The values of ``torch.randint(0, 2**32, (2,), dtype=torch.int64, generator=source)``
    (randint is random_ on a new tensor), without allocating the tensor."""
    if _transforms_active() or dispatch_modes():
        return torch.randint(0, 1 << 32, (2,), dtype=torch.int64, generator=source).tolist()
    buffer: Optional[torch.Tensor] = getattr(_key_buffers, "buffer", None)
    if buffer is None:
        with torch.inference_mode(False):  # an inference tensor could not be written outside inference mode
            buffer = _key_buffers.buffer = torch.empty(2, dtype=torch.int64, device="cpu")
    keys: List[int] = buffer.random_(0, 1 << 32, generator=source).tolist()
    return keys


def words(h: fd.DropoutHandle) -> List[int]:
    """The seed words of handle `h`."""
    k0, k1 = h.key
    return [k0, k1, h.counter & _LOW32, h.counter >> 32, h.rounds]


def peek(generator: Optional[fd.Generator]) -> List[int]:
    """The seed words the next draw from `generator` will start from, drawing nothing."""
    if generator is None:
        source = torch.Generator()
        source.set_state(torch.get_rng_state())
        k0, k1 = _torch_key(source)
        return [k0, k1, 0, 0, TORCH_STREAM_ROUNDS]
    k0, k1 = generator.key
    counter = generator.counter
    return [k0, k1, counter & _LOW32, counter >> 32, generator.rounds]


class SeedLog:
    """The handles a checkpointed region drew, in order: recorded while its
    forward runs, handed out again, from the first, in each recomputation
    (so a region may be recomputed for several backward passes).  Entered
    logs nest: a draw inside a recomputation comes from the outermost log
    being replayed, and every log recording takes it too."""

    def __init__(self) -> None:
        self.handles: List[fd.DropoutHandle] = []
        self.at = -1   # the next handle to hand out; -1 while recording

    def recording(self) -> "_Entered":
        """A context (reusable, as checkpoint's contexts must be) that records."""
        return _Entered(self, -1)

    def replaying(self) -> "_Entered":
        """A context (entered once per recomputation) that hands out the record from its start."""
        return _Entered(self, 0)

    def take(self, p: float, mode: str, shape: Sequence[int], mask_shape: Sequence[int]) -> fd.DropoutHandle:
        if self.at >= len(self.handles):
            raise RuntimeError("a checkpointed region's recomputation drew more dropout masks than its forward: "
                               "the region must run the same dropout calls each time")
        h = self.handles[self.at]
        if (h.p, h.mode, h.shape, h.mask_shape) != (p, mode, tuple(shape), tuple(mask_shape)):
            raise RuntimeError(f"a checkpointed region's recomputation made another dropout call than its "
                               f"forward (p={p}, shape {tuple(shape)}, where the forward had p={h.p}, shape "
                               f"{h.shape}): the region must run the same dropout calls each time")
        self.at += 1
        return h


class _Entered:
    def __init__(self, log: SeedLog, at: int) -> None:
        self.log, self.at = log, at

    def __enter__(self) -> None:
        self.log.at = self.at
        _logs.__dict__.setdefault("stack", []).append(self.log)

    def __exit__(self, *_: object) -> None:
        _logs.stack.remove(self.log)
        self.log.at = -1


_logs = threading.local()


def _logged(stack: List[SeedLog], generator: Optional[fd.Generator], p: float, mode: str, shape: Sequence[int],
            mask_shape: Sequence[int], shard_rows: int) -> fd.DropoutHandle:
    replay = next((log for log in stack if log.at >= 0), None)
    h = replay.take(p, mode, shape, mask_shape) if replay is not None else \
        _draw(generator, p, mode, shape, mask_shape, shard_rows)
    for log in stack:
        if log.at < 0:
            log.handles.append(h)
    return h


def draw(generator: Optional[fd.Generator], p: float, mode: str, shape: Sequence[int], mask_shape: Sequence[int],
         shard_rows: int = UNSHARDED) -> fd.DropoutHandle:
    """The handle of one call with a logical mask of `mask_shape` over `shape`.

    Under ``shard="batch"`` (`shard_rows` from :func:`shard_rows`, not
    UNSHARDED), first check with the other ranks that all hold as many rows,
    make the same call and have the same generator state.  Inside a region
    checkpointed with ``checkpoint_context`` the draw goes through the
    region's :class:`SeedLog`.
    """
    if _transforms_active():
        _refuse_vmap()
    stack: Optional[List[SeedLog]] = getattr(_logs, "stack", None)
    if stack:
        return _logged(stack, generator, p, mode, shape, mask_shape, shard_rows)
    return _draw(generator, p, mode, shape, mask_shape, shard_rows)


def _draw(generator: Optional[fd.Generator], p: float, mode: str, shape: Sequence[int], mask_shape: Sequence[int],
          shard_rows: int) -> fd.DropoutHandle:
    if shard_rows != UNSHARDED:
        _shard.check_ranks_agree(max(shard_rows, 0), peek(generator),
                                 _shard.call_fingerprint(shape, mask_shape, p))
    # the callers have checked p and the generator; shapes come from tensors
    if generator is None:
        k0, k1 = _torch_key()
        return fd.DropoutHandle._from_checked((k0, k1), 0, TORCH_STREAM_ROUNDS, p, tuple(shape),
                                              tuple(mask_shape), mode)
    return reserve_checked(generator, tuple(shape), p, tuple(mask_shape), mode)


def draw_by_id(stream: int, p: float, shape: Sequence[int], mask_shape: Sequence[int],
               shard_rows: int = UNSHARDED) -> List[int]:
    """The seed words of :func:`draw` for a stream number (how compiled graphs
    name their generator)."""
    # a registered operator anyone may call: checked here, before any counter is spent
    p = check_p(p)
    mask_shape = check_mask_shape(tuple(mask_shape), check_shape(tuple(shape)))
    generator = None if stream == TORCH_STREAM else streams[stream]
    return words(draw(generator, p, "inverted", shape, mask_shape, shard_rows))


def handle(seed_words: Sequence[int], p: float, mode: str, shape: Sequence[int],
           mask_shape: Sequence[int]) -> fd.DropoutHandle:
    """The :class:`fastdrop.DropoutHandle` that `seed_words` stand for."""
    k0, k1, counter_low, counter_high, rounds = seed_words
    return fd.DropoutHandle(key=(k0, k1), counter=counter_low | (counter_high << 32), rounds=rounds, p=p,
                            shape=tuple(shape), mask_shape=tuple(mask_shape), mode=mode, training=True)

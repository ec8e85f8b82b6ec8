"""The custom operators (namespace ``fastdrop``), their fake kernels and autograd.

* ``fastdrop::draw_seed(anchor, stream, p, shape, mask_shape, shard_rows)``
  -> int64[5]: reserves a call's counters and returns its seed (see
  _streams).  It has side effects, so it is registered as an ordered effect:
  compiled graphs run the draws in program order, never merge two of them
  and never replay one in backward.  `anchor` is the input (it tells the
  compiler the device; its values are not read); `shard_rows` is the local
  batch size under ``shard="batch"`` (-1 for an empty one), 0 without.
* ``fastdrop::dropout(x, seed, p, dropout_mode, shape, mask_shape, offset)``: x
  times the part of the seed's mask (and scale) that covers the block of the
  logical array of `shape` starting at `offset` and shaped like x.  A pure
  function of its arguments; its gradient is the same operator applied to
  the incoming gradient, so autograd keeps nothing but the seed and numbers.
* ``fastdrop::dropout_``: the same product written into x (no autograd;
  used when nothing is recorded).
* ``fastdrop::alpha_dropout(x, seed, p, shape, mask_shape, offset)``:
  alpha dropout (SELU's negative saturation for dropped units, then an
  affine map); its gradient is a * mask * dy, the operator
  ``fastdrop::alpha_dropout_backward`` (its own gradient too).

The kernels behind them (mask_product, mask_product_, alpha_product) also
serve the eager path in _eager, which calls them without the dispatcher.
"""
import math
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor
from torch.library import EffectType

import fastdrop as fd
from fastdrop import _config, _kernels
from fastdrop._handle import MODES
from fastdrop._validation import is_float_dtype

from . import _streams

__all__ = ["draw_seed", "dropout", "dropout_", "alpha_dropout", "alpha_dropout_backward", "mask_product",
           "mask_product_", "alpha_product", "alpha_grad_product", "alpha_coefficients", "empty_like_layout",
           "numpy_view"]

# SELU's lambda * alpha (Klambauer et al., "Self-Normalizing Neural Networks", 2017):
# dropped units take the value -ALPHA before the affine correction.
ALPHA = 1.0507009873554804934193349852946 * 1.6732632423543772848170429916717


def numpy_view(t: Tensor) -> np.ndarray:
    """A NumPy view of CPU tensor `t` sharing its memory (bfloat16 through ml_dtypes)."""
    if t.requires_grad:  # numpy() refuses these; a detached alias shares the memory
        t = t.detach()
    if t.dtype == torch.bfloat16:
        try:
            import ml_dtypes
        except ImportError:
            raise TypeError("bfloat16 tensors need the ml_dtypes package "
                            "(pip install 'fastdropout[torch]')") from None
        view = t.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
        is_float_dtype(view.dtype)  # the kernels learn ml_dtypes' bfloat16 here
        return view
    return t.numpy()


def _memory_order(x: Tensor) -> List[int]:
    """x's dimensions from outermost to innermost in memory, ordered as
    torch's elementwise operators (TensorIterator) order them: by stride,
    larger outside; a dimension of stride 0 (broadcast) does not decide
    against another, so an expanded input keeps its logical order; equal
    strides put the longer dimension outside."""
    strides, shape = x.stride(), x.shape

    def outside(a: int, b: int) -> int:   # 1: a lies outside b, -1: inside, 0: undecided
        if strides[a] == 0 or strides[b] == 0:
            return 0
        if strides[a] != strides[b]:
            return 1 if strides[a] > strides[b] else -1
        return 1 if shape[a] > shape[b] else 0

    inner_first = list(range(x.dim() - 1, -1, -1))
    for i in range(1, len(inner_first)):   # insertion sort, moving a dimension past undecided ones
        at = i
        for j in range(i - 1, -1, -1):
            decided = outside(inner_first[j], inner_first[at])
            if decided > 0:
                inner_first[j], inner_first[at] = inner_first[at], inner_first[j]
                at = j
            elif decided < 0:
                break
    return inner_first[::-1]


def empty_like_layout(x: Tensor) -> Tensor:
    """An empty tensor like x whose dimensions lie in memory in x's order, as
    torch's elementwise operators allocate (channels_last stays channels_last,
    an expanded input gives a contiguous result)."""
    if x.is_contiguous():
        return torch.empty_like(x)
    order = _memory_order(x)
    inverse = sorted(range(x.dim()), key=order.__getitem__)
    return x.new_empty([x.shape[d] for d in order]).permute(inverse)


def _handle(seed: Tensor, p: float, mode: str, shape: Sequence[int], mask_shape: Sequence[int]) -> fd.DropoutHandle:
    return _streams.handle(seed.tolist(), p, mode, shape, mask_shape)


# kernel dtype codes by torch dtype, for tensors reached by address (bfloat16 then needs no ml_dtypes)
KERNEL_CODES = {torch.float16: _kernels.DTYPE_CODES[np.dtype(np.float16)],
                torch.float32: _kernels.DTYPE_CODES[np.dtype(np.float32)],
                torch.float64: _kernels.DTYPE_CODES[np.dtype(np.float64)], torch.bfloat16: _kernels.BFLOAT16}
_WORD = 1 << 32


def _whole_product(x: Tensor, seed: Tensor, p: float, mode: str, shape: List[int], mask_shape: List[int],
                   offset: List[int]) -> Optional[Tensor]:
    """The operator's common call, as a compiled fastdrop.torch module makes
    it (an elementwise mask over all of a contiguous x), in few steps: each
    argument is checked as the handle's constructor checks it, and anything
    else (or anything it would refuse) returns None for the checked path,
    whose message names what is wrong.  A Python custom operator's call
    costs more than its kernel on a training batch, so this is most of what
    the operator itself can save."""
    if (x.dtype not in KERNEL_CODES or type(p) is not float or not 0.0 < p < 1.0 or mode not in MODES
            or type(x) is not Tensor or not x.is_contiguous() or x.numel() == 0 or any(offset)
            or list(x.shape) != shape or mask_shape != shape or seed.dtype != torch.int64 or seed.shape != (5,)):
        return None
    k0, k1, low, high, rounds = seed.tolist()
    counter = low | (high << 32)
    blocks = -(-x.numel() // _kernels.BLOCK_ELEMS)
    if (not (0 <= k0 < _WORD and 0 <= k1 < _WORD and 0 <= low < _WORD and 0 <= high < _WORD)
            or not _kernels.MIN_ROUNDS <= rounds <= _kernels.MAX_ROUNDS or counter + blocks > _kernels.COUNTER_LIMIT):
        return None
    return whole_product(x, fd.DropoutHandle._from_checked((k0, k1), counter, rounds, p, tuple(shape),
                                                                tuple(shape), mode))


def whole_product(x: Tensor, handle: fd.DropoutHandle) -> Tensor:
    """x times all of `handle`'s mask, unchecked: x of a kernel dtype and the
    shape of the handle's elementwise mask.  A contiguous x reaches the
    kernels by address, without NumPy views."""
    if x.is_contiguous():
        y = torch.empty_like(x, memory_format=torch.contiguous_format)
        isa, threads = _config.current()
        _kernels.apply_contiguous(handle, x.data_ptr(), y.data_ptr(), x.numel(), KERNEL_CODES[x.dtype],
                                  handle.scale, isa, threads)
        return y
    y = empty_like_layout(x)
    handle._scale_whole(numpy_view(x), numpy_view(y))
    return y


# ---------------------------------------------------------------- the kernels
# (shared by the operators below and by the eager autograd path in _eager)

def mask_product(x: Tensor, handle: fd.DropoutHandle, offset: Sequence[int]) -> Tensor:
    """x times the part of `handle`'s mask covering the block of x's shape at `offset`."""
    y = empty_like_layout(x)
    handle.apply(numpy_view(x), offset=tuple(offset), out=numpy_view(y))
    return y


def mask_product_(x: Tensor, handle: fd.DropoutHandle, offset: Sequence[int]) -> None:
    """:func:`mask_product` written into x."""
    handle.apply(numpy_view(x), offset=tuple(offset), inplace=True)


def alpha_product(x: Tensor, handle: fd.DropoutHandle, offset: Sequence[int]) -> Tensor:
    """Alpha dropout of x with a 'standard'-mode handle (mask values 0 or 1)."""
    x_np = numpy_view(x)
    compute = np.float64 if x_np.dtype == np.float64 else np.float32
    block = tuple(offset)
    kept = handle.apply(np.ones(x_np.shape, dtype=compute), offset=block)
    masked = handle.apply(x_np.astype(compute), offset=block, inplace=True)
    a, b = alpha_coefficients(handle.p)
    # a * (x * m - ALPHA * (1 - m)) + b, with the constants folded
    values = a * masked + (a * ALPHA) * kept + (b - a * ALPHA)
    y = empty_like_layout(x)
    numpy_view(y)[...] = values
    return y


def alpha_grad_product(x: Tensor, handle: fd.DropoutHandle, offset: Sequence[int]) -> Tensor:
    """a * m * x, the gradient of alpha dropout, with a 'standard'-mode
    handle: computed in float32 (float64 for float64) and rounded once, so
    that eager and compiled backward passes give the same bits."""
    x_np = numpy_view(x)
    a, _ = alpha_coefficients(handle.p)
    y = empty_like_layout(x)
    y_np = numpy_view(y)
    if x_np.dtype in (np.float32, np.float64):
        handle.apply(x_np, offset=tuple(offset), out=y_np)
        np.multiply(y_np, a, out=y_np)
    else:
        y_np[...] = handle.apply(x_np.astype(np.float32), offset=tuple(offset), inplace=True) * np.float32(a)
    return y


def alpha_coefficients(p: float) -> Tuple[float, float]:
    """(a, b) of y = a * (x * m - ALPHA * (1 - m)) + b, which keeps mean 0 and
    variance 1 of a standard-normal input (Klambauer et al. 2017, section 3)."""
    q = 1.0 - p
    a = 1.0 / math.sqrt(q * (1.0 + p * ALPHA * ALPHA))
    return a, a * ALPHA * p


# ---------------------------------------------------------------- draw_seed

@torch.library.custom_op("fastdrop::draw_seed", mutates_args=(), device_types="cpu")
def draw_seed(anchor: Tensor, stream: int, p: float, shape: list[int], mask_shape: list[int],
              shard_rows: int) -> Tensor:
    words = _streams.draw_by_id(stream, p, shape, mask_shape, shard_rows)
    return torch.tensor(words, dtype=torch.int64)


@draw_seed.register_fake
def _(anchor: Tensor, stream: int, p: float, shape: List[int], mask_shape: List[int], shard_rows: int) -> Tensor:
    return anchor.new_empty((_streams.SEED_WORDS,), dtype=torch.int64)


draw_seed.register_effect(EffectType.ORDERED)


# ---------------------------------------------------------------- dropout

@torch.library.custom_op("fastdrop::dropout", mutates_args=(), device_types="cpu")
def dropout(x: Tensor, seed: Tensor, p: float, dropout_mode: str, shape: list[int], mask_shape: list[int],
            offset: list[int]) -> Tensor:
    whole = _whole_product(x, seed, p, dropout_mode, shape, mask_shape, offset)
    if whole is not None:
        return whole
    return mask_product(x, _handle(seed, p, dropout_mode, shape, mask_shape), offset)


def _like_input(x: Tensor, *_: Any) -> Tensor:
    """The fake kernel of the products: a tensor laid out like the input."""
    return empty_like_layout(x)


dropout.register_fake(_like_input)


def _keep_seed(ctx: Any, inputs: Tuple[Any, ...], output: Any) -> None:
    # The seed (five integers) rides on ctx as an attribute rather than
    # through save_for_backward: nothing of the input's size is kept, and
    # saved-tensor hooks (offloading, packing) have nothing to handle.
    ctx.mask_args = inputs[1:]


def _dropout_backward(ctx: Any, grad: Tensor) -> Tuple[Optional[Tensor], ...]:
    return (dropout(grad, *ctx.mask_args),) + (None,) * len(ctx.mask_args)


dropout.register_autograd(_dropout_backward, setup_context=_keep_seed)


@torch.library.custom_op("fastdrop::dropout_", mutates_args={"x"}, device_types="cpu")
def dropout_(x: Tensor, seed: Tensor, p: float, dropout_mode: str, shape: list[int], mask_shape: list[int],
             offset: list[int]) -> None:
    mask_product_(x, _handle(seed, p, dropout_mode, shape, mask_shape), offset)


# ---------------------------------------------------------------- alpha dropout

@torch.library.custom_op("fastdrop::alpha_dropout", mutates_args=(), device_types="cpu")
def alpha_dropout(x: Tensor, seed: Tensor, p: float, shape: list[int], mask_shape: list[int],
                  offset: list[int]) -> Tensor:
    return alpha_product(x, _handle(seed, p, "standard", shape, mask_shape), offset)


alpha_dropout.register_fake(_like_input)


@torch.library.custom_op("fastdrop::alpha_dropout_backward", mutates_args=(), device_types="cpu")
def alpha_dropout_backward(grad: Tensor, seed: Tensor, p: float, shape: list[int], mask_shape: list[int],
                           offset: list[int]) -> Tensor:
    return alpha_grad_product(grad, _handle(seed, p, "standard", shape, mask_shape), offset)


alpha_dropout_backward.register_fake(_like_input)


def _alpha_backward(ctx: Any, grad: Tensor) -> Tuple[Optional[Tensor], ...]:
    # the gain a in the same operator as the mask: a separate product would
    # round twice in half precision, where a compiled graph fuses it and rounds once
    return (alpha_dropout_backward(grad, *ctx.mask_args),) + (None,) * 5


alpha_dropout.register_autograd(_alpha_backward, setup_context=_keep_seed)
alpha_dropout_backward.register_autograd(_alpha_backward, setup_context=_keep_seed)

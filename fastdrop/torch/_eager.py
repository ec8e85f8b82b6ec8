"""The eager path: fastdrop's kernels under plain autograd Functions.

A custom operator's Python autograd and dispatch layers cost several times
the kernel itself on a training batch (docs/torch.rst gives the figures),
so plain tensors in eager mode take this path, and everything else takes the operators: torch.compile and
torch.export (which trace them), tensor subclasses (fake, functional and
others), and calls under a torch-function or torch-dispatch mode (which must
see the operator).  Both paths run the same kernels on the same seed words,
so they give the same bits; the compile tests compare them.

Everything this path hands the core was made or checked by fastdrop.torch
itself (handles from _streams, offsets and shapes from the input, arrays of
a kernel dtype), so it calls the handle's unchecked methods rather than
checking again what it has just made.
"""
from typing import Any, Callable, Optional, Sequence, Tuple

import numpy as np
import torch

import fastdrop as fd

from . import _checks, _ops, _streams

__all__ = ["applies_to", "takes_whole", "dropout", "apply"]

_PLAIN = (torch.Tensor, torch.nn.Parameter)
_KERNEL_DTYPES = frozenset(_checks.KERNEL_DTYPES)


def applies_to(x: torch.Tensor) -> bool:
    """Whether a call on x may skip the operators (which a compiler, a
    tracer or a mode must see)."""
    return (not torch.compiler.is_compiling() and type(x) in _PLAIN
            and not torch.overrides.has_torch_function_unary(x)
            and torch._C._len_torch_dispatch_stack() == 0 and not torch._C._get_tracing_state())


def takes_whole(x: torch.Tensor) -> bool:
    """Whether :func:`dropout` takes x: a plain, non-empty, dense CPU tensor
    of a kernel dtype (one that passes the argument checks), not a negated
    view, in eager mode."""
    return (type(x) in _PLAIN and x.dtype in _KERNEL_DTYPES and x.layout == torch.strided and x.is_cpu
            and not x.is_nested and x.numel() > 0 and applies_to(x) and not x.is_neg())


# ---------------------------------------------------------------- the kernels, unchecked

def _into(x: torch.Tensor, y: torch.Tensor, handle: fd.DropoutHandle, offset: Sequence[int]) -> None:
    """y = x times the part of `handle`'s mask covering the block of x's shape
    at `offset`; y is x or a new tensor of its shape and dtype."""
    x_np = _ops.numpy_view(x)
    y_np = x_np if y is x else _ops.numpy_view(y)
    if handle.mask_shape == handle.shape == x.shape:  # the whole mask: offset 0
        handle._scale_whole(x_np, y_np)
    else:
        handle._scale_into(x_np, y_np, tuple(offset))


def mask_product(x: torch.Tensor, handle: fd.DropoutHandle, offset: Sequence[int]) -> torch.Tensor:
    """:func:`_ops.mask_product` for arguments this package made."""
    y = _ops.empty_like_layout(x)
    _into(x, y, handle, offset)
    return y


def mask_product_(x: torch.Tensor, handle: fd.DropoutHandle, offset: Sequence[int]) -> None:
    """:func:`mask_product` written into x."""
    _into(x, x, handle, offset)


# ---------------------------------------------------------------- autograd

Kernel = Callable[[torch.Tensor, fd.DropoutHandle, Sequence[int]], Any]
_TRANSFORMS_ACTIVE = _streams._transforms_active


_functorch = getattr(torch._C, "_functorch", None)
_batched_checks = [getattr(_functorch, name) for name in ("is_batchedtensor", "is_legacy_batchedtensor")
                   if hasattr(_functorch, name)]


def _is_batched(t: torch.Tensor) -> bool:
    """Whether t is batched by vmap: torch.func's, or the older one that
    autograd's batched gradients use."""
    return any(check(t) for check in _batched_checks)


def _batched_product(t: torch.Tensor, handle: fd.DropoutHandle, offset: Sequence[int], alpha: bool) -> torch.Tensor:
    """t times the mask (times alpha dropout's gain a), for a gradient or
    tangent that vmap batches (``autograd.grad(is_grads_batched=True)``,
    ``jacobian(vectorize=True)``, ``gradcheck(check_batched_grad=True)``):
    the kernels cannot read a batched tensor, so the mask of the block is
    made as a tensor, which vmap broadcasts over the batch.  Computed as the
    kernels compute (float32 for float16 and bfloat16) for the same bits."""
    compute = torch.float64 if t.dtype == torch.float64 else torch.float32
    values = handle._block_values(np.float64 if compute == torch.float64 else np.float32, offset, t.shape)
    product = t.to(compute) * torch.from_numpy(values)
    if alpha:
        product = product * _ops.alpha_coefficients(handle.p)[0]
    return product.to(t.dtype)


# the kernel of each product's gradient: alpha dropout's is a * mask * dy,
# rounded once, as the compiled operators compute it (_ops.alpha_dropout_backward)
_GRADIENT_KERNELS = {_ops.alpha_product: _ops.alpha_grad_product, _ops.alpha_grad_product: _ops.alpha_grad_product}


class _Product(torch.autograd.Function):
    """kernel(x, handle, offset), for kernel mask_product, _ops.alpha_product
    or _ops.alpha_grad_product.  The gradient is the mask product of the
    gradient (times a for alpha dropout): nothing is saved but the handle.
    Forward and setup_context apart, as torch.func transforms (grad, jvp)
    require."""

    @staticmethod
    def forward(x: torch.Tensor, handle: fd.DropoutHandle, offset: Sequence[int], kernel: Kernel) -> torch.Tensor:
        result: torch.Tensor = kernel(x, handle, offset)
        return result

    @staticmethod
    def setup_context(ctx: Any, inputs: Tuple[Any, ...], output: torch.Tensor) -> None:
        _, ctx.handle, ctx.offset, kernel = inputs
        ctx.gradient_kernel = _GRADIENT_KERNELS.get(kernel, mask_product)

    @staticmethod
    def times_mask(ctx: Any, t: torch.Tensor, recorded: bool) -> torch.Tensor:
        """t times the mask (and alpha dropout's gain): through the Function
        when `recorded` (differentiable again, or a torch.func wrapper, which
        only a Function unwraps), else straight to the kernel."""
        kernel = ctx.gradient_kernel
        if _is_batched(t):
            return _batched_product(t, ctx.handle, ctx.offset, kernel is _ops.alpha_grad_product)
        return _product(t, ctx.handle, ctx.offset, kernel) if recorded else kernel(t, ctx.handle, ctx.offset)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> Tuple[Optional[torch.Tensor], None, None, None]:
        return _Product.times_mask(ctx, grad, torch.is_grad_enabled() or _TRANSFORMS_ACTIVE()), None, None, None

    @staticmethod
    def jvp(ctx: Any, tangent: torch.Tensor, *_: None) -> torch.Tensor:
        # forward-mode AD: the tangent is multiplied like the gradient
        return _Product.times_mask(ctx, tangent, _TRANSFORMS_ACTIVE())


class _ProductInplace(_Product):
    """kernel (mask_product_) writing into x, which is marked dirty (torch's in-place rules)."""

    @staticmethod
    def forward(x: torch.Tensor, handle: fd.DropoutHandle, offset: Sequence[int], kernel: Kernel) -> torch.Tensor:
        kernel(x, handle, offset)
        return x

    @staticmethod
    def setup_context(ctx: Any, inputs: Tuple[Any, ...], output: torch.Tensor) -> None:
        x, ctx.handle, ctx.offset, _ = inputs
        ctx.gradient_kernel = mask_product
        ctx.mark_dirty(x)

    @staticmethod
    def jvp(ctx: Any, tangent: torch.Tensor, *_: None) -> torch.Tensor:
        # the input is dirty: its tangent is updated in place (copy_ moves
        # the version torch checks, and writes into a torch.func wrapper too)
        return tangent.copy_(_Product.times_mask(ctx, tangent, _TRANSFORMS_ACTIVE()))


# Function.apply is untyped in torch's stubs; these say what it takes and returns
_product: Callable[[torch.Tensor, fd.DropoutHandle, Sequence[int], Kernel], torch.Tensor] = _Product.apply
_product_inplace: Callable[[torch.Tensor, fd.DropoutHandle, Sequence[int], Kernel], torch.Tensor] = \
    _ProductInplace.apply


# x times all of an elementwise handle's mask
_whole = _ops.whole_product


class _Whole(torch.autograd.Function):
    """_whole(x, handle), and the same product of the gradient in backward:
    :class:`_Product` for the common call, in fewer steps (forward with its
    ctx, one Python call less than a separate setup_context)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, handle: fd.DropoutHandle) -> torch.Tensor:
        ctx.handle = handle
        return _whole(x, handle)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> Tuple[torch.Tensor, None]:
        # through the Function when differentiable again or wrapped by torch.func (see _Product.times_mask)
        if _is_batched(grad):
            return _batched_product(grad, ctx.handle, (0,) * grad.dim(), False), None
        if torch.is_grad_enabled() or _TRANSFORMS_ACTIVE():
            return _whole_apply(grad, ctx.handle), None
        return _whole(grad, ctx.handle), None

    @staticmethod
    def jvp(ctx: Any, tangent: torch.Tensor, _: None) -> torch.Tensor:
        if _is_batched(tangent):
            return _batched_product(tangent, ctx.handle, (0,) * tangent.dim(), False)
        return _whole_apply(tangent, ctx.handle) if _TRANSFORMS_ACTIVE() else _whole(tangent, ctx.handle)


class _WholeSetUp(_Whole):
    """:class:`_Whole` with forward and setup_context apart, for torch.func
    transforms, which require that."""

    @staticmethod
    def forward(x: torch.Tensor, handle: fd.DropoutHandle) -> torch.Tensor:  # type: ignore[override]
        return _whole(x, handle)

    @staticmethod
    def setup_context(ctx: Any, inputs: Tuple[Any, ...], output: torch.Tensor) -> None:
        ctx.handle = inputs[1]


def _c_apply() -> Callable[[torch.Tensor, fd.DropoutHandle], torch.Tensor]:
    """_Whole.apply without a Python layer: Function.apply is Python that,
    outside functorch transforms (vmap, grad, ...), unwraps dead functorch
    wrappers and calls the C apply, which this does directly (or, on a torch
    without those internals, Function.apply itself).  Under a transform,
    :class:`_WholeSetUp` through Function.apply."""
    try:
        c_apply = torch._C._FunctionBase.__dict__["apply"].__get__(None, _Whole)
        unwrap_if_dead = torch._C._functorch.unwrap_if_dead
    except (AttributeError, KeyError):
        return _WholeSetUp.apply

    def apply(x: torch.Tensor, handle: fd.DropoutHandle) -> torch.Tensor:
        if _TRANSFORMS_ACTIVE():
            return _WholeSetUp.apply(x, handle)
        return c_apply(unwrap_if_dead(x), handle)

    return apply


_whole_apply = _c_apply()


_FORWARD_AD = getattr(torch.autograd, "forward_ad", None)


def _recorded(x: torch.Tensor) -> bool:
    """Whether a call on x goes through an autograd Function: autograd
    records it, a forward-mode AD level is open (x may carry a tangent,
    which only a Function's jvp multiplies by the mask), or a torch.func
    transform is (x may be a wrapper without storage, which only a
    Function unwraps)."""
    return ((torch.is_grad_enabled() and x.requires_grad) or getattr(_FORWARD_AD, "_current_level", 0) >= 0
            or _TRANSFORMS_ACTIVE())


def dropout(x: torch.Tensor, p: float, generator: Optional[fd.Generator]) -> torch.Tensor:
    """Elementwise 'inverted' dropout of a tensor :func:`takes_whole` takes,
    p in [0, 1] and the generator checked: ``functional.dropout``'s common
    call, in its fewest steps."""
    shape = tuple(x.shape)
    handle = _streams.draw(generator, p, "inverted", shape, shape)
    if _recorded(x):
        return _whole_apply(x, handle)
    return _whole(x, handle)


def apply(x: torch.Tensor, handle: fd.DropoutHandle, offset: Sequence[int], *, inplace: bool = False,
          alpha: bool = False) -> torch.Tensor:
    """Dropout of x with `handle` at `offset` (alpha dropout with a 'standard' handle)."""
    if alpha:
        y = _product(x, handle, offset, _ops.alpha_product)
        return x.copy_(y) if inplace else y
    recorded = _recorded(x)
    if not inplace:
        return _product(x, handle, offset, mask_product) if recorded else mask_product(x, handle, offset)
    if recorded:
        return _product_inplace(x, handle, offset, mask_product_)
    mask_product_(x, handle, offset)
    torch.autograd.graph.increment_version(x)
    return x

"""The eager path: the kernels of _ops under plain autograd Functions.

A custom operator costs about 150 microseconds more per forward + backward
than an autograd Function calling the same kernel (its Python autograd and
dispatch layers; measured on (100, 512) float32), a cost of the same order
as the kernel itself on a training batch.  So plain tensors in eager mode
take this path, and everything else takes the operators: torch.compile and
torch.export (which trace them), tensor subclasses (fake, functional and
others), and calls under a torch-function or torch-dispatch mode (which must
see the operator).  Both paths run the same kernels on the same seed words,
so they give the same bits; the compile tests compare them.
"""
import torch

from . import _ops

__all__ = ["applies_to", "apply"]

_PLAIN = (torch.Tensor, torch.nn.Parameter)


def applies_to(x):
    """Whether a call on x may skip the operators."""
    return (not torch.compiler.is_compiling() and type(x) in _PLAIN
            and not torch.overrides.has_torch_function_unary(x)
            and torch._C._len_torch_dispatch_stack() == 0)


class _MaskProduct(torch.autograd.Function):
    """x times the handle's mask; the gradient is the same product (nothing saved)."""

    @staticmethod
    def forward(ctx, x, handle, offset):
        ctx.handle, ctx.offset = handle, offset
        return _ops.mask_product(x, handle, offset)

    @staticmethod
    def backward(ctx, grad):
        return _MaskProduct.apply(grad, ctx.handle, ctx.offset), None, None


class _MaskProductInplace(torch.autograd.Function):
    """The product written into x, which is marked dirty (torch's in-place rules)."""

    @staticmethod
    def forward(ctx, x, handle, offset):
        ctx.handle, ctx.offset = handle, offset
        _ops.mask_product_(x, handle, offset)
        ctx.mark_dirty(x)
        return x

    @staticmethod
    def backward(ctx, grad):
        return _MaskProduct.apply(grad, ctx.handle, ctx.offset), None, None


class _AlphaProduct(torch.autograd.Function):
    """Alpha dropout; the gradient is a times the mask product."""

    @staticmethod
    def forward(ctx, x, handle, offset):
        ctx.handle, ctx.offset = handle, offset
        return _ops.alpha_product(x, handle, offset)

    @staticmethod
    def backward(ctx, grad):
        a, _ = _ops.alpha_coefficients(ctx.handle.p)
        return _MaskProduct.apply(grad, ctx.handle, ctx.offset) * a, None, None


def apply(x, handle, offset, *, inplace=False, alpha=False):
    """Dropout of x with `handle` at `offset` (alpha dropout with a 'standard' handle)."""
    if alpha:
        y = _AlphaProduct.apply(x, handle, offset)
        return x.copy_(y) if inplace else y
    if not inplace:
        return _MaskProduct.apply(x, handle, offset)
    if torch.is_grad_enabled() and x.requires_grad:
        return _MaskProductInplace.apply(x, handle, offset)
    _ops.mask_product_(x, handle, offset)
    torch.autograd.graph.increment_version(x)
    return x

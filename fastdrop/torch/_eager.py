"""The eager path: the kernels of _ops under plain autograd Functions.

A custom operator costs about 160 microseconds more per forward + backward
than an autograd Function calling the same kernel (its Python autograd and
dispatch layers; benchmarks/bench_torch.py, (100, 512) float32), several
times the kernel itself on a training batch.  So plain tensors in eager mode
take this path, and everything else takes the operators: torch.compile and
torch.export (which trace them), tensor subclasses (fake, functional and
others), and calls under a torch-function or torch-dispatch mode (which must
see the operator).  Both paths run the same kernels on the same seed words,
so they give the same bits; the compile tests compare them.
"""
from typing import Any, Callable, Optional, Sequence, Tuple

import torch

import fastdrop as fd

from . import _ops

__all__ = ["applies_to", "apply"]

_PLAIN = (torch.Tensor, torch.nn.Parameter)


def applies_to(x: torch.Tensor) -> bool:
    """Whether a call on x may skip the operators."""
    return (not torch.compiler.is_compiling() and type(x) in _PLAIN
            and not torch.overrides.has_torch_function_unary(x)
            and torch._C._len_torch_dispatch_stack() == 0)


Kernel = Callable[[torch.Tensor, fd.DropoutHandle, Sequence[int]], Any]


class _Product(torch.autograd.Function):
    """kernel(x, handle, offset), for kernel mask_product or alpha_product.  The
    gradient is the mask product of the gradient (times a for alpha dropout):
    nothing is saved but the handle."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, handle: fd.DropoutHandle, offset: Sequence[int],
                kernel: Kernel) -> torch.Tensor:
        ctx.handle, ctx.offset = handle, offset
        ctx.gain = _ops.alpha_coefficients(handle.p)[0] if kernel is _ops.alpha_product else 1.0
        result: torch.Tensor = kernel(x, handle, offset)
        return result

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> Tuple[Optional[torch.Tensor], None, None, None]:
        if torch.is_grad_enabled():  # backward(create_graph=True): differentiable again
            dx = _product(grad, ctx.handle, ctx.offset, _ops.mask_product)
        else:
            dx = _ops.mask_product(grad, ctx.handle, ctx.offset)
        return (dx if ctx.gain == 1.0 else dx * ctx.gain), None, None, None


class _ProductInplace(_Product):
    """kernel (mask_product_) writing into x, which is marked dirty (torch's in-place rules)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, handle: fd.DropoutHandle, offset: Sequence[int],
                kernel: Kernel) -> torch.Tensor:
        ctx.handle, ctx.offset, ctx.gain = handle, offset, 1.0
        kernel(x, handle, offset)
        ctx.mark_dirty(x)
        return x


# Function.apply is untyped in torch's stubs; these say what it takes and returns
_product: Callable[[torch.Tensor, fd.DropoutHandle, Sequence[int], Kernel], torch.Tensor] = _Product.apply
_product_inplace: Callable[[torch.Tensor, fd.DropoutHandle, Sequence[int], Kernel], torch.Tensor] = \
    _ProductInplace.apply


def apply(x: torch.Tensor, handle: fd.DropoutHandle, offset: Sequence[int], *, inplace: bool = False,
          alpha: bool = False) -> torch.Tensor:
    """Dropout of x with `handle` at `offset` (alpha dropout with a 'standard' handle)."""
    if alpha:
        y = _product(x, handle, offset, _ops.alpha_product)
        return x.copy_(y) if inplace else y
    if not inplace:
        return _product(x, handle, offset, _ops.mask_product)
    if torch.is_grad_enabled() and x.requires_grad:
        return _product_inplace(x, handle, offset, _ops.mask_product_)
    _ops.mask_product_(x, handle, offset)
    torch.autograd.graph.increment_version(x)
    return x

"""Functional dropout on torch tensors: argument checks, a seed drawn,
then one mask product, through the eager path (_eager) for plain tensors in
eager mode and through the custom operators (_ops) otherwise.  The modules
in fastdrop.torch.modules call the private variants here.
"""
import warnings
from typing import Any, List, Optional, Sequence, Tuple

import torch

import fastdrop as fd

from . import _checks, _eager, _ops, _shard, _streams

__all__ = ["dropout"]


def _refuse_forbidden_inplace(x: torch.Tensor) -> None:
    # While autograd records, torch forbids writing in place into a leaf
    # that requires grad and into some views (of such a leaf, outputs of
    # split or unbind, views made under no_grad); a self-copy makes torch
    # raise its own error for those before anything is drawn or written.
    if torch.compiler.is_compiling() or not torch.is_grad_enabled():
        return
    base = x._base
    if (base is None and x.is_leaf and x.requires_grad) or (base is not None and base.requires_grad):
        x.copy_(x)


def _seed_tensor(x: torch.Tensor, generator: Optional[fd.Generator], p: float, shape: Sequence[int],
                 mask_shape: Sequence[int], shard_rows: int) -> torch.Tensor:
    if torch.compiler.is_compiling() or _streams.dispatch_modes():
        # through the operator, which a mode sees: a FakeTensorMode then gets its fake
        # seed and draws nothing from the generator or from torch's stream
        return _ops.draw_seed(x, _streams.stream_id(generator), p, list(shape), list(mask_shape), shard_rows)
    return torch.tensor(_streams.words(_streams.draw(generator, p, "inverted", shape, mask_shape, shard_rows)),
                        dtype=torch.int64)


def _apply_mask(x: torch.Tensor, p: float, *, mask_shape: Sequence[int], mode: str = "inverted",
                inplace: bool = False, generator: Optional[fd.Generator] = None, shard: Optional[str] = None,
                alpha: bool = False) -> torch.Tensor:
    """Multiply x by a mask of `mask_shape` (broadcast over x); the checks are done."""
    if torch._C._get_tracing_state():
        # the tracer would record the kernels' output as a constant, or fail inside torch
        raise RuntimeError("fastdrop.torch does not support torch.jit.trace (TorchScript) in training: "
                           "trace the model in eval mode, where dropout is the identity, or use "
                           "torch.compile or torch.export")
    shape, offset, rows = tuple(x.shape), (0,) * x.dim(), _streams.UNSHARDED
    if shard == "batch":
        shape, mask_shape, offset, rows = _shard.batch_block(x, mask_shape)
        rows = _streams.shard_rows(rows)
    if inplace:
        _checks.check_writable(x)
        _refuse_forbidden_inplace(x)
    if not torch.compiler.is_compiling() and x.is_neg():
        # a negated view (the imaginary part of a conjugate): the kernels read memory as stored
        y = _apply_mask(x.resolve_neg(), p, mask_shape=mask_shape, mode=mode, generator=generator, shard=shard,
                        alpha=alpha)
        return x.copy_(y) if inplace else y
    if alpha:
        mode = "standard"  # alpha dropout reads its mask as values 0 and 1
    if _eager.applies_to(x):
        handle = _streams.draw(generator, p, mode, shape, mask_shape, rows)
        return _eager.apply(x, handle, offset, inplace=inplace, alpha=alpha)
    return _through_operators(x, _seed_tensor(x, generator, p, shape, mask_shape, rows), p, mode,
                              (list(shape), list(mask_shape), list(offset)), inplace, alpha)


def _through_operators(x: torch.Tensor, seed: torch.Tensor, p: float, mode: str,
                       region: Tuple[List[int], List[int], List[int]], inplace: bool, alpha: bool) -> torch.Tensor:
    args: Tuple[Any, ...]
    if alpha:
        op, args = _ops.alpha_dropout, (seed, p, *region)
    else:
        op, args = _ops.dropout, (seed, p, mode, *region)
    if not inplace:
        return op(x, *args)
    if alpha or torch.compiler.is_compiling() or (torch.is_grad_enabled() and x.requires_grad):
        # the operators' autograd is functional; functionalization folds the copy back in
        return x.copy_(op(x, *args))
    _ops.dropout_(x, *args)
    return x


def _check_common(input: torch.Tensor, p: float, training: bool, inplace: bool, generator: object,
                  shard: object) -> float:
    # the input's kind (dtype, device, layout) is checked where a mask is
    # applied: in evaluation and at p = 0 any tensor passes through, as in
    # torch (a quantized or meta tensor, a model moved to another device)
    _checks.check_tensor(input)
    return _check_arguments(p, training, inplace, generator, shard)


def _check_arguments(p: float, training: bool, inplace: bool, generator: object, shard: object) -> float:
    p = _checks.check_p(p)
    _checks.check_bool(training, "training")
    _checks.check_bool(inplace, "inplace")
    _checks.check_generator(generator)
    _checks.check_shard(shard)
    return p


def _is_identity(input: torch.Tensor, p: float, training: bool, shard: Optional[str]) -> bool:
    """Whether the call returns `input` as it is: as torch, nothing to draw;
    an empty input is only skipped unsharded, where no other rank waits for
    this one's consistency check.  A call that draws (0 < p < 1) needs a
    tensor the kernels take; p == 1 takes any tensor, as torch's does."""
    if not training or p == 0.0:
        return True
    if p != 1.0:
        _checks.check_input(input)
    return shard is None and not input.is_nested and input.numel() == 0


def _zeroed(input: torch.Tensor, inplace: bool) -> torch.Tensor:
    """p == 1, as torch: every element dropped, nothing drawn, in the input's
    own dtype (NaN and inf stay NaN, as in a product with the mask)."""
    zero = torch.zeros((), dtype=input.dtype, device=input.device)
    return input.mul_(zero) if inplace else input * zero


def dropout(input: torch.Tensor, p: float = 0.5, training: bool = True, inplace: bool = False,
            generator: Optional[fd.Generator] = None, *, shard: Optional[str] = None) -> torch.Tensor:
    """Dropout like :func:`torch.nn.functional.dropout`, with a Philox mask
    that backward regenerates instead of storing.

    Parameters
    ----------
    input : torch.Tensor
        A dense CPU tensor of dtype float16, bfloat16, float32 or float64,
        any strides (the mask is defined on the logical C-order index, so a
        non-contiguous tensor gets its contiguous copy's result).
    p : float in [0, 1], default 0.5
        Probability of an element to be zeroed; kept elements are scaled by
        1 / (1 - p).
    training : bool, default True
        If False, `input` itself is returned.
    inplace : bool, default False
        Write into `input` and return it (torch's in-place rules apply: a
        leaf that requires grad gets torch's own error).
    generator : fastdrop.Generator, optional
        Source of the key and counters.  None: the key is drawn from torch's
        default CPU generator (two values of
        ``torch.randint(0, 2**32, (2,), dtype=torch.int64)``) and the counter
        starts at 0, so ``torch.manual_seed`` fixes the mask.
    shard : {None, 'batch'}
        'batch': under torch.distributed, this rank applies its rows of the
        mask drawn for the batch of all ranks (see the module docs).

    Returns
    -------
    torch.Tensor
        A new tensor laid out like `input` (or `input` itself when
        ``inplace=True``, when not training, when p == 0 and when it is empty).

    Raises
    ------
    TypeError
        A non-tensor, sparse or integer input; a generator of another type.
    ValueError
        p outside [0, 1] or NaN, a tensor on another device than the CPU,
        an unknown `shard`, or ``shard='batch'`` without a process group or
        with unequal batch sizes or generator states on the ranks.

    Examples
    --------
    >>> import torch, fastdrop as fd, fastdrop.torch as fdt
    >>> x = torch.ones(2, 4)
    >>> y = fdt.dropout(x, 0.5, generator=fd.Generator(0))
    >>> sorted(set(y.flatten().tolist())) in ([0.0, 2.0], [0.0], [2.0])
    True
    >>> fdt.dropout(x, 0.5, training=False) is x
    True
    """
    if (training is True and inplace is False and shard is None and type(p) is float and 0.0 < p < 1.0
            and (generator is None or type(generator) is fd.Generator) and _eager.takes_whole(input)):
        # the common call, whose arguments pass the checks below: straight to the kernel
        return _eager.dropout(input, p, generator)
    if isinstance(input, torch.fx.Proxy):
        return _fx_call(input, p, training, inplace, generator, shard)
    p = _check_common(input, p, training, inplace, generator, shard)
    if _is_identity(input, p, training, shard):
        return input
    if p == 1.0:
        return _zeroed(input, inplace)
    return _apply_mask(input, p, mask_shape=tuple(input.shape), inplace=inplace, generator=generator, shard=shard)


def _fx_call(input: torch.fx.Proxy, p: float, training: bool, inplace: bool, generator: Optional[fd.Generator],
             shard: Optional[str]) -> Any:
    """The call as one node of a torch.fx trace (a Proxy, which stands for
    the tensor), as FX records torch.nn.functional.dropout (its arguments as
    constants)."""
    p = _check_arguments(p, training, inplace, generator, shard)
    if generator is not None:
        raise TypeError("generator: torch.fx cannot record a fastdrop.Generator as an argument of a traced "
                        "call; use the fastdrop.torch modules, which FX records as modules, or generator=None")
    return input.tracer.create_proxy("call_function", dropout, (input, p, training, inplace),
                                     {} if shard is None else {"shard": shard})


# ---------------------------------------------------------------- the module variants

def _feature_mask_shape(x: torch.Tensor, name: str) -> Tuple[int, ...]:
    if x.dim() < 2:
        raise RuntimeError(f"{name}: channel-wise dropout needs an input of at least 2 dimensions "
                           f"(batch, channels, ...), got a {x.dim()}D input")
    return tuple(x.shape[:2]) + (1,) * (x.dim() - 2)


def _feature_dropout(input: torch.Tensor, p: float, training: bool, inplace: bool, generator: Optional[fd.Generator],
                     shard: Optional[str], name: str) -> torch.Tensor:
    """One draw per (sample, channel) of a batched input, as torch's feature dropout."""
    if _is_identity(input, p, training, shard):
        return input
    if p == 1.0:
        return _zeroed(input, inplace)
    return _apply_mask(input, p, mask_shape=_feature_mask_shape(input, name), inplace=inplace,
                       generator=generator, shard=shard)


def _batched_or_not(input: torch.Tensor, p: float, training: bool, inplace: bool,
                    generator: Optional[fd.Generator], shard: Optional[str], name: str,
                    batched_dims: int) -> torch.Tensor:
    """Channel dropout; an input of any other number of dimensions than
    `batched_dims` is taken as unbatched and dropped as a batch of one, so it
    gets the mask its batched form would (as torch's)."""
    if _is_identity(input, p, training, shard):
        return input
    if input.dim() == batched_dims:
        return _feature_dropout(input, p, training, inplace, generator, shard, name)
    if p == 1.0:
        return _zeroed(input, inplace)
    # what the batch of one would hide: a 0-d input, and torch's error for
    # writing in place into a leaf (rather than into a view of it)
    if input.dim() == 0:
        _feature_mask_shape(input, name)
    if inplace:
        _refuse_forbidden_inplace(input)
    result = _feature_dropout(input.unsqueeze(0), p, training, inplace, generator, shard, name)
    return input if inplace else result.squeeze(0)


def _warn(message: str, stacklevel: int) -> None:
    # torch.compile cannot trace warnings.warn (fullgraph=True would fail); the
    # eager call of the same model has warned already
    if not torch.compiler.is_compiling():
        warnings.warn(message, stacklevel=stacklevel + 1)


def _warn_unless_dims(input: torch.Tensor, name: str, spatial: int, drawn_per: str) -> None:
    """Warn, as torch does, when a channel dropout meets another number of dimensions."""
    if input.dim() not in (spatial + 1, spatial + 2):
        _warn(f"{name}: got a {input.dim()}-D input; {name} is made for {spatial + 1}D or "
              f"{spatial + 2}D inputs (channels and {spatial} spatial dimensions, optionally "
              f"batched). Like torch's, it drops one value per {drawn_per} here; use "
              f"Dropout for elementwise dropout.", stacklevel=6)


def dropout1d(input: torch.Tensor, p: float, training: bool, inplace: bool, generator: Optional[fd.Generator],
              shard: Optional[str]) -> torch.Tensor:
    p = _check_common(input, p, training, inplace, generator, shard)
    if input.dim() not in (2, 3):
        raise RuntimeError(f"Dropout1d: expected a 2D (channels, length) or 3D (batch, channels, length) "
                           f"input, got a {input.dim()}D input")
    return _batched_or_not(input, p, training, inplace, generator, shard, "Dropout1d", 3)


def dropout2d(input: torch.Tensor, p: float, training: bool, inplace: bool, generator: Optional[fd.Generator],
              shard: Optional[str]) -> torch.Tensor:
    p = _check_common(input, p, training, inplace, generator, shard)
    _warn_unless_dims(input, "Dropout2d", 2, "(dim 0, dim 1) pair")
    if input.dim() == 3:
        _warn("Dropout2d: got a 3D input, read as (N, C, L) with one draw per channel of "
              "length L, as torch's Dropout2d does; use Dropout1d to say so explicitly.", stacklevel=5)
    return _feature_dropout(input, p, training, inplace, generator, shard, "Dropout2d")


def dropout3d(input: torch.Tensor, p: float, training: bool, inplace: bool, generator: Optional[fd.Generator],
              shard: Optional[str]) -> torch.Tensor:
    p = _check_common(input, p, training, inplace, generator, shard)
    _warn_unless_dims(input, "Dropout3d", 3, "index of dim 0")
    return _batched_or_not(input, p, training, inplace, generator, shard, "Dropout3d", 5)


def alpha_dropout(input: torch.Tensor, p: float, training: bool, inplace: bool, generator: Optional[fd.Generator],
                  shard: Optional[str]) -> torch.Tensor:
    p = _check_common(input, p, training, inplace, generator, shard)
    if _is_identity(input, p, training, shard):
        return input
    if p == 1.0:  # as torch: every unit dropped and no affine map (its scale would be infinite)
        return _zeroed(input, inplace)
    return _apply_mask(input, p, mask_shape=tuple(input.shape), inplace=inplace, generator=generator,
                       shard=shard, alpha=True)


def drop_path(input: torch.Tensor, drop_prob: float, training: bool, scale_by_keep: bool,
              generator: Optional[fd.Generator], shard: Optional[str]) -> torch.Tensor:
    """timm's DropPath: one keep/drop draw per sample (dimension 0)."""
    _check_common(input, 0.0, training, False, generator, shard)
    drop_prob = _checks.check_p(drop_prob, "drop_prob")
    _checks.check_bool(scale_by_keep, "scale_by_keep")
    if _is_identity(input, drop_prob, training, shard):
        return input
    _checks.check_input(input)   # drop_prob == 1 draws too, as timm's does
    if input.dim() == 0:
        raise ValueError("DropPath needs an input with a batch dimension (dimension 0), got a 0-d input")
    mode = "inverted" if scale_by_keep else "standard"
    mask_shape = (input.shape[0],) + (1,) * (input.dim() - 1)
    return _apply_mask(input, drop_prob, mask_shape=mask_shape, mode=mode, generator=generator, shard=shard)


# ---------------------------------------------------------------- activation checkpointing

def checkpoint_context(policy: Optional[Any] = None) -> Tuple[Any, Any]:
    """A ``context_fn`` for :func:`torch.utils.checkpoint.checkpoint` (with
    ``use_reentrant=False``) under which the recomputation of a region reuses
    the seeds its dropouts drew in forward instead of drawing again.

    ``checkpoint(block, x, use_reentrant=False, context_fn=fdt.checkpoint_context)``
    then recomputes every mask exactly, with a :class:`fastdrop.Generator`
    too (whose counters a second draw would advance), in eager mode and
    under ``torch.compile``, where a checkpointed region without it fails to
    compile (the compiler would draw again in backward).  Each dropout keeps
    its seed, five integers, and nothing else: in eager mode in a log that
    every recomputation replays from its start (so the region may be
    backpropagated through more than once), compiled through torch's
    selective checkpointing, which saves the seeds' operator.

    Parameters
    ----------
    policy : callable or list of operators, optional
        What :func:`torch.utils.checkpoint.create_selective_checkpoint_contexts`
        takes for the other operators: a policy function (which the seeds'
        operator never reaches) or a list of operators (``OpOverload``, such
        as ``torch.ops.aten.mm.default``) to save.  Default: recompute
        everything else, as a plain checkpoint does.  Pass it with
        ``functools.partial(fdt.checkpoint_context, policy=...)`` as
        ``context_fn``; torch's selective checkpointing then runs in eager
        mode too, with its limit of one backward pass per region.

    Returns
    -------
    tuple
        The forward and recomputation contexts, as ``context_fn`` returns them.

    Examples
    --------
    >>> import functools, torch, fastdrop as fd, fastdrop.torch as fdt
    >>> from torch.utils.checkpoint import checkpoint
    >>> block = torch.nn.Sequential(torch.nn.Linear(4, 4), fdt.Dropout(0.5, generator=fd.Generator(0)))
    >>> x = torch.ones(2, 4, requires_grad=True)
    >>> y = checkpoint(block, x, use_reentrant=False, context_fn=fdt.checkpoint_context)
    >>> y.sum().backward()
    """
    from torch.utils.checkpoint import CheckpointPolicy, create_selective_checkpoint_contexts
    if isinstance(policy, list):
        for op in policy:
            if not isinstance(op, torch._ops.OpOverload):
                raise ValueError(f"policy must list operator overloads (e.g. torch.ops.aten.mm.default), "
                                 f"got {op!r} of type {type(op).__name__}")
    elif policy is not None and not callable(policy):
        raise TypeError(f"policy must be a function or a list of operators, as torch's "
                        f"create_selective_checkpoint_contexts takes, got {type(policy).__name__}")
    draw = torch.ops.fastdrop.draw_seed.default
    saved = set(policy) if isinstance(policy, list) else set()
    # compiling (or under another dispatch mode), the seeds' operator is saved
    # by torch's selective checkpointing, which a compiler reads; in eager
    # mode a log of the region's handles replays them in every recomputation,
    # where torch's saved values could be handed out once
    compiled = bool(torch.compiler.is_compiling() or _streams.dispatch_modes())

    def keep_draws(ctx: Any, op: Any, *args: Any, **kwargs: Any) -> Any:
        if op is draw and compiled:
            return CheckpointPolicy.MUST_SAVE
        if op in saved:
            return CheckpointPolicy.MUST_SAVE
        if callable(policy) and op is not draw:
            return policy(ctx, op, *args, **kwargs)
        return CheckpointPolicy.PREFER_RECOMPUTE

    if compiled:
        contexts: Tuple[Any, Any] = create_selective_checkpoint_contexts(keep_draws)
        return contexts
    log = _streams.SeedLog()
    if policy is None:
        return log.recording(), log.replaying()
    forward, recompute = create_selective_checkpoint_contexts(keep_draws)
    return _Both(forward, log.recording()), _Both(recompute, log.replaying())


class _Both:
    """Two contexts entered and left as one (reusable, as checkpoint's are)."""

    def __init__(self, first: Any, second: Any) -> None:
        self.first, self.second = first, second

    def __enter__(self) -> None:
        self.first.__enter__()
        try:
            self.second.__enter__()
        except BaseException:
            self.first.__exit__(None, None, None)
            raise

    def __exit__(self, *exc: Any) -> None:
        try:
            self.second.__exit__(*exc)
        finally:
            self.first.__exit__(*exc)

"""Modules mirroring torch.nn's dropout layers, and replace_dropout."""
import numbers
from typing import Any, Dict, List, Optional, Tuple, Type

import torch
from torch import nn

import fastdrop as fd

from . import _checks
from . import functional as F

__all__ = ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "DropPath", "replace_dropout"]


class _MaskedModule(nn.Module):
    """The arguments every fastdrop.torch module shares: generator and shard.

    Positional arguments go on to the next class in the method resolution
    order: torch's ``_DropoutNd`` (p, inplace) for the dropout modules,
    ``nn.Module`` (none) for DropPath.
    """

    def __init__(self, *args: Any, generator: Optional[fd.Generator] = None, shard: Optional[str] = None) -> None:
        generator = _checks.check_generator(generator)
        shard = _checks.check_shard(shard)
        super().__init__(*args)
        self.generator = generator
        self.shard = shard

    def _extra(self) -> str:
        parts = []
        if self.generator is not None:
            parts.append(f"generator={self.generator!r}")
        if self.shard is not None:
            parts.append(f"shard={self.shard!r}")
        return "".join(", " + part for part in parts)


_Proxy = torch.fx.Proxy


def _fx_leaf(module: nn.Module, input: torch.fx.Proxy) -> torch.fx.Proxy:
    """The module as one ``call_module`` node of a torch.fx trace, as FX's
    tracer records torch's dropout modules (it treats modules of torch.nn as
    leaves and traces into others): the traced graph then calls the module,
    so train() and eval() keep working on it."""
    tracer = input.tracer
    if not isinstance(tracer, torch.fx.Tracer):   # a tracer that does not record modules
        raise TypeError(f"input is a torch.fx Proxy of a {type(tracer).__name__}, which cannot record "
                        f"{type(module).__name__} as a module; trace with torch.fx.Tracer or a subclass")
    proxy: torch.fx.Proxy = tracer.create_proxy("call_module", tracer.path_of_module(module), (input,), {})
    return proxy


class _DropoutNd(_MaskedModule, nn.modules.dropout._DropoutNd):
    """Dropout's arguments: p and inplace, checked as torch checks them.

    A subclass of torch's ``_DropoutNd`` (each module below also of torch's
    class of the same name), so code that finds dropout layers with
    ``isinstance`` (Monte Carlo dropout, setting p model-wide) finds these
    too; forward reads ``self.p`` on every call, so setting it takes effect.
    """

    def __init__(self, p: float = 0.5, inplace: bool = False, *, generator: Optional[fd.Generator] = None,
                 shard: Optional[str] = None) -> None:
        p = _checks.check_p(p)
        inplace = _checks.check_bool(inplace, "inplace")
        super().__init__(p, inplace, generator=generator, shard=shard)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}" + self._extra()


class Dropout(_DropoutNd, nn.Dropout):
    """Drop-in for :class:`torch.nn.Dropout`: zeroes each element with
    probability p in training and scales the rest by 1 / (1 - p); backward
    regenerates the mask instead of storing it.

    Parameters
    ----------
    p : float in [0, 1], default 0.5
    inplace : bool, default False
    generator : fastdrop.Generator, optional
        None: each call draws its key from torch's default CPU generator
        (see :func:`fastdrop.torch.dropout`).
    shard : {None, 'batch'}
        'batch': under torch.distributed, apply this rank's rows of the mask
        drawn for the batch of all ranks, so W processes draw the masks of
        one process on the whole batch.

    Examples
    --------
    >>> import torch, fastdrop as fd, fastdrop.torch as fdt
    >>> layer = fdt.Dropout(0.5, generator=fd.Generator(0))
    >>> layer(torch.ones(3, 4)).shape
    torch.Size([3, 4])
    >>> bool((layer.eval()(torch.ones(3)) == 1).all())
    True
    """

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if isinstance(input, _Proxy):
            return _fx_leaf(self, input)
        return F.dropout(input, self.p, self.training, self.inplace, self.generator, shard=self.shard)


class Dropout1d(_DropoutNd, nn.Dropout1d):
    """Drop-in for :class:`torch.nn.Dropout1d`: one draw per channel of an
    (N, C, L) or (C, L) input.  Arguments as :class:`Dropout`."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if isinstance(input, _Proxy):
            return _fx_leaf(self, input)
        return F.dropout1d(input, self.p, self.training, self.inplace, self.generator, self.shard)


class Dropout2d(_DropoutNd, nn.Dropout2d):
    """Drop-in for :class:`torch.nn.Dropout2d`: one draw per channel of an
    (N, C, H, W) input; a 3D input is read as (N, C, L), as torch does.
    Arguments as :class:`Dropout`."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if isinstance(input, _Proxy):
            return _fx_leaf(self, input)
        return F.dropout2d(input, self.p, self.training, self.inplace, self.generator, self.shard)


class Dropout3d(_DropoutNd, nn.Dropout3d):
    """Drop-in for :class:`torch.nn.Dropout3d`: one draw per channel of an
    (N, C, D, H, W) or (C, D, H, W) input.  Arguments as :class:`Dropout`."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if isinstance(input, _Proxy):
            return _fx_leaf(self, input)
        return F.dropout3d(input, self.p, self.training, self.inplace, self.generator, self.shard)


class AlphaDropout(_DropoutNd, nn.AlphaDropout):
    """Drop-in for :class:`torch.nn.AlphaDropout` (for SELU networks):
    dropped units take SELU's negative saturation value, then an affine map
    keeps mean 0 and variance 1.  The gradient is ``a * mask * dy``, the mask
    regenerated.  Arguments as :class:`Dropout`."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if isinstance(input, _Proxy):
            return _fx_leaf(self, input)
        return F.alpha_dropout(input, self.p, self.training, self.inplace, self.generator, self.shard)


class DropPath(_MaskedModule):
    """Stochastic depth with timm's semantics: in training, each sample
    (index along dimension 0) is zeroed with probability `drop_prob`, and the
    kept ones are scaled by 1 / (1 - drop_prob) if `scale_by_keep`.
    Evaluation, and drop_prob == 0, return the input.

    Parameters
    ----------
    drop_prob : float in [0, 1], default 0.0
    scale_by_keep : bool, default True
    generator, shard
        As in :class:`Dropout`.

    Examples
    --------
    >>> import torch, fastdrop as fd, fastdrop.torch as fdt
    >>> y = fdt.DropPath(0.5, generator=fd.Generator(0))(torch.ones(6, 3))
    >>> all(set(row.tolist()) <= {0.0, 2.0} and len(set(row.tolist())) == 1 for row in y)
    True
    """

    def __init__(self, drop_prob: float = 0.0, scale_by_keep: bool = True, *,
                 generator: Optional[fd.Generator] = None, shard: Optional[str] = None) -> None:
        drop_prob = _checks.check_p(drop_prob, "drop_prob")
        scale_by_keep = _checks.check_bool(scale_by_keep, "scale_by_keep")
        super().__init__(generator=generator, shard=shard)
        self.drop_prob = drop_prob
        self.scale_by_keep = scale_by_keep

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if isinstance(input, _Proxy):
            return _fx_leaf(self, input)
        return F.drop_path(input, self.drop_prob, self.training, self.scale_by_keep, self.generator, self.shard)

    def extra_repr(self) -> str:
        return f"drop_prob={round(self.drop_prob, 3):0.3f}" + self._extra()


_REPLACEMENTS: Dict[type, Type[_DropoutNd]] = {
    nn.Dropout: Dropout,
    nn.Dropout1d: Dropout1d,
    nn.Dropout2d: Dropout2d,
    nn.Dropout3d: Dropout3d,
    nn.AlphaDropout: AlphaDropout,
}
# What a new module sets itself instead of taking it from the module it
# replaces: its checked arguments, and a compiled call (Module.compile), which
# is bound to the old module and would run torch's dropout.
_OWN_ATTRIBUTES = frozenset({"p", "inplace", "generator", "shard", "_compiled_call_impl"})


def replace_dropout(module: nn.Module, *, generator: Optional[fd.Generator] = None,
                    shard: Optional[str] = None) -> nn.Module:
    """Swap torch's dropout modules inside `module` for fastdrop's, in place.

    Every child, grandchild, ... whose type is exactly ``torch.nn.Dropout``,
    ``Dropout1d``, ``Dropout2d``, ``Dropout3d`` or ``AlphaDropout`` becomes
    the fastdrop.torch module of the same name, with the same `p` and
    `inplace` as torch reads them (``float(p)``, the truth value of
    `inplace`), and everything else the old module carried: training mode,
    forward and backward hooks (the same hook dictionaries, so handles taken
    before the swap still remove them), buffers and attributes.  Subclasses
    are left alone (their forward may do more), as is a module whose
    ``forward`` was set on the instance, and ``FeatureAlphaDropout``, which
    fastdrop does not provide.  A module reached along two paths is replaced
    by one new module.  fastdrop's modules are subclasses of torch's, so
    ``isinstance(m, torch.nn.Dropout)`` still finds them; they are never
    replaced again.

    Every replacement is built before any is put in place, so a call that
    raises leaves the model as it was.

    Parameters
    ----------
    module : torch.nn.Module
    generator : fastdrop.Generator, optional
        Shared by all the new modules (each call reserves its own counters).
    shard : {None, 'batch'}

    Returns
    -------
    torch.nn.Module
        `module`, changed in place; or, if `module` is itself one of the
        dropout types, its replacement.

    Raises
    ------
    TypeError, ValueError
        `module` is not a module, or is or holds a TorchScript module with
        dropout modules inside, `generator` or `shard` is invalid, or a
        dropout module's `p` or `inplace` is one fastdrop refuses (a NaN `p`,
        which torch's constructor lets through, or a value set afterwards);
        the message gives the module's path in the model.

    Examples
    --------
    >>> import torch, fastdrop.torch as fdt
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Dropout(0.2))
    >>> fdt.replace_dropout(model)[1]
    Dropout(p=0.2, inplace=False)
    >>> isinstance(model[1], torch.nn.Dropout)
    True
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    _checks.check_generator(generator)
    _checks.check_shard(shard)
    swaps: List[Tuple[nn.Module, str, nn.Module]] = []
    replacement = _plan(module, "", generator, shard, {}, swaps)
    _assign(swaps)
    return replacement


def _plan(module: nn.Module, path: str, generator: Optional[fd.Generator], shard: Optional[str],
          seen: Dict[int, nn.Module], swaps: List[Tuple[nn.Module, str, nn.Module]]) -> nn.Module:
    """The replacement for `module` (`module` itself if it stays), appending
    to `swaps` each (parent, name, replacement) to assign below it; changes
    nothing."""
    if id(module) in seen:
        return seen[id(module)]
    if isinstance(module, torch.jit.ScriptModule):
        _refuse_scripted_dropout(module, path)
    kind = _REPLACEMENTS.get(type(module))
    if kind is not None and "forward" not in vars(module):
        seen[id(module)] = _replacement(module, kind, path, generator, shard)
        return seen[id(module)]
    seen[id(module)] = module  # before the children: a module may be reached again below itself
    for name, child in module.named_children():
        replacement = _plan(child, f"{path}.{name}" if path else name, generator, shard, seen, swaps)
        if replacement is not child:
            swaps.append((module, name, replacement))
    return module


def _refuse_scripted_dropout(module: nn.Module, path: str) -> None:
    """A TorchScript submodule runs its compiled code, which swapping its
    children would not change: refuse one that holds torch dropout modules
    rather than leave them in place unnoticed."""
    names = {cls.__name__ for cls in _REPLACEMENTS}
    for name, sub in module.named_modules():
        if getattr(sub, "original_name", None) in names:
            inner = ".".join(part for part in (path, name) if part)
            scripted = f"the TorchScript module {path!r}" if path else "a TorchScript model"
            raise TypeError(f"module {inner!r} is a dropout inside {scripted}, which replace_dropout cannot "
                            f"swap: call it before torch.jit.script")


def _replacement(old: nn.Module, kind: Type[_DropoutNd], path: str, generator: Optional[fd.Generator],
                 shard: Optional[str]) -> nn.Module:
    """fastdrop's module for the torch dropout module `old`, carrying `old`'s state."""
    p: Any = getattr(old, "p", None)
    inplace: Any = getattr(old, "inplace", None)
    # torch's forward reads p as a float (a 0-d tensor too) and inplace by its truth value;
    # anything else goes to the checks as it is, to be refused by name
    if isinstance(p, numbers.Real) or (isinstance(p, torch.Tensor) and p.dim() == 0):
        p = float(p)
    try:
        inplace = bool(inplace)
    except (TypeError, ValueError, RuntimeError):
        pass
    try:
        new = kind(p, inplace, generator=generator, shard=shard)
    except (TypeError, ValueError) as error:
        where = f"module {path!r}" if path else "module"
        raise type(error)(f"cannot replace {where} ({type(old).__name__}): {error}") from error
    new.__dict__.update((name, value) for name, value in vars(old).items() if name not in _OWN_ATTRIBUTES)
    return new


def _assign(swaps: List[Tuple[nn.Module, str, nn.Module]]) -> None:
    """Put the replacements in place; if an assignment raises (a module
    registration hook may), undo the ones made before it."""
    done: List[Tuple[nn.Module, str, Optional[nn.Module]]] = []
    try:
        for parent, name, new in swaps:
            done.append((parent, name, parent._modules[name]))
            setattr(parent, name, new)
    except BaseException:
        for parent, name, old in reversed(done):
            parent._modules[name] = old
        raise

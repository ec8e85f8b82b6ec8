"""Modules mirroring torch.nn's dropout layers, and replace_dropout."""
from typing import Dict, Optional, cast

import torch
from torch import nn

import fastdrop as fd

from . import _checks
from . import functional as F

__all__ = ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "DropPath", "replace_dropout"]


class _MaskedModule(nn.Module):
    """The arguments every fastdrop.torch module shares: generator and shard."""

    def __init__(self, generator: Optional[fd.Generator] = None, shard: Optional[str] = None) -> None:
        super().__init__()
        self.generator = _checks.check_generator(generator)
        self.shard = _checks.check_shard(shard)

    def _extra(self) -> str:
        parts = []
        if self.generator is not None:
            parts.append(f"generator={self.generator!r}")
        if self.shard is not None:
            parts.append(f"shard={self.shard!r}")
        return "".join(", " + part for part in parts)


class _DropoutNd(_MaskedModule):
    """Dropout's arguments: p and inplace, checked as torch checks them."""

    def __init__(self, p: float = 0.5, inplace: bool = False, *, generator: Optional[fd.Generator] = None,
                 shard: Optional[str] = None) -> None:
        super().__init__(generator, shard)
        self.p = _checks.check_p(p)
        self.inplace = _checks.check_bool(inplace, "inplace")

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}" + self._extra()


class Dropout(_DropoutNd):
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
        return F.dropout(input, self.p, self.training, self.inplace, self.generator, shard=self.shard)


class Dropout1d(_DropoutNd):
    """Drop-in for :class:`torch.nn.Dropout1d`: one draw per channel of an
    (N, C, L) or (C, L) input.  Arguments as :class:`Dropout`."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return F.dropout1d(input, self.p, self.training, self.inplace, self.generator, self.shard)


class Dropout2d(_DropoutNd):
    """Drop-in for :class:`torch.nn.Dropout2d`: one draw per channel of an
    (N, C, H, W) input; a 3D input is read as (N, C, L), as torch does.
    Arguments as :class:`Dropout`."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return F.dropout2d(input, self.p, self.training, self.inplace, self.generator, self.shard)


class Dropout3d(_DropoutNd):
    """Drop-in for :class:`torch.nn.Dropout3d`: one draw per channel of an
    (N, C, D, H, W) or (C, D, H, W) input.  Arguments as :class:`Dropout`."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return F.dropout3d(input, self.p, self.training, self.inplace, self.generator, self.shard)


class AlphaDropout(_DropoutNd):
    """Drop-in for :class:`torch.nn.AlphaDropout` (for SELU networks):
    dropped units take SELU's negative saturation value, then an affine map
    keeps mean 0 and variance 1.  The gradient is ``a * mask * dy``, the mask
    regenerated.  Arguments as :class:`Dropout`."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
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
        super().__init__(generator, shard)
        self.drop_prob = _checks.check_p(drop_prob, "drop_prob")
        self.scale_by_keep = _checks.check_bool(scale_by_keep, "scale_by_keep")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return F.drop_path(input, self.drop_prob, self.training, self.scale_by_keep, self.generator, self.shard)

    def extra_repr(self) -> str:
        return f"drop_prob={round(self.drop_prob, 3):0.3f}" + self._extra()


_REPLACEMENTS: Dict[type, type] = {
    nn.Dropout: Dropout,
    nn.Dropout1d: Dropout1d,
    nn.Dropout2d: Dropout2d,
    nn.Dropout3d: Dropout3d,
    nn.AlphaDropout: AlphaDropout,
}


def replace_dropout(module: nn.Module, *, generator: Optional[fd.Generator] = None,
                    shard: Optional[str] = None) -> nn.Module:
    """Swap torch's dropout modules inside `module` for fastdrop's, in place.

    Every child, grandchild, ... whose type is exactly ``torch.nn.Dropout``,
    ``Dropout1d``, ``Dropout2d``, ``Dropout3d`` or ``AlphaDropout`` becomes
    the fastdrop.torch module of the same name with the same `p`,
    `inplace` and training mode.  Subclasses are left alone (their forward
    may do more), and so is ``FeatureAlphaDropout``, which fastdrop does not
    provide.  A module reached along two paths is replaced by one new module.
    Dropout modules have no parameters or buffers, so the model's state_dict
    is unchanged.

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

    Examples
    --------
    >>> import torch, fastdrop.torch as fdt
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Dropout(0.2))
    >>> fdt.replace_dropout(model)[1]
    Dropout(p=0.2, inplace=False)
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    _checks.check_generator(generator)
    _checks.check_shard(shard)
    return _replace(module, generator, shard, {})


def _replace(module: nn.Module, generator: Optional[fd.Generator], shard: Optional[str],
             done: Dict[int, nn.Module]) -> nn.Module:
    if id(module) in done:
        return done[id(module)]
    kind = _REPLACEMENTS.get(type(module))
    new: nn.Module
    if kind is not None:
        old = cast(nn.Dropout, module)  # all of torch's dropout modules have p and inplace
        new = kind(old.p, old.inplace, generator=generator, shard=shard).train(old.training)
    else:
        new = module
        for name, child in list(module.named_children()):
            replacement = _replace(child, generator, shard, done)
            if replacement is not child:
                setattr(module, name, replacement)
    done[id(module)] = new
    return new

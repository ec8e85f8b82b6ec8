"""DropPath (stochastic depth): drop a residual branch for whole samples.

Huang et al., "Deep Networks with Stochastic Depth", ECCV 2016.  Scaling
the kept samples by 1 / (1 - p) in training follows timm's ``DropPath`` and
torchvision's ``StochasticDepth``, so evaluation is the identity.
``fastdrop.graph.Residual(block, drop=fd.layer("droppath", p=0.1))`` puts
this layer on the branch.
"""
import fastdrop as fd

from fastdrop.plugin import BroadcastDropout, check_bool

__all__ = ["DropPath"]

MODES = ("row", "batch")


class DropPath(BroadcastDropout):
    """Stochastic depth: zero the whole input of a sample (or of the batch).

    Meant for the output of a residual branch, ``y = x + drop_path(f(x))``.

    Parameters
    ----------
    p : float in [0, 1], default 0.1
        Probability that a sample's branch is dropped ("row"), or the
        whole batch's ("batch").  Kept ones are scaled by 1 / (1 - p).
    mode : {'row', 'batch'}, default 'row'
        'row': one draw per sample (first axis), mask shape (N, 1, ..., 1);
        'batch': one draw for the whole batch, mask shape (1, ..., 1).
    scale_by_keep : bool, default True
        Scale kept samples by 1 / (1 - p) in training (timm's default), so
        that evaluation is the identity; False keeps them as they are.
    generator : fastdrop.Generator, optional
        Default: :func:`fastdrop.default_generator` at call time.

    Raises
    ------
    ValueError
        `mode` not 'row' or 'batch'; in forward, a 0-dimensional input.

    Examples
    --------
    >>> import numpy as np, fastdrop as fd
    >>> layer = fd.layer("droppath", p=0.5, generator=fd.Generator(0))
    >>> y = layer(np.ones((6, 3), np.float32))
    >>> bool(all(len(set(row.tolist())) == 1 for row in y))
    True
    """

    name = "droppath"
    description = "Stochastic depth: drops a residual branch per sample ('row') or per batch."

    def __init__(self, p=0.1, *, mode="row", scale_by_keep=True, generator=None):
        super().__init__(p, generator=generator)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.mode = mode
        self.scale_by_keep = check_bool(scale_by_keep, "scale_by_keep")

    def mask_shape(self, x):
        """(N, 1, ..., 1) in 'row' mode, (1, ..., 1) in 'batch' mode."""
        if x.ndim < 1:
            raise ValueError(f"x must have a batch axis (at least 1 dimension), got shape {x.shape}")
        if self.mode == "row":
            return (x.shape[0],) + (1,) * (x.ndim - 1)
        return (1,) * x.ndim

    def __repr__(self):
        return f"DropPath(p={self.p}, mode={self.mode!r}, scale_by_keep={self.scale_by_keep})"


@fd.hookimpl
def fastdrop_variants():
    """Provide droppath."""
    return [DropPath]

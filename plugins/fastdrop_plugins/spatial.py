"""Spatial (channel) dropout: drop whole feature maps.

Adjacent pixels of a convolutional feature map are strongly correlated, so
dropping single activations barely regularizes; dropping whole channels
does (Tompson et al., "Efficient Object Localization Using Convolutional
Networks", CVPR 2015).  The same as ``torch.nn.Dropout1d/2d/3d`` and Keras'
``SpatialDropout1D/2D/3D``.
"""
import fastdrop as fd

from fastdrop.plugin import BroadcastDropout, check_bool

__all__ = ["SpatialDropout1d", "SpatialDropout2d", "SpatialDropout3d"]


class _SpatialDropout(BroadcastDropout):
    spatial_dims = 0
    layout = layout_last = ""

    def __init__(self, p=0.5, *, channels_last=False, generator=None):
        super().__init__(p, generator=generator)
        self.channels_last = check_bool(channels_last, "channels_last")

    def mask_shape(self, x):
        """(N, C, 1, ...) or, with channels_last, (N, 1, ..., C)."""
        ndim = self.spatial_dims + 2
        if x.ndim != ndim:
            layout = self.layout_last if self.channels_last else self.layout
            raise ValueError(f"x must be {ndim}-dimensional {layout} for {self.name}, got shape {x.shape}")
        ones = (1,) * self.spatial_dims
        if self.channels_last:
            return (x.shape[0],) + ones + (x.shape[-1],)
        return (x.shape[0], x.shape[1]) + ones

    def __repr__(self):
        return f"{type(self).__name__}(p={self.p}, channels_last={self.channels_last})"


_DOC = """Drop whole channels of a {layout} input{torch}.

    Each (sample, channel) pair is dropped with probability `p`: its whole
    {extent} is zeroed; kept channels are scaled by 1 / (1 - p).  Evaluation
    is the identity.

    Parameters
    ----------
    p : float in [0, 1], default 0.5
        Probability that a channel of a sample is dropped.
    channels_last : bool, default False
        The input is {last} instead (channels on the last axis).
    generator : fastdrop.Generator, optional
        Default: :func:`fastdrop.default_generator` at call time.

    Raises
    ------
    ValueError
        In forward, an input that is not {ndim}-dimensional.

    Examples
    --------
    >>> import numpy as np, fastdrop as fd
    >>> layer = fd.layer("{name}", p=0.5, generator=fd.Generator(0))
    >>> y = layer(np.ones({example}, np.float32))
    >>> sorted(set(np.unique(y).tolist())) in ([0.0, 2.0], [0.0], [2.0])
    True
    """


class SpatialDropout1d(_SpatialDropout):
    name = "spatial1d"
    description = "Drops whole channels of (N, C, L) inputs, like torch.nn.Dropout1d."
    spatial_dims = 1
    layout, layout_last = "(N, C, L)", "(N, L, C)"
    __doc__ = _DOC.format(layout=layout, torch=" (torch.nn.Dropout1d)", extent="sequence",
                          last=layout_last, ndim=3, name=name, example="(2, 4, 5)")


class SpatialDropout2d(_SpatialDropout):
    name = "spatial2d"
    description = "Drops whole feature maps of (N, C, H, W) inputs, like torch.nn.Dropout2d."
    spatial_dims = 2
    layout, layout_last = "(N, C, H, W)", "(N, H, W, C)"
    __doc__ = _DOC.format(layout=layout, torch=" (torch.nn.Dropout2d)", extent="H x W map",
                          last=layout_last, ndim=4, name=name, example="(2, 4, 3, 3)")


class SpatialDropout3d(_SpatialDropout):
    name = "spatial3d"
    description = "Drops whole volumes of (N, C, D, H, W) inputs, like torch.nn.Dropout3d."
    spatial_dims = 3
    layout, layout_last = "(N, C, D, H, W)", "(N, D, H, W, C)"
    __doc__ = _DOC.format(layout=layout, torch=" (torch.nn.Dropout3d)", extent="D x H x W volume",
                          last=layout_last, ndim=5, name=name, example="(2, 4, 2, 2, 2)")


@fd.hookimpl
def fastdrop_variants():
    """Provide spatial1d, spatial2d and spatial3d."""
    return [SpatialDropout1d, SpatialDropout2d, SpatialDropout3d]

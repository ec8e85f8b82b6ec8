"""Locked (variational) dropout for sequences: one mask per sequence.

Gal & Ghahramani, "A Theoretically Grounded Application of Dropout in
Recurrent Neural Networks", NeurIPS 2016: the same units are dropped at
every time step of a sequence, which is what makes dropout work on the
inputs and outputs of recurrent layers.  Called "locked dropout" in
Merity et al.'s AWD-LSTM (2018).
"""
import fastdrop as fd

from fastdrop.plugin import BroadcastDropout, check_int

__all__ = ["LockedDropout"]


class LockedDropout(BroadcastDropout):
    """Dropout with one mask per sequence, shared over the time axis.

    Parameters
    ----------
    p : float in [0, 1], default 0.5
        Probability that a unit of a sequence is dropped (at every time
        step).  Kept units are scaled by 1 / (1 - p).
    time_axis : int, default 0
        The time axis of the input: 0 for (T, N, H), 1 for batch-first
        (N, T, H); negative values count from the end.
    generator : fastdrop.Generator, optional
        Default: :func:`fastdrop.default_generator` at call time.

    Raises
    ------
    TypeError
        `time_axis` is not an integer.
    ValueError
        In forward, an input with fewer than 2 dimensions, or `time_axis`
        outside the input's dimensions.

    Examples
    --------
    >>> import numpy as np, fastdrop as fd
    >>> layer = fd.layer("locked", p=0.5, generator=fd.Generator(0))
    >>> y = layer(np.ones((5, 2, 3), np.float32))
    >>> bool((y == y[0]).all())
    True
    """

    name = "locked"
    description = "Variational dropout: one mask per sequence, shared over time (Gal & Ghahramani 2016)."

    def __init__(self, p=0.5, *, time_axis=0, generator=None):
        super().__init__(p, generator=generator)
        self.time_axis = check_int(time_axis, "time_axis")

    def mask_shape(self, x):
        """The input's shape with the time axis set to 1."""
        if x.ndim < 2:
            raise ValueError(f"x must have a time axis and a feature axis (at least 2 dimensions), "
                             f"got shape {x.shape}")
        if not -x.ndim <= self.time_axis < x.ndim:
            raise ValueError(f"time_axis={self.time_axis} is out of range for an input of shape {x.shape}")
        shape = list(x.shape)
        shape[self.time_axis] = 1
        return tuple(shape)

    def __repr__(self):
        return f"LockedDropout(p={self.p}, time_axis={self.time_axis})"


@fd.hookimpl
def fastdrop_variants():
    """Provide locked."""
    return [LockedDropout]

"""DropBlock: drop contiguous squares of convolutional feature maps.

Ghiasi, Lin & Le, "DropBlock: A regularization method for convolutional
networks", NeurIPS 2018.  Neighbouring activations of a feature map carry
nearly the same information, so dropping single ones (or even, late in a
network, whole channels) regularizes poorly; dropping ``block_size x
block_size`` squares removes a region's information from the map.

The arguments mean what they mean in torchvision's ``ops.drop_block2d``:
`p` is the target fraction of dropped activations, from which the rate of
block seeds is derived (the paper's gamma), and the kept activations are
rescaled by the number of elements over the number kept, counted over the
whole batch.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

import fastdrop as fd
from fastdrop import graph

from fastdrop.plugin import (DropProbability, check_float_array, check_grad_shape, check_int, check_real,
                             compute_dtype, mask_drawn)

__all__ = ["DropBlock2d", "seed_rate", "block_mask"]


def seed_rate(p, block_size, height, width):
    """gamma, the probability that a valid position seeds a block (Ghiasi et al. 2018, eq. 1):

    ``gamma = p * H * W / (block_size**2 * (H - block_size + 1) * (W - block_size + 1))``,

    the expression torchvision's ``drop_block2d`` uses.  Each block drops
    block_size**2 elements and there are (H - block_size + 1) *
    (W - block_size + 1) valid seed positions, so without overlaps a
    fraction p of the H * W elements would be dropped.  gamma <= p.
    """
    return p * height * width / (block_size ** 2 * (height - block_size + 1) * (width - block_size + 1))


def block_mask(seeds, block_size):
    """Grow each seed of `seeds` (bool, (..., H - b + 1, W - b + 1)) into a b x b
    block: the dropped elements, bool (..., H, W).

    A seed at (i, j) drops rows i to i + b - 1 and columns j to j + b - 1;
    for odd b that is torchvision's block, centred on the seed's position
    padded by b // 2.  The dilation is a sliding maximum (``any``) along
    each spatial axis of the seeds padded by b - 1 zeros on both sides.
    """
    pad = block_size - 1
    grown = np.pad(seeds, [(0, 0)] * (seeds.ndim - 2) + [(pad, pad), (pad, pad)])
    for axis in (-2, -1):
        grown = sliding_window_view(grown, block_size, axis=axis).any(axis=-1)
    return grown


class DropBlock2d(DropProbability, graph.Variant):
    """DropBlock on (N, C, H, W) feature maps: square blocks dropped per sample and channel.

    In training, block seeds are drawn with probability
    ``gamma = seed_rate(p, block_size, H, W)`` over the (N, C, H - b + 1,
    W - b + 1) positions where a whole block fits; every element of each
    seed's b x b block is dropped, and the kept ones are scaled by
    ``numel / (eps + number kept)`` (over the whole batch), as torchvision's
    ``ops.drop_block2d``.  Evaluation is the identity.

    Parameters
    ----------
    p : float in [0, 1], default 0.1
        Target fraction of dropped activations (the paper's 1 - keep_prob).
    block_size : int >= 1, default 7
        Side of the square blocks.  A block larger than the feature map is
        clipped to ``min(block_size, H, W)``.
    eps : float > 0, default 1e-6
        Added to the number of kept elements before dividing.
    generator : fastdrop.Generator, optional
        Default: :func:`fastdrop.default_generator` at call time.

    Attributes
    ----------
    handle : fastdrop.DropoutHandle or None
        The last training draw: the seeds, drawn by fastdrop's kernel with
        drop probability gamma over the (N, C, H - b + 1, W - b + 1) seed
        positions; ``~handle.mask()`` are the seeds.  Backward regenerates
        them from the handle and grows the blocks again.

    Raises
    ------
    TypeError, ValueError
        A bad argument (named); in forward, an input that is not
        4-dimensional.  Nothing is changed then.

    Notes
    -----
    With overlapping blocks the fraction actually dropped is below p: an
    element covered by c possible seeds is dropped with probability
    1 - (1 - gamma)**c.  torchvision's arithmetic works for odd block
    sizes only; even ones drop the block whose top-left corner is the seed.
    The gradient is the forward multiplier (0 or the scale) times dy.

    Examples
    --------
    >>> import numpy as np, fastdrop as fd
    >>> layer = fd.layer("dropblock2d", p=0.3, block_size=3, generator=fd.Generator(0))
    >>> y = layer(np.ones((2, 4, 8, 8), np.float32))
    >>> dropped = y == 0
    >>> bool(dropped.any()), sorted(set(np.unique(y[~dropped]).round(4).tolist())) != [1.0]
    (True, True)
    """

    name = "dropblock2d"
    description = "Drops block_size x block_size squares of (N, C, H, W) feature maps (Ghiasi et al. 2018)."

    def __init__(self, p=0.1, block_size=7, *, eps=1e-6, generator=None):
        self._init_draws(p, generator)
        self.block_size = check_int(block_size, "block_size", low=1)
        self.eps = check_real(eps, "eps", 0.0, low_open=True)
        self._shape = None
        self._clipped = None

    def _multiplier(self, handle, dtype):
        """The forward multiplier, (N, C, H, W): 0 in the blocks, the batch scale elsewhere."""
        kept = ~block_mask(~handle.mask(), self._clipped)
        values = kept.astype(dtype)
        values *= dtype(kept.size / (self.eps + np.count_nonzero(kept)))
        return values

    def _times_multiplier(self, a, handle):
        """a times the multiplier, computed in float32 (float64 for float64), in a new array of a's dtype."""
        multiplier = self._multiplier(handle, compute_dtype(a.dtype))
        return np.multiply(a, multiplier, out=np.empty(a.shape, a.dtype), casting="same_kind")

    def forward(self, x):
        x = check_float_array(x)
        if x.ndim != 4:
            raise ValueError(f"x must be 4-dimensional (N, C, H, W) for dropblock2d, got shape {x.shape}")
        if not self.training or self._p == 0.0:
            self.handle, self._shape = None, x.shape
            return x
        n, c, height, width = x.shape
        size = min(self.block_size, height, width)
        gamma = seed_rate(self._p, size, height, width)
        handle = fd.dropout_handle((n, c, height - size + 1, width - size + 1), gamma, generator=self.generator)
        self.handle, self._shape, self._clipped = handle, x.shape, size
        y = self._times_multiplier(x, handle)
        mask_drawn(self, handle)
        return y

    def backward(self, dy):
        if self._shape is None:
            raise RuntimeError("DropBlock2d.backward called before forward")
        dy = check_grad_shape(dy, self._shape)
        if self.handle is None:
            return dy
        return self._times_multiplier(dy, self.handle)

    def __repr__(self):
        return f"DropBlock2d(p={self.p}, block_size={self.block_size})"


@fd.hookimpl
def fastdrop_variants():
    """Provide dropblock2d."""
    return [DropBlock2d]

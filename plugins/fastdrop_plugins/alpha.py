"""Alpha dropout, for self-normalizing networks (SELU activations).

Klambauer, Unterthiner, Mayr & Hochreiter, "Self-Normalizing Neural
Networks", NeurIPS 2017, section 3 ("New Dropout Technique").  Dropped
units are set to SELU's negative saturation value alpha' = -lambda * alpha
instead of 0, then an affine map ``a * y + b`` restores the mean and
variance the input had (0 and 1 for standard-normal input), which ordinary
dropout would change.
"""
import math

import numpy as np

import fastdrop as fd
from fastdrop import graph

from fastdrop.plugin import DropProbability, check_float_array, check_grad_shape, check_p_below_one, compute_dtype, mask_drawn

__all__ = ["AlphaDropout", "SELU_ALPHA", "SELU_LAMBDA", "ALPHA_PRIME", "affine_coefficients"]

# The SELU constants for a fixed point at mean 0, variance 1, as published by
# Klambauer et al. (2017), equation (14) and the text after it.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_LAMBDA = 1.0507009873554804934193349852946
ALPHA_PRIME = -SELU_LAMBDA * SELU_ALPHA


def affine_coefficients(keep_prob):
    """(a, b) of alpha dropout for keep probability q (Klambauer et al. 2017):

    a = (q + alpha'^2 q (1 - q))^(-1/2),  b = -a (1 - q) alpha'.
    """
    q = keep_prob
    a = 1.0 / math.sqrt(q + ALPHA_PRIME * ALPHA_PRIME * q * (1.0 - q))
    return a, -a * (1.0 - q) * ALPHA_PRIME



class AlphaDropout(DropProbability, graph.Variant):
    """Alpha dropout: ``a * (x * d + alpha' * (1 - d)) + b`` with d ~ Bernoulli(1 - p).

    Keeps zero mean and unit variance of a standard-normal input (the
    fixed point of SELU networks).  Evaluation is the identity.

    Parameters
    ----------
    p : float in [0, 1), default 0.1
        Probability that a unit is set to alpha'.  The paper recommends
        0.05 or 0.1.  p = 1 is refused: the affine correction is undefined.
    generator : fastdrop.Generator, optional
        Default: :func:`fastdrop.default_generator` at call time.

    Attributes
    ----------
    handle : fastdrop.DropoutHandle or None
        The last training draw ('standard' mode: mask values are 0 or 1).

    Notes
    -----
    The coefficients use the realised keep probability of the 32-bit
    threshold, ``handle.keep_prob``, which differs from 1 - p by < 2**-33.
    The gradient is ``a * d * dy``.

    Examples
    --------
    >>> import numpy as np, fastdrop as fd
    >>> layer = fd.layer("alpha", p=0.1, generator=fd.Generator(0))
    >>> x = np.random.default_rng(0).standard_normal(100_000)
    >>> y = layer(x)
    >>> bool(abs(y.mean()) < 0.02 and abs(y.var() - 1) < 0.03)
    True
    """

    name = "alpha"
    description = "Alpha dropout for SELU networks: keeps mean 0 and variance 1 (Klambauer et al. 2017)."

    check_probability = staticmethod(check_p_below_one)

    def __init__(self, p=0.1, *, generator=None):
        self._init_draws(p, generator)
        self._shape = None

    def forward(self, x):
        x = check_float_array(x)
        if not self.training or self._p == 0.0:
            self.handle, self._shape = None, x.shape
            return x
        y, handle = fd.dropout(x, self._p, mode="standard", generator=self.generator, return_handle=True)
        a, b = affine_coefficients(handle.keep_prob)
        kept = handle.mask_values(compute_dtype(x.dtype))
        kept *= ALPHA_PRIME
        y -= kept
        y *= a
        y += a * ALPHA_PRIME + b
        self.handle, self._shape = handle, x.shape
        mask_drawn(self, handle)
        return y

    def backward(self, dy):
        if self._shape is None:
            raise RuntimeError("AlphaDropout.backward called before forward")
        dy = check_grad_shape(dy, self._shape)
        if self.handle is None:
            return dy
        a, _ = affine_coefficients(self.handle.keep_prob)
        dx = fd.dropout_backward(dy, self.handle)
        dx *= a
        return dx

    def __repr__(self):
        return f"AlphaDropout(p={self.p})"


@fd.hookimpl
def fastdrop_variants():
    """Provide alpha."""
    return [AlphaDropout]

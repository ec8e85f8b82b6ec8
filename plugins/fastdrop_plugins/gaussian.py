"""Gaussian dropout: multiply by N(1, p / (1 - p)) noise instead of a mask.

Srivastava, Hinton, Krizhevsky, Sutskever & Salakhutdinov, "Dropout: A
Simple Way to Prevent Neural Networks from Overfitting", JMLR 2014,
section 10: multiplicative Gaussian noise with the variance of inverted
Bernoulli dropout, p / (1 - p) for drop probability p, works as well or
better.  The noise comes from the Philox stream in C
(:func:`fastdrop.standard_normal`) and is regenerated in backward.
"""
import math
from dataclasses import dataclass

import numpy as np

import fastdrop as fd
from fastdrop import graph

from fastdrop.plugin import DropProbability, check_float_array, check_grad_shape, check_p_below_one, compute_dtype, mask_drawn

__all__ = ["GaussianDropout", "NoiseHandle"]


@dataclass(frozen=True)
class NoiseHandle:
    """What backward needs to regenerate a Gaussian dropout draw.

    Attributes
    ----------
    key : (int, int)
    counter : int
        First counter block of the draw.
    rounds : int
    p : float
    shape : tuple
        Shape of the input (and of the noise).
    """

    key: tuple
    counter: int
    rounds: int
    p: float
    shape: tuple
    training: bool = True

    @property
    def mask_shape(self):
        return self.shape

    @property
    def sigma(self):
        """Standard deviation of the noise, sqrt(p / (1 - p))."""
        return math.sqrt(self.p / (1.0 - self.p))

    @property
    def counter_range(self):
        """(start, stop) of the counter blocks the draw consumed."""
        return (self.counter, self.counter + fd.normal_blocks(math.prod(self.shape)))

    def noise(self, dtype=np.float64):
        """The multiplicative noise 1 + sigma * z, of shape `shape`."""
        z = fd.standard_normal(self.shape, self.key, self.counter, self.rounds)
        z *= self.sigma
        z += 1.0
        return z.astype(dtype, copy=False)



def _times_noise(a, handle):
    noise = handle.noise(compute_dtype(a.dtype))
    return np.multiply(a, noise, out=np.empty(a.shape, a.dtype), casting="same_kind")


class GaussianDropout(DropProbability, graph.Variant):
    """Multiplicative Gaussian noise, ``y = x * (1 + sigma * z)``, z ~ N(0, 1).

    sigma**2 = p / (1 - p), the variance inverted Bernoulli dropout with
    drop probability p would give; the mean is 1, so evaluation is the
    identity.

    Parameters
    ----------
    p : float in [0, 1), default 0.5
        The drop probability whose variance is matched.  p = 1 (infinite
        variance) is refused.
    generator : fastdrop.Generator, optional
        Default: :func:`fastdrop.default_generator` at call time.

    Attributes
    ----------
    handle : NoiseHandle or None
        The last training draw; ``handle.noise()`` regenerates the noise.

    Examples
    --------
    >>> import numpy as np, fastdrop as fd
    >>> layer = fd.layer("gaussian", p=0.5, generator=fd.Generator(0))
    >>> y = layer(np.ones(100_000))
    >>> bool(abs(y.mean() - 1) < 0.02 and abs(y.var() - 1) < 0.03)
    True
    """

    name = "gaussian"
    description = "Multiplicative N(1, p/(1-p)) noise instead of a mask (Srivastava et al. 2014)."

    check_probability = staticmethod(check_p_below_one)

    def __init__(self, p=0.5, *, generator=None):
        self._init_draws(p, generator)
        self._shape = None

    def forward(self, x):
        x = check_float_array(x)
        if not self.training or self._p == 0.0:
            self.handle, self._shape = None, x.shape
            return x
        generator = self.generator or fd.default_generator()
        start = generator.reserve(fd.normal_blocks(x.size))
        handle = NoiseHandle(generator.key, start, generator.rounds, self._p, x.shape)
        y = _times_noise(x, handle)
        self.handle, self._shape = handle, x.shape
        mask_drawn(self, handle)
        return y

    def backward(self, dy):
        if self._shape is None:
            raise RuntimeError("GaussianDropout.backward called before forward")
        dy = check_grad_shape(dy, self._shape)
        if self.handle is None:
            return dy
        return _times_noise(dy, self.handle)

    def __repr__(self):
        return f"GaussianDropout(p={self.p})"


@fd.hookimpl
def fastdrop_variants():
    """Provide gaussian."""
    return [GaussianDropout]

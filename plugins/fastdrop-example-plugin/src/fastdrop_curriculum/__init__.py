"""Curriculum dropout for fastdrop, an example third-party variant plugin.

Morerio, Cavazza, Volpi, Vidal & Murino, "Curriculum Dropout", ICCV 2017:
the keep probability decays from 1 to its final value 1 - p as
``theta(t) = p * exp(-gamma * t) + (1 - p)``, i.e. the drop probability
rises as ``p(t) = p * (1 - exp(-gamma * t))``.  Easy examples first: the
network starts without noise and is regularized more as training goes on.

The plugin is this module; fastdrop finds it through the entry point
``curriculum = "fastdrop_curriculum"`` of the group ``fastdrop`` (see
``pyproject.toml``) and calls :func:`fastdrop_variants`.
"""
import math

import fastdrop as fd
from fastdrop.plugin import Variant, check_generator, check_int, check_p, check_real, mask_drawn

__all__ = ["CurriculumDropout"]
__version__ = "0.1.0"


class CurriculumDropout(Variant):
    """Elementwise inverted dropout whose rate rises from 0 to `p` over training.

    Training forward call number t (counting from 0) drops each element
    with probability ``p * (1 - exp(-gamma * t))`` and scales the kept ones
    by the inverse keep probability; evaluation is the identity and does
    not advance the schedule.

    Parameters
    ----------
    p : float in [0, 1], default 0.5
        The final drop probability, approached as training goes on.
    gamma : float > 0, default 1e-3
        Speed of the schedule; Morerio et al. suggest 10 / T for T
        training steps.
    generator : fastdrop.Generator, optional
        Default: :func:`fastdrop.default_generator` at call time.

    Attributes
    ----------
    step : int
        Training forward calls so far (settable, e.g. to resume training).
    handle : fastdrop.DropoutHandle or None
        The last training draw.

    Raises
    ------
    TypeError, ValueError
        Invalid arguments; the message names the argument.

    Examples
    --------
    >>> import numpy as np, fastdrop as fd
    >>> layer = fd.layer("curriculum", p=0.5, gamma=0.1, generator=fd.Generator(0))
    >>> layer.current_p
    0.0
    >>> y = layer(np.ones(4))
    >>> layer.step, round(layer.current_p, 4)
    (1, 0.0476)
    """

    name = "curriculum"
    description = "Curriculum dropout: the drop rate rises from 0 to p during training (Morerio et al. 2017)."

    def __init__(self, p=0.5, *, gamma=1e-3, generator=None):
        self.p = check_p(p)
        self.gamma = check_real(gamma, "gamma", 0.0, math.inf, low_open=True, high_open=True)
        self.generator = check_generator(generator)
        self.step = 0
        self.handle = None

    @property
    def step(self):
        return self._step

    @step.setter
    def step(self, value):
        self._step = check_int(value, "step", low=0)

    @property
    def current_p(self):
        """The drop probability the next training call will use."""
        return self.p * -math.expm1(-self.gamma * self._step)

    def forward(self, x):
        y, handle = fd.dropout(x, self.current_p, training=self.training, generator=self.generator,
                               return_handle=True)
        self.handle = handle
        if self.training:
            self._step += 1
            mask_drawn(self, handle)
        return y

    def backward(self, dy):
        if self.handle is None:
            raise RuntimeError("CurriculumDropout.backward called before forward")
        return fd.dropout_backward(dy, self.handle)

    def __repr__(self):
        return f"CurriculumDropout(p={self.p}, gamma={self.gamma}, step={self.step})"


@fd.hookimpl
def fastdrop_variants():
    """Provide the "curriculum" variant."""
    return [CurriculumDropout]

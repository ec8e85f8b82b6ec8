"""The core's own plugin: plain elementwise dropout, and nothing else.

Every other variant lives in a plugin found through the ``fastdrop``
entry-point group, exactly as a third party's would be.
"""
from __future__ import annotations

from typing import List, Optional, Type

import numpy as np

from ._dropout import dropout, dropout_backward
from ._handle import DropoutHandle, check_mode
from ._hooks import mask_drawn
from ._layer import Variant
from ._random import Generator
from ._validation import check_float_array, check_generator, check_p
from .hookspecs import hookimpl

__all__ = ["Dropout", "fastdrop_variants"]


class Dropout(Variant):
    """Elementwise dropout (Srivastava et al., JMLR 2014) with fastdrop's kernels.

    In training each element is zeroed with probability `p`; backward
    regenerates the same mask from a small handle, so no mask is stored.

    Parameters
    ----------
    p : float in [0, 1], default 0.5
        Drop probability.
    mode : {'inverted', 'standard'}, default 'inverted'
        'inverted' scales kept elements by 1 / (1 - p) in training and is
        the identity in evaluation; 'standard' scales by 1 - p in evaluation.
    generator : fastdrop.Generator, optional
        Source of the masks; default :func:`fastdrop.default_generator`.

    Notes
    -----
    Inside a :class:`fastdrop.graph.Sequential`, after a layer whose output
    is a fresh array (Linear, ReLU), the mask is applied in place on that
    array; the same holds for the gradient in backward.  Every mask drawn in
    training is announced through the ``fastdrop_mask_drawn`` hook.

    Examples
    --------
    >>> import numpy as np, fastdrop as fd
    >>> from fastdrop import graph
    >>> layer = graph.Dropout(0.5, generator=fd.Generator(0))
    >>> y = layer(np.ones(8, np.float32))
    >>> bool(np.array_equal(layer.backward(np.ones(8, np.float32)), y))
    True
    """

    name = "dropout"
    description = "Elementwise dropout: zero each activation with probability p (Srivastava et al. 2014)."

    def __init__(self, p: float = 0.5, mode: str = "inverted", generator: Optional[Generator] = None) -> None:
        self.p = check_p(p)
        self.mode = check_mode(mode)
        self.generator = check_generator(generator)
        self.handle: Optional[DropoutHandle] = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = check_float_array(x)
        if self.p == 0.0:
            self.handle = None
            return x
        y, self.handle = dropout(x, self.p, training=self.training, mode=self.mode,
                                 inplace=self.overwrite_input, generator=self.generator, return_handle=True)
        if self.training:
            mask_drawn(self, self.handle)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        if self.handle is None:
            return dy
        return dropout_backward(dy, self.handle, inplace=self.overwrite_grad)

    def __repr__(self) -> str:
        return f"Dropout(p={self.p}, mode={self.mode!r})"


@hookimpl
def fastdrop_variants() -> List[Type[Variant]]:
    """Provide :class:`Dropout` (registered as ``"dropout"``)."""
    return [Dropout]

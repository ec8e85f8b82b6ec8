"""DropConnect: a Linear layer whose weights, not activations, are dropped.

Wan, Zeiler, Zhang, LeCun & Fergus, "Regularization of Neural Networks
using DropConnect", ICML 2013.  The paper draws a mask per example; this
layer draws one weight mask per forward call, shared by the batch, so the
forward pass stays one matrix product and the mask costs one kernel call
over the weight matrix.
"""
import numpy as np

import fastdrop as fd
from fastdrop import graph

from fastdrop.plugin import DropProbability, check_float_array, mask_drawn

__all__ = ["DropConnectLinear"]


class DropConnectLinear(DropProbability, graph.Variant, graph.Linear):
    """``y = x @ (weight * mask / (1 - p)) + bias``, one mask per forward call.

    In training each weight is dropped with probability `p` and the kept
    ones are scaled by 1 / (1 - p) (inverted scaling), so evaluation uses
    the plain weights.  The bias is not masked.  Backward regenerates the
    mask from the stored handle: the weight gradient is masked and scaled
    the same way, and the input gradient uses the same masked weights.

    Parameters
    ----------
    in_features, out_features : int, default 1
        Sizes of the input's last axis and of the output's.
    p : float in [0, 1], default 0.5
        Probability that a weight is dropped.
    bias : bool, default True
    rng : numpy.random.Generator, int or None
        Source of the initial weights, as in :class:`fastdrop.graph.Linear`.
    dtype : float dtype, default float32
    generator : fastdrop.Generator, optional
        Source of the masks; default :func:`fastdrop.default_generator`.

    Attributes
    ----------
    weight : fastdrop.graph.Parameter, shape (in_features, out_features)
    bias : fastdrop.graph.Parameter of shape (out_features,), or None
    handle : fastdrop.DropoutHandle or None
        The last training draw, over the weight's shape.

    Raises
    ------
    TypeError, ValueError
        Invalid arguments (the message names the argument).

    Notes
    -----
    Backward assumes the weights have not changed since the forward call
    (step the optimizer after backward, as usual): the masked weights are
    recomputed from them rather than stored.

    Examples
    --------
    >>> import numpy as np, fastdrop as fd
    >>> layer = fd.layer("dropconnect", in_features=4, out_features=2, p=0.5, rng=0,
    ...                  generator=fd.Generator(0))
    >>> y = layer(np.ones((3, 4), np.float32))
    >>> bool((y[0] == y[1]).all())
    True
    """

    name = "dropconnect"
    description = "Linear layer with dropped weights, one mask per forward call (Wan et al. 2013)."

    def __init__(self, in_features=1, out_features=1, p=0.5, bias=True, *, rng=None, dtype=np.float32,
                 generator=None):
        self._init_draws(p, generator)
        graph.Linear.__init__(self, in_features, out_features, bias=bias, rng=rng, dtype=dtype)

    def _masked_weight(self, handle):
        if handle is None:
            return self.weight.data
        return fd.dropout_backward(self.weight.data, handle)

    def forward(self, x):
        x = check_float_array(x)
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise ValueError(f"x must have last dimension {self.in_features}, got shape {x.shape}")
        handle = None
        if self.training and self._p > 0.0:
            weight, handle = fd.dropout(self.weight.data, self._p, generator=self.generator,
                                        return_handle=True)
        else:
            weight = self.weight.data
        y = x @ weight
        if self.bias is not None:
            y += self.bias.data
        self._x, self.handle = x, handle
        if handle is not None:
            mask_drawn(self, handle)
        return y

    def backward(self, dy):
        if self._x is None:
            raise RuntimeError("DropConnectLinear.backward called before forward")
        dy = check_float_array(dy, "dy")
        expected = self._x.shape[:-1] + (self.out_features,)
        if dy.shape != expected:
            raise ValueError(f"dy has shape {dy.shape}, expected {expected} from the last forward input")
        dy2d = dy.reshape(-1, self.out_features)
        grad_weight = self._x.reshape(-1, self.in_features).T @ dy2d
        if self.handle is not None:
            grad_weight = fd.dropout_backward(grad_weight, self.handle, inplace=True)
        dx = dy @ self._masked_weight(self.handle).T
        self.weight.grad += grad_weight
        if self.bias is not None:
            self.bias.grad += dy2d.sum(axis=0)
        return dx

    def __repr__(self):
        return (f"DropConnectLinear({self.in_features}, {self.out_features}, p={self.p}, "
                f"bias={self.bias is not None})")


@fd.hookimpl
def fastdrop_variants():
    """Provide dropconnect."""
    return [DropConnectLinear]

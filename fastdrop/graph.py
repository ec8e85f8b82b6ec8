"""A minimal layer graph: enough to train real networks on a CPU with
fastdrop's dropout.  Each layer keeps its backward next to its forward."""
import numpy as np

__all__ = ["Parameter", "Layer", "Variant"]


class Parameter:
    """A trainable array and its gradient (same shape, zero until backward)."""

    def __init__(self, data):
        self.data = np.asarray(data)
        self.grad = np.zeros_like(self.data)

    def zero_grad(self):
        self.grad[...] = 0

    def __repr__(self):
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


class Layer:
    """Base of every layer: forward(x), backward(dy), parameters(), train()/eval()."""

    training = True

    def forward(self, x):
        raise NotImplementedError

    def backward(self, dy):
        raise NotImplementedError

    def __call__(self, x):
        return self.forward(x)

    def children(self):
        """Sub-layers, for containers."""
        return []

    def parameters(self):
        params = []
        for child in self.children():
            params.extend(child.parameters())
        return params

    def zero_grad(self):
        for param in self.parameters():
            param.zero_grad()

    def train(self, mode=True):
        """Switch this layer and every sub-layer to training (mode=True) or evaluation."""
        self.training = bool(mode)
        for child in self.children():
            child.train(mode)
        return self

    def eval(self):
        return self.train(False)


class Variant(Layer):
    """Base of every dropout variant plugin.

    Subclasses set ``name`` (unique registry name) and ``description`` (one
    line), and must be constructible with no arguments.
    """

    name = None
    description = ""

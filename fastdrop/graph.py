"""A minimal layer graph: enough to train real networks on a CPU with
fastdrop's dropout.  Each layer keeps its backward next to its forward.

Read top to bottom: parameters and the layer base, the layers, the
containers, the losses, the optimizers, then saving, building a model from
data, and Monte Carlo dropout.

Examples
--------
>>> import numpy as np, fastdrop as fd
>>> from fastdrop import graph as G
>>> model = G.Sequential([G.Linear(4, 16, rng=0), G.ReLU(),
...                       G.Dropout(0.5, generator=fd.Generator(0)), G.Linear(16, 3, rng=1)])
>>> x = np.ones((8, 4), np.float32)
>>> loss, dlogits = G.softmax_cross_entropy(model(x), np.zeros(8, dtype=int))
>>> dx = model.backward(dlogits)
>>> model[0].weight.grad.shape
(4, 16)
"""
import math
import numbers
import os

import numpy as np

from . import _registry
from ._dropout import MODES, check_p, dropout, dropout_backward
from ._random import Generator

__all__ = ["Parameter", "Layer", "Variant", "Linear", "ReLU", "Tanh", "Dropout", "Sequential",
           "Residual", "softmax_cross_entropy", "mse", "SGD", "Adam", "save", "load", "build",
           "mc_predict"]


# ---------------------------------------------------------------- validation helpers

def _check_positive_int(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return int(value)


def _check_real(value, name, low, high=math.inf, low_open=False, high_open=False):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if math.isnan(value) or too_low or too_high:
        lo, hi = "(" if low_open else "[", ")" if high_open else "]"
        raise ValueError(f"{name} must be in {lo}{low}, {high}{hi}, got {value}")
    return value


def _check_float_input(x, name="x"):
    if not isinstance(x, np.ndarray):
        x = np.asarray(x)
    if x.dtype.kind != "f":
        raise TypeError(f"{name} must be a floating-point array, got dtype {x.dtype}")
    return x


def _check_layer(layer, name):
    if not isinstance(layer, Layer):
        raise TypeError(f"{name} must be a fastdrop.graph.Layer, got {type(layer).__name__}")
    return layer


def _check_generator(generator):
    if generator is not None and not isinstance(generator, Generator):
        raise TypeError(f"generator must be a fastdrop.Generator or None, got {type(generator).__name__}")
    return generator


# ---------------------------------------------------------------- parameters and the base

class Parameter:
    """A trainable array and its gradient.

    Parameters
    ----------
    data : array_like
        The initial value (kept as an ndarray, not copied if it is one).

    Attributes
    ----------
    data : ndarray
        The value; optimizers update it in place.
    grad : ndarray
        Same shape and dtype, zero until a backward pass adds into it.
    """

    def __init__(self, data):
        self.data = np.asarray(data)
        self.grad = np.zeros_like(self.data)

    def zero_grad(self):
        self.grad[...] = 0

    def __repr__(self):
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


class Layer:
    """Base of every layer: forward(x), backward(dy), parameters(), train()/eval().

    ``forward`` keeps what ``backward`` needs; ``backward(dy)`` adds the
    parameter gradients into each ``Parameter.grad`` and returns dL/dx.

    Attributes
    ----------
    training : bool
        Training (True, the default) or evaluation mode.
    fresh_output, fresh_grad : bool
        Class facts: True when forward (backward) returns a new array that
        the layer keeps no reference to, so the next layer may overwrite it.
    overwrite_input, overwrite_grad : bool
        Set by containers: True when this layer may write into the array
        forward (backward) receives.  Only layers that gain from working in
        place read them (e.g. :class:`Dropout`).
    """

    training = True
    fresh_output = False
    fresh_grad = False
    overwrite_input = False
    overwrite_grad = False

    def forward(self, x):
        raise NotImplementedError

    def backward(self, dy):
        raise NotImplementedError

    def __call__(self, x):
        return self.forward(x)

    def children(self):
        """Sub-layers, for containers."""
        return []

    def modules(self):
        """This layer and every layer below it, depth first."""
        found = [self]
        for child in self.children():
            found.extend(child.modules())
        return found

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
        if not isinstance(mode, (bool, np.bool_)):
            raise TypeError(f"mode must be True or False, got {mode!r}")
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


# ---------------------------------------------------------------- layers

class Linear(Layer):
    """Affine map ``y = x @ weight + bias``.

    Parameters
    ----------
    in_features, out_features : int
        Sizes of the last axis of the input and of the output.
    bias : bool, default True
    rng : numpy.random.Generator, int or None
        Source of the initial weights (an int seeds a new NumPy generator).
    dtype : float dtype, default float32

    Attributes
    ----------
    weight : Parameter, shape (in_features, out_features)
        He initialisation: normal with standard deviation sqrt(2 / in_features),
        which keeps the activation variance constant through ReLU layers
        (He et al., "Delving Deep into Rectifiers", ICCV 2015).
    bias : Parameter of shape (out_features,), or None
        Zero at first.
    """

    fresh_output = True
    fresh_grad = True

    def __init__(self, in_features, out_features, bias=True, rng=None, dtype=np.float32):
        self.in_features = _check_positive_int(in_features, "in_features")
        self.out_features = _check_positive_int(out_features, "out_features")
        if not isinstance(bias, (bool, np.bool_)):
            raise TypeError(f"bias must be True or False, got {bias!r}")
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"dtype must be a floating-point dtype, got {dtype}")
        if rng is None or (isinstance(rng, numbers.Integral) and not isinstance(rng, bool)):
            rng = np.random.default_rng(rng)
        elif not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, an int or None, got {type(rng).__name__}")
        std = math.sqrt(2.0 / self.in_features)
        self.weight = Parameter(rng.normal(0.0, std, (self.in_features, self.out_features)).astype(dtype))
        self.bias = Parameter(np.zeros(self.out_features, dtype)) if bias else None
        self._x = None

    def parameters(self):
        return [self.weight] if self.bias is None else [self.weight, self.bias]

    def forward(self, x):
        x = _check_float_input(x)
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise ValueError(f"x must have last dimension {self.in_features}, got shape {x.shape}")
        self._x = x
        y = x @ self.weight.data
        if self.bias is not None:
            y += self.bias.data
        return y

    def backward(self, dy):
        x2d = self._x.reshape(-1, self.in_features)
        dy2d = dy.reshape(-1, self.out_features)
        self.weight.grad += x2d.T @ dy2d
        if self.bias is not None:
            self.bias.grad += dy2d.sum(axis=0)
        return dy @ self.weight.data.T

    def __repr__(self):
        return f"Linear({self.in_features}, {self.out_features}, bias={self.bias is not None})"


class ReLU(Layer):
    """``max(x, 0)`` elementwise; the gradient passes where x > 0."""

    fresh_output = True
    fresh_grad = True

    def forward(self, x):
        self._x = _check_float_input(x)
        return np.maximum(self._x, 0)

    def backward(self, dy):
        return dy * (self._x > 0)

    def __repr__(self):
        return "ReLU()"


class Tanh(Layer):
    """``tanh(x)`` elementwise; backward uses the stored output, 1 - y**2."""

    fresh_grad = True

    def forward(self, x):
        self._y = np.tanh(_check_float_input(x))
        return self._y

    def backward(self, dy):
        return dy * (1 - self._y * self._y)

    def __repr__(self):
        return "Tanh()"


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
    Inside a :class:`Sequential`, after a layer whose output is a fresh
    array (Linear, ReLU), the mask is applied in place on that array; the
    same holds for the gradient in backward.  Every mask drawn in training
    is announced through the ``fastdrop_mask_drawn`` hook.
    """

    name = "dropout"
    description = "Elementwise dropout: zero each activation with probability p (Srivastava et al. 2014)."

    def __init__(self, p=0.5, mode="inverted", generator=None):
        self.p = check_p(p)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.mode = mode
        self.generator = _check_generator(generator)
        self.handle = None

    def forward(self, x):
        x = _check_float_input(x)
        if self.p == 0.0:
            self.handle = None
            return x
        y, self.handle = dropout(x, self.p, training=self.training, mode=self.mode,
                                 inplace=self.overwrite_input, generator=self.generator,
                                 return_handle=True)
        if self.training:
            _registry.mask_drawn(self, self.handle)
        return y

    def backward(self, dy):
        if self.handle is None:
            return dy
        return dropout_backward(dy, self.handle, inplace=self.overwrite_grad)

    def __repr__(self):
        return f"Dropout(p={self.p}, mode={self.mode!r})"


# ---------------------------------------------------------------- containers

class Sequential(Layer):
    """Layers applied one after the other; backward runs them in reverse.

    Parameters
    ----------
    layers : list of Layer

    Notes
    -----
    A layer that follows one with a fresh output is allowed to overwrite its
    input (``overwrite_input``), and a layer that precedes one with a fresh
    gradient its incoming gradient (``overwrite_grad``): that is what lets
    Dropout work in place without copying.
    """

    def __init__(self, layers):
        if isinstance(layers, Layer) or not isinstance(layers, (list, tuple)):
            raise TypeError(f"layers must be a list of Layer objects, got {type(layers).__name__}")
        for i, layer in enumerate(layers):
            _check_layer(layer, f"layers[{i}]")
        self.layers = list(layers)
        for before, layer in zip(self.layers, self.layers[1:]):
            layer.overwrite_input = before.fresh_output
            before.overwrite_grad = layer.fresh_grad

    @property
    def fresh_output(self):
        return bool(self.layers) and self.layers[-1].fresh_output

    @property
    def fresh_grad(self):
        return bool(self.layers) and self.layers[0].fresh_grad

    def children(self):
        return list(self.layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dy):
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
        return dy

    def __getitem__(self, i):
        return self.layers[i]

    def __len__(self):
        return len(self.layers)

    def __repr__(self):
        inner = ",\n".join("  " + repr(layer).replace("\n", "\n  ") for layer in self.layers)
        return f"Sequential([\n{inner}\n])"


class Residual(Layer):
    """``y = x + drop_path(block(x))``: a skip connection around `block`.

    Parameters
    ----------
    block : Layer
        Must return an array of the input's shape.
    drop_path : float in [0, 1), default 0.0
        If positive, the block's output goes through the registry's
        ``"droppath"`` layer (whole samples of the branch dropped; Huang et
        al., "Deep Networks with Stochastic Depth", 2016).
    generator : fastdrop.Generator, optional
        Passed to the droppath layer.
    """

    fresh_output = True
    fresh_grad = True

    def __init__(self, block, drop_path=0.0, generator=None):
        self.block = _check_layer(block, "block")
        self.drop_path = _check_real(drop_path, "drop_path", 0.0, 1.0, high_open=True)
        _check_generator(generator)
        self.drop_path_layer = None
        if self.drop_path > 0:
            self.drop_path_layer = _registry.layer("droppath", p=self.drop_path, generator=generator)
            self.drop_path_layer.overwrite_input = block.fresh_output

    def children(self):
        return [self.block] if self.drop_path_layer is None else [self.block, self.drop_path_layer]

    def forward(self, x):
        x = _check_float_input(x)
        h = self.block.forward(x)
        if h.shape != x.shape:
            raise ValueError(f"block must keep the input's shape {x.shape}, but it returned {h.shape}")
        if self.drop_path_layer is not None:
            h = self.drop_path_layer.forward(h)
        return x + h

    def backward(self, dy):
        dh = dy if self.drop_path_layer is None else self.drop_path_layer.backward(dy)
        return dy + self.block.backward(dh)

    def __repr__(self):
        block = repr(self.block).replace("\n", "\n  ")
        return f"Residual({block}, drop_path={self.drop_path})"


# ---------------------------------------------------------------- losses

def softmax_cross_entropy(logits, labels):
    """Mean cross-entropy of softmax(logits) against integer labels.

    Parameters
    ----------
    logits : float array, shape (n, classes)
    labels : integer array, shape (n,), values in [0, classes)

    Returns
    -------
    loss : float
    dlogits : array like `logits`
        d loss / d logits = (softmax(logits) - onehot(labels)) / n.
    """
    logits = _check_float_input(logits, "logits")
    if logits.ndim != 2 or logits.shape[0] == 0:
        raise ValueError(f"logits must have shape (n, classes) with n >= 1, got {logits.shape}")
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"labels must be an integer array, got dtype {labels.dtype}")
    n, classes = logits.shape
    if labels.shape != (n,):
        raise ValueError(f"labels must have shape ({n},) to match logits, got {labels.shape}")
    if labels.min() < 0 or labels.max() >= classes:
        raise ValueError(f"labels must be in [0, {classes}), got values in [{labels.min()}, {labels.max()}]")
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    log_probs = shifted - log_norm
    rows = np.arange(n)
    loss = -float(log_probs[rows, labels].mean())
    dlogits = np.exp(log_probs)
    dlogits[rows, labels] -= 1
    dlogits /= n
    return loss, dlogits


def mse(pred, target):
    """Mean squared error ``mean((pred - target)**2)`` and its gradient ``2 (pred - target) / size``."""
    pred = _check_float_input(pred, "pred")
    target = np.asarray(target)
    if target.shape != pred.shape:
        raise ValueError(f"target must have the shape of pred {pred.shape}, got {target.shape}")
    if pred.size == 0:
        raise ValueError("pred must not be empty")
    diff = pred - target
    return float(np.mean(diff * diff)), (2.0 / pred.size) * diff


# ---------------------------------------------------------------- optimizers

class _Optimizer:
    def __init__(self, params, lr):
        if isinstance(params, (Parameter, Layer)) or not hasattr(params, "__iter__"):
            raise TypeError("params must be an iterable of Parameter objects, e.g. model.parameters()")
        params = list(params)
        for i, param in enumerate(params):
            if not isinstance(param, Parameter):
                raise TypeError(f"params[{i}] must be a Parameter, got {type(param).__name__}")
        if not params:
            raise ValueError("params must not be empty")
        self.params = params
        self.lr = _check_real(lr, "lr", 0.0, low_open=True)

    def zero_grad(self):
        for param in self.params:
            param.zero_grad()


class SGD(_Optimizer):
    """Stochastic gradient descent with optional momentum and L2 weight decay.

    Parameters
    ----------
    params : iterable of Parameter
    lr : float > 0
    momentum : float in [0, 1), default 0
        Velocity ``v = momentum * v + g``; step ``-lr * v``.
    weight_decay : float >= 0, default 0
        Adds ``weight_decay * w`` to the gradient.
    """

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0):
        super().__init__(params, lr)
        self.momentum = _check_real(momentum, "momentum", 0.0, 1.0, high_open=True)
        self.weight_decay = _check_real(weight_decay, "weight_decay", 0.0)
        self.velocity = [np.zeros_like(p.data) for p in self.params] if self.momentum else None

    def step(self):
        for i, param in enumerate(self.params):
            grad = param.grad
            if self.weight_decay:
                grad = grad + self.weight_decay * param.data
            if self.velocity is not None:
                velocity = self.velocity[i]
                velocity *= self.momentum
                velocity += grad
                grad = velocity
            param.data -= self.lr * grad


class Adam(_Optimizer):
    """Adam (Kingma & Ba, 2015) with decoupled weight decay (AdamW; Loshchilov & Hutter, 2019).

    Parameters
    ----------
    params : iterable of Parameter
    lr : float > 0, default 1e-3
    betas : (float, float) in [0, 1), default (0.9, 0.999)
        Decay rates of the first and second moment estimates.
    eps : float > 0, default 1e-8
    weight_decay : float >= 0, default 0
        Each step multiplies the weights by ``1 - lr * weight_decay``,
        separately from the gradient step.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"betas must be a pair of floats, got {betas!r}")
        self.betas = tuple(_check_real(b, f"betas[{i}]", 0.0, 1.0, high_open=True)
                           for i, b in enumerate(betas))
        self.eps = _check_real(eps, "eps", 0.0, low_open=True)
        self.weight_decay = _check_real(weight_decay, "weight_decay", 0.0)
        self.m = [np.zeros_like(p.data) for p in self.params]
        self.v = [np.zeros_like(p.data) for p in self.params]
        self.t = 0

    def step(self):
        self.t += 1
        beta1, beta2 = self.betas
        step_size = self.lr * math.sqrt(1 - beta2 ** self.t) / (1 - beta1 ** self.t)
        eps_hat = self.eps * math.sqrt(1 - beta2 ** self.t)
        for param, m, v in zip(self.params, self.m, self.v):
            grad = param.grad
            m *= beta1
            m += (1 - beta1) * grad
            v *= beta2
            v += (1 - beta2) * (grad * grad)
            if self.weight_decay:
                param.data *= 1 - self.lr * self.weight_decay
            param.data -= step_size * m / (np.sqrt(v) + eps_hat)


# ---------------------------------------------------------------- saving and loading

def _check_path(path):
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    return path


def save(model, path):
    """Write ``model.parameters()`` to an ``.npz`` file, in order, as ``param_0``, ``param_1``, ..."""
    _check_layer(model, "model")
    path = _check_path(path)
    np.savez(path, **{f"param_{i}": p.data for i, p in enumerate(model.parameters())})


def load(model, path):
    """Copy the parameters saved by :func:`save` into `model` (same architecture).

    Raises ValueError, changing nothing, if the file does not match the
    model's parameter count or shapes.
    """
    _check_layer(model, "model")
    path = _check_path(path)
    params = model.parameters()
    names = [f"param_{i}" for i in range(len(params))]
    with np.load(path) as saved:
        if sorted(saved.files) != sorted(names):
            raise ValueError(f"path {os.fspath(path)!r} holds {len(saved.files)} arrays, "
                             f"but the model has {len(params)} parameters")
        arrays = [saved[name] for name in names]
    for i, (param, array) in enumerate(zip(params, arrays)):
        if array.shape != param.data.shape:
            raise ValueError(f"parameter {i} in {os.fspath(path)!r} has shape {array.shape}, "
                             f"but the model's has shape {param.data.shape}")
    for param, array in zip(params, arrays):
        np.copyto(param.data, array, casting="same_kind")
    return model


# ---------------------------------------------------------------- models as data

def _build_sequential(layers):
    return build(layers)


def _build_residual(block, **kwargs):
    if isinstance(block, (list, tuple)):
        block = build(block)
    return Residual(block, **kwargs)


CORE_LAYERS = {
    "linear": Linear,
    "relu": ReLU,
    "tanh": Tanh,
    "sequential": _build_sequential,
    "residual": _build_residual,
}


def build(spec):
    """A :class:`Sequential` from data: a list of ``(name, kwargs)`` pairs.

    Core layer names ("linear", "relu", "tanh", "sequential" with
    ``layers=[...]``, "residual" with ``block=[...]``) are built here; any
    other name (every dropout variant, "dropout" included) is resolved
    through the plugin registry, :func:`fastdrop.layer`.  A bare name
    stands for ``(name, {})``.

    Examples
    --------
    >>> from fastdrop import graph as G
    >>> G.build([("linear", {"in_features": 4, "out_features": 8}), "relu"])[1]
    ReLU()
    """
    if not isinstance(spec, (list, tuple)):
        raise TypeError(f"spec must be a list of (name, kwargs) pairs, got {type(spec).__name__}")
    entries = []
    for i, item in enumerate(spec):
        if isinstance(item, str):
            item = (item, {})
        if (not isinstance(item, (list, tuple)) or len(item) != 2 or not isinstance(item[0], str)
                or not isinstance(item[1], dict)):
            raise TypeError(f"spec[{i}] must be a (name, kwargs) pair with a str name and a dict, got {item!r}")
        entries.append(item)
    layers = []
    for name, kwargs in entries:
        make = CORE_LAYERS.get(name)
        layers.append(make(**kwargs) if make is not None else _registry.layer(name, **kwargs))
    return Sequential(layers)


# ---------------------------------------------------------------- Monte Carlo dropout

def _softmax(logits):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


def mc_predict(model, x, T=30):
    """Monte Carlo dropout (Gal & Ghahramani, ICML 2016): T stochastic passes.

    Every dropout variant in `model` is put in training mode and every other
    layer in evaluation mode for the passes; all modes are restored after.

    Parameters
    ----------
    model : Layer
        Returns logits of shape (..., classes).
    x : float array
    T : int >= 1, default 30

    Returns
    -------
    mean : ndarray
        Mean over the passes of softmax(logits).
    std : ndarray
        Their standard deviation (population, ddof = 0), same shape.

    Notes
    -----
    The masks come from the dropout layers' generators, so the result is a
    pure function of their states: reset them (``set_state``) to repeat it.
    """
    _check_layer(model, "model")
    x = _check_float_input(x)
    T = _check_positive_int(T, "T")
    layers = model.modules()
    modes = [layer.training for layer in layers]
    try:
        for layer in layers:
            layer.training = isinstance(layer, Variant)
        total = total_sq = None
        for _ in range(T):
            probs = _softmax(model.forward(x)).astype(np.float64)
            if total is None:
                total, total_sq = probs, probs * probs
            else:
                total += probs
                total_sq += probs * probs
    finally:
        for layer, mode in zip(layers, modes):
            layer.training = mode
    mean = total / T
    std = np.sqrt(np.maximum(total_sq / T - mean * mean, 0.0))
    return mean, std

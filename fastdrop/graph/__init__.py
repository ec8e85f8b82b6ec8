"""A minimal layer graph: enough to train real networks on a CPU with
fastdrop's dropout.  Each layer keeps its backward next to its forward.

The modules read top to bottom: ``layers`` (dense layers and activations),
``conv`` (convolutions), ``pool`` (pooling and flattening), ``norm`` (layer
and batch normalization), ``embedding``, ``attention`` (self-attention),
``recurrent`` (GRU), ``containers``, ``losses``, ``optim``, ``io`` (save
and load), ``build`` (models as data) and ``mc`` (Monte Carlo dropout).  The base classes
(:class:`Parameter`, :class:`Layer`, :class:`Variant`) and the core's
:class:`Dropout` come from fastdrop's core.

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
from .._builtin import Dropout
from .._layer import Layer, Parameter, Variant
from .attention import SelfAttention
from .build import CORE_LAYERS, build, register_core_layer
from .containers import Residual, Sequential
from .conv import Conv1d, Conv2d
from .embedding import Embedding
from .io import buffers, load, save
from .layers import Linear, ReLU, Tanh
from .losses import mse, softmax_cross_entropy
from .mc import mc_predict
from .norm import BatchNorm, LayerNorm
from .optim import SGD, Adam
from .pool import Flatten, GlobalAvgPool, MaxPool2d
from .recurrent import GRU

__all__ = ["Parameter", "Layer", "Variant", "Linear", "ReLU", "Tanh", "Dropout", "Sequential",
           "Residual", "Conv1d", "Conv2d", "MaxPool2d", "GlobalAvgPool", "Flatten", "Embedding",
           "LayerNorm", "BatchNorm", "SelfAttention", "GRU", "softmax_cross_entropy", "mse", "SGD", "Adam",
           "save", "load", "buffers", "build", "register_core_layer", "mc_predict", "CORE_LAYERS"]

"""fastdrop for PyTorch: drop-in dropout modules for CPU tensors.

``fastdrop.torch.Dropout`` replaces ``torch.nn.Dropout`` (likewise
Dropout1d/2d/3d, AlphaDropout, and timm-style DropPath): the mask comes from
fastdrop's counter-based Philox kernels, and backward regenerates it from
the call's seed (key and counter) instead of keeping it.  The kernels are
custom operators (namespace ``fastdrop``) with fake kernels and autograd
formulas, so models using them compile with ``torch.compile``.

Importing ``fastdrop`` never imports torch; this module needs the
``torch`` extra (``pip install "fastdropout[torch]"``).

Examples
--------
>>> import torch, fastdrop.torch as fdt
>>> model = torch.nn.Sequential(torch.nn.Linear(8, 8), fdt.Dropout(0.1), torch.nn.Linear(8, 2))
>>> torch.manual_seed(0) is not None
True
>>> a = model(torch.ones(3, 8))
>>> _ = torch.manual_seed(0)
>>> bool(torch.equal(a, model(torch.ones(3, 8))))
True
"""
from .functional import checkpoint_context, dropout
from .modules import AlphaDropout, Dropout, Dropout1d, Dropout2d, Dropout3d, DropPath, replace_dropout

__all__ = ["dropout", "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "DropPath",
           "replace_dropout", "checkpoint_context"]

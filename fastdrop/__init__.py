"""fastdrop: fast, bit-reproducible dropout on NumPy buffers, on the CPU.

The public names are re-exported here; see the README for the guarantees
(determinism, precision, memory) and ``fastdrop.graph`` for layers.
"""
import os as _os

from ._random import (CounterExhaustedError, Generator, default_generator, normal_blocks, philox4x32,
                      seed, standard_normal)
from ._dropout import (DropoutHandle, available_isas, dropout, dropout_backward, get_isa,
                       get_num_threads, set_isa, set_num_threads)
from ._registry import PluginError, PluginWarning, hookimpl, layer, mask_drawn, register, unregister, variants
from .graph import Variant

__version__ = "0.1.0"

__all__ = [
    "Generator", "CounterExhaustedError", "seed", "default_generator", "philox4x32",
    "standard_normal", "normal_blocks",
    "dropout", "dropout_backward", "DropoutHandle",
    "set_num_threads", "get_num_threads", "set_isa", "get_isa", "available_isas",
    "variants", "layer", "register", "unregister", "hookimpl", "mask_drawn", "Variant",
    "PluginError", "PluginWarning", "get_include", "__version__",
]


def get_include():
    """Directory of fastdrop's C headers, for extensions that ``cimport fastdrop._kernels``."""
    return _os.path.join(_os.path.dirname(__file__), "include")

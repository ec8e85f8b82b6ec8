"""fastdrop: fast, bit-reproducible dropout on NumPy buffers, on the CPU.

The public names are re-exported here; ``fastdrop.graph`` holds the layers,
``fastdrop.plugin`` the API for writing variant plugins, and the optional
``fastdrop.torch`` and ``fastdrop.dask`` the adapters (never imported here).
"""
import os as _os

from ._version import __version__

try:
    from . import _kernels
except ImportError as _exc:  # pragma: no cover - exercised from an unbuilt source tree
    _here = _os.path.dirname(_os.path.abspath(__file__))
    if _os.path.exists(_os.path.join(_here, "_kernels.pyx")):
        if any(_name.startswith("_kernels.") and _name.endswith((".so", ".pyd")) for _name in _os.listdir(_here)):
            raise ImportError(
                f"fastdrop's compiled core (fastdrop._kernels) in the source tree at {_here} failed to load: "
                f"{_exc}.  Rebuild it there (pip install -e .), or run Python from another directory to "
                f"use an installed fastdrop.") from None
        raise ImportError(
            f"fastdrop's compiled core (fastdrop._kernels) is not built in the source tree at {_here}, "
            f"which Python imported instead of an installed fastdrop (it is the current directory, or "
            f"on sys.path).  Install the package (pip install fastdropout) and run Python from another "
            f"directory, or, to work on fastdrop itself, install it in development mode from the source "
            f"tree: pip install -e .") from None
    raise

from ._config import (available_isas, config_context, get_config, get_isa, get_num_threads, set_config, set_isa,
                      set_num_threads)
from ._dropout import dropout, dropout_backward, dropout_handle
from ._handle import DropoutHandle
from ._hooks import mask_drawn
from ._layer import Variant
from ._plugin_checks import DuplicateVariantError, InvalidVariantError, PluginError, PluginWarning
from ._random import (CounterExhaustedError, Generator, default_generator, normal_blocks, philox4x32, seed,
                      standard_normal)
from ._shared import layer, register, unregister, variants
from .hookspecs import hookimpl

__all__ = [
    "Generator", "CounterExhaustedError", "seed", "default_generator", "philox4x32",
    "standard_normal", "normal_blocks",
    "dropout", "dropout_backward", "dropout_handle", "DropoutHandle",
    "set_num_threads", "get_num_threads", "set_isa", "get_isa", "available_isas",
    "get_config", "set_config", "config_context",
    "variants", "layer", "register", "unregister", "hookimpl", "mask_drawn", "Variant",
    "PluginError", "PluginWarning", "InvalidVariantError", "DuplicateVariantError",
    "get_include", "__version__",
]


def get_include() -> str:
    """Directory of fastdrop's C headers, for extensions that ``cimport fastdrop._kernels``."""
    return _os.path.join(_os.path.dirname(__file__), "include")

"""Argument checks shared by the functional API and the modules.

Each check names the argument it rejects and runs before anything is drawn
or written, so a call that raises has changed nothing.
"""
import importlib.util
import numbers
from typing import Optional

import numpy as np
import torch

import fastdrop as fd

__all__ = ["FLOAT_DTYPES", "KERNEL_DTYPES", "HAS_ML_DTYPES", "check_tensor", "check_input", "check_p",
           "check_bool", "check_generator", "check_shard", "check_writable"]

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
# NumPy sees bfloat16 through ml_dtypes (the torch extra installs it)
HAS_ML_DTYPES = importlib.util.find_spec("ml_dtypes") is not None
KERNEL_DTYPES = FLOAT_DTYPES if HAS_ML_DTYPES else tuple(d for d in FLOAT_DTYPES if d != torch.bfloat16)
SHARDS = (None, "batch")


def check_tensor(x: object, name: str = "input") -> torch.Tensor:
    """A torch.Tensor of any kind, or a TypeError naming `name`."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    return x


def check_input(x: object, name: str = "input") -> torch.Tensor:
    """A dense floating-point CPU tensor, or a TypeError/ValueError naming `name`."""
    t = check_tensor(x, name)
    if t.is_nested:
        raise TypeError(f"{name} must be a dense (strided) tensor, got a nested tensor: apply dropout "
                        f"to its components ({name}.unbind()) or, for the jagged layout, to {name}.values()")
    if t.layout != torch.strided:
        raise TypeError(f"{name} must be a dense (strided) tensor, got layout {t.layout}; "
                        f"convert it with .to_dense() first")
    if t.device.type != "cpu":
        raise ValueError(f"{name} must be a CPU tensor, got device {t.device}: "
                         f"fastdrop's kernels run on the CPU only")
    if t.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must have dtype float16, bfloat16, float32 or float64, got {t.dtype}")
    if t.dtype not in KERNEL_DTYPES:
        raise TypeError(f"{name} is bfloat16, which needs the ml_dtypes package "
                        f"(pip install 'fastdropout[torch]')")
    return t


def check_writable(x: torch.Tensor, name: str = "input") -> None:
    """Refuse in-place writes that torch's in-place operators refuse: into an
    inference tensor outside inference mode, or into a tensor whose elements
    share memory (an expanded tensor)."""
    if not torch.compiler.is_compiling() and x.is_inference() and not torch.is_inference_mode_enabled():
        raise RuntimeError(f"{name} is an inference tensor (made under torch.inference_mode), which torch "
                           f"does not let be written in place outside inference mode: use inplace=False "
                           f"or clone it first")
    if any(stride == 0 and size > 1 for size, stride in zip(x.shape, x.stride())):
        raise RuntimeError(f"{name} has elements that share memory (stride 0, e.g. from expand()); "
                           f"it cannot be written in place: pass a clone or use inplace=False")


def check_p(p: object, name: str = "p") -> float:
    """A drop probability in [0, 1] as a float (a 0-d real tensor, which
    torch's dropout takes too, gives its value); NaN is refused.  The message
    for a value outside [0, 1] has torch's words."""
    if isinstance(p, torch.Tensor) and p.dim() == 0 and not p.dtype.is_complex and p.dtype != torch.bool:
        p = p.item()
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(f"dropout probability {name} must be a real number in [0, 1], "
                        f"got {type(p).__name__}")
    p = float(p)
    if not 0.0 <= p <= 1.0:  # NaN too; comparisons, unlike math.isnan, trace under torch.compile
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p} (argument {name})")
    return p


def check_bool(value: object, name: str) -> bool:
    """True or False (a NumPy bool too)."""
    if isinstance(value, np.bool_):
        return bool(value)
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def check_generator(generator: object, name: str = "generator") -> Optional[fd.Generator]:
    if generator is not None and not isinstance(generator, fd.Generator):
        raise TypeError(f"{name} must be a fastdrop.Generator or None (None draws the key from "
                        f"torch's default generator), got {type(generator).__name__}")
    return generator


def check_shard(shard: object, name: str = "shard") -> Optional[str]:
    if shard not in SHARDS:
        raise ValueError(f"{name} must be None or 'batch', got {shard!r}")
    return shard

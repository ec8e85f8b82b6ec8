"""Stream numbers for fastdrop.Generators used inside compiled graphs."""
from typing import Any, Callable, Optional

import torch

import fastdrop as fd

from ._streams import STREAM_ATTR, next_stream, streams

__all__ = ["register"]


def _register(generator: fd.Generator) -> int:
    number: Optional[int] = getattr(generator, STREAM_ATTR, None)
    if number is None:
        number = next(next_stream)
        streams[number] = generator
        setattr(generator, STREAM_ATTR, number)
    return number


# Give `generator` a stream number unless it has one; draw_seed finds it by
# that number.  Marked as a constant, it runs for real while torch.compile
# traces, so the number is a constant of the graph; the attribute read in
# stream_id then guards the graph on it.
_mark_constant: Any = torch.compiler.assume_constant_result  # untyped in torch
register: Callable[[fd.Generator], int] = _mark_constant(_register)

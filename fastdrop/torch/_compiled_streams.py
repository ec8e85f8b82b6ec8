"""Stream numbers for fastdrop.Generators used inside compiled graphs."""
import torch

from ._streams import STREAM_ATTR, next_stream, streams

__all__ = ["register"]


@torch.compiler.assume_constant_result
def register(generator):
    """Give `generator` a stream number; draw_seed finds it by that number.

    Runs for real while torch.compile traces, so the number is a constant of
    the graph; the attribute read in stream_id then guards the graph on it.
    """
    number = next(next_stream)
    streams[number] = generator
    setattr(generator, STREAM_ATTR, number)
    return number

"""Monte Carlo dropout: predictive mean and spread from stochastic passes."""
from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from .._layer import Layer, Variant
from .._validation import check_float_array, check_int
from .containers import check_layer
from .losses import softmax

__all__ = ["mc_predict"]


def mc_predict(model: Layer, x: Any, T: int = 30) -> Tuple[np.ndarray, np.ndarray]:
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
    check_layer(model, "model")
    x = check_float_array(x)
    T = check_int(T, "T", low=1)
    layers = model.modules()
    modes = [layer.training for layer in layers]
    total: Optional[np.ndarray] = None
    total_sq: Optional[np.ndarray] = None
    try:
        for layer in layers:
            layer.training = isinstance(layer, Variant)
        for _ in range(T):
            probs = softmax(model.forward(x)).astype(np.float64)
            if total is None or total_sq is None:
                total, total_sq = probs, probs * probs
            else:
                total += probs
                total_sq += probs * probs
    finally:
        for layer, mode in zip(layers, modes):
            layer.training = mode
    assert total is not None and total_sq is not None
    mean = total / T
    std = np.sqrt(np.maximum(total_sq / T - mean * mean, 0.0))
    return mean, std

"""Losses: each returns the loss value and its gradient with respect to the prediction."""
from __future__ import annotations

from typing import Any, Tuple

import numpy as np
import numpy.typing as npt

from .._validation import check_float_array

__all__ = ["softmax_cross_entropy", "mse", "softmax"]


def softmax(logits: np.ndarray) -> np.ndarray:
    """softmax over the last axis, computed stably (max subtracted first)."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


def softmax_cross_entropy(logits: Any, labels: npt.ArrayLike) -> Tuple[float, np.ndarray]:
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

    Examples
    --------
    >>> import numpy as np
    >>> from fastdrop import graph
    >>> loss, grad = graph.softmax_cross_entropy(np.zeros((2, 4)), np.array([0, 3]))
    >>> round(loss, 4), grad.shape
    (1.3863, (2, 4))
    """
    logits = check_float_array(logits, "logits")
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


def mse(pred: Any, target: npt.ArrayLike) -> Tuple[float, np.ndarray]:
    """Mean squared error ``mean((pred - target)**2)`` and its gradient ``2 (pred - target) / size``."""
    pred = check_float_array(pred, "pred")
    target = np.asarray(target)
    if target.shape != pred.shape:
        raise ValueError(f"target must have the shape of pred {pred.shape}, got {target.shape}")
    if pred.size == 0:
        raise ValueError("pred must not be empty")
    diff = pred - target
    return float(np.mean(diff * diff)), (2.0 / pred.size) * diff

"""Helpers shared by the variant and plugin tests."""
import numpy as np

import fastdrop as fd


class MaskRecorder:
    """An observer plugin: records every (layer, handle) fastdrop_mask_drawn sees."""

    def __init__(self):
        self.seen = []

    @fd.hookimpl
    def fastdrop_mask_drawn(self, layer, handle):
        self.seen.append((layer, handle))


def numeric_grad(loss, array, eps=1e-6):
    """Central finite differences of the scalar `loss()` with respect to `array` (in place)."""
    grad = np.zeros(array.shape, dtype=np.float64)
    for index in np.ndindex(array.shape):
        original = array[index]
        array[index] = original + eps
        upper = loss()
        array[index] = original - eps
        lower = loss()
        array[index] = original
        grad[index] = (upper - lower) / (2 * eps)
    return grad


def binomial_sigma(p, n):
    """Standard deviation of the fraction of successes in n Bernoulli(p) trials."""
    return np.sqrt(p * (1 - p) / n)

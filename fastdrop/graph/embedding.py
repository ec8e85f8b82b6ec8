"""A lookup table of learned vectors, one per token id."""
from __future__ import annotations

from typing import Any, List, Optional, cast

import numpy as np
import numpy.typing as npt

from .._layer import Layer, Parameter
from .._validation import check_grad_shape, check_int
from .layers import RngLike, check_float_dtype, make_rng

__all__ = ["Embedding"]


class Embedding(Layer):
    """``y = weight[ids]``: the row of a learned table for each token id.

    Parameters
    ----------
    num_embeddings : int >= 1
        Number of token ids (rows of the table).
    embedding_dim : int >= 1
        Length of each vector.
    rng : numpy.random.Generator, int or None
        Source of the initial weights (an int seeds a new NumPy generator).
    dtype : float dtype, default float32

    Attributes
    ----------
    weight : Parameter, shape (num_embeddings, embedding_dim)
        Standard normal at first, as torch's ``nn.Embedding``.

    Raises
    ------
    TypeError, ValueError
        A bad argument (named); in forward, ids that are not integers or
        fall outside [0, num_embeddings).

    Notes
    -----
    ``forward(ids)`` takes an integer array of any shape and returns
    ``ids.shape + (embedding_dim,)``.  ``backward(dy)`` adds each
    gradient row into the weight row of its id (ids that repeat add up)
    and returns None: integer ids have no gradient, so an Embedding is the
    first layer of a model.

    Examples
    --------
    >>> import numpy as np
    >>> from fastdrop import graph
    >>> emb = graph.Embedding(10, 4, rng=0)
    >>> emb(np.array([[1, 2, 1]])).shape
    (1, 3, 4)
    >>> emb.backward(np.ones((1, 3, 4), np.float32))
    >>> emb.weight.grad[1]
    array([2., 2., 2., 2.], dtype=float32)
    """

    fresh_output = True

    def __init__(self, num_embeddings: int, embedding_dim: int, rng: RngLike = None,
                 dtype: Any = np.float32) -> None:
        self.num_embeddings = check_int(num_embeddings, "num_embeddings", low=1)
        self.embedding_dim = check_int(embedding_dim, "embedding_dim", low=1)
        dtype = check_float_dtype(dtype)
        self.weight = Parameter(make_rng(rng).standard_normal((self.num_embeddings, self.embedding_dim))
                                .astype(dtype))
        self._ids: Optional[np.ndarray] = None

    def parameters(self) -> List[Parameter]:
        return [self.weight]

    # The three steps below are shared with subclasses that scale rows (embedding dropout).

    def _check_ids(self, ids: Any) -> np.ndarray:
        """`ids` as an integer array with every value in [0, num_embeddings)."""
        ids = np.asarray(ids)
        if ids.dtype.kind not in "iu":
            raise TypeError(f"ids must be an integer array of token ids, got dtype {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.num_embeddings):
            raise ValueError(f"ids must be in [0, {self.num_embeddings}), got values in [{ids.min()}, {ids.max()}]")
        return ids

    def _check_grad(self, dy: Any) -> np.ndarray:
        if self._ids is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        return check_grad_shape(dy, self._ids.shape + (self.embedding_dim,))

    def _add_rows(self, dy: np.ndarray) -> None:
        ids = cast(np.ndarray, self._ids)   # forward set it (_check_grad has checked)
        np.add.at(self.weight.grad, ids.reshape(-1), dy.reshape(-1, self.embedding_dim))

    def forward(self, ids: npt.ArrayLike) -> np.ndarray:
        self._ids = self._check_ids(ids)
        return self.weight.data[self._ids]

    def backward(self, dy: Any) -> None:
        self._add_rows(self._check_grad(dy))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.num_embeddings}, {self.embedding_dim})"

"""Embedding dropout: drop whole token ids, not single coordinates.

Gal & Ghahramani, "A Theoretically Grounded Application of Dropout in
Recurrent Neural Networks", NeurIPS 2016, section 4 ("Word embeddings
dropout"): dropping rows of the embedding matrix drops a word type
everywhere it occurs in the input at once, which regularizes the
embedding itself.  Merity et al.'s AWD-LSTM (ICLR 2018) uses it with
inverted scaling, one mask per forward call; so does this layer.
"""
import numpy as np

import fastdrop as fd
from fastdrop import graph

from fastdrop.plugin import DropProbability, compute_dtype, mask_drawn

__all__ = ["EmbeddingDropout"]


class EmbeddingDropout(DropProbability, graph.Variant, graph.Embedding):
    """An :class:`fastdrop.graph.Embedding` whose rows are dropped, one row mask per forward call.

    In training each row of the table (each token id) is dropped with
    probability `p` for the whole call, so every occurrence of a dropped
    id in the batch gets a zero vector, and the kept rows are scaled by
    1 / (1 - p).  Evaluation is the plain embedding.

    Parameters
    ----------
    num_embeddings, embedding_dim : int >= 1, default 1
        Size of the table, as in :class:`fastdrop.graph.Embedding`.
    p : float in [0, 1], default 0.1
        Probability that a token id is dropped.
    rng : numpy.random.Generator, int or None
        Source of the initial weights (standard normal, as torch's).
    dtype : float dtype, default float32
    generator : fastdrop.Generator, optional
        Source of the masks; default :func:`fastdrop.default_generator`.

    Attributes
    ----------
    weight : fastdrop.graph.Parameter, shape (num_embeddings, embedding_dim)
    handle : fastdrop.DropoutHandle or None
        The last training draw: shape (num_embeddings, embedding_dim),
        mask shape (num_embeddings, 1), one keep decision per row drawn by
        fastdrop's kernel.  ``handle.apply(weight)`` is the dropped table.

    Raises
    ------
    TypeError, ValueError
        A bad argument (named); in forward, ids that are not integers in
        [0, num_embeddings).  Nothing is changed then.

    Notes
    -----
    Only the rows the batch uses are multiplied: forward gathers them and
    scales each by its row's mask value, so a call costs one draw per row
    of the table (no pass over the table's values).  Backward regenerates
    the row mask from the handle; the weight gradient of a dropped id is
    zero.  Like :class:`fastdrop.graph.Embedding`, backward returns None.

    Examples
    --------
    >>> import numpy as np, fastdrop as fd
    >>> emb = fd.layer("embedding_dropout", num_embeddings=50, embedding_dim=4, p=0.5, rng=0,
    ...                generator=fd.Generator(0))
    >>> ids = np.array([[3, 7, 3, 3]])
    >>> y = emb(ids)
    >>> bool((y[0, 0] == y[0, 2]).all() and (y[0, 0] == y[0, 3]).all())   # one decision per id
    True
    """

    name = "embedding_dropout"
    description = "Embedding whose rows (whole token ids) are dropped per forward call (Gal & Ghahramani 2016)."

    def __init__(self, num_embeddings=1, embedding_dim=1, p=0.1, *, rng=None, dtype=np.float32, generator=None):
        self._init_draws(p, generator)
        graph.Embedding.__init__(self, num_embeddings, embedding_dim, rng=rng, dtype=dtype)

    def _scaled(self, rows, handle):
        """rows (..., embedding_dim), gathered for self._ids, times their row's mask value."""
        row_values = handle.mask_values(compute_dtype(rows.dtype))[self._ids]
        return np.multiply(rows, row_values, out=np.empty(rows.shape, rows.dtype), casting="same_kind")

    def forward(self, ids):
        ids = self._check_ids(ids)
        handle = None
        if self.training and self._p > 0.0:
            handle = fd.dropout_handle(self.weight.data.shape, self._p, generator=self.generator,
                                       mask_shape=(self.num_embeddings, 1))
        self._ids, self.handle = ids, handle
        rows = self.weight.data[ids]
        if handle is None:
            return rows
        rows = self._scaled(rows, handle)
        mask_drawn(self, handle)
        return rows

    def backward(self, dy):
        dy = self._check_grad(dy)
        self._add_rows(dy if self.handle is None else self._scaled(dy, self.handle))

    def __repr__(self):
        return f"EmbeddingDropout({self.num_embeddings}, {self.embedding_dim}, p={self.p})"


@fd.hookimpl
def fastdrop_variants():
    """Provide embedding_dropout."""
    return [EmbeddingDropout]

"""Multi-head self-attention with dropout on the attention probabilities."""
from __future__ import annotations

import math
from typing import Any, List, Optional, Tuple

import numpy as np

from .._dropout import dropout, dropout_backward
from .._handle import DropoutHandle
from .._layer import Layer
from .._random import Generator
from .._validation import check_bool, check_generator, check_grad_shape, check_int, check_p
from .layers import Linear, RngLike, check_input_shape, make_rng
from .losses import softmax

__all__ = ["SelfAttention"]


class SelfAttention(Layer):
    """Multi-head scaled dot-product self-attention (Vaswani et al., NeurIPS 2017) of (N, T, dim) inputs.

    ``q, k, v = split(x @ Wqkv + bqkv)``; per head,
    ``A = softmax(q k^T / sqrt(dim / heads))`` (with the future masked
    out if `causal`), ``A`` goes through dropout in training, and the
    heads' ``A v`` are concatenated and projected: ``y = concat @ Wo + bo``.
    torch's ``nn.MultiheadAttention(dim, heads, dropout=attn_dropout,
    batch_first=True)`` called with ``(x, x, x)`` computes the same.

    Parameters
    ----------
    dim : int >= 1
        Feature size of the input and output; a multiple of `heads`.
    heads : int >= 1
        Number of attention heads, each of size ``dim // heads``.
    attn_dropout : float in [0, 1], default 0.0
        Drop probability of each attention probability in training
        (inverted scaling); evaluation uses the probabilities as they are.
    causal : bool, default False
        Position t attends to positions <= t only.
    rng : numpy.random.Generator, int or None
        Source of the initial weights.
    dtype : float dtype, default float32
    generator : fastdrop.Generator, optional
        Source of the dropout masks; default :func:`fastdrop.default_generator`.

    Attributes
    ----------
    qkv : Linear(dim, 3 * dim)
        The input projection, columns [q | k | v], each split into heads of
        ``dim // heads`` consecutive columns.  Its weight is torch's
        ``in_proj_weight.T`` with torch's initialisation: Xavier uniform
        over the (3 * dim, dim) matrix, bound sqrt(6 / (4 * dim)); zero bias.
    proj : Linear(dim, dim)
        The output projection (torch's ``out_proj.weight.T``): uniform on
        [-1/sqrt(dim), 1/sqrt(dim)], zero bias, as torch initialises it.
    handle : fastdrop.DropoutHandle or None
        The last training draw over the (N, heads, T, T) probabilities.

    Raises
    ------
    TypeError, ValueError
        A bad argument (named; `dim` not a multiple of `heads`); in forward,
        an input that is not (N, T, dim).  Nothing is changed then.

    Notes
    -----
    The dropout mask is drawn by :func:`fastdrop.dropout` and never
    stored: forward keeps the undropped probabilities (which the softmax
    gradient needs anyway) and the handle; backward regenerates the
    dropped probabilities and the mask for the gradient from the handle.

    Examples
    --------
    >>> import numpy as np, fastdrop as fd
    >>> from fastdrop import graph
    >>> attn = graph.SelfAttention(8, heads=2, attn_dropout=0.1, causal=True, rng=0,
    ...                            generator=fd.Generator(0))
    >>> y = attn(np.ones((3, 5, 8), np.float32))
    >>> y.shape, attn.handle.shape
    ((3, 5, 8), (3, 2, 5, 5))
    """

    fresh_output = True
    fresh_grad = True

    def __init__(self, dim: int, heads: int, attn_dropout: float = 0.0, causal: bool = False,
                 rng: RngLike = None, dtype: Any = np.float32, generator: Optional[Generator] = None) -> None:
        self.dim = check_int(dim, "dim", low=1)
        self.heads = check_int(heads, "heads", low=1)
        if self.dim % self.heads:
            raise ValueError(f"dim must be a multiple of heads, got dim={self.dim} and heads={self.heads}")
        self.attn_dropout = check_p(attn_dropout, "attn_dropout")
        self.causal = check_bool(causal, "causal")
        self.generator = check_generator(generator)
        rng = make_rng(rng)
        self.qkv = Linear(dim, 3 * dim, rng=rng, dtype=dtype)
        self.proj = Linear(dim, dim, rng=rng, dtype=dtype)
        xavier = math.sqrt(6.0 / (dim + 3 * dim))
        self.qkv.weight.data[...] = rng.uniform(-xavier, xavier, (dim, 3 * dim))
        self.proj.weight.data[...] = rng.uniform(-1.0 / math.sqrt(dim), 1.0 / math.sqrt(dim), (dim, dim))
        self.handle: Optional[DropoutHandle] = None
        self._saved: Optional[Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = None

    def children(self) -> List[Layer]:
        return [self.qkv, self.proj]

    def _split_heads(self, qkv: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(N, T, 3 * dim) -> q, k, v, each (N, heads, T, dim // heads)."""
        n, t, _ = qkv.shape
        q, k, v = qkv.reshape(n, t, 3, self.heads, self.dim // self.heads).transpose(2, 0, 3, 1, 4)
        return q, k, v

    def forward(self, x: Any) -> np.ndarray:
        x = check_input_shape(x, 3, f"(N, T, {self.dim})", axis=2, size=self.dim)
        q, k, v = self._split_heads(self.qkv.forward(x))
        scores = q @ k.swapaxes(-1, -2)
        scores *= scores.dtype.type(1.0 / math.sqrt(self.dim // self.heads))
        if self.causal:
            t = x.shape[1]
            scores[..., np.triu(np.ones((t, t), dtype=bool), k=1)] = -np.inf
        probs = softmax(scores)
        handle = None
        if self.training and self.attn_dropout > 0.0:
            dropped, handle = dropout(probs, self.attn_dropout, generator=self.generator, return_handle=True)
        else:
            dropped = probs
        n, t = x.shape[:2]
        context = (dropped @ v).transpose(0, 2, 1, 3).reshape(n, t, self.dim)
        self.handle, self._saved = handle, (q, k, v, probs)
        return self.proj.forward(context)

    def backward(self, dy: Any) -> np.ndarray:
        if self._saved is None:
            raise RuntimeError("SelfAttention.backward called before forward")
        q, k, v, probs = self._saved
        n, _, t, head_dim = q.shape
        dy = check_grad_shape(dy, (n, t, self.dim))
        dcontext = self.proj.backward(dy).reshape(n, t, self.heads, head_dim).transpose(0, 2, 1, 3)
        dropped = probs if self.handle is None else dropout_backward(probs, self.handle)
        dv = dropped.swapaxes(-1, -2) @ dcontext
        dprobs = dcontext @ v.swapaxes(-1, -2)
        if self.handle is not None:
            dprobs = dropout_backward(dprobs, self.handle, inplace=True)
        dscores = probs * (dprobs - (dprobs * probs).sum(axis=-1, keepdims=True))
        dscores *= dscores.dtype.type(1.0 / math.sqrt(head_dim))
        dq = dscores @ k
        dk = dscores.swapaxes(-1, -2) @ q
        dqkv = np.stack([dq, dk, dv]).transpose(1, 3, 0, 2, 4).reshape(n, t, 3 * self.dim)
        return self.qkv.backward(dqkv)

    def __repr__(self) -> str:
        return (f"SelfAttention({self.dim}, heads={self.heads}, attn_dropout={self.attn_dropout}, "
                f"causal={self.causal})")

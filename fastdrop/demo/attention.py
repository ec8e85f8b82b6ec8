"""``fastdrop demo attention``: attention and embedding dropout in a small Transformer encoder.

A two-block pre-norm Transformer encoder (Vaswani et al., NeurIPS 2017)
classifies synthetic "sentences" (:func:`fastdrop.demo.data.token_task`:
which kind of cue word dominates, where a "not" flips the next cue), so
it has to relate neighbouring tokens.  Two dropout places from the
Transformer literature are compared: on the attention probabilities
(``SelfAttention(attn_dropout=p)``), and on the embedding table's rows
(``embedding_dropout``: a dropped token id is a zero vector wherever it
occurs in the batch, Gal & Ghahramani, NeurIPS 2016, section 4).
"""
from __future__ import annotations

from typing import Any, List, Tuple

import numpy as np

import fastdrop as fd
from fastdrop import graph as G

from .data import token_task
from .experiment import Arm, Experiment, PageLayer

__all__ = ["experiment", "ARMS", "AddPosition"]

P = 0.2
# label -> (attention dropout, embedding dropout)
ARMS = {
    "no dropout": (0.0, 0.0),
    "attention dropout": (P, 0.0),
    "embedding dropout": (0.0, P),
    "both": (P, P),
}
LEARNING_RATE = 1e-3
BATCH = 32
VOCAB, LENGTH = 64, 16


class AddPosition(G.Layer):
    """Adds a learned vector per position to (N, T, dim) token features (initially N(0, 0.02**2))."""

    fresh_output = True
    fresh_grad = False

    def __init__(self, length: int, dim: int, rng: np.random.Generator) -> None:
        self.position = G.Parameter(rng.normal(0.0, 0.02, (length, dim)).astype(np.float32))

    def parameters(self) -> List[G.Parameter]:
        return [self.position]

    def forward(self, x: Any) -> np.ndarray:
        return np.asarray(x) + self.position.data

    def backward(self, dy: Any) -> np.ndarray:
        self.position.grad += np.asarray(dy).sum(axis=0)
        return np.asarray(dy)


def _arm(label: str, attn_p: float, emb_p: float, dim: int, heads: int, blocks: int) -> Arm:
    def build(rng: np.random.Generator, generator: fd.Generator) -> G.Layer:
        embed: G.Layer = (fd.layer("embedding_dropout", num_embeddings=VOCAB, embedding_dim=dim, p=emb_p, rng=rng,
                                   generator=generator) if emb_p else G.Embedding(VOCAB, dim, rng=rng))
        layers: List[G.Layer] = [embed, AddPosition(LENGTH, dim, rng)]
        for _ in range(blocks):
            attention = G.SelfAttention(dim, heads, attn_dropout=attn_p, rng=rng, generator=generator)
            layers.append(G.Residual(G.Sequential([G.LayerNorm(dim), attention])))
            layers.append(G.Residual(G.Sequential([G.LayerNorm(dim), G.Linear(dim, 2 * dim, rng=rng), G.ReLU(),
                                                   G.Linear(2 * dim, dim, rng=rng)])))
        layers += [G.LayerNorm(dim), G.GlobalAvgPool(channels_last=True), G.Linear(dim, 2, rng=rng)]
        return G.Sequential(layers)

    def watch(model: G.Layer) -> List[Tuple[str, G.Layer]]:
        assert isinstance(model, G.Sequential)
        return [("token ids", model[0])]

    return Arm(label, build, watch if emb_p else None)


def experiment(quick: bool, seed: int) -> Experiment:
    dim, heads, blocks, train_size = (8, 2, 1, 200) if quick else (32, 4, 2, 600)
    data = token_task(train_size, 200 if quick else 600, seed, vocab=VOCAB, length=LENGTH)
    arms = [_arm(label, attn_p, emb_p, dim, heads, blocks) for label, (attn_p, emb_p) in ARMS.items()]
    return Experiment(
        name="attention", title="attention and embedding dropout in a small Transformer encoder",
        setup=(f"Transformer encoder: embedding({VOCAB}, {dim}) + learned positions, {blocks} pre-norm blocks "
               f"(self-attention with {heads} heads, MLP {dim}-{2 * dim}-{dim}), LayerNorm, mean over tokens, "
               f"linear(2), on {data.description}; dropout p = {P} on the attention probabilities, on the "
               f"embedding's rows (whole token ids), or both; Adam (learning rate {LEARNING_RATE}); every arm "
               f"starts from the same weights and sees the same batches."),
        data=data, arms=arms, pairs=[("both", "embedding dropout")], epochs=3 if quick else 25,
        repeats=2 if quick else 3, batch_size=BATCH, eval_every=1,
        make_optimizer=lambda params: G.Adam(params, lr=LEARNING_RATE),
        page_layers=[PageLayer("tokens", LENGTH, LENGTH, None, "tokens of the example", ids="token ids"),
                     PageLayer("token ids", VOCAB, VOCAB, "token ids", "embedding rows (token ids)"),
                     PageLayer("encoder", dim, dim), PageLayer("output", 2, 2)])

"""The data sets: scikit-learn's 8x8 digits in three layouts, and a synthetic token task.

scikit-learn ships the digits (1,797 images, 8 x 8 pixels, 16 grey levels;
the UCI "Optical Recognition of Handwritten Digits" test set) inside the
package, so every experiment runs without a download.
"""
from __future__ import annotations

import numpy as np

from .experiment import Data

__all__ = ["digits", "token_task", "LAYOUTS", "QUICK_VAL"]

# validation images of a --quick run: enough to check the pipeline, few enough to be fast
QUICK_VAL = 300

LAYOUTS = {
    "flat": "64 pixels per image",
    "image": "1 x 8 x 8 images (N, C, H, W)",
    "rows": "8 time steps of 8 pixels (one row per step)",
}


def digits(train_size: int, seed: int, layout: str = "flat", val_size: int = 0) -> Data:
    """Digits, split stratified into `train_size` training and `val_size` validation images
    (0: every image left), grey levels scaled to [0, 1].

    `layout` is 'flat' (N, 64), 'image' (N, 1, 8, 8) or 'rows' (N, 8, 8):
    the rows of each image read top to bottom as a sequence.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    x_train, x_val, y_train, y_val = train_test_split(x, y, train_size=train_size, stratify=y,
                                                      random_state=seed)
    if val_size:
        x_val, y_val = x_val[:val_size], y_val[:val_size]
    shape = {"flat": (64,), "image": (1, 8, 8), "rows": (8, 8)}[layout]
    description = (f"scikit-learn digits ({LAYOUTS[layout]}), {len(x_train)} training / "
                   f"{len(x_val)} validation images")
    return Data(x_train.reshape((-1,) + shape), y_train.astype(np.int64), x_val.reshape((-1,) + shape),
                y_val.astype(np.int64), description)


def token_task(train_size: int, val_size: int, seed: int, vocab: int = 64, length: int = 16,
               cue_words: int = 16, noise: float = 0.1) -> Data:
    """A synthetic sentiment task for a small Transformer: which cue dominates a sentence.

    Token ids 0 to ``cue_words - 1`` are positive cues, the next
    `cue_words` negative cues, id ``vocab - 1`` is "not" and the rest
    are neutral filler.  A "not" flips the cue that follows it.  A
    sentence of `length` tokens is labelled 1 when its (flipped) positive
    cues outnumber the negative ones, 0 otherwise; a fraction `noise` of
    the training labels is flipped, so memorising the training set does
    not pay.  Sentences with a tie are redrawn.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
    not_id = vocab - 1
    total = train_size + val_size
    ids = np.empty((0, length), np.int64)
    labels = np.empty(0, np.int64)
    while len(ids) < total:
        batch = rng.integers(2 * cue_words, not_id, size=(2 * total, length))
        cue_places = rng.random((2 * total, length)) < 0.35
        batch[cue_places] = rng.integers(0, 2 * cue_words, size=int(cue_places.sum()))
        batch[rng.random((2 * total, length)) < 0.1] = not_id
        sign = np.where(batch < cue_words, 1, np.where(batch < 2 * cue_words, -1, 0))
        negated = np.zeros_like(sign)
        negated[:, 1:] = batch[:, :-1] == not_id
        score = (sign * np.where(negated == 1, -1, 1)).sum(axis=1)
        keep = score != 0
        ids = np.concatenate([ids, batch[keep]])
        labels = np.concatenate([labels, (score[keep] > 0).astype(np.int64)])
    ids, labels = ids[:total], labels[:total]
    train_labels = labels[:train_size].copy()
    flip = rng.random(train_size) < noise
    train_labels[flip] = 1 - train_labels[flip]
    description = (f"synthetic sentences of {length} tokens from {vocab} ids (cues, 'not', filler), "
                   f"{train_size} training ({100 * noise:.0f}% labels flipped) / {val_size} validation")
    return Data(ids[:train_size], train_labels, ids[train_size:], labels[train_size:], description, classes=2)

"""What an experiment is: data, the arms it compares, and how they are trained.

Every experiment module builds an :class:`Experiment`; the shared loop in
:mod:`fastdrop.demo.training` trains each arm once per repeat, and the
writers in :mod:`fastdrop.demo.report`, :mod:`fastdrop.demo.plots` and
:mod:`fastdrop.demo.page` turn the results into files.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

import fastdrop as fd
from fastdrop import graph as G

__all__ = ["Data", "Arm", "Experiment", "PageLayer", "VariantSpec", "variant_layers"]

# A model builder: (weight initialisation rng, mask generator) -> model.
Builder = Callable[[np.random.Generator, fd.Generator], G.Layer]
# The layers whose masks the page shows: model -> [(page layer name, dropout layer)].
Watcher = Callable[[G.Layer], List[Tuple[str, G.Layer]]]
# A registered dropout variant and its keyword arguments, or None for no dropout layer.
VariantSpec = Optional[Tuple[str, Dict[str, Any]]]
# Extra numbers measured on a trained model: (model, data) -> {column: value}.
ExtraMetrics = Callable[[G.Layer, "Data"], Dict[str, float]]


def variant_layers(spec: VariantSpec, generator: fd.Generator) -> List[G.Layer]:
    """[the variant `spec` names, drawing from `generator`], or [] for None."""
    if spec is None:
        return []
    name, kwargs = spec
    return [fd.layer(name, generator=generator, **kwargs)]


@dataclass
class Data:
    """A classification data set split into training and validation parts."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    description: str
    classes: int = 10

    def sample(self, index: int) -> np.ndarray:
        """Training input `index`, for the page's picture of the current example."""
        return self.x_train[index]


@dataclass
class Arm:
    """One configuration an experiment compares (a table row, a curve)."""

    label: str
    build: Builder
    watch: Optional[Watcher] = None


@dataclass
class PageLayer:
    """One layer of the network as the HTML page draws it.

    `units` is the number of neurons (or channels, or examples) drawn and
    `total` the layer's real size; `mask` names the watched dropout layer
    whose masks mark these units kept or dropped (None: never dropped);
    `what` names the units in the page's caption.  `ids` is for a column
    of the example's tokens: the watched embedding layer whose row mask
    says whether each token's row was kept.
    """

    name: str
    units: int
    total: int
    mask: Optional[str] = None
    what: str = "units"
    ids: Optional[str] = None


@dataclass
class Experiment:
    """Everything the training loop and the writers need to know.

    Attributes
    ----------
    name, title : str
        Command-line name and one-line title.
    setup : str
        A paragraph (Markdown) saying what is trained on what, for results.md.
    data : Data
    arms : list of Arm
        The first one is the baseline the others are compared with.
    pairs : list of (label, label)
        Further comparisons, arm against arm (e.g. a variant against
        elementwise dropout).
    epochs, repeats, batch_size : int
    make_optimizer : callable
        ``make_optimizer(model.parameters())``.
    eval_every : int
        Epochs between two points of the curves (the last epoch always counts).
    extra : callable, optional
        Numbers measured on each trained model, added to the table.
    extra_columns : list of (key, header, format)
    notes : callable, optional
        ``notes(results)`` -> (machine-readable dict, Markdown lines): what an
        experiment states beyond the generic comparison with the baseline.
    figures : callable, optional
        ``figures(results, masks, out_dir)`` writes the experiment's own
        pictures besides the results figure and returns their file names.
    page_layers : list of PageLayer
        The network as the HTML page draws it.
    """

    name: str
    title: str
    setup: str
    data: Data
    arms: List[Arm]
    epochs: int
    repeats: int
    batch_size: int
    make_optimizer: Callable[[Sequence[G.Parameter]], Any]
    eval_every: int = 1
    pairs: List[Tuple[str, str]] = field(default_factory=list)
    extra: Optional[ExtraMetrics] = None
    extra_columns: List[Tuple[str, str, str]] = field(default_factory=list)
    notes: Optional[Callable[[Dict[str, Any]], Tuple[Dict[str, Any], List[str]]]] = None
    figures: Optional[Callable[[Dict[str, Any], Dict[str, Any], str], List[str]]] = None
    page_layers: List[PageLayer] = field(default_factory=list)

    @property
    def baseline(self) -> str:
        """Label of the arm every other arm is compared with."""
        return self.arms[0].label

    def comparisons(self) -> List[Tuple[str, str]]:
        """(arm, reference) pairs: every arm against the baseline, then `pairs`."""
        return [(arm.label, self.baseline) for arm in self.arms[1:]] + list(self.pairs)

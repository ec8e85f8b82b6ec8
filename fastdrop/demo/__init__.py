"""``fastdrop demo``: guided dropout experiments on a CPU, each in about two minutes.

``fastdrop demo [EXPERIMENT] [--html] [--out DIR] [--quick]`` trains small
networks built with :mod:`fastdrop.graph` and writes, under
``DIR/EXPERIMENT/``, a table (``results.md``, also printed), every number
and curve (``results.json``) and a picture (``results.png``); ``--html``
adds ``demo.html``, a self-contained page that replays which neurons each
training step kept and dropped.

Experiments: ``mlp`` (the default: the drop probability in an MLP that
overfits without dropout), ``cnn``, ``sequence``, ``residual``,
``attention``, ``batchnorm``, and ``all``.  The modules: :mod:`.cli` (the
command), :mod:`.experiment` (what an experiment is), :mod:`.training`
(the loop, progress and threads), :mod:`.data`, one module per
experiment, :mod:`.report` (table, Markdown, JSON), :mod:`.plots` (PNG)
and :mod:`.page` (HTML).

The optional dependencies (scikit-learn, matplotlib, tqdm, threadpoolctl)
come with ``pip install "fastdropout[demo]"``.
"""
from .cli import EXPERIMENTS, main

__all__ = ["main", "EXPERIMENTS"]

"""The ``fastdrop demo`` command: parse the arguments, run the experiments, write the files."""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import textwrap
import time
from typing import Any, Dict, List, Optional, Sequence

import fastdrop as fd
from fastdrop._config import cpu_model

from . import report
from .experiment import Experiment
from .training import MaskRecorder, Progress, compute_threads, run_experiment

__all__ = ["main", "EXPERIMENTS", "parse_args", "run_one"]

EXPERIMENTS = {
    "mlp": "the drop probability p = 0, 0.2, 0.5, 0.8 in an MLP that overfits without dropout",
    "cnn": "elementwise vs spatial (channel) vs DropBlock dropout after convolutions",
    "sequence": "elementwise vs locked (variational) dropout around a GRU",
    "residual": "DropPath (stochastic depth) rates in a residual network",
    "attention": "attention-probability and embedding dropout in a small Transformer encoder",
    "batchnorm": "dropout before vs after batch normalization",
}
DEPENDENCIES = {"sklearn": "scikit-learn", "matplotlib": "matplotlib", "tqdm": "tqdm",
                "threadpoolctl": "threadpoolctl"}
INSTALL_HINT = 'pip install "fastdropout[demo]"'


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    listing = "\n".join(f"  {name:<10} {text}" for name, text in EXPERIMENTS.items())
    parser = argparse.ArgumentParser(
        prog="fastdrop demo", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Guided dropout experiments on a CPU: each trains small networks with fastdrop.graph, "
                    "prints a table and writes results.md, results.json and a PNG (about two minutes each "
                    "on two cores).",
        epilog=f"experiments:\n{listing}\n  {'all':<10} every experiment in turn\n\n"
               f"The optional dependencies come with: {INSTALL_HINT}")
    parser.add_argument("experiment", nargs="?", default="mlp", choices=[*EXPERIMENTS, "all"],
                        metavar="EXPERIMENT", help="which experiment to run (default: mlp; see the list below)")
    parser.add_argument("--out", default="fastdrop-demo", metavar="DIR",
                        help="output folder; each experiment writes into DIR/EXPERIMENT (default: fastdrop-demo)")
    parser.add_argument("--html", action="store_true",
                        help="also write demo.html: the network's masks step by step, the curves and the table "
                             "in one self-contained page")
    parser.add_argument("--quick", action="store_true",
                        help="tiny networks and 3 epochs: checks that everything runs (seconds, not minutes)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs per run (default: each experiment's own; 3 with --quick)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="runs per arm, with different seeds, averaged (default: each experiment's own, "
                             "usually 3; 2 with --quick)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data split, weights, batches and masks "
                                                            "(default: 0)")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads for BLAS and for fastdrop's kernels (default: 1, the fastest for these "
                             "small matrices, and safe on a busy machine)")
    args = parser.parse_args(argv)
    for name in ("epochs", "repeats", "threads"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name} must be >= 1, got {value}")
    if args.seed < 0:
        parser.error(f"--seed must be >= 0, got {args.seed}")
    return args


def missing_dependencies() -> List[str]:
    """The demo extra's distributions that cannot be imported."""
    missing = []
    for module, distribution in DEPENDENCIES.items():
        try:
            __import__(module)
        except ImportError:
            missing.append(distribution)
    return missing


def run_one(name: str, args: argparse.Namespace) -> Dict[str, Any]:
    """Run experiment `name` with the command's arguments; write its files; return its JSON payload."""
    module = importlib.import_module(f"{__package__}.{name}")
    exp: Experiment = module.experiment(quick=args.quick, seed=args.seed)
    if args.epochs is not None:
        exp.epochs = args.epochs
        exp.eval_every = min(exp.eval_every, args.epochs)
    if args.repeats is not None:
        exp.repeats = args.repeats
    out = report.output_dir(args.out, name)
    print(f"fastdrop demo {name}: {exp.title}")
    print(textwrap.fill(exp.setup, 100))
    print(f"{len(exp.arms)} arms x {exp.repeats} runs x {exp.epochs} epochs, {args.threads} thread(s)", flush=True)

    started, cpu_started = time.perf_counter(), time.process_time()
    recorder = MaskRecorder()
    fd.register(recorder)
    progress = Progress(len(exp.arms) * exp.repeats * exp.epochs, name)
    try:
        with compute_threads(args.threads):
            results = run_experiment(exp, args.seed, progress, recorder)
    finally:
        progress.close()
        fd.unregister(recorder)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started

    comparison, comparison_lines = report.compare(exp, results)
    notes, note_lines = exp.notes(results) if exp.notes is not None else ({}, [])
    rows = report.table(exp, results)
    command = f"fastdrop demo {name} --seed {args.seed}" + (" --quick" if args.quick else "")
    footer = [f"Ran in {seconds:.1f} s ({cpu_seconds:.1f} s of CPU time) with {args.threads} thread(s) on {_cpu()}.  "
              f"Reproduce: `{command}`."]
    print("\n" + "\n".join(rows + [""] + comparison_lines + ([""] + note_lines if note_lines else [])))
    report.write_markdown(os.path.join(out, "results.md"), exp, rows, comparison_lines, note_lines, footer)
    payload = {"experiment": name, "title": exp.title, "setup": exp.setup,
               "settings": {"epochs": exp.epochs, "repeats": exp.repeats, "batch_size": exp.batch_size,
                            "seed": args.seed, "threads": args.threads, "quick": args.quick,
                            "data": exp.data.description},
               "arms": [arm.label for arm in exp.arms], "baseline": exp.baseline, "results": results,
               "comparison": comparison, "notes": notes, "seconds": seconds, "cpu_seconds": cpu_seconds,
               "cpu": _cpu()}
    report.write_json(os.path.join(out, "results.json"), payload)

    from .plots import results_figure

    results_figure(exp, results, os.path.join(out, "results.png"))
    written = ["results.md", "results.json", "results.png"]
    if exp.figures is not None:
        written += exp.figures(results, recorder.masks, out)
    if args.html:
        from .page import write_page

        write_page(os.path.join(out, "demo.html"), exp, payload, rows, comparison_lines + note_lines, recorder)
        written.append("demo.html")
    print(f"\nwrote {', '.join(written)} to {out} ({seconds:.1f} s)\n", flush=True)
    return payload


def _cpu() -> str:
    """The CPU model and the number of cores this process may use."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cpu_model()}, {cores} cores"


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``fastdrop demo``; returns the exit status."""
    args = parse_args(argv)
    missing = missing_dependencies()
    if missing:
        print(f"fastdrop demo needs {', '.join(missing)}, which are not installed. Install the demo's "
              f"dependencies with: {INSTALL_HINT}", file=sys.stderr)
        return 2
    names = list(EXPERIMENTS) if args.experiment == "all" else [args.experiment]
    for name in names:
        run_one(name, args)
    return 0

"""Command line: ``fastdrop bench``, ``fastdrop demo``, ``fastdrop plugins``, ``fastdrop --version``."""
from __future__ import annotations

import argparse
import sys
import warnings
from typing import Callable, List, Optional, Sequence

from ._plugin_checks import PluginWarning
from ._registry import Registry
from ._shared import current_registry
from ._version import __version__


def _columns(rows: List[Sequence[str]]) -> List[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return ["  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1] for row in rows]


def plugins_main(argv: Optional[Sequence[str]] = None, registry: Optional[Registry] = None) -> int:
    """``fastdrop plugins``: list every variant and every broken plugin.

    Prints, for each variant, its plugin (the entry-point name), the
    distribution and version that provide it, and its description; then
    each broken plugin with its error, and each conflict.  Returns 0, or 1
    when some plugin is broken or in conflict.
    """
    parser = argparse.ArgumentParser(prog="fastdrop plugins",
                                     description="List the registered dropout variants and broken plugins.")
    try:
        parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    registry = registry or current_registry()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginWarning)
        table, problems, broken = registry.report()
    rows: List[Sequence[str]] = [("variant", "plugin", "distribution", "description")]
    rows += [(name, info.plugin.name, info.plugin.source, info.description) for name, info in table.items()]
    lines = [f"variants ({len(table)}):"] + _columns(rows)
    if broken:
        lines.append(f"broken plugins ({len(broken)}):")
        lines += [f"  {b.plugin}: {b.stage} failed: {type(b.error).__name__}: {b.error}" for b in broken]
    if problems:
        lines.append(f"conflicts and invalid variants ({len(problems)}):")
        lines += [f"  {problem}" for problem in problems]
    print("\n".join(lines))
    return 1 if broken or problems else 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``fastdrop`` command."""
    parser = argparse.ArgumentParser(prog="fastdrop", description="fastdrop: fast, bit-reproducible dropout "
                                     "on NumPy buffers, on the CPU.")
    parser.add_argument("--version", action="version", version=f"fastdrop {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("bench", help="dropout speed, as ratios to one in-place np.multiply pass", add_help=False)
    sub.add_parser("demo", help="the guided dropout experiments (training runs, tables, pictures)",
                   add_help=False)
    sub.add_parser("plugins", help="list the registered dropout variants and broken plugins", add_help=False)
    args, rest = parser.parse_known_args(argv)
    run: Callable[[List[str]], Optional[int]]
    if args.command == "bench":
        from .bench import main as run
    elif args.command == "demo":
        from .demo import main as run
    else:
        run = plugins_main
    return int(run(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())

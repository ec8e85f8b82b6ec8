"""Command line: ``fastdrop bench``, ``fastdrop demo``, ``fastdrop plugins``."""
import argparse
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(prog="fastdrop", description="fastdrop command line")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("bench", help="dropout speed, as ratios to one in-place np.multiply pass",
                   add_help=False)
    sub.add_parser("demo", help="train an MLP on digits with p = 0, 0.2, 0.5, 0.8 and report",
                   add_help=False)
    sub.add_parser("plugins", help="list the registered dropout variants and broken plugins",
                   add_help=False)
    args, rest = parser.parse_known_args(argv)
    if args.command == "bench":
        from .bench import main as run
    elif args.command == "demo":
        from .demo import main as run
    else:
        from ._registry import plugins_main as run
    return run(rest)


if __name__ == "__main__":
    sys.exit(main())

"""Entry point and subcommand registry of the command line."""

from __future__ import annotations

import argparse
import os
import sys

from .. import __version__
from . import _deconvolve, _demo, _detect, _evaluate
from ._inputs import UserError

# each module exposes add_parser(subparsers) -> parser with set_defaults(func=run)
SUBCOMMANDS = [_demo, _detect, _evaluate, _deconvolve]

__all__ = ["SUBCOMMANDS", "UserError", "build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    """argparse parser whose usage errors are one line (exit code 2)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="sparse-events",
        description="Sparse deconvolution and event detection in signals.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in SUBCOMMANDS:
        module.add_parser(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    try:
        return int(args.func(args) or 0)
    except (UserError, ValueError, TypeError, FileNotFoundError, OSError) as exc:
        if os.environ.get("SPARSE_EVENTS_DEBUG"):
            raise
        print(f"sparse-events {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return 2


def one_line(exc) -> str:
    """The message of an exception on a single line."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

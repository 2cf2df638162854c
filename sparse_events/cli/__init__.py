"""Command line interface ``sparse-events`` (also ``python -m sparse_events``)."""

from ._main import build_parser, main

__all__ = ["build_parser", "main"]

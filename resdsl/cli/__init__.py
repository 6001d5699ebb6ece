"""The ``resdsl`` command line. Thin: it parses options and prints; the library does the work.

Each command family lives in its own module and registers itself on :data:`app`,
in the order ``resdsl --help`` lists the commands. ``check``, ``summary``,
``render``, ``paths`` and ``layers`` never import torch.
"""

from __future__ import annotations

# The import order is the order --help lists the commands in.
# isort: off
from resdsl.cli import check as _check  # noqa: F401  (registers commands)
from resdsl.cli import compile as _compile  # noqa: F401
from resdsl.cli import render as _render  # noqa: F401
from resdsl.cli import analyze as _analyze  # noqa: F401
from resdsl.cli import train as _train  # noqa: F401
from resdsl.cli import layers as _layers  # noqa: F401
from resdsl.cli.common import app

# isort: on


def main() -> None:
    """Entry point of the ``resdsl`` console script."""
    app()


__all__ = ["app", "main"]

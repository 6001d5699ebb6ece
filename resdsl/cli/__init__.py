"""The ``resdsl`` command line. Thin: it parses options and prints; the library does the work.

Each command family lives in its own module and registers itself on :data:`app`.
``check``, ``summary``, ``render`` and ``paths`` never import torch.
"""

from __future__ import annotations

from resdsl.cli import analyze as _analyze  # noqa: F401
from resdsl.cli import check as _check  # noqa: F401  (registers commands)
from resdsl.cli import compile as _compile  # noqa: F401
from resdsl.cli import fmt as _fmt  # noqa: F401
from resdsl.cli import lsp as _lsp  # noqa: F401
from resdsl.cli import render as _render  # noqa: F401
from resdsl.cli import train as _train  # noqa: F401
from resdsl.cli.common import app


def main() -> None:
    """Entry point of the ``resdsl`` console script."""
    app()


__all__ = ["app", "main"]

"""The ``resdsl`` command line. Thin: it parses options and prints; the library does the work.

Each command family lives in its own module and registers itself on :data:`app`,
in the order ``resdsl --help`` lists the commands. ``check``, ``summary``,
``render``, ``paths`` and ``layers`` never import torch.

The command modules are imported by :func:`main` (or on first use of ``app``),
not when this package is imported, so that Ctrl-C while Python is still
loading them ends the command quietly too (exit code 130), not with a traceback.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from resdsl.cli.common import app

#: Exit code of a command stopped by Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED = 130

#: The command modules; their import order is the order --help lists the commands in.
_COMMANDS = ("check", "compile", "render", "analyze", "train", "layers", "fmt", "lsp")


def _load_app() -> Any:
    for name in _COMMANDS:  # each registers its commands on the app
        importlib.import_module(f"resdsl.cli.{name}")
    return importlib.import_module("resdsl.cli.common").app


def main() -> None:
    """Entry point of the ``resdsl`` console script."""
    try:
        _load_app()()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(INTERRUPTED)


def __getattr__(name: str) -> Any:
    if name == "app":
        return _load_app()
    raise AttributeError(f"module 'resdsl.cli' has no attribute {name!r}")


__all__ = ["app", "main"]

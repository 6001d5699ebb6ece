"""Shared fixtures: paths, the explicit flag that refreshes golden files, strict parsing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Set before resdsl is imported, and inherited by the CLI runs of the tests: the
# parser's silent fallbacks (a stale table file, a fast-driver bug) raise instead.
os.environ["RESDSL_STRICT_PARSER"] = "1"

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
DATA = Path(__file__).resolve().parent / "data"

#: Golden files are rewritten only when this is set: RESDSL_UPDATE_GOLDEN=1 pytest ...
UPDATE_GOLDEN = os.environ.get("RESDSL_UPDATE_GOLDEN") == "1"


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT

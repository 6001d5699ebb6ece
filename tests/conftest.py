"""Shared fixtures: paths, and the explicit flag that refreshes golden files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
DATA = Path(__file__).resolve().parent / "data"

#: Golden files are rewritten only when this is set: RESDSL_UPDATE_GOLDEN=1 pytest ...
UPDATE_GOLDEN = os.environ.get("RESDSL_UPDATE_GOLDEN") == "1"


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT

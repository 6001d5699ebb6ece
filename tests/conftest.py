"""Shared fixtures: paths, the explicit flag that refreshes golden files, strict parsing."""

from __future__ import annotations

import os
from collections.abc import Iterator
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


@pytest.fixture
def one_thread() -> Iterator[None]:
    """One torch thread: small models train fastest so, and results do not depend on it."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

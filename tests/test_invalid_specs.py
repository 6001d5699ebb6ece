"""The error corpus: one file per kind of mistake, with its exact expected diagnostics.

Each ``tests/specs/invalid/NAME.res`` has ``NAME.expected`` beside it: the
rendered diagnostics, byte for byte. A first line ``# model: M`` or
``# params: k=v, ...`` picks what to elaborate. Refresh the expected files
only with ``RESDSL_UPDATE_GOLDEN=1``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

import resdsl
from resdsl.cli import app
from resdsl.diagnostics import render_all
from tests.conftest import UPDATE_GOLDEN

INVALID = Path(__file__).resolve().parent / "specs" / "invalid"
CASES = sorted(INVALID.glob("*.res"))


def _header(path: Path) -> tuple[str | None, dict[str, str]]:
    model: str | None = None
    params: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines()[:3]:
        if line.startswith("# model:"):
            model = line.split(":", 1)[1].strip()
        if line.startswith("# params:"):
            for item in line.split(":", 1)[1].split(";"):
                k, _, v = item.strip().partition("=")
                params[k.strip()] = v.strip()
    return model, params


def diagnostics_for(path: Path) -> str:
    model, params = _header(path)
    cwd = os.getcwd()
    os.chdir(path.parent)  # so diagnostics name the file as a user would type it
    try:
        spec = resdsl.load(path.name)
        values = {k: resdsl.api.value_from_text(v, spec, k) for k, v in params.items()}
        spec.graph(model, **values)
    except resdsl.ResdslError as error:
        return render_all(error.diagnostics) + "\n"
    finally:
        os.chdir(cwd)
    return "<no error>\n"


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_expected_diagnostics(path: Path) -> None:
    got = diagnostics_for(path)
    expected_file = path.with_suffix(".expected")
    if UPDATE_GOLDEN or not expected_file.exists():
        expected_file.write_text(got, encoding="utf-8")
    assert got == expected_file.read_text(encoding="utf-8")
    assert "Traceback" not in got


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_cli_exits_1_without_traceback(path: Path) -> None:
    model, params = _header(path)
    args = ["check", str(path)]
    if model:
        args += ["--model", model]
    for k, v in params.items():
        args += ["-p", f"{k}={v}"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output

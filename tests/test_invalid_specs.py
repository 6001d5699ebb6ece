"""The error corpus: one file per kind of mistake, with its exact expected diagnostics.

Each ``tests/specs/invalid/NAME.res`` has ``NAME.expected`` beside it: the
rendered diagnostics, byte for byte. A first line ``# model: M`` or
``# params: k=v, ...`` picks what to elaborate. Write or refresh the expected
files only with ``RESDSL_UPDATE_GOLDEN=1``; a missing one fails the test.
"""

from __future__ import annotations

import os
import sys
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


def missing_expected_message(expected_file: Path) -> str:
    """Why a case without its expected diagnostics fails, and how to write them."""
    case = expected_file.with_suffix(".res").name
    return (
        f"{expected_file.name} is missing: every case needs its expected diagnostics.\n"
        f"Create it with RESDSL_UPDATE_GOLDEN=1 python -m pytest "
        f"tests/test_invalid_specs.py -k {expected_file.stem}, then read it: "
        f"it must say what is wrong with {case}."
    )


def test_every_case_has_its_expected_file_and_no_other() -> None:
    expected = sorted(INVALID.glob("*.expected"))
    assert [p.with_suffix(".res") for p in expected] == CASES


def test_a_missing_expected_file_fails_and_is_not_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.modules[__name__], "UPDATE_GOLDEN", False)
    case = tmp_path / "skip_backwards.res"
    case.write_bytes((INVALID / "skip_backwards.res").read_bytes())
    with pytest.raises(pytest.fail.Exception) as failure:
        check_against_expected(case)
    assert str(failure.value).startswith("skip_backwards.expected is missing")
    assert (
        "RESDSL_UPDATE_GOLDEN=1 python -m pytest tests/test_invalid_specs.py -k skip_backwards"
        in str(failure.value)
    )
    assert not case.with_suffix(".expected").exists()


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_expected_diagnostics(path: Path) -> None:
    check_against_expected(path)


def check_against_expected(path: Path) -> None:
    """The case's diagnostics equal its ``.expected`` file, which the flag alone rewrites."""
    got = diagnostics_for(path)
    expected_file = path.with_suffix(".expected")
    if UPDATE_GOLDEN:
        expected_file.write_text(got, encoding="utf-8")
    if not expected_file.exists():
        pytest.fail(missing_expected_message(expected_file))
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

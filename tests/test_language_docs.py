"""docs/language.md says what the code does: its tables are generated, its examples run.

- The table of layers equals what ``scripts/make_language_docs.py`` generates
  from the op registry now.
- Every ```` ```res ```` block is a complete spec: it loads and every model in it
  checks (a model with required parameters through the aliases that set them). A ```` ```res error ```` block must fail, with exactly the diagnostics
  of the ```` ```text ```` block right after it (rendered as ``example.res``).
"""

from __future__ import annotations

import doctest
import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

import resdsl
from resdsl.diagnostics import render_all
from resdsl.ops import BUILTIN_LAYERS
from tests.conftest import ROOT

DOC = ROOT / "docs" / "language.md"
SCRIPT = ROOT / "scripts" / "make_language_docs.py"
FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```$", re.M | re.S)


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_language_docs", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def code_blocks(text: str) -> list[tuple[str, str, int]]:
    """Every fenced block of the page: (info string, content, line of its fence)."""
    return [
        (m.group(1).strip(), m.group(2), text.count("\n", 0, m.start()) + 1)
        for m in FENCE.finditer(text)
    ]


BLOCKS = code_blocks(DOC.read_text(encoding="utf-8"))
SPECS = [(content, line) for info, content, line in BLOCKS if info == "res"]
ERRORS = [
    (content, BLOCKS[i + 1][1], line)
    for i, (info, content, line) in enumerate(BLOCKS)
    if info == "res error"
]


# ------------------------------------------------------------------ the generated tables


def test_the_layer_table_is_up_to_date() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert load_script().generated(text) == text, (
        "docs/language.md's generated tables are out of date: "
        "run python scripts/make_language_docs.py"
    )


def test_the_layer_table_has_one_row_per_builtin_layer() -> None:
    text = DOC.read_text(encoding="utf-8")
    table = text.split("<!-- layers:begin -->\n")[1].split("<!-- layers:end -->")[0]
    names = re.findall(r"^\| `(\w+)` \|", table, re.M)
    assert sorted(names) == sorted(layer.name for layer in BUILTIN_LAYERS)


def test_the_generator_reports_an_outdated_page(tmp_path: Path) -> None:
    script = load_script()
    stale = DOC.read_text(encoding="utf-8").replace("| `relu` |", "| `rleu` |")
    assert script.generated(stale) == DOC.read_text(encoding="utf-8")
    with pytest.raises(SystemExit, match="expected one <!-- layers:begin -->"):
        script.replace_region("no markers here\n", "layers", "x\n")


def test_the_generator_examples_run() -> None:
    result = doctest.testmod(load_script())
    assert result.failed == 0 and result.attempted >= 2


# ------------------------------------------------------------------ the examples


def test_the_page_has_examples_of_both_kinds() -> None:
    assert len(SPECS) >= 8 and len(ERRORS) >= 2
    unknown = {info for info, _, _ in BLOCKS} - {"res", "res error", "text"}
    assert not unknown, f"code blocks must be res, res error or text: {unknown}"


@pytest.mark.parametrize(("text", "line"), SPECS, ids=[f"line{line}" for _, line in SPECS])
def test_every_res_example_checks(text: str, line: int) -> None:
    spec = resdsl.loads(text, "example.res")
    checked = []
    for model in spec.models:
        try:
            spec.graph(model)
        except resdsl.ResdslError as error:
            # A model with required parameters is checked through its aliases.
            if {d.code for d in error.diagnostics} != {"missing-parameter"}:
                raise
        else:
            checked.append(model)
    assert checked, f"the example at docs/language.md:{line} has no model that checks"


@pytest.mark.parametrize(
    ("text", "expected", "line"), ERRORS, ids=[f"line{line}" for _, _, line in ERRORS]
)
def test_every_error_example_fails_as_shown(text: str, expected: str, line: int) -> None:
    with pytest.raises(resdsl.ResdslError) as error:
        spec = resdsl.loads(text, "example.res")
        for model in spec.models:
            spec.graph(model)
    assert render_all(error.value.diagnostics) + "\n" == expected


def test_the_tests_the_page_cites_exist() -> None:
    cited = re.findall(r"\[(tests/[\w/.]+)(?:::(\w+))?\]", DOC.read_text(encoding="utf-8"))
    assert cited
    for path, test in cited:
        assert (ROOT / path).is_file(), path
        if test:
            assert f"def {test}(" in (ROOT / path).read_text(encoding="utf-8"), (path, test)

"""The shipped LALR tables: up to date, equivalent to building them, never a silent risk."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from resdsl.diagnostics import ResdslError, render
from resdsl.source import SourceFile
from resdsl.syntax import parse, tables
from tests.ast_dump import dump

ROOT = Path(__file__).resolve().parent.parent
ALL_SPECS = sorted([*ROOT.glob("specs/*.res"), *ROOT.glob("tests/specs/**/*.res")])
REGENERATE = "run `python scripts/make_parser_tables.py`"


def test_shipped_tables_are_up_to_date() -> None:
    """Fails after a change to the grammar (or to Lark) until the file is regenerated."""
    assert tables.TABLES_FILE.read_text(encoding="utf-8") == parse.parser_tables_text(), REGENERATE


def test_shipped_tables_key_names_this_grammar_and_lark() -> None:
    import lark

    key = tables.decode(tables.TABLES_FILE.read_text(encoding="utf-8"))["key"]
    grammar = tables.grammar_path().read_bytes()
    assert key["grammar_sha256"] == hashlib.sha256(grammar).hexdigest(), REGENERATE
    assert key["lark"] == lark.__version__, REGENERATE
    assert key["options"] == tables.OPTIONS


def test_generated_tables_do_not_depend_on_the_hash_seed() -> None:
    """Lark numbers states in set order; the file must not change from run to run."""
    code = (
        "import hashlib; from resdsl.syntax.parse import parser_tables_text as t; "
        "print(hashlib.sha256(t().encode()).hexdigest())"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)},
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        for seed in ("1", "2")
    }
    shipped = hashlib.sha256(tables.TABLES_FILE.read_bytes()).hexdigest()
    assert digests == {shipped}


def test_encoding_keeps_tuples_and_integer_keys() -> None:
    value = {"a": [(1, "x"), {2: (None, True, 1.5)}], "b": {}, "c": ()}
    assert tables.decode(tables.encode(value)) == value
    assert type(tables.decode(tables.encode(value))["a"][0]) is tuple
    with pytest.raises(ValueError, match="not plain data"):
        tables.encode({"a": object()})
    with pytest.raises(ValueError, match="a tag of the encoding"):
        tables.encode({"~tuple": 1})


# ------------------------------------- loaded tables parse like built tables


def outcomes(fast: bool) -> list[Any]:
    """Every spec's AST, or its diagnostics rendered; every known mistake's too."""
    texts = [(path.name, path.read_text(encoding="utf-8")) for path in ALL_SPECS]
    texts += [("known.res", text) for known in parse._KNOWN for text in known.snippets]
    out: list[Any] = []
    for name, text in texts:
        source = SourceFile(name, text)
        try:
            out.append(dump(parse._run(source, "start", fast=fast)))
        except ResdslError as e:
            out.append([render(d) for d in e.diagnostics])
    return out


def test_loaded_and_built_tables_give_the_same_results() -> None:
    loaded = [outcomes(fast=True), outcomes(fast=False)]
    with pytest.MonkeyPatch.context() as mp:
        grammar = tables.grammar_path().read_text(encoding="utf-8")
        built = tables.build_lark(grammar, **parse._runtime())
        parse._driver.cache_clear()
        parse._known_states.cache_clear()
        mp.setattr(parse, "_lark", lambda: built)
        try:
            rebuilt = [outcomes(fast=True), outcomes(fast=False)]
        finally:
            parse._driver.cache_clear()
            parse._known_states.cache_clear()
    assert loaded == rebuilt
    # Syntax errors exercise the messages, which read the tables (expected tokens, hints).
    assert sum(isinstance(o, list) and "hint:" in "".join(o) for o in loaded[0]) >= 40


# ------------------------------------------------------------ the fallback


@pytest.fixture
def table_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the shipped file that the loader reads instead; building is counted."""
    copy = tmp_path / "parser_tables.json"
    copy.write_text(tables.TABLES_FILE.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setattr(tables, "TABLES_FILE", copy)
    return copy


def builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record each build of the tables from the grammar."""
    calls: list[str] = []
    real = tables.build_lark

    def counted(grammar: str, **runtime: Any) -> Any:
        calls.append("built")
        return real(grammar, **runtime)

    monkeypatch.setattr(tables, "build_lark", counted)
    return calls


def test_matching_tables_are_loaded_not_built(
    table_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = builds(monkeypatch)
    assert relu_of(tables.load_lark(**parse._runtime())) == "relu"
    assert calls == []


def relu_of(lark: Any) -> str:
    """What the parser ``lark`` makes of a one-statement block."""
    text = "block b { relu }"
    token = parse._CTX.set(parse._Context(SourceFile("t.res", text)))
    try:
        spec = lark.parse(text, start="start")
    finally:
        parse._CTX.reset(token)
    return str(spec.definitions[0].body[0].name)


def stale(table_file: Path) -> None:
    document = json.loads(table_file.read_text(encoding="utf-8"))
    document["key"]["grammar_sha256"] = "0" * 64
    table_file.write_text(json.dumps(document), encoding="utf-8")


def broken(table_file: Path) -> None:
    table_file.write_text(table_file.read_text(encoding="utf-8")[:5000], encoding="utf-8")


def missing(table_file: Path) -> None:
    table_file.unlink()


def damaged(table_file: Path) -> None:
    document = json.loads(table_file.read_text(encoding="utf-8"))
    del document["data"]["parser"]
    table_file.write_text(json.dumps(document), encoding="utf-8")


@pytest.mark.parametrize("spoil", [stale, broken, missing, damaged])
def test_unusable_tables_are_rebuilt_from_the_grammar(
    spoil: Any, table_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spoil(table_file)
    monkeypatch.delenv(tables.STRICT_ENV)
    calls = builds(monkeypatch)
    assert relu_of(tables.load_lark(**parse._runtime())) == "relu"
    assert calls == ["built"]


@pytest.mark.parametrize("spoil", [stale, broken, missing, damaged])
def test_unusable_tables_fail_in_strict_mode(
    spoil: Any, table_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spoil(table_file)
    with pytest.raises(RuntimeError, match=r"parser_tables\.json"):
        tables.load_lark(**parse._runtime())


# ------------------------------------------------------------- the command


def test_cli_check_builds_no_tables_and_imports_no_torch() -> None:
    """A run of `resdsl check` loads the tables; compiling them is made to fail."""
    code = (
        "import sys\n"
        "import lark, lark.parsers.lalr_analysis as analysis\n"
        "def refuse(*args, **kwargs):\n"
        "    raise AssertionError('the parser tables were built at run time')\n"
        "lark.Lark.__init__ = refuse\n"
        "analysis.LALR_Analyzer.compute_lalr = refuse\n"
        "from typer.testing import CliRunner\n"
        "from resdsl.cli import app\n"
        "r = CliRunner().invoke(app, ['check', 'specs/resnet.res', '--model', 'resnet152'])\n"
        "assert r.exit_code == 0 and 'resnet152 checks' in r.output, r.output\n"
        # An error is explained with the tables too (expected tokens, known mistakes).
        "r = CliRunner().invoke(app, ['check', 'tests/specs/invalid/syntax_missing_colon.res'])\n"
        "assert r.exit_code == 1 and 'hint:' in r.output, r.output\n"
        "assert 'torch' not in sys.modules, 'check imported torch'\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)

"""Highlighting: the Pygments lexer and the TextMate grammar, both built from the grammar and registry."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from pygments.token import Error, Keyword, Name

from resdsl.editor.pygments_lexer import ResdslLexer
from resdsl.editor.textmate import grammar_text
from resdsl.ops.registry import KINDS, op_names
from resdsl.syntax.tokens import keywords

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").rglob("*.res")) + sorted((ROOT / "tests" / "specs").rglob("*.res"))
VALID = sorted((ROOT / "specs").rglob("*.res"))
VSCODE = ROOT / "editors" / "vscode"
TMGRAMMAR_TEST = VSCODE / "node_modules" / ".bin" / "vscode-tmgrammar-test"


@pytest.mark.parametrize("path", VALID, ids=lambda p: str(p.relative_to(ROOT)))
def test_pygments_lexes_every_bundled_spec_without_errors(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    tokens = list(ResdslLexer().get_tokens(text))
    assert [v for t, v in tokens if t in Error] == []
    assert "".join(v for _, v in tokens) == text  # lossless


def test_pygments_lexes_the_invalid_corpus_without_losing_text() -> None:
    for path in sorted((ROOT / "tests" / "specs" / "invalid").glob("*.res")):
        text = path.read_text(encoding="utf-8", errors="replace")
        lexed = "".join(v for _, v in ResdslLexer().get_tokens(text))
        assert lexed == text if text.endswith("\n") else lexed == text + "\n", path.name


def test_pygments_reads_words_from_the_grammar_and_the_registry() -> None:
    ops = sorted({n for kind in KINDS for n in op_names(kind)})
    assert ops and "conv" in ops
    for name in ops:
        assert list(ResdslLexer().get_tokens(f"x: {name}\n"))[3] == (Name.Builtin, name)
    for word in keywords():
        kind, value = next(iter(ResdslLexer().get_tokens(f"{word} \n")))
        assert value == word and kind in Keyword, word


def test_pygments_tells_labels_from_typed_parameters() -> None:
    text = 'block b(width: int) {\n    conv1: conv(width, 3)\n    "block1-0": relu\n}\n'
    pairs = [(t, v) for t, v in ResdslLexer().get_tokens(text) if v.strip()]
    assert (Name, "width") in pairs
    assert (Name.Label, "conv1") in pairs
    assert (Name.Label, '"block1-0"') in pairs


def test_pygments_entry_point(tmp_path: Path) -> None:
    """`pygmentize -l res` finds the lexer through the entry point pyproject declares."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    points = project["project"]["entry-points"]["pygments.lexers"]
    assert points == {"res": "resdsl.editor.pygments_lexer:ResdslLexer"}
    info = tmp_path / "resdsl_probe-0.dist-info"  # what installing the project writes
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: resdsl-probe\nVersion: 0\n")
    lines = "".join(f"{k} = {v}\n" for k, v in points.items())
    (info / "entry_points.txt").write_text(f"[pygments.lexers]\n{lines}")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    run = subprocess.run(
        [sys.executable, "-m", "pygments", "-l", "res", "-f", "raw", str(ROOT / "specs" / "resnet.res")],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "Token.Name.Label\t'conv1'" in run.stdout
    assert "Token.Error" not in run.stdout


def test_textmate_grammar_is_up_to_date() -> None:
    shipped = (VSCODE / "syntaxes" / "res.tmLanguage.json").read_text(encoding="utf-8")
    assert shipped == grammar_text(), "run: python scripts/make_editor_grammars.py"


def test_textmate_patterns_compile() -> None:
    """Every regex is one Python's `re` reads too (the patterns use nothing Oniguruma-only)."""
    grammar = json.loads(grammar_text())
    patterns = [
        rule[key]
        for rule in grammar["repository"].values()
        for key in ("match", "begin", "end")
        if key in rule
    ]
    assert len(patterns) >= 15
    for pattern in patterns:
        re.compile(pattern)


def test_vscode_manifest_points_at_the_grammar() -> None:
    manifest = json.loads((VSCODE / "package.json").read_text(encoding="utf-8"))
    (grammar,) = manifest["contributes"]["grammars"]
    assert (VSCODE / grammar["path"]).is_file()
    assert grammar["scopeName"] == json.loads(grammar_text())["scopeName"]
    (language,) = manifest["contributes"]["languages"]
    assert language["extensions"] == [".res"]
    assert (VSCODE / language["configuration"]).is_file()
    assert (VSCODE / manifest["main"]).is_file()
    assert manifest["contributes"]["configuration"]["properties"]["resdsl.server.command"][
        "default"
    ] == ["resdsl", "lsp"]


@pytest.mark.skipif(
    not TMGRAMMAR_TEST.exists() or shutil.which("node") is None,
    reason="the grammar test tool needs Node.js: `bash scripts/setup.sh --dev` installs it where npm is",
)
def test_textmate_grammar_with_vscode_tmgrammar_test() -> None:
    run = subprocess.run(
        [str(TMGRAMMAR_TEST), "-g", "syntaxes/res.tmLanguage.json", "tests/*.test.res"],
        cwd=VSCODE, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count("run successfuly") == len(list((VSCODE / "tests").glob("*.test.res")))

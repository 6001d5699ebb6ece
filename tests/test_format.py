"""``resdsl fmt``: the canonical layout, its idempotence, comments kept, invalid input refused."""

from __future__ import annotations

import dataclasses
import random
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import resdsl
from resdsl.cli import app
from resdsl.diagnostics import ResdslError, render_all
from resdsl.source import SourceFile, Span
from resdsl.syntax.format import MAX_WIDTH, format_text
from resdsl.syntax.parse import parse
from resdsl.syntax.tokens import COMMENT, NEWLINE, lex
from tests.test_shapes_property import specs as random_specs

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = sorted((ROOT / "specs").rglob("*.res"))
INVALID = sorted((ROOT / "tests" / "specs" / "invalid").glob("*.res"))
OTHERS = [
    ROOT / "tests" / "golden" / "codegen" / "tiny.res",
    ROOT / "tests" / "data" / "lesion_tiny.res",
]


def shape(node: Any) -> Any:
    """An AST as plain data without positions: what a layout change must not touch."""
    if isinstance(node, Span):
        return None
    if isinstance(node, tuple):
        return tuple(shape(x) for x in node)
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        return (
            type(node).__name__,
            *(shape(getattr(node, f.name)) for f in dataclasses.fields(node)),
        )
    return node


def comments(text: str) -> list[str]:
    return [x.text.rstrip() for x in lex(text) if x.kind == COMMENT]


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", BUNDLED, ids=rel)
def test_bundled_specs_are_formatted(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert format_text(text, rel(path)) == text, f"run: resdsl fmt {rel(path)}"


@pytest.mark.parametrize("path", BUNDLED + OTHERS, ids=rel)
def test_idempotent_and_keeps_comments_and_meaning(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    once = format_text(text)
    assert format_text(once) == once
    assert comments(once) == comments(text)
    assert shape(parse(SourceFile("x", once))) == shape(parse(SourceFile("x", text)))
    assert all(len(line) <= MAX_WIDTH for line in once.splitlines() if "#" not in line)


def _flush_left(text: str) -> str:
    """The spec with every indentation and label padding removed."""
    lines = [line.strip() for line in text.splitlines()]
    return "\n".join(re.sub(r"^([A-Za-z_][\w{}+ ]*:)\s+", r"\1 ", line) for line in lines) + "\n"


def _comment_gap(text: str) -> str:
    """Trailing comments two spaces after their code (their column is kept as written)."""
    return re.sub(r"(?m)(\S)[ ]+(#[^\"\n]*)$", r"\1  \2", text)


@pytest.mark.parametrize("path", BUNDLED, ids=rel)
def test_restores_the_layout_of_a_flattened_spec(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert _comment_gap(format_text(_flush_left(text))) == _comment_gap(text)


_GLUE = re.compile(r"[\w.]{2}|[*/\-<>=!]{2}")


def _respace(text: str, rng: random.Random) -> str:
    """The same tokens, comments and line breaks, with random blanks between tokens."""
    out: list[str] = []
    prev = ""
    for x in lex(text):
        if x.kind == NEWLINE:
            out.append("\n" + " " * rng.randint(0, 9))
            prev = ""
            continue
        gap = " " * rng.randint(0, 3)
        if x.kind == "LSQB" and prev[-1:].isalnum():
            gap = " " if x.space_before else ""  # `NAME [` after a keyword is kept as written
        if x.kind == COMMENT or (prev and not gap and _GLUE.fullmatch(prev[-1] + x.text[0])):
            gap = gap or " "
        out.append(gap + x.text)
        prev = x.text
    return "".join(out)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), index=st.integers(0, len(BUNDLED) - 1))
def test_random_blanks_format_back_to_the_bundled_layout(seed: int, index: int) -> None:
    text = BUNDLED[index].read_text(encoding="utf-8")
    messy = _respace(text, random.Random(seed))
    assert _comment_gap(format_text(messy)) == _comment_gap(text)


def _outcome(text: str) -> Any:
    try:
        return resdsl.loads(text).summary()
    except ResdslError as error:
        return [(d.code, d.message) for d in error.diagnostics]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=random_specs(), seed=st.integers(0, 2**32 - 1))
def test_formatting_checks_the_same(case: tuple[str, int], seed: int) -> None:
    text = _respace(case[0], random.Random(seed))
    formatted = format_text(text)
    assert format_text(formatted) == formatted
    assert _outcome(formatted) == _outcome(text)


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_corpus_is_refused_or_kept(path: Path) -> None:
    """A file that does not parse is refused with the parser's diagnostics; any other is
    formatted without changing what it means (its errors are the checker's, not the layout's)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    source = SourceFile(path.name, text)
    try:
        parsed = parse(source)
    except ResdslError as error:
        with pytest.raises(ResdslError) as refused:
            format_text(text, path.name)
        assert render_all(refused.value.diagnostics) == render_all(error.diagnostics)
        return
    once = format_text(text, path.name)
    assert format_text(once) == once
    assert comments(once) == comments(text)
    assert shape(parse(SourceFile(path.name, once))) == shape(parsed)


SAMPLE = "model m(){\n  input [3,H=8,W=8]\n  c : conv(4,3,padding = 1)  # first\n  relu\n}\n"
SAMPLE_FORMATTED = (
    "model m() {\n    input [3, H=8, W=8]\n    c: conv(4, 3, padding=1)  # first\n       relu\n}\n"
)


def test_layout_rules() -> None:
    text = (
        "block b( a:int=1 ,c : list=[1,2 , -3] ) {\n"
        "  x : conv( a*2 ** -1 , 3 ,padding=(a-1)//2)  ;  longer:relu\n"
        "  if a>1 and not c[0]==1 {relu} else { batchnorm }\n"
        "  repeat 2 as i { l{i + 1}: conv(a) }\n"
        "  let z=-a\n"
        "  skip in -> x ( add )\n"
        "}\n"
        "model verylong = m()\nmodel s = m()\n"
    )
    assert format_text(text) == (
        "block b(a: int = 1, c: list = [1, 2, -3]) {\n"
        "    x: conv(a * 2 ** -1, 3, padding=(a - 1) // 2); longer: relu\n"
        "    if a > 1 and not c[0] == 1 { relu } else { batchnorm }\n"
        "    repeat 2 as i { l{i + 1}: conv(a) }\n"
        "    let z = -a\n"
        "    skip in -> x (add)\n"
        "}\n"
        "model verylong = m()\nmodel s        = m()\n"
    )


def test_a_dotted_reference_is_written_tight() -> None:
    text = "model m() {\n    input [3]\n    a: { b: relu }\n    c: relu from a . b\n    output o : c\n}\n"
    assert format_text(text).splitlines()[3:5] == ["    c: relu from a.b", "    output o: c"]


def test_long_lines_break_after_commas() -> None:
    args = ", ".join(f"p{i}=true" for i in range(14))
    text = f"model m() {{\n    input [3, H=8, W=8]\n    conv(8, 3, {args})\n}}\n"
    out = format_text(text)
    lines = out.splitlines()
    assert lines[2] == (
        "    conv(8, 3, p0=true, p1=true, p2=true, p3=true, p4=true, p5=true, p6=true, p7=true, p8=true,"
    )
    assert lines[3] == "         p9=true, p10=true, p11=true, p12=true, p13=true)"
    assert format_text(out) == out


def test_cli_check_diff_and_write(tmp_path: Path) -> None:
    runner = CliRunner()
    path = tmp_path / "m.res"
    path.write_text(SAMPLE, encoding="utf-8")
    path.chmod(0o640)
    result = runner.invoke(app, ["fmt", "--check", str(path)])
    assert (result.exit_code, result.stderr) == (1, f"would reformat {path}\n")
    result = runner.invoke(app, ["fmt", "--diff", str(path)])
    assert result.exit_code == 1
    assert result.stdout.startswith(f"--- {path} (original)\n+++ {path} (formatted)\n")
    assert "\n-  c : conv(4,3,padding = 1)  # first\n" in result.stdout
    assert "\n+    c: conv(4, 3, padding=1)  # first\n" in result.stdout
    assert path.read_text(encoding="utf-8") == SAMPLE
    result = runner.invoke(app, ["fmt", str(path)])
    assert (result.exit_code, result.stderr) == (0, f"reformatted {path}\n")
    assert path.read_text(encoding="utf-8") == SAMPLE_FORMATTED
    assert path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["m.res"]  # no temporary file left
    result = runner.invoke(app, ["fmt", "--check", str(path)])
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")


def test_cli_refuses_invalid_input(tmp_path: Path) -> None:
    path = tmp_path / "bad.res"
    path.write_text("model m() {\n    input [3]\n    conv(4,\n}\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["fmt", str(path)])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{path}:4:1: error: unexpected '}}'")
    assert path.read_text(encoding="utf-8").startswith("model m() {\n    input [3]\n")
    result = CliRunner().invoke(app, ["fmt", str(tmp_path / "missing.res")])
    assert (result.exit_code, result.stderr) == (
        2,
        f"error: {tmp_path / 'missing.res'}: no such file\n",
    )


def test_cli_stdin() -> None:
    result = CliRunner().invoke(app, ["fmt", "-"], input=SAMPLE)
    assert (result.exit_code, result.stdout) == (0, SAMPLE_FORMATTED)
    result = CliRunner().invoke(app, ["fmt", "--check", "-"], input=SAMPLE)
    assert result.exit_code == 1


def test_a_sign_at_the_start_of_a_continued_line_is_binary() -> None:
    text = "block b(n: int) {\n    let x = (n\n             + 1)\n    conv(x, 1)\n}\n"
    assert format_text(text) == text


def test_comments_move_with_their_code() -> None:
    text = (
        "model m() {\n    input [3, H=8, W=8]\n    stem: conv(4, 3)\n"
        "    relu            # a\n    flatten         # b\n}\n"
    )
    assert format_text(text).splitlines()[3:5] == [
        "          relu            # a",
        "          flatten         # b",
    ]


def test_aligned_aliases_stay_aligned_when_one_is_too_long() -> None:
    long = ", ".join(["[1, 2, 3]"] * 8)
    text = f"model a = m(x=1)\nmodel bbbbbbbbbbbbb = m(x=[{long}])\nmodel cc = m(x=2)\n"
    once = format_text(text)
    assert format_text(once) == once
    assert once.splitlines()[0] == "model a = m(x=1)"
    assert once.splitlines()[-1] == "model cc = m(x=2)"
    text = "model a = m(x=1)\nmodel bbb = m(x=2)\n"
    assert format_text(text) == "model a   = m(x=1)\nmodel bbb = m(x=2)\n"

"""The fast LALR driver against Lark's own parser, on thousands of mutated specs.

The driver (resdsl/syntax/lalr_driver.py) reads Lark's tables and callbacks
itself; these tests check it changes nothing a user can see. Each spec of
specs/ and tests/specs/ is mutated at random (seeded, so a failure replays):
tokens deleted, duplicated, swapped or replaced, characters inserted, lines
dropped. Each mutant is parsed twice, fast driver on and off, and the two must
give the same AST (spans with lines and columns) or the same diagnostics,
byte for byte. The suite runs in strict mode (tests/conftest.py), so a driver
crash, or a text the driver rejects that Lark accepts, raises rather than falls
back.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import pytest

from resdsl.diagnostics import ResdslError, render
from resdsl.source import SourceFile
from resdsl.syntax import tables
from resdsl.syntax.parse import MAX_NESTING, DriverMismatch, _run
from tests.ast_dump import dump

ROOT = Path(__file__).resolve().parent.parent
SPEC_FILES = sorted([*ROOT.glob("specs/*.res"), *ROOT.glob("tests/specs/**/*.res")])

# Rough tokens of a spec: enough to cut it at meaningful places.
_TOKEN = re.compile(
    r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|[A-Za-z_]\w*(?:\{[^{}\n]*\}\w*)*|\d+(?:\.\d*)?(?:e-?\d+)?'
    r"|->|\*\*|//|[<>=!]=|\s+|.",
    re.S,
)
_INSERTED = [*"(){}[];:,=+-*/\"'#\n\t\\@!&|<>._0a9", "é", "->", " if ", " else ", "in", "{i}"]


def _spec_tokens() -> dict[str, list[str]]:
    tokens = {path.name: _TOKEN.findall(path.read_text(encoding="utf-8")) for path in SPEC_FILES}
    for name, toks in tokens.items():  # the tokenizer must cover the text
        assert "".join(toks) == (ROOT / _path_of(name)).read_text(encoding="utf-8"), name
    return tokens


def _path_of(name: str) -> Path:
    return next(p for p in SPEC_FILES if p.name == name).relative_to(ROOT)


def mutate(tokens: list[str], rng: random.Random) -> str:
    """``tokens`` joined after one to three random edits."""
    toks = list(tokens)
    for _ in range(rng.randint(1, 3)):
        if not toks:
            toks = [rng.choice(_INSERTED)]
        i = rng.randrange(len(toks))
        kind = rng.randrange(7)
        if kind == 0:
            del toks[i]
        elif kind == 1:
            toks.insert(i, toks[i])
        elif kind == 2 and i + 2 < len(toks):
            toks[i], toks[i + 2] = toks[i + 2], toks[i]  # across the blank between them
        elif kind == 3:
            toks[i] = rng.choice(tokens)
        elif kind == 4:
            toks.insert(i, rng.choice(_INSERTED))
        elif kind == 5:  # a name for a name, a number for a number: often still valid
            same = [
                t for t in tokens if t[:1].isalnum() and t[:1].isdigit() == toks[i][:1].isdigit()
            ]
            if same and toks[i][:1].isalnum():
                toks[i] = rng.choice(same)
        else:
            text = "".join(toks)
            lines = text.split("\n")
            del lines[rng.randrange(len(lines))]
            toks = _TOKEN.findall("\n".join(lines)) or [" "]
    return "".join(toks)


def outcome(source: SourceFile, start: str, fast: bool) -> Any:
    """What a user sees: the AST as data, or every diagnostic rendered."""
    try:
        return ("ast", dump(_run(source, start, fast=fast)))
    except ResdslError as e:
        return ("errors", [render(d) for d in e.diagnostics])


def assert_same(text: str, start: str) -> str:
    source = SourceFile("fuzz.res", text)
    fast = outcome(source, start, fast=True)
    assert fast == outcome(source, start, fast=False), text
    return str(fast[0])


def test_strict_mode_is_on() -> None:
    """Without it a driver bug would fall back to Lark and these tests would pass."""
    assert tables.strict()


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_driver_agrees_with_lark_on_mutated_specs(seed: int) -> None:
    rng = random.Random(seed)
    specs = _spec_tokens()
    names = sorted(specs)
    kinds = {"ast": 0, "errors": 0}
    for _ in range(500):
        kinds[assert_same(mutate(specs[rng.choice(names)], rng), "start")] += 1
    # Both outcomes are exercised: a fuzzer that only made errors would test little.
    assert kinds["ast"] >= 25 and kinds["errors"] >= 250, kinds


def _expressions() -> list[str]:
    """The arguments of every call and the items of every list in the specs."""
    found: list[str] = []
    for path in SPEC_FILES:
        for inside in re.findall(r"[(\[]([^()\[\]\n]+)[)\]]", path.read_text(encoding="utf-8")):
            found += [re.sub(r"^\s*\w+\s*=(?!=)", "", a) for a in inside.split(",")]
    return sorted({e.strip() for e in found if e.strip()})


@pytest.mark.slow
def test_driver_agrees_with_lark_on_mutated_expressions() -> None:
    """Expressions of the specs, as given on the command line (``-p NAME=EXPR``)."""
    rng = random.Random(7)
    expressions = [_TOKEN.findall(e) for e in _expressions()]
    kinds = {"ast": 0, "errors": 0}
    for _ in range(2000):
        tokens = rng.choice(expressions)
        if rng.random() < 0.2:  # two joined by an operator: longer expressions
            tokens = [
                *tokens,
                rng.choice([" + ", " * ", " if ", " else ", " and ", "["]),
                *rng.choice(expressions),
            ]
        text = mutate(tokens, rng) if rng.random() < 0.7 else "".join(tokens)
        kinds[assert_same(text, "expr_start")] += 1
    assert kinds["ast"] >= 400 and kinds["errors"] >= 400, kinds


@pytest.mark.parametrize("depth", range(MAX_NESTING - 2, MAX_NESTING + 2))
def test_driver_agrees_with_lark_at_the_nesting_limit(depth: int) -> None:
    """Both stop at the same depth; the block's own `{` counts too."""
    seen = {
        assert_same(text, "start")
        for text in (
            "block b { let x = " + "(" * depth + "1" + ")" * depth + " }",
            "block b { let x = " + "[" * depth + "1" + "]" * depth + " }",
            "block b { " + "a: { " * depth + "relu" + " }" * depth + " }",
        )
    }
    assert seen == ({"ast"} if depth < MAX_NESTING else {"errors"})


def test_every_bundled_spec_parses_the_same_both_ways() -> None:
    for path in SPEC_FILES:
        assert assert_same(path.read_text(encoding="utf-8"), "start") in ("ast", "errors")


def test_a_driver_crash_fails_in_strict_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    from resdsl.syntax import parse

    def crash(*args: Any) -> Any:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(parse._driver(), "parse", crash)
    with pytest.raises(DriverMismatch, match="crashed"):
        parse.parse(SourceFile("t.res", "block b { relu }"))


def test_a_driver_crash_falls_back_with_a_warning_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from resdsl.syntax import parse

    def crash(*args: Any) -> Any:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(parse._driver(), "parse", crash)
    monkeypatch.delenv(tables.STRICT_ENV)
    with pytest.warns(RuntimeWarning, match="bug in resdsl"):
        spec = parse.parse(SourceFile("t.res", "block b { relu }"))
    assert spec.definitions[0].name == "b"


def test_a_wrong_rejection_fails_in_strict_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    from resdsl.syntax import parse
    from resdsl.syntax.lalr_driver import FAIL

    monkeypatch.setattr(parse._driver(), "parse", lambda *args: FAIL)
    with pytest.raises(DriverMismatch, match=r"rejected t\.res, which Lark's parser accepts"):
        parse.parse(SourceFile("t.res", "block b { relu }"))
    # A text both reject is no mismatch: Lark explains the error.
    with pytest.raises(ResdslError, match="unexpected"):
        parse.parse(SourceFile("t.res", "block b { relu "))

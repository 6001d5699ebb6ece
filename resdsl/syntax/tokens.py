"""The token stream of a spec, comments and newlines included: what editors work from.

The parser drops what a formatter and a highlighter need most: comments and
line breaks travel inside the ``_SEP`` terminal (and inside ``ELSE``, which
carries the newlines before ``else``), and are dropped inside brackets. This
module lexes with the parser's own contextual lexer (the grammar's terminals,
through :func:`resdsl.syntax.tables.load_lark`) and splits those carriers into
``NEWLINE``, ``COMMENT`` and ``SEMI`` lexemes. Every other lexeme is named by
its terminal in ``grammars/resdsl.lark``, so a terminal added to the grammar
reaches the formatter and the highlighters without new code here.

>>> [(x.kind, x.text) for x in lex('use "a.res"  # first\\n')]
[('USE', 'use'), ('STRING', '"a.res"'), ('COMMENT', '# first'), ('NEWLINE', '\\n')]
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from lark import Lark

from resdsl.syntax import tables
from resdsl.syntax.brackets import BODY, CLOSE, OPEN, SEPARATOR

__all__ = [
    "COMMENT",
    "NEWLINE",
    "SEMI",
    "WORDS",
    "Lexeme",
    "is_keyword",
    "keywords",
    "lex",
]

NEWLINE: Final = "NEWLINE"
COMMENT: Final = "COMMENT"
SEMI: Final = "SEMI"

WORDS: Final = frozenset({"NAME", "LABEL_INTERP", "NUMBER", "STRING"})
"""Terminals that are words but not keywords: names, labels and literals."""

_TRIVIA: Final = re.compile(r"(?P<comment>#[^\n]*)|(?P<newline>\n)|(?P<semi>;)|[ \t\f\r\ufeff]+")
_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True)
class Lexeme:
    """One token of the source: its terminal (or trivia kind), text and offset."""

    kind: str
    text: str
    start: int
    space_before: bool
    """Whether blanks stood right before it in the source (a formatter's fallback)."""

    @property
    def end(self) -> int:
        return self.start + len(self.text)


def is_keyword(lexeme: Lexeme) -> bool:
    """A reserved word: a terminal spelled as an identifier that is not a name.

    >>> is_keyword(Lexeme("SKIP", "skip", 0, False)), is_keyword(Lexeme("NAME", "skip_", 0, False))
    (True, False)
    """
    return lexeme.kind not in WORDS and _IDENTIFIER.fullmatch(lexeme.text) is not None


@lru_cache(maxsize=1)
def keywords() -> tuple[str, ...]:
    """The grammar's reserved words, read from its terminals (sorted).

    >>> {"block", "skip", "else"} <= set(keywords())
    True
    """
    found: set[str] = set()
    for terminal in _lark().terminals:
        pattern = terminal.pattern.value
        if terminal.name in WORDS:
            continue
        if _IDENTIFIER.fullmatch(pattern):
            found.add(pattern)
        elif (
            m := re.search(r"([A-Za-z_][A-Za-z0-9_]*)\(\?!\[A-Za-z0-9_\]\)$", pattern)
        ) is not None:
            found.add(m.group(1))  # a keyword with a lookahead, such as ELSE
    return tuple(sorted(found))


class _Recorder:
    """Lark's post-lexer: records every token, then applies the bracket rules."""

    always_accept = (SEPARATOR,)

    def __init__(self) -> None:
        self.seen: list[Any] = []

    def process(self, stream: Iterator[Any]) -> Iterator[Any]:
        stack: list[str] = []
        for tok in stream:
            self.seen.append(tok)
            if tok.type == SEPARATOR and stack and stack[-1] != BODY:
                continue
            if tok.type in OPEN:
                stack.append(tok.type)
            elif tok.type in CLOSE and stack:
                stack.pop()
            yield tok


_RECORDER: Final = _Recorder()


@lru_cache(maxsize=1)
def _lark() -> Lark:
    return tables.load_lark(postlex=_RECORDER)


def lex(text: str) -> list[Lexeme]:
    """Every lexeme of ``text``, which must parse (check it with ``parse`` first).

    Raises Lark's exception on a text that does not parse.
    """
    _RECORDER.seen = []
    try:
        _lark().parse(text, start="start")
        seen = _RECORDER.seen
    finally:
        _RECORDER.seen = []
    out: list[Lexeme] = []
    for tok in seen:
        if tok.type == SEPARATOR:
            out.extend(_trivia(text, tok.start_pos, tok.end_pos))
        elif tok.type == "ELSE":  # it carries the newlines and comments before `else`
            word = tok.end_pos - len("else")
            out.extend(_trivia(text, tok.start_pos, word))
            out.append(Lexeme(tok.type, "else", word, _blank_before(text, word)))
        else:
            out.append(
                Lexeme(tok.type, tok.value, tok.start_pos, _blank_before(text, tok.start_pos))
            )
    return out


def _trivia(text: str, start: int, end: int) -> Iterator[Lexeme]:
    for m in _TRIVIA.finditer(text, start, end):
        for kind in ("comment", "newline", "semi"):
            if m.group(kind) is not None:
                name = {"comment": COMMENT, "newline": NEWLINE, "semi": SEMI}[kind]
                yield Lexeme(name, m.group(), m.start(), _blank_before(text, m.start()))


def _blank_before(text: str, pos: int) -> bool:
    return pos > 0 and text[pos - 1] in " \t\f\r"

"""Brackets and statement separators: the lexical rules both parsers share.

A newline ends a statement, except inside ``(...)`` and ``[...]``; a ``{``
opens a body, where newlines separate statements again. Lark's post-lexer
(:class:`resdsl.syntax.parse._Brackets`) and the fast driver
(:mod:`resdsl.syntax.lalr_driver`) both apply these rules, from here, so they
cannot drift apart.

>>> bracket_problem([], _Closer("RPAR", ")"))
"unexpected ')': there is no '(' to close"
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Final, NamedTuple

MAX_NESTING: Final = 64
"""Open brackets of any kind allowed at once; deeper input is rejected, not crashed on."""

SEPARATOR: Final = "_SEP"
"""The terminal of a run of newlines, ``;`` and comments between statements."""

BODY: Final = "LBRACE"
"""The bracket that opens a body: inside it, separators separate statements."""

OPEN: Final = {"LPAR": "RPAR", "LSQB": "RSQB", "LBRACE": "RBRACE"}
"""Each opening bracket's terminal, with the terminal that closes it."""

CLOSE: Final = {v: k for k, v in OPEN.items()}
"""Each closing bracket's terminal, with the terminal that opens it."""

BRACKET_TEXT: Final = {
    "LPAR": "(",
    "RPAR": ")",
    "LSQB": "[",
    "RSQB": "]",
    "LBRACE": "{",
    "RBRACE": "}",
}


class _Closer(NamedTuple):  # a token, for the example above
    type: str
    value: str


def real_semicolon(sep: str) -> bool:
    """Whether a separator's text holds a ';' outside its comments.

    Inside ``(...)`` a newline is dropped but a ``;`` is an error.

    >>> real_semicolon("  # a; b\\n"), real_semicolon(" ;\\n")
    (False, True)
    """
    return ";" in sep and ";" in re.sub(r"#[^\n]*", "", sep)


def where_opened(tok: Any) -> str:
    """``the block opened at line 3``: where an open bracket token began."""
    what = "block" if tok.type == BODY else f"'{BRACKET_TEXT[tok.type]}'"
    return f"the {what} opened at line {tok.line}"


def bracket_problem(stack: Sequence[Any], tok: Any) -> str | None:
    """What is wrong with closing bracket ``tok`` given the open ones, if anything."""
    opener = CLOSE[tok.type]
    if stack and stack[-1].type == opener:
        return None
    if not stack or (stack[-1].type == BODY and not any(o.type == opener for o in stack)):
        return f"unexpected '{tok.value}': there is no '{BRACKET_TEXT[opener]}' to close"
    top = stack[-1]
    return (
        f"unexpected '{tok.value}': expected '{BRACKET_TEXT[OPEN[top.type]]}' "
        f"to close {where_opened(top)}"
    )

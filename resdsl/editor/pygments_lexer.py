"""A Pygments lexer for ``.res`` files: ``pygmentize -l res spec.res``.

Registered under the ``pygments.lexers`` entry point (alias ``res``), so Sphinx,
MkDocs and anything else built on Pygments find it once resdsl is installed.
The reserved words are read from the grammar's terminals and the layer, merge,
shortcut and alignment names from the op registry, so a construct or a layer
added later is highlighted without editing this file.

>>> tokens = list(ResdslLexer().get_tokens("bn1: batchnorm  # norm\\n"))
>>> [(str(t), v) for t, v in tokens if v.strip()]
[('Token.Name.Label', 'bn1'), ('Token.Punctuation', ':'), ('Token.Name.Builtin', 'batchnorm'), ('Token.Comment.Single', '# norm')]
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from pygments.lexer import RegexLexer, bygroups, words
from pygments.token import (
    Comment,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Whitespace,
)

from resdsl.ops.registry import KINDS, op_names
from resdsl.syntax.tokens import keywords

__all__ = ["ResdslLexer"]

_CONSTANTS = ("true", "false")
_DEFINERS = ("block", "model")
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_STRING = r'"[^"\\\n]*(?:\\[^\n][^"\\\n]*)*"'
_LABEL = r"[A-Za-z_][A-Za-z0-9_]*(?:\{[^{}\n]*\}[A-Za-z0-9_]*)+"
_NUMBER = (
    r"(?:[0-9](?:_?[0-9])*(?:\.(?:[0-9](?:_?[0-9])*)?)?|\.[0-9](?:_?[0-9])*)"
    r"(?:[eE][+-]?[0-9](?:_?[0-9])*)?"
)


def _op_words() -> tuple[str, ...]:
    """Every registered op name: layers, merges, shortcuts and alignments."""
    return tuple(sorted({name for kind in KINDS for name in op_names(kind)}))


def _common() -> list[Any]:
    """Rules for every state: whitespace, comments, words, literals, operators."""
    reserved = tuple(k for k in keywords() if k not in _CONSTANTS)
    return [
        (r"[ \t\f\r\ufeff\n]+", Whitespace),
        (r"#[^\n]*", Comment.Single),
        (
            rf"({'|'.join(_DEFINERS)})(\s+)({_IDENT})",
            bygroups(Keyword.Declaration, Whitespace, Name.Function),
        ),
        (words(_CONSTANTS, suffix=r"\b"), Keyword.Constant),
        (words(reserved, suffix=r"\b"), Keyword),
        (_LABEL, Name.Label),  # `layer{s + 1}` wherever it stands
        (words(_op_words(), suffix=r"\b"), Name.Builtin),
        (_STRING, String.Double),
        (_NUMBER, Number),
        (_IDENT, Name),
        (r"->|\*\*|//|[<>]=?|[=!]=|[-+*/%]", Operator),
        (r"[(\[]", Punctuation, "args"),
        (r"\{", Punctuation, "body"),
        (r"[)\]}]", Punctuation, "#pop"),
        (r"[=:,;.]", Punctuation),
    ]


def _tokens() -> dict[str, list[Any]]:
    """A statement's label (a name, an interpolated or a quoted name, then `:`) is told
    apart from a `name: type` parameter by the bracket it stands in: labels only in a
    body or at the top level, never inside `(...)` or `[...]`."""
    label = [
        (rf"({_LABEL}|{_IDENT})(\s*)(:)", bygroups(Name.Label, Whitespace, Punctuation)),
        (rf"({_STRING})(\s*)(:)", bygroups(Name.Label, Whitespace, Punctuation)),
    ]
    return {"root": label + _common(), "body": label + _common(), "args": _common()}


class ResdslLexer(RegexLexer):  # type: ignore[misc]  # pygments ships no types
    """Pygments lexer for resdsl architecture specs (``.res``)."""

    name = "resdsl"
    aliases: ClassVar[list[str]] = ["res", "resdsl"]
    filenames: ClassVar[list[str]] = ["*.res"]
    mimetypes: ClassVar[list[str]] = ["text/x-resdsl"]
    url = "https://github.com/resdsl/resdsl"
    flags = re.MULTILINE
    tokens: ClassVar[dict[str, list[Any]]] = _tokens()

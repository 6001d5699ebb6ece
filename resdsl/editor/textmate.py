"""The TextMate grammar of ``.res`` files (VS Code, Sublime, GitHub's linguist, Shiki).

Built from the grammar's reserved words and the op registry, like the Pygments
lexer; ``python scripts/make_editor_grammars.py`` writes it to
``editors/vscode/syntaxes/res.tmLanguage.json`` and a test fails while that
file is stale. Labels are told from ``name: type`` parameters by the bracket
they stand in, as in :mod:`resdsl.editor.pygments_lexer`: ``(...)`` and
``[...]`` are regions whose patterns have no label rule.

>>> g = textmate_grammar()
>>> g["scopeName"], sorted(g["repository"])[:3]
('source.resdsl', ['args', 'body', 'comment'])
"""

from __future__ import annotations

import json
from typing import Any, Final

from resdsl.ops.registry import op_names
from resdsl.syntax.tokens import keywords

__all__ = ["SCOPE", "grammar_text", "textmate_grammar"]

SCOPE: Final = "source.resdsl"
_IDENT: Final = r"[A-Za-z_][A-Za-z0-9_]*"
_INTERP: Final = r"[A-Za-z_][A-Za-z0-9_]*(?:\{[^{}]*\}[A-Za-z0-9_]*)+"
_STRING: Final = r'"(?:[^"\\]|\\.)*"'
_NUMBER: Final = (
    r"(?:\b[0-9](?:_?[0-9])*(?:\.(?:[0-9](?:_?[0-9])*)?)?|\.[0-9](?:_?[0-9])*)"
    r"(?:[eE][+-]?[0-9](?:_?[0-9])*)?"
)
_CONSTANTS: Final = ("true", "false")
# Inside brackets and after a label: everything but labels, in the order tried.
_EXPRESSION: Final = (
    "comment", "definition", "args", "body", "string", "interpolated", "constant",
    "keyword", "layer", "merge", "number", "operator", "equals", "name",
)  # fmt: skip


def _alternatives(names: list[str] | tuple[str, ...]) -> str:
    return r"\b(?:" + "|".join(sorted(names, key=lambda n: (-len(n), n))) + r")\b"


def _s(name: str) -> str:
    return f"{name}.resdsl"


def _repository() -> dict[str, Any]:
    reserved = [k for k in keywords() if k not in _CONSTANTS]
    shortcut_like = sorted(set(op_names("merge") + op_names("shortcut") + op_names("align")))
    return {
        "comment": {"match": "#.*$", "name": _s("comment.line.number-sign")},
        "definition": {
            "match": rf"\b(block|model)\s+({_IDENT})",
            "captures": {
                "1": {"name": _s("storage.type")},
                "2": {"name": _s("entity.name.function")},
            },
        },
        "label": {
            "match": rf"({_INTERP}|{_IDENT}|{_STRING})\s*(:)",
            "captures": {
                "1": {"name": _s("entity.name.tag.label")},
                "2": {"name": _s("punctuation.separator.label")},
            },
        },
        "interpolated": {"match": _INTERP, "name": _s("variable.other.label")},
        "constant": {"match": _alternatives(_CONSTANTS), "name": _s("constant.language")},
        "keyword": {"match": _alternatives(reserved), "name": _s("keyword.control")},
        "layer": {
            "match": _alternatives(op_names("layer")),
            "name": _s("support.function.builtin"),
        },
        "merge": {"match": _alternatives(shortcut_like), "name": _s("support.constant")},
        "string": {"match": _STRING, "name": _s("string.quoted.double")},
        "number": {"match": _NUMBER, "name": _s("constant.numeric")},
        "operator": {"match": r"->|\*\*|//|[<>]=?|[=!]=|[-+*/%]", "name": _s("keyword.operator")},
        "equals": {"match": "=", "name": _s("keyword.operator.assignment")},
        "name": {"match": _IDENT, "name": _s("variable.other")},
        "args": {
            "begin": r"[(\[]",
            "end": r"[)\]]",
            "beginCaptures": {"0": {"name": _s("punctuation.section.brackets.begin")}},
            "endCaptures": {"0": {"name": _s("punctuation.section.brackets.end")}},
            "patterns": [{"include": "#expression"}],
        },
        "body": {
            "begin": r"\{",
            "end": r"\}",
            "beginCaptures": {"0": {"name": _s("punctuation.section.block.begin")}},
            "endCaptures": {"0": {"name": _s("punctuation.section.block.end")}},
            "patterns": [{"include": "#statements"}],
        },
        "expression": {"patterns": [{"include": f"#{rule}"} for rule in _EXPRESSION]},
        "statements": {
            "patterns": [{"include": "#comment"}, {"include": "#label"}, {"include": "#expression"}]
        },
    }


def textmate_grammar() -> dict[str, Any]:
    """The grammar as a JSON-ready dict."""
    return {
        "$schema": "https://raw.githubusercontent.com/martinring/tmlanguage/master/tmlanguage.json",
        "name": "resdsl",
        "scopeName": SCOPE,
        "fileTypes": ["res"],
        "patterns": [{"include": "#statements"}],
        "repository": _repository(),
    }


def grammar_text() -> str:
    """What ``editors/vscode/syntaxes/res.tmLanguage.json`` holds."""
    return json.dumps(textmate_grammar(), indent=2) + "\n"

"""Layout of generated source as ``ruff format`` (and black) lays it out: quotes and long lines."""

from __future__ import annotations

import io
import re
import tokenize

#: ``ruff format``'s default line length: the file is formatted wherever it is written.
WIDTH = 88


def double_quotes(source: str) -> str:
    """Single-quoted string literals (from :func:`ast.unparse`) as double-quoted ones."""
    lines = source.splitlines(keepends=True)
    edits: list[tuple[int, int, int, str]] = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type != tokenize.STRING:
            continue
        text = tok.string
        prefix = text[: len(text) - len(text.lstrip("rbfuRBFU"))]
        body = text[len(prefix) :]
        if (
            body.startswith("'")
            and not body.startswith("'''")
            and '"' not in body
            and "\\" not in body
        ):
            new = prefix + '"' + body[1:-1] + '"'
            edits.append((tok.start[0], tok.start[1], tok.end[1], new))
    for row, start, end, new in reversed(edits):
        line = lines[row - 1]
        lines[row - 1] = line[:start] + new + line[end:]
    return "".join(lines)


_SIMPLE = r"(?:[A-Za-z_][A-Za-z0-9_.]*|[0-9][0-9.]*)"
_POWER = re.compile(rf"(?<![\w.)\]])(-?{_SIMPLE}) \*\* (-?{_SIMPLE})(?![\w.(\[])")


def hug_powers(source: str) -> str:
    """``2 ** s`` -> ``2**s``: black hugs a power whose operands are simple."""
    return _POWER.sub(r"\1**\2", source)


def _closing_split(code: str) -> tuple[str, str, str] | None:
    """``head(``, the bracket's contents, ``)tail``: the split at the last bracket pair."""
    depth = 0
    end = len(code.rstrip(":")) - 1
    tail_start = end
    while tail_start >= 0 and code[tail_start] not in ")]":
        if code[tail_start] in "([":
            return None
        tail_start -= 1
    if tail_start < 0:
        return None
    for i in range(tail_start, -1, -1):
        ch = code[i]
        if ch in ")]":
            depth += 1
        elif ch in "([":
            depth -= 1
            if depth == 0:
                return code[: i + 1], code[i + 1 : tail_start], code[tail_start:]
    return None


def _top_level_parts(text: str) -> list[str]:
    parts, depth, start, quote = [], 0, 0, ""
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def wrap(line: str, width: int = WIDTH) -> list[str]:
    """A line too long for ``width`` split at its last bracket pair, as black does."""
    if len(line) <= width:
        return [line]
    indent = line[: len(line) - len(line.lstrip())]
    split = _closing_split(line.strip())
    if split is None:
        return [line]
    head, inner, tail = split
    inner_indent = indent + "    "
    if len(inner_indent) + len(inner) <= width and not inner.rstrip().endswith(","):
        return [indent + head, inner_indent + inner.strip(), indent + tail]
    rows = [indent + head]
    for part in _top_level_parts(inner):
        rows += wrap(inner_indent + part + ",", width)
    rows.append(indent + tail)
    return rows

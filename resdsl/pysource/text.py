"""Layout of generated source as ``ruff format`` (and black) lays it out: quotes and long lines."""

from __future__ import annotations

import ast as pyast
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


_TRAILER = re.compile(r"\.[A-Za-z_][A-Za-z0-9_]*[(\[]\Z")


def _omit_trailers(
    code: str, split: tuple[str, str, str], indent: int, width: int
) -> tuple[str, str, str]:
    """Black's "omitting optional trailers": while the first line is too long, split
    at the call before a method-call trailer (``a.f(x).g(y)`` at ``f(``), if the
    last line still fits."""
    while indent + len(split[0]) > width:
        head = split[0]
        trailer = _TRAILER.search(head)
        if trailer is None:
            break
        earlier = _closing_split(head[: trailer.start()])
        if earlier is None:
            break
        rest = code[len(earlier[0]) + len(earlier[1]) :]
        if indent + len(rest) > width:
            break
        split = (earlier[0], earlier[1], rest)
    return split


_CHAIN = (pyast.Add, pyast.Sub)
_LOOSER = (pyast.IfExp, pyast.BoolOp, pyast.Compare, pyast.Lambda, pyast.NamedExpr)


def _operator_split(code: str, indent: str, width: int) -> list[str] | None:
    """``v = a + b + c`` as ``v = (`` / ``a`` / ``+ b`` / ``+ c`` / ``)``, one operand a row."""
    try:
        tree = pyast.parse(code)
    except SyntaxError:
        return None
    stmt = tree.body[0] if len(tree.body) == 1 else None
    if not isinstance(stmt, pyast.Assign) or not isinstance(stmt.value, pyast.BinOp):
        return None
    operands: list[tuple[str, pyast.expr]] = []
    node: pyast.expr = stmt.value
    while isinstance(node, pyast.BinOp) and isinstance(node.op, _CHAIN):
        operands.append(("+ " if isinstance(node.op, pyast.Add) else "- ", node.right))
        node = node.left
    if not operands:
        return None
    operands.append(("", node))
    targets = " = ".join(pyast.unparse(t) for t in stmt.targets)
    rows = [f"{indent}{targets} = ("]
    for op, operand in reversed(operands):
        text = pyast.unparse(operand)
        looser = isinstance(operand, _LOOSER) or (
            op and isinstance(operand, pyast.BinOp) and isinstance(operand.op, _CHAIN)
        )
        rows.append(f"{indent}    {op}{f'({text})' if looser else text}")
    rows.append(f"{indent})")
    return rows


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
    head, inner, tail = _omit_trailers(line.strip(), split, len(indent), width)
    inner_indent = indent + "    "
    if len(indent) + len(head) > width:  # black wraps the right-hand side in parentheses
        rows = _operator_split(line.strip(), indent, width)
        if rows is not None:
            return rows
    if len(inner_indent) + len(inner) <= width and not inner.rstrip().endswith(","):
        return [indent + head, inner_indent + inner.strip(), indent + tail]
    rows = [indent + head]
    for part in _top_level_parts(inner):
        rows += wrap(inner_indent + part + ",", width)
    rows.append(indent + tail)
    return rows

"""An AST as plain data, for tests that compare parses exactly (spans included)."""

from __future__ import annotations

import dataclasses
from typing import Any

from resdsl.source import Span


def dump(node: Any) -> Any:
    """An AST as plain data, spans with their lines and columns (Span's == ignores them)."""
    if isinstance(node, Span):
        return (node.start, node.end, node.line, node.column, node.end_line, node.end_column)
    if isinstance(node, tuple):
        return tuple(dump(x) for x in node)
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        return (
            type(node).__name__,
            *(dump(getattr(node, f.name)) for f in dataclasses.fields(node)),
        )
    return node

"""Source files and spans: where every piece of a spec came from.

A :class:`Span` is attached to every AST node, carried into every graph node and
into generated code, so that any later stage can point back at the spec text.

>>> src = SourceFile("net.res", "conv1: conv(64, 3)\\n")
>>> span = src.span(0, 5)
>>> (span.line, span.column, span.end_line, span.end_column)
(1, 1, 1, 6)
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

_NEWLINE = re.compile("\n")


@dataclass(frozen=True, eq=False)
class SourceFile:
    """The text of one spec file, with a line index for offset -> (line, column)."""

    name: str
    text: str = field(repr=False)
    _line_starts: tuple[int, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        starts = [0]
        starts.extend(m.end() for m in _NEWLINE.finditer(self.text))
        object.__setattr__(self, "_line_starts", tuple(starts))

    def position(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of a 0-based character offset."""
        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self._line_starts, offset) - 1
        return line + 1, offset - self._line_starts[line] + 1

    def line_text(self, line: int) -> str:
        """The text of a 1-based line, without its newline."""
        if not 1 <= line <= len(self._line_starts):
            return ""
        start = self._line_starts[line - 1]
        end = self.text.find("\n", start)
        return self.text[start : end if end >= 0 else len(self.text)].rstrip("\r")

    def span(self, start: int, end: int) -> Span:
        """The span between two 0-based offsets (end exclusive)."""
        line, column = self.position(start)
        end_line, end_column = self.position(max(end, start))
        return Span(self, start, max(end, start), line, column, end_line, end_column)


@dataclass(frozen=True, eq=False)
class Span:
    """A region of a source file. Lines and columns are 1-based; ends are exclusive."""

    source: SourceFile
    start: int
    end: int
    line: int
    column: int
    end_line: int
    end_column: int

    def __repr__(self) -> str:
        return f"Span({self})"

    @property
    def file(self) -> str:
        return self.source.name

    @property
    def text(self) -> str:
        return self.source.text[self.start : self.end]

    def __str__(self) -> str:
        return f"{self.source.name}:{self.line}:{self.column}"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Span)
            and other.source is self.source
            and (other.start, other.end) == (self.start, self.end)
        )

    def __hash__(self) -> int:
        return hash((id(self.source), self.start, self.end))

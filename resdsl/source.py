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
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_NEWLINE = re.compile("\n")

#: The largest spec file read, the root file and every file it ``use``s alike.
MAX_FILE_BYTES = 10 * 1024 * 1024


class UnreadableSource(Exception):
    """Why a spec file cannot be read: ``reason`` completes "FILE: ..."; ``code`` classifies it."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def read_source_text(path: str | Path, max_bytes: int = MAX_FILE_BYTES) -> str:
    """The UTF-8 text of a spec file, reading at most ``max_bytes`` (+1 to notice more).

    Only a regular file is read: a directory, a device (``/dev/zero`` would
    never end) or a FIFO (opening one for reading waits for a writer) is
    refused. The file is opened without blocking and checked on the open
    descriptor, so it cannot be swapped between the check and the read.
    Raises :class:`UnreadableSource`.

    >>> read_source_text("/dev/zero")
    Traceback (most recent call last):
    resdsl.source.UnreadableSource: is not a regular file (a device, FIFO or socket)
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise UnreadableSource("no-file", "no such file") from None
    except IsADirectoryError:
        raise UnreadableSource("no-file", "is a directory, not a spec") from None
    except (OSError, ValueError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise UnreadableSource("no-file", reason) from None
    with os.fdopen(fd, "rb") as file:
        data = _read_regular(file, os.fstat(fd).st_mode, max_bytes)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UnreadableSource("encoding", f"not UTF-8 text (byte {err.start})") from None


def _read_regular(file: Any, mode: int, max_bytes: int) -> bytes:
    if stat.S_ISDIR(mode):
        raise UnreadableSource("no-file", "is a directory, not a spec")
    if not stat.S_ISREG(mode):
        raise UnreadableSource("no-file", "is not a regular file (a device, FIFO or socket)")
    try:
        data: bytes = file.read(max_bytes + 1)
    except OSError as err:
        raise UnreadableSource("no-file", err.strerror or str(err)) from None
    if len(data) > max_bytes:
        raise UnreadableSource(
            "file-too-large", f"file is larger than {max_bytes // (1024 * 1024)} MiB"
        )
    return data


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

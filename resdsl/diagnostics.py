"""Diagnostics: the one error type, the collector, and the one renderer.

Every stage reports problems as :class:`Diagnostic` values. A stage collects them
in a :class:`Collector` and raises :class:`ResdslError` once, so the user sees every
independent error of a run together. :func:`render` is the only place that turns
a span into text.

>>> from resdsl.source import SourceFile
>>> src = SourceFile("net.res", "bn1: batchnrom\\n")
>>> d = Diagnostic("unknown-layer", "unknown layer 'batchnrom'", src.span(5, 14),
...                hint="did you mean 'batchnorm'?")
>>> print(render(d))
net.res:1:6: error: unknown layer 'batchnrom'
    1 | bn1: batchnrom
      |      ^^^^^^^^^
  hint: did you mean 'batchnorm'?
"""

from __future__ import annotations

import bisect
import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from resdsl.source import Span


@dataclass(frozen=True)
class Diagnostic:
    """One problem: a stable ``code``, a message, where it is, and what to do."""

    code: str
    message: str
    span: Span | None = None
    hint: str | None = None
    notes: tuple[str, ...] = ()
    severity: str = "error"

    def with_note(self, note: str) -> Diagnostic:
        return Diagnostic(
            self.code, self.message, self.span, self.hint, (*self.notes, note), self.severity
        )

    def __str__(self) -> str:
        return render(self)


class ResdslError(Exception):
    """Raised for every failure of resdsl: a bad spec, a bad argument, a bad option.

    ``diagnostics`` holds every problem found; ``str(error)`` renders them all.
    """

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics: tuple[Diagnostic, ...] = tuple(diagnostics)
        super().__init__(render_all(self.diagnostics))

    @classmethod
    def single(
        cls, code: str, message: str, span: Span | None = None, hint: str | None = None
    ) -> ResdslError:
        return cls([Diagnostic(code, message, span, hint)])


@dataclass
class Collector:
    """Gathers diagnostics across a stage, dropping exact duplicates.

    Duplicates arise naturally: a mistake inside a block is found once per
    instantiation, but the user should read about it once.
    """

    diagnostics: list[Diagnostic] = field(default_factory=list)
    _seen: set[tuple[str, str, int, int, str]] = field(default_factory=set)

    def add(self, diagnostic: Diagnostic) -> None:
        span = diagnostic.span
        key = (
            diagnostic.code,
            diagnostic.message,
            span.start if span else -1,
            span.end if span else -1,
            span.file if span else "",
        )
        if key not in self._seen:
            self._seen.add(key)
            self.diagnostics.append(diagnostic)

    def extend(self, diagnostics: Iterable[Diagnostic]) -> None:
        for d in diagnostics:
            self.add(d)

    def error(
        self, code: str, message: str, span: Span | None = None, hint: str | None = None
    ) -> None:
        self.add(Diagnostic(code, message, span, hint))

    @property
    def has_errors(self) -> bool:
        return any(d.severity == "error" for d in self.diagnostics)

    def raise_if_errors(self) -> None:
        if self.has_errors:
            raise ResdslError(self.diagnostics)


def render(diagnostic: Diagnostic) -> str:
    """A compiler-style rendering: location, message, source line, carets, hint."""
    d = diagnostic
    lines: list[str] = []
    where = f"{d.span}: " if d.span is not None and d.span.file else ""
    lines.append(f"{where}{d.severity}: {d.message}")
    if d.span is not None and d.span.source.text:
        lines.extend(_excerpt(d.span))
    for note in d.notes:
        lines.append(f"  note: {note}")
    if d.hint:
        lines.append(f"  hint: {d.hint}")
    return "\n".join(lines)


def render_all(diagnostics: Iterable[Diagnostic]) -> str:
    diagnostics = list(diagnostics)
    parts = [render(d) for d in diagnostics]
    n = sum(1 for d in diagnostics if d.severity == "error")
    if n > 1:
        parts.append(f"{n} errors")
    return "\n\n".join(parts)


def _excerpt(span: Span) -> list[str]:
    text = span.source.line_text(span.line)
    expanded = text.expandtabs(4)
    # Columns are counted on the raw line; tabs widen to 4 when shown.
    prefix = text[: span.column - 1].expandtabs(4)
    if span.end_line == span.line:
        width = max(1, len(text[span.column - 1 : span.end_column - 1].expandtabs(4)))
    else:
        width = max(1, len(expanded) - len(prefix))
    gutter = str(span.line).rjust(5)
    pad = " " * len(gutter)
    return [f"{gutter} | {expanded}", f"{pad} | {' ' * len(prefix)}{'^' * width}"]


#: Candidates compared with difflib for one hint, at most: a spec with thousands
#: of names and hundreds of mistakes gets its hints in bounded time.
MAX_HINT_CANDIDATES = 300


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """A hint naming the closest candidate, if one is close enough.

    >>> did_you_mean("batchnrom", ["batchnorm", "relu"])
    "did you mean 'batchnorm'?"
    """
    pool = _nearest_by_length(name, set(candidates))
    matches = difflib.get_close_matches(name, sorted(pool), n=1, cutoff=0.6)
    return f"did you mean '{matches[0]}'?" if matches else None


def _nearest_by_length(name: str, candidates: set[str]) -> Iterable[str]:
    """At most :data:`MAX_HINT_CANDIDATES` candidates, those most likely close to ``name``.

    difflib's ratio is at most ``2 * min(a, b) / (a + b)`` for lengths ``a`` and
    ``b``, so lengths far from the name's cannot reach the 0.6 cutoff. Of the
    rest, the neighbours of ``name`` in sorted order: they share its longest
    prefixes. A sort and a slice, no difflib call on most candidates.
    """
    if len(candidates) <= MAX_HINT_CANDIDATES:
        return candidates
    n = len(name)
    fits = sorted(c for c in candidates if 2 * min(n, len(c)) >= 0.6 * (n + len(c)))
    at = bisect.bisect_left(fits, name)
    half = MAX_HINT_CANDIDATES // 2
    lo = max(0, min(at - half, len(fits) - MAX_HINT_CANDIDATES))
    return fits[lo : lo + MAX_HINT_CANDIDATES]

"""A :class:`~resdsl.analysis.paths.PathReport` as text and as an HTML table.

What ``resdsl paths`` prints is what ``str(report)`` gives in Python, so a
notebook or a REPL shows the report, not a dump of its fields.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

from resdsl.analysis.tables import format_count, html_table, share

if TYPE_CHECKING:
    from resdsl.analysis.paths import PathReport


def histogram_lines(hist: dict[int, int], total: int, rows: int = 12, width: int = 40) -> list[str]:
    """A compact text histogram: at most ``rows`` bins of equal width, shares in percent.

    >>> print("\\n".join(histogram_lines({1: 1, 2: 2, 3: 1}, 4, width=8)))
      1   25.0%  ####
      2   50.0%  ########
      3   25.0%  ####
    """
    keys = sorted(hist)
    lo, hi = keys[0], keys[-1]
    step = max(1, -(-(hi - lo + 1) // rows))
    bins: list[tuple[int, int, int]] = []
    for start in range(lo, hi + 1, step):
        end = min(start + step - 1, hi)
        bins.append((start, end, sum(hist.get(k, 0) for k in range(start, end + 1))))
    top = max(c for _, _, c in bins)
    label_width = len(f"{hi}") * (2 if step > 1 else 1) + (1 if step > 1 else 0)
    lines = []
    for start, end, count in bins:
        label = f"{start}" if start == end else f"{start}-{end}"
        pct = 100 * share(count, total)
        text = f"{pct:5.1f}%" if pct >= 0.05 or count == 0 else " <0.1%"
        bar = "#" * round(width * share(count, top)) if count else ""
        lines.append(f"  {label:>{label_width}}  {text}  {bar}".rstrip())
    return lines


def report_lines(r: PathReport, spec_name: str | None = None) -> list[str]:
    """The text report of ``resdsl paths``; ``spec_name`` starts its first line."""
    twin = " (plain twin)" if r.plain else ""
    where = f"{spec_name}: " if spec_name else ""
    central = ""
    if r.count > 1 and r.histograms:
        lo95, hi95 = r.weighted_depth_range(0.95)
        central = f" (95% of paths: {lo95} to {hi95})"
    histogram = (
        ["  paths by number of activations:", *histogram_lines(r.nonlinearity_histogram, r.count)]
        if r.histograms
        else ["  (counted without histograms: --count-only)"]
    )
    return [
        f"{where}model {r.model}{twin}: {r.nodes} nodes, {r.merges} merges",
        f"  input-to-output paths  {format_count(r.count)}",
        f"  activations per path   {r.min_nonlinearities} to {r.max_nonlinearities}",
        f"  weighted layers        {r.min_weighted_depth} to {r.max_weighted_depth}{central}",
        *histogram,
        "",
        *textwrap.wrap(r.explanation, 100, break_on_hyphens=False),
        "",
        f"A shortest path ({r.min_nonlinearities} activations, {len(r.shortest_path)} nodes):",
        *textwrap.wrap(
            " -> ".join(r.shortest_path),
            100,
            initial_indent="  ",
            subsequent_indent="  ",
            break_on_hyphens=False,
        ),
    ]


def report_repr(r: PathReport) -> str:
    """A one-line summary, for ``repr``."""
    twin = " (plain twin)" if r.plain else ""
    return (
        f"<PathReport {r.model}{twin}: {format_count(r.count, compact=True)} paths, "
        f"{r.min_nonlinearities} to {r.max_nonlinearities} activations per path>"
    )


def report_html(r: PathReport) -> str:
    """The report's figures and its histogram of activations per path as an HTML table."""
    twin = " (plain twin)" if r.plain else ""
    caption = (
        f"model {r.model}{twin}: {format_count(r.count)} input-to-output paths; "
        f"{r.min_nonlinearities} to {r.max_nonlinearities} activations and "
        f"{r.min_weighted_depth} to {r.max_weighted_depth} weighted layers per path"
    )
    rows = [
        [str(k), format_count(n), f"{100 * share(n, r.count):.1f}%"]
        for k, n in sorted(r.nonlinearity_histogram.items())
    ]
    return html_table(["activations", "paths", "share"], rows, right={0, 1, 2}, caption=caption)

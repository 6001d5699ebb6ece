"""Reports as tables, for a terminal (plain text) and a notebook (HTML).

The command line prints its own rich tables; these are what a report shows
as ``str(report)`` and in Jupyter (``_repr_html_``), with no dependency beyond
the standard library. Every cell is escaped in HTML: spec text is user text.

>>> print(text_table(["layer", "params"], [["conv1", "432"], ["fc", "650"]], right={1}))
layer  params
-----  ------
conv1     432
fc        650
"""

from __future__ import annotations

import html
from collections.abc import Collection, Sequence


def format_macs(macs: int) -> str:
    """``4.0892 G``: MACs in the unit people quote them in.

    >>> format_macs(4_089_184_256), format_macs(512)
    ('4.0892 G', '512')
    """
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if macs >= scale:
            return f"{macs / scale:.4f} {unit}"
    return str(macs)


def text_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], right: Collection[int] = ()
) -> str:
    """A plain-text table: a header, a rule, and one line per row; ``right`` columns align right."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


def html_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    right: Collection[int] = (),
    caption: str | None = None,
) -> str:
    """An HTML table with every cell escaped; ``right`` columns align right.

    >>> html_table(["a"], [["<b>"]])
    '<table><thead><tr><th>a</th></tr></thead><tbody><tr><td>&lt;b&gt;</td></tr></tbody></table>'
    """

    def cell(tag: str, i: int, text: str) -> str:
        style = ' style="text-align: right"' if i in right else ""
        return f"<{tag}{style}>{html.escape(text)}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(cell("td", i, c) for i, c in enumerate(row)) + "</tr>" for row in rows
    )
    top = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table>{top}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

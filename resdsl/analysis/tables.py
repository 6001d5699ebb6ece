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


def share(count: int, total: int) -> float:
    """``count / total`` as a float, exact to rounding even for counts past 1e308."""
    return count / total if total else 0.0


def format_count(n: int, *, compact: bool = False) -> str:
    """A count people can read: digits with commas, or scientific past 21 digits.

    Powers of two say so; ``compact`` keeps only ``2^k`` for them, and goes
    scientific past 12 digits.

    >>> format_count(2**54), format_count(2**333), format_count(5)
    ('18,014,398,509,481,984 (2^54)', '1.750e100 (2^333)', '5')
    >>> format_count(2**54, compact=True), format_count(3**40, compact=True)
    ('2^54', '1.216e19')
    """
    power = n > 2 and n & (n - 1) == 0
    if compact and power and n >= 2**20:
        return f"2^{n.bit_length() - 1}"
    digits = str(n)
    if len(digits) <= (12 if compact else 21):
        text = f"{n:,}"
    else:
        lead, exp = int(digits[:4]) + (digits[4] >= "5"), len(digits) - 1
        if lead == 10_000:
            lead, exp = 1000, exp + 1
        text = f"{lead // 1000}.{lead % 1000:03d}e{exp}"
    if power:
        text += f" (2^{n.bit_length() - 1})"
    return text


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

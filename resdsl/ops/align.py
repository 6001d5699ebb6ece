"""Alignments: make the inputs of a ``concat`` the same spatial size (``align=``).

``crop`` centre-crops every input to the smallest size, ``pad`` zero-pads to
the largest (U-Net's original crop, or the common pad). The elaborator inserts
an align node before the concat for each input that needs it; the node's
``forward`` reads its input and the concat's other inputs (their sizes).

>>> from resdsl.ops.registry import get_op
>>> from resdsl.ir.graph import AlignArgs
>>> get_op("crop", "align").label(AlignArgs(amounts=((4, 4), (4, 4))), 2)
'crop 4+4 4+4'
"""

from __future__ import annotations

from typing import Any, ClassVar

from resdsl.ir import dims
from resdsl.ir.graph import AlignArgs
from resdsl.ops.base import BoxStyle, Emit, Line, Op, OpKind, PathRole, Reads

_ALIGN_PATH = PathRole(shortcut=True)
_SPATIAL_LETTERS = {1: ("l",), 2: ("h", "w"), 3: ("d", "h", "w")}


class Align(Op):
    """Base of an alignment: ``target`` picks the common size of two sizes."""

    kind: ClassVar[OpKind] = "align"
    Args: ClassVar[type[Any]] = AlignArgs
    reads: ClassVar[Reads] = "peers"
    box: ClassVar[BoxStyle] = BoxStyle(
        fill="#fff4e6", color="#e8590c", style="rounded,filled,dashed"
    )

    @property
    def path(self) -> PathRole:
        return _ALIGN_PATH

    def target(self, a: int, b: int) -> int:
        """The common size of two (possibly symbolic) sizes."""
        raise NotImplementedError

    def label(self, args: Any, rank: int) -> str:
        amounts = getattr(args, "amounts", ())
        text = self.name
        if any(a or b for a, b in amounts):
            text += " " + " ".join(f"{a}+{b}" for a, b in amounts)
        return text

    def differences(
        self, x: str, refs: list[str], args: AlignArgs, emit: Emit
    ) -> tuple[list[str], list[Line]]:
        """Lines computing the size difference per spatial axis, and their variables."""
        spatial = len(args.amounts)
        letters = _SPATIAL_LETTERS.get(spatial, tuple(str(i) for i in range(1, spatial + 1)))
        others = list(dict.fromkeys(refs))
        lines: list[Line] = []
        diffs: list[str] = []
        for axis, letter in enumerate(letters, start=2):
            d = emit.temp(f"d{letter}")
            diffs.append(d)
            sizes = ", ".join(f"{r}.size({axis})" for r in others)
            lines.append((self.difference(d, x, axis, sizes), False))
        return diffs, lines

    def difference(self, d: str, x: str, axis: int, sizes: str) -> str:
        raise NotImplementedError


class Crop(Align):
    """``crop``: centre-crop to the smallest size."""

    name = "crop"

    def target(self, a: int, b: int) -> int:
        return dims.minimum(a, b)

    def difference(self, d: str, x: str, axis: int, sizes: str) -> str:
        return f"{d} = {x}.size({axis}) - min({sizes})"

    def forward_lines(self, args: AlignArgs, out: str, ins: list[str], emit: Emit) -> list[Line]:
        x = ins[0]
        diffs, lines = self.differences(x, ins[1:], args, emit)
        slices = ", ".join(
            f"{d} // 2 : {x}.size({axis}) - ({d} - {d} // 2)"
            for axis, d in enumerate(diffs, start=2)
        )
        lines.append((f"{out} = {x}[:, :, {slices}]", True))
        return lines


class Pad(Align):
    """``pad``: zero-pad to the largest size."""

    name = "pad"

    def target(self, a: int, b: int) -> int:
        return dims.maximum(a, b)

    def difference(self, d: str, x: str, axis: int, sizes: str) -> str:
        return f"{d} = max({sizes}) - {x}.size({axis})"

    def forward_lines(self, args: AlignArgs, out: str, ins: list[str], emit: Emit) -> list[Line]:
        x = ins[0]
        diffs, lines = self.differences(x, ins[1:], args, emit)
        emit.use_functional()
        pads = ", ".join(f"{d} // 2, {d} - {d} // 2" for d in reversed(diffs))
        lines.append((f"{out} = F.pad({x}, ({pads}))", True))
        return lines


BUILTIN_ALIGNS: tuple[Align, ...] = (Crop(), Pad())

"""Splits: the ops that hand each arm of a ``parallel (..., split=N)`` its share of the input.

A split node reads the parallel's input and gives arm ``index`` its
``index``-th of ``chunks`` equal parts along channels, as
``torch.chunk(x, chunks, dim=1)[index]`` (ShuffleNet V2's ``x.chunk(2, dim=1)``).
It has no module and no parameters; its ``forward`` line is a view.

>>> from resdsl.ops.registry import get_op
>>> chunk = get_op("chunk", "split")
>>> chunk.infer(chunk.Args(chunks=2, index=1), (116, 28, 28))
(58, 28, 28)
>>> chunk.forward_lines(chunk.Args(chunks=2, index=1), "x2", ["x"], None)  # type: ignore[arg-type]
[('x2 = x.chunk(2, dim=1)[1]', True)]
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from resdsl.ir import dims
from resdsl.ir.dims import Shape
from resdsl.ops.base import Emit, Line, Op, OpKind, ShapeError, format_shape


class SplitArgs(BaseModel):
    """Which part of how many: ``index`` of ``chunks`` equal parts."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    chunks: int
    index: int


class Split(Op):
    """Base of a split: one part of a parallel's input for one arm."""

    kind: ClassVar[OpKind] = "split"
    Args: ClassVar[type[Any]] = SplitArgs

    def infer(self, args: Any, shape: Shape) -> Shape:
        """The part's shape; raise :class:`ShapeError` if the input cannot be split so."""
        raise NotImplementedError


class Chunk(Split):
    """``chunk``: equal parts along channels (the first non-batch dimension)."""

    name = "chunk"

    def infer(self, args: SplitArgs, shape: Shape) -> Shape:
        if not shape:
            raise ShapeError("cannot split a value without dimensions along channels")
        channels = shape[0]
        if dims.is_symbolic(channels):
            raise ShapeError(
                f"cannot split {format_shape(shape)} along channels: its channel count is symbolic",
                hint="give the input a fixed number of channels",
            )
        if channels % args.chunks:
            raise ShapeError(
                f"cannot split {format_shape(shape)} into {args.chunks} equal parts along "
                f"channels: {channels} is not divisible by {args.chunks}",
                hint=f"make the channel count a multiple of {args.chunks}, or change split=",
            )
        return (channels // args.chunks, *shape[1:])

    def forward_lines(self, args: SplitArgs, out: str, ins: list[str], emit: Emit) -> list[Line]:
        return [(f"{out} = {ins[0]}.chunk({args.chunks}, dim=1)[{args.index}]", True)]

    def label(self, args: Any, rank: int) -> str:
        return f"chunk {args.index + 1}/{args.chunks}"


BUILTIN_SPLITS: tuple[Split, ...] = (Chunk(),)

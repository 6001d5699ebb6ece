"""Resizes: ``upsample(size=shape(REF), ...)``, a resize to another value's size at run time.

A resize node reads its value (input 0) and the value whose spatial size it
takes (input 1, over a ``size`` edge: only its shape is read, so no path runs
through it). Its output has the input's channels and the reference's spatial
sizes, symbolic ones included. It is ``F.interpolate(x, size=ref.shape[2:],
...)``, as torchvision's segmentation models resize to the input's size.

>>> from resdsl.ops.registry import get_op
>>> resize = get_op("interpolate", "resize")
>>> args = resize.Args(mode="bilinear", align_corners=False)
>>> resize.infer(args, (21, 28, 28), (3, 224, 224))
(21, 224, 224)
>>> resize.forward_lines(args, "out", ["x", "ref"], _NoEmit())
[("out = F.interpolate(x, size=ref.shape[2:], mode='bilinear', align_corners=False)", True)]
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from resdsl.ir.dims import Shape
from resdsl.ops.base import Emit, Line, Op, OpKind, ShapeError, format_shape
from resdsl.ops.common import Bool
from resdsl.ops.shape import MODE_SPATIAL, UpsampleMode


class ResizeArgs(BaseModel):
    """How to resize: ``mode`` and ``align_corners``, as for ``upsample``."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    mode: UpsampleMode = "nearest"
    align_corners: Bool | None = None

    @field_validator("align_corners")
    @classmethod
    def _interpolating_only(cls, value: bool | None, info: ValidationInfo) -> bool | None:
        mode = info.data.get("mode")
        if value is not None and mode is not None and mode not in MODE_SPATIAL:
            raise PydanticCustomError(
                "align_corners_mode",
                "align_corners can only be set with mode 'linear', 'bilinear', 'bicubic' or "
                "'trilinear', not '{mode}'",
                {"mode": mode},
            )
        return value


class Resize(Op):
    """Base of a resize: a value brought to the spatial size of another."""

    kind: ClassVar[OpKind] = "resize"
    Args: ClassVar[type[Any]] = ResizeArgs
    reads = "inputs"
    fresh_output = True

    def infer(self, args: Any, shape: Shape, reference: Shape) -> Shape:
        """The output shape; raise :class:`ShapeError` if ``shape`` cannot take ``reference``'s size."""
        raise NotImplementedError


class Interpolate(Resize):
    """``interpolate``: ``F.interpolate(x, size=ref.shape[2:], mode=..., align_corners=...)``."""

    name = "interpolate"

    def infer(self, args: ResizeArgs, shape: Shape, reference: Shape) -> Shape:
        if len(shape) != len(reference) or len(shape) < 2:
            raise ShapeError(
                f"cannot resize {format_shape(shape)} to the spatial size of "
                f"{format_shape(reference)}: the ranks differ",
                hint="size=shape(REF) takes REF's sizes after its channels: REF needs as "
                "many spatial dimensions as the input",
            )
        need = MODE_SPATIAL.get(args.mode)
        if need is not None and need != len(shape) - 1:
            raise ShapeError(
                f"mode '{args.mode}' needs {need} spatial dimension{'s' if need > 1 else ''}, "
                f"the input has {len(shape) - 1}",
                arg="mode",
            )
        return (shape[0], *reference[1:])

    def forward_lines(self, args: ResizeArgs, out: str, ins: list[str], emit: Emit) -> list[Line]:
        emit.use_functional()
        ref = ins[1] if len(ins) > 1 else ins[0]
        extra = f", mode={args.mode!r}"
        if args.align_corners is not None:
            extra += f", align_corners={args.align_corners!r}"
        return [(f"{out} = F.interpolate({ins[0]}, size={ref}.shape[2:]{extra})", True)]

    def label(self, args: Any, rank: int) -> str:
        return f"resize ({args.mode})"


class _NoEmit:
    def use_functional(self) -> None:
        pass


BUILTIN_RESIZES: tuple[Resize, ...] = (Interpolate(),)

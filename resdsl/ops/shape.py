"""Layers that move values around: ``flatten``, ``identity``, ``upsample``, ``dropout``."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Literal

from pydantic import ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from resdsl.ir import dims
from resdsl.ir.dims import Shape
from resdsl.ops.base import Layer, LayerArgs, ShapeError, call_source, rank_suffix
from resdsl.ops.common import (
    ALWAYS,
    Bool,
    Int,
    NoArgs,
    Probability,
    ScaleFactor,
    check_rank,
    keywords_of,
    normalize_dim,
    torch_dim,
)


class FlattenArgs(LayerArgs):
    start_dim: Int = 0
    end_dim: Int = -1


class Flatten(Layer):
    """``flatten(start_dim=0, end_dim=-1)`` -> ``nn.Flatten``.

    Dimensions count from the first non-batch dimension, so the default turns
    ``[C, H, W]`` into ``[C*H*W]``; a non-negative index is emitted shifted by
    one past the batch (``nn.Flatten()`` for the default), a negative one as is.
    Both must lie in ``[-rank, rank - 1]``, and ``start_dim`` may not come after
    ``end_dim``.
    """

    name = "flatten"
    Args = FlattenArgs
    category = "shape"

    def infer(self, args: FlattenArgs, shape: Shape) -> Shape:
        start = normalize_dim(self.name, "start_dim", args.start_dim, len(shape))
        end = normalize_dim(self.name, "end_dim", args.end_dim, len(shape))
        if start > end:
            raise ShapeError(
                f"start_dim={args.start_dim} comes after end_dim={args.end_dim}",
                hint="flatten merges the dimensions from start_dim to end_dim, in order",
                arg="start_dim",
            )
        return (*shape[:start], dims.product(shape[start : end + 1]), *shape[end + 1 :])

    def torch_init(self, args: FlattenArgs, shape: Shape) -> str:
        return call_source(
            "nn.Flatten",
            [],
            [("start_dim", torch_dim(args.start_dim), 1), ("end_dim", torch_dim(args.end_dim), -1)],
        )


class Identity(Layer):
    """``identity`` -> ``nn.Identity()``: any shape, unchanged (a named point to skip from)."""

    name = "identity"
    Args = NoArgs
    category = "shape"

    def infer(self, args: NoArgs, shape: Shape) -> Shape:
        return shape

    def torch_init(self, args: NoArgs, shape: Shape) -> str:
        return "nn.Identity()"


class DropoutArgs(LayerArgs):
    p: Probability = 0.5


class Dropout(Layer):
    """``dropout(p=0.5)``, picked by rank.

    ``[F]`` -> ``nn.Dropout``; ``[C, L]`` -> ``nn.Dropout1d``, ``[C, H, W]`` ->
    ``nn.Dropout2d``, ``[C, D, H, W]`` -> ``nn.Dropout3d``, which zero whole
    channels. The shape is unchanged.
    """

    name = "dropout"
    Args = DropoutArgs
    category = "dropout"
    ranks = (1, 2, 3, 4)

    def infer(self, args: DropoutArgs, shape: Shape) -> Shape:
        check_rank(self.name, shape, self.ranks)
        return shape

    def torch_init(self, args: DropoutArgs, shape: Shape) -> str:
        ctor = "nn.Dropout" if len(shape) == 1 else f"nn.Dropout{rank_suffix(self.name, shape)}"
        return call_source(ctor, [], keywords_of(args))


UpsampleMode = Literal[
    "nearest", "linear", "bilinear", "bicubic", "trilinear", "area", "nearest-exact"
]

#: The modes that need a given rank ([C, L] = 1 spatial dimension, ...).
MODE_SPATIAL = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}


class UpsampleArgs(LayerArgs):
    scale_factor: ScaleFactor
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


class Upsample(Layer):
    """``upsample(scale_factor, mode="nearest", align_corners=null)`` -> ``nn.Upsample``.

    Input ``[C, L]``, ``[C, H, W]`` or ``[C, D, H, W]``; each spatial size ``n``
    becomes ``floor(n * scale_factor)`` computed in floating point, as PyTorch
    does, and must stay positive. ``scale_factor`` is a number or one per
    spatial dimension. ``linear`` needs ``[C, L]``, ``bilinear`` and ``bicubic``
    ``[C, H, W]``, ``trilinear`` ``[C, D, H, W]``. For a symbolic size the factor
    must be a binary fraction (2, 0.5, 1.5, ...): PyTorch's floating-point
    rounding of ``n * 0.7`` follows no exact rule valid for every ``n``.
    """

    name = "upsample"
    Args = UpsampleArgs
    category = "shape"
    #: ``upsample(size=shape(REF), mode=..., align_corners=...)`` is this resize op instead.
    resize_op = "interpolate"
    ranks = (2, 3, 4)

    def infer(self, args: UpsampleArgs, shape: Shape) -> Shape:
        rank_suffix(self.name, shape, self.ranks)
        n = len(shape) - 1
        need = MODE_SPATIAL.get(args.mode)
        if need is not None and need != n:
            raise ShapeError(
                f"mode '{args.mode}' needs {need} spatial dimension{'s' if need > 1 else ''}, "
                f"the input has {n}",
                hint="'nearest' works for any rank; 'linear' is 1d, 'bilinear' and 'bicubic' "
                "2d, 'trilinear' 3d",
                arg="mode",
            )
        factors = (
            (args.scale_factor,) * n if isinstance(args.scale_factor, float) else args.scale_factor
        )
        if len(factors) != n:
            raise ShapeError(
                f"scale_factor has {len(factors)} values but the input has {n} spatial "
                f"dimension{'s' if n > 1 else ''}",
                arg="scale_factor",
            )
        out: list[int] = [shape[0]]
        for axis, (size, factor) in enumerate(zip(shape[1:], factors, strict=True)):
            product = float(int(size)) * factor
            if not product < dims.MAX_SIZE:  # also infinity, and NaN
                raise ShapeError(
                    f"the output size {int(size)} * {factor} in spatial dimension {axis + 1} "
                    f"is too large (more than 64 bits)",
                    arg="scale_factor",
                )
            value = math.floor(product)
            if value < 1:
                raise ShapeError(
                    f"the output size floor({int(size)} * {factor}) = {value} in spatial "
                    f"dimension {axis + 1} is not positive",
                    hint="use a larger scale_factor or a larger input",
                    arg="scale_factor",
                )
            if not dims.is_symbolic(size):
                out.append(value)
                continue
            if Fraction(factor).denominator > 1 << 20:
                raise ShapeError(
                    f"scale_factor={factor} is not a binary fraction, so PyTorch's "
                    f"floating-point size floor(n * {factor}) has no exact rule for a "
                    f"symbolic size",
                    hint="use a factor such as 2, 0.5 or 1.5, or fix the input size",
                    arg="scale_factor",
                )
            out.append(dims.scaled(size, factor))
        return tuple(out)

    def torch_init(self, args: UpsampleArgs, shape: Shape) -> str:
        return call_source(
            "nn.Upsample",
            [],
            [
                ("scale_factor", args.scale_factor, ALWAYS),
                ("mode", args.mode, "nearest"),
                ("align_corners", args.align_corners, None),
            ],
        )

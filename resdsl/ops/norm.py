"""Normalisations: ``batchnorm``, ``groupnorm``, ``layernorm``, ``layernorm2d``, ``instancenorm``.

Parameters (weight and bias) count; running statistics are buffers and do not.
A norm sizes its parameters or buffers by the channel (or last) dimension,
which ``param_dims`` reports only when there are parameters or buffers to size.
"""

from __future__ import annotations

import math

from resdsl.ir.dims import Shape
from resdsl.ops.base import Layer, LayerArgs, ShapeError, call_source, rank_suffix
from resdsl.ops.common import (
    Bool,
    NonNegFloat,
    PosInt,
    Probability,
    check_min_rank,
    check_rank,
    keywords_of,
)


class BatchNormArgs(LayerArgs):
    eps: NonNegFloat = 1e-5
    momentum: Probability | None = 0.1
    affine: Bool = True
    track_running_stats: Bool = True


class BatchNorm(Layer):
    """``batchnorm(eps, momentum, affine, track_running_stats)`` -> ``nn.BatchNorm{1,2,3}d``.

    ``[C]`` and ``[C, L]`` -> BatchNorm1d, ``[C, H, W]`` -> 2d, ``[C, D, H, W]`` -> 3d;
    the shape is unchanged. ``momentum=None`` is PyTorch's cumulative average.
    """

    name = "batchnorm"
    fresh_output = True  # a new tensor its backward does not keep
    Args = BatchNormArgs
    category = "norm"
    ranks = (1, 2, 3, 4)

    def infer(self, args: BatchNormArgs, shape: Shape) -> Shape:
        check_rank(self.name, shape, self.ranks)
        return shape

    def params(self, args: BatchNormArgs, shape: Shape) -> int:
        return 2 * int(shape[0]) if args.affine else 0

    def param_dims(self, args: BatchNormArgs, shape: Shape) -> tuple[int, ...]:
        return (0,) if args.affine or args.track_running_stats else ()

    def torch_init(self, args: BatchNormArgs, shape: Shape) -> str:
        suffix = "1d" if len(shape) == 1 else rank_suffix(self.name, shape)
        return call_source(f"nn.BatchNorm{suffix}", [int(shape[0])], keywords_of(args))


class GroupNormArgs(LayerArgs):
    num_groups: PosInt
    eps: NonNegFloat = 1e-5
    affine: Bool = True


class GroupNorm(Layer):
    """``groupnorm(num_groups, eps, affine)`` -> ``nn.GroupNorm(num_groups, C)``.

    Input ``[C, *rest]`` of any rank from 1; ``num_groups`` must divide ``C``.
    The shape is unchanged.
    """

    name = "groupnorm"
    fresh_output = True  # a new tensor its backward does not keep
    Args = GroupNormArgs
    category = "norm"

    def infer(self, args: GroupNormArgs, shape: Shape) -> Shape:
        check_min_rank(self.name, shape)
        if int(shape[0]) % args.num_groups:
            raise ShapeError(
                f"num_groups={args.num_groups} does not divide the {int(shape[0])} channels",
                hint="pick a number of groups that divides the channel count",
                arg="num_groups",
            )
        return shape

    def params(self, args: GroupNormArgs, shape: Shape) -> int:
        return 2 * int(shape[0]) if args.affine else 0

    def param_dims(self, args: GroupNormArgs, shape: Shape) -> tuple[int, ...]:
        return (0,) if args.affine else ()

    def torch_init(self, args: GroupNormArgs, shape: Shape) -> str:
        return call_source(
            "nn.GroupNorm",
            [args.num_groups, int(shape[0])],
            keywords_of(args, "num_groups"),
        )


class LayerNormArgs(LayerArgs):
    eps: NonNegFloat = 1e-5
    elementwise_affine: Bool = True
    bias: Bool = True


class LayerNorm(Layer):
    """``layernorm(eps, elementwise_affine, bias)`` -> ``nn.LayerNorm(shape[-1])``.

    Normalises over the last dimension only (``[T, D]`` -> over ``D``), so the
    last dimension sizes the parameters, and PyTorch checks it even without them.
    The shape is unchanged.
    """

    name = "layernorm"
    fresh_output = True  # a new tensor its backward does not keep
    Args = LayerNormArgs
    category = "norm"

    def infer(self, args: LayerNormArgs, shape: Shape) -> Shape:
        check_min_rank(self.name, shape)
        return shape

    def params(self, args: LayerNormArgs, shape: Shape) -> int:
        if not args.elementwise_affine:
            return 0
        return int(shape[-1]) * (2 if args.bias else 1)

    def param_dims(self, args: LayerNormArgs, shape: Shape) -> tuple[int, ...]:
        return (len(shape) - 1,)

    def torch_init(self, args: LayerNormArgs, shape: Shape) -> str:
        return call_source(
            "nn.LayerNorm",
            [int(shape[-1])],
            keywords_of(args),
        )


class ChannelLayerNormArgs(LayerArgs):
    eps: NonNegFloat = 1e-5
    elementwise_affine: Bool = True
    bias: Bool = True


class ChannelLayerNorm(Layer):
    """``layernorm2d(eps, elementwise_affine, bias)``: a layer norm over the channels of a map.

    torchvision's ``LayerNorm2d`` (ConvNeXt): on ``[C, H, W]`` it normalises
    each position's ``C`` values, as ``nn.LayerNorm(C)`` on the channels-last
    value: ``norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)``, the same
    operations in the same order, so the result is identical. Its
    ``state_dict`` holds ``weight`` and ``bias`` of size ``C``; the shape is unchanged.
    """

    name = "layernorm2d"
    fresh_output = True  # a new tensor its backward does not keep
    Args = ChannelLayerNormArgs
    category = "norm"
    ranks = (3,)

    def infer(self, args: ChannelLayerNormArgs, shape: Shape) -> Shape:
        check_rank(self.name, shape, self.ranks, hint="layernorm2d takes a feature map [C, H, W]")
        return shape

    def params(self, args: ChannelLayerNormArgs, shape: Shape) -> int:
        if not args.elementwise_affine:
            return 0
        return int(shape[0]) * (2 if args.bias else 1)

    def param_dims(self, args: ChannelLayerNormArgs, shape: Shape) -> tuple[int, ...]:
        return (0,)

    def torch_init(self, args: ChannelLayerNormArgs, shape: Shape) -> str:
        return call_source("nn.LayerNorm", [int(shape[0])], keywords_of(args))

    def torch_call(self, module: str, x: str, args: ChannelLayerNormArgs, shape: Shape) -> str:
        return f"{module}({x}.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)"


class InstanceNormArgs(LayerArgs):
    eps: NonNegFloat = 1e-5
    momentum: Probability | None = 0.1
    affine: Bool = False
    track_running_stats: Bool = False


class InstanceNorm(Layer):
    """``instancenorm(eps, momentum, affine, track_running_stats)`` -> ``nn.InstanceNorm{1,2,3}d``.

    ``[C, L]`` -> 1d, ``[C, H, W]`` -> 2d, ``[C, D, H, W]`` -> 3d; the shape is
    unchanged. PyTorch refuses, when training, an input with a single spatial
    element (its variance is undefined), so that is a shape error here too.
    """

    name = "instancenorm"
    fresh_output = True  # a new tensor its backward does not keep
    Args = InstanceNormArgs
    category = "norm"
    ranks = (2, 3, 4)

    def infer(self, args: InstanceNormArgs, shape: Shape) -> Shape:
        rank_suffix(self.name, shape, self.ranks)
        if math.prod(int(d) for d in shape[1:]) == 1:
            raise ShapeError(
                "instance normalisation needs more than one spatial element per channel",
                hint="remove the instancenorm or normalise before the last downsampling",
            )
        return shape

    def params(self, args: InstanceNormArgs, shape: Shape) -> int:
        return 2 * int(shape[0]) if args.affine else 0

    def param_dims(self, args: InstanceNormArgs, shape: Shape) -> tuple[int, ...]:
        return (0,) if args.affine or args.track_running_stats else ()

    def torch_init(self, args: InstanceNormArgs, shape: Shape) -> str:
        return call_source(
            f"nn.InstanceNorm{rank_suffix(self.name, shape, self.ranks)}",
            [int(shape[0])],
            keywords_of(args),
        )

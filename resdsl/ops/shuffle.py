"""``channel_shuffle``: ShuffleNet's interleaving of channel groups."""

from __future__ import annotations

from resdsl.ir import dims
from resdsl.ir.dims import Shape
from resdsl.ops.base import Layer, LayerArgs, ShapeError, format_shape
from resdsl.ops.common import PosInt, check_min_rank


class ChannelShuffleArgs(LayerArgs):
    groups: PosInt


class ChannelShuffle(Layer):
    """``channel_shuffle(groups)`` -> ``nn.ChannelShuffle``: interleave ``groups`` channel groups.

    Input ``[C, ...]`` with ``C`` divisible by ``groups``; the shape is
    unchanged. Channel ``g * (C / groups) + i`` moves to ``i * groups + g``,
    as torchvision's ``shufflenetv2.channel_shuffle`` does (reshape to
    ``[groups, C / groups]``, transpose, flatten). No parameters.
    """

    name = "channel_shuffle"
    Args = ChannelShuffleArgs
    category = "shape"

    def infer(self, args: ChannelShuffleArgs, shape: Shape) -> Shape:
        check_min_rank(self.name, shape)
        channels = shape[0]
        if dims.is_symbolic(channels):
            raise ShapeError(
                f"cannot shuffle {format_shape(shape)}: its channel count is symbolic",
                hint="give the input a fixed number of channels",
            )
        if int(channels) % args.groups:
            raise ShapeError(
                f"{int(channels)} channels cannot form {args.groups} equal groups",
                hint=f"make the channel count a multiple of {args.groups}",
                arg="groups",
            )
        return shape

    def torch_init(self, args: ChannelShuffleArgs, shape: Shape) -> str:
        return f"nn.ChannelShuffle({args.groups})"

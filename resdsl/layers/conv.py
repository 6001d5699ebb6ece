"""Convolutions: ``conv`` (ConvNd) and ``conv_transpose`` (ConvTransposeNd)."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field

from resdsl import dims
from resdsl.dims import Shape
from resdsl.layers.base import Layer, LayerArgs, ShapeError, call_source, rank_suffix, tuple_of

IntOrTuple = int | tuple[int, ...]


class ConvArgs(LayerArgs):
    out_channels: int = Field(gt=0)
    kernel_size: IntOrTuple
    stride: IntOrTuple = 1
    padding: IntOrTuple | Literal["same", "valid"] = 0
    dilation: IntOrTuple = 1
    groups: int = Field(default=1, gt=0)
    bias: bool = True
    padding_mode: Literal["zeros", "reflect", "replicate", "circular"] = "zeros"


class Conv(Layer):
    """``conv(out_channels, kernel_size, ...)`` -> ``nn.Conv{1,2,3}d``; input ``[C, *spatial]``."""

    name = "conv"
    Args = ConvArgs
    category = "weighted"

    def _geometry(
        self, a: ConvArgs, shape: Shape
    ) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], list[tuple[int, int]]]:
        rank_suffix("conv", shape)
        n = len(shape) - 1
        k = tuple_of(a.kernel_size, n, "kernel_size")
        s = tuple_of(a.stride, n, "stride")
        d = tuple_of(a.dilation, n, "dilation")
        if a.padding == "valid":
            pads = [(0, 0)] * n
        elif a.padding == "same":
            if any(x != 1 for x in s):
                raise ShapeError(
                    "padding='same' is only supported with stride 1", arg="padding"
                )
            # PyTorch puts the odd extra padding after (right/bottom).
            pads = []
            for ki, di in zip(k, d, strict=True):
                total = di * (ki - 1)
                pads.append((total // 2, total - total // 2))
        else:
            pads = [(p, p) for p in tuple_of(a.padding, n, "padding")]
        return k, s, d, pads

    def infer(self, args: ConvArgs, shape: Shape) -> Shape:
        k, s, d, pads = self._geometry(args, shape)
        c = shape[0]
        if c % args.groups:
            raise ShapeError(
                f"groups={args.groups} does not divide the {c} input channels", arg="groups"
            )
        if args.out_channels % args.groups:
            raise ShapeError(
                f"groups={args.groups} does not divide out_channels={args.out_channels}",
                arg="groups",
            )
        out: list[int] = [args.out_channels]
        for axis, (size, ki, si, di, (before, after)) in enumerate(
            zip(shape[1:], k, s, d, pads, strict=True)
        ):
            if int(size) + before + after < di * (ki - 1) + 1:
                raise ShapeError(
                    f"kernel size {di * (ki - 1) + 1} (after dilation) is larger than "
                    f"the padded input size {int(size) + before + after} "
                    f"in spatial dimension {axis + 1}",
                    hint="use a smaller kernel, more padding, or a larger input",
                    arg="kernel_size",
                )
            out.append(dims.window(size, ki, si, before, di, padding_after=after))
        return tuple(out)

    def params(self, args: ConvArgs, shape: Shape) -> int:
        n = len(shape) - 1
        k = tuple_of(args.kernel_size, n, "kernel_size")
        weight = args.out_channels * (int(shape[0]) // args.groups) * math.prod(k)
        return weight + (args.out_channels if args.bias else 0)

    def macs(self, args: ConvArgs, shape: Shape, out: Shape) -> int:
        n = len(shape) - 1
        k = tuple_of(args.kernel_size, n, "kernel_size")
        per_output = (int(shape[0]) // args.groups) * math.prod(k)
        return math.prod(int(x) for x in out) * per_output

    def param_dims(self, args: ConvArgs, shape: Shape) -> tuple[int, ...]:
        return (0,)

    def torch_init(self, args: ConvArgs, shape: Shape) -> str:
        return call_source(
            f"nn.Conv{rank_suffix('conv', shape)}",
            [int(shape[0]), args.out_channels, args.kernel_size],
            [
                ("stride", args.stride, 1),
                ("padding", args.padding, 0),
                ("dilation", args.dilation, 1),
                ("groups", args.groups, 1),
                ("bias", args.bias, True),
                ("padding_mode", args.padding_mode, "zeros"),
            ],
        )

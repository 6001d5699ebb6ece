"""Convolutions: ``conv`` (ConvNd) and ``conv_transpose`` (ConvTransposeNd)."""

from __future__ import annotations

import math
from typing import Literal

from resdsl.ir import dims
from resdsl.ir.dims import Shape
from resdsl.ops.base import Layer, LayerArgs, ShapeError, call_source, rank_suffix, tuple_of
from resdsl.ops.common import (
    Bool,
    ConvPadding,
    NonNegSize,
    PosInt,
    PosSize,
    kernel_too_large,
    keywords_of,
)

CONV_RANKS = (2, 3, 4)


def check_groups(groups: int, in_channels: int, out_channels: int) -> None:
    """PyTorch's constructor check: ``groups`` divides both channel counts."""
    if in_channels % groups:
        raise ShapeError(
            f"groups={groups} does not divide the {in_channels} input channels",
            hint="each group convolves in_channels/groups channels, so it must be a whole number",
            arg="groups",
        )
    if out_channels % groups:
        raise ShapeError(
            f"groups={groups} does not divide out_channels={out_channels}", arg="groups"
        )


class ConvArgs(LayerArgs):
    out_channels: PosInt
    kernel_size: PosSize
    stride: PosSize = 1
    padding: ConvPadding = 0
    dilation: PosSize = 1
    groups: PosInt = 1
    bias: Bool = True
    padding_mode: Literal["zeros", "reflect", "replicate", "circular"] = "zeros"


class Conv(Layer):
    """``conv(out_channels, kernel_size, ...)`` -> ``nn.Conv{1,2,3}d``.

    Input ``[C, L]`` (Conv1d), ``[C, H, W]`` (Conv2d) or ``[C, D, H, W]`` (Conv3d);
    output ``[out_channels, *spatial]`` with each spatial size
    ``floor((n + 2p - d(k - 1) - 1) / s) + 1``. ``padding="same"`` (stride 1 only)
    pads ``d(k - 1)`` in total, the odd one after, as PyTorch does. With
    ``padding_mode="reflect"`` each padding must be smaller than the input size,
    with ``"circular"`` at most the input size (PyTorch's ``F.pad`` rules).
    """

    name = "conv"
    fresh_output = True  # a new tensor its backward does not keep
    Args = ConvArgs
    category = "weighted"
    ranks = CONV_RANKS

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
                    "padding='same' is only supported with stride 1",
                    hint="give the padding as a number, e.g. padding=kernel_size // 2",
                    arg="padding",
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
        check_groups(args.groups, int(shape[0]), args.out_channels)
        out: list[int] = [args.out_channels]
        for axis, (size, ki, si, di, (before, after)) in enumerate(
            zip(shape[1:], k, s, d, pads, strict=True)
        ):
            _check_padding_mode(args.padding_mode, int(size), before, after, axis)
            if int(size) + before + after < di * (ki - 1) + 1:
                raise kernel_too_large(ki, di, int(size) + before + after, axis)
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
            keywords_of(args, "out_channels", "kernel_size"),
        )


def _check_padding_mode(mode: str, size: int, before: int, after: int, axis: int) -> None:
    """``F.pad``'s limits: reflect padding < size, circular padding <= size."""
    pad = max(before, after)
    if (mode == "reflect" and pad >= size) or (mode == "circular" and pad > size):
        bound = "smaller than" if mode == "reflect" else "at most"
        raise ShapeError(
            f"padding_mode='{mode}' needs a padding {bound} the input size, "
            f"got padding {pad} for size {size} in spatial dimension {axis + 1}",
            hint="use less padding or padding_mode='zeros'",
            arg="padding",
        )


class ConvTransposeArgs(LayerArgs):
    out_channels: PosInt
    kernel_size: PosSize
    stride: PosSize = 1
    padding: NonNegSize = 0
    output_padding: NonNegSize = 0
    groups: PosInt = 1
    bias: Bool = True
    dilation: PosSize = 1
    padding_mode: Literal["zeros"] = "zeros"


class ConvTranspose(Layer):
    """``conv_transpose(out_channels, kernel_size, ...)`` -> ``nn.ConvTranspose{1,2,3}d``.

    Input ``[C, *spatial]`` of rank 2 to 4, as for ``conv``; each spatial size
    becomes ``(n - 1)s - 2p + d(k - 1) + output_padding + 1``, which must be at
    least 1, and ``output_padding`` must be smaller than the stride or the
    dilation. ``padding_mode`` is accepted for PyTorch's signature but, as in
    PyTorch, only ``"zeros"`` exists.
    """

    name = "conv_transpose"
    fresh_output = True  # a new tensor its backward does not keep
    Args = ConvTransposeArgs
    category = "weighted"
    ranks = CONV_RANKS

    def infer(self, args: ConvTransposeArgs, shape: Shape) -> Shape:
        rank_suffix(self.name, shape)
        n = len(shape) - 1
        k = tuple_of(args.kernel_size, n, "kernel_size")
        s = tuple_of(args.stride, n, "stride")
        p = tuple_of(args.padding, n, "padding")
        op = tuple_of(args.output_padding, n, "output_padding")
        d = tuple_of(args.dilation, n, "dilation")
        check_groups(args.groups, int(shape[0]), args.out_channels)
        out: list[int] = [args.out_channels]
        for axis, (size, ki, si, pi, opi, di) in enumerate(
            zip(shape[1:], k, s, p, op, d, strict=True)
        ):
            if opi >= max(si, di):
                raise ShapeError(
                    f"output_padding={opi} must be smaller than the stride ({si}) "
                    f"or the dilation ({di})",
                    hint="output_padding only picks among the sizes a stride can produce",
                    arg="output_padding",
                )
            # (n - 1)s - 2p + d(k - 1) + op + 1, written as n*s + c to keep the expression.
            result = dims.affine(size, si, -si - 2 * pi + di * (ki - 1) + opi + 1)
            if result < 1:
                raise ShapeError(
                    f"the output size {int(result)} in spatial dimension {axis + 1} is not "
                    f"positive: padding={pi} removes more than the {int(result) + 2 * pi} "
                    f"positions the transposed convolution produces",
                    hint="use less padding, a larger kernel, or a larger input",
                    arg="padding",
                )
            out.append(result)
        return tuple(out)

    def params(self, args: ConvTransposeArgs, shape: Shape) -> int:
        k = tuple_of(args.kernel_size, len(shape) - 1, "kernel_size")
        weight = int(shape[0]) * (args.out_channels // args.groups) * math.prod(k)
        return weight + (args.out_channels if args.bias else 0)

    def macs(self, args: ConvTransposeArgs, shape: Shape, out: Shape) -> int:
        k = tuple_of(args.kernel_size, len(shape) - 1, "kernel_size")
        per_input = (args.out_channels // args.groups) * math.prod(k)
        return math.prod(int(x) for x in shape) * per_input

    def param_dims(self, args: ConvTransposeArgs, shape: Shape) -> tuple[int, ...]:
        return (0,)

    def torch_init(self, args: ConvTransposeArgs, shape: Shape) -> str:
        return call_source(
            f"nn.ConvTranspose{rank_suffix(self.name, shape)}",
            [int(shape[0]), args.out_channels, args.kernel_size],
            keywords_of(args, "out_channels", "kernel_size"),
        )

"""Pooling: ``maxpool``, ``avgpool``, ``adaptive_avgpool``, ``adaptive_maxpool``.

All pick ``1d``/``2d``/``3d`` from the input rank (``[C, L]``, ``[C, H, W]``,
``[C, D, H, W]``) and keep the channels. The fixed-window pools follow
PyTorch's size rule ``floor((n + 2p - d(k - 1) - 1) / s) + 1`` (or its
``ceil_mode`` variant, where the last window must start inside the input or
the left padding) and its checks: padding at most half the kernel, an output
of at least one element. ``stride`` defaults to ``kernel_size`` (``None``, as in
PyTorch). ``return_indices`` is left out: it changes what the layer returns.
"""

from __future__ import annotations

from typing import ClassVar

from resdsl.ir import dims
from resdsl.ir.dims import Shape
from resdsl.ops.base import Layer, LayerArgs, ShapeError, call_source, rank_suffix, tuple_of
from resdsl.ops.common import (
    Bool,
    NonNegSize,
    OutputSize,
    PosInt,
    PosSize,
    kernel_too_large,
    keywords_of,
)

POOL_RANKS = (2, 3, 4)


def pool_shape(
    layer: str,
    shape: Shape,
    kernel_size: int | tuple[int, ...],
    stride: int | tuple[int, ...] | None,
    padding: int | tuple[int, ...],
    dilation: int | tuple[int, ...],
    ceil_mode: bool,
) -> Shape:
    """The output shape of a fixed-window pool, with PyTorch's checks."""
    rank_suffix(layer, shape, POOL_RANKS)
    n = len(shape) - 1
    k = tuple_of(kernel_size, n, "kernel_size")
    s = k if stride is None else tuple_of(stride, n, "stride")
    p = tuple_of(padding, n, "padding")
    d = tuple_of(dilation, n, "dilation")
    out: list[int] = [shape[0]]
    for axis, (size, ki, si, pi, di) in enumerate(zip(shape[1:], k, s, p, d, strict=True)):
        if pi > ki // 2:
            raise ShapeError(
                f"padding={pi} is more than half the kernel size {ki}",
                hint=f"PyTorch pools pad at most kernel_size // 2 (here {ki // 2})",
                arg="padding",
            )
        result = dims.window(size, ki, si, pi, di, ceil_mode=ceil_mode)
        if result < 1:
            raise kernel_too_large(ki, di, int(size) + 2 * pi, axis)
        out.append(result)
    return tuple(out)


class MaxPoolArgs(LayerArgs):
    kernel_size: PosSize
    stride: PosSize | None = None
    padding: NonNegSize = 0
    dilation: PosSize = 1
    ceil_mode: Bool = False


class MaxPool(Layer):
    """``maxpool(kernel_size, stride=kernel_size, padding=0, dilation=1, ceil_mode=false)``.

    -> ``nn.MaxPool{1,2,3}d``; ``[C, *spatial]`` -> ``[C, *pooled]``.
    """

    name = "maxpool"
    Args = MaxPoolArgs
    category = "pool"
    ranks = POOL_RANKS

    def infer(self, args: MaxPoolArgs, shape: Shape) -> Shape:
        return pool_shape(
            self.name,
            shape,
            args.kernel_size,
            args.stride,
            args.padding,
            args.dilation,
            args.ceil_mode,
        )

    def torch_init(self, args: MaxPoolArgs, shape: Shape) -> str:
        return call_source(
            f"nn.MaxPool{rank_suffix(self.name, shape, self.ranks)}",
            [args.kernel_size],
            keywords_of(args, "kernel_size"),
        )


class AvgPoolArgs(LayerArgs):
    kernel_size: PosSize
    stride: PosSize | None = None
    padding: NonNegSize = 0
    ceil_mode: Bool = False
    count_include_pad: Bool = True
    divisor_override: PosInt | None = None


class AvgPool(Layer):
    """``avgpool(kernel_size, stride=kernel_size, padding=0, ceil_mode=false, ...)``.

    -> ``nn.AvgPool{1,2,3}d``; ``[C, *spatial]`` -> ``[C, *pooled]``.
    ``count_include_pad`` and ``divisor_override`` are PyTorch's; the latter
    exists only for 2d and 3d. AvgPool3d also needs every input size (before
    padding) to be at least the kernel size, as PyTorch checks.
    """

    name = "avgpool"
    Args = AvgPoolArgs
    category = "pool"
    ranks = POOL_RANKS

    def infer(self, args: AvgPoolArgs, shape: Shape) -> Shape:
        out = pool_shape(
            self.name, shape, args.kernel_size, args.stride, args.padding, 1, args.ceil_mode
        )
        if len(shape) == 2 and args.divisor_override is not None:
            raise ShapeError(
                "divisor_override is only available for 2d and 3d pooling (AvgPool1d has none)",
                arg="divisor_override",
            )
        if len(shape) == 4:
            k = tuple_of(args.kernel_size, 3, "kernel_size")
            for axis, (size, ki) in enumerate(zip(shape[1:], k, strict=True)):
                if int(size) < ki:
                    raise ShapeError(
                        f"3d average pooling needs each input size to be at least the kernel "
                        f"size, got {int(size)} < {ki} in spatial dimension {axis + 1}",
                        hint="PyTorch's AvgPool3d checks this before padding",
                        arg="kernel_size",
                    )
        return out

    def torch_init(self, args: AvgPoolArgs, shape: Shape) -> str:
        return call_source(
            f"nn.AvgPool{rank_suffix(self.name, shape, self.ranks)}",
            [args.kernel_size],
            keywords_of(args, "kernel_size"),
        )


class AdaptivePoolArgs(LayerArgs):
    output_size: OutputSize


class AdaptivePool(Layer):
    """An adaptive pool: each spatial size becomes the given ``output_size``.

    ``output_size`` is an int (every spatial dimension) or one entry per spatial
    dimension, where ``None`` keeps the input size (not for 1d, as in PyTorch).
    An output larger than the input is allowed, as in PyTorch.
    """

    Args = AdaptivePoolArgs
    category = "pool"
    ranks = POOL_RANKS
    reduction: ClassVar[str]  # the torch class's infix: Avg or Max

    def infer(self, args: AdaptivePoolArgs, shape: Shape) -> Shape:
        rank_suffix(self.name, shape, POOL_RANKS)
        n = len(shape) - 1
        sizes: tuple[int | None, ...]
        if isinstance(args.output_size, int):
            sizes = (args.output_size,) * n
        else:
            sizes = args.output_size
            if len(sizes) != n:
                raise ShapeError(
                    f"output_size has {len(sizes)} values but the input has "
                    f"{n} spatial dimension{'s' if n > 1 else ''}",
                    arg="output_size",
                )
            if n == 1 and sizes[0] is None:
                raise ShapeError(
                    "output_size=None is not supported for 1d adaptive pooling",
                    hint="PyTorch's 1d adaptive pools need a number",
                    arg="output_size",
                )
        return (shape[0], *(d if o is None else o for d, o in zip(shape[1:], sizes, strict=True)))

    def torch_init(self, args: AdaptivePoolArgs, shape: Shape) -> str:
        suffix = rank_suffix(self.name, shape, POOL_RANKS)
        return call_source(f"nn.Adaptive{self.reduction}Pool{suffix}", [args.output_size], [])


class AdaptiveAvgPool(AdaptivePool):
    """``adaptive_avgpool(output_size)`` -> ``nn.AdaptiveAvgPool{1,2,3}d``."""

    name = "adaptive_avgpool"
    reduction = "Avg"


class AdaptiveMaxPool(AdaptivePool):
    """``adaptive_maxpool(output_size)`` -> ``nn.AdaptiveMaxPool{1,2,3}d``."""

    name = "adaptive_maxpool"
    reduction = "Max"

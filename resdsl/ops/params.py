"""Layers that combine a value with a ``param`` of their scope: ``add_param``, ``prepend_param``.

A ``param`` (``param NAME [dims] = INIT``) is a learnable tensor of the scope
it is declared in; these layers name it as their first argument and read it
as ``self.NAME`` in ``forward``. A param's shape is written as PyTorch holds
it: torchvision's ViT keeps its class token as ``[1, 1, D]`` and its position
embedding as ``[1, T, D]``, a leading 1 standing for the batch. So a param
broadcasts against ``[N, *shape]`` as PyTorch broadcasts, right-aligned
(:func:`broadcast_problem`).

- ``add_param(NAME)``: ``x + self.NAME`` (a position embedding); the shape is unchanged.
- ``prepend_param(NAME, dim=0)``: ``torch.cat([self.NAME.expand(N, ...), x], dim)``
  (a class token): the param, of shape ``[1, *rest]``, is expanded over the
  batch and put before the value along ``dim``.
"""

from __future__ import annotations

from pydantic import Field

from resdsl.ir import dims
from resdsl.ir.dims import Shape
from resdsl.ops.base import Emit, Layer, LayerArgs, Line, ShapeError, format_shape
from resdsl.ops.common import Int, normalize_dim, torch_dim


def broadcast_problem(param: tuple[int, ...], shape: Shape) -> str | None:
    """Why a param of shape ``param`` cannot combine with ``[N, *shape]`` leaving it unchanged.

    >>> broadcast_problem((1, 197, 768), (197, 768)) is None
    True
    >>> broadcast_problem((96, 1, 1), (96, 56, 56)) is None
    True
    >>> broadcast_problem((2, 4), (3, 4))
    'size 2 does not match 3 (dimension 0 of the value)'
    """
    if len(param) > len(shape) + 1:
        return f"it has {len(param)} dimensions, the value {len(shape)} (plus the batch)"
    if len(param) == len(shape) + 1 and param[0] != 1:
        return f"its first size {param[0]} stands for the batch and must be 1"
    tail = param[-len(shape) :] if len(param) >= len(shape) else param
    offset = len(shape) - len(tail)
    for i, (p, d) in enumerate(zip(tail, shape[offset:], strict=True)):
        if p not in (1, int(d)):
            return f"size {p} does not match {int(d)} (dimension {offset + i} of the value)"
    return None


def sized_by(param: tuple[int, ...], shape: Shape) -> tuple[int, ...]:
    """The value's dimensions a broadcast param fixes: those where its size is not 1.

    >>> sized_by((1, 197, 768), (197, 768))
    (0, 1)
    >>> sized_by((96, 1, 1), (96, 56, 56))
    (0,)
    """
    offset = len(shape) - len(param)
    return tuple(i + offset for i, p in enumerate(param) if i + offset >= 0 and p != 1)


class AddParamArgs(LayerArgs):
    param: str
    #: Filled in by elaboration from the param's declaration (not written in a spec).
    param_shape: tuple[int, ...] = Field(default=(), repr=False)


class AddParam(Layer):
    """``add_param(NAME)`` -> ``x + self.NAME``: adds a param of the scope, broadcast.

    The param's shape must broadcast to ``[N, *shape]`` without changing it,
    e.g. ViT's ``[1, T, D]`` position embedding on a ``[T, D]`` sequence.
    """

    name = "add_param"
    Args = AddParamArgs
    has_module = False
    param_arg = "param"

    def infer(self, args: AddParamArgs, shape: Shape) -> Shape:
        problem = broadcast_problem(args.param_shape, shape)
        if problem:
            raise ShapeError(
                f"param '{args.param}' {format_shape(args.param_shape)} cannot be added: {problem}",
                hint="a param broadcasts like a PyTorch tensor against [N, *shape]: "
                "sizes match, or are 1",
                arg="param",
            )
        return shape

    def param_dims(self, args: AddParamArgs, shape: Shape) -> tuple[int, ...]:
        return sized_by(args.param_shape, shape)

    def forward_lines(self, args: AddParamArgs, out: str, ins: list[str], emit: Emit) -> list[Line]:
        return [(f"{out} = {ins[0]} + self.{args.param}", True)]

    def label(self, args: AddParamArgs, rank: int) -> str:
        return f"+ {args.param}"


class PrependParamArgs(LayerArgs):
    param: str
    dim: Int = 0
    #: Filled in by elaboration from the param's declaration (not written in a spec).
    param_shape: tuple[int, ...] = Field(default=(), repr=False)


class PrependParam(Layer):
    """``prepend_param(NAME, dim=0)``: a param of the scope put before the value along ``dim``.

    The param has shape ``[1, *rest]`` (the 1 stands for the batch), ``rest``
    of the value's rank and equal to its shape except along ``dim``. It is
    expanded over the batch: ``torch.cat([self.NAME.expand(N, -1, ...), x],
    dim + 1)``, as torchvision's ViT prepends its class token to ``[T, D]``,
    giving ``[T + 1, D]``.
    """

    name = "prepend_param"
    Args = PrependParamArgs
    has_module = False
    param_arg = "param"

    def infer(self, args: PrependParamArgs, shape: Shape) -> Shape:
        d = normalize_dim(self.name, "dim", args.dim, len(shape))
        param = args.param_shape
        expected = (1, *(1 if i == d else int(v) for i, v in enumerate(shape)))
        hint = (
            f"declare it as [1, ...] with the value's sizes except along dim {d}, "
            f"e.g. {format_shape(expected)}"
        )
        if len(param) != len(shape) + 1 or param[0] != 1:
            raise ShapeError(
                f"param '{args.param}' {format_shape(param)} cannot be prepended to "
                f"{format_shape(shape)}: it needs the value's rank plus a leading 1 for the batch",
                hint=hint,
                arg="param",
            )
        for i, (p, v) in enumerate(zip(param[1:], shape, strict=True)):
            if i != d and p != int(v):
                raise ShapeError(
                    f"param '{args.param}' {format_shape(param)} does not match "
                    f"{format_shape(shape)} in dimension {i}",
                    hint=hint,
                    arg="param",
                )
        out = list(shape)
        out[d] = dims.affine(shape[d], 1, param[d + 1])
        return tuple(out)

    def param_dims(self, args: PrependParamArgs, shape: Shape) -> tuple[int, ...]:
        d = normalize_dim(self.name, "dim", args.dim, len(shape))
        return tuple(i for i in range(len(shape)) if i != d)

    def forward_lines(
        self, args: PrependParamArgs, out: str, ins: list[str], emit: Emit
    ) -> list[Line]:
        x = ins[0]
        rest = ", ".join(["-1"] * (len(args.param_shape) - 1))
        token = f"self.{args.param}.expand({x}.shape[0], {rest})"
        return [(f"{out} = torch.cat([{token}, {x}], dim={torch_dim(args.dim)})", True)]

    def label(self, args: PrependParamArgs, rank: int) -> str:
        return f"prepend {args.param}"


PARAM_LAYERS: tuple[Layer, ...] = (AddParam(), PrependParam())

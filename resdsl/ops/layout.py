"""Layout layers: ``permute``, ``transpose``, ``reshape``, ``unflatten``, ``select``.

They move a value's elements around without computing anything, as
ConvNeXt's channels-last blocks and ViT's patch sequence need. Dimensions
count from the first non-batch dimension, as for ``flatten``: on a
``[C, H, W]`` input, ``permute(1, 2, 0)`` gives ``[H, W, C]`` and is
``x.permute(0, 2, 3, 1)`` in PyTorch. The batch never moves.

Symbolic sizes flow through exactly: a permutation or a transposition moves
them, ``select`` drops one, and ``reshape``/``unflatten`` compute their ``-1``
from the product of the input's sizes (see :func:`inferred_size`).

``permute``, ``transpose``, ``reshape`` and ``select`` have no module of their
own (PyTorch has none): they are one line of ``forward``, and their statement
still takes its position in the scope, as torchvision's ``Permute`` takes an
index in ConvNeXt's ``nn.Sequential``. ``unflatten`` is ``nn.Unflatten``.
"""

from __future__ import annotations

import math
from typing import Any

from resdsl.ir import dims
from resdsl.ir.dims import Shape
from resdsl.ops.base import Emit, Layer, LayerArgs, Line, ShapeError, call_source, format_shape
from resdsl.ops.common import Int, normalize_dim, torch_dim


class _ModulelessLayer(Layer):
    """A layout layer written as one method call on its input in ``forward``."""

    has_module = False
    category = "shape"

    def expression(self, args: Any, x: str) -> str:
        """The expression on the input variable ``x``, e.g. ``x.permute(0, 2, 3, 1)``."""
        raise NotImplementedError

    def forward_lines(self, args: Any, out: str, ins: list[str], emit: Emit) -> list[Line]:
        return [(f"{out} = {self.expression(args, ins[0])}", True)]


# ---------------------------------------------------------------- permute


class PermuteArgs(LayerArgs):
    dims: tuple[Int, ...]


class Permute(_ModulelessLayer):
    """``permute(*dims)`` -> ``x.permute(0, *[d + 1 for d in dims])``.

    ``dims`` is an ordering of the input's dimensions (negative ones count
    from the end), one per dimension: ``permute(1, 2, 0)`` turns ``[C, H, W]``
    into ``[H, W, C]``.
    """

    name = "permute"
    Args = PermuteArgs
    varargs = "dims"

    def infer(self, args: PermuteArgs, shape: Shape) -> Shape:
        order = permutation(self.name, args.dims, len(shape))
        return tuple(shape[d] for d in order)

    def expression(self, args: PermuteArgs, x: str) -> str:
        rank = len(args.dims)
        order = [d % rank + 1 for d in args.dims]
        return f"{x}.permute(0, {', '.join(map(str, order))})"

    def label(self, args: PermuteArgs, rank: int) -> str:
        return f"permute({', '.join(map(str, args.dims))})"


def permutation(layer: str, order: tuple[int, ...], rank: int) -> list[int]:
    """``order`` made non-negative, checked to be an ordering of ``rank`` dimensions.

    >>> permutation("permute", (1, -1, 0), 3)
    [1, 2, 0]
    """
    if len(order) != rank:
        raise ShapeError(
            f"{len(order)} dimension{'s' if len(order) != 1 else ''} given for an input with "
            f"{rank} dimension{'s' if rank != 1 else ''}",
            hint=f"name every non-batch dimension once, e.g. permute({', '.join(_example(rank))})",
            arg="dims",
        )
    out = [normalize_dim(layer, "dims", d, rank) for d in order]
    repeated = sorted({d for d in out if out.count(d) > 1})
    if repeated:
        raise ShapeError(
            f"dimension {repeated[0]} appears more than once",
            hint="each dimension must appear exactly once",
            arg="dims",
        )
    return out


def _example(rank: int) -> list[str]:
    return [*(str(d) for d in range(1, rank)), "0"]


# ---------------------------------------------------------------- transpose


class TransposeArgs(LayerArgs):
    dim0: Int
    dim1: Int


class Transpose(_ModulelessLayer):
    """``transpose(dim0, dim1)`` -> ``x.transpose(dim0 + 1, dim1 + 1)``: swaps two dimensions."""

    name = "transpose"
    Args = TransposeArgs

    def infer(self, args: TransposeArgs, shape: Shape) -> Shape:
        a = normalize_dim(self.name, "dim0", args.dim0, len(shape))
        b = normalize_dim(self.name, "dim1", args.dim1, len(shape))
        out = list(shape)
        out[a], out[b] = shape[b], shape[a]
        return tuple(out)

    def expression(self, args: TransposeArgs, x: str) -> str:
        return f"{x}.transpose({torch_dim(args.dim0)}, {torch_dim(args.dim1)})"

    def label(self, args: TransposeArgs, rank: int) -> str:
        return f"transpose({args.dim0}, {args.dim1})"


# ---------------------------------------------------------------- reshape


class ReshapeArgs(LayerArgs):
    sizes: tuple[Int, ...]


class Reshape(_ModulelessLayer):
    """``reshape(*sizes)`` -> ``x.reshape(x.shape[0], *sizes)``.

    The sizes are positive, except one that may be ``-1``: it takes what the
    others leave of the input's size. With a symbolic input size a ``-1`` is
    needed, and it takes the symbolic sizes: ``reshape(768, -1)`` on
    ``[768, H/16, W/16]`` gives ``[768, H/16*W/16]``.
    """

    name = "reshape"
    Args = ReshapeArgs
    varargs = "sizes"

    def infer(self, args: ReshapeArgs, shape: Shape) -> Shape:
        return resized(self.name, "sizes", args.sizes, shape)

    def expression(self, args: ReshapeArgs, x: str) -> str:
        return f"{x}.reshape({x}.shape[0], {', '.join(map(str, args.sizes))})"

    def label(self, args: ReshapeArgs, rank: int) -> str:
        return f"reshape({', '.join(map(str, args.sizes))})"


def resized(layer: str, arg: str, sizes: tuple[int, ...], shape: Shape) -> Shape:
    """The shape ``sizes`` give to a value of ``shape`` (one ``-1`` inferred)."""
    if not sizes:
        raise ShapeError("no size given", hint="give at least one size", arg=arg)
    wild = [i for i, s in enumerate(sizes) if s == -1]
    if len(wild) > 1:
        raise ShapeError(
            f"-1 appears {len(wild)} times in {arg}={format_shape(sizes)}",
            hint="only one size can be inferred: give the others",
            arg=arg,
        )
    bad = [s for s in sizes if s < 1 and s != -1]
    if bad:
        raise ShapeError(
            f"the size {bad[0]} is not positive",
            hint="sizes are positive; -1 (once) takes what the others leave",
            arg=arg,
        )
    if not wild:
        if any(dims.is_symbolic(d) for d in shape):
            raise ShapeError(
                f"{arg}={format_shape(sizes)} fixes every size of an input with a symbolic size",
                hint="write -1 for the size that takes the symbolic sizes",
                arg=arg,
            )
        if math.prod(sizes) != math.prod(int(d) for d in shape):
            raise ShapeError(
                f"{arg}={format_shape(sizes)} holds {math.prod(sizes):,} elements, the input "
                f"{math.prod(int(d) for d in shape):,}",
                hint="the sizes must multiply to the input's size",
                arg=arg,
            )
        return tuple(sizes)
    known = math.prod(s for s in sizes if s != -1)
    out: list[int] = list(sizes)
    out[wild[0]] = inferred_size(arg, shape, known)
    return tuple(out)


def inferred_size(arg: str, shape: Shape, known: int) -> int:
    """The size of a ``-1``: the input's size divided by the ``known`` sizes' product.

    The fixed sizes of the input must supply the division, so the result is
    exact for every size the symbolic dimensions may take.
    """
    fixed = math.prod(int(d) for d in shape if not dims.is_symbolic(d))
    symbolic = [d for d in shape if dims.is_symbolic(d)]
    if fixed % known:
        what = "the fixed sizes of the input multiply" if symbolic else "the input holds"
        raise ShapeError(
            f"{what} to {fixed:,}, which the other sizes ({known:,}) do not divide",
            hint="the sizes must divide the input's size",
            arg=arg,
        )
    rest = fixed // known
    if not symbolic:
        return rest
    size = dims.product(symbolic)
    return dims.affine(size, rest, 0) if rest != 1 else size


# ---------------------------------------------------------------- unflatten


class UnflattenArgs(LayerArgs):
    dim: Int
    sizes: tuple[Int, ...]


class Unflatten(Layer):
    """``unflatten(dim, sizes)`` -> ``nn.Unflatten(dim + 1, sizes)``.

    Splits dimension ``dim`` into ``sizes`` (one may be ``-1``), e.g.
    ``unflatten(1, [14, 14])`` turns ``[768, 196]`` into ``[768, 14, 14]``.
    """

    name = "unflatten"
    Args = UnflattenArgs
    category = "shape"

    def infer(self, args: UnflattenArgs, shape: Shape) -> Shape:
        d = normalize_dim(self.name, "dim", args.dim, len(shape))
        split = resized(self.name, "sizes", args.sizes, (shape[d],))
        return (*shape[:d], *split, *shape[d + 1 :])

    def torch_init(self, args: UnflattenArgs, shape: Shape) -> str:
        return call_source("nn.Unflatten", [torch_dim(args.dim), args.sizes], [])


# ---------------------------------------------------------------- select


class SelectArgs(LayerArgs):
    dim: Int
    index: Int


class Select(_ModulelessLayer):
    """``select(dim, index)`` -> ``x.select(dim + 1, index)``: one position, ``dim`` removed.

    ViT's ``x[:, 0]`` (the class token) is ``select(0, 0)`` on ``[T, D]``.
    The index may be negative; on a symbolic size only ``0`` and ``-1`` are
    valid for every size, so only they are accepted there.
    """

    name = "select"
    Args = SelectArgs

    def infer(self, args: SelectArgs, shape: Shape) -> Shape:
        if not shape:
            raise ShapeError("the input has no dimension to select from", arg="dim")
        d = normalize_dim(self.name, "dim", args.dim, len(shape))
        size = shape[d]
        if dims.is_symbolic(size):
            if args.index not in (0, -1):
                raise ShapeError(
                    f"index={args.index} in the symbolic size {dims.describe(size)} of "
                    f"dimension {d}",
                    hint="only 0 and -1 exist for every size; fix the input size to use another",
                    arg="index",
                )
        elif not -int(size) <= args.index < int(size):
            raise ShapeError(
                f"index={args.index} is out of range for dimension {d} of size {int(size)}",
                hint=f"the index lies in {-int(size)} to {int(size) - 1}",
                arg="index",
            )
        return (*shape[:d], *shape[d + 1 :])

    def expression(self, args: SelectArgs, x: str) -> str:
        return f"{x}.select({torch_dim(args.dim)}, {args.index})"

    def label(self, args: SelectArgs, rank: int) -> str:
        return f"select({args.dim}, {args.index})"


LAYOUT_LAYERS: tuple[Layer, ...] = (Permute(), Transpose(), Reshape(), Unflatten(), Select())

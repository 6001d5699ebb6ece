"""Merges: the ops that join a skip path with the main path (docs/language.md section 6).

A merge is one definition: its options (``Args``), which skip options it
takes, the order of its inputs, its shape rule with its diagnostics, its
costs, its ``forward`` expression, its diagram style and its meaning on a
path. Users add their own with :func:`resdsl.ops.registry.register_op`:

>>> from resdsl.ops.registry import get_op
>>> add = get_op("add", "merge")
>>> add.expression(add.Args(), ["x", "conv1"], None)  # type: ignore[arg-type]
'x + conv1'
>>> get_op("concat", "merge").style.glyph
'cat'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple, NoReturn, Protocol

from resdsl.ir import dims
from resdsl.ir.dims import Shape
from resdsl.ir.graph import ConcatArgs, MergeArgs, NoArgs
from resdsl.ops.base import Emit, Line, Op, OpKind, PathRole, Reads, ShapeError, format_shape
from resdsl.ops.shortcut import features_change

_MERGE_PATH = PathRole(merges=True)


class MergeInput(NamedTuple):
    """One input of a merge, in the merge's input order.

    ``skip``: the input arrives over a skip (not the main path); ``shortcut``:
    the name of the shortcut it went through (``"identity"`` if none).
    """

    shape: Shape
    skip: bool
    shortcut: str = "identity"


class MergeError(ShapeError):
    """The merge cannot join its inputs; ``index`` is the input to blame.

    ``recover``: the shape elaboration goes on with after reporting the error,
    when the inputs differ only in sizes that depend on the input size. Going
    on lets the later merges record their constraints too, so the valid-size
    hint describes the whole model, not the merges before this one.
    """

    def __init__(
        self, index: int, message: str, hint: str | None = None, recover: Shape | None = None
    ) -> None:
        super().__init__(message, hint)
        self.index = index
        self.recover = recover


class ShapeContext(Protocol):
    """What a merge's shape rule may ask the elaborator."""

    def equal(self, index: int, a: int, b: int) -> None:
        """Record that dimension ``a`` of input ``index`` must equal ``b`` (symbolic sizes)."""
        ...

    def valid_sizes(self) -> str | None:
        """The model's valid input sizes as a sentence (None when there are no input symbols).

        The sentence is filled in once the whole model is elaborated, so that
        it is the rule of every merge, not of those before this one.
        """
        ...


@dataclass(frozen=True)
class SkipStyle:
    """How a diagram draws a merge and the skips into it.

    ``color``/``line``/``width``: the skip edges' colour, line style and pen
    width; ``meaning``: the legend's text; ``glyph``: the merge node's label;
    ``node_width``/``font_size``: the merge node's circle; ``side``: the side
    of the main path its skips run on (``"e"`` or ``"w"``); ``numbered``: the
    inputs show their position (the order matters, as for ``concat``);
    ``look``: the skip's look in words, for help texts (``"blue and dashed"``).
    """

    color: str
    line: str
    width: float
    meaning: str
    glyph: str
    node_width: float = 0.3
    font_size: int = 11
    side: str = "e"
    numbered: bool = False
    look: str = ""


class Merge(Op):
    """Base of a merge. Subclasses set ``name``, ``verb``, ``style`` and the rules."""

    kind: ClassVar[OpKind] = "merge"
    Args: ClassVar[type[Any]] = NoArgs
    reads: ClassVar[Reads] = "inputs"
    #: The verb of its diagnostics: "cannot <verb> [..] and [..]".
    verb: ClassVar[str]
    #: The skip options (``shortcut=``, ``align=``, ...) it takes.
    options: ClassVar[tuple[str, ...]] = ()
    #: Inputs in order: skips first, then the main path (concat), or the main path first.
    skips_first: ClassVar[bool] = False
    #: True for a residual sum, whose branch ``zero_init_residual`` may start at zero.
    residual: ClassVar[bool] = False
    #: True if its skips carry features to a later stage unchanged (U-Net's long skips).
    long_skip: ClassVar[bool] = False
    style: ClassVar[SkipStyle]

    @property
    def path(self) -> PathRole:
        return _MERGE_PATH

    def infer(self, args: Any, inputs: Sequence[MergeInput], ctx: ShapeContext) -> Shape:
        """The output shape; raise :class:`MergeError` naming the input that cannot join."""
        raise NotImplementedError

    def expression(self, args: Any, ins: list[str], emit: Emit) -> str:
        """The Python expression that computes the merge from its input variables."""
        raise NotImplementedError

    def forward_lines(self, args: Any, out: str, ins: list[str], emit: Emit) -> list[Line]:
        return [(f"{out} = {self.expression(args, ins, emit)}", True)]

    def in_place_lines(self, args: Any, out: str, ins: list[str], emit: Emit) -> list[Line] | None:
        """The merge written into its first input's tensor (``out += identity``), or None.

        Generated code uses it where that input is a fresh tensor nothing reads
        afterwards and ``out`` is its variable; the result must equal
        :meth:`forward_lines`' bit for bit.
        """
        return None

    def has_gate(self, args: Any) -> bool:
        """True if the merge owns a learned gate parameter (``gate=rezero``)."""
        return False

    def skip_kind(self, shortcut: str, aligns: Sequence[str], gate: bool) -> str:
        """How a comparison names a skip into this merge (see :mod:`resdsl.analysis.compare`)."""
        return self.name + "".join(f", align={a}" for a in aligns)


def mismatch(verb: str, shapes: Sequence[Shape]) -> str:
    """``cannot add [64, 8, 8] and [128, 4, 4]``."""
    return f"cannot {verb} " + " and ".join(format_shape(s) for s in shapes)


def fixed(shape: Shape) -> tuple[int, ...]:
    """The sample sizes of a shape (symbolic dimensions at their sample value)."""
    return tuple(map(int, shape))


class Add(Merge):
    """``add``: a residual sum; shapes must match exactly (after the skip's shortcut)."""

    name = "add"
    Args = MergeArgs
    verb = "add"
    residual = True
    fresh_output = True
    style = SkipStyle(
        "#1f6fd1", "dashed", 1.8, "add skip (short, residual)", "+", look="blue and dashed"
    )

    def infer(self, args: Any, inputs: Sequence[MergeInput], ctx: ShapeContext) -> Shape:
        first = inputs[0].shape
        for index, item in enumerate(inputs[1:], start=1):
            if fixed(item.shape) != fixed(first):
                self.fail(index, item, first, ctx)
            for a, b in zip(item.shape, first, strict=True):
                ctx.equal(index, a, b)
        return first

    def fail(self, index: int, item: MergeInput, dst: Shape, ctx: ShapeContext) -> NoReturn:
        """Raise the mismatch of input ``index`` with the main path, with what to do."""
        src = item.shape
        if item.shortcut == "identity":
            if features_change(src, dst) is not None:
                hint = (
                    "use shortcut=auto to insert a projection (a linear layer without bias "
                    "on the last dimension)"
                )
            elif len(src) == len(dst) and int(src[0]) <= int(dst[0]):
                hint = (
                    "use shortcut=auto to insert a projection, or shortcut=zeropad "
                    "for a parameter-free one"
                )
            else:
                hint = "use shortcut=auto to insert a projection"
            raise MergeError(index, mismatch(self.verb, [src, dst]), hint)
        if len(src) != len(dst):
            raise MergeError(index, mismatch(self.verb, [src, dst]) + ": ranks differ")
        for a, b in zip(src, dst, strict=True):
            ctx.equal(index, a, b)  # the sizes for which they would match join the rule
        hint = ctx.valid_sizes() or "the shortcut cannot make these shapes match"
        raise MergeError(index, mismatch(self.verb, [src, dst]), hint, recover=dst)

    options = ("shortcut", "scale", "gate", "drop_path")

    def expression(self, args: Any, ins: list[str], emit: Emit) -> str:
        dst = ins[0]
        if isinstance(args, MergeArgs):
            if args.scale is not None:
                dst = f"{emit.literal(float(args.scale))} * {dst}"
            if args.gate == "rezero":
                dst = f"{emit.gate()} * {dst}"
            if args.gate_param is not None:
                dst = f"self.{args.gate_param} * {dst}"
        return " + ".join([dst, *ins[1:]])

    def forward_lines(self, args: Any, out: str, ins: list[str], emit: Emit) -> list[Line]:
        if not isinstance(args, MergeArgs) or not args.drop_path:
            return super().forward_lines(args, out, ins, emit)
        # Stochastic depth (torchvision's StochasticDepth(p, "row")): in training,
        # each sample keeps its residual branch with probability 1 - p, rescaled.
        branch = emit.temp("branch")
        keep = emit.literal(1.0 - args.drop_path)
        noise = f"{branch}.new_empty(({branch}.shape[0],) + (1,) * ({branch}.dim() - 1))"
        return [
            (f"{branch} = {self.expression(args, ins[:1], emit)}", False),
            (
                f"{branch} = {branch} * {noise}.bernoulli_({keep}).div_({keep}) "
                f"if self.training else {branch}",
                False,
            ),
            (f"{out} = {' + '.join([branch, *ins[1:]])}", True),
        ]

    def in_place_lines(self, args: Any, out: str, ins: list[str], emit: Emit) -> list[Line] | None:
        """``out += x``, one line per skip: ``(dst + a) + b`` in the order ``dst + a + b`` adds."""
        if not isinstance(args, MergeArgs) or self.has_gate(args):
            return None
        if args.scale is not None or args.gate_param is not None or args.drop_path:
            return None  # the main path is scaled, gated or dropped first: not a plain sum into it
        lines: list[Line] = [(f"{out} += {x}", False) for x in ins[1:]]
        lines[-1] = (lines[-1][0], True)
        return lines

    def has_gate(self, args: Any) -> bool:
        return getattr(args, "gate", None) == "rezero"

    def params(self, args: Any, shape: Shape) -> int:
        return 1 if self.has_gate(args) else 0

    def skip_kind(self, shortcut: str, aligns: Sequence[str], gate: bool) -> str:
        return f"{shortcut}, gate=rezero" if gate else shortcut


class Concat(Merge):
    """``concat``: inputs side by side along ``dim`` (channels by default); every other
    dimension must match (or be aligned)."""

    name = "concat"
    verb = "concatenate"
    Args = ConcatArgs
    options = ("align", "dim")
    skips_first = True
    long_skip = True
    fresh_output = True
    style = SkipStyle(
        "#e8590c",
        "bold",
        2.6,
        "concat skip (long; #1, #2 = order)",
        "cat",
        node_width=0.4,
        font_size=9,
        numbered=True,
        look="orange and bold",
    )

    def infer(self, args: Any, inputs: Sequence[MergeInput], ctx: ShapeContext) -> Shape:
        dst = inputs[-1].shape
        axis = _axis(args, len(dst))
        if axis is None:
            raise MergeError(
                0,
                f"concat dim={args.dim} is out of range for inputs of shape {format_shape(dst)}",
                f"dim counts from the first dimension after the batch: 0 to {len(dst) - 1}"
                ", or -1 for the last",
            )
        along = "along channels" if axis == 0 else f"along dimension {args.dim}"
        for index, item in enumerate(inputs[:-1]):
            shape = item.shape
            if len(shape) != len(dst) or len(dst) < 1:
                raise MergeError(index, mismatch(self.verb, [shape, dst]) + ": ranks differ")
            others = [i for i in range(len(dst)) if i != axis]
            for i in others:
                ctx.equal(index, shape[i], dst[i])
            if any(int(shape[i]) != int(dst[i]) for i in others):
                sizes = ctx.valid_sizes()
                raise MergeError(
                    index,
                    mismatch(self.verb, [shape, dst]) + f" {along}: the other dimensions differ",
                    "use align=crop or align=pad to make them match"
                    + (f", or change the input size: {sizes}" if sizes else ""),
                    recover=self.joined(inputs, axis),
                )
        return self.joined(inputs, axis)

    @staticmethod
    def joined(inputs: Sequence[MergeInput], axis: int) -> Shape:
        """The sizes along ``axis`` summed, the main path's other sizes.

        Symbolic sizes sum only when they are one size repeated (``T`` and
        ``T`` make ``2T``); any other sum has no exact size rule.
        """
        dst = inputs[-1].shape
        parts = [item.shape[axis] for item in inputs]
        total: int = sum(int(p) for p in parts)
        if any(dims.is_symbolic(p) for p in parts):
            first = parts[0]
            if not all(dims.expr_of(p) == dims.expr_of(first) for p in parts):
                raise MergeError(
                    0,
                    "cannot concatenate "
                    + " and ".join(format_shape(item.shape) for item in inputs)
                    + f" along dimension {axis}: its sizes depend on the input size differently",
                    "concatenate along a dimension of fixed size (dim=), or fix the input size",
                )
            total = dims.affine(first, len(parts), 0)
        return (*dst[:axis], total, *dst[axis + 1 :])

    def expression(self, args: Any, ins: list[str], emit: Emit) -> str:
        dim = args.dim if isinstance(args, ConcatArgs) else 0
        # the batch is dimension 0 at run time; a negative dim counts from the end as it is
        at = dim + 1 if dim >= 0 else dim
        return f"torch.cat([{', '.join(ins)}], dim={at})"


def _axis(args: Any, rank: int) -> int | None:
    """The concat dimension as an index into a rank-``rank`` shape, or None if out of range."""
    dim = args.dim if isinstance(args, ConcatArgs) else 0
    axis = dim if dim >= 0 else rank + dim
    return axis if 0 <= axis < rank else None


class Mul(Merge):
    """``mul``: an element-wise product (a gate) that broadcasts like PyTorch."""

    name = "mul"
    verb = "multiply"
    fresh_output = True
    style = SkipStyle(
        "#8e44ad", "dotted", 2.2, "mul skip (gating)", "×", side="w", look="purple and dotted"
    )

    def infer(self, args: Any, inputs: Sequence[MergeInput], ctx: ShapeContext) -> Shape:
        out: list[int] = list(inputs[0].shape)
        for index, item in enumerate(inputs[1:], start=1):
            shape = item.shape
            if len(shape) > len(out):
                out = [1] * (len(shape) - len(out)) + out
            padded = [1] * (len(out) - len(shape)) + list(shape)
            for i, (a, b) in enumerate(zip(out, padded, strict=True)):
                if int(a) == int(b):
                    ctx.equal(index, a, b)
                elif int(a) == 1:
                    out[i] = b
                elif int(b) != 1:
                    raise MergeError(
                        index,
                        mismatch(self.verb, [shape, inputs[0].shape])
                        + ": the shapes do not broadcast",
                        "mul broadcasts like PyTorch: each dimension must be equal or 1",
                    )
        return tuple(out)

    def expression(self, args: Any, ins: list[str], emit: Emit) -> str:
        return " * ".join(ins)


BUILTIN_MERGES: tuple[Merge, ...] = (Add(), Concat(), Mul())

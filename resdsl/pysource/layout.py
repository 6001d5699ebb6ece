"""Layers in an ``nn.Sequential``, with the channels tracked through ``permute``.

An ``nn.Sequential`` calls each child as ``module(x)``. A layer whose
``forward`` is not that call cannot be appended as the registry builds it:
``layernorm2d`` (``norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)``) is
torchvision's ``LayerNorm2d`` there, and ``permute`` (no module of its own) is
torchvision's ``Permute``, so the children keep their positions and the
``state_dict`` its keys (ConvNeXt's ``block.0``, ``block.2``, ...). Both are
classes of the written module (:mod:`resdsl.pysource.helpers`); any other
such layer is :class:`Unsupported`.

The writer tracks one dimension as the channels, the first. After a
``permute`` that moves it last (``permute(1, 2, 0)``, channels last, as
ConvNeXt's block), a layer reads the last dimension instead: each of its
arguments and the channels are given probes, as :mod:`resdsl.pysource.layers`
does, and every other dimension a probe that stands for nothing, so a
constructor that reads one of them is refused rather than given one
instance's size. A layer there must keep the other dimensions; the group
must end with the channels first again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from resdsl.ops import Layer, ShapeError, get_layer
from resdsl.ops.layout import permutation
from resdsl.pysource.calls import LayerCode, bind, layer_code
from resdsl.pysource.layers import Probes, constructor, validated_args
from resdsl.pysource.pyexpr import Scope, Unsupported, is_literal, literal_value
from resdsl.pysource.references import References
from resdsl.syntax import ast


def sequential_ctor(code: LayerCode) -> str:
    """The constructor of a layer as an ``nn.Sequential`` child (called ``module(x)``)."""
    if code.call("m", "x") == "m(x)":
        return code.ctor
    if code.layer.name == "layernorm2d" and code.ctor.startswith("nn.LayerNorm("):
        return "LayerNorm2d(" + code.ctor.removeprefix("nn.LayerNorm(")
    raise Unsupported(f"'{code.layer.name}' in an nn.Sequential (its forward is not module(x))")


@dataclass
class SequentialLayers:
    """A run of unlabelled layers as ``nn.Sequential`` children, channels tracked."""

    scope: Scope
    rank: int
    refs: References
    channels: str
    last: bool = False  # the channels are the last dimension (after a permute)
    ctors: list[str] = field(default_factory=list)
    #: The calls (and their code) written with the channels first: those that may stride.
    first: list[tuple[ast.Call, LayerCode]] = field(default_factory=list)

    def add(self, stmt: ast.Call) -> None:
        layer = get_layer(stmt.name)
        if layer is None:  # pragma: no cover - the elaborator refuses unknown names
            raise Unsupported(f"no layer '{stmt.name}'")
        if layer.name == "permute":
            self.permute(stmt, layer)
        elif self.last:
            self.ctors.append(self.last_dim(stmt, layer))
        else:
            code = layer_code(stmt, self.scope, self.channels, self.rank, self.refs)
            self.ctors.append(sequential_ctor(code))
            self.channels = code.out_channels
            self.first.append((stmt, code))

    def done(self) -> str:
        """The channels after the run; it must end with them first."""
        if self.last:
            raise Unsupported("a group that ends with the channels last")
        return self.channels

    def permute(self, stmt: ast.Call, layer: Layer) -> None:
        values = [literal_value(a.value) for a in stmt.args if is_literal(a.value)]
        dims = tuple(d for d in values if isinstance(d, int) and not isinstance(d, bool))
        if len(dims) != len(stmt.args) or any(a.name is not None for a in stmt.args):
            raise Unsupported("a permute whose order is computed")
        try:
            order = permutation(layer.name, dims, self.rank)
        except ShapeError as err:  # pragma: no cover - the elaborator checks the order
            raise Unsupported(f"the permute: {err}") from None
        where = order.index(self.rank - 1 if self.last else 0)
        if where not in (0, self.rank - 1):
            raise Unsupported("a permute that puts the channels neither first nor last")
        self.last = where == self.rank - 1
        self.ctors.append(f"Permute([0, {', '.join(str(d + 1) for d in order)}])")

    def last_dim(self, stmt: ast.Call, layer: Layer) -> str:
        """A layer on a channels-last value: its constructor, probed on the last dimension."""
        values, exprs = bind(layer, stmt.args, self.scope)
        others = [f"<dimension {k}>" for k in range(self.rank - 1)]
        probes, made = Probes.make([self.channels, *exprs.values(), *others])
        numbers = [int(n) for n in made]
        named = len(numbers) - len(others)
        mapped = Probes({n: e for n, e in probes.exprs.items() if n in numbers[:named]})
        args = validated_args(layer, {**values, **dict(zip(exprs, numbers[1:named], strict=True))})
        if any(isinstance(getattr(args, name, None), float) for name in exprs):
            # An int probe stored as a float would not be replaced: refuse, not bake it.
            raise Unsupported(f"a computed float argument of '{layer.name}' on the last dimension")
        in_shape = (*numbers[named:], numbers[0])
        try:
            out = layer.infer(args, in_shape)
        except (ShapeError, ValueError, TypeError, ZeroDivisionError):
            raise Unsupported(f"'{layer.name}' on the last dimension (its shape rule)") from None
        if tuple(out[:-1]) != in_shape[:-1]:
            raise Unsupported(f"a '{layer.name}' that changes more than the last dimension")
        code = LayerCode(
            layer, constructor(layer, args, in_shape, mapped), "", args, in_shape, False
        )
        ctor = sequential_ctor(code)
        size = int(out[-1])
        if size >= numbers[0] and size not in mapped.exprs:
            raise Unsupported(f"the output size of '{layer.name}' computes with an argument")
        self.channels = mapped.exprs.get(size, str(size))
        return ctor

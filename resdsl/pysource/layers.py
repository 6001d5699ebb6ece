"""A layer call's constructor and output channels, written with the spec's expressions.

The op registry writes a layer's constructor for concrete arguments
(``Layer.torch_init``) and knows its shape rule (``Layer.infer``). To write
the constructor of ``conv(planes * 4, 1, bias=false)`` for every value of
``planes`` at once, each argument the spec computes (and the input channels)
is given a *probe*: a large number no other argument holds. The registry
writes its constructor as usual, and each probe in that source is replaced by
the Python expression it stands for: ``nn.Conv2d(in_channels, planes * 4, 1,
bias=False)``. A probe that the constructor does not pass through unchanged
(a constructor that computes with it) makes the layer :class:`Unsupported`.
The output channels are found the same way, one probe at a time, through the
shape rule.
"""

from __future__ import annotations

import ast as pyast
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from resdsl.ir import dims
from resdsl.ir.dims import Shape
from resdsl.ops import Layer, ShapeError
from resdsl.pysource.pyexpr import Unsupported

#: The first probe; probes are spaced so that no small computation maps one onto another.
PROBE = 1_000_003
_PROBE_STEP = 7_919
#: Numbers at least this large in a constructor must be probes (spec numbers are checked).
_LARGE = 100_000


#: The first float probe: inside every float argument's range the registry has
#: (a probability, a positive epsilon), with more digits than a spec writes.
FLOAT_PROBE = 0.012_345_678_9
_FLOAT_STEP = 0.000_001_1


@dataclass(frozen=True)
class Probes:
    """Probe number -> the Python expression it stands for."""

    exprs: Mapping[int | float, str]

    @staticmethod
    def make(
        exprs: list[str], floats: frozenset[int] = frozenset(), trial: int = 0
    ) -> tuple[Probes, list[int | float]]:
        """One probe per expression: a float one at the positions in ``floats``.

        ``trial`` picks another set of values: a constructor written with two
        sets must come out the same once each probe is replaced.
        """
        values: list[int | float] = [
            FLOAT_PROBE + (k + trial * len(exprs)) * _FLOAT_STEP
            if k in floats
            else PROBE + (k + trial * len(exprs)) * _PROBE_STEP
            for k in range(len(exprs))
        ]
        return Probes(dict(zip(values, exprs, strict=True))), values


def probed_args(
    layer: Layer, values: Mapping[str, Any], exprs: Mapping[str, str], channels: str, trial: int
) -> tuple[Any, Probes, list[int | float]]:
    """The arguments with a probe for each computed field (a float probe where a float goes).

    The input channels are the first probe. A field takes a float probe where
    the int probe is refused, or is stored as a float (``eps``, ``momentum``, ``p``).
    """
    names = list(exprs)
    floats: frozenset[int] = frozenset()
    for _ in range(len(names) + 1):  # each round turns at least one more field to floats
        probes, numbers = Probes.make([channels, *exprs.values()], floats, trial)
        probed = {**values, **dict(zip(names, numbers[1:], strict=True))}
        try:
            args = layer.Args.model_validate(probed)
        except ValidationError as err:
            failed = {str(e["loc"][0]) for e in err.errors() if e["loc"]}
            more = frozenset(k + 1 for k, n in enumerate(names) if n in failed)
            if not more - floats:
                raise Unsupported(f"the arguments of '{layer.name}' as probes: {err}") from None
            floats |= more
            continue
        stored = frozenset(
            k + 1 for k, n in enumerate(names) if isinstance(getattr(args, n, None), float)
        )
        if stored <= floats:
            return args, probes, numbers
        floats |= stored
    raise Unsupported(f"the arguments of '{layer.name}' as probes")


def validated_args(layer: Layer, values: Mapping[str, Any]) -> Any:
    """The layer's argument model, or Unsupported if the values do not fit it."""
    try:
        return layer.Args.model_validate(dict(values))
    except (ValidationError, ValueError, TypeError) as err:
        raise Unsupported(f"the arguments of '{layer.name}' as probes: {err}") from None


def constructor(layer: Layer, args: Any, in_shape: Shape, probes: Probes) -> str:
    """``layer``'s constructor source with each probe replaced by its expression."""
    try:
        source = str(layer.torch_init(args, in_shape))
    except (ShapeError, ValueError, TypeError, NotImplementedError) as err:
        raise Unsupported(f"the constructor of '{layer.name}': {err}") from None
    return substitute(source, probes, layer.name)


def substitute(source: str, probes: Probes, what: str) -> str:
    """Replace each probe constant of ``source`` by its expression."""
    tree = pyast.parse(source, mode="eval")

    class Replace(pyast.NodeTransformer):
        def visit_Constant(self, node: pyast.Constant) -> pyast.AST:
            value = node.value
            if isinstance(value, int | float) and not isinstance(value, bool):
                if value in probes.exprs:
                    return pyast.parse(probes.exprs[value], mode="eval").body
                if abs(value) >= _LARGE:
                    raise Unsupported(f"the constructor of '{what}' computes with an argument")
            return node

    return pyast.unparse(Replace().visit(tree))


def out_channels(
    layer: Layer, base: Any, in_shape: Shape, fields: Mapping[str, str], in_channels: str
) -> str:
    """The expression of the layer's output channels (the first dimension of its output).

    ``base`` holds concrete arguments (those of an elaborated instance);
    ``fields`` maps each argument the spec computes to its expression. Each
    expression is probed at every spot that holds it at once (the input
    channels too), so ``conv(half, 3, groups=half)`` on ``half`` channels
    stays a valid grouped convolution; a shape rule that wants divisibility
    (``channel_shuffle(2)``) gets a second probe divisible by 1 to 16. A
    rule that refuses both probes makes the layer :class:`Unsupported`.
    """
    reference = _first_dim(layer, base, in_shape)
    if reference is None:
        raise Unsupported(f"the shape rule of '{layer.name}' refused its own arguments")
    refused = False
    for expr in dict.fromkeys([*fields.values(), in_channels]):
        names = [name for name, e in fields.items() if e == expr]
        found = _probe(layer, base, in_shape, names, expr == in_channels)
        if found is None and names and expr != in_channels:
            # Equal to the input channels where elaborated (a depthwise conv's groups):
            # probed together, as every model must have them equal for the layer to build.
            found = _probe(layer, base, in_shape, names, True)
        if found is None:
            refused = True
            continue
        probe, probed = found
        if probed == probe:
            return expr
        fixed = [int(d) for d in in_shape[1:] if not dims.is_symbolic(d)]
        if not names and len(fixed) == len(in_shape) - 1 and probed == probe * math.prod(fixed):
            return fold_product(in_channels, math.prod(fixed))  # a flatten of a fixed size
        if probed != reference:
            what = f"'{names[0]}'" if names else "its input size"
            raise Unsupported(f"the output size of '{layer.name}' computes with {what}")
    if refused:
        raise Unsupported(f"the output channels of '{layer.name}' (its shape rule refuses probes)")
    return str(reference)


#: A second probe, for shape rules that want the channels divisible (by 1 to 16).
_DIVISIBLE_PROBE = 720_720 * 1_009


def _probe(
    layer: Layer, base: Any, in_shape: Shape, names: list[str], input_too: bool
) -> tuple[int, int] | None:
    """(probe, first output dimension) with ``names`` (and the input channels) set to a probe."""
    # A multiple of the elaborated value keeps what the rule checks of it (divisible by
    # a grouped conv's groups, ResNeXt's width).
    values = {getattr(base, n, None) for n in names}
    value = values.pop() if len(values) == 1 else None
    scaled = [value * PROBE] if isinstance(value, int) and not isinstance(value, bool) else []
    for probe in (PROBE, _DIVISIBLE_PROBE, *[v for v in scaled if v > 0]):
        args = base.model_copy(update=dict.fromkeys(names, probe))
        shape = (probe, *in_shape[1:]) if input_too else in_shape
        probed = _first_dim(layer, args, shape)
        if probed is not None:
            return probe, probed
    return None


def _first_dim(layer: Layer, args: Any, in_shape: Shape) -> int | None:
    try:
        shape = layer.infer(args, in_shape)
    except (ShapeError, ValueError, TypeError, ZeroDivisionError):
        return None
    return int(shape[0]) if shape else None


def fold_product(expr: str, factor: int) -> str:
    """``expr * factor``, one number where ``expr`` is one (``128 * 16`` -> ``2048``)."""
    if factor == 1:
        return expr
    tree = pyast.parse(expr, mode="eval").body
    if isinstance(tree, pyast.Constant) and type(tree.value) is int:
        return str(tree.value * factor)
    return pyast.unparse(pyast.BinOp(tree, pyast.Mult(), pyast.Constant(factor)))

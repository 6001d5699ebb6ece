"""One call statement as Python: a layer's constructor, or a block class's instantiation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from resdsl.ops import Layer, get_layer
from resdsl.pysource.layers import (
    Probes,
    constructor,
    out_channels,
    probed_args,
    substitute,
    validated_args,
)
from resdsl.pysource.pyexpr import Scope, Unsupported, is_literal, literal_value, python_expr
from resdsl.pysource.references import References
from resdsl.syntax import ast

#: Layer categories without parameters or buffers: one module may serve every call.
_STATELESS = frozenset({"activation", "pool", "shape", "dropout"})
#: Layers that move the channels: written only where the channels are tracked through them.
_LAYOUT = frozenset({"permute", "transpose", "reshape", "unflatten", "select"})
#: A spatial size for shape rules where no model elaborates the statement.
_SAMPLE = 64


@dataclass(frozen=True)
class LayerCode:
    """A layer call written parametrically."""

    layer: Layer
    ctor: str
    out_channels: str
    call_args: Any  # the arguments its call in ``forward`` is written for
    in_shape: tuple[int, ...]
    fixed: bool  # no argument depends on a parameter

    def stateless(self) -> bool:
        return self.fixed and self.layer.category in _STATELESS

    def call(self, module: str, x: str) -> str:
        """The call in ``forward``; it cannot depend on constructor parameters."""
        try:
            source = str(self.layer.torch_call(module, x, self.call_args, self.in_shape))
        except (ValueError, TypeError) as err:  # pragma: no cover - registry layers do not raise
            raise Unsupported(f"the call of '{self.layer.name}': {err}") from None
        return substitute(source, Probes({}), self.layer.name)


def bind(
    layer: Layer, args: tuple[ast.Arg, ...], scope: Scope
) -> tuple[dict[str, Any], dict[str, str]]:
    """The spec's arguments by field: literal values, and expressions for the rest."""
    fields = list(layer.Args.model_fields)
    values: dict[str, Any] = {}
    exprs: dict[str, str] = {}
    for i, arg in enumerate(args):
        if arg.name is None and i >= len(fields):
            raise Unsupported(f"too many arguments for '{layer.name}'")
        name = arg.name if arg.name is not None else fields[i]
        if is_literal(arg.value):
            values[name] = literal_value(arg.value)
        else:
            exprs[name] = python_expr(arg.value, scope)
    return values, exprs


def layer_code(
    stmt: ast.Call, scope: Scope, channels: str, rank: int, refs: References
) -> LayerCode:
    """The constructor of a layer call for every value of the parameters it uses."""
    layer = get_layer(stmt.name)
    if layer is None:  # pragma: no cover - the elaborator refuses unknown names
        raise Unsupported(f"no layer '{stmt.name}'")
    if layer.name in _LAYOUT:  # see resdsl.pysource.layout
        raise Unsupported(f"a '{layer.name}' outside a group of layers")
    values, exprs = bind(layer, stmt.args, scope)
    ref = refs.layer(stmt.span)
    ref_shape = ref.in_shape() if ref is not None else (_SAMPLE,) * rank
    ctors = set()
    for trial in (0, 1):  # the same source from two sets of probes, or it computes with them
        args, probes, numbers = probed_args(layer, values, exprs, channels, trial)
        ctors.add(constructor(layer, args, (int(numbers[0]), *ref_shape[1:]), probes))
    if len(ctors) != 1:
        raise Unsupported(f"the constructor of '{layer.name}' computes with an argument")
    ctor = ctors.pop()
    base = (
        ref.data["args"]
        if ref is not None
        else validated_args(layer, {**values, **dict.fromkeys(exprs, 1)})
    )
    out = out_channels(layer, base, ref_shape, exprs, channels)
    return LayerCode(layer, ctor, out, base, ref_shape, not exprs)


def block_call(stmt: ast.Call, scope: Scope, channels: str) -> str:
    """``Bottleneck(channels, planes, stride=stride)``: a block class with the input channels first."""
    cls = scope.names.get(stmt.name) or scope.blocks.get(stmt.name)
    if cls is None:  # pragma: no cover - the elaborator refuses unknown names
        raise Unsupported(f"no block '{stmt.name}'")
    parts = [channels]
    for arg in stmt.args:
        value = python_expr(arg.value, scope)
        parts.append(value if arg.name is None else f"{arg.name}={value}")
    return f"{cls}({', '.join(parts)})"


def is_block_call(stmt: ast.Call, scope: Scope) -> bool:
    """A block definition, or a name holding one (a block parameter, a ``let`` of a block,
    or a name that is not a layer's)."""
    if stmt.name in scope.blocks or stmt.name in scope.block_values:
        return True
    return stmt.name in scope.names and get_layer(stmt.name) is None

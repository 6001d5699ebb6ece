"""Shortcuts that are not a layer projection: an op that builds a node, or a user block.

A shortcut op that builds a node of its own (``builds == "node"``: He et
al.'s option A, which subsamples and zero-pads the new channels) has no
module and no parameters. Its arguments depend on the block's parameters, so
``__init__`` computes them where the shapes differ (the condition ``auto``'s
projection is built under) and keeps them in a tuple named after the skip;
``forward`` unpacks the tuple and runs the op's own lines from the registry
(:meth:`Op.forward_lines`), written for names instead of numbers::

    self.shortcut: tuple[int, int, int] | None = None
    if stride != 1 or in_channels != planes:
        new_channels = planes - in_channels
        self.shortcut = (stride, new_channels // 2, new_channels - new_channels // 2)
    ...
    identity = x
    if self.shortcut is not None:
        stride, pad_before, pad_after = self.shortcut
        identity = x[:, :, ::stride, ::stride]
        identity = F.pad(identity, (0, 0, 0, 0, pad_before, pad_after))

Which expression fills each argument is found by asking the op for its node
between probe shapes (:func:`node_fields`); an argument that is not the
stride or a known function of the channel difference is :class:`Unsupported`.

A user block as the shortcut always builds (docs/language.md section 6): its
class is called with the channels and the stride the elaborator gives it,
``self.shortcut = ConvShortcut(in_channels, planes * 4, stride)``.
"""

from __future__ import annotations

import ast as pyast
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from resdsl.ops.base import ShapeError
from resdsl.ops.shortcut import Shortcut
from resdsl.pysource.chain import INDENT
from resdsl.pysource.names import claim
from resdsl.pysource.pyexpr import IDENT, Scope, Unsupported
from resdsl.pysource.references import References, span_key
from resdsl.pysource.text import WIDTH
from resdsl.syntax import ast

#: Probe numbers: large, distinct, and two channel differences of each parity,
#: so that ``d // 2`` and ``d - d // 2`` differ in at least one of them.
_IN_CHANNELS = 1_000_003
_DIFFERENCES = (7_919, 7_920)
_STRIDE = 1_009
_FIELD_PROBE = 2_000_003
_FIELD_STEP = 7_919
#: The expression of each function of the channel difference a node argument may be
#: (``{d}`` stands for the variable holding the difference).
_OF_DIFFERENCE: tuple[tuple[str, Any], ...] = (
    ("{d}", lambda d: d),
    ("{d} // 2", lambda d: d // 2),
    ("{d} - {d} // 2", lambda d: d - d // 2),
    ("0", lambda d: 0),
)
#: A number in a node's lines this large can only come from a probe.
_LARGE_NUMBER = re.compile(r"\d{6,}")
#: The ``__init__`` variable that holds the channel difference.
DIFFERENCE = "new_channels"


@dataclass
class ShortcutCode:
    """A shortcut's ``__init__`` and ``forward`` lines; ``forward`` leaves its value in ``var``."""

    var: str
    init: list[str] = field(default_factory=list)
    forward: list[str] = field(default_factory=list)
    uses_f: bool = False


@dataclass(frozen=True)
class NodeField:
    """One argument of a shortcut node: the stride (per dimension), or a function of the
    channel difference (``expr`` uses ``{d}``)."""

    name: str
    stride: bool
    expr: str = ""


def node_fields(op: Shortcut, rank: int) -> list[NodeField]:
    """How each argument of ``op``'s node follows from the stride and the channels.

    >>> from resdsl.ops import get_op
    >>> [(f.name, f.stride, f.expr) for f in node_fields(get_op("zeropad", "shortcut"), 3)]
    [('stride', True, ''), ('pad_before', False, '{d} // 2'), ('pad_after', False, '{d} - {d} // 2')]
    """
    spatial = rank - 1
    probes: list[dict[str, Any]] = []
    for diff in _DIFFERENCES:
        src = (_IN_CHANNELS, *(64,) * spatial)
        dst = (_IN_CHANNELS + diff, *(1,) * spatial)
        try:
            args, _ = op.node(src, dst, (_STRIDE,) * spatial)
        except (ShapeError, ValueError, TypeError, NotImplementedError) as err:
            raise Unsupported(f"the shortcut '{op.name}' between probe shapes: {err}") from None
        probes.append(dict(args))
    fields = []
    for name, value in probes[0].items():
        if not IDENT.match(name):
            raise Unsupported(f"the shortcut '{op.name}''s argument '{name}'")
        if isinstance(value, tuple) and value == (_STRIDE,) * spatial:
            fields.append(NodeField(name, True))
            continue
        values = [p[name] for p in probes]
        expr = next(
            (
                form
                for form, fn in _OF_DIFFERENCE
                if all(v == fn(d) for v, d in zip(values, _DIFFERENCES, strict=True))
            ),
            None,
        )
        if expr is None or not all(isinstance(v, int) for v in values):
            raise Unsupported(f"the shortcut '{op.name}''s argument '{name}' here")
        fields.append(NodeField(name, False, expr))
    return fields


class _ProbeEmit:
    """The ``Emit`` of a node's registry lines: each probe argument is written as its name."""

    def __init__(self, names: dict[int, str], taken: set[str]) -> None:
        self.names = names
        self.taken = taken
        self.uses_f = False

    def literal(self, value: int | float | bool) -> str:
        if isinstance(value, int) and value in self.names:
            return self.names[value]
        return repr(value)

    def temp(self, base: str) -> str:
        return claim(base, self.taken)

    def use_functional(self) -> None:
        self.uses_f = True

    def gate(self) -> str:
        raise Unsupported("a shortcut with a learned gate")


#: A value at either end of a skip: its variable in ``forward`` and its channels.
End = tuple[str, str]


def shortcut_name(refs: References, skip: ast.Skip) -> str:
    """The attribute a skip's shortcut is kept in: its scope's or node's name (its label)."""
    names = set(refs.shortcut_scopes(skip.span))
    if not names:  # a node of its own (the layers of a shortcut scope share its role)
        names = {ref.data["name"] for ref in refs.with_role(skip.span, "shortcut")}
    label = skip.label.literal if skip.label is not None else None
    if label is not None:
        names.add(label)
    if len(names) != 1 or not IDENT.match(next(iter(names))):
        raise Unsupported("a shortcut whose module name is not known")
    return next(iter(names))


def node_shortcut(
    ops: tuple[Shortcut, Shortcut],
    module: tuple[str, str],
    ends: tuple[End, End],
    tests: list[str],
    taken: tuple[set[str], set[str]],
    rank: int,
) -> ShortcutCode:
    """A shortcut whose op builds a node where the shapes differ.

    ``ops``: the ops that run where the shapes are the same and where they
    differ; ``module``: the attribute's name and the path's stride;
    ``ends``: the skip's source and destination; ``tests``: the condition
    that the shapes differ; ``taken``: the names in use in ``__init__`` and in
    ``forward``.
    """
    same, differs = ops
    name, stride = module
    (src_var, src_channels), (_, dst_channels) = ends
    if same.builds == "nothing" and not tests:
        return ShortcutCode(src_var)  # the shapes never differ here
    if same.builds not in ("nothing", "node") or (same.builds == "node" and same is not differs):
        raise Unsupported(f"the shortcut '{differs.name}' here")
    fields = node_fields(differs, rank)
    init, values, diff = [], [], ""
    if any(f.expr not in ("", "0") for f in fields):
        diff = claim(DIFFERENCE, taken[0])
        init.append(f"{diff} = {_minus(dst_channels, src_channels)}")
    for f in fields:
        values.append(stride if f.stride else f.expr.format(d=diff) if "{d}" in f.expr else f.expr)
    kinds = ", ".join(["int"] * len(fields))
    stored = [f"({', '.join(values)}{',' if len(values) == 1 else ''})"]
    depth = 2 if same.builds == "node" else 3  # in ``__init__``, or under its condition
    if len(f"{INDENT * depth}self.{name} = {stored[0]}") > WIDTH:  # one per line, as ruff has it
        stored = ["(", *(f"{INDENT}{v}," for v in values), ")"]
    locals_ = {
        _FIELD_PROBE + k * _FIELD_STEP: claim(f.name, taken[1]) for k, f in enumerate(fields)
    }
    probed = {
        f.name: (p,) * (rank - 1) if f.stride else p for f, p in zip(fields, locals_, strict=True)
    }
    try:
        args = differs.Args.model_validate(probed)
    except (ValidationError, ValueError, TypeError) as err:
        raise Unsupported(f"the arguments of '{differs.name}' as probes: {err}") from None
    emit = _ProbeEmit(locals_, taken[1])
    lines = differs.forward_lines(args, "identity", [src_var], emit)
    if any(_LARGE_NUMBER.search(text) for text, _ in lines):  # a probe, or one computed from it
        raise Unsupported(f"the shortcut '{differs.name}', whose lines compute with its arguments")
    unpack = f"{', '.join(locals_.values())}{',' if len(fields) == 1 else ''} = self.{name}"
    body = [unpack, *(text for text, _ in lines)]
    if same.builds == "node":
        assign = [f"self.{name} = {stored[0]}", *stored[1:]]
        return ShortcutCode("identity", [*init, *assign], body, emit.uses_f)
    code = ShortcutCode("identity", uses_f=emit.uses_f)
    code.init = [
        f"# the {differs.description} where the shapes differ",
        f"self.{name}: tuple[{kinds}] | None = None",
        f"if {' or '.join(tests)}:",
        *(INDENT + line for line in [*init, f"self.{name} = {stored[0]}", *stored[1:]]),
    ]
    code.forward = [
        f"identity = {src_var}",
        f"if self.{name} is not None:",
        *(INDENT + line for line in body),
    ]
    return code


def block_shortcut(cls: str, name: str, ends: tuple[End, End], stride: str) -> ShortcutCode:
    """A user block as the shortcut: built always, given the channels and the stride.

    >>> block_shortcut("ConvShortcut", "shortcut", (("x", "in_channels"), ("out", "planes")), "2").init
    ['self.shortcut = ConvShortcut(in_channels, planes, 2)']
    """
    (src_var, src_channels), (_, dst_channels) = ends
    return ShortcutCode(
        "identity",
        [f"self.{name} = {cls}({src_channels}, {dst_channels}, {stride})"],
        [f"identity = self.{name}({src_var})"],
    )


def block_shortcut_code(
    refs: References,
    skip: ast.Skip,
    block: str,
    ends: tuple[End, End],
    path: list[str],
    scope: Scope,
) -> ShortcutCode:
    """``shortcut=BLOCK``: the block's class (or the block parameter) given the channels and
    the path's stride, which every model must pass as one ``int`` (not one per dimension)."""
    cls = scope.names.get(block) or scope.blocks.get(block)
    if cls is None:  # pragma: no cover - the elaborator refuses unknown shortcuts
        raise Unsupported(f"the shortcut '{block}'")
    if "?" in path:
        raise Unsupported("a shortcut around a block")
    infos = [
        info for _, info in refs.scopes.get(span_key(skip.span), []) if info.kind == "shortcut"
    ]
    if not infos:
        raise Unsupported(f"the shortcut block '{block}', which no model elaborates")
    if any(not isinstance(info.args.get("stride"), int) for info in infos):
        raise Unsupported(f"the shortcut block '{block}' with a stride per dimension")
    stride = " * ".join(path) if path else "1"
    return block_shortcut(cls, shortcut_name(refs, skip), ends, stride)


def _minus(a: str, b: str) -> str:
    """``a - b`` with the parentheses ``b`` needs (``a - (b + c)``)."""
    tree = pyast.BinOp(
        pyast.parse(a, mode="eval").body, pyast.Sub(), pyast.parse(b, mode="eval").body
    )
    return pyast.unparse(tree)

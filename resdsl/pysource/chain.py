"""A scope without skips as an ``nn.Sequential``: its ``__init__`` appends each statement.

Names follow the language's rule (a label, else the position), and an
``nn.Sequential`` names what it appends by position too, so ``self.append``
gives an unlabelled statement its spec name. ``repeat`` is a ``for`` loop and
``if`` an ``if``; the running channel count is carried in ``channels``.
"""

from __future__ import annotations

import ast as pyast
from dataclasses import dataclass, field

from resdsl.pysource.calls import block_call, is_block_call, layer_code
from resdsl.pysource.layout import SequentialLayers, sequential_ctor
from resdsl.pysource.pyexpr import (
    IDENT,
    Scope,
    Unsupported,
    label_expr,
    python_expr,
    statement_name,
    to_python,
)
from resdsl.pysource.references import References
from resdsl.syntax import ast

INDENT = "    "
CHANNELS = "channels"


@dataclass
class ChainWriter:
    """Writes the ``__init__`` statements of a chain scope, tracking its channel count."""

    refs: References
    rank: int
    channels: str
    reserved: frozenset[str]
    lines: list[str] = field(default_factory=list)
    target: str = "self"  # the nn.Sequential being filled (a local one for a nested group)

    def body(self, body: tuple[ast.Stmt, ...], scope: Scope, depth: int) -> None:
        for stmt in body:
            if isinstance(stmt, ast.Call):
                self.call(stmt, scope, depth)
            elif isinstance(stmt, ast.Group):
                self.group(stmt, scope, depth)
            elif isinstance(stmt, ast.Repeat):
                self.repeat(stmt, scope, depth)
            elif isinstance(stmt, ast.If):
                self.branch(stmt, scope, depth)
            elif isinstance(stmt, ast.Let):
                self.let(stmt, scope, depth)
            else:
                raise Unsupported(f"{statement_name(stmt)} in a chain")

    def emit(self, depth: int, text: str) -> None:
        self.lines.append(INDENT * depth + text)

    def register(self, label: ast.Label | None, ctor: str, scope: Scope, depth: int) -> str:
        """Add a child module; returns how later code refers to it."""
        to = self.target
        if label is None:
            self.emit(depth, f"{to}.append({ctor})")
            return f"{to}[-1]"
        text = label.literal
        if text is not None and IDENT.match(text) and text not in self.reserved:
            self.emit(depth, f"{to}.{text} = {ctor}")
            return f"{to}.{text}"
        name = pyast.unparse(label_expr(label, scope))
        self.emit(depth, f"{to}.add_module({name}, {ctor})")
        return f"{to}[-1]"

    def call(self, stmt: ast.Call, scope: Scope, depth: int) -> None:
        if is_block_call(stmt, scope):
            ref = self.register(stmt.label, block_call(stmt, scope, self.channels), scope, depth)
            known = self.refs.block_out.get(stmt.name)
            out = known.of(stmt.args, scope, self.channels) if known is not None else None
            if out is not None:  # the block's own expression for its output channels
                self.channels = out
                return
            self.emit(depth, f"{CHANNELS} = {ref}.out_channels")
            self.channels = CHANNELS
            return
        code = layer_code(stmt, scope, self.channels, self.rank, self.refs)
        self.register(stmt.label, sequential_ctor(code), scope, depth)
        self.channels = code.out_channels

    def group(self, stmt: ast.Group, scope: Scope, depth: int) -> None:
        """A group of layers: one inline ``nn.Sequential`` (its children are numbered)."""
        if not _inline(stmt, scope):
            self.nested(stmt, scope, depth)
            return
        layers = SequentialLayers(scope, self.rank, self.refs, self.channels)
        for inner in stmt.body:
            assert isinstance(inner, ast.Call)
            if is_block_call(inner, scope):
                if inner is not stmt.body[-1]:
                    raise Unsupported("a block inside a group before its last statement")
                layers.ctors.append(block_call(inner, scope, layers.done()))
                continue
            layers.add(inner)
        self.channels = layers.done()
        ref = self.register(stmt.label, f"nn.Sequential({', '.join(layers.ctors)})", scope, depth)
        if (
            stmt.body
            and isinstance(stmt.body[-1], ast.Call)
            and is_block_call(stmt.body[-1], scope)
        ):
            self.emit(depth, f"{CHANNELS} = {ref}[-1].out_channels")
            self.channels = CHANNELS

    def nested(self, stmt: ast.Group, scope: Scope, depth: int) -> None:
        """A group with labels, blocks or control flow: an ``nn.Sequential`` filled in a variable."""
        if any(isinstance(s, ast.Skip) for s in stmt.body):
            raise Unsupported("a group with skips in a chain")
        var = group_variable(stmt.label, self.reserved | set(scope.names))
        self.emit(depth, f"{var} = nn.Sequential()")
        inner = ChainWriter(self.refs, self.rank, self.channels, self.reserved, self.lines, var)
        inner.body(stmt.body, scope, depth)
        self.channels = inner.channels
        self.register(stmt.label, var, scope, depth)

    def settle(self, depth: int) -> None:
        """Hold the channel count in ``channels`` (before and at the end of a loop or branch)."""
        if self.channels != CHANNELS:
            self.emit(depth, f"{CHANNELS} = {self.channels}")
            self.channels = CHANNELS

    def repeat(self, stmt: ast.Repeat, scope: Scope, depth: int) -> None:
        var = stmt.var or "_"
        if stmt.var is not None and (not IDENT.match(var) or var in self.reserved):
            raise Unsupported(f"the loop variable '{var}'")
        self.settle(depth)
        self.emit(depth, f"for {var} in range({python_expr(stmt.count, scope)}):")
        inner = scope.child({var: var}) if stmt.var else scope
        start = len(self.lines)
        self.body(stmt.body, inner, depth + 1)
        self.settle(depth + 1)
        if len(self.lines) == start:
            self.emit(depth + 1, "pass")

    def branch(self, stmt: ast.If, scope: Scope, depth: int) -> None:
        test = to_python(stmt.test, scope)
        if not stmt.body:
            test, body, orelse = pyast.UnaryOp(pyast.Not(), test), stmt.orelse, stmt.body
        else:
            body, orelse = stmt.body, stmt.orelse
        if not orelse:  # the value may pass through: hold it before the test
            self.settle(depth)
        before = self.channels
        self.emit(depth, f"if {pyast.unparse(test)}:")
        self.body(body, scope, depth + 1)
        self.settle(depth + 1)
        if orelse:
            self.channels = before  # each branch starts from the value before the 'if'
            self.emit(depth, "else:")
            self.body(orelse, scope, depth + 1)
            self.settle(depth + 1)

    def let(self, stmt: ast.Let, scope: Scope, depth: int) -> None:
        if not IDENT.match(stmt.name) or stmt.name in self.reserved:
            raise Unsupported(f"the let name '{stmt.name}'")
        self.emit(depth, f"{stmt.name} = {python_expr(stmt.value, scope)}")
        assert isinstance(scope.names, dict)
        scope.names[stmt.name] = stmt.name


def _inline(stmt: ast.Group, scope: Scope) -> bool:
    """Can the group be one ``nn.Sequential(...)`` call: unlabelled calls, a block only last?"""
    calls = [s for s in stmt.body if isinstance(s, ast.Call) and s.label is None]
    if len(calls) != len(stmt.body):
        return False
    return not any(is_block_call(c, scope) for c in calls[:-1])


def group_variable(label: ast.Label, taken: frozenset[str] | set[str]) -> str:
    """The local variable a nested group is built in: its label (``stage`` for ``stage{s}``)."""
    first = label.parts[0] if label.parts else ""
    base = first if isinstance(first, str) and IDENT.match(first) else "layers"
    name = base if base not in taken else f"{base}_layers"
    while name in taken:
        name += "_"
    return name

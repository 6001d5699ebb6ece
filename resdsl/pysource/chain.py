"""A scope without skips as an ``nn.Sequential``: its ``__init__`` appends each statement.

Names follow the language's rule (a label, else the position), and an
``nn.Sequential`` names what it appends by position too, so ``self.append``
gives an unlabelled statement its spec name. ``repeat`` is a ``for`` loop and
``if`` an ``if``; the running channel count is carried in ``channels``.
"""

from __future__ import annotations

import ast as pyast
from collections.abc import MutableMapping
from dataclasses import dataclass, field

from resdsl.pysource.calls import block_call, is_block_call, layer_code
from resdsl.pysource.groups import group_variable as group_variable  # re-exported
from resdsl.pysource.groups import is_plain_group, write_group
from resdsl.pysource.layout import SequentialLayers, sequential_ctor
from resdsl.pysource.names import check_user_name, fresh, is_attribute_name
from resdsl.pysource.pyexpr import (
    STALE,
    Scope,
    Unsupported,
    channels_key,
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
    reserved: frozenset[str]  # names the constructor binds already (the user's)
    lines: list[str] = field(default_factory=list)
    target: str = "self"  # the ``nn.Sequential`` (or list) children are appended to
    var: str = ""  # the running channel count's variable (``channels`` unless a user's)
    #: ``channels(LABEL)`` entries that hold ``var``: overwritten when it is reassigned.
    held: list[tuple[MutableMapping[str, str], str]] = field(default_factory=list)
    declared: set[str] = field(default_factory=set)  # the group variables bound so far

    def __post_init__(self) -> None:
        self.var = self.var or fresh(CHANNELS, self.reserved)

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
        target = self.target
        if label is None:
            self.emit(depth, f"{target}.append({ctor})")
            return f"{target}[-1]"
        text = label.literal
        if text is not None and is_attribute_name(text):
            self.emit(depth, f"{target}.{text} = {ctor}")
            return f"{target}.{text}"
        name = pyast.unparse(label_expr(label, scope))
        self.emit(depth, f"{target}.add_module({name}, {ctor})")
        return f"{target}[-1]"

    def assign(self, depth: int, value: str) -> None:
        """``channels = value``: entries of ``channels(LABEL)`` that held it go stale."""
        self.emit(depth, f"{self.var} = {value}")
        self.channels = self.var
        for entries, key in self.held:
            if entries.get(key) == self.var:
                entries[key] = STALE
        self.held.clear()

    def record(self, label: ast.Label | None, scope: Scope, value: str | None = None) -> None:
        """Remember a label's channel count for ``channels(LABEL)``."""
        key = channels_key(label, scope) if label is not None else None
        if key is not None:
            scope.channels[key] = value or self.channels
            if scope.channels[key] == self.var:
                self.held.append((scope.channels, key))

    def call(self, stmt: ast.Call, scope: Scope, depth: int) -> None:
        if is_block_call(stmt, scope):
            ref = self.register(stmt.label, block_call(stmt, scope, self.channels), scope, depth)
            known = self.refs.block_out.get(stmt.name)
            out = known.of(stmt.args, scope, self.channels) if known is not None else None
            if out is not None:  # the block's own expression for its output channels
                self.channels = out
                self.record(stmt.label, scope)
                return
            self.assign(depth, f"{ref}.out_channels")
            if not ref.endswith("[-1]"):  # an attribute: its count stays readable there
                self.record(stmt.label, scope, f"{ref}.out_channels")
                return
        else:
            code = layer_code(stmt, scope, self.channels, self.rank, self.refs)
            self.register(stmt.label, sequential_ctor(code), scope, depth)
            self.channels = code.out_channels
        self.record(stmt.label, scope)

    def group(self, stmt: ast.Group, scope: Scope, depth: int) -> None:
        """A group: one inline ``nn.Sequential`` of plain layers, or one built as its own scope."""
        if not is_plain_group(stmt, lambda call: is_block_call(call, scope)):
            self.channels = write_group(self, stmt, scope, depth, self.register)
            self.record(stmt.label, scope)
            return
        layers = SequentialLayers(scope, self.rank, self.refs, self.channels)
        for inner in stmt.body:
            assert isinstance(inner, ast.Call)
            if is_block_call(inner, scope):
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
            self.assign(depth, f"{ref}[-1].out_channels")
        self.record(stmt.label, scope)

    def settle(self, depth: int) -> None:
        """Hold the channel count in ``channels`` (before and at the end of a loop or branch)."""
        if self.channels != self.var:
            self.assign(depth, self.channels)

    def repeat(self, stmt: ast.Repeat, scope: Scope, depth: int) -> None:
        var = stmt.var or "_"
        if stmt.var is not None:
            check_user_name(var, "loop variable")
        self.settle(depth)
        self.emit(depth, f"for {var} in range({python_expr(stmt.count, scope)}):")
        inner = scope.child({var: var}) if stmt.var else scope
        start = len(self.lines)
        self.body(stmt.body, inner, depth + 1)
        self.settle(depth + 1)
        if len(self.lines) == start:
            self.emit(depth + 1, "pass")

    def branch(self, stmt: ast.If, scope: Scope, depth: int) -> None:
        """``if``; an ``else`` that holds only another ``if`` is an ``elif``.

        Each branch starts from the value before the ``if`` and leaves its count
        in the running variable (held before the test too where no ``else`` ends
        the chain: the value may pass through); branches of activations only
        keep the count as it was written.
        """
        keeps = self.keeps_channels(stmt, scope)
        settle = self.settle if not keeps else lambda _: None
        if not _ends_in_else(stmt):
            settle(depth)
        before = self.channels
        keyword = "if"
        while True:
            test = to_python(stmt.test, scope)
            if not stmt.body:
                test, body, orelse = pyast.UnaryOp(pyast.Not(), test), stmt.orelse, stmt.body
            else:
                body, orelse = stmt.body, stmt.orelse
            self.emit(depth, f"{keyword} {pyast.unparse(test)}:")
            self.body(body, scope, depth + 1)
            settle(depth + 1)
            self.channels = before
            if len(orelse) == 1 and isinstance(orelse[0], ast.If):
                stmt, keyword = orelse[0], "elif"
                continue
            if orelse:
                self.emit(depth, "else:")
                self.body(orelse, scope, depth + 1)
                settle(depth + 1)
            self.channels = before if keeps else self.var
            return

    def keeps_channels(self, stmt: ast.If, scope: Scope) -> bool:
        """Do the branches hold only layers that keep the channel count (an activation)?"""
        for inner in (*stmt.body, *stmt.orelse):
            if isinstance(inner, ast.If):
                keeps = self.keeps_channels(inner, scope)
            elif isinstance(inner, ast.Call) and not is_block_call(inner, scope):
                code = layer_code(inner, scope, self.channels, self.rank, self.refs)
                keeps = code.out_channels == self.channels
            else:
                keeps = False
            if not keeps:
                return False
        return True

    def let(self, stmt: ast.Let, scope: Scope, depth: int) -> None:
        check_user_name(stmt.name, "let")
        self.emit(depth, f"{stmt.name} = {python_expr(stmt.value, scope)}")
        assert isinstance(scope.names, dict)
        scope.names[stmt.name] = stmt.name
        if isinstance(stmt.value, ast.Name) and (
            stmt.value.id in scope.blocks or stmt.value.id in scope.block_values
        ):
            scope.block_values.add(stmt.name)  # a block held by a let: called like one


def _ends_in_else(stmt: ast.If) -> bool:
    """Does the ``if``/``elif`` chain end with an ``else`` (every path builds something)?"""
    while stmt.body and stmt.orelse:
        if len(stmt.orelse) == 1 and isinstance(stmt.orelse[0], ast.If):
            stmt = stmt.orelse[0]
            continue
        return True
    return False

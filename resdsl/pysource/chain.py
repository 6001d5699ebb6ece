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
from resdsl.pysource.names import check_user_name, fresh, is_attribute_name
from resdsl.pysource.pyexpr import (
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
    reserved: frozenset[str]  # names the constructor binds already (the user's)
    lines: list[str] = field(default_factory=list)
    var: str = CHANNELS  # the running channel count's variable

    def __post_init__(self) -> None:
        self.var = fresh(CHANNELS, self.reserved)

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
        if label is None:
            self.emit(depth, f"self.append({ctor})")
            return "self[-1]"
        text = label.literal
        if text is not None and is_attribute_name(text):
            self.emit(depth, f"self.{text} = {ctor}")
            return f"self.{text}"
        name = pyast.unparse(label_expr(label, scope))
        self.emit(depth, f"self.add_module({name}, {ctor})")
        return "self[-1]"

    def call(self, stmt: ast.Call, scope: Scope, depth: int) -> None:
        if is_block_call(stmt, scope):
            ref = self.register(stmt.label, block_call(stmt, scope, self.channels), scope, depth)
            self.emit(depth, f"{self.var} = {ref}.out_channels")
            self.channels = self.var
            return
        code = layer_code(stmt, scope, self.channels, self.rank, self.refs)
        self.register(stmt.label, code.ctor, scope, depth)
        self.channels = code.out_channels

    def group(self, stmt: ast.Group, scope: Scope, depth: int) -> None:
        """A group of layers: one inline ``nn.Sequential`` (its children are numbered)."""
        ctors = []
        for inner in stmt.body:
            if not isinstance(inner, ast.Call) or inner.label is not None:
                raise Unsupported("a group with labels, skips or control flow")
            if is_block_call(inner, scope):
                if inner is not stmt.body[-1]:
                    raise Unsupported("a block inside a group before its last statement")
                ctors.append(block_call(inner, scope, self.channels))
                continue
            code = layer_code(inner, scope, self.channels, self.rank, self.refs)
            ctors.append(code.ctor)
            self.channels = code.out_channels
        ref = self.register(stmt.label, f"nn.Sequential({', '.join(ctors)})", scope, depth)
        if (
            stmt.body
            and isinstance(stmt.body[-1], ast.Call)
            and is_block_call(stmt.body[-1], scope)
        ):
            self.emit(depth, f"{self.var} = {ref}[-1].out_channels")
            self.channels = self.var

    def settle(self, depth: int) -> None:
        """Hold the channel count in ``channels`` (before and at the end of a loop or branch)."""
        if self.channels != self.var:
            self.emit(depth, f"{self.var} = {self.channels}")
            self.channels = self.var

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
        self.settle(depth)
        test = to_python(stmt.test, scope)
        if not stmt.body:
            test, body, orelse = pyast.UnaryOp(pyast.Not(), test), stmt.orelse, stmt.body
        else:
            body, orelse = stmt.body, stmt.orelse
        self.emit(depth, f"if {pyast.unparse(test)}:")
        self.body(body, scope, depth + 1)
        self.settle(depth + 1)
        if orelse:
            self.emit(depth, "else:")
            self.body(orelse, scope, depth + 1)
            self.settle(depth + 1)

    def let(self, stmt: ast.Let, scope: Scope, depth: int) -> None:
        check_user_name(stmt.name, "let")
        self.emit(depth, f"{stmt.name} = {python_expr(stmt.value, scope)}")
        assert isinstance(scope.names, dict)
        scope.names[stmt.name] = stmt.name

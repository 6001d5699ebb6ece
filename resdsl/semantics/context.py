"""What the parts of elaboration share: values, scopes, the context and its diagnostics.

Elaboration is split by concern (binding, statements, calls, skips, merges,
shortcuts, stamping, assembly). The parts share one :class:`ElabContext`
(the program, the limits, the diagnostics collector and the graph under
construction) and pass :class:`Scope` values between them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from resdsl.diagnostics import Collector, Diagnostic, did_you_mean
from resdsl.ir.dims import Shape
from resdsl.semantics.expr import BlockRef, Env, EvalError, Value, label_text
from resdsl.source import Span
from resdsl.syntax import ast
from resdsl.syntax.loader import Program

if TYPE_CHECKING:
    from resdsl.semantics.assembly import GraphBuilder
    from resdsl.semantics.elaborate import Elaborator, Limits


class Val(NamedTuple):
    """A value in a scope: the node that produces it and its shape (None after an error)."""

    node: str | None
    shape: Shape | None


POISON = Val(None, None)


class Abort(Exception):
    """A resource limit was hit: stop elaborating at once."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


class Poisoned(Exception):
    """A value is unknown because of an earlier error; skip dependent checks silently."""


def too_many_nodes(limits: Limits, span: Span | None) -> Abort:
    """The error for a model that grows past ``limits.max_nodes``."""
    return Abort(
        Diagnostic(
            "too-many-nodes",
            f"this model elaborates into more than {limits.max_nodes:,} nodes",
            span,
            hint="reduce repeat counts, or raise the limit (Limits(max_nodes=...), --max-nodes)",
        )
    )


def too_many_steps(limits: Limits, span: Span | None) -> Abort:
    """The error for a model whose statements expand more than ``limits.max_steps`` times."""
    return Abort(
        Diagnostic(
            "too-many-steps",
            f"elaborating this model expands more than {limits.max_steps:,} statements",
            span,
            hint="reduce repeat counts, or raise the limit (Limits(max_steps=...))",
        )
    )


def size_too_deep(limits: Limits, span: Span | None) -> Abort:
    """The error for a symbolic size computed through more than ``limits.max_size_depth`` steps."""
    return Abort(
        Diagnostic(
            "too-deep",
            f"this size is computed from the input's symbolic size through more than "
            f"{limits.max_size_depth} size-changing layers",
            span,
            hint="give the input a fixed size, or raise the limit (Limits(max_size_depth=...))",
        )
    )


@dataclass
class Item:
    """A statement of a scope after ``repeat``/``if``/``let`` are expanded."""

    kind: str  # "call", "group", "skip", "parallel"
    stmt: Any
    env: Env
    name: str = ""
    position: int = -1
    span: Span | None = None
    #: ``STATEMENT from REF``: the value the statement reads instead of the one before it.
    source: ast.Ref | None = None
    #: An unlabelled ``parallel``: the items of each arm, named in the enclosing scope.
    arms: list[list[Item]] | None = None


@dataclass
class Scope:
    """A scope being elaborated: the model, a block instance or a group."""

    path: str
    input: Val
    env: Env
    program: Program
    role: str = "layer"
    depth: int = 0
    stack: tuple[str, ...] = ()
    context: str | None = None  # a note for diagnostics raised inside
    #: Set inside a shortcut: the edges built there are part of a skip path.
    skip_edge: dict[str, str] | None = None
    values: dict[str, Val] = field(default_factory=dict)
    #: Every named statement of the scope (built or not yet): what ``from`` may name.
    names: dict[str, Item] = field(default_factory=dict)

    @property
    def prefix(self) -> str:
        return f"{self.path}." if self.path else ""

    # The Refs protocol: what expressions in this scope can see.
    def block(self, name: str) -> BlockRef | None:
        return BlockRef(name) if name in self.program.blocks else None

    def shape_of(self, ref: ast.Label | ast.InputRef, env: Env) -> tuple[int, ...]:
        if isinstance(ref, ast.InputRef):
            val = self.input
        else:
            name = label_text(ref, env, self)
            if name not in self.values:
                raise EvalError(
                    Diagnostic(
                        "unknown-label",
                        f"'{name}' is not a value built before this point in the scope",
                        ref.span,
                        did_you_mean(name, self.values),
                    )
                )
            val = self.values[name]
        if val.shape is None:
            if not self.path and val.node is None:
                # The scope of model parameters, aliases and input sizes: no value exists yet.
                raise EvalError(
                    Diagnostic(
                        "shape-unavailable",
                        "shapes are not available here: nothing is built yet",
                        ref.span,
                        hint="channels() and shape() can be used in layer arguments and "
                        "'let' values inside a body",
                    )
                )
            raise Poisoned()
        return val.shape


@dataclass
class ElabContext:
    """The state every part of elaboration shares for one model."""

    program: Program
    limits: Limits
    graph: GraphBuilder
    collector: Collector = field(default_factory=Collector)
    #: ``(scope path, name)`` of params whose declaration failed (reported once, there).
    failed_params: set[tuple[str, str]] = field(default_factory=set)

    def error(
        self,
        scope: Scope | None,
        code: str,
        message: str,
        span: Span | None,
        hint: str | None = None,
    ) -> None:
        """Report a diagnostic, noting the block instance it was raised in."""
        d = Diagnostic(code, message, span, hint)
        if scope is not None and scope.context:
            d = d.with_note(scope.context)
        self.collector.add(d)

    def report(self, scope: Scope | None, err: EvalError) -> None:
        """Report the diagnostic of an expression that failed to evaluate."""
        d = err.diagnostic
        if scope is not None and scope.context:
            d = d.with_note(scope.context)
        self.collector.add(d)


class ElabPart:
    """A part of elaboration (statements, calls, merges, shortcuts): the elaborator it
    belongs to, the shared context and the graph under construction, at hand."""

    def __init__(self, el: Elaborator) -> None:
        self.el = el
        self.ctx: ElabContext = el.ctx
        self.graph = el.ctx.graph


def freeze(values: dict[str, Value]) -> tuple[Any, ...]:
    """A hashable key for argument values (already tuples, numbers, strings)."""
    return tuple(
        [  # a list, not a generator: faster, and this runs for every layer call
            (k, type(v), v) if type(v) not in (tuple, list) else (k, type(v), _typed(v))
            for k, v in values.items()
        ]
    )


def _typed(value: Value) -> Any:
    # Keep types in the key: True == 1 and (True,) == (1,) in Python.
    if isinstance(value, tuple | list):
        return (type(value).__name__, tuple(_typed(v) for v in value))
    return (type(value).__name__, value)

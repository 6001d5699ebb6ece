"""The abstract syntax tree of a ``.res`` file.

Every node carries the :class:`~resdsl.source.Span` it was parsed from. The nodes
are frozen slotted dataclasses rather than pydantic models: the parser builds
hundreds of them per file and validation adds nothing here, because the grammar
already guarantees their structure (pydantic validates what users pass in:
layer arguments, options).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

from resdsl.source import Span

_T = TypeVar("_T")

# ----------------------------------------------------------------- expressions


@dataclass(frozen=True, slots=True)
class _Literal(Generic[_T]):
    """A literal: its value and where it is written (Num, Str and Bool share the shape)."""

    value: _T
    span: Span


@dataclass(frozen=True, slots=True)
class Num(_Literal[int | float]):
    """A number: ``3``, ``0.5``, ``1e-5``."""


@dataclass(frozen=True, slots=True)
class Str(_Literal[str]):
    """A string, its escapes decoded."""


@dataclass(frozen=True, slots=True)
class Bool(_Literal[bool]):
    """``true`` or ``false``."""


@dataclass(frozen=True, slots=True)
class Name:
    id: str
    span: Span


@dataclass(frozen=True, slots=True)
class InputRef:
    """The keyword ``in``: the input of the current scope."""

    span: Span


@dataclass(frozen=True, slots=True)
class ListExpr:
    items: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # "-", "+", "not"
    operand: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Binary:
    op: str  # "+", "-", "*", "/", "//", "%", "**"
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Compare:
    """A comparison chain, as in Python: ``a < b <= c``."""

    operands: tuple[Expr, ...]
    ops: tuple[str, ...]  # "<", "<=", ">", ">=", "==", "!="
    span: Span


@dataclass(frozen=True, slots=True)
class BoolOp:
    op: str  # "and", "or"
    values: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Cond:
    """``body if test else orelse``."""

    body: Expr
    test: Expr
    orelse: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Index:
    value: Expr
    index: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class FuncCall:
    """A call inside an expression: only ``len min max channels shape`` exist."""

    func: str
    func_span: Span
    args: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Label:
    """A statement label or a reference to one; ``layer{s + 1}`` interpolates.

    ``parts`` alternates literal text and expressions; a plain label is one string.
    """

    parts: tuple[str | Expr, ...]
    span: Span
    #: Written in quotes: any name PyTorch accepts (non-empty, no '.'), keywords included.
    quoted: bool = False

    @property
    def literal(self) -> str | None:
        """The label's text when it has no interpolation."""
        if len(self.parts) == 1 and isinstance(self.parts[0], str):
            return self.parts[0]
        return None


Expr = (
    Num
    | Str
    | Bool
    | Name
    | InputRef
    | ListExpr
    | Unary
    | Binary
    | Compare
    | BoolOp
    | Cond
    | Index
    | FuncCall
    | Label
)

# ------------------------------------------------------------------ statements


@dataclass(frozen=True, slots=True)
class Arg:
    """One argument of a call: positional when ``name`` is None."""

    name: str | None
    value: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Call:
    """``[LABEL:] name`` or ``[LABEL:] name(args)``: a built-in layer or a block."""

    label: Label | None
    name: str
    name_span: Span
    args: tuple[Arg, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Group:
    """``LABEL: { BODY }``: a named scope run in sequence."""

    label: Label
    body: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Repeat:
    count: Expr
    var: str | None
    body: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class If:
    test: Expr
    body: tuple[Stmt, ...]
    orelse: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Let:
    name: str
    value: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Skip:
    """``[LABEL:] skip SRC -> DST (MERGE, OPTIONS...)``."""

    label: Label | None
    src: Label | InputRef
    dst: Label
    merge: str
    merge_span: Span
    options: tuple[Arg, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class InputDim:
    """One dimension of ``input [...]``: a number, a symbol, or ``SYMBOL=sample``."""

    symbol: str | None
    value: Expr | None
    span: Span


@dataclass(frozen=True, slots=True)
class InputDecl:
    dims: tuple[InputDim, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Ref:
    """A value named by ``from``, ``output`` or ``shape(...)``: ``in``, ``conv1``, ``backbone.layer3``.

    ``labels`` is empty for ``in``; more than one label is a tap into labelled children.
    """

    labels: tuple[Label, ...]
    span: Span

    @property
    def is_input(self) -> bool:
        return not self.labels


@dataclass(frozen=True, slots=True)
class Seq:
    """``{ BODY }`` as an arm of a ``parallel``: statements named in the enclosing scope."""

    body: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Parallel:
    """``[LABEL:] parallel (MERGE, split=N) { ARM ... }``: arms on one input, merged."""

    label: Label | None
    merge: str
    merge_span: Span
    options: tuple[Arg, ...]
    arms: tuple[Stmt | Seq, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class From:
    """``STATEMENT from REF``: the statement reads ``REF`` instead of the value before it."""

    stmt: Call | Group | Parallel
    ref: Ref
    span: Span


@dataclass(frozen=True, slots=True)
class Output:
    """``output NAME: REF``: one named output of a model."""

    name: str
    name_span: Span
    ref: Ref
    span: Span
    #: ``output NAME: REF if COND``: the output exists only where COND is true.
    when: Expr | None = None


@dataclass(frozen=True, slots=True)
class ParamDecl:
    """``param NAME [dims] = INIT``: a learnable tensor of the scope."""

    name: str
    name_span: Span
    dims: tuple[Expr, ...]
    init: Expr
    span: Span


Stmt = Call | Group | Repeat | If | Let | Skip | Parallel | From | ParamDecl

# ----------------------------------------------------------------- definitions


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    type: str  # int float bool str list block
    default: Expr | None
    span: Span
    type_span: Span


@dataclass(frozen=True, slots=True)
class BlockDef:
    name: str
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]
    span: Span
    name_span: Span


@dataclass(frozen=True, slots=True)
class ModelDef:
    name: str
    params: tuple[Param, ...]
    input: InputDecl
    body: tuple[Stmt, ...]
    span: Span
    name_span: Span
    #: ``output NAME: REF`` lines, in order; empty: the last value is the output.
    outputs: tuple[Output, ...] = ()


@dataclass(frozen=True, slots=True)
class ModelAlias:
    """``model NAME = OTHER(ARGS)``."""

    name: str
    target: str
    target_span: Span
    args: tuple[Arg, ...]
    span: Span
    name_span: Span


@dataclass(frozen=True, slots=True)
class Use:
    path: str
    span: Span


Definition = BlockDef | ModelDef | ModelAlias


@dataclass(frozen=True, slots=True)
class SpecFile:
    """One parsed file: its ``use`` lines and its definitions, in source order."""

    uses: tuple[Use, ...]
    definitions: tuple[Definition, ...]
    span: Span


# ------------------------------------------------------------------ transforms


def without_skips(body: tuple[Stmt, ...]) -> tuple[Stmt, ...]:
    """The same statements with every ``skip`` removed, recursively: the plain twin.

    Skips take no position, so every other statement keeps its name; a
    ``parallel`` keeps its arms (they are not skips).
    """
    return tuple(_plain(stmt) for stmt in body if not isinstance(stmt, Skip))


_S = TypeVar("_S", bound="Stmt | Seq")


def _plain(stmt: _S) -> _S:
    """One statement of the plain twin (``stmt`` is not a skip)."""
    if isinstance(stmt, Group | Repeat | Seq):
        return replace(stmt, body=without_skips(stmt.body))
    if isinstance(stmt, If):
        return replace(stmt, body=without_skips(stmt.body), orelse=without_skips(stmt.orelse))
    if isinstance(stmt, Parallel):
        arms = tuple(_plain(arm) for arm in stmt.arms if not isinstance(arm, Skip))
        return replace(stmt, arms=arms)
    if isinstance(stmt, From):
        return replace(stmt, stmt=_plain(stmt.stmt))
    return stmt


def subtree(node: object) -> Iterator[object]:
    """Every AST node under ``node`` (itself included), depth first; tuples are walked.

    >>> from resdsl.syntax.parse import parse_expr
    >>> [type(n).__name__ for n in subtree(parse_expr("a + 1"))]
    ['Binary', 'Name', 'Num']
    """
    if isinstance(node, tuple | list):
        for item in node:
            yield from subtree(item)
    elif dataclasses.is_dataclass(node) and not isinstance(node, type):
        yield node
        for f in dataclasses.fields(node):
            if f.name != "span":
                yield from subtree(getattr(node, f.name))

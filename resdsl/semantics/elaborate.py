"""Elaboration: a model definition and its arguments -> the networkx DAG.

Blocks are instantiated with their arguments, ``repeat`` and ``if`` are spliced
into their scope, names follow LANGUAGE.md's naming rule (they become module
paths and ``state_dict`` keys), and each ``skip`` becomes a merge node inserted
right after its destination, with its shortcut and alignment as real nodes.

Shapes are inferred while elaborating, because the language lets arguments ask
for them (``channels(x)``) and because ``shortcut=auto`` is a projection only
where shapes differ.

A scope is elaborated in two steps. :meth:`Elaborator.expand` evaluates
``repeat``, ``if`` and ``let`` into a flat list of items with their positions,
so every name and every skip of the scope is known before anything is built;
:meth:`Elaborator.run_items` then builds the items in order and inserts each
skip's merge after its destination. ``let`` values are evaluated lazily, so a
``let`` may use ``channels()`` of a value built earlier in the sequence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import networkx as nx
from pydantic import BaseModel, ConfigDict, ValidationError

from resdsl.diagnostics import Collector, Diagnostic, did_you_mean
from resdsl.ir import dims
from resdsl.ir.dims import Shape, SymDim, expr_of
from resdsl.ir.graph import (
    AlignArgs,
    Constraint,
    MergeArgs,
    NoArgs,
    ScopeInfo,
    ZeroPadArgs,
    new_graph,
)
from resdsl.ops import Layer, ShapeError, get_layer, layer_names
from resdsl.ops.base import format_shape
from resdsl.semantics.expr import BlockRef, Env, EvalError, Thunk, Value, evaluate, label_text, show
from resdsl.semantics.expr import type_name as value_type
from resdsl.source import Span
from resdsl.syntax import ast
from resdsl.syntax.loader import Program


class Limits(BaseModel):
    """Resource limits: a spec stops early with a clear error, never hangs."""

    model_config = ConfigDict(frozen=True)
    max_nodes: int = 100_000
    max_depth: int = 64


class Val(NamedTuple):
    """A value in a scope: the node that produces it and its shape (None after an error)."""

    node: str | None
    shape: Shape | None


POISON = Val(None, None)

MERGES = ("add", "concat", "mul")
SHORTCUTS = ("identity", "auto", "projection", "zeropad")
ALIGNS = ("crop", "pad")
SKIP_OPTIONS = ("shortcut", "align", "scale", "gate")
PARAM_TYPES = ("int", "float", "bool", "str", "list", "block")


class _Abort(Exception):
    """A resource limit was hit: stop elaborating at once."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


@dataclass
class _Item:
    kind: str  # "call", "group", "skip"
    stmt: Any
    env: Env
    name: str = ""
    position: int = -1
    span: Span | None = None


@dataclass
class _Skip:
    stmt: ast.Skip
    src: str  # a name in the scope, or "in"
    dst: str
    merge: str
    label: str
    label_given: bool
    shortcut: str | BlockRef = "identity"
    align: str | None = None
    scale: float | None = None
    gate: str | None = None


@dataclass
class Scope:
    """A scope being elaborated: the model, a block instance or a group."""

    path: str
    input: Val
    env: Env
    elaborator: Elaborator
    role: str = "layer"
    depth: int = 0
    stack: tuple[str, ...] = ()
    context: str | None = None  # a note for diagnostics raised inside
    #: Set inside a shortcut: the edges built there are part of a skip path.
    skip_edge: dict[str, str] | None = None
    values: dict[str, Val] = field(default_factory=dict)

    @property
    def prefix(self) -> str:
        return f"{self.path}." if self.path else ""

    # The Refs protocol: what expressions in this scope can see.
    def block(self, name: str) -> BlockRef | None:
        return BlockRef(name) if name in self.elaborator.program.blocks else None

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
            raise _Poisoned()
        return val.shape


@dataclass
class _Template:
    """A block instance that can be copied: its path, input node, nodes and scopes."""

    path: str
    input: str
    nodes: list[str]
    scopes: list[str]
    output: Val


class _Poisoned(Exception):
    """A value is unknown because of an earlier error; skip dependent checks silently."""


class Elaborator:
    """Builds the graph of one model. Use :func:`elaborate`."""

    def __init__(self, program: Program, limits: Limits) -> None:
        self.program = program
        self.limits = limits
        self.collector = Collector()
        self.graph = new_graph("")
        self.node_count = 0
        self.item_count = 0
        self._constraint_keys: set[tuple[Any, ...]] = set()
        self._layer_memo: dict[tuple[Any, ...], tuple[Any, Shape]] = {}
        self._block_memo: dict[tuple[Any, ...], _Template] = {}
        #: Copy repeated block instances instead of elaborating them again.
        self.stamping = True
        self._created: list[str] = []
        # Nodes and edges are collected in plain dicts and handed to networkx in
        # bulk at the end (node-by-node networkx calls were a third of the time).
        self._nodes: dict[str, dict[str, Any]] = {}
        self._preds: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        self._created_scopes: list[str] = []
        self._current_span: Span | None = None

    # ------------------------------------------------------------ diagnostics

    def error(
        self,
        scope: Scope | None,
        code: str,
        message: str,
        span: Span | None,
        hint: str | None = None,
    ) -> None:
        d = Diagnostic(code, message, span, hint)
        if scope is not None and scope.context:
            d = d.with_note(scope.context)
        self.collector.add(d)

    def report(self, scope: Scope | None, err: EvalError) -> None:
        d = err.diagnostic
        if scope is not None and scope.context:
            d = d.with_note(scope.context)
        self.collector.add(d)

    def eval(self, expr: ast.Expr, env: Env, scope: Scope) -> Value:
        return evaluate(expr, env, scope)

    # ------------------------------------------------------------ graph building

    def count_node(self, span: Span | None) -> None:
        self.node_count += 1
        if self.node_count > self.limits.max_nodes:
            raise _Abort(
                Diagnostic(
                    "too-many-nodes",
                    f"this model elaborates into more than {self.limits.max_nodes:,} nodes",
                    span or self._current_span,
                    hint="reduce repeat counts, or raise the limit "
                    "(Limits(max_nodes=...), --max-nodes)",
                )
            )

    def add_node(self, node: str, where: Scope, **attrs: Any) -> str:
        self.count_node(attrs.get("span"))
        attrs.setdefault("parent", where.path)
        self._nodes[node] = attrs
        self._preds[node] = []
        self._created.append(node)
        return node

    def add_scope(self, info: ScopeInfo) -> ScopeInfo:
        self.graph.graph["scopes"][info.path] = info
        self._created_scopes.append(info.path)
        return info

    def add_edge(self, u: str, v: str, kind: str, index: int, **attrs: Any) -> None:
        attrs["kind"] = kind
        attrs["index"] = index
        self._preds[v].append((u, attrs))

    def constrain(self, kind: str, left: int, right: int, node: str, what: str) -> None:
        """Record a condition on symbolic sizes (nothing to record for plain numbers)."""
        if not (isinstance(left, SymDim) or isinstance(right, SymDim)):
            return
        a, b = expr_of(left), expr_of(right)
        if kind == "eq" and a == b:
            return
        key = (kind, a, b)
        if key in self._constraint_keys:
            return
        self._constraint_keys.add(key)
        self.graph.graph["constraints"].append(Constraint(kind, a, b, node, what))  # type: ignore[arg-type]

    def fresh_id(self, base: str) -> str:
        node, k = base, 1
        while node in self._nodes:
            k += 1
            node = f"{base}{k}"
        return node

    # ------------------------------------------------------------ models

    def model(self, name: str, params: dict[str, Value], span: Span | None) -> nx.DiGraph:
        """Elaborate the model ``name`` into :attr:`graph` and return it."""
        g = self._model(name, params, span)
        _fill_graph(g, self._nodes, self._preds)
        return g

    def _model(self, name: str, params: dict[str, Value], span: Span | None) -> nx.DiGraph:
        definition, bound, symbol_samples = self.resolve_model(name, params, span)
        g = self.graph
        g.graph["model"] = name
        globals_scope = Scope("", POISON, Env(), self)
        if definition is None or bound is None:
            return g
        env = Env(bound)
        shape = self.input_shape(definition.input, env, globals_scope, symbol_samples)
        if shape is None:
            return g
        g.graph["symbols"] = {
            d.expr[1]: int(d) for d in shape if isinstance(d, SymDim) and d.expr[0] == "sym"
        }
        self.add_node(
            "input",
            globals_scope,
            op="input",
            args=NoArgs(),
            scope="input",
            name="input",
            role="input",
            span=definition.input.span,
            shape=shape,
        )
        scope = Scope("", Val("input", shape), env, self)
        g.graph["scopes"][""] = ScopeInfo(
            "", "model", definition.span, block=definition.name, args=dict(bound), input="input"
        )
        g.graph["input_shape"] = shape
        try:
            out = self.body(definition.body, scope)
        except _Abort as err:
            self.collector.add(err.diagnostic)
            return g
        g.graph["scopes"][""].output = out.node
        if out.node is not None:
            g.graph["output"] = out.node
            g.graph["output_shape"] = out.shape
        return g

    def resolve_model(
        self, name: str, params: dict[str, Value], span: Span | None
    ) -> tuple[ast.ModelDef | None, dict[str, Value] | None, dict[str, Value]]:
        """Follow aliases to the model definition and bind its parameters.

        Arguments that name an input symbol instead of a parameter (``H=256``)
        set that symbol's sample size; they come back as the third value.
        """
        fixed: dict[str, tuple[Value, Span]] = {}
        seen: list[str] = []
        target = name
        while True:
            definition = self.program.models.get(target)
            if definition is None:
                self.error(
                    None,
                    "unknown-model" if target == name else "unknown-alias-target",
                    f"unknown model '{target}'",
                    span,
                    did_you_mean(target, self.program.models),
                )
                return None, None, {}
            if isinstance(definition, ast.ModelDef):
                break
            if target in seen:
                self.error(
                    None,
                    "alias-cycle",
                    f"model alias cycle: {' -> '.join((*seen, target))}",
                    definition.span,
                )
                return None, None, {}
            seen.append(target)
            scope = Scope("", POISON, Env(), self)
            for arg in definition.args:
                if arg.name is None:
                    self.error(
                        None,
                        "alias-positional",
                        "a model alias names its arguments: write name=value",
                        arg.span,
                    )
                    return None, None, {}
                if arg.name in fixed:
                    continue  # the outer alias wins
                try:
                    fixed[arg.name] = (self.eval(arg.value, Env(), scope), arg.span)
                except EvalError as err:
                    self.report(None, err)
                    return None, None, {}
            span = definition.target_span
            target = definition.target
        given = dict(params)
        samples: dict[str, Value] = {}
        for key in given:
            if key in fixed:
                self.error(
                    None,
                    "alias-fixed",
                    f"parameter '{key}' of model '{name}' is fixed by its alias",
                    fixed[key][1],
                    hint=f"use the model '{definition.name}' to choose '{key}'",
                )
                return None, None, {}
        values = {k: v for k, (v, _) in fixed.items()} | given
        known = {p.name for p in definition.params}
        symbols = {d.symbol for d in definition.input.dims if d.symbol} | {
            d.value.id
            for d in definition.input.dims
            if d.symbol is None and isinstance(d.value, ast.Name)
        }
        for key in list(values):
            if key not in known:
                if key in symbols:
                    samples[key] = values.pop(key)
                    continue
                self.error(
                    None,
                    "unknown-parameter",
                    f"model '{definition.name}' has no parameter '{key}'",
                    definition.name_span,
                    did_you_mean(key, known | symbols),
                )
                return None, None, {}
        scope = Scope("", POISON, Env(), self)
        bound = self.bind_values(
            definition.params,
            values,
            scope,
            definition.name_span,
            callee=f"model '{definition.name}'",
            for_model=True,
        )
        return definition, bound, samples

    def input_shape(
        self, decl: ast.InputDecl, env: Env, scope: Scope, samples: dict[str, Value]
    ) -> Shape | None:
        out: list[int] = []
        ok = True
        for dim in decl.dims:
            symbol = dim.symbol
            value_expr = dim.value
            if symbol is None and isinstance(value_expr, ast.Name):
                found, value = env.lookup(value_expr.id)
                if found:
                    symbol = None
                else:
                    symbol, value_expr = value_expr.id, None
            try:
                if symbol is not None and symbol in samples:
                    value = samples[symbol]
                elif value_expr is not None:
                    value = self.eval(value_expr, env, scope)
                else:
                    value = 64  # documented: a symbol with no sample is checked at 64
            except EvalError as err:
                self.report(None, err)
                ok = False
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                self.error(
                    None,
                    "bad-input",
                    f"an input dimension must be a positive int, got {show(value)}",
                    dim.span,
                )
                ok = False
                continue
            out.append(dims.symbol(symbol, value) if symbol is not None else value)
        if not out and ok:
            self.error(None, "bad-input", "the input needs at least one dimension", decl.span)
            return None
        return tuple(out) if ok else None

    # ------------------------------------------------------------ parameters

    def bind_args(
        self,
        params: tuple[ast.Param, ...],
        args: tuple[ast.Arg, ...],
        env: Env,
        scope: Scope,
        callee: str,
        span: Span,
    ) -> dict[str, Value] | None:
        """Evaluate call arguments in the caller and bind them to the callee's parameters."""
        names = [p.name for p in params]
        many = f"{callee} takes {len(names)} argument{'s' if len(names) != 1 else ''}"
        matched, ok = self.match_args(
            args,
            names,
            scope,
            too_many=lambda given: f"{many} but {given} were given",
            unknown=lambda name: (f"{callee} has no parameter '{name}'", None),
        )
        values: dict[str, Value] = {}
        for name, arg in matched:
            try:
                values[name] = self.eval(arg.value, env, scope)
            except EvalError as err:
                self.report(scope, err)
                ok = False
        if not ok:
            return None
        return self.bind_values(params, values, scope, span, callee=callee, arg_spans=args)

    def match_args(
        self,
        args: tuple[ast.Arg, ...],
        names: list[str],
        scope: Scope,
        *,
        too_many: Callable[[int], str],
        unknown: Callable[[str], tuple[str, str | None]],
    ) -> tuple[list[tuple[str, ast.Arg]], bool]:
        """Match call arguments to parameter names, as Python does.

        Positional arguments take the names in order, keywords their own. An
        extra positional argument, an unknown name (reported with the message
        and fallback hint ``unknown`` gives) or a name given twice is an error;
        every independent one is reported. Returns the pairs that matched (so
        their values can still be checked) and whether every argument did.
        """
        matched: list[tuple[str, ast.Arg]] = []
        seen: set[str] = set()
        ok = True
        positional = [a for a in args if a.name is None]
        if len(positional) > len(names):
            self.error(
                scope, "too-many-arguments", too_many(len(positional)), positional[len(names)].span
            )
            ok = False
        for i, arg in enumerate(args):
            if arg.name is None and i >= len(names):
                continue  # reported above
            name = names[i] if arg.name is None else arg.name
            if name not in names:
                message, fallback = unknown(name)
                hint = did_you_mean(name, names) or fallback
                self.error(scope, "unknown-argument", message, arg.span, hint)
                ok = False
            elif name in seen:
                self.error(
                    scope, "duplicate-argument", f"argument '{name}' is given twice", arg.span
                )
                ok = False
            else:
                seen.add(name)
                matched.append((name, arg))
        return matched, ok

    def bind_values(
        self,
        params: tuple[ast.Param, ...],
        values: dict[str, Value],
        scope: Scope,
        span: Span,
        *,
        callee: str = "this model",
        arg_spans: tuple[ast.Arg, ...] = (),
        for_model: bool = False,
    ) -> dict[str, Value] | None:
        bound: dict[str, Value] = {}
        env = Env()
        ok = True
        spans = {a.name: a.span for a in arg_spans if a.name}
        positional = [a for a in arg_spans if a.name is None]
        for i, a in enumerate(positional):
            spans[params[i].name] = a.span
        for p in params:
            if p.name in values:
                value = values[p.name]
                where = spans.get(p.name, span)
            elif p.default is not None:
                try:
                    value = self.eval(p.default, env, scope)
                except EvalError as err:
                    self.report(scope, err)
                    ok = False
                    continue
                where = p.default.span
            else:
                if for_model:
                    self.error(
                        scope,
                        "missing-parameter",
                        f"{callee} needs parameter '{p.name}' ({p.type})",
                        span,
                        hint=f"set it with -p {p.name}=VALUE, or spec.graph(..., {p.name}=...)",
                    )
                else:
                    self.error(
                        scope,
                        "missing-argument",
                        f"{callee} needs argument '{p.name}' ({p.type})",
                        span,
                        hint=f"declared at {p.span}",
                    )
                ok = False
                continue
            checked = self.check_type(p, value, where, scope, callee)
            if checked is _MISSING:
                ok = False
                continue
            bound[p.name] = checked
            env.vars[p.name] = checked
        return bound if ok else None

    def check_type(
        self, p: ast.Param, value: Value, span: Span, scope: Scope, callee: str
    ) -> Value:
        t = p.type
        if t == "float" and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if t == "block" and isinstance(value, str) and value in self.program.blocks:
            return BlockRef(value)  # from Python or the command line
        expected = {
            "int": int,
            "float": float,
            "bool": bool,
            "str": str,
            "list": list,
            "block": BlockRef,
        }[t]
        good = isinstance(value, expected) and not (t == "int" and isinstance(value, bool))
        if isinstance(value, SymDim) and t in ("int", "float"):
            good = False
        if not good:
            self.error(
                scope,
                "argument-type",
                f"argument '{p.name}' of {callee} must be {_article(t)} {t}, "
                f"got {value_type(value)} {show(value)}",
                span,
            )
            return _MISSING
        return value

    # ------------------------------------------------------------ scopes

    def body(self, body: tuple[ast.Stmt, ...], scope: Scope) -> Val:
        items: list[_Item] = []
        self.expand(body, scope.env, scope, items, [0])
        return self.run_items(items, scope)

    def expand(
        self,
        body: tuple[ast.Stmt, ...],
        env: Env,
        scope: Scope,
        items: list[_Item],
        position: list[int],
    ) -> None:
        """Evaluate repeat/if/let into a flat list of items with positions and names."""
        for stmt in body:
            self._current_span = stmt.span
            try:
                if isinstance(stmt, ast.Call | ast.Group):
                    self._count_item(stmt.span)
                    kind = "call" if isinstance(stmt, ast.Call) else "group"
                    if stmt.label is not None:
                        name = label_text(stmt.label, env, scope)
                        span = stmt.label.span
                        if not name.isidentifier():
                            self.error(
                                scope,
                                "bad-label",
                                f"label '{name}' is not a valid name",
                                span,
                            )
                    else:
                        name, span = str(position[0]), stmt.span
                    items.append(_Item(kind, stmt, env, name, position[0], span))
                    position[0] += 1
                elif isinstance(stmt, ast.Skip):
                    items.append(_Item("skip", stmt, env, span=stmt.span))
                elif isinstance(stmt, ast.Let):
                    if stmt.name in env.vars:
                        self.error(
                            scope,
                            "duplicate-let",
                            f"'{stmt.name}' is already defined in this scope",
                            stmt.span,
                        )
                        continue
                    env.vars[stmt.name] = Thunk(stmt.value, env, scope)
                elif isinstance(stmt, ast.Repeat):
                    count = self.eval(stmt.count, env, scope)
                    if isinstance(count, bool) or not isinstance(count, int):
                        self.error(
                            scope,
                            "type",
                            f"a repeat count must be an int, got {value_type(count)}",
                            stmt.count.span,
                        )
                        continue
                    if count < 0:
                        self.error(
                            scope,
                            "negative-repeat",
                            f"a repeat count cannot be negative (got {count})",
                            stmt.count.span,
                        )
                        continue
                    if count > self.limits.max_nodes:
                        raise _Abort(
                            Diagnostic(
                                "too-many-nodes",
                                f"repeat {count:,} exceeds the limit of "
                                f"{self.limits.max_nodes:,} nodes",
                                stmt.count.span,
                                hint="raise the limit with Limits(max_nodes=...) or --max-nodes",
                            )
                        )
                    for i in range(count):
                        child = env.child({stmt.var: i} if stmt.var else None)
                        self.expand(stmt.body, child, scope, items, position)
                elif isinstance(stmt, ast.If):
                    test = self.eval(stmt.test, env, scope)
                    if not isinstance(test, bool):
                        self.error(
                            scope,
                            "type",
                            f"an if condition must be a bool, got {value_type(test)}",
                            stmt.test.span,
                        )
                        continue
                    self.expand(
                        stmt.body if test else stmt.orelse, env.child(), scope, items, position
                    )
            except EvalError as err:
                self.report(scope, err)
            except _Poisoned:
                pass

    def _count_item(self, span: Span) -> None:
        self.item_count += 1
        if self.item_count > self.limits.max_nodes:
            raise _Abort(
                Diagnostic(
                    "too-many-nodes",
                    f"this model elaborates into more than {self.limits.max_nodes:,} nodes",
                    span,
                    hint="reduce repeat counts, or raise the limit "
                    "(Limits(max_nodes=...), --max-nodes)",
                )
            )

    def run_items(self, items: list[_Item], scope: Scope) -> Val:
        named = [i for i in items if i.kind != "skip"]
        by_name: dict[str, _Item] = {}
        for item in named:
            if item.name in by_name:
                first = by_name[item.name]
                self.error(
                    scope,
                    "duplicate-name",
                    f"'{item.name}' is already used in this scope (at {first.span})",
                    item.span,
                    hint="give the statement another label",
                )
            else:
                by_name[item.name] = item
        pending: dict[str, list[_Skip]] = {}
        for item in items:
            if item.kind == "skip":
                skip = self.resolve_skip(item, scope, by_name)
                if skip is None:
                    continue
                earlier = pending.setdefault(skip.dst, [])
                twin = next(
                    (s for s in earlier if (s.src, s.merge) == (skip.src, skip.merge)), None
                )
                if twin is not None:
                    self.error(
                        scope,
                        "duplicate-skip",
                        f"this skip repeats the skip at {twin.stmt.span}",
                        skip.stmt.span,
                        hint="a value can be merged into the same destination once",
                    )
                    continue
                earlier.append(skip)
        self.check_skip_labels(pending, by_name, scope)
        current = scope.input
        for item in named:
            self._current_span = item.stmt.span
            if item.kind == "call":
                current = self.call(item, scope, current)
            else:
                current = self.group(item, scope, current)
            scope.values[item.name] = current
            if item.name in pending and current.node is not None:
                current = self.merge_all(pending[item.name], item, scope, current)
                scope.values[item.name] = current
        return current

    # ------------------------------------------------------------ skips

    def resolve_skip(self, item: _Item, scope: Scope, by_name: dict[str, _Item]) -> _Skip | None:
        stmt: ast.Skip = item.stmt
        env = item.env
        try:
            src = "in" if isinstance(stmt.src, ast.InputRef) else label_text(stmt.src, env, scope)
            dst = label_text(stmt.dst, env, scope)
            label = label_text(stmt.label, env, scope) if stmt.label else "shortcut"
        except EvalError as err:
            self.report(scope, err)
            return None
        ok = True
        if stmt.merge not in MERGES:
            self.error(
                scope,
                "unknown-merge",
                f"unknown merge '{stmt.merge}': expected add, concat or mul",
                stmt.merge_span,
                did_you_mean(stmt.merge, MERGES),
            )
            ok = False
        for end, ref in (("source", stmt.src), ("destination", stmt.dst)):
            name = src if end == "source" else dst
            if name == "in":
                if end == "destination":
                    self.error(scope, "bad-skip", "a skip cannot end at 'in'", ref.span)
                    ok = False
                continue
            if name not in by_name:
                self.error(
                    scope,
                    "unknown-label",
                    f"skip {end} '{name}' is not a label in this scope",
                    ref.span,
                    did_you_mean(name, by_name)
                    or "a skip connects labels of the same scope "
                    "(the block or group it is written in), or 'in'",
                )
                ok = False
        if ok and src != "in" and by_name[src].position >= by_name[dst].position:
            self.error(
                scope,
                "backwards-skip",
                f"skip from '{src}' to '{dst}' points backwards",
                stmt.span,
                hint=f"the source must come before the destination: '{src}' is at "
                f"position {by_name[src].position}, '{dst}' at {by_name[dst].position}",
            )
            ok = False
        skip = _Skip(stmt, src, dst, stmt.merge, label, stmt.label is not None)
        for opt in stmt.options:
            if not self.skip_option(skip, opt, env, scope):
                ok = False
        return skip if ok else None

    def skip_option(self, skip: _Skip, opt: ast.Arg, env: Env, scope: Scope) -> bool:
        if opt.name is None:
            self.error(
                scope,
                "skip-option",
                "skip options are named: shortcut=, align=, scale=, gate=",
                opt.span,
            )
            return False
        if opt.name not in SKIP_OPTIONS:
            self.error(
                scope,
                "skip-option",
                f"unknown skip option '{opt.name}'",
                opt.span,
                did_you_mean(opt.name, SKIP_OPTIONS)
                or "the options are shortcut=, align=, scale= and gate=",
            )
            return False
        applies = {"shortcut": "add", "scale": "add", "gate": "add", "align": "concat"}
        if skip.merge in MERGES and skip.merge != applies[opt.name]:
            self.error(
                scope,
                "skip-option",
                f"{opt.name}= applies to '{applies[opt.name]}' skips, not '{skip.merge}'",
                opt.span,
            )
            return False
        words = {"shortcut": SHORTCUTS, "align": ALIGNS, "gate": ("rezero",)}
        v = opt.value
        if (
            opt.name in words
            and isinstance(v, ast.Name)
            and v.id not in words[opt.name]
            and not env.lookup(v.id)[0]
            and (opt.name != "shortcut" or v.id not in self.program.blocks)
        ):
            choices = ", ".join(words[opt.name])
            extra = " or the name of a block with parameters (channels: int, stride: int)"
            self.error(
                scope,
                "skip-option",
                f"unknown {opt.name} '{v.id}': expected {choices}"
                f"{extra if opt.name == 'shortcut' else ''}",
                v.span,
                did_you_mean(
                    v.id,
                    [*words[opt.name], *(self.program.blocks if opt.name == "shortcut" else ())],
                ),
            )
            return False
        try:
            if opt.name in words and isinstance(v, ast.Name) and v.id in words[opt.name]:
                value: Value = v.id
            else:
                value = self.eval(v, env, scope)
        except EvalError as err:
            self.report(scope, err)
            return False
        if opt.name == "scale":
            if isinstance(value, bool) or not isinstance(value, int | float):
                self.error(scope, "skip-option", "scale= takes a number", v.span)
                return False
            skip.scale = float(value)
            return True
        if opt.name == "shortcut" and isinstance(value, BlockRef):
            skip.shortcut = value
            return True
        if not (isinstance(value, str) and value in words[opt.name]):
            choices = ", ".join(words[opt.name])
            extra = " or a block with parameters (channels: int, stride: int)"
            self.error(
                scope,
                "skip-option",
                f"{opt.name}= must be one of {choices}"
                f"{extra if opt.name == 'shortcut' else ''}, got {show(value)}",
                v.span,
                did_you_mean(str(value), words[opt.name]),
            )
            return False
        setattr(skip, opt.name, value)
        return True

    def check_skip_labels(
        self, pending: dict[str, list[_Skip]], by_name: dict[str, _Item], scope: Scope
    ) -> None:
        """A skip's label names what it builds; it may not clash with another name.

        An ``add`` skip builds nodes under its label when it has a shortcut other
        than the identity (a projection, zero-padding, a user block) or a gate.
        A label written by the user may never be a statement's name; the default
        label ``shortcut`` clashes only when the skip builds something.
        """
        owners: dict[str, _Skip] = {}
        for skips in pending.values():
            for s in skips:
                builds = s.merge == "add" and (s.shortcut != "identity" or s.gate is not None)
                if s.label in by_name and (s.label_given or builds):
                    self.error(
                        scope,
                        "duplicate-name",
                        f"the skip's label '{s.label}' is already the name of a statement "
                        "in this scope",
                        s.stmt.label.span if s.stmt.label else s.stmt.span,
                        hint="give the skip a label no statement in this scope uses: "
                        "NAME: skip ...",
                    )
                if not builds:
                    continue
                if s.label in owners:
                    self.error(
                        scope,
                        "duplicate-name",
                        f"two skips in this scope are named '{s.label}'",
                        s.stmt.span,
                        hint="give each skip its own label: NAME: skip ...",
                    )
                owners[s.label] = s

    def merge_all(self, skips: list[_Skip], item: _Item, scope: Scope, dst: Val) -> Val:
        """Insert the merges of every skip into ``dst``, grouped by kind in written order."""
        groups: list[list[_Skip]] = []
        for s in skips:
            if groups and groups[-1][0].merge == s.merge:
                groups[-1].append(s)
            else:
                groups.append([s])
        current = dst
        for group in groups:
            srcs = [
                scope.input if s.src == "in" else scope.values.get(s.src, POISON) for s in group
            ]
            if current.shape is None or any(v.shape is None for v in srcs):
                return POISON
            try:
                current = self.merge(group, srcs, item, scope, current)
            except _Poisoned:
                return POISON
        return current

    def merge(
        self, group: list[_Skip], srcs: list[Val], item: _Item, scope: Scope, dst: Val
    ) -> Val:
        kind = group[0].merge
        base = self.fresh_id(f"{scope.prefix}{item.name}:{kind}")
        assert dst.node is not None and dst.shape is not None
        if kind == "add":
            inputs = [self.shortcut(s, v, dst, scope) for s, v in zip(group, srcs, strict=True)]
            if any(v is None for v in inputs):
                return POISON
            gated = [s for s in group if s.scale is not None or s.gate is not None]
            if len(gated) > 1:
                self.error(
                    scope,
                    "skip-option",
                    f"only one skip into '{item.name}' may set scale= or gate=",
                    gated[1].stmt.span,
                )
                return POISON
            g = gated[0] if gated else None
            args = MergeArgs.model_validate(
                {"scale": g.scale if g else None, "gate": g.gate if g else None}
            )
            owner = f"{scope.prefix}{g.label}" if g is not None and g.gate else base
            ordered: list[tuple[Val, str, _Skip | None]] = [(dst, "main", None)]
            ordered += [(v, "skip", s) for v, s in zip(inputs, group, strict=True) if v]
            out_shape = self.check_add(ordered, group, scope, base)
            if out_shape is None:
                return POISON
            return self.add_merge(base, owner, "add", args, ordered, out_shape, group, scope)
        if kind == "concat":
            ordered = [(v, "skip", s) for v, s in zip(srcs, group, strict=True)]
            ordered.append((dst, "main", None))
            align = next((s.align for s in group if s.align), None)
            if align is not None:
                ordered = self.align(ordered, align, base, group, scope)
            out_shape = self.check_concat(ordered, group, scope, base, align)
            if out_shape is None:
                return POISON
            return self.add_merge(base, base, "concat", NoArgs(), ordered, out_shape, group, scope)
        ordered = [(dst, "main", None)] + [(v, "skip", s) for v, s in zip(srcs, group, strict=True)]
        out_shape = self.check_mul(ordered, group, scope, base)
        if out_shape is None:
            return POISON
        return self.add_merge(base, base, "mul", NoArgs(), ordered, out_shape, group, scope)

    def add_merge(
        self,
        node: str,
        module: str,
        op: str,
        args: BaseModel,
        ordered: list[tuple[Val, str, _Skip | None]],
        shape: Shape,
        group: list[_Skip],
        scope: Scope,
    ) -> Val:
        span = group[0].stmt.span
        self.add_node(
            node,
            scope,
            op=op,
            args=args,
            scope=module,
            name=node.rsplit(".", 1)[-1],
            role="merge",
            span=span,
            shape=shape,
        )
        for index, (val, kind, skip) in enumerate(ordered):
            assert val.node is not None
            extra = {} if skip is None else {"merge": op, "skip": f"{scope.prefix}{skip.label}"}
            self.add_edge(val.node, node, kind, index, **extra)
        return Val(node, shape)

    def mismatch(self, what: str, shapes: list[Shape]) -> str:
        return f"cannot {what} " + " and ".join(format_shape(s) for s in shapes)

    def check_add(
        self,
        ordered: list[tuple[Val, str, _Skip | None]],
        group: list[_Skip],
        scope: Scope,
        node: str,
    ) -> Shape | None:
        shapes = [v.shape for v, _, _ in ordered]
        assert all(s is not None for s in shapes)
        first = shapes[0]
        assert first is not None
        for (_, _, skip), shape in zip(ordered[1:], shapes[1:], strict=True):
            assert shape is not None and skip is not None
            if tuple(map(int, shape)) != tuple(map(int, first)):
                self.error(
                    scope,
                    "merge-shape",
                    f"skip '{skip.src}' -> '{skip.dst}': " + self.mismatch("add", [shape, first]),
                    skip.stmt.span,
                    hint=self.add_hint(skip, shape, first),
                )
                return None
            for a, b in zip(shape, first, strict=True):
                self.constrain("eq", a, b, node, f"the skip into '{skip.dst}' (add)")
        return first

    def add_hint(self, skip: _Skip, src: Shape, dst: Shape) -> str:
        if skip.shortcut == "identity":
            if len(src) == len(dst) and int(src[0]) <= int(dst[0]):
                return (
                    "use shortcut=auto to insert a projection, or shortcut=zeropad "
                    "for a parameter-free one"
                )
            return "use shortcut=auto to insert a projection"
        return self.valid_hint() or "the shortcut cannot make these shapes match"

    def check_concat(
        self,
        ordered: list[tuple[Val, str, _Skip | None]],
        group: list[_Skip],
        scope: Scope,
        node: str,
        align: str | None,
    ) -> Shape | None:
        shapes = [v.shape for v, _, _ in ordered]
        dst = shapes[-1]
        assert dst is not None
        for (_, _, skip), shape in zip(ordered[:-1], shapes[:-1], strict=True):
            assert shape is not None and skip is not None
            if len(shape) != len(dst) or len(dst) < 1:
                self.error(
                    scope,
                    "merge-shape",
                    f"skip '{skip.src}' -> '{skip.dst}': "
                    + self.mismatch("concatenate", [shape, dst])
                    + ": ranks differ",
                    skip.stmt.span,
                )
                return None
            if tuple(map(int, shape[1:])) != tuple(map(int, dst[1:])):
                for a, b in zip(shape[1:], dst[1:], strict=True):
                    self.constrain("eq", a, b, node, f"the skip into '{skip.dst}' (concat)")
                self.error(
                    scope,
                    "merge-shape",
                    f"skip '{skip.src}' -> '{skip.dst}': "
                    + self.mismatch("concatenate", [shape, dst])
                    + " along channels: the other dimensions differ",
                    skip.stmt.span,
                    hint="use align=crop or align=pad to make them match"
                    + (
                        f", or change the input size: {hint}" if (hint := self.valid_hint()) else ""
                    ),
                )
                return None
            for a, b in zip(shape[1:], dst[1:], strict=True):
                self.constrain("eq", a, b, node, f"the skip into '{skip.dst}' (concat)")
        channels = sum(int(s[0]) for s in shapes if s is not None)
        return (channels, *dst[1:])

    def check_mul(
        self,
        ordered: list[tuple[Val, str, _Skip | None]],
        group: list[_Skip],
        scope: Scope,
        node: str,
    ) -> Shape | None:
        out: list[int] = list(ordered[0][0].shape or ())
        for val, _, skip in ordered[1:]:
            shape = val.shape
            assert shape is not None and skip is not None
            if len(shape) > len(out):
                out = [1] * (len(shape) - len(out)) + out
            padded = [1] * (len(out) - len(shape)) + list(shape)
            for i, (a, b) in enumerate(zip(out, padded, strict=True)):
                if int(a) == int(b):
                    self.constrain("eq", a, b, node, f"the skip into '{skip.dst}' (mul)")
                elif int(a) == 1:
                    out[i] = b
                elif int(b) != 1:
                    self.error(
                        scope,
                        "merge-shape",
                        f"skip '{skip.src}' -> '{skip.dst}': "
                        + self.mismatch("multiply", [shape, tuple(ordered[0][0].shape or ())])
                        + ": the shapes do not broadcast",
                        skip.stmt.span,
                        hint="mul broadcasts like PyTorch: each dimension must be equal or 1",
                    )
                    return None
        return tuple(out)

    def valid_hint(self) -> str | None:
        """The valid input sizes implied by the constraints so far, as a sentence."""
        from resdsl.passes.valid_sizes import describe_rules, valid_sizes

        symbols = self.graph.graph["symbols"]
        if not symbols:
            return None
        rules = valid_sizes(self.graph.graph["constraints"], symbols)
        limited = {k: r for k, r in rules.items() if not r.everything}
        return describe_rules(limited) if limited else None

    def stride_between(self, src: Shape, dst: Shape) -> tuple[int, ...] | None:
        """The stride S per spatial dim with floor((n - 1) / S) + 1 == m, or None."""
        if len(src) != len(dst):
            return None
        out: list[int] = []
        for n, m in zip(src[1:], dst[1:], strict=True):
            n, m = int(n), int(m)
            if m > n or m < 1:
                return None
            s = 1 if n == m else max(1, (n - 1) // m)
            while s <= n and (n - 1) // s + 1 > m:
                s += 1
            if (n - 1) // s + 1 != m:
                return None
            out.append(s)
        return tuple(out)

    def shortcut(self, skip: _Skip, src: Val, dst: Val, scope: Scope) -> Val | None:
        """The value the skip carries into an add: its source through its shortcut."""
        assert src.shape is not None and dst.shape is not None
        kind = skip.shortcut
        same = tuple(map(int, src.shape)) == tuple(map(int, dst.shape))
        if kind == "identity" or (kind in ("auto", "zeropad") and same):
            return src  # option A, like option B, passes matching shapes through
        stride = self.stride_between(src.shape, dst.shape)
        if stride is None:
            self.error(
                scope,
                "merge-shape",
                f"skip '{skip.src}' -> '{skip.dst}': no {_shortcut_name(kind)} maps "
                f"{format_shape(src.shape)} to {format_shape(dst.shape)}",
                skip.stmt.span,
                hint="a shortcut can change channels and downsample by an integer stride; "
                "check the shapes of the two ends",
            )
            return None
        path = f"{scope.prefix}{skip.label}"
        stride_arg: int | tuple[int, ...] = stride[0] if len(set(stride)) == 1 else stride
        channels = int(dst.shape[0])
        edge = {"merge": "add", "skip": path}
        if kind == "zeropad":
            diff = channels - int(src.shape[0])
            if diff < 0:
                self.error(
                    scope,
                    "merge-shape",
                    f"skip '{skip.src}' -> '{skip.dst}': zeropad cannot reduce "
                    f"{int(src.shape[0])} channels to {channels}",
                    skip.stmt.span,
                    hint="use shortcut=projection",
                )
                return None
            shape = (
                channels,
                *(dims.window(n, 1, s) for n, s in zip(src.shape[1:], stride, strict=True)),
            )
            node = self.fresh_id(path)
            self.add_node(
                node,
                scope,
                op="zeropad",
                args=ZeroPadArgs(stride=stride, pad_before=diff // 2, pad_after=diff - diff // 2),
                scope=path,
                name=skip.label,
                role="shortcut",
                span=skip.stmt.span,
                shape=shape,
            )
            assert src.node is not None
            self.add_edge(src.node, node, "skip", 0, **edge)
            return Val(node, shape)
        self.add_scope(ScopeInfo(path, "shortcut", skip.stmt.span, input=src.node))
        sub = Scope(
            path,
            src,
            Env(),
            self,
            role="shortcut",
            depth=scope.depth + 1,
            stack=scope.stack,
            context=scope.context,
            skip_edge=edge,
        )
        if isinstance(kind, BlockRef):
            out = self.instantiate_shortcut_block(kind, skip, sub, channels, stride_arg)
        else:
            v = self.layer_node(
                "conv",
                {"out_channels": channels, "kernel_size": 1, "stride": stride_arg, "bias": False},
                sub,
                "0",
                src,
                skip.stmt.span,
            )
            out = self.layer_node("batchnorm", {}, sub, "1", v, skip.stmt.span)
        self.graph.graph["scopes"][path].output = out.node
        if out.shape is None:
            return None
        return out

    def instantiate_shortcut_block(
        self, ref: BlockRef, skip: _Skip, sub: Scope, channels: int, stride: int | tuple[int, ...]
    ) -> Val:
        bdef = self.program.blocks[ref.name]
        values: dict[str, Value] = {"channels": channels, "stride": stride}
        names = [p.name for p in bdef.params]
        if names[:2] != ["channels", "stride"]:
            self.error(
                sub,
                "shortcut-block",
                f"block '{ref.name}' cannot be a shortcut: it must take "
                "(channels: int, stride: int)",
                skip.stmt.span,
            )
            return POISON
        bound = self.bind_values(
            bdef.params, values, sub, skip.stmt.span, callee=f"block '{ref.name}'"
        )
        if bound is None:
            return POISON
        info = self.graph.graph["scopes"][sub.path]
        info.block, info.args = ref.name, dict(bound)
        sub.env = Env(bound)
        sub.stack = (*sub.stack, ref.name)
        return self.body(bdef.body, sub)

    def align(
        self,
        ordered: list[tuple[Val, str, _Skip | None]],
        align: str,
        base: str,
        group: list[_Skip],
        scope: Scope,
    ) -> list[tuple[Val, str, _Skip | None]]:
        """Insert crop/pad nodes so every input of a concat has the same spatial size."""
        shapes = [v.shape for v, _, _ in ordered]
        assert all(s is not None for s in shapes)
        rank = len(shapes[-1] or ())
        if any(len(s or ()) != rank for s in shapes):
            return ordered  # the concat check reports the rank mismatch
        target: list[int] = []
        for axis in range(1, rank):
            sizes = [s[axis] for s in shapes if s is not None]
            t = sizes[0]
            for size in sizes[1:]:
                t = dims.minimum(t, size) if align == "crop" else dims.maximum(t, size)
            target.append(t)
        out: list[tuple[Val, str, _Skip | None]] = []
        for i, (val, kind, skip) in enumerate(ordered):
            shape = val.shape
            assert shape is not None and val.node is not None
            if all(
                expr_of(a) == expr_of(b) and int(a) == int(b)
                for a, b in zip(shape[1:], target, strict=True)
            ):
                out.append((val, kind, skip))
                continue
            amounts = []
            for a, b in zip(shape[1:], target, strict=True):
                diff = abs(int(a) - int(b))
                amounts.append((diff // 2, diff - diff // 2))
            node = self.fresh_id(f"{base}/{align}{i}")
            new_shape = (shape[0], *target)
            self.add_node(
                node,
                scope,
                op=align,
                args=AlignArgs(amounts=tuple(amounts)),
                scope=node,
                name=node.rsplit(".", 1)[-1],
                role="align",
                span=group[0].stmt.span,
                shape=new_shape,
            )
            extra = (
                {} if skip is None else {"merge": "concat", "skip": f"{scope.prefix}{skip.label}"}
            )
            self.add_edge(val.node, node, kind, 0, **extra)
            for d in target:
                if isinstance(d, SymDim):
                    self.constrain("ge", d, 1, node, "the aligned size")
            out.append((Val(node, new_shape), kind, skip))
        return out

    # ------------------------------------------------------------ calls

    def callee(self, name: str, env: Env) -> Layer | BlockRef | None:
        found, value = env.lookup(name)
        if found and isinstance(value, BlockRef):
            return value
        if name in self.program.blocks:
            return BlockRef(name)
        return get_layer(name)

    def call(self, item: _Item, scope: Scope, current: Val) -> Val:
        stmt: ast.Call = item.stmt
        try:
            target = self.callee(stmt.name, item.env)
        except EvalError as err:
            self.report(scope, err)
            return POISON
        if target is None:
            candidates = set(layer_names()) | set(self.program.blocks)
            self.error(
                scope,
                "unknown-layer",
                f"unknown layer or block '{stmt.name}'",
                stmt.name_span,
                did_you_mean(stmt.name, candidates),
            )
            return POISON
        if isinstance(target, BlockRef):
            return self.instantiate(target, item, scope, current)
        values = self.layer_args(target, stmt, item.env, scope)
        if values is None:
            return POISON
        return self.layer_node(target.name, values, scope, item.name, current, stmt.span, stmt)

    def layer_args(
        self, layer: Layer, stmt: ast.Call, env: Env, scope: Scope
    ) -> dict[str, Value] | None:
        fields = list(layer.Args.model_fields)
        matched, ok = self.match_args(
            stmt.args,
            fields,
            scope,
            too_many=lambda given: (
                f"{layer.name} takes no arguments"
                if not fields
                else f"{layer.name} takes at most {len(fields)} argument"
                f"{'s' if len(fields) != 1 else ''} ({', '.join(fields)})"
            ),
            unknown=lambda name: (
                f"{layer.name} has no argument '{name}'",
                f"its arguments are: {', '.join(fields) or 'none'}",
            ),
        )
        values: dict[str, Value] = {}
        for name, arg in matched:
            try:
                value = self.eval(arg.value, env, scope)
            except EvalError as err:
                self.report(scope, err)
                ok = False
                continue
            except _Poisoned:
                return None
            problem = _literal_problem(value)
            if problem:
                self.error(
                    scope,
                    "argument-type",
                    f"argument '{name}' of {layer.name}: {problem}",
                    arg.value.span,
                )
                ok = False
                continue
            values[name] = _to_python(value)
        return values if ok else None

    def layer_node(
        self,
        op: str,
        values: dict[str, Value],
        scope: Scope,
        name: str,
        current: Val,
        span: Span,
        stmt: ast.Call | None = None,
    ) -> Val:
        layer = get_layer(op)
        assert layer is not None, op
        # Blocks repeat: the same layer with the same arguments on the same input
        # is validated and inferred once (a large share of elaboration time).
        key = None
        if current.shape is not None and current.node is not None:
            key = (op, _freeze(values), tuple(expr_of(d) for d in current.shape))
            hit = self._layer_memo.get(key)
            if hit is not None:
                # Its constraints were recorded the first time (they do not name nodes).
                return self._add_layer(layer, hit[0], hit[1], scope, name, current, span, False)
        try:
            args = layer.Args.model_validate(values)
        except ValidationError as err:
            for e in err.errors():
                field = str(e["loc"][0]) if e["loc"] else ""
                where = _arg_span(stmt, layer, field) or span
                self.error(
                    scope,
                    "argument",
                    _pydantic_message(layer.name, field, e, values),
                    where,
                )
            return POISON
        if current.shape is None or current.node is None:
            return POISON
        try:
            shape = layer.infer(args, current.shape)
        except ShapeError as err:
            where = (_arg_span(stmt, layer, err.arg) if err.arg else None) or span
            self.error(
                scope,
                "shape",
                f"{layer.name} cannot take an input of shape {format_shape(current.shape)}: "
                f"{err.message}",
                where,
                err.hint,
            )
            return POISON
        if key is not None:
            self._layer_memo[key] = (args, shape)
        return self._add_layer(layer, args, shape, scope, name, current, span)

    def _add_layer(
        self,
        layer: Layer,
        args: Any,
        shape: Shape,
        scope: Scope,
        name: str,
        current: Val,
        span: Span,
        record: bool = True,
    ) -> Val:
        assert current.node is not None and current.shape is not None
        node = self.fresh_id(f"{scope.prefix}{name}")
        self.add_node(
            node,
            scope,
            op=layer.name,
            args=args,
            scope=f"{scope.prefix}{name}",
            name=name,
            role=scope.role,
            span=span,
            shape=shape,
        )
        if scope.skip_edge is not None:
            self.add_edge(current.node, node, "skip", 0, **scope.skip_edge)
        else:
            self.add_edge(current.node, node, "main", 0)
        if not record:
            return Val(node, shape)
        for d in shape:
            if isinstance(d, SymDim):
                self.constrain("ge", d, 1, node, f"the output of {node}")
        for i in layer.param_dims(args, current.shape):
            d = current.shape[i]
            if isinstance(d, SymDim):
                self.constrain("eq", d, int(d), node, f"the parameters of {node}")
        return Val(node, shape)

    def instantiate(self, ref: BlockRef, item: _Item, scope: Scope, current: Val) -> Val:
        stmt: ast.Call = item.stmt
        bdef = self.program.blocks[ref.name]
        if ref.name in scope.stack:
            chain = " -> ".join((*scope.stack[scope.stack.index(ref.name) :], ref.name))
            self.error(
                scope,
                "recursion",
                f"block '{ref.name}' calls itself: {chain}",
                stmt.name_span,
                hint="a block cannot contain itself, directly or through other blocks",
            )
            return POISON
        if scope.depth + 1 > self.limits.max_depth:
            raise _Abort(
                Diagnostic(
                    "too-deep",
                    f"blocks are nested more than {self.limits.max_depth} deep here",
                    stmt.name_span,
                    hint="raise the limit with Limits(max_depth=...)",
                )
            )
        bound = self.bind_args(
            bdef.params, stmt.args, item.env, scope, f"block '{ref.name}'", stmt.span
        )
        if bound is None:
            return POISON
        path = f"{scope.prefix}{item.name}"
        key = None
        if current.node is not None and current.shape is not None:
            key = (
                ref.name,
                _freeze(bound),
                tuple((expr_of(d), int(d)) for d in current.shape),
                scope.role,
                tuple(sorted((scope.skip_edge or {}).items())),
                scope.depth,
            )
            template = self._block_memo.get(key) if self.stamping else None
            if template is not None:
                return self.stamp(template, path, stmt.span, current)
        info = self.add_scope(
            ScopeInfo(path, "block", stmt.span, block=ref.name, args=bound, input=current.node)
        )
        errors_before = len(self.collector.diagnostics)
        first_node, first_scope = len(self._created), len(self._created_scopes)
        child = Scope(
            path,
            current,
            Env(bound),
            self,
            role=scope.role,
            depth=scope.depth + 1,
            stack=(*scope.stack, ref.name),
            context=f"in block '{ref.name}' instantiated as '{path}' at {stmt.span}",
            skip_edge=scope.skip_edge,
        )
        out = self.body(bdef.body, child)
        info.output = out.node
        if (
            key is not None
            and out.node is not None
            and len(self.collector.diagnostics) == errors_before
        ):
            self._block_memo[key] = _Template(
                path,
                current.node,  # type: ignore[arg-type]
                self._created[first_node:],
                self._created_scopes[first_scope:],
                out,
            )
        return out

    def stamp(self, template: _Template, path: str, span: Span, current: Val) -> Val:
        """Copy a block instance elaborated before, with the same arguments and input.

        Blocks repeat (resnet152 has 50 bottlenecks of 8 kinds): elaborating each
        distinct instance once and copying its nodes under the new path gives the
        same graph as elaborating it again, much faster. Only instances that
        elaborated without any diagnostic become templates.
        """
        g = self.graph
        old = template.path
        cut = len(old)
        assert current.node is not None

        def rename(name: str) -> str:
            return path + name[cut:] if name.startswith(old) else name

        def outside(name: str) -> str:
            return current.node if name == template.input else rename(name)  # type: ignore[return-value]

        source = g.graph["scopes"][old]
        self.add_scope(
            ScopeInfo(path, "block", span, block=source.block, args=source.args, input=current.node)
        )
        for scope_path in template.scopes:
            info = g.graph["scopes"][scope_path]
            self.add_scope(
                ScopeInfo(
                    rename(scope_path),
                    info.kind,
                    info.span,
                    block=info.block,
                    args=info.args,
                    input=outside(info.input) if info.input else None,
                    output=rename(info.output) if info.output else None,
                )
            )
        nodes, preds = self._nodes, self._preds
        for node in template.nodes:
            data = dict(nodes[node])
            data["scope"] = rename(data["scope"])
            data["parent"] = rename(data["parent"])
            self.count_node(span)
            new = rename(node)
            nodes[new] = data
            self._created.append(new)
            copied = []
            for pred, edge in preds[node]:
                attrs = dict(edge)
                if "skip" in attrs:
                    attrs["skip"] = rename(attrs["skip"])
                copied.append((outside(pred), attrs))
            preds[new] = copied
        out_node = rename(template.output.node)  # type: ignore[arg-type]
        g.graph["scopes"][path].output = out_node
        return Val(out_node, template.output.shape)

    def group(self, item: _Item, scope: Scope, current: Val) -> Val:
        stmt: ast.Group = item.stmt
        path = f"{scope.prefix}{item.name}"
        info = self.add_scope(ScopeInfo(path, "group", stmt.span, input=current.node))
        child = Scope(
            path,
            current,
            item.env.child(),
            self,
            role=scope.role,
            depth=scope.depth + 1,
            stack=scope.stack,
            context=scope.context,
            skip_edge=scope.skip_edge,
        )
        out = self.body(stmt.body, child)
        info.output = out.node
        return out


_MISSING: Any = object()


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _shortcut_name(kind: str | BlockRef) -> str:
    if isinstance(kind, BlockRef):
        return f"shortcut block '{kind.name}'"
    return {
        "auto": "projection",
        "projection": "projection",
        "zeropad": "zero-padding shortcut",
    }.get(kind, "shortcut")


def _literal_problem(value: Value) -> str | None:
    if isinstance(value, SymDim):
        return (
            f"the symbolic size {dims.describe(value)} is used where a number is needed "
            "(give the input a fixed size)"
        )
    if isinstance(value, BlockRef):
        return f"a block ('{value.name}') is not a layer argument"
    if isinstance(value, list):
        for v in value:
            problem = _literal_problem(v)
            if problem:
                return problem
    return None


def _fill_graph(
    g: nx.DiGraph,
    nodes: dict[str, dict[str, Any]],
    preds: dict[str, list[tuple[str, dict[str, Any]]]],
) -> None:
    """Put the collected nodes and edges into an empty DiGraph, in order.

    ``add_nodes_from``/``add_edges_from`` copy every attribute dict and cost a
    fifth of elaboration; these are fresh dicts nothing else holds, so they go
    into the adjacency structures networkx documents for subclasses
    (``_node``, ``_succ``, ``_pred``) as they are.
    """
    g.add_nodes_from(nodes)
    g._node.update(nodes)
    succ, pred = g._succ, g._pred
    for v, edges in preds.items():
        into = pred[v]
        for u, data in edges:
            succ[u][v] = data
            into[u] = data
    clear = getattr(nx, "_clear_cache", None)  # networkx >= 3.3 caches views
    if clear is not None:
        clear(g)


def _freeze(values: dict[str, Value]) -> tuple[Any, ...]:
    """A hashable key for layer argument values (already tuples, numbers, strings)."""
    return tuple(
        (k, type(v), v) if type(v) not in (tuple, list) else (k, type(v), _typed(v))
        for k, v in values.items()
    )


def _typed(value: Value) -> Any:
    # Keep types in the key: True == 1 and (True,) == (1,) in Python.
    if isinstance(value, tuple | list):
        return (type(value).__name__, tuple(_typed(v) for v in value))
    return (type(value).__name__, value)


def _to_python(value: Value) -> Value:
    """Spec values to the Python values pydantic validates: lists become tuples."""
    if isinstance(value, list):
        return tuple(_to_python(v) for v in value)
    return value


def _arg_span(stmt: ast.Call | None, layer: Layer, name: str | None) -> Span | None:
    if stmt is None or not name:
        return None
    fields = list(layer.Args.model_fields)
    for i, arg in enumerate(stmt.args):
        arg_name = arg.name if arg.name is not None else (fields[i] if i < len(fields) else None)
        if arg_name == name:
            return arg.value.span
    return None


def _pydantic_message(layer: str, field: str, e: Any, values: dict[str, Value]) -> str:
    kind = e["type"]
    if kind == "missing":
        return f"{layer} needs argument '{field}'"
    given = values.get(field, e.get("input"))
    got = show(list(given) if isinstance(given, tuple) else given)
    if kind == "literal_error":
        expected = e.get("ctx", {}).get("expected", "")
        return f"argument '{field}' of {layer} must be one of {expected}, got {got}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return f"argument '{field}' of {layer}: {e['msg'].lower()}, got {got}"
    return f"argument '{field}' of {layer}: {e['msg'].lower()} (got {got})"


def elaborate(
    program: Program,
    model: str,
    params: dict[str, Value] | None = None,
    limits: Limits | None = None,
    span: Span | None = None,
) -> tuple[nx.DiGraph, list[Diagnostic]]:
    """Elaborate one model. Returns the graph and the diagnostics (empty if it checked)."""
    el = Elaborator(program, limits or Limits())
    g = el.model(model, dict(params or {}), span)
    return g, sort_diagnostics(el.collector.diagnostics, program)


def sort_diagnostics(diagnostics: list[Diagnostic], program: Program) -> list[Diagnostic]:
    """Diagnostics in reading order: by file (in load order), then by position."""
    order = {f.name: i for i, f in enumerate(program.files)}

    def key(d: Diagnostic) -> tuple[int, int]:
        if d.span is None:
            return (-1, 0)
        return (order.get(d.span.file, len(order)), d.span.start)

    return sorted(diagnostics, key=key)

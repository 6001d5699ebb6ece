"""Elaboration: a model definition and its arguments -> the networkx DAG.

Blocks are instantiated with their arguments, ``repeat`` and ``if`` are spliced
into their scope, names follow the naming rule of docs/language.md (they become module
paths and ``state_dict`` keys), and each ``skip`` becomes a merge node inserted
right after its destination, with its shortcut and alignment as real nodes.

Shapes are inferred while elaborating, because the language lets arguments ask
for them (``channels(x)``) and because ``shortcut=auto`` is a projection only
where shapes differ.

The work is split by concern, one module each: :mod:`~resdsl.semantics.binding`
(arguments to parameters, type checks), :mod:`~resdsl.semantics.statements`
(``repeat``/``if``/``let`` and scopes), :mod:`~resdsl.semantics.calls` (layers
and block instances), :mod:`~resdsl.semantics.skips` (skip statements and their
options), :mod:`~resdsl.semantics.merges` (merge nodes and their shape checks),
:mod:`~resdsl.semantics.shortcuts` (shortcuts and alignment),
:mod:`~resdsl.semantics.stamping` (copies of repeated block instances) and
:mod:`~resdsl.semantics.assembly` (the graph being built). They share one
:class:`~resdsl.semantics.context.ElabContext`; :class:`Elaborator` ties them
together and resolves the model.

>>> from resdsl.syntax.loader import load_text
>>> program = load_text("model m() {\\n input [3, 8, 8]\\n conv(4, 3)\\n}")
>>> g, diagnostics = elaborate(program, "m")
>>> g.nodes["0"]["shape"], diagnostics
((4, 6, 6), [])
"""

from __future__ import annotations

import networkx as nx
from pydantic import BaseModel, ConfigDict

from resdsl.diagnostics import Collector, Diagnostic, did_you_mean
from resdsl.ir import dims
from resdsl.ir.dims import Shape, SymDim
from resdsl.ir.graph import NoArgs, ScopeInfo
from resdsl.ir.names import init_problem
from resdsl.semantics.assembly import GraphBuilder
from resdsl.semantics.binding import Binder
from resdsl.semantics.calls import Calls, check_index_input
from resdsl.semantics.context import POISON, Abort, ElabContext, Poisoned, Scope, Val
from resdsl.semantics.expr import Env, EvalError, Value, evaluate, show
from resdsl.semantics.merges import Merger, fill_size_hints
from resdsl.semantics.parallels import Parallels
from resdsl.semantics.shortcuts import Shortcuts
from resdsl.semantics.skips import SkipResolver
from resdsl.semantics.stamping import Stamper
from resdsl.semantics.statements import Statements
from resdsl.source import Span
from resdsl.syntax import ast
from resdsl.syntax.loader import Program

__all__ = ["Elaborator", "Limits", "elaborate", "sort_diagnostics"]


class Limits(BaseModel):
    """Resource limits: a spec stops early with a clear error, never hangs."""

    model_config = ConfigDict(frozen=True)
    max_nodes: int = 100_000
    max_depth: int = 64
    #: Statements expanded (each copy of a ``repeat`` body and each of its
    #: statements counts, ``let`` and ``skip`` included): bounds the work of
    #: specs that build few nodes from many statements.
    max_steps: int = 500_000
    #: Size-changing layers between an input symbol and a symbolic size.
    max_size_depth: int = 100
    #: Parameters of the whole model (20 G: 80 GB of float32 weights).
    max_params: int = 20_000_000_000
    #: Elements of one value for one sample (the sample size's activations).
    max_elements: int = 2**34


#: Model arguments fixed by aliases: each value with the span of the alias argument.
_Fixed = dict[str, tuple[Value, Span]]


class Elaborator:
    """Builds the graph of one model from its parts. Use :func:`elaborate`."""

    def __init__(self, program: Program, limits: Limits) -> None:
        self.program = program
        self.limits = limits
        self.ctx = ElabContext(program, limits, GraphBuilder(limits))
        self.binder = Binder(self.ctx)
        self.stamper = Stamper(self.ctx.graph)
        self.statements = Statements(self)
        self.calls = Calls(self)
        self.skips = SkipResolver(self.ctx)
        self.merges = Merger(self)
        self.shortcuts = Shortcuts(self)
        self.parallels = Parallels(self)

    @property
    def collector(self) -> Collector:
        return self.ctx.collector

    @property
    def graph(self) -> nx.DiGraph:
        return self.ctx.graph.graph

    @property
    def stamping(self) -> bool:
        """Copy repeated block instances instead of elaborating them again."""
        return self.stamper.enabled

    @stamping.setter
    def stamping(self, value: bool) -> None:
        self.stamper.enabled = value

    def model(self, name: str, params: dict[str, Value], span: Span | None) -> nx.DiGraph:
        """Elaborate the model ``name`` into :attr:`graph` and return it (once per instance)."""
        try:
            self._model(name, params, span)
        finally:
            self._release_parts()
        graph = self.ctx.graph.finish()
        check_index_input(graph, self.ctx)
        return graph

    def _release_parts(self) -> None:
        # The parts refer back to this object. Dropping them once the model is
        # built lets reference counting free the elaboration state at once; left
        # to the cycle collector, it made checking a fifth slower.
        del self.statements, self.calls, self.merges, self.shortcuts, self.parallels

    def _model(self, name: str, params: dict[str, Value], span: Span | None) -> None:
        builder = self.ctx.graph
        g = builder.graph
        definition, bound, symbol_samples = self.resolve_model(name, params, span)
        g.graph["model"] = name
        globals_scope = Scope("", POISON, Env(), self.program)
        if definition is None or bound is None:
            return
        env = Env(bound)
        shape = self.input_shape(definition.input, env, globals_scope, symbol_samples)
        if shape is None:
            return
        g.graph["symbols"] = {
            d.expr[1]: int(d) for d in shape if isinstance(d, SymDim) and d.expr[0] == "sym"
        }
        builder.add_node(
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
        scope = Scope("", Val("input", shape), env, self.program)
        g.graph["scopes"][""] = ScopeInfo(
            "", "model", definition.span, block=definition.name, args=dict(bound), input="input"
        )
        g.graph["input_shape"] = shape
        try:
            out = self.statements.body(definition.body, scope)
            if definition.outputs:
                out = self.outputs(definition.outputs, scope)
        except Abort as err:
            self.collector.add(err.diagnostic)
            return
        except Poisoned:  # an unknown value escaped its statement: its error is reported
            if not self.collector.has_errors:  # pragma: no cover - a bug, said as one
                self.ctx.error(None, "internal", "a value is unknown", builder.current_span)
            return
        except RecursionError:
            # Every nesting has its own bound (blocks, lets, sizes, brackets); this
            # is the net under them, at the statement being elaborated.
            self.collector.add(
                Diagnostic(
                    "too-deep",
                    "this model nests too deeply to elaborate",
                    builder.current_span,
                    hint="reduce the nesting of blocks, groups and 'let' values",
                )
            )
            return
        g.graph["scopes"][""].output = out.node
        if out.node is not None:
            g.graph["output"] = out.node
            g.graph["output_shape"] = out.shape

    def outputs(self, outputs: tuple[ast.Output, ...], scope: Scope) -> Val:
        """The values ``output NAME: REF`` lines name (``graph["outputs"]``); the first's value.

        The model's output is the first; with two or more, ``forward`` returns them all
        in a dict, in order.
        """
        found: dict[str, str] = {}
        first: Val = POISON
        spans: dict[str, Span] = {}
        for out in outputs:
            if out.when is not None and not self.output_wanted(out.when, scope):
                continue
            value = self.parallels.resolve_ref(out.ref, scope.env, scope)
            if out.name in spans:
                self.ctx.error(
                    None,
                    "duplicate-output",
                    f"the model already has an output named '{out.name}' (at {spans[out.name]})",
                    out.name_span,
                    hint="give each output its own name",
                )
                return POISON
            spans[out.name] = out.span
            if value.node is None:
                return POISON
            if not found:
                first = value
            found[out.name] = value.node
        self.graph.graph["outputs"] = found
        return first

    def output_wanted(self, when: ast.Expr, scope: Scope) -> bool:
        """The condition of ``output NAME: REF if COND`` (False, reported, if not a bool)."""
        try:
            value = evaluate(when, scope.env, scope)
        except EvalError as err:
            self.ctx.report(None, err)
            return False
        if not isinstance(value, bool):
            self.ctx.error(
                None, "type", f"an output's condition must be a bool, got {show(value)}", when.span
            )
            return False
        return value

    # ------------------------------------------------------------ the model

    def resolve_model(
        self, name: str, params: dict[str, Value], span: Span | None
    ) -> tuple[ast.ModelDef | None, dict[str, Value] | None, dict[str, Value]]:
        """Follow aliases to the model definition and bind its parameters.

        Arguments that name an input symbol instead of a parameter (``H=256``)
        set that symbol's sample size; they come back as the third value.
        """
        fixed: _Fixed = {}
        definition = self.follow_aliases(name, span, fixed)
        if definition is None:
            return None, None, {}
        for key in params:
            if key in fixed:
                self.ctx.error(
                    None,
                    "alias-fixed",
                    f"parameter '{key}' of model '{name}' is fixed by its alias",
                    fixed[key][1],
                    hint=f"use the model '{definition.name}' to choose '{key}'",
                )
                return None, None, {}
        values = {k: v for k, (v, _) in fixed.items()} | dict(params)
        samples = self.split_samples(definition, values)
        if samples is None:
            return None, None, {}
        bound = self.binder.bind_values(
            definition.params,
            values,
            Scope("", POISON, Env(), self.program),
            definition.name_span,
            callee=f"model '{definition.name}'",
            for_model=True,
        )
        if bound is not None and not self.check_init(definition, bound, set(values)):
            return None, None, {}
        return definition, bound, samples

    def check_init(
        self, definition: ast.ModelDef, bound: dict[str, Value], given: set[str]
    ) -> bool:
        """The parameters the back ends read (``init``...) hold values they accept."""
        ok = True
        for param in definition.params:
            problem = init_problem(param.name, bound.get(param.name))
            if problem is None:
                continue
            from_default = param.name not in given and param.default is not None
            where = param.default.span if from_default and param.default else param.span
            self.ctx.error(None, "bad-init", problem, where)
            ok = False
        return ok

    def follow_aliases(self, name: str, span: Span | None, fixed: _Fixed) -> ast.ModelDef | None:
        """The model definition ``name`` names, collecting the arguments its aliases fix."""
        seen: dict[str, None] = {}  # the aliases followed, in order
        target = name
        while True:
            definition = self.program.models.get(target)
            if definition is None:
                self.ctx.error(
                    None,
                    "unknown-model" if target == name else "unknown-alias-target",
                    f"unknown model '{target}'",
                    span,
                    did_you_mean(target, self.program.models),
                )
                return None
            if isinstance(definition, ast.ModelDef):
                return definition
            if target in seen:
                self.ctx.error(
                    None,
                    "alias-cycle",
                    f"model alias cycle: {' -> '.join((*seen, target))}",
                    definition.span,
                )
                return None
            if len(seen) >= self.limits.max_depth:
                # Following it is linear, but checking every alias of a chain would not be.
                self.ctx.error(
                    None,
                    "too-deep",
                    f"model '{name}' is an alias of an alias ... more than "
                    f"{self.limits.max_depth} deep",
                    definition.span,
                    hint="alias the model itself, or raise the limit with Limits(max_depth=...)",
                )
                return None
            seen[target] = None
            if not self.alias_args(definition, fixed):
                return None
            span = definition.target_span
            target = definition.target

    def alias_args(self, alias: ast.ModelAlias, fixed: _Fixed) -> bool:
        """Evaluate the arguments an alias fixes; an outer alias wins over an inner one."""
        scope = Scope("", POISON, Env(), self.program)
        for arg in alias.args:
            if arg.name is None:
                self.ctx.error(
                    None,
                    "alias-positional",
                    "a model alias names its arguments: write name=value",
                    arg.span,
                )
                return False
            if arg.name in fixed:
                continue  # the outer alias wins
            try:
                fixed[arg.name] = (evaluate(arg.value, Env(), scope), arg.span)
            except EvalError as err:
                self.ctx.report(None, err)
                return False
        return True

    def split_samples(
        self, definition: ast.ModelDef, values: dict[str, Value]
    ) -> dict[str, Value] | None:
        """Move the sizes of input symbols out of ``values``; an unknown name is an error."""
        samples: dict[str, Value] = {}
        known = {p.name for p in definition.params}
        dims_ = definition.input.dims
        symbols = {d.symbol for d in dims_ if d.symbol} | {
            d.value.id for d in dims_ if d.symbol is None and isinstance(d.value, ast.Name)
        }
        for key in list(values):
            if key in known:
                continue
            if key in symbols:
                samples[key] = values.pop(key)
                continue
            self.ctx.error(
                None,
                "unknown-parameter",
                f"model '{definition.name}' has no parameter '{key}'",
                definition.name_span,
                did_you_mean(key, known | symbols),
            )
            return None
        return samples

    def input_shape(
        self, decl: ast.InputDecl, env: Env, scope: Scope, samples: dict[str, Value]
    ) -> Shape | None:
        """The model's input shape: each dimension a number or a symbol with its sample."""
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
                    value = evaluate(value_expr, env, scope)
                else:
                    value = 64  # documented: a symbol with no sample is checked at 64
            except EvalError as err:
                self.ctx.report(None, err)
                ok = False
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                self.ctx.error(
                    None,
                    "bad-input",
                    f"an input dimension must be a positive int, got {show(value)}",
                    dim.span,
                )
                ok = False
                continue
            out.append(dims.symbol(symbol, value) if symbol is not None else value)
        if not out and ok:
            self.ctx.error(None, "bad-input", "the input needs at least one dimension", decl.span)
            return None
        return tuple(out) if ok else None


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
    return g, sort_diagnostics(fill_size_hints(g, el.collector.diagnostics), program)


def sort_diagnostics(diagnostics: list[Diagnostic], program: Program) -> list[Diagnostic]:
    """Diagnostics in reading order: by file (in load order), then by position."""
    order = {f.name: i for i, f in enumerate(program.files)}

    def key(d: Diagnostic) -> tuple[int, int]:
        if d.span is None:
            return (-1, 0)
        return (order.get(d.span.file, len(order)), d.span.start)

    return sorted(diagnostics, key=key)

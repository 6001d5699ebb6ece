"""Statements: a scope's body expanded (``repeat``, ``if``, ``let``) and built in order.

A scope is elaborated in two steps. :meth:`Statements.expand` evaluates
``repeat``, ``if`` and ``let`` into a flat list of items with their positions,
so every name and every skip of the scope is known before anything is built;
:meth:`Statements.run_items` then builds the items in order and inserts each
skip's merge after its destination. ``let`` values are evaluated lazily, so a
``let`` may use ``channels()`` of a value built earlier in the sequence.
"""

from __future__ import annotations

from resdsl.diagnostics import Diagnostic
from resdsl.ir.dims import expr_of
from resdsl.ir.graph import ScopeInfo
from resdsl.ir.names import label_problem, label_syntax_problem
from resdsl.semantics import params
from resdsl.semantics.context import (
    Abort,
    ElabPart,
    Item,
    Poisoned,
    Scope,
    Val,
    too_many_nodes,
)
from resdsl.semantics.expr import Env, EvalError, Thunk, evaluate, label_text
from resdsl.semantics.expr import type_name as value_type
from resdsl.semantics.skips import Skip
from resdsl.source import Span
from resdsl.syntax import ast


class Statements(ElabPart):
    """Expands and builds the statements of scopes: the model, blocks and groups."""

    #: Items expanded so far (set per instance on the first count), against the node limit.
    item_count = 0

    def body(self, body: tuple[ast.Stmt, ...], scope: Scope) -> Val:
        """Build the statements ``body`` in ``scope``; returns the scope's output value."""
        items: list[Item] = []
        self.expand(body, scope.env, scope, items, [0])
        return self.run_items(items, scope)

    # ------------------------------------------------------------ expansion

    def expand(
        self,
        body: tuple[ast.Stmt, ...],
        env: Env,
        scope: Scope,
        items: list[Item],
        position: list[int],
    ) -> None:
        """Evaluate repeat/if/let into a flat list of items with positions and names."""
        graph = self.graph
        for stmt in body:
            graph.current_span = stmt.span
            graph.count_step(stmt.span)
            try:
                if isinstance(stmt, ast.Call | ast.Group):
                    self.expand_named(stmt, env, scope, items, position)
                elif isinstance(stmt, ast.Skip):
                    items.append(Item("skip", stmt, env, span=stmt.span))
                elif isinstance(stmt, ast.Let):
                    self.expand_let(stmt, env, scope)
                elif isinstance(stmt, ast.Repeat):
                    self.expand_repeat(stmt, env, scope, items, position)
                elif isinstance(stmt, ast.If):
                    self.expand_if(stmt, env, scope, items, position)
                elif isinstance(stmt, ast.Parallel):
                    self.expand_parallel(stmt, env, scope, items, position)
                elif isinstance(stmt, ast.From):
                    before = len(items)
                    self.expand((stmt.stmt,), env, scope, items, position)
                    if len(items) > before:
                        items[before].source = stmt.ref
                elif isinstance(stmt, ast.ParamDecl):
                    params.declare(self.ctx, stmt, env, scope)
            except EvalError as err:
                self.ctx.report(scope, err)
            except Poisoned:
                pass

    def expand_named(
        self,
        stmt: ast.Call | ast.Group,
        env: Env,
        scope: Scope,
        items: list[Item],
        position: list[int],
    ) -> None:
        """A call or group: an item named by its label, or else by its position."""
        self.count_item(stmt.span)
        kind = "call" if isinstance(stmt, ast.Call) else "group"
        if stmt.label is not None:
            name = label_text(stmt.label, env, scope)
            span = stmt.label.span
            syntax = label_syntax_problem(name, stmt.label.quoted)
            if syntax is not None:
                self.ctx.error(scope, "bad-label", syntax[0], span, syntax[1])
            elif problem := label_problem(name, in_model=not scope.path):
                self.ctx.error(
                    scope,
                    "reserved-label",
                    f"the label '{name}' cannot name a module: {problem}",
                    span,
                    hint="choose another label",
                )
        else:
            name, span = str(position[0]), stmt.span
        items.append(Item(kind, stmt, env, name, position[0], span))
        position[0] += 1

    def expand_parallel(
        self,
        stmt: ast.Parallel,
        env: Env,
        scope: Scope,
        items: list[Item],
        position: list[int],
    ) -> None:
        """A labelled parallel is a scope of its own (its arms expand when it is built);
        an unlabelled one expands its arms here, named in this scope."""
        self.count_item(stmt.span)
        if stmt.label is not None:
            name = label_text(stmt.label, env, scope)
            if not name.isidentifier():
                self.ctx.error(
                    scope, "bad-label", f"label '{name}' is not a valid name", stmt.label.span
                )
            items.append(Item("parallel", stmt, env, name, position[0], stmt.label.span))
            position[0] += 1
            return
        arms = self.expand_arms(stmt, env, scope, position)
        items.append(Item("parallel", stmt, env, "", -1, stmt.span, arms=arms))

    def expand_arms(
        self, stmt: ast.Parallel, env: Env, scope: Scope, position: list[int]
    ) -> list[list[Item]]:
        """The items of each arm; names and positions continue the scope's.

        A ``{ ... }`` arm is one sequence; any other statement is one arm per
        statement it expands to (``repeat 3 { ... }`` makes three arms).
        """
        arms: list[list[Item]] = []
        for arm in stmt.arms:
            arm_items: list[Item] = []
            if isinstance(arm, ast.Seq):
                self.expand(arm.body, env.child(), scope, arm_items, position)
            elif isinstance(arm, ast.Let | ast.Skip):
                self.bad_arm(scope, "a let" if isinstance(arm, ast.Let) else "a skip", arm.span)
            else:
                # `repeat` and `if` make as many arms as statements they expand to.
                self.expand((arm,), env, scope, arm_items, position)
                for item in arm_items:
                    if item.kind == "skip":
                        self.bad_arm(scope, "a skip", item.stmt.span)
                    else:
                        arms.append([item])
                continue
            arms.append(arm_items)
        return arms

    def bad_arm(self, scope: Scope, what: str, span: Span) -> None:
        self.ctx.error(
            scope,
            "bad-arm",
            f"{what} cannot be an arm of a parallel: an arm builds a value",
            span,
            hint="put it inside a sequence arm with the statements it belongs to: { ... }",
        )

    def expand_let(self, stmt: ast.Let, env: Env, scope: Scope) -> None:
        if stmt.name in env.vars:
            self.ctx.error(
                scope,
                "duplicate-let",
                f"'{stmt.name}' is already defined in this scope",
                stmt.span,
            )
            return
        env.vars[stmt.name] = Thunk(stmt.value, env, scope)

    def expand_repeat(
        self,
        stmt: ast.Repeat,
        env: Env,
        scope: Scope,
        items: list[Item],
        position: list[int],
    ) -> None:
        count = evaluate(stmt.count, env, scope)
        if isinstance(count, bool) or not isinstance(count, int):
            self.ctx.error(
                scope,
                "type",
                f"a repeat count must be an int, got {value_type(count)}",
                stmt.count.span,
            )
            return
        if count < 0:
            self.ctx.error(
                scope,
                "negative-repeat",
                f"a repeat count cannot be negative (got {count})",
                stmt.count.span,
            )
            return
        max_nodes = self.ctx.limits.max_nodes
        if count > max_nodes:
            raise Abort(
                Diagnostic(
                    "too-many-nodes",
                    f"repeat {count:,} exceeds the limit of {max_nodes:,} nodes",
                    stmt.count.span,
                    hint="raise the limit with Limits(max_nodes=...) or --max-nodes",
                )
            )
        for i in range(count):
            self.graph.count_step(stmt.span)  # an empty body is work too
            child = env.child({stmt.var: i} if stmt.var else None)
            self.expand(stmt.body, child, scope, items, position)

    def expand_if(
        self,
        stmt: ast.If,
        env: Env,
        scope: Scope,
        items: list[Item],
        position: list[int],
    ) -> None:
        test = evaluate(stmt.test, env, scope)
        if not isinstance(test, bool):
            self.ctx.error(
                scope,
                "type",
                f"an if condition must be a bool, got {value_type(test)}",
                stmt.test.span,
            )
            return
        self.expand(stmt.body if test else stmt.orelse, env.child(), scope, items, position)

    def count_item(self, span: Span) -> None:
        self.item_count += 1
        if self.item_count > self.ctx.limits.max_nodes:
            raise too_many_nodes(self.ctx.limits, span)

    # ------------------------------------------------------------ building

    def name_and_skips(
        self, items: list[Item], scope: Scope
    ) -> tuple[dict[str, Item], dict[str, list[Skip]]]:
        """Index the scope's labelled items (parallel arms' included) and resolve its
        skips, each checked; ``scope.names`` is set to the index."""
        flat = flatten(items)
        by_name = self.index_names([i for i in flat if i.kind != "skip" and i.name], scope)
        scope.names = by_name
        pending = self.collect_skips(flat, scope, by_name)
        self.el.skips.check_skip_labels(pending, by_name, scope)
        return by_name, pending

    def run_items(self, items: list[Item], scope: Scope) -> Val:
        """Build the items in order, inserting each skip's merge after its destination."""
        by_name, pending = self.name_and_skips(items, scope)
        current = scope.input
        top = [i for i in items if i.kind != "skip"]
        copies = _copies_after(top)
        for index, item in enumerate(top):
            before, given = self.graph.node_count, current
            current = self.run_item(item, scope, current, pending, by_name)
            if copies[index] and _same_shape(given, current):
                self.refuse_early(item, self.graph.node_count - before, copies[index])
        return current

    def run_item(
        self,
        item: Item,
        scope: Scope,
        current: Val,
        pending: dict[str, list[Skip]],
        by_name: dict[str, Item],
    ) -> Val:
        """Build one item on ``current`` (or on its ``from`` value), then its skips' merges."""
        self.graph.current_span = item.stmt.span
        if item.source is not None:
            current = self.el.parallels.resolve_ref(item.source, item.env, scope, by_name)
        if item.kind == "call":
            current = self.el.calls.call(item, scope, current)
        elif item.kind == "group":
            current = self.group(item, scope, current)
        else:
            current = self.el.parallels.parallel(item, scope, current, pending, by_name)
        if not item.name:
            return current
        scope.values[item.name] = current
        if item.name in pending and current.node is not None:
            current = self.el.merges.merge_all(pending[item.name], item, scope, current)
            scope.values[item.name] = current
        if item.stmt.label is not None:  # only labelled values can be read from outside
            self.graph.label_value(f"{scope.prefix}{item.name}", current)
        return current

    def refuse_early(self, item: Item, made: int, copies: int) -> None:
        """Stop now if the copies of ``item`` still to come cannot fit under the node limit.

        ``item`` kept its input's shape, and the ``copies`` items after it are
        the same statement with the same variables, so each gets the same
        input and makes the same ``made`` nodes: the total is known without
        building them (``repeat 30000 { res() }`` stops after two, not at the
        limit).
        """
        limits = self.ctx.limits
        if self.graph.node_count + made * copies <= limits.max_nodes:
            return
        total = self.graph.node_count + made * copies
        raise Abort(
            too_many_nodes(limits, item.stmt.span).diagnostic.with_note(
                f"it makes {made:,} nodes and {copies:,} more copies follow: "
                f"at least {total:,} nodes in all"
            )
        )

    def index_names(self, named: list[Item], scope: Scope) -> dict[str, Item]:
        """The items by name; a name used twice in a scope is an error."""
        by_name: dict[str, Item] = {}
        for item in named:
            if item.name in by_name:
                first = by_name[item.name]
                self.ctx.error(
                    scope,
                    "duplicate-name",
                    f"'{item.name}' is already used in this scope (at {first.span})",
                    item.span,
                    hint="give the statement another label",
                )
            else:
                by_name[item.name] = item
        return by_name

    def collect_skips(
        self, items: list[Item], scope: Scope, by_name: dict[str, Item]
    ) -> dict[str, list[Skip]]:
        """The resolved skips of the scope by destination, without repeated ones."""
        pending: dict[str, list[Skip]] = {}
        for item in items:
            if item.kind != "skip":
                continue
            skip = self.el.skips.resolve_skip(item, scope, by_name)
            if skip is None:
                continue
            earlier = pending.setdefault(skip.dst, [])
            twin = next((s for s in earlier if (s.src, s.merge) == (skip.src, skip.merge)), None)
            if twin is not None:
                self.ctx.error(
                    scope,
                    "duplicate-skip",
                    f"this skip repeats the skip at {twin.stmt.span}",
                    skip.stmt.span,
                    hint="a value can be merged into the same destination once",
                )
                continue
            earlier.append(skip)
        return pending

    def group(self, item: Item, scope: Scope, current: Val) -> Val:
        """A group ``name: { ... }``: a scope of its own, sharing the caller's variables."""
        stmt: ast.Group = item.stmt
        info, child = self.child_scope(item, scope, current)
        out = self.body(stmt.body, child)
        info.output = out.node
        return out

    def child_scope(self, item: Item, scope: Scope, current: Val) -> tuple[ScopeInfo, Scope]:
        """The scope of a group (or a labelled parallel) named by ``item``, on ``current``."""
        path = f"{scope.prefix}{item.name}"
        info = self.graph.add_scope(ScopeInfo(path, "group", item.stmt.span, input=current.node))
        child = Scope(
            path,
            current,
            item.env.child(),
            scope.program,
            role=scope.role,
            depth=scope.depth + 1,
            stack=scope.stack,
            context=scope.context,
            skip_edge=scope.skip_edge,
            outer=scope,
        )
        return info, child


def flatten(items: list[Item]) -> list[Item]:
    """The items with those of unlabelled parallels' arms after each parallel, recursively."""
    out: list[Item] = []
    for item in items:
        out.append(item)
        for arm in item.arms or ():
            out.extend(flatten(arm))
    return out


def _copies_after(named: list[Item]) -> list[int]:
    """For each item, how many items right after it are the same statement with the same
    variables (the iterations of a ``repeat`` without a loop variable)."""
    out = [0] * len(named)
    for i in range(len(named) - 2, -1, -1):
        a, b = named[i], named[i + 1]
        if a.kind == b.kind and a.stmt is b.stmt and _same_vars(a.env, b.env):
            out[i] = out[i + 1] + 1
    return out


def _same_vars(a: Env, b: Env) -> bool:
    try:
        return a is b or (a.parent is b.parent and a.vars == b.vars)
    except Exception:  # values that do not compare (thunks compare by identity): not the same
        return False


def _same_shape(before: Val, after: Val) -> bool:
    """The value kept its shape (sizes and their expressions)."""
    if before.shape is None or after.shape is None or len(before.shape) != len(after.shape):
        return False
    return all(
        int(x) == int(y) and expr_of(x) == expr_of(y)
        for x, y in zip(before.shape, after.shape, strict=True)
    )

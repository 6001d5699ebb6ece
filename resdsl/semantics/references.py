"""References: what ``from REF``, ``output NAME: REF`` and ``size=shape(REF)`` name.

A reference is ``in``, a label, or a labelled value inside a labelled child
(``backbone.layer3``, found among the labelled values the graph records). A
label is looked up innermost first: in the scope of the statement, then,
from a group (or a labelled parallel), in the scopes the group is written in,
up to the block instance or model around it. A block instance is closed: it
never reads its caller's labels.
"""

from __future__ import annotations

from resdsl.diagnostics import did_you_mean
from resdsl.semantics.context import (
    POISON,
    ElabPart,
    Item,
    Scope,
    Val,
    closed_block,
    declaring_scope,
)
from resdsl.semantics.expr import Env, EvalError, label_text
from resdsl.source import Span
from resdsl.syntax import ast


class References(ElabPart):
    """Resolves references to values, for ``from``, ``output`` and ``shape(REF)``."""

    # ------------------------------------------------------------ from REF

    def resolve_ref(
        self, ref: ast.Ref, env: Env, scope: Scope, by_name: dict[str, Item] | None = None
    ) -> Val:
        """The value ``ref`` names, seen from ``scope``; POISON (reported) if there is none."""
        if by_name is None:
            by_name = scope.names
        if ref.is_input:
            return scope.input
        try:
            names = [label_text(label, env, scope) for label in ref.labels]
        except EvalError as err:
            self.ctx.report(scope, err)
            return POISON
        first = names[0]
        owner = self.owner_of(first, scope, by_name)
        if owner is None or first not in owner.values:
            self.unknown_first(ref, first, scope, by_name, owner)
            return POISON
        value = owner.values[first]
        path = owner.prefix + first
        for label, name in zip(ref.labels[1:], names[1:], strict=True):
            if value.node is None:
                return POISON  # an earlier error
            inner = f"{path}.{name}"
            found = self.graph.labelled.get(inner)
            if found is None:
                self.unknown_inner(label.span, path, name, scope, owner)
                return POISON
            value, path = found, inner
        return value

    @staticmethod
    def owner_of(name: str, scope: Scope, by_name: dict[str, Item]) -> Scope | None:
        """The scope whose label ``name`` is: this one, or one a group is written in."""
        if name in by_name or name in scope.values:
            return scope
        if scope.closed or scope.outer is None:
            return None
        return declaring_scope(scope.outer, name)

    def unknown_first(
        self,
        ref: ast.Ref,
        name: str,
        scope: Scope,
        by_name: dict[str, Item],
        owner: Scope | None,
    ) -> None:
        span = ref.labels[0].span
        if owner is scope and name in by_name:
            self.ctx.error(
                scope,
                "from-later",
                f"'{name}' comes later in this scope: a statement reads only values built "
                "before it",
                span,
                hint=f"move this statement after '{name}'",
            )
            return
        if owner is not None:
            group = scope.path[len(owner.prefix) :].split(".", 1)[0]
            if group == name:
                self.ctx.error(
                    scope,
                    "from-later",
                    f"'{name}' is the group this statement is in: its value is built only "
                    "when the group ends",
                    span,
                    hint="a statement in a group reads 'in', the group's labels built before "
                    "it, or labels of the scopes around it built before the group",
                )
                return
            where = f"'{owner.path}'" if owner.path else "the model"
            self.ctx.error(
                scope,
                "from-later",
                f"'{name}' comes later in {where}, where group '{group}' is written: a group "
                "reads only values built before it",
                span,
                hint=f"move '{group}' after '{name}'",
            )
            return
        block = closed_block(scope)
        if block is not None and block.outer is not None and declaring_scope(block.outer, name):
            self.ctx.error(
                scope,
                "closed-block",
                f"'{name}' is a label outside block '{block.stack[-1]}': a block reads "
                "only its input and its own labels",
                span,
                hint="give the value to the block as its input (`"
                f"{block.stack[-1]}(...) from {name}`), or write these statements as a group "
                "where they are used: a group also reads the labels of the scopes it is "
                "written in",
            )
            return
        self.ctx.error(
            scope,
            "unknown-label",
            f"'{name}' is not a label in this scope",
            span,
            did_you_mean(name, scope.values)
            or "a reference names 'in' or a label of the same scope, built before it",
        )

    def unknown_inner(
        self, span: Span, path: str, name: str, scope: Scope, owner: Scope | None = None
    ) -> None:
        """``a.b`` where ``a`` holds no labelled value ``b``: say what ``a`` is and holds."""
        shown = path[len((owner or scope).prefix) :]
        if path not in self.graph.scopes:
            self.ctx.error(
                scope,
                "bad-tap",
                f"'{shown}' is a layer: it has no values inside to read",
                span,
                hint="only a labelled group, block instance or parallel has values inside",
            )
            return
        labels = sorted(
            p[len(path) + 1 :]
            for p in self.graph.labelled
            if p.startswith(path + ".") and "." not in p[len(path) + 1 :]
        )
        self.ctx.error(
            scope,
            "bad-tap",
            f"'{shown}' has no labelled value '{name}'",
            span,
            did_you_mean(name, labels)
            or "only labelled statements inside it can be read from outside: give the "
            f"statement a label ({', '.join(labels) or 'it has none'})",
        )

"""Skips: a ``skip`` statement resolved against its scope, with its options and label.

A skip names two values of its scope (or ``in``) and how to merge them; its
options choose the shortcut of an ``add`` (``shortcut=``, ``scale=``,
``gate=``) or the alignment of a ``concat`` (``align=``). The merges
themselves are inserted by :mod:`resdsl.semantics.merges`.
"""

from __future__ import annotations

from dataclasses import dataclass

from resdsl.diagnostics import did_you_mean
from resdsl.ir.names import label_problem, label_syntax_problem
from resdsl.ops.base import OpKind
from resdsl.ops.registry import get_op, names_text, op_names, ops_of_kind
from resdsl.semantics import params
from resdsl.semantics.context import ElabContext, Item, Scope
from resdsl.semantics.expr import BlockRef, Env, EvalError, Value, evaluate, label_text, show
from resdsl.syntax import ast

SKIP_OPTIONS = ("shortcut", "align", "scale", "gate", "drop_path", "dim")

#: The ops an option names by word (``shortcut=`` also takes a block); ``gate=`` takes
#: ``rezero``. Merges, shortcuts and alignments are the op registry's.
_OPTION_KINDS: dict[str, OpKind] = {"shortcut": "shortcut", "align": "align"}
_SHORTCUT_BLOCK = " or a block with parameters (channels: int, stride: int)"


@dataclass
class Skip:
    """A resolved skip: its ends, merge, label and options."""

    stmt: ast.Skip
    src: str  # a name in the scope, or "in"
    dst: str
    merge: str
    label: str
    label_given: bool
    shortcut: str | BlockRef = "identity"
    #: What the shortcut resolved to when the merge was built (recorded on its edges).
    resolved: str = "identity"
    align: str | None = None
    scale: float | None = None
    gate: str | None = None
    #: ``gate=NAME``: a param of the scope that multiplies the residual branch.
    gate_param: str | None = None
    #: ``gate=NAME``'s tensor shape, to check it broadcasts to the branch.
    gate_shape: tuple[int, ...] | None = None
    drop_path: float = 0.0
    dim: int | None = None

    def report_shape(
        self, ctx: ElabContext, scope: Scope, problem: str, hint: str | None = None
    ) -> None:
        """Report that this skip's ends do not fit its merge or its shortcut, on the skip."""
        ctx.error(
            scope,
            "merge-shape",
            f"skip '{self.src}' -> '{self.dst}': {problem}",
            self.stmt.span,
            hint,
        )


class SkipResolver:
    """Resolves the skips of a scope and checks their options and labels."""

    def __init__(self, ctx: ElabContext) -> None:
        self.ctx = ctx

    def resolve_skip(self, item: Item, scope: Scope, by_name: dict[str, Item]) -> Skip | None:
        """The skip of ``item`` with its ends checked, or None (reported)."""
        stmt: ast.Skip = item.stmt
        env = item.env
        try:
            src = "in" if isinstance(stmt.src, ast.InputRef) else label_text(stmt.src, env, scope)
            dst = label_text(stmt.dst, env, scope)
            label = label_text(stmt.label, env, scope) if stmt.label else "shortcut"
        except EvalError as err:
            self.ctx.report(scope, err)
            return None
        ok = True
        syntax = label_syntax_problem(label, stmt.label.quoted) if stmt.label else None
        if syntax is not None and stmt.label is not None:
            self.ctx.error(scope, "bad-label", syntax[0], stmt.label.span, syntax[1])
            ok = False
        problem = label_problem(label, in_model=not scope.path) if stmt.label else None
        if problem and syntax is None and stmt.label is not None:
            self.ctx.error(
                scope,
                "reserved-label",
                f"the skip label '{label}' cannot name a module: {problem}",
                stmt.label.span,
                hint="choose another label",
            )
            ok = False
        if get_op(stmt.merge, "merge") is None:
            self.ctx.error(
                scope,
                "unknown-merge",
                f"unknown merge '{stmt.merge}': expected {names_text('merge', 'or')}",
                stmt.merge_span,
                did_you_mean(stmt.merge, op_names("merge")),
            )
            ok = False
        if not self.check_ends(stmt, src, dst, scope, by_name):
            ok = False
        if ok and src == dst:
            self.ctx.error(
                scope,
                "self-skip",
                f"skip from '{src}' to itself",
                stmt.span,
                hint="a skip carries an earlier value forward into a later one: "
                "its source and destination must be two different values",
            )
            ok = False
        elif ok and src != "in" and by_name[src].position >= by_name[dst].position:
            self.ctx.error(
                scope,
                "backwards-skip",
                f"skip from '{src}' to '{dst}' points backwards",
                stmt.span,
                hint=f"the source must come before the destination: '{src}' is at "
                f"position {by_name[src].position}, '{dst}' at {by_name[dst].position}",
            )
            ok = False
        skip = Skip(stmt, src, dst, stmt.merge, label, stmt.label is not None)
        for opt in stmt.options:
            if not self.skip_option(skip, opt, env, scope):
                ok = False
        return skip if ok else None

    def check_ends(
        self, stmt: ast.Skip, src: str, dst: str, scope: Scope, by_name: dict[str, Item]
    ) -> bool:
        """Both ends are labels of the scope (or ``in`` as the source)."""
        ok = True
        for end, ref in (("source", stmt.src), ("destination", stmt.dst)):
            name = src if end == "source" else dst
            if name == "in":
                if end == "destination":
                    self.ctx.error(scope, "bad-skip", "a skip cannot end at 'in'", ref.span)
                    ok = False
                continue
            if name not in by_name:
                self.ctx.error(
                    scope,
                    "unknown-label",
                    f"skip {end} '{name}' is not a label in this scope",
                    ref.span,
                    did_you_mean(name, by_name)
                    or "a skip connects labels of the same scope "
                    "(the block or group it is written in), or 'in'",
                )
                ok = False
        return ok

    def skip_option(self, skip: Skip, opt: ast.Arg, env: Env, scope: Scope) -> bool:
        """Set one option of ``skip``; False (reported) if it is not valid there."""
        if not self.option_applies(skip, opt, scope):
            return False
        v = opt.value
        if opt.name == "gate" and isinstance(v, ast.Name) and v.id not in _words("gate"):
            found = params.lookup(self.ctx, scope, v, "gate=")
            if found is not None:
                skip.gate_param, skip.gate_shape = found[0], found[1].shape
            return found is not None
        if self.unknown_word(opt, env, scope):
            return False
        v = opt.value
        try:
            if isinstance(v, ast.Name) and v.id in _words(opt.name or ""):
                value: Value = v.id
            else:
                value = evaluate(v, env, scope)
        except EvalError as err:
            self.ctx.report(scope, err)
            return False
        return self.set_option(skip, opt, value, scope)

    def option_applies(self, skip: Skip, opt: ast.Arg, scope: Scope) -> bool:
        """The option is named, known, and meant for this skip's merge."""
        if opt.name is None:
            self.ctx.error(
                scope,
                "skip-option",
                "skip options are named: shortcut=, align=, scale=, gate=, drop_path=, dim=",
                opt.span,
            )
            return False
        if opt.name not in SKIP_OPTIONS:
            self.ctx.error(
                scope,
                "skip-option",
                f"unknown skip option '{opt.name}'",
                opt.span,
                did_you_mean(opt.name, SKIP_OPTIONS)
                or "the options are shortcut=, align=, scale=, gate=, drop_path= and dim=",
            )
            return False
        merge = get_op(skip.merge, "merge")
        if merge is not None and opt.name not in merge.options:
            owner = next(m.name for m in ops_of_kind("merge") if opt.name in m.options)
            self.ctx.error(
                scope,
                "skip-option",
                f"{opt.name}= applies to '{owner}' skips, not '{skip.merge}'",
                opt.span,
            )
            return False
        return True

    def unknown_word(self, opt: ast.Arg, env: Env, scope: Scope) -> bool:
        """A bare name that is no word of the option, no variable and no block (reported)."""
        assert opt.name is not None
        v = opt.value
        blocks = self.ctx.program.blocks
        words = _words(opt.name)
        if not (
            words
            and isinstance(v, ast.Name)
            and v.id not in words
            and not env.lookup(v.id)[0]
            and (opt.name != "shortcut" or v.id not in blocks)
        ):
            return False
        choices = ", ".join(words)
        extra = " or the name of a block with parameters (channels: int, stride: int)"
        self.ctx.error(
            scope,
            "skip-option",
            f"unknown {opt.name} '{v.id}': expected {choices}"
            f"{extra if opt.name == 'shortcut' else ''}",
            v.span,
            did_you_mean(
                v.id,
                [*words, *(blocks if opt.name == "shortcut" else ())],
            ),
        )
        return True

    def set_option(self, skip: Skip, opt: ast.Arg, value: Value, scope: Scope) -> bool:
        """Store an option's evaluated value on ``skip``, if it is one the option takes."""
        assert opt.name is not None
        v = opt.value
        if opt.name == "scale":
            if isinstance(value, bool) or not isinstance(value, int | float):
                self.ctx.error(scope, "skip-option", "scale= takes a number", v.span)
                return False
            skip.scale = float(value)
            return True
        if opt.name == "drop_path":
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
                self.ctx.error(
                    scope,
                    "skip-option",
                    f"drop_path= takes a probability in [0, 1), got {show(value)}",
                    v.span,
                    "the probability of dropping the residual branch of a sample in training",
                )
                return False
            skip.drop_path = float(value)
            return True
        if opt.name == "dim":
            if isinstance(value, bool) or not isinstance(value, int):
                self.ctx.error(
                    scope,
                    "skip-option",
                    f"dim= takes an int, got {show(value)}",
                    v.span,
                    "0 is the first dimension after the batch (channels), -1 the last",
                )
                return False
            skip.dim = value
            return True
        if opt.name == "shortcut" and isinstance(value, BlockRef):
            skip.shortcut = value
            return True
        words = _words(opt.name)
        if not (isinstance(value, str) and value in words):
            choices = ", ".join(words)
            self.ctx.error(
                scope,
                "skip-option",
                f"{opt.name}= must be one of {choices}"
                f"{_SHORTCUT_BLOCK if opt.name == 'shortcut' else ''}, got {show(value)}",
                v.span,
                did_you_mean(str(value), words),
            )
            return False
        setattr(skip, opt.name, value)
        return True

    def check_skip_labels(
        self, pending: dict[str, list[Skip]], by_name: dict[str, Item], scope: Scope
    ) -> None:
        """A skip's label names what it builds; it may not clash with another name.

        An ``add`` skip builds nodes under its label when it has a shortcut other
        than the identity (a projection, zero-padding, a user block) or a gate.
        A label written by the user may never be a statement's name; the default
        label ``shortcut`` clashes only when the skip builds something.
        """
        owners: dict[str, Skip] = {}
        for skips in pending.values():
            for s in skips:
                builds = s.shortcut != "identity" or s.gate is not None  # only add takes them
                if s.label in by_name and (s.label_given or builds):
                    self.ctx.error(
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
                    self.ctx.error(
                        scope,
                        "duplicate-name",
                        f"two skips in this scope are named '{s.label}'",
                        s.stmt.span,
                        hint="give each skip its own label: NAME: skip ...",
                    )
                owners[s.label] = s


def _words(option: str) -> list[str]:
    """The words an option takes: the registered shortcuts or alignments, or ``rezero``."""
    kind = _OPTION_KINDS.get(option)
    if kind is not None:
        return op_names(kind)
    return ["rezero"] if option == "gate" else []

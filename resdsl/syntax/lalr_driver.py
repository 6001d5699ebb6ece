"""A fast driver for Lark's LALR(1) tables: what keeps a parse near a millisecond.

Lark's generic parser loop, its lexer and its tree-builder callbacks cost about
three times what this driver does on the bundled specs, which matters where a
spec is checked in a few milliseconds (``benchmarks/bench_check.py``). The
driver runs the very tables Lark built (or loaded), with the same terminals,
priorities and transformer callbacks, so it accepts exactly what Lark accepts
and builds the same AST; it does not explain errors. At the first thing that is
not a clean parse it returns :data:`FAIL`, and the caller parses the text again
with Lark, whose exceptions carry what a good syntax error needs.

It reads Lark internals (the parse table, the rule callbacks and their child
filters), which is why ``pyproject.toml`` pins Lark's minor version; the test
suite checks it against Lark's own parser on thousands of mutated specs.

Two shortcuts make it fast. Whitespace is matched by the same regex as the
token after it. A chain of reductions by rules like ``?sum: term``, which leave
the value as it is, depends only on the two states on top of the stack and the
next token: its outcome is computed once and remembered.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from typing import Any, Final

from lark import Lark

from resdsl.source import SourceFile
from resdsl.syntax.brackets import BODY, CLOSE, MAX_NESTING, OPEN, SEPARATOR, real_semicolon

__all__ = ["FAIL", "Driver"]

FAIL: Final = object()
"""What :meth:`Driver.parse` returns for a text that is not a clean parse."""

# Roles of tokens in the lexer: what the bracket rules do with them.
_PLAIN, _OPENER, _CLOSER, _SEPARATOR = 0, 1, 2, 3

# An action of the driver's table, told apart by its class in the hot loop:
# `int`, the next state to shift; `str`, the name of a rule that leaves the value
# as it is (a unit reduction); `tuple`, (rule name, number of children, callback)
# to reduce. Typed `Any` there, since mypy cannot follow `x.__class__ is int`.
_Action = int | str | tuple[str, int, Callable[[list[Any]], Any]]


_END: Final = "$END"  # Lark's name for the end of the input


class _Tok:
    """A token of the fast driver: the attributes of a Lark token, without str."""

    __slots__ = (
        "column",
        "end_column",
        "end_line",
        "end_pos",
        "line",
        "start_pos",
        "type",
        "value",
    )

    def __init__(self, kind: str, value: str, start: int, end: int, line: int, column: int) -> None:
        self.type = kind
        self.value = value
        self.start_pos = start
        self.end_pos = end
        self.line = line
        self.column = column
        self.end_line = line
        self.end_column = column + len(value)

    def __str__(self) -> str:
        return self.value

    def __repr__(self) -> str:
        return f"_Tok({self.type!r}, {self.value!r})"


class Driver:
    """Runs Lark's LALR tables with a contextual lexer, inline and fast.

    ``builder`` is the class of the inline transformer given to Lark: callbacks
    that are its methods are called directly, without Lark's tree builder.
    """

    def __init__(self, lark: Lark, builder: type) -> None:
        from lark.parsers.lalr_analysis import Shift

        table = lark.parser.parser._parse_table
        callbacks = lark._callbacks
        reducers = _reducers(callbacks, builder)
        self.start_states: dict[str, int] = dict(table.start_states)
        self.end_states: dict[str, int] = dict(table.end_states)
        self.actions: dict[int, dict[str, Any]] = {}
        for state, row in table.states.items():
            # Lark names symbols with Token objects: plain str keys are faster.
            self.actions[state] = {
                str(symbol): arg if action is Shift else _reduction(arg, reducers)
                for symbol, (action, arg) in row.items()
            }
        self.units: dict[tuple[int, int, str], int] = {}
        terminals = sorted(
            lark.terminals,
            key=lambda t: (-t.priority, -t.pattern.max_width, -len(t.pattern.value), t.name),
        )
        ignore = [t for t in terminals if t.name in lark.lexer_conf.ignore]
        assert len(ignore) == 1, "the driver expects one %ignore terminal"
        blank = ignore[0].pattern.to_regexp()
        self.blank = re.compile(blank)
        if any(row.get(_END).__class__ is int for row in self.actions.values()):
            # The loop reads `$END` again and again once the text is used up: it
            # may reduce on it, or stop, but never shift it.
            raise ValueError("the driver expects tables that never shift $END")
        kinds = _token_kinds(lark, terminals, callbacks)
        self.scanners = _Scanners(table.states, terminals, blank, kinds)

    def parse(self, source: SourceFile, start: str, pos: int, end: int) -> Any:
        """Parse ``source.text[pos:end]`` from rule ``start``; :data:`FAIL` on any error.

        One loop lexes a token, with the terminals that the parser's state
        accepts (as Lark's contextual lexer), then makes every reduction it
        causes and shifts it. The end of the text is the token ``$END``.
        """
        text = source.text
        line, column = source.position(pos)
        line_start = pos - column + 1
        actions, units, scanners = self.actions, self.units, self.scanners
        end_state = self.end_states[start]
        state = self.start_states[start]
        state_stack = [state]
        value_stack: list[Any] = []
        brackets: list[str] = []
        while True:
            if pos >= end:
                kind, value = _END, None
            elif (m := (scanner := scanners[state])[0](text, pos, end)) is not None:
                group: Any = m.lastindex  # the terminal's group, which closes last
                kind, role, make, newlines = scanner[1][group]
                begin, pos = m.span(group)
                if make is None:  # a token no rule keeps: only its lines count
                    value = kind
                    if newlines and "\n" in (chunk := m.group(group)):
                        line += chunk.count("\n")
                        line_start = begin + chunk.rindex("\n") + 1
                else:
                    chunk = m.group(group)
                    value = tok = _Tok(kind, chunk, begin, pos, line, begin - line_start + 1)
                    if newlines and "\n" in chunk:
                        line += chunk.count("\n")
                        line_start = begin + chunk.rindex("\n") + 1
                        tok.end_line, tok.end_column = line, pos - line_start + 1
                    if make is not True:
                        value = make(tok)
                if role:  # a bracket or a separator
                    if role == _SEPARATOR:
                        if brackets and brackets[-1] != BODY:
                            if real_semicolon(m.group(group)):
                                return FAIL
                            continue  # a separator inside (...) or [...] is dropped
                    elif role == _OPENER:
                        brackets.append(kind)
                        if len(brackets) > MAX_NESTING:
                            return FAIL
                    elif not brackets or brackets.pop() != CLOSE[kind]:
                        return FAIL
            elif self._blank(text, pos, end):
                kind, value = _END, None
            else:
                return FAIL
            while True:  # every reduction the token causes, then its shift
                action = actions[state].get(kind)
                if action is None:
                    return value_stack[-1] if kind is _END and state == end_state else FAIL
                cls = action.__class__
                if cls is int:
                    state = action
                    state_stack.append(state)
                    value_stack.append(value)
                    break
                if cls is str:
                    below = state_stack[-2]
                    after = units.get((below, state, kind))
                    if after is None:
                        after = units[below, state, kind] = self._unit_chain(below, state, kind)
                    state = state_stack[-1] = after
                    continue
                origin, size, callback = action
                if size:
                    children = value_stack[-size:]
                    del value_stack[-size:]
                    del state_stack[-size:]
                else:
                    children = []
                value_stack.append(callback(children))
                state = actions[state_stack[-1]][origin]
                state_stack.append(state)

    def _blank(self, text: str, pos: int, end: int) -> bool:
        """Whether only blanks are left: the scanners match a token, not blanks alone."""
        blank = self.blank.match(text, pos, end)
        return blank is not None and blank.end() == end

    def _unit_chain(self, below: int, state: int, kind: str) -> int:
        """The top state after every value-preserving reduction possible on ``kind``."""
        actions = self.actions
        action = actions[state].get(kind)
        while action.__class__ is str:
            state = actions[below][action]
            action = actions[state].get(kind)
        return state


def _reduction(rule: Any, reducers: dict[Any, Any]) -> _Action:
    """The driver's action for reducing by ``rule``: its name alone for a unit rule."""
    first = rule.expansion[0] if len(rule.expansion) == 1 else None
    if (
        rule.options.expand1
        and not rule.alias
        and first is not None
        and not first.name.startswith("_")
        and not getattr(first, "filter_out", False)
    ):
        return str(rule.origin.name)
    return (str(rule.origin.name), len(rule.expansion), reducers[rule])


def _token_kinds(lark: Lark, terminals: list[Any], callbacks: dict[Any, Any]) -> dict[str, Any]:
    """How the driver treats each kind of token: (role, value, newlines?).

    The value pushed for a token is its kind's name when no rule keeps it
    (``,`` ``:`` ``=``...: Lark's callbacks drop it unseen); else ``True`` for
    the token itself, or the callback (``NUMBER``...) that makes it a value.
    """
    kept = {
        str(sym.name)
        for rule in lark.rules
        for sym in rule.expansion
        if sym.is_term and (rule.options.keep_all_tokens or not getattr(sym, "filter_out", False))
    }
    token_callbacks = {str(k): v for k, v in callbacks.items() if isinstance(k, str)}
    kinds: dict[str, Any] = {}
    for t in terminals:
        name = str(t.name)
        if name == SEPARATOR:
            role = _SEPARATOR
        elif name in OPEN:
            role = _OPENER
        elif name in CLOSE:
            role = _CLOSER
        else:
            role = _PLAIN
        make = token_callbacks.get(name, True) if name in kept else None
        newlines = any(s in t.pattern.to_regexp() for s in ("\n", "\\n", "\\s", "[^"))
        kinds[name] = (role, make, newlines)
    return kinds


def _reducers(callbacks: dict[Any, Any], builder_type: type) -> dict[Any, Any]:
    """Lark's callbacks for the rules, or equivalent faster ones where it is sure.

    Lark wraps each transformer method in a filter that drops anonymous tokens
    and splices in the children of ``_rule`` helpers, which it builds as
    ``Tree`` objects just for that. Here a helper's value is the plain list of
    its children and each filter is a closure over its rule's fixed indices.
    All or nothing: if any callback is not one of the shapes understood here,
    Lark's own are used, since a helper's value must be what its parent expects.
    """
    from lark import Tree
    from lark.parse_tree_builder import ChildFilterLALR_NoPlaceholders, ExpandSingleChild

    out: dict[Any, Any] = {}
    for rule, callback in callbacks.items():
        if isinstance(rule, str):
            continue  # a terminal's callback, called on its tokens
        to_include: list[tuple[int, bool]] | None = None
        inner = callback
        if type(inner) is ChildFilterLALR_NoPlaceholders:
            to_include = list(inner.to_include)
            inner = inner.node_builder
        single = type(inner) is ExpandSingleChild
        if single:
            inner = inner.node_builder
        builder: Callable[[list[Any]], Any] | None
        size = len(rule.expansion)
        kept = [i for i, _ in to_include] if to_include is not None else list(range(size))
        expands = to_include is not None and any(expand for _, expand in to_include)
        tree = (
            isinstance(inner, partial)
            and inner.func is Tree
            and len(inner.args) == 1
            and not inner.keywords
        )
        if tree and str(inner.args[0]).startswith("_") and str(rule.origin.name).startswith("_"):
            builder = None  # a helper: its value is the list of its children
        elif tree and single and len(kept) == 1 and not expands:
            i = kept[0]  # `?rule: x`: the one child, never a Tree
            out[rule] = lambda children, i=i: children[i]
            continue
        elif getattr(inner, "__self__", None).__class__ is builder_type:
            builder = inner
        else:
            return dict(callbacks)
        out[rule] = _reducer(size, to_include, single, builder)
    return out


def _spliced(to_include: list[tuple[int, bool]], children: list[Any]) -> list[Any]:
    """The children a rule keeps, with the lists of spliced helpers expanded in place."""
    filtered: list[Any] = []
    for i, expand in to_include:
        if not expand:
            filtered.append(children[i])
        elif filtered:
            filtered += children[i]
        else:  # left recursion: extend the helper's own list, in linear time
            filtered = children[i]
    return filtered


def _reducer(
    size: int,
    to_include: list[tuple[int, bool]] | None,
    single: bool,
    builder: Callable[[list[Any]], Any] | None,
) -> Callable[[list[Any]], Any]:
    """The callback of one rule: filter ``children``, then build (see `_reducers`)."""
    if to_include is None:
        to_include = [(i, False) for i in range(size)]
    expands = any(expand for _, expand in to_include)
    keep = [i for i, _ in to_include]
    if single or (expands and builder is not None):
        include = to_include

        def general(children: list[Any]) -> Any:
            filtered = _spliced(include, children)
            if single and len(filtered) == 1:
                return filtered[0]
            return filtered if builder is None else builder(filtered)

        return general
    if expands:
        # A helper that splices another; the most common: `__args_star: __args_star "," arg`.
        return partial(_spliced, to_include)
    if keep == list(range(size)):
        return (lambda children: children) if builder is None else builder
    if builder is None:
        return lambda children: [children[i] for i in keep]
    build = builder
    return lambda children: build([children[i] for i in keep])


# A state's lexer: its regex's match method, and what each group index of the
# regex is (kind, role, value, newlines?), for the terminals' outer groups.
_Scanner = tuple[Callable[[str, int, int], "re.Match[str] | None"], list[Any]]


class _Scanners(dict[int, _Scanner]):
    """The lexer's regex for each parser state, compiled on first use.

    Like Lark's contextual lexer, a state's regex only matches the terminals
    that the state accepts (and the separator, always); each first skips
    blanks, atomically since blanks never hold a token. A match is read by
    group index, faster than by name.
    """

    def __init__(
        self,
        states: dict[int, dict[Any, Any]],
        terminals: list[Any],
        blank: str,
        kinds: dict[str, Any],
    ) -> None:
        super().__init__()
        self.states = states
        self.terminals = terminals
        self.blank = blank
        self.kinds = kinds
        self.by_accepts: dict[frozenset[str], _Scanner] = {}

    def __missing__(self, state: int) -> _Scanner:
        accepts = frozenset(str(s) for s in self.states[state] if s.isupper()) | {SEPARATOR}
        scanner = self.by_accepts.get(accepts)
        if scanner is None:
            alternatives = "|".join(
                f"(?P<{t.name}>{t.pattern.to_regexp()})"
                for t in self.terminals
                if t.name in accepts
            )
            pattern = re.compile(f"(?>{self.blank})?(?:{alternatives})")
            groups: list[Any] = [None] * (pattern.groups + 1)
            for name, index in pattern.groupindex.items():
                groups[index] = (name, *self.kinds[name])
            scanner = self.by_accepts[accepts] = (pattern.match, groups)
        self[state] = scanner
        return scanner

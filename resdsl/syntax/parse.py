"""The parser: ``.res`` text to the AST of :mod:`resdsl.syntax.ast`.

The grammar lives in ``grammars/resdsl.lark``; its LALR(1) tables for a
contextual lexer ship with the package (:mod:`resdsl.syntax.tables`), so no run
compiles them. An *inline* transformer, :class:`_Builder`, turns each reduction
directly into an AST node, so no parse tree is ever built. A fast driver of
those tables (:mod:`resdsl.syntax.lalr_driver`) parses every input first,
because Lark's generic loop is about three times slower; Lark's own parser runs
only when the driver rejects the text, to explain the error.

Syntax errors never escape as Lark exceptions: each becomes a
:class:`~resdsl.diagnostics.Diagnostic` with code ``syntax``, a span on the
offending token, a message saying what was found and what was expected, and a
hint where the mistake is a known one. After an error the parser goes on at the
next line where it safely can, and problems that the grammar lets through but
that are certainly wrong (an unknown parameter type, a positional argument
after a keyword one, ``input`` not first in a model) are collected while
parsing, so one run reports all of them.

>>> from resdsl.source import SourceFile
>>> spec = parse(SourceFile("net.res", "block b(w: int) { conv1: conv(w, 3) }"))
>>> stmt = spec.definitions[0].body[0]
>>> (stmt.label.literal, stmt.name, stmt.args[0].value.id, str(stmt.span))
('conv1', 'conv', 'w', 'net.res:1:26')
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final, TypeVar, cast

from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lark.lark import PostLex

from resdsl.diagnostics import Collector, Diagnostic, ResdslError, did_you_mean
from resdsl.ops.registry import names_text
from resdsl.source import SourceFile, Span
from resdsl.syntax import ast, tables
from resdsl.syntax.brackets import (
    BODY,
    BRACKET_TEXT,
    CLOSE,
    MAX_NESTING,
    OPEN,
    SEPARATOR,
    bracket_problem,
    real_semicolon,
    where_opened,
)
from resdsl.syntax.lalr_driver import FAIL, Driver
from resdsl.syntax.tables import grammar_path

__all__ = [
    "FUNCTIONS",
    "KEYWORDS",
    "MAX_EXPR_DEPTH",
    "MAX_NESTING",
    "PARAM_TYPES",
    "DriverMismatch",
    "grammar_path",
    "parse",
    "parse_expr",
]

KEYWORDS: Final = frozenset(
    {
        *("use", "block", "model", "input", "skip", "repeat", "as", "if", "else", "let"),
        *("param", "in", "true", "false", "and", "or", "not", "from", "parallel", "output"),
    }
)
"""Reserved words: none of them can name a label, a parameter or a variable."""

PARAM_TYPES: Final = ("int", "float", "bool", "str", "list", "block")
"""The types a parameter may declare, in the order the docs list them."""

FUNCTIONS: Final = ("len", "min", "max", "channels", "shape")
"""The only functions an expression can call."""

PARAM_INIT_FUNCTION: Final = "normal"
"""``normal(std)``: parsed anywhere, valid only as a ``param``'s initial value."""

MAX_EXPR_DEPTH: Final = 64
"""Operators nested in one expression (or ``else if`` chained) before it is rejected."""

MAX_INT_LITERAL: Final = 2**63 - 1
"""The largest integer a spec may write: numbers are 64-bit, as computed ones are."""

_MAX_SYNTAX_ERRORS: Final = 20
#: Characters parsed again, at most, to find the errors after the first one.
_RECOVERY_BUDGET: Final = 200_000
_REF_FUNCTIONS: Final = frozenset({"channels", "shape"})


# ---------------------------------------------------------------- public API


def parse(source: SourceFile) -> ast.SpecFile:
    """Parse one ``.res`` file into its AST.

    Raises :class:`ResdslError` for every problem found, syntax errors first by
    position; never any other exception, whatever the text.

    >>> from resdsl.source import SourceFile
    >>> spec = parse(SourceFile("m.res", 'use "blocks.res"\\nmodel m = net(depth=2)'))
    >>> spec.uses[0].path, spec.definitions[0].target
    ('blocks.res', 'net')
    """
    result = _run(source, "start")
    assert isinstance(result, ast.SpecFile)
    return result


def parse_expr(text: str, name: str = "<command line>") -> ast.Expr:
    """Parse a single expression, such as the value of ``-p depths=[2, 2, 2, 2]``.

    >>> parse_expr("[2, 2] + [3]").op
    '+'
    >>> parse_expr("-2 ** 2").operand.op
    '**'
    """
    result: ast.Expr = _run(SourceFile(name, text), "expr_start")
    return result


class DriverMismatch(AssertionError):
    """The fast driver and Lark's parser disagree on a text: a bug in resdsl.

    Raised only in strict mode (:func:`resdsl.syntax.tables.strict`, which the
    test suite turns on); otherwise Lark's result is used, with a warning.
    """


# ---------------------------------------------------------------- the parser
#
# Two drivers run the same tables with the same transformer:
#
# - the fast driver parses every input first. It gives up, returning `FAIL`,
#   at the first thing that is not a clean parse.
# - Lark's own parser then parses the same input again: it is the reference,
#   and its exceptions carry what a good syntax error needs (state, token,
#   expected terminals). A failed parse is the only one that pays for both.
#
# A text the fast driver rejects must be one Lark rejects, and the driver must
# not crash: either is a bug, which strict mode raises as DriverMismatch.


class _Abort(Exception):
    """Raised by the post-lexer when the input cannot go on (bad bracket, too deep)."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


@dataclass(eq=False)
class _Context:
    """The state of one parse, reachable from the transformer and the post-lexer."""

    source: SourceFile
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # Brackets open right now, innermost last.
    open: list[Any] = field(default_factory=list)
    # Depth of each composite expression built so far, by id(); the node is kept
    # in the value so that no id() is reused during the parse.
    depth: dict[int, tuple[int, object]] = field(default_factory=dict)
    too_deep: bool = False
    # Parsing a copy with lines blanked out after an error: report only what
    # the blanking cannot have caused.
    recovering: bool = False
    # Parentheses around an expression, by id(): (open, close, the expression).
    parens: dict[int, tuple[Any, Any, object]] = field(default_factory=dict)
    # Whether the fast driver tries first (the tests compare with it off).
    fast: bool = True

    def span(self, start: int, end: int) -> Span:
        return self.source.span(start, end)

    def error(
        self, message: str, span: Span, hint: str | None = None, code: str = "syntax"
    ) -> None:
        self.diagnostics.append(Diagnostic(code, message, span, hint))


_CTX: ContextVar[_Context] = ContextVar("resdsl_parse_context")
_FAIL: Final = FAIL


class _Brackets(PostLex):
    """Lark's post-lexer: drops newlines inside ``(...)`` and ``[...]``.

    It also stops at a closing bracket that matches no opening one, and at input
    nested deeper than :data:`MAX_NESTING`. The fast driver does the same inline.
    """

    always_accept = (SEPARATOR,)

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        ctx = _CTX.get()
        stack = ctx.open
        for tok in stream:
            kind = tok.type
            if kind == SEPARATOR:
                if stack and stack[-1].type != BODY and not real_semicolon(tok.value):
                    continue
            elif kind in OPEN:
                stack.append(tok)
                if len(stack) > MAX_NESTING:
                    raise _Abort(
                        Diagnostic(
                            "syntax",
                            f"too deeply nested: more than {MAX_NESTING} brackets are open here",
                            _tok_span(ctx, tok),
                            "split the expression or the body with `let` or a block",
                        )
                    )
            elif kind in CLOSE:
                problem = bracket_problem(stack, tok)
                if problem is not None:
                    raise _Abort(Diagnostic("syntax", problem, _tok_span(ctx, tok)))
                stack.pop()
            yield tok


def _tok_span(ctx: _Context, tok: Any) -> Span:
    start = tok.start_pos
    if tok.type == "ELSE":  # it carries the newlines before `else`
        start = tok.end_pos - 4
    return ctx.source.span(start, tok.end_pos)


def _runtime() -> dict[str, Any]:
    """The objects of this process that Lark's parser is given: post-lexer, transformer."""
    return {"postlex": _Brackets(), "transformer": _Builder()}


@lru_cache(maxsize=1)
def _lark() -> Lark:
    """The reference parser, loaded on first use and shared by the whole process."""
    return tables.load_lark(**_runtime())


@lru_cache(maxsize=1)
def _driver() -> Driver:
    return Driver(_lark(), _Builder)


def parser_tables_text() -> str:
    """What the shipped table file must hold: the tables built now from the grammar.

    ``scripts/make_parser_tables.py`` writes it; a test compares it with the file.
    """
    grammar = grammar_path().read_text(encoding="utf-8")
    return tables.tables_text(tables.build_lark(grammar, **_runtime()), grammar)


def _run(source: SourceFile, start: str, fast: bool = True) -> Any:
    """Parse ``source`` from rule ``start``; raise ResdslError with every problem.

    After a syntax error, the line that holds it is blanked out and the text is
    parsed again, to report the errors further on in the same run. This stops at
    an error whose line does not stand alone (it opens or closes a bracket, or
    continues a statement from the line before), since blanking it would only
    make up errors. ``fast=False`` parses with Lark alone (for the tests).
    """
    collector = Collector()
    text = source.text
    resume = 0
    # Each attempt parses the whole text again: a long text gets fewer of them.
    attempts = max(1, min(_MAX_SYNTAX_ERRORS, _RECOVERY_BUDGET // max(1, len(text))))
    for attempt in range(attempts):
        current = source if attempt == 0 else SourceFile(source.name, text)
        result, error, ctx = _attempt(current, start, recovering=attempt > 0, fast=fast)
        if attempt == 0 and error is None and not ctx.diagnostics:
            return result
        _collect(collector, ctx.diagnostics, error, source, text, resume)
        if error is None or error.span is None:
            break
        blank = _blankable_line(text, error.span.start, ctx.open)
        if blank is None:
            break
        a, resume = blank
        text = text[:a] + " " * (resume - a) + text[resume:]
    raise ResdslError(_sorted(collector.diagnostics))


def _collect(
    collector: Collector,
    found: Sequence[Diagnostic],
    error: Diagnostic | None,
    source: SourceFile,
    text: str,
    resume: int,
) -> None:
    """Add one attempt's diagnostics, in ``source``, skipping the blanked-out part."""
    end = len(text.rstrip())
    for d in found:
        if d is error and d.span is not None and d.span.start >= end:
            # The end of the file, reached early since the end is blanked out.
            at = len(source.text.rstrip())
            d = Diagnostic(d.code, d.message, source.span(at, at), d.hint, d.notes)
        if d.span is None or d.span.start >= resume:
            collector.add(_moved(d, source))


def _attempt(
    source: SourceFile, start: str, recovering: bool, fast: bool
) -> tuple[Any, Diagnostic | None, _Context]:
    """One parse: (result, the syntax error if any, the context of the parse that counts).

    The context holds every diagnostic found and the brackets still open at the error.
    """
    ctx = _Context(source, recovering=recovering, fast=fast)
    token = _CTX.set(ctx)
    try:
        result = _fast_parse(ctx, start, 0, len(source.text))
        if result is not FAIL:
            return result, None, ctx
        # Lark parses again from scratch: what the driver's callbacks found is dropped.
        ctx = _Context(source, recovering=recovering, fast=ctx.fast)
        _CTX.set(ctx)
        result, error = _reference_parse(ctx, start)
        if error is not None:
            ctx.diagnostics.append(error)
        return result, error, ctx
    except Exception as exc:  # a bug in resdsl, not in the spec: still no traceback
        if tables.strict():
            raise
        ctx.error(
            f"internal error in the parser ({type(exc).__name__}: {exc})",
            source.span(0, 0),
            "this is a bug in resdsl; please report it with the spec that caused it",
            code="internal",
        )
        return None, None, ctx
    finally:
        _CTX.reset(token)


def _reference_parse(ctx: _Context, start: str) -> tuple[Any, Diagnostic | None]:
    """Lark's parse of the whole text: (result, None), or (None, the syntax error)."""
    source = ctx.source
    try:
        result = _lark().parse(source.text, start=start)
    except UnexpectedInput as exc:
        return None, _syntax_error(exc, ctx, start)
    except _Abort as exc:
        return None, exc.diagnostic
    except RecursionError:
        ctx.error("the input is nested too deeply to parse", source.span(0, 0))
        return None, None
    _check_rejection(ctx, start)
    return result, None


def _fast_parse(ctx: _Context, start: str, pos: int, end: int) -> Any:
    """The fast driver's parse of ``ctx.source.text[pos:end]``, or FAIL if it rejects it.

    A crash of the driver is a bug: strict mode raises it; otherwise Lark
    parses the text instead (``ctx.fast`` turns off), with a warning asking
    for a report.
    """
    if not ctx.fast:
        return FAIL
    try:
        return _driver().parse(ctx.source, start, pos, end)
    except Exception as exc:
        if tables.strict():
            raise DriverMismatch(f"the fast driver crashed on {ctx.source.name}: {exc!r}") from exc
        warnings.warn(
            f"resdsl's fast parser failed on {ctx.source.name} ({exc!r}); parsed with Lark "
            "instead. This is a bug in resdsl: please report it with the spec.",
            RuntimeWarning,
            stacklevel=2,
        )
        ctx.fast = False
        return FAIL


def _check_rejection(ctx: _Context, start: str) -> None:
    """Lark accepted a text after the fast driver rejected it: a driver bug."""
    if not ctx.fast:
        return
    message = f"the fast driver rejected {ctx.source.name}, which Lark's parser accepts ({start})"
    if tables.strict():
        raise DriverMismatch(message)
    warnings.warn(f"resdsl: {message}; please report it", RuntimeWarning, stacklevel=2)


def _moved(d: Diagnostic, source: SourceFile) -> Diagnostic:
    """The diagnostic with its span in ``source`` (the same offsets, unblanked text)."""
    if d.span is None or d.span.source is source:
        return d
    span = source.span(d.span.start, d.span.end)
    return Diagnostic(d.code, d.message, span, d.hint, d.notes, d.severity)


_CONTINUED: Final = re.compile(r"(?:\s|#[^\n]*)*(?:\{|else(?![A-Za-z0-9_]))")
_BLANK_SCAN: Final = re.compile(r'"(?:[^"\\\n]|\\.)*"?|#[^\n]*|[()\[\]{}]')


def _blankable_line(text: str, pos: int, still_open: Sequence[Any]) -> tuple[int, int] | None:
    """The line holding offset ``pos`` if it stands alone as statements, else None."""
    if pos >= len(text.rstrip()):
        return None  # the end of the file: nothing comes after
    a = text.rfind("\n", 0, pos) + 1
    b = text.find("\n", pos)
    b = len(text) if b < 0 else b
    if any(o.type != BODY and o.start_pos < a for o in still_open):
        return None  # the line continues a statement begun above
    if _CONTINUED.match(text, b):
        return None  # the next line goes on with the construct: `{` or `else`
    stack: list[str] = []
    for m in _BLANK_SCAN.finditer(text, a, b):
        c = m.group()
        if c in "([{":
            stack.append(c)
        elif c in ")]}" and (not stack or "([{"[")]}".index(c)] != stack.pop()):
            return None
    return None if stack else (a, b)


def _parse_slice(outer: _Context, start: int, end: int) -> ast.Expr:
    """Parse the expression between two offsets of the current file (a label's ``{...}``)."""
    ctx = _Context(outer.source, outer.diagnostics, depth=outer.depth, fast=outer.fast)
    token = _CTX.set(ctx)
    found = len(outer.diagnostics)
    try:
        result: Any = _fast_parse(ctx, "expr_start", start, end)
        if result is not FAIL:
            return cast(ast.Expr, result)
        # Lark parses again from scratch: what the driver's callbacks found is dropped.
        del outer.diagnostics[found:]
        ctx = _Context(outer.source, outer.diagnostics, depth=outer.depth, fast=ctx.fast)
        _CTX.set(ctx)
        try:
            # Blank out what precedes, keeping newlines: positions stay those of the file.
            text = outer.source.text
            padded = re.sub(r"[^\n]", " ", text[:start]) + text[start:end]
            result = _lark().parse(padded, start="expr_start")
        except UnexpectedInput as exc:
            outer.diagnostics.append(_syntax_error(exc, ctx, "expr_start", end=end))
        except _Abort as exc:
            outer.diagnostics.append(exc.diagnostic)
        else:
            _check_rejection(ctx, "expr_start")
            return cast(ast.Expr, result)
    finally:
        _CTX.reset(token)
    return ast.Str("", outer.span(start, end))


def _sorted(diagnostics: Sequence[Diagnostic]) -> list[Diagnostic]:
    return sorted(diagnostics, key=lambda d: d.span.start if d.span is not None else -1)


# ---------------------------------------------------------------- spans, fast
#
# A parse makes a span for every node. `SourceFile.span` finds lines by bisection
# and the frozen dataclass's __init__ is slow; tokens already know their lines,
# so spans are assembled from them directly (an equal Span, built faster).


def _span_factory() -> Any:
    probe = object.__new__(Span)
    if not hasattr(probe, "__dict__"):  # pragma: no cover - if Span ever gets slots
        return Span
    new = object.__new__

    def make(
        source: SourceFile,
        start: int,
        end: int,
        line: int,
        column: int,
        end_line: int,
        end_column: int,
    ) -> Span:
        span = new(Span)
        d = span.__dict__
        d["source"] = source
        d["start"] = start
        d["end"] = end
        d["line"] = line
        d["column"] = column
        d["end_line"] = end_line
        d["end_column"] = end_column
        return span

    return make


_mkspan: Callable[[SourceFile, int, int, int, int, int, int], Span] = _span_factory()


def _tspan(ctx: _Context, a: Any) -> Span:
    """The span of one token."""
    return _mkspan(ctx.source, a.start_pos, a.end_pos, a.line, a.column, a.end_line, a.end_column)


def _tt(ctx: _Context, a: Any, b: Any) -> Span:
    """From token ``a`` to token ``b``."""
    return _mkspan(ctx.source, a.start_pos, b.end_pos, a.line, a.column, b.end_line, b.end_column)


# A node's span excludes the parentheses around it, as in Python's ast; the
# span of a construct around it includes them (`ctx.parens` remembers them).


def _tn(ctx: _Context, a: Any, b: Any) -> Span:
    """From token ``a`` to the end of node ``b``, its parentheses included."""
    if ctx.parens and id(b) in ctx.parens:
        return _tt(ctx, a, ctx.parens[id(b)][1])
    e = b.span
    return _mkspan(ctx.source, a.start_pos, e.end, a.line, a.column, e.end_line, e.end_column)


def _nt(ctx: _Context, a: Any, b: Any) -> Span:
    """From the start of node ``a``, its parentheses included, to token ``b``."""
    if ctx.parens and id(a) in ctx.parens:
        return _tt(ctx, ctx.parens[id(a)][0], b)
    s = a.span
    return _mkspan(ctx.source, s.start, b.end_pos, s.line, s.column, b.end_line, b.end_column)


def _nn(ctx: _Context, a: Any, b: Any) -> Span:
    """From node ``a`` to node ``b``, their parentheses included."""
    if ctx.parens and (id(a) in ctx.parens or id(b) in ctx.parens):
        first = ctx.parens[id(a)][0] if id(a) in ctx.parens else None
        last = ctx.parens[id(b)][1] if id(b) in ctx.parens else None
        s, e = a.span, b.span
        if first is not None:
            s = _tspan(ctx, first)
        if last is not None:
            e = _tspan(ctx, last)
        return _mkspan(ctx.source, s.start, e.end, s.line, s.column, e.end_line, e.end_column)
    s, e = a.span, b.span
    return _mkspan(ctx.source, s.start, e.end, s.line, s.column, e.end_line, e.end_column)


def _outer(ctx: _Context, node: Any) -> Span:
    """The span of ``node`` with the parentheses around it."""
    if ctx.parens and id(node) in ctx.parens:
        first, last, _ = ctx.parens[id(node)]
        return _tt(ctx, first, last)
    return node.span  # type: ignore[no-any-return]


# ---------------------------------------------------------------- the AST builder


class _Body:
    """A ``{ ... }`` body on its way into its statement."""

    __slots__ = ("close", "open", "stmts")

    def __init__(self, stmts: tuple[Any, ...], open_: Any, close: Any) -> None:
        self.stmts = stmts
        self.open = open_
        self.close = close


class _Args:
    """A parenthesised argument list on its way into its call."""

    __slots__ = ("args", "close", "open")

    def __init__(self, args: tuple[ast.Arg, ...], open_: Any, close: Any) -> None:
        self.args = args
        self.open = open_
        self.close = close


_ESCAPE: Final = re.compile(r"\\(?:x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|(.))", re.S)
_SIMPLE_ESCAPES: Final = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "0": "\0",
    "\\": "\\",
    '"': '"',
    "'": "'",
}
_INTERP: Final = re.compile(r"\{([^{}\n]*)\}")


class _ExprBuilder:
    """The tokens' and expressions' half of :class:`_Builder`.

    Methods named after a terminal (``NUMBER``...) are called when that token is
    shifted. Tokens may come from Lark or from `_Driver`: only their attributes
    (``type value start_pos end_pos line column end_line end_column``) are used.
    """

    # ------------------------------------------------------------- tokens

    def NUMBER(self, tok: Any) -> ast.Num:
        ctx = _CTX.get()
        text: str = tok.value
        span = _tspan(ctx, tok)
        value: int | float
        try:
            if "." in text or "e" in text or "E" in text:
                value = float(text)
                if value == float("inf"):
                    ctx.error(f"number {text} is too large", span)
            else:
                value = int(text)
                if value > MAX_INT_LITERAL:
                    ctx.error("this number is too large (more than 64 bits)", span)
                    value = 0
        except ValueError:
            ctx.error("number has too many digits", span)
            value = 0
        return ast.Num(value, span)

    def STRING(self, tok: Any) -> ast.Str:
        ctx = _CTX.get()
        raw: str = tok.value[1:-1]
        if "\\" in raw:
            raw = _unescape(ctx, raw, tok.start_pos + 1)
        return ast.Str(raw, _tspan(ctx, tok))

    def TRUE(self, tok: Any) -> ast.Bool:
        return ast.Bool(True, _tspan(_CTX.get(), tok))

    def FALSE(self, tok: Any) -> ast.Bool:
        return ast.Bool(False, _tspan(_CTX.get(), tok))

    def IN(self, tok: Any) -> ast.InputRef:
        return ast.InputRef(_tspan(_CTX.get(), tok))

    # -------------------------------------------------------- expressions

    def name(self, c: list[Any]) -> ast.Name:
        tok = c[0]
        return ast.Name(tok.value, _tspan(_CTX.get(), tok))

    def paren(self, c: list[Any]) -> Any:
        inner = c[1]
        # Outer parentheses are reduced last and win: `((a))` spans both pairs.
        _CTX.get().parens[id(inner)] = (c[0], c[2], inner)
        return inner

    def list_expr(self, c: list[Any]) -> ast.ListExpr:
        ctx = _CTX.get()
        items = tuple(c[1:-1])
        return _deep(ctx, ast.ListExpr(items, _tt(ctx, c[0], c[-1])), *items)

    def index(self, c: list[Any]) -> ast.Index:
        ctx = _CTX.get()
        value, idx, close = c
        return _deep(ctx, ast.Index(value, idx, _nt(ctx, value, close)), value, idx)

    def func_call(self, c: list[Any]) -> ast.FuncCall:
        ctx = _CTX.get()
        tok = c[0]
        func: str = tok.value
        func_span = _tspan(ctx, tok)
        args = tuple(c[1:-1])
        if func in _REF_FUNCTIONS:
            # channels(conv1): a bare name here refers to a label.
            args = tuple(_as_label(ctx, a) for a in args)
        else:
            if func not in FUNCTIONS and func != PARAM_INIT_FUNCTION:
                ctx.error(
                    f"unknown function '{func}': expressions can only call "
                    + ", ".join(FUNCTIONS[:-1])
                    + f" and {FUNCTIONS[-1]}",
                    func_span,
                    did_you_mean(func, FUNCTIONS),
                    code="unknown-function",
                )
            for a in args:
                if isinstance(a, ast.Label):
                    ctx.error(
                        f"a label cannot be an argument of {func}()",
                        a.span,
                        "only channels(...) and shape(...) take a label",
                    )
        node = ast.FuncCall(func, func_span, args, _tt(ctx, tok, c[-1]))
        return _deep(ctx, node, *args)

    def binary(self, c: list[Any]) -> ast.Binary:
        ctx = _CTX.get()
        left, op, right = c
        return _deep(ctx, ast.Binary(op.value, left, right, _nn(ctx, left, right)), left, right)

    def unary(self, c: list[Any]) -> ast.Unary:
        ctx = _CTX.get()
        op, operand = c
        return _deep(ctx, ast.Unary(op.value, operand, _tn(ctx, op, operand)), operand)

    def not_op(self, c: list[Any]) -> ast.Unary:
        return self.unary(c)

    def compare(self, c: list[Any]) -> ast.Compare:
        ctx = _CTX.get()
        operands = tuple(c[0::2])
        ops = tuple(op.value for op in c[1::2])
        node = ast.Compare(operands, ops, _nn(ctx, operands[0], operands[-1]))
        return _deep(ctx, node, *operands)

    def or_op(self, c: list[Any]) -> ast.BoolOp:
        ctx = _CTX.get()
        c = c[0::2]  # without the OR tokens
        return _deep(ctx, ast.BoolOp("or", tuple(c), _nn(ctx, c[0], c[-1])), *c)

    def and_op(self, c: list[Any]) -> ast.BoolOp:
        ctx = _CTX.get()
        c = c[0::2]  # without the AND tokens
        return _deep(ctx, ast.BoolOp("and", tuple(c), _nn(ctx, c[0], c[-1])), *c)

    def cond(self, c: list[Any]) -> ast.Cond:
        ctx = _CTX.get()
        body, _if, test, _else, orelse = c
        node = ast.Cond(body, test, orelse, _nn(ctx, body, orelse))
        return _deep(ctx, node, body, test, orelse)

    def expr_start(self, c: list[Any]) -> Any:
        return c[0]


class _Builder(_ExprBuilder):
    """The inline transformer: one method per rule alias, called on each reduction.

    The statements and definitions; :class:`_ExprBuilder` builds tokens and expressions.
    """

    # ------------------------------------------------------------- labels

    def label(self, c: list[Any]) -> ast.Label:
        tok = c[0]
        ctx = _CTX.get()
        if isinstance(tok, ast.Str):  # the STRING terminal's callback made it a Str
            return _quoted_label(ctx, tok.span.start, tok.span.text, tok.span)
        span = _tspan(ctx, tok)
        if tok.type == "NAME":
            return ast.Label((tok.value,), span)
        return ast.Label(_interpolate(ctx, tok.value, tok.start_pos), span)

    def skip_src(self, c: list[Any]) -> ast.Label | ast.InputRef:
        if isinstance(c[0], ast.InputRef):
            return c[0]
        return self.label(c)

    def skip_dst(self, c: list[Any]) -> ast.Label:
        return self.label(c)

    # ---------------------------------------------------------- arguments

    def kwarg(self, c: list[Any]) -> ast.Arg:
        tok, value = c
        return ast.Arg(tok.value, value, _tn(_CTX.get(), tok, value))

    def args(self, c: list[Any]) -> _Args:
        out: list[ast.Arg] = []
        keyword: ast.Arg | None = None
        for item in c[1:-1]:
            if isinstance(item, ast.Arg):
                keyword = keyword or item
                out.append(item)
                continue
            arg = ast.Arg(None, item, _outer(_CTX.get(), item))
            if keyword is not None:
                _CTX.get().error(
                    "positional argument after a keyword argument",
                    arg.span,
                    f"pass it before '{keyword.name}=', or name it: NAME={arg.span.text}",
                )
            out.append(arg)
        return _Args(tuple(out), c[0], c[-1])

    # ---------------------------------------------------------- statements

    def body(self, c: list[Any]) -> _Body:
        return _Body(tuple(c[1:-1]), c[0], c[-1])

    def model_body(self, c: list[Any]) -> _Body:
        return _Body(tuple(c[1:-1]), c[0], c[-1])

    def call_stmt(self, c: list[Any]) -> ast.Call:
        src = _CTX.get()
        label = c[0] if c[0].__class__ is ast.Label else None
        i = 0 if label is None else 1
        tok = c[i]
        name_span = _tspan(src, tok)
        if len(c) > i + 1:
            args: _Args = c[i + 1]
            return ast.Call(label, tok.value, name_span, args.args, _tt(src, tok, args.close))
        return ast.Call(label, tok.value, name_span, (), name_span)

    def group(self, c: list[Any]) -> ast.Group:
        label, body = c
        return ast.Group(label, body.stmts, _nt(_CTX.get(), label, body.close))

    def repeat(self, c: list[Any]) -> ast.Repeat:
        body: _Body = c[-1]
        var = c[3].value if len(c) == 5 else None
        return ast.Repeat(c[1], var, body.stmts, _tt(_CTX.get(), c[0], body.close))

    def if_stmt(self, c: list[Any]) -> ast.If:
        ctx = _CTX.get()
        body: _Body = c[2]
        if len(c) == 3:
            return ast.If(c[1], body.stmts, (), _tt(ctx, c[0], body.close))
        other = c[4]
        if isinstance(other, _Body):
            return ast.If(c[1], body.stmts, other.stmts, _tt(ctx, c[0], other.close))
        # `else if`: count the chain like nesting, so a long one cannot overflow later stages.
        node = ast.If(c[1], body.stmts, (other,), _tn(ctx, c[0], other))
        return _deep(ctx, node, other)

    def let(self, c: list[Any]) -> ast.Let:
        kw, tok, value = c
        return ast.Let(tok.value, value, _tn(_CTX.get(), kw, value))

    def param_decl(self, c: list[Any]) -> ast.ParamDecl:
        ctx = _CTX.get()
        kw, tok, init = c[0], c[1], c[-1]
        dims = tuple(c[3:-2])
        return ast.ParamDecl(tok.value, _tspan(ctx, tok), dims, init, _tn(ctx, kw, init))

    def skip(self, c: list[Any]) -> ast.Skip:
        ctx = _CTX.get()
        src = ctx
        label = c[0] if len(c) == 5 else None
        kw, source, dst, args = c[-4:]
        merge, merge_span, options = self._merge_args(
            ctx, args, "skip", "shortcut=, align=, scale= and gate="
        )
        if not args.args or args.args[0].name is not None:
            ctx.error(
                f"a skip needs its merge first in its parentheses: {names_text('merge', 'or')}",
                _tspan(src, args.open),
                f"for example `skip {source.span.text} -> {dst.span.text} (add)`",
            )
        span = _tt(src, kw, args.close)
        return ast.Skip(label, source, dst, merge, merge_span, options, span)

    def ref(self, c: list[Any]) -> ast.Ref:
        ctx = _CTX.get()
        if isinstance(c[0], ast.InputRef):
            return ast.Ref((), c[0].span)
        return ast.Ref(tuple(c), _nn(ctx, c[0], c[-1]))

    def from_stmt(self, c: list[Any]) -> ast.From:
        stmt, _kw, ref = c
        return ast.From(stmt, ref, _nn(_CTX.get(), stmt, ref))

    def arms(self, c: list[Any]) -> _Body:
        ctx = _CTX.get()
        arms = tuple(
            ast.Seq(a.stmts, _tt(ctx, a.open, a.close)) if isinstance(a, _Body) else a
            for a in c[1:-1]
        )
        return _Body(arms, c[0], c[-1])

    def parallel(self, c: list[Any]) -> ast.Parallel:
        ctx = _CTX.get()
        label = c[0] if c[0].__class__ is ast.Label else None
        kw, args, arms = c[-3:]
        merge, merge_span, options = self._merge_args(ctx, args, "parallel", "split=")
        if not args.args or args.args[0].name is not None:
            ctx.error(
                f"a parallel needs its merge first in its parentheses: {names_text('merge', 'or')}",
                _tspan(ctx, args.open),
                "for example `parallel (concat) { conv(16, 1); conv(16, 3, padding=1) }`",
            )
        span = _tt(ctx, kw, arms.close) if label is None else _nt(ctx, label, arms.close)
        return ast.Parallel(label, merge, merge_span, options, arms.stmts, span)

    def _merge_args(
        self, ctx: _Context, args: _Args, what: str, options_text: str
    ) -> tuple[str, Span, tuple[ast.Arg, ...]]:
        """The merge named first in a skip's or a parallel's parentheses, and the options."""
        merge, merge_span = "", _tt(ctx, args.open, args.close)
        options: list[ast.Arg] = []
        for i, arg in enumerate(args.args):
            if i == 0 and arg.name is None:
                merge_span = arg.span
                if isinstance(arg.value, ast.Name):
                    merge = arg.value.id
                else:
                    ctx.error(
                        f"expected the name of a merge, found '{arg.span.text}'",
                        arg.span,
                        f"the merges are {names_text('merge')}",
                    )
            elif arg.name is None:
                if i > 0 and args.args[i - 1].name is not None:
                    continue  # already reported: positional argument after a keyword
                ctx.error(
                    f"unexpected '{arg.span.text}': the options of a {what} are written NAME=VALUE",
                    arg.span,
                    f"the options are {options_text}",
                )
            else:
                options.append(arg)
        return merge, merge_span, tuple(options)

    # -------------------------------------------------------- definitions

    def output_decl(self, c: list[Any]) -> ast.Output:
        ctx = _CTX.get()
        kw, tok, ref = c[:3]
        if len(c) == 5:
            return ast.Output(tok.value, _tspan(ctx, tok), ref, _tn(ctx, kw, c[4]), c[4])
        return ast.Output(tok.value, _tspan(ctx, tok), ref, _tn(ctx, kw, ref))

    def input_symbol(self, c: list[Any]) -> ast.InputDim:
        tok, value = c
        return ast.InputDim(tok.value, value, _tn(_CTX.get(), tok, value))

    def input_decl(self, c: list[Any]) -> ast.InputDecl:
        ctx = _CTX.get()
        dims = tuple(
            d if isinstance(d, ast.InputDim) else ast.InputDim(None, d, _outer(ctx, d))
            for d in c[2:-1]
        )
        return ast.InputDecl(dims, _tt(ctx, c[0], c[-1]))

    def param(self, c: list[Any]) -> ast.Param:
        ctx = _CTX.get()
        tok, type_tok = c[0], c[1]
        default = c[2] if len(c) == 3 else None
        type_span = _tspan(ctx, type_tok)
        type_name: str = type_tok.value
        if type_name not in PARAM_TYPES:
            ctx.error(
                f"unknown type '{type_name}' for parameter '{tok.value}'",
                type_span,
                did_you_mean(type_name, PARAM_TYPES)
                or "the types are " + ", ".join(PARAM_TYPES[:-1]) + f" and {PARAM_TYPES[-1]}",
                code="unknown-type",
            )
        span = _tt(ctx, tok, type_tok) if default is None else _tn(ctx, tok, default)
        return ast.Param(tok.value, type_name, default, span, type_span)

    def params(self, c: list[Any]) -> tuple[ast.Param, ...]:
        return tuple(c)

    def block_def(self, c: list[Any]) -> ast.BlockDef:
        src = _CTX.get()
        kw, tok, body = c[0], c[1], c[-1]
        params = c[2] if len(c) == 4 else ()
        return ast.BlockDef(
            tok.value, params, body.stmts, _tt(src, kw, body.close), _tspan(src, tok)
        )

    def model_def(self, c: list[Any]) -> ast.ModelDef:
        ctx = _CTX.get()
        kw, tok, body = c[0], c[1], c[-1]
        params = c[2] if len(c) == 4 else ()
        name: str = tok.value
        name_span = _tspan(ctx, tok)
        stmts: tuple[Any, ...] = body.stmts
        decl: ast.InputDecl | None = None
        if stmts and stmts[0].__class__ is ast.InputDecl:
            decl, stmts = stmts[0], stmts[1:]
        misplaced = [s for s in stmts if s.__class__ is ast.InputDecl]
        for s in misplaced:
            ctx.error(
                f"'input' must be the first statement of model '{name}'",
                s.span,
                "declare the input once, at the top of the model body"
                if decl is not None
                else "move it to the top of the model body",
            )
        if decl is None:
            if not misplaced and not ctx.recovering:
                ctx.error(
                    f"model '{name}' does not declare its input",
                    stmts[0].span if stmts else name_span,
                    "start the model body with the input's shape, e.g. `input [3, H=224, W=224]`",
                )
            decl = ast.InputDecl((), name_span)
        if misplaced:
            stmts = tuple(s for s in stmts if s.__class__ is not ast.InputDecl)
        stmts, outputs = _split_outputs(ctx, stmts)
        span = _tt(ctx, kw, body.close)
        return ast.ModelDef(name, params, decl, stmts, span, name_span, outputs)

    def model_alias(self, c: list[Any]) -> ast.ModelAlias:
        src = _CTX.get()
        kw, tok, target = c[0], c[1], c[2]
        if len(c) == 4:
            args, span = c[3].args, _tt(src, kw, c[3].close)
        else:
            args, span = (), _tt(src, kw, target)
        return ast.ModelAlias(
            tok.value, target.value, _tspan(src, target), args, span, _tspan(src, tok)
        )

    def use(self, c: list[Any]) -> ast.Use:
        kw, path = c
        return ast.Use(path.value, _tn(_CTX.get(), kw, path))

    def start(self, c: list[Any]) -> ast.SpecFile:
        source = _CTX.get().source
        uses = tuple(d for d in c if d.__class__ is ast.Use)
        defs = tuple(d for d in c if d.__class__ is not ast.Use)
        return ast.SpecFile(uses, defs, source.span(0, len(source.text)))


def _split_outputs(
    ctx: _Context, stmts: tuple[Any, ...]
) -> tuple[tuple[Any, ...], tuple[ast.Output, ...]]:
    """A model body's statements and its ``output`` lines, which must end it."""
    outputs = tuple(s for s in stmts if s.__class__ is ast.Output)
    if not outputs:
        return stmts, ()
    first = next(i for i, s in enumerate(stmts) if s.__class__ is ast.Output)
    for s in stmts[first:]:
        if s.__class__ is not ast.Output:
            ctx.error(
                "a statement cannot follow the model's 'output' lines",
                s.span,
                "'output NAME: REF' lines end the model body: move them after the last statement",
            )
            break
    return tuple(s for s in stmts if s.__class__ is not ast.Output), outputs


_Node = TypeVar("_Node", bound=ast.Expr | ast.If)


def _deep(ctx: _Context, node: _Node, *children: object) -> _Node:
    """Record how deeply ``node`` nests; report once if deeper than MAX_EXPR_DEPTH."""
    depth = ctx.depth
    d = 1
    for c in children:
        entry = depth.get(id(c))
        if entry is not None and entry[0] >= d:
            d = entry[0] + 1
    depth[id(node)] = (d, node)
    if d > MAX_EXPR_DEPTH and not ctx.too_deep:
        ctx.too_deep = True
        ctx.error(
            f"expression nested too deeply (more than {MAX_EXPR_DEPTH} levels)",
            node.span,
            "split it into several `let` statements",
        )
    return node


def _unescape(ctx: _Context, raw: str, offset: int) -> str:
    """Decode the escapes of a string's contents; ``offset`` is where they start."""

    def one(m: re.Match[str]) -> str:
        text = m.group(0)
        simple = m.group(1)
        if simple is not None:
            if simple in _SIMPLE_ESCAPES:
                return _SIMPLE_ESCAPES[simple]
            ctx.error(
                f"unknown escape sequence '{text}' in a string",
                ctx.span(offset + m.start(), offset + m.end()),
                "write '\\\\' for a backslash",
            )
            return text
        code = int(text[2:], 16)
        if code > 0x10FFFF:
            ctx.error(
                f"escape sequence '{text}' is not a Unicode character",
                ctx.span(offset + m.start(), offset + m.end()),
            )
            return ""
        return chr(code)

    return _ESCAPE.sub(one, raw)


def _as_label(ctx: _Context, arg: ast.Expr) -> ast.Expr:
    """An argument of ``channels``/``shape``: a bare name or a quoted string is a label."""
    if isinstance(arg, ast.Name):
        return ast.Label((arg.id,), arg.span)
    if isinstance(arg, ast.Str):
        return _quoted_label(ctx, arg.span.start, arg.span.text, arg.span)
    return arg


def _quoted_label(ctx: _Context, start: int, raw: str, span: Span) -> ast.Label:
    """The label ``"block{s + 1}-{i}"``: its text between the quotes, interpolated.

    Backslashes are not escapes here: a label holds no quote or newline, and a
    backslash is kept as written (PyTorch accepts it in a module name).
    """
    parts = _interpolate(ctx, raw[1:-1], start + 1)
    if not parts:
        ctx.error(
            "a quoted label cannot be empty",
            span,
            'write the module\'s name between the quotes, e.g. "block1-0"',
            code="bad-label",
        )
        parts = ("",)
    return ast.Label(parts, span, quoted=True)


def _interpolate(ctx: _Context, text: str, base: int) -> tuple[str | ast.Expr, ...]:
    """Split the label ``layer{s + 1}_out`` into ``("layer", <s + 1>, "_out")``."""
    parts: list[str | ast.Expr] = []
    pos = 0
    for m in _INTERP.finditer(text):
        if m.start() > pos:
            parts.append(text[pos : m.start()])
        a, b = base + m.start(1), base + m.end(1)
        if not m.group(1).strip():
            ctx.error(
                "empty '{}' in a label: write the expression to interpolate",
                ctx.span(base + m.start(), base + m.end()),
            )
            parts.append(ast.Str("", ctx.span(a, b)))
        else:
            parts.append(_parse_slice(ctx, a, b))
        pos = m.end()
    if pos < len(text):
        parts.append(text[pos:])
    return tuple(parts)


# ---------------------------------------------------------------- syntax errors

# What a token is called in a message, by terminal name.
_TERMINAL_TEXT: Final = {
    "NAME": "a name",
    "LABEL_INTERP": "a label",
    "NUMBER": "a number",
    "STRING": "a string",
    "COMP_OP": "a comparison",
    "_SEP": "a new line",
    "$END": "the end of the file",
    "ELSE": "'else'",
    "ARROW": "'->'",
    "EQUAL": "'='",
    "COLON": "':'",
    "COMMA": "','",
    "PLUS": "'+'",
    "MINUS": "'-'",
    "STAR": "'*'",
    "SLASH": "'/'",
    "DSLASH": "'//'",
    "PERCENT": "'%'",
    "POW": "'**'",
    **{k: f"'{v}'" for k, v in BRACKET_TEXT.items()},
    **{kw.upper(): f"'{kw}'" for kw in KEYWORDS if kw != "else"},
}

# Groups of terminals said in one phrase, tried in order.
_EXPR_START: Final = frozenset(
    {"NAME", "NUMBER", "STRING", "TRUE", "FALSE", "IN", "LPAR", "LSQB", "MINUS", "PLUS", "NOT"}
)
_STMT_START: Final = frozenset({"SKIP", "REPEAT", "IF", "LET", "PARAM"})
_DEF_START: Final = frozenset({"USE", "BLOCK", "MODEL"})
_OPERATORS: Final = frozenset(
    {
        "PLUS",
        "MINUS",
        "STAR",
        "SLASH",
        "DSLASH",
        "PERCENT",
        "POW",
        "COMP_OP",
        "AND",
        "OR",
        "IF",
        "LSQB",
    }
)
_ORDER: Final = (
    "a statement",
    "a definition ('block', 'model' or 'use')",
    "an expression",
    "a name",
    "a label",
    "an operator",
)


def _accepts(stack: Sequence[int], start: str) -> set[str]:
    """The terminals that the parser, with this stack, would shift next.

    An LALR state merges the lookaheads of every context it appears in, so its
    row lists tokens that this context cannot take (`]` after `f(1`). Running
    the reductions each token would cause, on the states alone, weeds them out.
    """
    from lark.parsers.lalr_analysis import Shift

    table = _lark().parser.parser._parse_table
    states, end_state = table.states, table.end_states[start]
    out: set[str] = set()
    for term in states[stack[-1]]:
        if not term.isupper():
            continue
        st = list(stack)
        for _ in range(10_000):  # reductions always end; this only bounds a bug
            action = states[st[-1]].get(term)
            if action is None:
                break
            kind, arg = action
            if kind is Shift:
                out.add(str(term))
                break
            if arg.expansion:
                del st[-len(arg.expansion) :]
            st.append(states[st[-1]][arg.origin.name][1])
            if term == "$END" and st[-1] == end_state:
                out.add("$END")
                break
    return out


def _expected_text(expected: set[str]) -> str:
    left = set(expected)
    phrases: list[str] = []
    if left >= _STMT_START:
        phrases.append("a statement")
        left -= _STMT_START | {"NAME", "LABEL_INTERP", "STRING", "INPUT", "PARALLEL", "OUTPUT"}
    if left >= _DEF_START:
        phrases.append("a definition ('block', 'model' or 'use')")
        left -= _DEF_START
    if {"NAME", "NUMBER", "LPAR"} <= left:
        phrases.append("an expression")
        left -= _EXPR_START | {"LABEL_INTERP"}
    if len(left & _OPERATORS) >= 3:
        phrases.append("an operator")
        left -= _OPERATORS | {"AND", "OR", "ELSE"}
    if phrases and phrases[0] != "an operator":
        left -= {"_SEP", "$END"}  # then the end of the statement is never the fix
    rest = sorted(_TERMINAL_TEXT.get(t, t) for t in left if t != "$END")
    ordered = sorted(phrases, key=_ORDER.index) + [
        r for r in rest if r not in ("a new line", "'}'")
    ]
    # Ends of statements come last: they are the least likely fix.
    ordered += [r for r in ("'}'", "a new line") if r in rest]
    if "$END" in left:
        ordered.append("the end of the file")
    if not ordered:
        return "something else"
    if len(ordered) == 1:
        return ordered[0]
    return ", ".join(ordered[:-1]) + " or " + ordered[-1]


def _found_text(tok: Token) -> str:
    kind = tok.type
    text = str(tok)
    if kind == "$END":
        return "end of file"
    if kind == "_SEP":
        return "';'" if text.lstrip(" \t").startswith(";") else "end of line"
    if kind == "ELSE":
        return "keyword 'else'"
    if kind == "NAME":
        return f"name '{text}'"
    if kind == "LABEL_INTERP":
        return f"label '{text}'"
    if kind == "NUMBER":
        return f"number {text}"
    if kind == "STRING":
        return f"string {text if len(text) <= 30 else text[:27] + '...'}"
    if text in KEYWORDS:
        return f"keyword '{text}'"
    return f"'{text}'"


# Known mistakes, by a snippet that makes them. An error in the same parser state
# (and, when `any_token` is false, on the same kind of token) gets the message
# and hint. Unlike UnexpectedInput.match_examples, the state alone is compared,
# not the stack depth, so one snippet covers every nesting level.
@dataclass(frozen=True)
class _Known:
    snippets: tuple[str, ...]
    hint: str
    message: str | None = None  # replaces "expected ..." when given
    any_token: bool = True


_KNOWN: Final = (
    _Known(
        (
            "block b { conv1 conv(3) }",
            "block b { relu\n conv1 conv(3) }",
            "block b { relu; conv1 conv(3) }",
            "block b {\n conv1 conv(3) }",
        ),
        "to name a statement, follow its label with ':' (`conv1: conv(...)`); "
        "to write two statements, put them on separate lines or between ';'",
        any_token=False,
    ),
    _Known(
        ("block b { layer{i} conv(3) }", "block b { layer{i} = conv(3) }"),
        "a label is followed by ':', as in `layer{i}: conv(...)`",
        message="expected ':' after the label",
    ),
    _Known(
        (
            "block b { conv1 = conv(3) }",
            "block b { relu\n conv1 = conv(3) }",
            "block b { relu; conv1 = conv(3) }",
            "block b {\n conv1 = conv(3) }",
        ),
        "a label is followed by ':', as in `conv1: conv(...)`; to bind a value, write `let NAME = EXPR`",
        message="a label is followed by ':', not '='",
        any_token=False,
    ),
    _Known(
        ("block b { param: conv(3) }", "block b { param = 1 }"),
        "'param' is a reserved word: it declares a learnable tensor, "
        '`param NAME [dims] = INIT`; to use it as a label, quote it: "param": conv(...)',
        message="expected the param's name after 'param'",
    ),
    _Known(
        ("block b { skip in -> x }", "block b { skip in -> x{i} }"),
        "a skip ends with its merge in parentheses, e.g. `skip in -> x (add)`; "
        f"the merges are {names_text('merge')}",
        message="expected '(' and a merge after the skip's destination",
    ),
    _Known(
        ("block b { skip a -> in (add) }",),
        "`in` is the input of the scope: a skip may start there, and ends at a label",
        any_token=False,
    ),
    _Known(
        (
            "block b { skip a b (add) }",
            "block b { skip in b (add) }",
            "block b { skip a{i} b (add) }",
        ),
        "write `skip SRC -> DST (MERGE)`",
        message="expected '->' between the skip's source and destination",
    ),
    _Known(
        ("block b(x) {}", "block b(y: int, x) {}", "model m(x) {}", "model m(y: int, x) {}"),
        "give each parameter a type: `NAME: TYPE` or `NAME: TYPE = DEFAULT`; "
        "the types are " + ", ".join(PARAM_TYPES),
        message="expected ':' and a type after the parameter name",
    ),
    _Known(
        (
            "block b { input [3] }",
            "block b {\n input [3] }",
            "block b { relu; input [3] }",
            "model m { input [3]; repeat 2 { input [3] } }",
            "model m { input [3]; repeat 2 {\n input [3] } }",
            "model m { input [3]; repeat 2 { relu\n input [3] } }",
        ),
        "`input [...]` declares a model's input: it is the first statement of a model body",
        any_token=False,
    ),
    _Known(
        (
            "conv(3)",
            "\nconv(3)",
            "block b {}\nconv(3)",
            "\nblock b {}\nconv(3)",
            "relu: relu",
            "block b {}; relu: relu",
            "\nblock b {}; relu: relu",
        ),
        "statements belong inside a body: `block NAME(PARAMS) { ... }` or `model NAME { ... }`",
        any_token=False,
    ),
    _Known(
        (
            "block b\n{}",
            "block b()\n{}",
            "model m\n{}",
            "model m()\n{}",
            "block b { repeat 2\n{} }",
            "block b { repeat 2 as i\n{} }",
            "block b { if x\n{} }",
            "block b { if x {} else\n{} }",
            "block b { x:\n{} }",
        ),
        "the '{' that opens a body must be on the same line as what it belongs to",
        any_token=False,
    ),
)


@lru_cache(maxsize=1)
def _known_states() -> dict[tuple[Any, str | None], _Known]:
    """Parse every known-mistake snippet once: (parser state, token type) -> mistake."""
    table: dict[tuple[Any, str | None], _Known] = {}
    for known in _KNOWN:
        for snippet in known.snippets:
            ctx = _Context(SourceFile("<example>", snippet))
            token = _CTX.set(ctx)
            try:
                _lark().parse(snippet, start="start")
            except UnexpectedToken as exc:
                key = (exc.state.position, None if known.any_token else exc.token.type)
                table.setdefault(key, known)
            except Exception:  # a snippet that fails differently teaches nothing
                pass
            finally:
                _CTX.reset(token)
    return table


def _syntax_error(
    exc: UnexpectedInput, ctx: _Context, start: str, end: int | None = None
) -> Diagnostic:
    """Turn a Lark error into a diagnostic that says what was found and expected."""
    text = ctx.source.text
    if isinstance(exc, UnexpectedCharacters):
        return _bad_character(ctx, exc.pos_in_stream or 0)
    if not isinstance(exc, UnexpectedToken):
        return Diagnostic("syntax", "invalid syntax", ctx.span(0, 0))
    tok = exc.token
    found = _found_text(tok)
    if tok.type == "$END" and end is not None:
        # The end of a label's `{...}`: point at its '}'.
        found, span = "'}'", ctx.span(end, end + 1)
    elif tok.type == "$END":
        at = len(text.rstrip())
        span = ctx.span(at, at)
    else:
        span = _tok_span(ctx, tok)
        if tok.type == "_SEP":
            span = ctx.span(tok.start_pos, tok.start_pos + 1)
    opened = [o for o in ctx.open if o.start_pos < tok.start_pos or tok.type == "$END"]
    if tok.type in CLOSE:
        problem = bracket_problem(opened, tok)
        if problem is not None:
            return Diagnostic("syntax", problem, span)
    if tok.type == "$END" and opened and end is None:
        closer = BRACKET_TEXT[OPEN[opened[-1].type]]
        return Diagnostic(
            "syntax",
            f"unexpected {found}: expected '{closer}' to close {where_opened(opened[-1])}",
            span,
        )

    try:
        expected = _accepts(exc.state.state_stack, start)
    except (AttributeError, KeyError):  # Lark's internals moved: its own list will do
        expected = set()
    expected = expected or set(exc.expected)
    message = f"unexpected {found}: expected {_expected_text(expected)}"
    hint: str | None = None
    if tok.type in {kw.upper() for kw in KEYWORDS} | {"ELSE"} and "NAME" in expected:
        word = "else" if tok.type == "ELSE" else str(tok)
        hint = f"'{word}' is a reserved word: it cannot name a label, a parameter or a variable"
    if start == "start":
        known = _known_states().get((exc.state.position, tok.type)) or _known_states().get(
            (exc.state.position, None)
        )
        if known is not None:
            hint = known.hint
            if known.message is not None:
                message = f"unexpected {found}: {known.message}"
    if opened and opened[-1].type != BODY and opened[-1].line < span.line:
        closer = BRACKET_TEXT[OPEN[opened[-1].type]]
        hint = f"is a '{closer}' missing? {where_opened(opened[-1]).capitalize()} is still open"
    if tok.type in _DEFINITIONS and opened and opened[-1].type == BODY:
        # `block b { relu()` then `model m {`: the body was never closed
        message = f"unexpected {found}: expected '}}' to close {where_opened(opened[-1])}"
        hint = f"is a '}}' missing? {found.split()[-1]} starts a new definition, outside any body"
    label_hint = _label_alone(text, tok)
    return Diagnostic("syntax", message, span, label_hint or hint)


#: Tokens that start a definition: they cannot stand inside a body.
_DEFINITIONS: Final = frozenset({"MODEL", "BLOCK", "USE"})
_LABEL_AT_END = re.compile(r"([A-Za-z_][A-Za-z0-9_]*(?:\{[^{}\n]*\})?)\s*:[ \t]*$")


def _label_alone(text: str, tok: Any) -> str | None:
    """The hint for a label whose statement is on the next line (``conv1:`` then ``conv(...)``)."""
    if tok.type == "$END" or ("\n" not in str(tok.value) and tok.type not in ("_NL", "_SEP")):
        return None
    line_start = text.rfind("\n", 0, tok.start_pos) + 1
    found = _LABEL_AT_END.search(text[line_start : tok.start_pos])
    if found is None:
        return None
    rest = text[tok.start_pos :].lstrip()
    following = rest.split("\n", 1)[0].strip()
    if not following or following.startswith("{"):
        return None  # the '{' of a group on the next line: the known-mistake hint says so
    return f"a label and the statement it names go on one line: `{found.group(1)}: {following}`"


_CHAR_HINTS: Final = {
    "'": "strings are written between double quotes",
    "&": "write 'and'",
    "|": "write 'or'",
    "!": "write 'not' for a negation; '!=' compares",
    "\\": "a backslash only appears in strings",
    "\t": None,
}


def _bad_character(ctx: _Context, pos: int) -> Diagnostic:
    text = ctx.source.text
    char = text[pos] if pos < len(text) else ""
    if char == '"':
        line_end = text.find("\n", pos)
        stop = len(text) if line_end < 0 else line_end
        return Diagnostic(
            "syntax",
            "unterminated string",
            ctx.span(pos, stop),
            "close the string with '\"' on the same line",
        )
    shown = f"'{char}'" if char.isprintable() and not char.isspace() else f"U+{ord(char):04X}"
    hint = _CHAR_HINTS.get(char)
    if hint is None and char.isidentifier():
        hint = "names are ASCII: letters, digits and '_'"
    return Diagnostic("syntax", f"illegal character {shown}", ctx.span(pos, pos + 1), hint)

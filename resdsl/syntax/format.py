"""``resdsl fmt``: one canonical layout for ``.res`` files, every comment kept.

The formatter works from the token stream (:mod:`resdsl.syntax.tokens`) and
the bracket rules (:mod:`resdsl.syntax.brackets`), never from a list of
statement forms, so a construct added to the grammar is formatted without new
code here. The layout is the one of the bundled specs:

- 4 spaces per body (``{ ... }``); a line continued inside ``(...)`` or
  ``[...]`` lines up after the bracket when the bracket has text after it on
  its line, else it is indented 4 more than the line that opened it;
- one space after ``,`` and ``:``, around ``->``, binary operators, keywords
  and ``=`` outside brackets (and after a ``name: type`` inside them), none
  around ``=`` of a keyword argument, none inside brackets;
- in a body, the labels of one-line statements are padded so their values
  start in one column (a label whose value starts with a keyword, such as a
  ``skip``, joins the column when it fits, and a group's ``{`` never does); an
  unlabelled call right after a labelled line continues that column;
  consecutive top-level ``model NAME = ...`` lines line up their ``=``;
- the line breaks you wrote are kept; a line longer than :data:`MAX_WIDTH` is
  broken after the commas of its outermost bracket that has some;
- a comment after code moves as far as its code's end moves (at least two
  spaces after it), so comments aligned in a column stay so; at most one
  blank line in a row.

Input that does not parse is refused with the parser's own diagnostic.

>>> print(format_text("model m(){\\n  input [3,H=8,W=8]\\n  c : conv(4,3,padding = 1)\\n  bn:batchnorm\\n}"), end="")
model m() {
    input [3, H=8, W=8]
    c:  conv(4, 3, padding=1)
    bn: batchnorm
}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from resdsl.source import SourceFile
from resdsl.syntax.brackets import BODY, CLOSE, OPEN
from resdsl.syntax.parse import parse
from resdsl.syntax.tokens import COMMENT, NEWLINE, SEMI, WORDS, Lexeme, is_keyword, lex

__all__ = ["INDENT", "MAX_WIDTH", "format_source", "format_text"]

INDENT: Final = 4
MAX_WIDTH: Final = 100
"""Lines longer than this are broken at commas where they can be."""

_BINARY: Final = frozenset(
    {"PLUS", "MINUS", "STAR", "SLASH", "DSLASH", "PERCENT", "POW", "COMP_OP", "ARROW"}
)
_SIGNS: Final = frozenset({"PLUS", "MINUS"})


@dataclass
class _Line:
    """One output line's tokens, its trailing or own-line comment, and a blank line before it."""

    tokens: list[Lexeme]
    comment: str | None = None
    comment_col: int = 0
    blank_before: bool = False
    code_end: int = 0  # the column where the code ended in the source, before the comment


def format_text(text: str, name: str = "<string>") -> str:
    """``text`` in the canonical layout; raises ResdslError if it does not parse."""
    return format_source(SourceFile(name, text))


def format_source(source: SourceFile) -> str:
    """``source`` in the canonical layout; raises ResdslError if it does not parse."""
    parse(source)  # the usual located diagnostics for invalid input
    lines = _lines(source.text, lex(source.text))
    return _Layout(lines).render()


def _lines(text: str, lexemes: list[Lexeme]) -> list[_Line]:
    """Source lines as token lists; blank lines become a flag on the next line."""
    lines: list[_Line] = []
    current = _Line([])
    blank = False
    for x in lexemes:
        if x.kind == NEWLINE:
            if current.tokens or current.comment is not None:
                lines.append(current)
                blank = False
            elif lines:
                blank = True
            current = _Line([], blank_before=blank)
        elif x.kind == COMMENT:
            current.comment = x.text.rstrip()
            line_start = text.rfind("\n", 0, x.start) + 1
            current.comment_col = x.start - line_start
            if current.tokens:
                current.code_end = current.tokens[-1].end - line_start
        else:
            current.tokens.append(x)
    if current.tokens or current.comment is not None:
        lines.append(current)
    for line in lines:
        while line.tokens and line.tokens[-1].kind == SEMI:
            line.tokens.pop()  # a `;` that ends a line separates nothing
    return lines


@dataclass
class _Open:
    """An open bracket while laying out: where its contents and its closer go."""

    kind: str
    id: int
    content: int
    closer: int
    typed_arg: bool = False  # the current argument has a `name: type` (so ` = `)


@dataclass
class _Statement:
    """What a statement line of a body contributes to its body's alignment."""

    label: int  # width of `label:`, or 0
    role: str  # "plain", "keyword", "group", "chain", "other"


@dataclass
class _Alignment:
    label_width: dict[int, int] = field(default_factory=dict)  # body id -> width of `label: `
    roles: dict[int, _Statement] = field(default_factory=dict)  # line index -> statement
    body_of: dict[int, int] = field(default_factory=dict)  # line index -> body id
    equals: dict[int, int] = field(default_factory=dict)  # line index -> padded name width


def _statement(line: _Line) -> _Statement:
    toks = line.tokens
    if not toks:
        return _Statement(0, "other")
    labelled = len(toks) >= 3 and toks[1].kind == "COLON" and not is_keyword(toks[0])
    if labelled:
        width = len(toks[0].text) + 1
        if toks[2].kind == BODY:
            return _Statement(width, "group")
        return _Statement(width, "keyword" if is_keyword(toks[2]) else "plain")
    if (
        toks[0].kind in WORDS
        and not is_keyword(toks[0])
        and (len(toks) == 1 or toks[1].kind != "COLON")
    ):
        return _Statement(0, "chain")
    return _Statement(0, "other")


def _align(lines: list[_Line]) -> _Alignment:
    """Label columns per body and `=` columns of top-level definitions."""
    result = _Alignment()
    stack: list[int] = []  # ids (line index * 1000 + position) of open brackets
    kinds: list[str] = []
    for i, line in enumerate(lines):
        if line.tokens and (not kinds or kinds[-1] == BODY) and line.tokens[0].kind not in CLOSE:
            body = stack[-1] if stack else -1
            st = _statement(line)
            result.roles[i] = st
            result.body_of[i] = body
            if st.role == "plain":
                result.label_width[body] = max(result.label_width.get(body, 0), st.label + 1)
        for j, tok in enumerate(line.tokens):
            if tok.kind in OPEN:
                stack.append(i * 1000 + j)
                kinds.append(tok.kind)
            elif tok.kind in CLOSE and stack:
                stack.pop()
                kinds.pop()
    _align_equals(lines, result)
    return result


def _align_equals(lines: list[_Line], result: _Alignment) -> None:
    """Consecutive top-level `KEYWORD NAME = ...` lines, each whole on its line: pad the names.

    A line that padding would push past :data:`MAX_WIDTH` is left out (it splits
    the run), so that formatting the result again changes nothing.
    """
    run: list[int] = []
    for i, line in enumerate(lines):
        toks = line.tokens
        fits = (
            result.body_of.get(i) == -1
            and len(toks) >= 3
            and is_keyword(toks[0])
            and not is_keyword(toks[1])
            and toks[2].kind == "EQUAL"
            and _balanced(toks)
        )
        if not fits or line.blank_before or (run and run[-1] != i - 1):
            _pad_run(lines, run, result)
            run = []
        if fits:
            run.append(i)
    _pad_run(lines, run, result)


def _balanced(toks: list[Lexeme]) -> bool:
    depth = 0
    for tok in toks:
        depth += (tok.kind in OPEN) - (tok.kind in CLOSE)
    return depth == 0


def _pad_run(lines: list[_Line], run: list[int], result: _Alignment) -> None:
    if len(run) < 2:
        return
    names = {k: len(lines[k].tokens[1].text) for k in run}
    width = max(names.values())
    plain = {k: len(_Layout([_Line(list(lines[k].tokens))]).render().rstrip("\n")) for k in run}
    too_long = [k for k in run if plain[k] + width - names[k] > MAX_WIDTH]
    if not too_long:
        for k in run:
            result.equals[k] = width
        return
    cut = too_long[0]
    _pad_run(lines, [k for k in run if k < cut], result)
    _pad_run(lines, [k for k in run if k > cut], result)


class _Layout:
    """Lays out lines in order; a line's indent depends on the lines above it."""

    def __init__(self, lines: list[_Line]) -> None:
        self.lines = lines
        self.align = _align(lines)
        self.stack: list[_Open] = []
        self.out: list[str] = []
        self.statement_indent = 0
        self.chain: dict[int, bool] = {}  # body id -> the last statement continues a column
        self.last_kind = ""  # the last token written, for blank lines after an opener
        self.line_before: Lexeme | None = None
        self.last_tok: Lexeme | None = None  # the last token of the line above, if continued

    def render(self) -> str:
        queue = list(enumerate(self.lines))
        queue.reverse()
        while queue:
            index, line = queue.pop()
            pieces = self._emit(index, line)
            for piece in reversed(pieces):
                queue.append((index, piece))
        return "\n".join(self.out).rstrip("\n") + "\n" if self.out else ""

    def _emit(self, index: int, line: _Line) -> list[_Line]:
        """Write ``line``; return the pieces of it still to write when it was too long."""
        toks = line.tokens
        if line.blank_before and self.out and not self._after_opener() and not self._closes(toks):
            self.out.append("")
        indent = self._indent(index, toks)
        if not toks:
            self.out.append(" " * indent + (line.comment or ""))
            self.last_kind = COMMENT
            return []
        saved = [_Open(o.kind, o.id, o.content, o.closer, o.typed_arg) for o in self.stack]
        continued = bool(self.stack) and self.stack[-1].kind != BODY
        self.line_before = self.last_tok if continued else None
        text, cols = self._render_tokens(index, toks, indent)
        if len(text) > MAX_WIDTH and (cut := _break_at(toks, cols, text)) is not None:
            self.stack = saved
            first = _Line(toks[:cut], blank_before=line.blank_before)
            rest = _Line(toks[cut:], line.comment, line.comment_col, code_end=line.code_end)
            self.out_pop_blank(line)
            return [first, rest]
        if line.comment is not None:
            # The comment moves with its code, so comments aligned in a column stay so.
            col = max(line.comment_col + len(text) - line.code_end, len(text) + 2)
            text = text.ljust(col) + line.comment
        self.out.append(text)
        self.last_kind = toks[-1].kind
        self.last_tok = toks[-1]
        return []

    def out_pop_blank(self, line: _Line) -> None:
        if line.blank_before and self.out and self.out[-1] == "":
            self.out.pop()

    def _after_opener(self) -> bool:
        return self.last_kind in OPEN

    @staticmethod
    def _closes(toks: list[Lexeme]) -> bool:
        return bool(toks) and toks[0].kind in CLOSE

    def _indent(self, index: int, toks: list[Lexeme]) -> int:
        if toks and toks[0].kind in CLOSE and self.stack:
            if self.stack[-1].kind == BODY:
                self.statement_indent = self.stack[-1].closer
            return self.stack[-1].closer
        if self.stack and self.stack[-1].kind != BODY:
            return self.stack[-1].content
        base = self.stack[-1].content if self.stack else 0
        role = self.align.roles.get(index)
        body = self.align.body_of.get(index, -1)
        if role is None:  # a comment line
            return base
        width = self.align.label_width.get(body, 0)
        continues = role.role == "chain" and self.chain.get(body, False)
        self.chain[body] = role.role in ("plain", "keyword") or continues
        if role.role == "chain" and self.lines[index].blank_before:
            continues = False
            self.chain[body] = False
        self.statement_indent = base
        return base + width if continues and width else base

    def _render_tokens(self, index: int, toks: list[Lexeme], indent: int) -> tuple[str, list[int]]:
        """The line's text and each token's column; updates the bracket stack."""
        parts = [" " * indent]
        col = indent
        cols: list[int] = []
        role = self.align.roles.get(index)
        width = self.align.label_width.get(self.align.body_of.get(index, -1), 0)
        pad_equals = self.align.equals.get(index)
        for j, tok in enumerate(toks):
            if j:
                gap = self._space(toks, j)
                if j == 2 and role is not None and role.label and toks[1].kind == "COLON":
                    fits = role.role == "plain" or (role.role == "keyword" and role.label < width)
                    if fits and width:
                        gap = " " * (width - role.label)
                if j == 2 and pad_equals is not None and tok.kind == "EQUAL":
                    gap = " " * (pad_equals - len(toks[1].text) + 1)
                parts.append(gap)
                col += len(gap)
            cols.append(col)
            parts.append(tok.text)
            col += len(tok.text)
            self._track(toks, j, col, indent)
        return "".join(parts), cols

    def _track(self, toks: list[Lexeme], j: int, col: int, indent: int) -> None:
        tok = toks[j]
        if tok.kind in OPEN:
            last = j == len(toks) - 1
            if tok.kind == BODY:
                content, closer = self.statement_indent + INDENT, self.statement_indent
            elif last:
                content, closer = indent + INDENT, indent
            else:
                content, closer = col, col - 1
            self.stack.append(_Open(tok.kind, id(tok), content, closer))
        elif tok.kind in CLOSE and self.stack:
            self.stack.pop()
        elif self.stack and tok.kind == "COMMA":
            self.stack[-1].typed_arg = False
        elif self.stack and tok.kind == "COLON" and self.stack[-1].kind != BODY:
            self.stack[-1].typed_arg = True

    def _space(self, toks: list[Lexeme], j: int) -> str:
        a, b = toks[j - 1], toks[j]
        before = toks[j - 2] if j >= 2 else self.line_before
        inside = self.stack[-1] if self.stack else None
        return " " if _spaced(a, b, before, inside) else ""


def _spaced(a: Lexeme, b: Lexeme, before: Lexeme | None, inside: _Open | None) -> bool:
    """Whether one space goes between tokens ``a`` and ``b`` (``before`` precedes ``a``)."""
    if b.kind in ("COMMA", SEMI, "COLON"):
        return False
    if a.kind in ("COMMA", SEMI, "COLON"):
        return True
    if a.kind == BODY or b.kind == "RBRACE":
        return not (a.kind == BODY and b.kind == "RBRACE")
    if b.kind == BODY or a.kind == "RBRACE":
        return True
    if a.kind in OPEN or b.kind in CLOSE or "DOT" in (a.kind, b.kind):  # `backbone.layer3`
        return False
    if b.kind == "LPAR" and a.kind in WORDS and not is_keyword(a):
        return before is not None and before.kind == "ARROW"  # `skip a -> b (add)`
    if b.kind == "LSQB" and a.kind in CLOSE:
        return False
    if b.kind == "LSQB" and a.kind in WORDS and not is_keyword(a):
        # An index, unless a keyword precedes the name: `param NAME [dims]` is a
        # declaration, `repeat depths[s]` an index; the two read the same, so as written.
        return before is not None and is_keyword(before) and b.space_before
    if "EQUAL" in (a.kind, b.kind):
        return inside is None or inside.kind == BODY or inside.typed_arg
    if a.kind in _SIGNS and _unary(before):
        return False
    if a.kind in _BINARY or b.kind in _BINARY:
        return True
    if is_keyword(a) or is_keyword(b) or (a.kind in WORDS and b.kind in WORDS):
        return True
    return b.space_before  # a terminal this formatter has no rule for: as written


def _unary(before: Lexeme | None) -> bool:
    """Whether a `+`/`-` after ``before`` is a sign, not a binary operator."""
    if before is None:
        return True
    return (
        before.kind in OPEN
        or before.kind in _BINARY
        or is_keyword(before)
        or (before.kind not in WORDS and before.kind not in CLOSE)
    )


def _break_at(toks: list[Lexeme], cols: list[int], text: str) -> int | None:
    """Where to cut an overlong line: after the last comma that fits, at the outermost level."""
    depth = 0
    best_depth: int | None = None
    commas: list[tuple[int, int]] = []  # (depth, token index)
    owner: list[int] = []  # the bracket instance of each depth, by index of its opener
    owners: dict[int, int] = {}
    for j, tok in enumerate(toks):
        if tok.kind in OPEN:
            depth += 1
            owner.append(j)
        elif tok.kind in CLOSE:
            depth -= 1
            if owner:
                owner.pop()
        elif tok.kind == "COMMA" and j < len(toks) - 1:
            commas.append((depth, j))
            owners[j] = owner[-1] if owner else -1
            if best_depth is None or depth < best_depth:
                best_depth = depth
    if best_depth is None:
        return None
    level = [j for d, j in commas if d == best_depth]
    level = [j for j in level if owners[j] == owners[level[0]] and toks[j + 1].kind not in CLOSE]
    if not level:
        return None
    fitting = [j for j in level if cols[j] + 1 <= MAX_WIDTH]
    cut = (fitting[-1] if fitting else level[0]) + 1
    if toks[cut].kind == BODY or cut >= len(toks):
        return None
    del text
    return cut

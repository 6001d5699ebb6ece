"""What the language server knows about one open spec, computed by the usual pipeline.

:func:`analyze` loads the buffer's text as if it were saved at its path (so
``use`` resolves as on disk), elaborates every model of the file that needs no
argument, and keeps the diagnostics and the checked graphs. The queries below
(hover, shapes per line, definitions, references, symbols) read those graphs'
nodes and scopes, their spans included; nothing here re-implements a stage.
Positions are 0-based (line, character in the line), as editors count them.

>>> a = analyze(Path("net.res"), "model m() {\\n    input [3, H=8, W=8]\\n    c1: conv(4, 3)\\n}\\n")
>>> a.diagnostics, line_shapes(a)[2]
([], '[4, 6, 6]')
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import networkx as nx

from resdsl.api import Spec
from resdsl.diagnostics import Diagnostic, ResdslError
from resdsl.ops.base import format_shape
from resdsl.source import SourceFile, Span
from resdsl.syntax import ast
from resdsl.syntax.loader import Program, bundled_specs_dir, load_text
from resdsl.syntax.tokens import COMMENT, lex

__all__ = [
    "Analysis",
    "Located",
    "analyze",
    "definition",
    "hover_text",
    "line_shapes",
    "references",
    "symbols",
    "word_at",
]

MAX_ROWS: Final = 12
"""Instances a hover lists before it says how many more there are."""

_WORD: Final = re.compile(r'[A-Za-z_][A-Za-z0-9_]*(?:\{[^{}\n]*\}[A-Za-z0-9_]*)*|"[^"\n]*"')


@dataclass(frozen=True)
class Located:
    """A region of a file: its path and 0-based (line, character) start and end."""

    path: Path
    start: tuple[int, int]
    end: tuple[int, int]


@dataclass
class Analysis:
    """One buffer, loaded and checked: its diagnostics, program and models' graphs."""

    path: Path
    text: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    program: Program | None = None
    graphs: dict[str, nx.DiGraph] = field(default_factory=dict)

    def file_of(self, span: Span) -> Path:
        """The path of the file a span is in (the buffer, or a `use`d file)."""
        name = span.source.name
        if name == str(self.path):
            return self.path
        if name.startswith("<resdsl>/"):
            return bundled_specs_dir() / name.removeprefix("<resdsl>/")
        return (self.path.parent / name).resolve()


def analyze(path: Path, text: str) -> Analysis:
    """Load and check ``text`` as the content of ``path``; never raises for a bad spec."""
    analysis = Analysis(path, text)
    try:
        analysis.program = load_text(text, str(path), base=path.parent)
    except ResdslError as error:
        analysis.diagnostics.extend(error.diagnostics)
        return analysis
    spec = Spec(analysis.program)
    seen: set[tuple[str, str, int | None]] = set()
    for name in analysis.program.root_models:
        if not _checkable(analysis.program.models[name]):
            continue
        try:
            analysis.graphs[name] = spec.graph(name)
        except ResdslError as error:
            for d in error.diagnostics:  # a block's mistake shows once, not once per model
                key = (d.code, d.message, d.span.start if d.span else None)
                if key not in seen:
                    seen.add(key)
                    analysis.diagnostics.append(d)
    return analysis


def _checkable(model: ast.ModelDef | ast.ModelAlias) -> bool:
    """A model that elaborates without arguments: an alias, or every parameter defaulted."""
    return isinstance(model, ast.ModelAlias) or all(p.default is not None for p in model.params)


def position(span: Span) -> tuple[tuple[int, int], tuple[int, int]]:
    """A span's 0-based start and end, in characters."""
    return (span.line - 1, span.column - 1), (span.end_line - 1, span.end_column - 1)


def _in_file(a: Analysis, span: Span | None) -> bool:
    return span is not None and span.source.name == str(a.path)


# ----------------------------------------------------------------- shapes per line


def _sample_dims(shape: tuple[Any, ...]) -> str:
    """A shape at the sample size only, ``[64, 56, 56]`` (symbolic ones: :func:`format_shape`)."""
    return "[" + ", ".join(str(int(d)) for d in shape) + "]"


def _nodes_by_line(a: Analysis) -> dict[int, tuple[str, list[dict[str, Any]]]]:
    """Per 0-based line of the buffer: the first model with nodes there, and those nodes."""
    found: dict[int, tuple[str, list[dict[str, Any]]]] = {}
    for model, graph in a.graphs.items():
        here: dict[int, list[dict[str, Any]]] = {}
        for _, data in graph.nodes(data=True):
            span = data["span"]
            if data["role"] != "input" and _in_file(a, span):
                here.setdefault(span.line - 1, []).append(data)
        for line, nodes in here.items():
            found.setdefault(line, (model, nodes))
    return found


def line_shapes(a: Analysis) -> dict[int, str]:
    """The output shape each line of the buffer computes (0-based line numbers).

    A statement elaborated several times (a block's line) shows its first and
    last shapes and how many times it runs.
    """
    shapes: dict[int, str] = {}
    for line, (_, nodes) in _nodes_by_line(a).items():
        last_per_instance = _last_per_instance(nodes)
        texts = [_sample_dims(n["shape"]) for n in last_per_instance]
        if len(set(texts)) == 1:
            shapes[line] = texts[0]
        else:
            shapes[line] = f"{texts[0]} … {texts[-1]} ({len(texts)}×)"
    return shapes


def _last_per_instance(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One node per instance of a line: the last one each parent scope has there."""
    per_parent: dict[str, dict[str, Any]] = {}
    for n in nodes:
        per_parent[n["parent"]] = n
    return list(per_parent.values())


# --------------------------------------------------------------------------- hover


def word_at(text: str, line: int, character: int) -> tuple[str, int, int] | None:
    """The name, label or string under a 0-based position, with its start and end."""
    lines = text.splitlines()
    if line >= len(lines):
        return None
    for m in _WORD.finditer(lines[line]):
        if m.start() <= character <= m.end():
            return m.group(), m.start(), m.end()
    return None


def hover_text(a: Analysis, line: int, character: int) -> str | None:
    """Markdown about what is at a position: shape, parameters, MACs, module path."""
    found = _nodes_by_line(a).get(line)
    word = word_at(a.text, line, character)
    if found is not None:
        model, nodes = found
        return _hover_nodes(a, model, nodes)
    scopes = _scopes_at_line(a, line)
    if scopes is not None:
        return _hover_scopes(*scopes)
    if word is not None:
        return _hover_name(a, word[0])
    return None


def _scopes_at_line(a: Analysis, line: int) -> tuple[str, nx.DiGraph, list[str]] | None:
    """The first model with a group or block instance whose statement starts on ``line``
    (0-based), and the module paths of those scopes: a line that builds no layer itself."""
    for model, graph in a.graphs.items():
        paths = [
            path
            for path, info in graph.graph["scopes"].items()
            if info.kind in ("group", "block")
            and _in_file(a, info.span)
            and info.span.line - 1 == line
        ]
        if paths:
            return model, graph, paths
    return None


def _hover_scopes(model: str, graph: nx.DiGraph, paths: list[str]) -> str:
    """A table of the scopes a line builds: output shape, parameters and MACs of each."""
    scopes = graph.graph["scopes"]
    totals = {path: [0, 0] for path in paths}
    for _, data in graph.nodes(data=True):
        parent = data.get("parent", "")
        for path in paths:  # a node counts for each listed scope it lies in
            if parent == path or parent.startswith(path + "."):
                totals[path][0] += data.get("params", 0)
                totals[path][1] += data.get("macs", 0)
    for path in paths:
        for inner, info in scopes.items():
            if inner == path or inner.startswith(path + "."):
                totals[path][0] += sum(p.numel for p in info.params.values())
    rows = []
    for path in paths[:MAX_ROWS]:
        info = scopes[path]
        out = graph.nodes[info.output]["shape"] if info.output in graph.nodes else None
        shape = format_shape(out) if out is not None else "?"
        kind = f"`{info.block}`" if info.kind == "block" else "group"
        rows.append(f"| `{path}` | {kind} | {shape} | {totals[path][0]:,} | {totals[path][1]:,} |")
    lines = [
        f"**{model}**: {len(paths)} scope{'s' if len(paths) != 1 else ''} from this line",
        "",
        "| module | block | output | params | MACs |",
        "|---|---|---|---:|---:|",
        *rows,
    ]
    if len(paths) > MAX_ROWS:
        lines.append(f"\n… and {len(paths) - MAX_ROWS} more")
    return "\n".join(lines)


def _hover_nodes(a: Analysis, model: str, nodes: list[dict[str, Any]]) -> str:
    first = nodes[0]
    statement = first["span"].text.splitlines()[0]
    others = [m for m, g in a.graphs.items() if m != model and _uses(a, g, first["span"])]
    rows = [
        f"| `{n['scope']}` | `{n['op']}` | {format_shape(n['shape'])} | {n['params']:,} | {n['macs']:,} |"
        for n in nodes[:MAX_ROWS]
    ]
    lines = [
        f"```res\n{statement}\n```",
        f"**{model}**: {len(nodes)} module{'s' if len(nodes) != 1 else ''} from this line",
        "",
        "| module | op | shape | params | MACs |",
        "|---|---|---|---:|---:|",
        *rows,
    ]
    if len(nodes) > MAX_ROWS:
        lines.append(f"\n… and {len(nodes) - MAX_ROWS} more")
    if others:
        lines.append(f"\nalso in: {', '.join(others)}")
    return "\n".join(lines)


def _uses(a: Analysis, graph: nx.DiGraph, span: Span) -> bool:
    return any(d["span"] == span for _, d in graph.nodes(data=True))


def _hover_name(a: Analysis, word: str) -> str | None:
    from resdsl.editor.signatures import describe as describe_layer
    from resdsl.editor.signatures import signature
    from resdsl.ops import get_layer

    layer = get_layer(word)
    if layer is not None:
        return f"```res\n{signature(layer)}\n```\n{describe_layer(layer)}"
    if a.program is not None and word in a.program.blocks:
        return f"```res\n{block_signature(a.program.blocks[word])}\n```"
    return None


def block_signature(block: ast.BlockDef) -> str:
    """``block basic(planes: int, stride: int = 1)``, as written."""
    params = ", ".join(p.span.text for p in block.params)
    return f"block {block.name}({params})"


# ------------------------------------------------------- definitions and references


def _label_definitions(node: Any) -> Iterator[ast.Label]:
    """Every label a statement defines, anywhere below ``node`` (a generic AST walk)."""
    if isinstance(node, tuple):
        for x in node:
            yield from _label_definitions(x)
        return
    if not dataclasses.is_dataclass(node) or isinstance(node, type):
        return
    label = getattr(node, "label", None)
    if isinstance(label, ast.Label):
        yield label
    for f in dataclasses.fields(node):
        if f.name != "label":
            yield from _label_definitions(getattr(node, f.name))


def _enclosing(a: Analysis, offset: int) -> Any:
    if a.program is None:
        return None
    for d in (*a.program.blocks.values(), *a.program.models.values()):
        if _in_file(a, d.span) and d.span.start <= offset < d.span.end:
            return d
    return None


def _offset(text: str, line: int, character: int) -> int:
    lines = text.splitlines(keepends=True)
    return sum(len(x) for x in lines[:line]) + character


def _located(a: Analysis, span: Span) -> Located:
    start, end = position(span)
    return Located(a.file_of(span), start, end)


def definition(a: Analysis, line: int, character: int) -> Located | None:
    """Where the block, model, label or `use`d file under a position is defined."""
    word = word_at(a.text, line, character)
    if word is None or a.program is None:
        return None
    name = word[0]
    if name.startswith('"'):
        return _used_file(a, name.strip('"'))
    if name in a.program.blocks:
        return _located(a, a.program.blocks[name].name_span)
    if name in a.program.models:
        return _located(a, a.program.models[name].name_span)
    scope = _enclosing(a, _offset(a.text, line, character))
    for label in _label_definitions(getattr(scope, "body", ())):
        if label.span.text == name:
            return _located(a, label.span)
    return None


def _used_file(a: Analysis, raw: str) -> Located | None:
    for base in (a.path.parent, bundled_specs_dir()):
        candidate = (base / raw).resolve()
        if candidate.is_file():
            return Located(candidate, (0, 0), (0, 0))
    return None


def references(a: Analysis, line: int, character: int) -> list[Located]:
    """Every use of the block, model or label under a position (its definition included)."""
    word = word_at(a.text, line, character)
    if word is None or a.program is None or word[0].startswith('"'):
        return []
    name = word[0]
    if name in a.program.blocks or name in a.program.models:
        return [loc for f in a.program.files for loc in _occurrences(a, f, name, 0, len(f.text))]
    scope = _enclosing(a, _offset(a.text, line, character))
    if scope is None:
        return []
    return list(_occurrences(a, scope.span.source, name, scope.span.start, scope.span.end))


def _occurrences(
    a: Analysis, source: SourceFile, name: str, start: int, end: int
) -> Iterator[Located]:
    try:
        lexemes = lex(source.text)
    except Exception:  # a `use`d file that does not parse has no occurrences to show
        return
    for x in lexemes:
        if x.kind != COMMENT and x.text == name and start <= x.start < end:
            yield _located(a, source.span(x.start, x.end))


# ------------------------------------------------------------------------- symbols


@dataclass(frozen=True)
class Symbol:
    """A block, model or label of the outline, with the labels inside it."""

    name: str
    kind: str  # "block", "model", "label"
    span: Span
    name_span: Span
    children: tuple[Symbol, ...] = ()


def symbols(a: Analysis) -> list[Symbol]:
    """The buffer's outline: its blocks and models, each with its labels."""
    if a.program is None:
        return []
    out: list[Symbol] = []
    for kind, defs in (("block", a.program.blocks), ("model", a.program.models)):
        for d in defs.values():
            if not _in_file(a, d.span):
                continue
            labels = tuple(
                Symbol(label.span.text, "label", label.span, label.span)
                for label in _label_definitions(getattr(d, "body", ()))
            )
            out.append(Symbol(d.name, kind, d.span, d.name_span, labels))
    return sorted(out, key=lambda s: s.span.start)

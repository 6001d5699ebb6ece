"""``resdsl lsp``: the language server (stdio, pygls), over :mod:`resdsl.editor.workspace`.

Diagnostics are published for the open buffer a short while after the last
edit (:data:`DEBOUNCE_S`), with every error's range and hint; requests (hover,
inlay hints, definitions, references, completion, formatting, symbols) analyse
the buffer first if it changed since. It never imports torch.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote, urlparse

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path

from resdsl.diagnostics import Diagnostic, ResdslError
from resdsl.editor.signatures import describe, signature
from resdsl.editor.workspace import (
    Analysis,
    Located,
    Symbol,
    analyze,
    block_signature,
    definition,
    hover_text,
    line_shapes,
    position,
    references,
    symbols,
)
from resdsl.ops.registry import KINDS, op_names, ops_of_kind
from resdsl.source import SourceFile
from resdsl.syntax.format import format_source
from resdsl.syntax.tokens import keywords
from resdsl.version import __version__

__all__ = ["DEBOUNCE_S", "ResdslServer", "main"]

DEBOUNCE_S: Final = 0.05
"""The least time between two checks of a buffer while edits keep coming.

The first edit after a pause is checked at once; edits that follow within this
time are gathered into one check, this long after the previous one."""


class ResdslServer(LanguageServer):
    """The language server: one analysis per open buffer, refreshed after edits."""

    def __init__(self) -> None:
        super().__init__("resdsl", __version__)
        self.analyses: dict[str, Analysis] = {}
        self.pending: dict[str, asyncio.TimerHandle] = {}
        self.published: dict[str, set[str]] = {}  # buffer uri -> uris it published to
        self.checked_at: dict[str, float] = {}  # buffer uri -> loop time of its last check

    def analysis(self, uri: str) -> Analysis:
        """The buffer's analysis, recomputed if its text changed since the last one."""
        text = self.workspace.get_text_document(uri).source
        cached = self.analyses.get(uri)
        if cached is None or cached.text != text:
            cached = self.analyses[uri] = analyze(_path(uri), text)
        return cached

    def check_later(self, uri: str, delay: float) -> None:
        """Check the buffer after ``delay`` seconds, or at once after a pause in edits."""
        if (handle := self.pending.pop(uri, None)) is not None:
            handle.cancel()
        loop = asyncio.get_running_loop()
        since = loop.time() - self.checked_at.get(uri, float("-inf"))
        wait = max(0.0, delay - since) if handle is None else delay
        self.pending[uri] = loop.call_later(wait, self.publish, uri)

    def publish(self, uri: str) -> None:
        """Check the buffer and publish its diagnostics, and those it causes in `use`d files."""
        self.pending.pop(uri, None)
        if self.workspace.text_documents.get(uri) is None:
            return
        a = self.analysis(uri)
        self.checked_at[uri] = asyncio.get_running_loop().time()
        by_uri: dict[str, list[lsp.Diagnostic]] = {uri: []}
        for d in a.diagnostics:
            target = uri if d.span is None else from_fs_path(str(a.file_of(d.span))) or uri
            by_uri.setdefault(target, []).append(to_lsp(d))
        for stale in self.published.get(uri, set()) - set(by_uri):
            by_uri[stale] = []
        self.published[uri] = {u for u, ds in by_uri.items() if ds}
        for target, diagnostics in by_uri.items():
            self.text_document_publish_diagnostics(
                lsp.PublishDiagnosticsParams(uri=target, diagnostics=diagnostics)
            )


def _path(uri: str) -> Path:
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    return Path.cwd() / (Path(unquote(parsed.path)).name or "untitled.res")


def _range(start: tuple[int, int], end: tuple[int, int]) -> lsp.Range:
    return lsp.Range(lsp.Position(*start), lsp.Position(*end))


def to_lsp(d: Diagnostic) -> lsp.Diagnostic:
    """A resdsl diagnostic as the protocol's: range, code, message with its hint and notes."""
    start, end = position(d.span) if d.span is not None else ((0, 0), (0, 0))
    if end == start:
        end = (start[0], start[1] + 1)
    message = "\n".join([d.message, *(f"note: {n}" for n in d.notes)])
    if d.hint:
        message += f"\nhint: {d.hint}"
    severity = {
        "warning": lsp.DiagnosticSeverity.Warning,
        "info": lsp.DiagnosticSeverity.Information,
    }.get(d.severity, lsp.DiagnosticSeverity.Error)
    return lsp.Diagnostic(
        range=_range(start, end), message=message, severity=severity, code=d.code, source="resdsl"
    )


def _location(loc: Located) -> lsp.Location:
    return lsp.Location(uri=from_fs_path(str(loc.path)) or "", range=_range(loc.start, loc.end))


def _symbol(s: Symbol) -> lsp.DocumentSymbol:
    kinds = {
        "block": lsp.SymbolKind.Class,
        "model": lsp.SymbolKind.Module,
        "label": lsp.SymbolKind.Field,
    }
    start, end = position(s.span)
    name_start, name_end = position(s.name_span)
    return lsp.DocumentSymbol(
        name=s.name,
        kind=kinds[s.kind],
        range=_range(start, end),
        selection_range=_range(name_start, name_end),
        children=[_symbol(c) for c in s.children],
    )


def completions(a: Analysis) -> list[lsp.CompletionItem]:
    """Layers (with their signatures), the file's blocks, merges and options, keywords."""
    items = [
        lsp.CompletionItem(
            label=layer.name,
            kind=lsp.CompletionItemKind.Function,
            detail=signature(layer),
            documentation=describe(layer),
        )
        for layer in ops_of_kind("layer")
    ]
    if a.program is not None:
        items += [
            lsp.CompletionItem(
                label=name, kind=lsp.CompletionItemKind.Class, detail=block_signature(block)
            )
            for name, block in a.program.blocks.items()
        ]
    layers = {item.label for item in items}
    items += [
        lsp.CompletionItem(label=name, kind=lsp.CompletionItemKind.EnumMember, detail=kind)
        for kind in KINDS
        if kind != "layer"
        for name in op_names(kind)
        if name not in layers
    ]
    items += [lsp.CompletionItem(label=k, kind=lsp.CompletionItemKind.Keyword) for k in keywords()]
    return items


def _format(a: Analysis, uri: str) -> list[lsp.TextEdit] | None:
    try:
        formatted = format_source(SourceFile(str(a.path), a.text))
    except ResdslError:
        return None  # the diagnostics already say why
    if formatted == a.text:
        return []
    lines = a.text.splitlines()
    end = (len(lines), 0)
    return [lsp.TextEdit(range=_range((0, 0), end), new_text=formatted)]


server = ResdslServer()


@server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
def _did_open(ls: ResdslServer, params: lsp.DidOpenTextDocumentParams) -> None:
    ls.check_later(params.text_document.uri, 0)


@server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
def _did_change(ls: ResdslServer, params: lsp.DidChangeTextDocumentParams) -> None:
    ls.check_later(params.text_document.uri, DEBOUNCE_S)


@server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
def _did_save(ls: ResdslServer, params: lsp.DidSaveTextDocumentParams) -> None:
    ls.check_later(params.text_document.uri, 0)


@server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
def _did_close(ls: ResdslServer, params: lsp.DidCloseTextDocumentParams) -> None:
    uri = params.text_document.uri
    ls.analyses.pop(uri, None)
    for target in ls.published.pop(uri, set()) | {uri}:
        ls.text_document_publish_diagnostics(
            lsp.PublishDiagnosticsParams(uri=target, diagnostics=[])
        )


@server.feature(lsp.TEXT_DOCUMENT_HOVER)
def _hover(ls: ResdslServer, params: lsp.HoverParams) -> lsp.Hover | None:
    a = ls.analysis(params.text_document.uri)
    text = hover_text(a, params.position.line, params.position.character)
    if text is None:
        return None
    return lsp.Hover(contents=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=text))


@server.feature(lsp.TEXT_DOCUMENT_INLAY_HINT)
def _inlay_hints(ls: ResdslServer, params: lsp.InlayHintParams) -> list[lsp.InlayHint]:
    a = ls.analysis(params.text_document.uri)
    lines = a.text.splitlines()
    first, last = params.range.start.line, params.range.end.line
    return [
        lsp.InlayHint(
            position=lsp.Position(line, len(lines[line])),
            label=f"→ {shape}",
            kind=lsp.InlayHintKind.Type,
            padding_left=True,
        )
        for line, shape in sorted(line_shapes(a).items())
        if first <= line <= last and line < len(lines)
    ]


@server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
def _definition(ls: ResdslServer, params: lsp.DefinitionParams) -> lsp.Location | None:
    a = ls.analysis(params.text_document.uri)
    found = definition(a, params.position.line, params.position.character)
    return None if found is None else _location(found)


@server.feature(lsp.TEXT_DOCUMENT_REFERENCES)
def _references(ls: ResdslServer, params: lsp.ReferenceParams) -> list[lsp.Location]:
    a = ls.analysis(params.text_document.uri)
    return [_location(r) for r in references(a, params.position.line, params.position.character)]


@server.feature(lsp.TEXT_DOCUMENT_COMPLETION)
def _completion(ls: ResdslServer, params: lsp.CompletionParams) -> lsp.CompletionList:
    a = ls.analysis(params.text_document.uri)
    return lsp.CompletionList(is_incomplete=False, items=completions(a))


@server.feature(lsp.TEXT_DOCUMENT_FORMATTING)
def _formatting(ls: ResdslServer, params: lsp.DocumentFormattingParams) -> Any:
    return _format(ls.analysis(params.text_document.uri), params.text_document.uri)


@server.feature(lsp.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
def _document_symbols(ls: ResdslServer, params: lsp.DocumentSymbolParams) -> Any:
    return [_symbol(s) for s in symbols(ls.analysis(params.text_document.uri))]


def main() -> None:
    """Serve over stdin and stdout until the client says exit."""
    server.start_io()

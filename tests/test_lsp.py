"""``resdsl lsp`` end to end: a real LSP client (pytest-lsp) drives the server over stdio."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types as lsp
from pytest_lsp import ClientServerConfig, LanguageClient

ROOT = Path(__file__).resolve().parent.parent
RESNET = ROOT / "specs" / "resnet.res"
URI = RESNET.as_uri()
TEXT = RESNET.read_text(encoding="utf-8")
LINES = TEXT.splitlines()


def _line(prefix: str, after: int = 0) -> int:
    """The 0-based number of the first line after line ``after`` that starts with ``prefix``."""
    return next(i for i, line in enumerate(LINES) if i >= after and line.startswith(prefix))


BOTTLENECK = _line("block bottleneck")
CONV1 = _line("    conv1:", BOTTLENECK)  # conv1 inside bottleneck


@pytest_lsp.fixture(
    config=ClientServerConfig(server_command=[sys.executable, "-m", "resdsl", "lsp"]),
)
async def client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    await lsp_client.initialize_session(
        lsp.InitializeParams(capabilities=lsp.ClientCapabilities(), root_uri=ROOT.as_uri())
    )
    yield
    await lsp_client.shutdown_session()


async def _open(client: LanguageClient, text: str = TEXT) -> list[lsp.Diagnostic]:
    client.text_document_did_open(
        lsp.DidOpenTextDocumentParams(
            text_document=lsp.TextDocumentItem(uri=URI, language_id="resdsl", version=1, text=text)
        )
    )
    await _until(client, lambda: URI in client.diagnostics)
    return list(client.diagnostics[URI])


async def _until(client: LanguageClient, ready: Callable[[], bool]) -> None:
    """Wait for diagnostics until ``ready()`` holds (at most 60 s: a hang fails the test)."""
    async with asyncio.timeout(60):
        while not ready():
            await client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)


@pytest.mark.asyncio
async def test_resnet_has_no_diagnostics_and_a_typo_has_one(client: LanguageClient) -> None:
    assert await _open(client) == []
    typo = TEXT.replace("    bn1:   batchnorm\n", "    bn1:   batchnrom\n", 1)
    client.text_document_did_change(
        lsp.DidChangeTextDocumentParams(
            text_document=lsp.VersionedTextDocumentIdentifier(uri=URI, version=2),
            content_changes=[lsp.TextDocumentContentChangeWholeDocument(text=typo)],
        )
    )
    await _until(client, lambda: len(client.diagnostics[URI]) > 0)
    (d,) = client.diagnostics[URI]
    line = _line("    bn1:   batchnorm")
    assert d.range == lsp.Range(lsp.Position(line, 11), lsp.Position(line, 20))
    assert d.code == "unknown-layer"
    assert d.severity == lsp.DiagnosticSeverity.Error
    assert d.message.startswith("unknown layer or block 'batchnrom'\n")
    assert d.message.endswith("\nhint: did you mean 'batchnorm'?")


@pytest.mark.asyncio
async def test_hover_on_conv1_in_bottleneck_shows_resnet50_shapes(client: LanguageClient) -> None:
    await _open(client)
    hover = await client.text_document_hover_async(
        lsp.HoverParams(
            text_document=lsp.TextDocumentIdentifier(uri=URI), position=lsp.Position(CONV1, 6)
        )
    )
    assert hover is not None and isinstance(hover.contents, lsp.MarkupContent)
    text = hover.contents.value
    assert "**resnet50**: 16 modules from this line" in text
    assert "| `layer1.0.conv1` | `conv` | [64, H/4=56, W/4=56] | 4,096 | 12,845,056 |" in text
    assert "| `layer2.1.conv1` | `conv` | [128, H/8=28, W/8=28] | 65,536 | 51,380,224 |" in text
    assert "also in: resnet101, resnet152" in text


@pytest.mark.asyncio
async def test_inlay_hints_show_each_line_s_output_shape(client: LanguageClient) -> None:
    await _open(client)
    hints = await client.text_document_inlay_hint_async(
        lsp.InlayHintParams(
            text_document=lsp.TextDocumentIdentifier(uri=URI),
            range=lsp.Range(lsp.Position(0, 0), lsp.Position(len(LINES), 0)),
        )
    )
    assert hints is not None
    by_line = {h.position.line: h for h in hints}
    stem = _line("    conv1:   conv(64, 7")
    assert by_line[stem].label == "→ [64, 112, 112]"
    assert by_line[stem].position.character == len(LINES[stem])
    assert by_line[_line("    fc:")].label == "→ [1000]"
    assert by_line[CONV1].label == "→ [64, 56, 56] … [512, 7, 7] (16×)"
    assert all(LINES[h.position.line].strip() for h in hints)


@pytest.mark.asyncio
async def test_formatting_is_the_formatter_s(client: LanguageClient) -> None:
    messy = TEXT.replace("    bn1:   batchnorm\n", "  bn1 :batchnorm\n", 1)
    await _open(client, messy)
    edits = await client.text_document_formatting_async(
        lsp.DocumentFormattingParams(
            text_document=lsp.TextDocumentIdentifier(uri=URI),
            options=lsp.FormattingOptions(tab_size=4, insert_spaces=True),
        )
    )
    assert edits is not None
    (edit,) = edits
    assert edit.new_text == TEXT
    assert edit.range == lsp.Range(lsp.Position(0, 0), lsp.Position(len(LINES), 0))


@pytest.mark.asyncio
async def test_definition_references_completion_and_symbols(client: LanguageClient) -> None:
    await _open(client)
    doc = lsp.TextDocumentIdentifier(uri=URI)
    alias = _line("model resnet50")
    column = LINES[alias].index("bottleneck") + 2
    found = await client.text_document_definition_async(
        lsp.DefinitionParams(text_document=doc, position=lsp.Position(alias, column))
    )
    assert found == lsp.Location(
        uri=URI, range=lsp.Range(lsp.Position(BOTTLENECK, 6), lsp.Position(BOTTLENECK, 16))
    )
    skip = _line("    downsample: skip in -> bn3", BOTTLENECK)
    label = await client.text_document_definition_async(
        lsp.DefinitionParams(
            text_document=doc, position=lsp.Position(skip, LINES[skip].index("bn3") + 1)
        )
    )
    bn3 = _line("    bn3:", BOTTLENECK)
    assert label == lsp.Location(
        uri=URI, range=lsp.Range(lsp.Position(bn3, 4), lsp.Position(bn3, 7))
    )
    refs = await client.text_document_references_async(
        lsp.ReferenceParams(
            text_document=doc,
            position=lsp.Position(BOTTLENECK, 8),
            context=lsp.ReferenceContext(include_declaration=True),
        )
    )
    assert refs is not None
    assert sorted(r.range.start.line for r in refs) == [
        BOTTLENECK,
        *(_line(f"model resnet{n} ") for n in (50, 101, 152)),
    ]
    completion = await client.text_document_completion_async(
        lsp.CompletionParams(text_document=doc, position=lsp.Position(CONV1, 11))
    )
    assert isinstance(completion, lsp.CompletionList)
    items = {item.label: item for item in completion.items}
    assert (
        items["maxpool"].detail
        == "maxpool(kernel_size, [stride], padding=0, dilation=1, ceil_mode=false)"
    )
    assert items["basic"].detail == "block basic(planes: int, stride: int = 1)"
    assert items["skip"].kind == lsp.CompletionItemKind.Keyword
    outline = await client.text_document_document_symbol_async(
        lsp.DocumentSymbolParams(text_document=doc)
    )
    assert outline is not None
    names = [(s.name, [c.name for c in s.children or []]) for s in outline]  # type: ignore[union-attr]
    assert names[1] == (
        "bottleneck",
        ["conv1", "bn1", "conv2", "bn2", "conv3", "bn3", "downsample"],
    )
    assert [n for n, _ in names][-5:] == [
        "resnet18",
        "resnet34",
        "resnet50",
        "resnet101",
        "resnet152",
    ]


@pytest.mark.asyncio
async def test_diagnostics_in_a_used_file_reach_that_file(
    client: LanguageClient, tmp_path: Path
) -> None:
    (tmp_path / "lib.res").write_text("block unit(c: int) {\n    conv(c, 3, pading=1)\n}\n")
    main = tmp_path / "main.res"
    text = 'use "lib.res"\n\nmodel m() {\n    input [3, H=8, W=8]\n    unit(4)\n}\n'
    client.text_document_did_open(
        lsp.DidOpenTextDocumentParams(
            text_document=lsp.TextDocumentItem(
                uri=main.as_uri(), language_id="resdsl", version=1, text=text
            )
        )
    )
    lib = (tmp_path / "lib.res").as_uri()
    await _until(client, lambda: main.as_uri() in client.diagnostics and lib in client.diagnostics)
    assert list(client.diagnostics[main.as_uri()]) == []
    (d,) = client.diagnostics[lib]
    assert d.range.start == lsp.Position(1, 15)
    assert "pading" in d.message and "hint: did you mean 'padding'?" in d.message


def test_the_server_never_imports_torch() -> None:
    code = "import sys, resdsl.cli, resdsl.editor.server; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0

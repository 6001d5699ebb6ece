"""``resdsl lsp``: start the language server on stdin and stdout. Never imports torch."""

from __future__ import annotations

from resdsl.cli.common import app


@app.command("lsp")
def lsp() -> None:
    """Run the resdsl language server over stdio (for editors; see docs/editors.md).

    Diagnostics as you type, hover with shapes, parameters and MACs, the output
    shape at the end of each line, go to definition, references, completion of
    layers and blocks, formatting and document symbols.
    """
    from resdsl.editor.server import main

    main()

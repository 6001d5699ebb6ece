"""Write the TextMate grammar of ``.res`` files for editors: run after a grammar or registry change.

    python scripts/make_editor_grammars.py

It is built from the grammar's reserved words and the op registry
(:mod:`resdsl.editor.textmate`); ``tests/test_highlight.py`` fails while the
shipped file differs from what this would write.
"""

from __future__ import annotations

from pathlib import Path

from resdsl.editor.textmate import grammar_text

TARGET = (
    Path(__file__).resolve().parent.parent
    / "editors"
    / "vscode"
    / "syntaxes"
    / "res.tmLanguage.json"
)


def main() -> None:
    TARGET.write_text(grammar_text(), encoding="utf-8")
    print(
        f"wrote {TARGET.relative_to(Path.cwd()) if TARGET.is_relative_to(Path.cwd()) else TARGET}"
    )


if __name__ == "__main__":
    main()

"""Regenerate the parser's shipped LALR tables after a change to the grammar.

Run ``python scripts/make_parser_tables.py`` from the checkout whenever
``grammars/resdsl.lark`` changes or Lark is upgraded; it rewrites
``resdsl/syntax/parser_tables.json``. ``tests/test_parser_tables.py`` fails
while the file is stale, and until then every run builds the tables from the
grammar instead (correct, but tens of milliseconds slower).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from resdsl.syntax.parse import parser_tables_text  # noqa: E402
from resdsl.syntax.tables import TABLES_FILE  # noqa: E402


def main() -> None:
    text = parser_tables_text()
    if TABLES_FILE.is_file() and TABLES_FILE.read_text(encoding="utf-8") == text:
        print(f"{TABLES_FILE.relative_to(ROOT)} is up to date")
        return
    TABLES_FILE.write_text(text, encoding="utf-8")
    print(f"wrote {TABLES_FILE.relative_to(ROOT)} ({len(text):,} characters)")


if __name__ == "__main__":
    main()

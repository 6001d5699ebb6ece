"""``resdsl fmt``: rewrite specs in the canonical layout. Never imports torch.

The layout is :mod:`resdsl.syntax.format`'s; this command reads the files, writes
the changed ones atomically (a temporary file renamed over the original, which
keeps its mode), and reports.
"""

from __future__ import annotations

import difflib
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from resdsl.cli.common import USAGE_CODES, app, err, out, write_atomic
from resdsl.diagnostics import ResdslError, render_all
from resdsl.source import SourceFile
from resdsl.syntax.format import format_source

_MAX_BYTES = 10 * 1024 * 1024


def read_spec(path: Path) -> str:
    """The text of a spec file, or a ResdslError that says why it cannot be read."""
    try:
        if path.stat().st_size > _MAX_BYTES:
            raise ResdslError.single("file-too-large", f"{path}: file is larger than 10 MiB")
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResdslError.single("no-file", f"{path}: no such file") from None
    except IsADirectoryError:
        raise ResdslError.single("no-file", f"{path}: is a directory, not a spec") from None
    except UnicodeDecodeError as error:
        raise ResdslError.single(
            "encoding", f"{path}: not UTF-8 text (byte {error.start})"
        ) from None
    except OSError as error:
        raise ResdslError.single("no-file", f"{path}: {error.strerror}") from None


def unified_diff(name: str, before: str, after: str) -> str:
    """The change the formatter would make, as ``diff -u`` prints it."""
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=f"{name} (original)",
            tofile=f"{name} (formatted)",
        )
    )


def _write(path: Path, text: str) -> None:
    mode = path.stat().st_mode & 0o7777

    def write(tmp: Path) -> None:
        tmp.write_text(text, encoding="utf-8")

    write_atomic(path, write)
    os.chmod(path, mode)


@app.command("fmt")
def fmt(
    files: Annotated[list[Path], typer.Argument(help="Spec files to format; - reads stdin.")],
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 if a file would change.")
    ] = False,
    diff: Annotated[
        bool, typer.Option("--diff", help="Write nothing; print the changes as a unified diff.")
    ] = False,
) -> None:
    """Format specs in the canonical layout (indentation, spacing, aligned labels).

    Comments are kept; formatting twice changes nothing. A file that does not
    parse is left alone and its diagnostics printed. Exits 0 when all is well,
    1 when a file is invalid or (with --check) would change, 2 for bad usage.
    With - as the only file, reads the spec from stdin and writes it to stdout.
    """
    if [str(f) for f in files] == ["-"]:
        raise typer.Exit(_stdin(check, diff))
    changed = invalid = 0
    usage_only = True
    for path in files:
        try:
            before = read_spec(path)
            after = format_source(SourceFile(str(path), before))
        except ResdslError as error:
            err.print(render_all(error.diagnostics), markup=False)
            invalid += 1
            usage_only &= all(d.code in USAGE_CODES for d in error.diagnostics)
            continue
        if after == before:
            continue
        changed += 1
        if diff:
            out.print(unified_diff(str(path), before, after), end="", markup=False)
        if check and not diff:
            err.print(f"would reformat {path}", markup=False)
        if not (check or diff):
            _write(path, after)
            err.print(f"reformatted {path}", markup=False)
    if invalid and usage_only and not changed:
        raise typer.Exit(2)
    raise typer.Exit(1 if invalid or (changed and (check or diff)) else 0)


def _stdin(check: bool, diff: bool) -> int:
    before = sys.stdin.read()
    try:
        after = format_source(SourceFile("<stdin>", before))
    except ResdslError as error:
        err.print(render_all(error.diagnostics), markup=False)
        return 1
    if diff:
        out.print(unified_diff("<stdin>", before, after), end="", markup=False)
    elif not check:
        sys.stdout.write(after)
    return 1 if (check or diff) and after != before else 0

"""Files the command line reads and writes, and user text it prints.

Reading: only regular files, at most 10 MiB each (the root file and every
``use``d one), only ``.res`` files through ``use``, and over-long names as a
message. Writing (``-o``): only regular files, checked before any work, a
symbolic link written through, fsync before the atomic rename, no temporary
file left behind. Printing: spec text is printed literally (no rich markup, no
emoji codes).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from resdsl.cli import app
from resdsl.cli.common import write_atomic

runner = CliRunner()

TINY = "model m {\n    input [3, H=8, W=8]\n    conv1: conv(4, 3, padding=1)\n}\n"
LONG_NAME = "n" * 300


def run(*args: str | Path) -> tuple[int, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    spec = tmp_path / "tiny.res"
    spec.write_text(TINY)
    return spec


def _hidden(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


# ---------------------------------------------------------------- reading


def test_check_refuses_a_device_instead_of_reading_it_forever() -> None:
    code, out = run("check", "/dev/zero")
    assert code == 2
    assert out == "error: /dev/zero: is not a regular file (a device, FIFO or socket)\n"


def test_check_refuses_a_fifo_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.res"
    os.mkfifo(fifo)
    code, out = run("check", fifo)
    assert code == 2
    assert out == f"error: {fifo}: is not a regular file (a device, FIFO or socket)\n"


def test_a_used_file_is_held_to_the_size_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    big = tmp_path / "big.res"
    with big.open("wb") as f:
        f.truncate(10 * 1024 * 1024 + 1)  # sparse: no 10 MiB written to the disk
    spec = tmp_path / "main.res"
    spec.write_text('use "big.res"\n' + TINY)
    code, out = run("check", "main.res")
    assert code == 1
    assert out.splitlines()[0] == (
        "main.res:1:1: error: cannot read 'big.res': file is larger than 10 MiB"
    )


def test_a_used_fifo_and_device_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    os.mkfifo(tmp_path / "pipe.res")
    spec = tmp_path / "main.res"
    spec.write_text('use "pipe.res"\n' + TINY)
    code, out = run("check", "main.res")
    assert code == 1
    assert out.splitlines()[0] == (
        "main.res:1:1: error: cannot read 'pipe.res': is not a regular file "
        "(a device, FIFO or socket)"
    )


def test_use_refuses_a_file_that_is_not_a_spec_before_reading_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("a secret that must not be quoted\n")
    spec = tmp_path / "main.res"
    spec.write_text('use "notes.txt"\n' + TINY)
    code, out = run("check", "main.res")
    assert code == 1
    assert "secret" not in out
    assert out.splitlines()[:4] == [
        "main.res:1:1: error: 'use \"notes.txt\"' is not a .res file",
        '    1 | use "notes.txt"',
        "      | ^^^^^^^^^^^^^^^",
        "  hint: 'use' reads only spec files, whose names end in .res",
    ]


def test_an_overlong_use_path_is_a_diagnostic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    spec = tmp_path / "main.res"
    spec.write_text(f'use "{LONG_NAME}.res"\n' + TINY)
    code, out = run("check", "main.res")
    assert code == 1
    assert out.splitlines()[0] == (
        "main.res:1:1: error: a name in this 'use' path is longer than 255 bytes"
    )


def test_an_overlong_spec_name_is_a_usage_error(tmp_path: Path) -> None:
    code, out = run("check", tmp_path / f"{LONG_NAME}.res")
    assert code == 2
    assert out.endswith(": File name too long\n") and out.startswith("error: ")


# ---------------------------------------------------------------- writing


def test_output_refuses_a_device_before_the_build(tmp_path: Path) -> None:
    bad = tmp_path / "bad.res"
    bad.write_text("model m { input [3, 8, 8]; conv(4, 3); batchnrom }\n")
    # The spec is invalid too: the output is checked first, so no time is spent.
    code, out = run("compile", bad, "-o", "/dev/null")
    assert code == 2
    assert out == (
        "error: cannot write /dev/null: it is not a regular file (a device, FIFO or socket)\n"
        "  hint: resdsl only writes regular files; give a file name\n"
    )
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


@pytest.mark.parametrize("command", ["render", "paths"])
def test_output_refuses_a_fifo_and_leaves_it(tiny: Path, command: str) -> None:
    fifo = tiny.parent / ("out.dot" if command == "render" else "out.png")
    os.mkfifo(fifo)
    code, out = run(command, tiny, "-o", fifo)
    assert code == 2
    assert f"error: cannot write {fifo}: it is not a regular file" in out
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert _hidden(tiny.parent) == []


def test_output_checks_the_directory_before_the_build(tmp_path: Path) -> None:
    bad = tmp_path / "bad.res"
    bad.write_text("model m { input [3, 8, 8]; batchnrom }\n")
    missing = tmp_path / "no" / "model.py"
    code, out = run("compile", bad, "-o", missing)
    assert code == 2
    assert out == f"error: cannot write {missing}: directory {missing.parent} does not exist\n"
    code, out = run("compile", bad, "-o", tmp_path)
    assert code == 2
    assert out == f"error: cannot write {tmp_path}: it is a directory\n"


def test_output_with_an_overlong_name_is_a_usage_error(tiny: Path) -> None:
    target = tiny.parent / f"{LONG_NAME}.dot"
    code, out = run("render", tiny, "-o", target)
    assert code == 2
    assert "the file name is longer than 255 bytes" in out
    assert "Traceback" not in out


def test_output_writes_through_a_symbolic_link(tiny: Path) -> None:
    real = tiny.parent / "real.dot"
    real.write_text("old\n")
    real.chmod(0o640)
    link = tiny.parent / "link.dot"
    link.symlink_to(real.name)
    code, out = run("render", tiny, "-o", link)
    assert code == 0, out
    assert link.is_symlink() and os.readlink(link) == "real.dot"
    assert real.read_text().startswith("digraph")
    assert stat.S_IMODE(real.stat().st_mode) == 0o640  # a replaced file keeps its mode
    assert _hidden(tiny.parent) == []


def test_write_atomic_syncs_before_it_renames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import resdsl.cli.common as common

    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync")
        real_fsync(fd)

    def replace(src: str | Path, dst: str | Path) -> None:
        events.append("replace")
        real_replace(src, dst)

    monkeypatch.setattr(common.os, "fsync", fsync)
    monkeypatch.setattr(common.os, "replace", replace)
    write_atomic(tmp_path / "out.txt", lambda p: p.write_text("data"))
    assert events[:2] == ["fsync", "replace"]
    assert (tmp_path / "out.txt").read_text() == "data"


@pytest.mark.parametrize("failure", [RuntimeError, KeyboardInterrupt, OSError])
def test_write_atomic_leaves_no_temporary_file(
    tmp_path: Path, failure: type[BaseException]
) -> None:
    target = tmp_path / "out.txt"
    target.write_text("before")

    def write(p: Path) -> None:
        p.write_text("half")
        raise failure("stopped")

    with pytest.raises(typer.Exit if failure is OSError else failure):
        write_atomic(target, write)
    assert target.read_text() == "before"
    assert _hidden(tmp_path) == []


# ---------------------------------------------------------------- printing


def test_spec_text_is_printed_literally(tmp_path: Path) -> None:
    spec = tmp_path / "marked.res"
    spec.write_text(
        "model m {\n    input [3, bold=8, red=8]\n    conv1: conv(4, 3, padding=1)  # :x: [bold]\n"
        "    bn: batchnrom  # :x: [red]\n}\n"
    )
    code, out = run("check", spec)
    assert code == 1
    assert "    4 |     bn: batchnrom  # :x: [red]" in out.splitlines()
    assert "\u274c" not in out


def test_summary_prints_symbols_named_like_markup(tmp_path: Path) -> None:
    spec = tmp_path / "marked.res"
    spec.write_text(
        "model m {\n    input [3, bold=8, red=8]\n    conv1: conv(4, 3, padding=1)\n}\n"
    )
    code, out = run("summary", spec)
    assert code == 0, out
    row = next(line for line in out.splitlines() if "conv1" in line)
    assert "[4, bold, red]" in row and "112" in row
    assert "m  input [3, bold=8, red=8]" in out


def test_progress_descriptions_are_printed_literally() -> None:
    import io

    import resdsl.cli.analyze as analyze
    from resdsl.cli.common import LiteralConsole

    screen = io.StringIO()
    console = LiteralConsole(stderr=True, file=screen, force_terminal=True)
    saved = analyze.err
    analyze.err = console
    try:
        with analyze._progress(2) as step:
            step("first")
            step("layer [bold] :x:")  # the last description is drawn when the bar stops
    finally:
        analyze.err = saved
    assert "layer [bold] :x:" in screen.getvalue()

"""The check and summary commands: output, exit codes (0 ok, 1 invalid spec, 2 usage)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from resdsl.cli import app
from tests.conftest import SPECS

runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_check_prints_a_summary() -> None:
    code, out = run("check", str(SPECS / "unet_noalign.res"))
    assert code == 0
    assert out.splitlines()[1:] == [
        "  parameters   31,037,698",
        "  MACs         48.1716 G  (batch 1, input 3×256×256)",
        "  input        [3, H=256, W=256]",
        "  output       [2, H, W]",
        "  valid sizes  H and W must be multiples of 16, at least 16",
    ]


def test_check_with_params_and_model() -> None:
    code, out = run(
        "check", str(SPECS / "resnet.res"), "-m", "resnet", "-p", "depths=[2, 2, 2, 2]",
        "-p", "num_classes=10", "-p", "H=32", "-p", "W=32",
    )  # fmt: skip
    assert code == 0, out
    assert "parameters   11,181,642" in out
    assert "output       [10]" in out


def test_check_plain_twin() -> None:
    code, out = run("check", str(SPECS / "resnet.res"), "-m", "resnet18", "--plain")
    assert code == 0
    # resnet18 loses its three projection shortcuts, conv 1x1 + batch norm each:
    # 11,689,512 - (64*128 + 256) - (128*256 + 512) - (256*512 + 1024)
    assert "parameters   11,515,688" in out


def test_invalid_spec_exits_1_with_diagnostics(tmp_path: Path) -> None:
    spec = tmp_path / "bad.res"
    spec.write_text("model m() {\n    input [3, H=8, W=8]\n    bn1: batchnrom\n}\n")
    code, out = run("check", str(spec))
    assert code == 1
    assert "bad.res:3:10: error: unknown layer or block 'batchnrom'" in out
    assert "hint: did you mean 'batchnorm'?" in out


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert run("check", str(tmp_path / "missing.res"))[0] == 2
    code, out = run("summary", str(SPECS / "resnet.res"))
    assert code == 2 and "defines 6 models" in out
    code, out = run("check", str(SPECS / "resnet.res"), "-m", "resnet51")
    assert code == 2 and "did you mean 'resnet50'?" in out
    code, out = run("check", str(SPECS / "resnet.res"), "-m", "resnet")
    assert code == 2 and "needs parameter 'depths'" in out
    code, out = run("check", str(SPECS / "resnet.res"), "-m", "resnet18", "-p", "depths=[1]")
    assert code == 2 and "fixed by its alias" in out
    code, out = run("check", str(SPECS / "resnet.res"), "-m", "resnet18", "-p", "oops")
    assert code == 2 and "expected NAME=VALUE" in out
    code, out = run("check", str(SPECS / "resnet.res"), "-m", "resnet18", "-p", "x=[1,")
    assert code == 2
    assert run("check", str(SPECS / "resnet.res"), "--no-such-option")[0] == 2
    assert run("check")[0] == 2


def test_summary_table() -> None:
    code, out = run("summary", str(SPECS / "cifar_resnet.res"), "-m", "resnet20")
    assert code == 0
    assert "layer2.0.shortcut" in out and "zeropad" in out
    assert "269,722" in out
    lines = [line for line in out.splitlines() if "layer1.0.conv1" in line]
    assert lines and "2,304" in lines[0] and "[16, H, W]" in lines[0]


def test_max_nodes_option(tmp_path: Path) -> None:
    code, out = run("check", str(SPECS / "resnet.res"), "-m", "resnet50", "--max-nodes", "50")
    assert code == 1 and "more than 50 nodes" in out


def test_write_atomic_refuses_bad_destinations_cleanly(tmp_path: Path) -> None:
    import os

    import pytest
    import typer

    from resdsl.cli.common import write_atomic

    def write(p: Path) -> None:
        p.write_text("x")

    for bad in (tmp_path / "no" / "such" / "dir" / "f.py", tmp_path):
        with pytest.raises(typer.Exit) as info:
            write_atomic(bad, write)
        assert info.value.exit_code == 2
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    if os.geteuid() != 0:  # root ignores directory permissions
        with pytest.raises(typer.Exit):
            write_atomic(locked / "f.py", write)
    target = tmp_path / "ok.py"
    write_atomic(target, write)
    assert target.read_text() == "x"
    assert target.stat().st_mode & 0o777 == 0o666 & ~_umask()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask

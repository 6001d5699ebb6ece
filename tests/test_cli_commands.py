"""Command-line behaviour a new user meets first: --version, whole-file check, -p words,
--plain everywhere, summary options, render warnings, the layers list, --help."""

from __future__ import annotations

import json
import re
import sys
import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

import resdsl
from resdsl.cli import app
from resdsl.version import __version__
from tests.conftest import SPECS

runner = CliRunner()


def run(*args: str | Path) -> tuple[int, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def test_version() -> None:
    assert run("--version") == (0, f"resdsl {__version__}\n")


def test_help_lists_every_command() -> None:
    code, out = run("--help")
    assert code == 0
    listed = re.findall(r"^  (\w+)  ", out, flags=re.MULTILINE)
    registered = [c.name or c.callback.__name__ for c in app.registered_commands]  # type: ignore[union-attr]
    assert sorted(listed) == sorted(registered)
    assert listed[:4] == ["check", "summary", "compile", "render"]
    assert "layers" in listed and "--version" in out


# ---------------------------------------------------------------- check the whole file


def test_check_without_model_checks_every_model() -> None:
    code, out = run("check", SPECS / "resnet.res")
    assert code == 0, out
    assert out.splitlines() == [
        f"{SPECS / 'resnet.res'}: 6 models",
        "  resnet     not checked: model 'resnet' needs parameter 'depths' (list)",
        "  resnet18   checks: 11,689,512 parameters, 1.8141 G MACs, "
        "input [3, H=224, W=224], output [1000]",
        "  resnet34   checks: 21,797,672 parameters, 3.6638 G MACs, "
        "input [3, H=224, W=224], output [1000]",
        "  resnet50   checks: 25,557,032 parameters, 4.0892 G MACs, "
        "input [3, H=224, W=224], output [1000]",
        "  resnet101  checks: 44,549,160 parameters, 7.8014 G MACs, "
        "input [3, H=224, W=224], output [1000]",
        "  resnet152  checks: 60,192,808 parameters, 11.5136 G MACs, "
        "input [3, H=224, W=224], output [1000]",
        "5 check, 1 not checked (choose one with --model and set its parameters with -p)",
    ]


def test_check_every_model_reports_an_invalid_one_and_exits_1(tmp_path: Path) -> None:
    spec = tmp_path / "two.res"
    spec.write_text(
        "model good { input [3, 8, 8]; conv(4, 3) }\nmodel bad { input [3, 8, 8]; batchnrom }\n"
    )
    code, out = run("check", spec)
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == f"{spec}: 2 models"
    assert lines[1] == (
        "  good  checks: 112 parameters, 3.8880 K MACs, input [3, 8, 8], output [4, 6, 6]"
    )
    assert "  bad   invalid:" in lines
    assert f"{spec}:2:30: error: unknown layer or block 'batchnrom'" in lines
    assert lines[-1] == "1 check, 1 invalid"


def test_a_broken_alias_is_an_error_whatever_model_is_chosen(tmp_path: Path) -> None:
    spec = tmp_path / "alias.res"
    spec.write_text("model a { input [3, 8, 8]; conv(4, 3) }\nmodel r50 = resnett(depths=[1])\n")
    for args in ([], ["-m", "a"]):
        code, out = run("check", spec, *args)
        assert code == 1
        assert out.splitlines()[:3] == [
            f"{spec}:2:13: error: unknown model 'resnett'",
            "    2 | model r50 = resnett(depths=[1])",
            "      |             ^^^^^^^",
        ]
    with pytest.raises(resdsl.ResdslError):
        resdsl.load(spec)


# ---------------------------------------------------------------- -p values


def test_a_bare_word_is_a_string_parameter() -> None:
    quoted = run("check", SPECS / "rezero.res", "-m", "rezero20", "-p", 'init="default"')
    bare = run("check", SPECS / "rezero.res", "-m", "rezero20", "-p", "init=default")
    assert bare[0] == 0 and bare == quoted


def test_a_misspelt_block_parameter_gets_did_you_mean() -> None:
    code, out = run(
        "check", SPECS / "resnet.res", "-m", "resnet", "-p", "depths=[1,1,1,1]",
        "-p", "unit=bottlenek",
    )  # fmt: skip
    assert code == 2
    assert out.splitlines() == [
        "<-p unit>:1:1: error: unknown name 'bottlenek'",
        "    1 | bottlenek",
        "      | ^^^^^^^^^",
        "  hint: did you mean 'bottleneck'? (for the word itself as a string, quote it: "
        "-p 'unit=\"bottlenek\"')",
    ]


# ---------------------------------------------------------------- --plain everywhere


def test_plain_is_accepted_by_every_command_that_takes_a_model() -> None:
    for command in ("check", "summary", "compile", "render", "compare", "paths", "gradflow",
                    "identity", "train"):  # fmt: skip
        code, out = run(command, "--help")
        assert code == 0 and "--plain " in out, command


def test_compare_and_identity_with_plain_use_the_plain_twin() -> None:
    code, out = run("compare", SPECS / "cifar_resnet.res", "-m", "resnet20", "--plain", "--json")
    assert code == 0, out
    result = json.loads(out)
    assert result["model"]["skips"] == 0 and result["model"]["paths"] == 1
    code, out = run("identity", SPECS / "cifar_resnet.res", "-m", "resnet20", "--plain", "--json")
    assert code == 0, out
    assert json.loads(out)["blocks"] == []


def test_gradflow_with_plain_measures_the_plain_twin() -> None:
    code, plain = run("gradflow", SPECS / "cifar_resnet.res", "-m", "resnet20", "--plain",
                      "--json", "--batch", "4")  # fmt: skip
    assert code == 0, plain
    spec = resdsl.load(SPECS / "cifar_resnet.res").plain()
    expected = spec.gradflow("resnet20", batch=4)
    assert json.loads(plain) == json.loads(expected.model_dump_json())


# ---------------------------------------------------------------- summary


def test_summary_depth_collapses_blocks_with_summed_costs() -> None:
    code, out = run("summary", SPECS / "resnet.res", "-m", "resnet18", "--depth", "0")
    assert code == 0, out
    rows = [line for line in out.splitlines() if line.startswith("│")]
    assert [r.split("│")[1].strip() for r in rows] == [
        "conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4",
        "avgpool", "9", "fc", "Total",
    ]  # fmt: skip
    layer1 = next(r for r in rows if r.split("│")[1].strip() == "layer1")
    cells = [c.strip() for c in layer1.split("│")[1:-1]]
    # two basic blocks of 64 planes: 2 * (2 * 64*64*9 + 2 * 128) parameters
    # resnet18 takes every size: its stride-2 stem rounds up, and the shape says so
    assert cells == ["layer1", "stage", "[64, ceil(H/4), ceil(W/4)]", "[64, 56, 56]", "147,968",
                     "462,422,016"]  # fmt: skip


def test_summary_json_has_concrete_shapes() -> None:
    code, out = run("summary", SPECS / "cifar_resnet.res", "-m", "resnet20", "--json", "-p", "H=40")
    assert code == 0, out
    data = json.loads(out)
    s = resdsl.load(SPECS / "cifar_resnet.res").summary("resnet20", H=40)
    assert data["params"] == s.params == 269_722 and data["macs"] == s.macs
    assert data["input_shape"] == [3, 40, 32]
    first = data["layers"][0]
    assert first == {
        "name": "conv1", "op": "conv", "depth": 0, "shape": [16, 40, 32],
        "shape_text": "[16, H, W]", "params": 432, "macs": 16 * 3 * 9 * 40 * 32,
    }  # fmt: skip
    assert len(data["layers"]) == len(s.layers)


def test_summary_piped_keeps_long_names_whole(tmp_path: Path) -> None:
    name = "a_very_long_label_that_a_narrow_terminal_would_cut_" * 2
    spec = tmp_path / "long.res"
    spec.write_text(f"model m {{\n    input [3, H=8, W=8]\n    {name}: conv(4, 3, padding=1)\n}}\n")
    code, out = run("summary", spec)
    assert code == 0, out
    row = next(line for line in out.splitlines() if name in line)
    assert "[4, H, W]" in row and "[4, 8, 8]" in row and "112" in row


def test_summary_and_path_report_display_as_tables() -> None:
    spec = resdsl.loads("model m {\n input [3, H=8, W=8]\n c1: conv(4, 3, padding=1)\n"
                        " r: relu\n skip c1 -> r (add)\n}\n")  # fmt: skip
    s = spec.summary()
    assert str(s).splitlines() == [
        "model m",
        "  parameters   112",
        "  MACs         6.9120 K  (batch 1, input 3×8×8)",
        "  input        [3, H=8, W=8]",
        "  output       [4, H, W]",
        "  valid sizes  H and W can be any size",
        "",
        "layer  op    output shape  at 3×8×8   params   MACs",
        "-----  ----  ------------  ---------  ------  -----",
        "c1     conv  [4, H, W]     [4, 8, 8]     112  6,912",
        "r      relu  [4, H, W]     [4, 8, 8]      --     --",
        "r:add  add   [4, H, W]     [4, 8, 8]      --     --",
    ]
    assert repr(s) == (
        "<Summary m: 112 parameters, 6.9120 K MACs, input [3, H=8, W=8], output [4, H, W], "
        f"{len(s.layers)} layers>"
    )
    html = s._repr_html_()
    assert html.startswith("<table><caption>model m: parameters 112;")
    assert "<td>c1</td><td>conv</td>" in html
    report = spec.paths()
    lines = str(report).splitlines()
    assert lines[:3] == [
        "model m: 4 nodes, 1 merges",
        "  input-to-output paths  2",
        "  activations per path   0 to 1",
    ]
    assert lines[-1] == "  input -> c1 -> r:add"
    assert repr(report) == "<PathReport m: 2 paths, 0 to 1 activations per path>"
    assert report._repr_html_().startswith(
        "<table><caption>model m: 2 input-to-output paths; 0 to 1 activations"
    )
    assert '<td style="text-align: right">50.0%</td>' in report._repr_html_()


# ---------------------------------------------------------------- compile and the API


def test_compile_no_forward_writes_the_same_source(tmp_path: Path) -> None:
    spec = SPECS / "resnet.res"
    code, out = run("compile", spec, "-m", "resnet18", "--no-forward", "-o", tmp_path / "a.py")
    assert code == 0, out
    assert "forward " not in out
    assert f"  wrote        {tmp_path / 'a.py'} (function resnet18)" in out
    assert (tmp_path / "a.py").read_text() == resdsl.load(spec).module_source("resnet18")
    code, out = run("compile", spec, "-m", "resnet18", "-o", tmp_path / "b.py")
    assert code == 0 and "  forward      [1, 3, 224, 224] -> [1, 1000]" in out
    assert (tmp_path / "b.py").read_text() == (tmp_path / "a.py").read_text()


def test_spec_compile_takes_the_cli_options() -> None:
    import torch

    spec = resdsl.load(SPECS / "resnet.res")
    torch.manual_seed(0)
    kaiming = spec.compile("resnet18", init="kaiming", zero_init_residual=True)
    torch.manual_seed(0)
    default = spec.compile("resnet18")
    bn2 = kaiming.state_dict()["layer1.0.bn2.weight"]
    assert torch.equal(bn2, torch.zeros_like(bn2))
    assert torch.equal(default.state_dict()["layer1.0.bn2.weight"], torch.ones_like(bn2))
    assert kaiming.code != default.code  # type: ignore[operator]
    with pytest.raises(resdsl.ResdslError) as info:
        spec.compile("resnet18", init="kaiming_uniform")
    assert info.value.diagnostics[0].message == "unknown initialisation scheme 'kaiming_uniform'"


def test_spec_compile_runs_a_forward_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    import resdsl.backends.build as build

    calls: list[int] = []
    real = build.sample_input

    def counting(graph: object, batch: int, **kw: object) -> object:
        calls.append(batch)
        return real(graph, batch, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(build, "sample_input", counting)
    spec = resdsl.loads("model m { input [3, 8, 8]; c: conv(4, 3) }")
    model = spec.compile()
    assert calls == [] and model.training
    spec.compile(check_forward=True)
    assert calls == [1]


# ---------------------------------------------------------------- render


def test_render_warns_when_graphviz_scales_a_bitmap(tmp_path: Path) -> None:
    pytest.importorskip("graphviz")
    import shutil

    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed")
    spec = tmp_path / "tall.res"
    spec.write_text("model tall {\n    input [4]\n    repeat 700 { relu }\n}\n")
    code, out = run("render", spec, "-o", tmp_path / "tall.png")
    assert code == 0, out
    warning = next(line for line in out.splitlines() if line.startswith("warning: "))
    assert re.fullmatch(
        r"warning: Graphviz scaled the png image down by 0\.\d+ to fit its size limit, so its "
        r"text is hard to read: write SVG or PDF \(-o diagram\.svg\) or draw less \(--depth 1\)",
        warning,
    )
    code, out = run("render", spec, "-o", tmp_path / "tall.svg")
    assert code == 0 and "warning" not in out


def test_graphviz_warning_is_a_python_warning() -> None:
    import shutil

    from resdsl.backends.render import GraphvizWarning, dot_to_image

    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed")
    chain = "digraph { " + " -> ".join(f"n{i}" for i in range(700)) + " }"
    with pytest.warns(GraphvizWarning, match="scaled the png image down"):
        dot_to_image(chain, "png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dot_to_image(chain, "svg")


@pytest.mark.parametrize("fmt", ["json", "graphml"])
def test_graph_exports_refuse_drawing_options(tmp_path: Path, fmt: str) -> None:
    code, out = run(
        "render", SPECS / "resnet.res", "-m", "resnet18", "-o", tmp_path / f"g.{fmt}", "-d", "1"
    )
    assert code == 2
    assert out.splitlines() == [
        f"error: --depth applies to drawings, not to {fmt}: it exports every node of the "
        "checked graph",
        "  hint: leave the option out, or draw with -o diagram.svg (or .png, .pdf, .dot)",
    ]
    assert not (tmp_path / f"g.{fmt}").exists()


def test_render_shows_progress_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    import resdsl.cli.render as render_cli
    from resdsl.cli.common import LiteralConsole

    screen = io.StringIO()
    console = LiteralConsole(stderr=True, file=screen, force_terminal=True)
    monkeypatch.setattr(render_cli, "err", console)
    code, _ = run("render", SPECS / "resnet.res", "-m", "resnet18", "-d", "0")
    assert code == 0
    assert "writing dot (" in screen.getvalue()


# ---------------------------------------------------------------- layers


def test_layers_lists_every_layer_without_torch() -> None:
    import subprocess

    script = (
        "import sys\nfrom resdsl.cli import app\n"
        "try:\n    app(['layers'])\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules, 'layers imported torch'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    from resdsl.ops import layer_names

    listed = [
        line.split("│")[1].strip() for line in done.stdout.splitlines() if line.startswith("│")
    ]
    assert listed == layer_names()
    assert "│ conv " in done.stdout
    assert (
        "conv(out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=true, "
        'padding_mode="zeros")' in done.stdout
    )
    assert "skip merges: add, concat and mul" in done.stdout


def test_layers_shows_one_layer_and_suggests_names() -> None:
    code, out = run("layers", "conv")
    assert code == 0
    assert out.splitlines()[0] == (
        "conv(out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=true, "
        'padding_mode="zeros")'
    )
    assert '│ padding      │ int | [int, ...] | "same" | "valid"            │ 0          │' in out
    code, out = run("layers", "batchnrom")
    assert code == 2
    assert out == "error: no layer named 'batchnrom'\n  hint: did you mean 'batchnorm'?\n"

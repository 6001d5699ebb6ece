"""Gradient flow at initialisation (resdsl.analysis.gradflow) and ``resdsl gradflow``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import resdsl
from resdsl.analysis.gradflow import GradFlowReport, gradient_flow, measure
from resdsl.cli import app
from tests.conftest import SPECS


@pytest.fixture(scope="module")
def cifar() -> resdsl.Spec:
    return resdsl.load(SPECS / "cifar_resnet.res")


@pytest.fixture(scope="module")
def resnet20(cifar: resdsl.Spec) -> GradFlowReport:
    return cifar.gradflow("resnet20", plain_twin=True, batch=8)


def test_every_weighted_layer_gets_a_gradient(resnet20: GradFlowReport) -> None:
    assert resnet20.plain is not None
    for flow in (resnet20.model, resnet20.plain):
        assert len(flow.layers) == 20
        assert flow.zero_grad_layers == []
        assert all(layer.grad_norm > 0 for layer in flow.layers)
    # Layers inside the residual blocks are trained too: both convs of every block.
    inner = [layer for layer in resnet20.model.layers if ".conv" in layer.node]
    assert len(inner) == 18 and min(layer.grad_norm for layer in inner) > 1e-3


def test_twin_starts_from_the_same_weights(resnet20: GradFlowReport) -> None:
    assert resnet20.plain is not None
    model, plain = resnet20.model, resnet20.plain
    assert [layer.node for layer in model.layers] == [layer.node for layer in plain.layers]
    # Option A shortcuts own no modules: the same seed gives the same weights.
    assert [layer.weight_norm for layer in model.layers] == [
        layer.weight_norm for layer in plain.layers
    ]
    assert [layer.depth for layer in model.layers] == [float(i) for i in range(1, 21)]


def test_spread_is_first_conv_over_last_conv(resnet20: GradFlowReport) -> None:
    flow = resnet20.model
    assert (flow.spread_over, flow.first, flow.last) == ("conv", "conv1", "layer3.2.conv2")
    norms = {layer.node: layer.grad_norm for layer in flow.layers}
    assert flow.spread == norms["conv1"] / norms["layer3.2.conv2"]
    convs = [layer.grad_norm for layer in flow.layers if layer.op == "conv"]
    assert flow.max_min == max(convs) / min(convs)
    assert flow.loss == "cross_entropy" and flow.init == "kaiming"
    assert resnet20.spread_ratio == resnet20.plain.spread / flow.spread  # type: ignore[union-attr]


def test_seeded_and_repeatable(cifar: resdsl.Spec, resnet20: GradFlowReport) -> None:
    again = cifar.gradflow("resnet20", batch=8)
    assert again.model == resnet20.model
    other = cifar.gradflow("resnet20", batch=2, seed=1)
    assert other.model.layers[0].grad_norm != resnet20.model.layers[0].grad_norm


def test_projection_shortcuts_are_reported_between_layers(cifar: resdsl.Spec) -> None:
    from resdsl.semantics.expr import BlockRef

    r = cifar.gradflow("cifar_resnet", n=1, unit=BlockRef("basic_b"), batch=4)
    shortcuts = [layer for layer in r.model.layers if layer.role == "shortcut"]
    assert [(layer.node, layer.depth) for layer in shortcuts] == [
        ("layer2.0.shortcut.0", 5.5),
        ("layer3.0.shortcut.0", 7.5),
    ]
    assert all(layer.grad_norm > 0 for layer in shortcuts)


def test_losses_and_spreads_of_mlps_and_dense_outputs() -> None:
    spec = resdsl.loads(
        """
        model mlp {
            input [16]
            fc1: linear(32)
            relu
            fc2: linear(32)
            relu
            fc3: linear(16)
            skip fc1 -> fc2 (add)
        }
        """
    )
    r = spec.gradflow(batch=4, init="default")
    assert r.model.loss == "cross_entropy"  # a vector output is read as class scores
    assert r.model.spread_over == "weighted"
    assert (r.model.first, r.model.last) == ("fc1", "fc3")
    dense = resdsl.loads(
        """
        model seg {
            input [3, H=16, W=16]
            c1: conv(8, 3, padding=1)
            relu
            c2: conv(8, 3, padding=1)
            relu
            out: conv(2, 1)
            skip c1 -> c2 (concat)
        }
        """
    )
    flow = dense.gradflow(batch=2).model
    assert flow.loss == "mean_square"
    assert (flow.spread_over, flow.first, flow.last) == ("conv", "c1", "out")


def test_attention_weights_count() -> None:
    spec = resdsl.loads(
        """
        model tiny_transformer {
            input [6, 8]
            ln1: layernorm
            attn: attention(2)
            skip in -> attn (add)
            ln2: layernorm
            fc1: linear(16)
            gelu
            fc2: linear(8)
            skip attn -> fc2 (add)
            flatten
            head: linear(3)
        }
        """
    )
    flow = measure(spec.graph(), batch=4)
    ops = {layer.node: layer.op for layer in flow.layers}
    assert ops == {"attn": "attention", "fc1": "linear", "fc2": "linear", "head": "linear"}
    assert flow.zero_grad_layers == []
    assert flow.loss == "cross_entropy"


def test_rezero_branches_get_no_gradient_until_the_gate_moves() -> None:
    flow = resdsl.load(SPECS / "rezero.res").gradflow("rezero20", batch=2).model
    assert flow.zero_grad_layers == [f"blocks.{i}.conv{j}" for i in range(9) for j in (1, 2)]
    assert [layer.node for layer in flow.layers if layer.grad_norm > 0] == ["stem.conv", "fc"]
    assert flow.spread == float("inf")


@pytest.mark.slow
def test_resnet56_gradients_spread_far_less_than_its_plain_twin(cifar: resdsl.Spec) -> None:
    """The issue's measurement: He init, train-mode BN, batch 32, cross-entropy."""
    r = cifar.gradflow("resnet56", plain_twin=True, batch=32, seed=0)
    assert r.plain is not None
    assert r.model.spread < 50  # about 13-15x
    assert r.plain.spread > 1000  # several thousand: early gradients explode
    ratio = r.spread_ratio
    assert ratio is not None and ratio >= 100
    # The plain twin's large spread is explosion at the input end, not vanishing at the top.
    assert r.plain.layers[0].grad_norm > 100 * r.model.layers[0].grad_norm


# ------------------------------------------------------------------ CLI


def test_cli_gradflow_plot_and_summary(tmp_path: Path) -> None:
    out = tmp_path / "grads.png"
    args = ["gradflow", str(SPECS / "cifar_resnet.res"), "-m", "resnet20", "--plain-twin",
            "--batch", "4", "-o", str(out)]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = result.output
    assert "resnet20: spread" in text and "resnet20 plain twin: spread" in text
    assert "every one of its 20 weighted layers gets a gradient" in text
    assert "the plain twin's spread is" in text


def test_cli_gradflow_json() -> None:
    args = ["gradflow", str(SPECS / "rezero.res"), "-m", "rezero20", "--batch", "2", "--json",
            "--init", "default"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["plain"] is None
    assert data["model"]["init"] == "default"
    names = [layer["node"] for layer in data["model"]["layers"]]
    assert names[0] == "stem.conv" and names[-1] == "fc"


def test_cli_gradflow_bad_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = str(SPECS / "cifar_resnet.res")
    result = CliRunner().invoke(app, ["gradflow", spec, "-m", "resnet20", "--init", "xavier"])
    assert result.exit_code == 2
    assert "unknown --init 'xavier'" in result.output
    result = CliRunner().invoke(app, ["gradflow", spec, "-m", "resnet20", "--batch", "0"])
    assert result.exit_code == 2
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = CliRunner().invoke(
        app, ["gradflow", spec, "-m", "resnet20", "-o", str(tmp_path / "g.png")]
    )
    assert result.exit_code == 2
    assert "plots need matplotlib" in result.output


def test_docstring_examples() -> None:
    import doctest

    import resdsl.analysis.gradflow

    result = doctest.testmod(resdsl.analysis.gradflow)
    assert result.failed == 0 and result.attempted > 0


def test_cli_gradflow_reports_a_failing_pass_without_a_traceback() -> None:
    args = ["gradflow", str(SPECS / "resnet.res"), "-m", "resnet18", "-p", "H=32", "-p", "W=32",
            "--batch", "1"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert "error: running the model failed: Expected more than 1 value per channel" in (
        result.output
    )
    assert "--batch 2 or more" in result.output
    assert "Traceback" not in result.output


def test_gradient_flow_takes_the_graphs(cifar: resdsl.Spec, resnet20: GradFlowReport) -> None:
    graph, plain = cifar.graph("resnet20"), cifar.plain().graph("resnet20")
    assert gradient_flow(graph, plain, batch=8) == resnet20
    assert gradient_flow(graph, batch=8).plain is None


# ------------------------------------------------------------------ overflow

CHAIN = """
model chain {
    input [4]
    fc1: linear(4)
    fc2: linear(4)
    fc3: linear(4)
    fc4: linear(1)
    skip fc1 -> fc3 (add)
}
"""


@pytest.fixture
def overflowing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A chain fed a batch near float32's largest value: its forward and backward overflow."""
    import resdsl.backends.build as build

    sample = build.sample_input
    monkeypatch.setattr(build, "sample_input", lambda g, n, seed=0: sample(g, n, seed=seed) * 1e37)
    path = tmp_path / "chain.res"
    path.write_text(CHAIN)
    return path


def test_overflow_is_reported_not_printed_as_numbers(overflowing: Path) -> None:
    args = ["gradflow", str(overflowing), "--batch", "2", "--init", "default", "--plain-twin"]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    text = result.output
    rows = [line for line in text.splitlines() if "│ fc" in line]
    assert len(rows) == 4 and all(row.count("overflow") == 2 for row in rows)
    assert not any("nan" in row or "inf" in row for row in rows)
    assert "infinite" not in text
    assert text.splitlines()[-5:] == [
        "chain: spread not computed: weighted layers overflowed; loss overflow",
        "  4 of its 4 weighted layers overflowed (gradient norm inf or nan in float32); "
        "0 get a finite non-zero gradient",
        "chain plain twin: spread not computed: weighted layers overflowed; loss overflow",
        "  4 of its 4 weighted layers overflowed (gradient norm inf or nan in float32); "
        "0 get a finite non-zero gradient",
        "no spread ratio: a spread it would be taken from is not a finite number",
    ]


def test_overflow_in_json_is_null_with_a_flag(overflowing: Path) -> None:
    args = ["gradflow", str(overflowing), "--batch", "2", "--init", "default", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    model = json.loads(result.output)["model"]
    assert (model["spread"], model["max_min"], model["loss_value"]) == (None, None, None)
    assert model["overflow_layers"] == ["fc1", "fc2", "fc3", "fc4"]
    assert [(layer["grad_norm"], layer["overflow"]) for layer in model["layers"]] == [
        (None, True)
    ] * 4
    assert all(layer["weight_norm"] > 0 for layer in model["layers"])


def test_finite_layers_are_not_flagged(resnet20: GradFlowReport) -> None:
    assert resnet20.model.overflow_layers == []
    assert not any(layer.overflow for layer in resnet20.model.layers)
    data = json.loads(resnet20.model_dump_json())
    assert data["model"]["layers"][0]["overflow"] is False


def test_plot_marks_overflowed_layers_on_the_top_edge(
    resnet20: GradFlowReport, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from resdsl.analysis import gradflow as gf

    assert resnet20.plain is not None
    layers = [
        layer.model_copy(update={"grad_norm": float("nan" if i % 2 else "inf")})
        if i >= 15
        else layer
        for i, layer in enumerate(resnet20.plain.layers)
    ]
    plain = resnet20.plain.model_copy(
        update={"layers": layers, "overflow_layers": [x.node for x in layers[15:]], "spread": None}
    )
    report = GradFlowReport(model=resnet20.model, plain=plain)
    legends: list[list[str]] = []
    close = plt.close
    monkeypatch.setattr(
        plt,
        "close",
        lambda fig: (
            legends.append([t.get_text() for t in fig.axes[0].get_legend().get_texts()]),
            close(fig),
        ),
    )
    gf.plot(report, tmp_path / "g.svg")
    assert legends[0][1:] == [
        "resnet20 plain twin: spread not computed (overflow) (first/last conv)",
        "resnet20 plain twin: 5 layers overflowed (inf/nan), marked at the top edge",
    ]


def test_checkpointed_blocks_give_the_same_gradients(
    cifar: resdsl.Spec, resnet20: GradFlowReport, monkeypatch: pytest.MonkeyPatch
) -> None:
    from resdsl.analysis import gradflow as gf

    graph = cifar.graph("resnet20")
    assert gf.activation_bytes(graph, 8) < gf.CHECKPOINT_ABOVE  # the fixture ran plainly
    monkeypatch.setattr(gf, "CHECKPOINT_ABOVE", 0)
    calls: list[int] = []
    real = gf._checkpoint_blocks
    monkeypatch.setattr(gf, "_checkpoint_blocks", lambda g, m: (calls.append(1), real(g, m)))
    assert measure(graph, batch=8) == resnet20.model
    assert calls == [1]
    big = resdsl.load(SPECS / "preact_resnet.res").graph("preact_resnet1001")
    assert gf.activation_bytes(big, 32) > 1 << 30


def test_progress_reports_every_block_forward_and_backward(cifar: resdsl.Spec) -> None:
    from resdsl.analysis import gradflow as gf

    graph = cifar.graph("resnet20")
    said: list[str] = []
    measure(graph, batch=4, step=said.append)
    assert len(said) == gf.progress_steps(graph) == 4 + 2 * 9
    assert said[:3] == [
        "building resnet20",
        "forward resnet20",
        "forward resnet20: block 1 of 9 (layer1.0)",
    ]
    backward = said[said.index("backward resnet20") + 1 : -1]
    assert backward[0] == "backward resnet20: block 1 of 9 (layer3.2)"  # from the top down
    assert backward[-1] == "backward resnet20: block 9 of 9 (layer1.0)"
    assert said[-1] == "reading the gradients of resnet20"


def test_offloaded_saved_tensors_give_the_same_gradients(
    cifar: resdsl.Spec, resnet20: GradFlowReport, monkeypatch: pytest.MonkeyPatch
) -> None:
    from resdsl.analysis import gradflow as gf

    monkeypatch.setattr(gf, "CHECKPOINT_ABOVE", 0)
    monkeypatch.setattr(gf, "OFFLOAD_FROM", 1)  # every saved tensor of the batch-8 pass
    written: list[int] = []
    real = gf._Offloaded.__init__

    def counting(self: object, *args: object) -> None:
        written.append(1)
        real(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(gf._Offloaded, "__init__", counting)
    assert measure(cifar.graph("resnet20"), batch=8) == resnet20.model
    assert len(written) > 9  # at least every block's input went to a file

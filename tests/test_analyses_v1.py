"""The analyses (identity, gradflow, gradflow --blocks) on language version 1's constructs.

Named outputs (a dict), ``from`` taps into labelled children (a block that returns a tuple),
parallels, heads no output uses, and models without a residual block.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import resdsl
from resdsl.analysis.blockgrad import block_gradients, block_terms
from resdsl.analysis.compare import compare
from resdsl.analysis.gradflow import measure
from resdsl.analysis.identity import identity_report
from resdsl.analysis.paths import path_report
from resdsl.backends.build import compile_graph, sample_input
from resdsl.cli import app

#: A residual block inside a tapped backbone, two heads, two named outputs.
TWO_HEADS = """
block res(width: int) {
    conv(width, 3, padding=1)
    bn: batchnorm
    skip in -> bn (add)
}
model two_heads(aux_used: bool = true) {
    input [4, H=8, W=8]
    backbone: {
        stem: conv(8, 3, padding=1)
        layer1: res(8)
        layer2: conv(16, 3, stride=2, padding=1)
    }
    head: conv(3, 1)
    aux: conv(3, 1) from backbone.layer1
    output out: head
    output aux: aux if aux_used
}
"""

#: No add merge anywhere: a parallel concatenating its arms (as GoogLeNet's inception).
NO_BLOCKS = """
model inception_like() {
    input [4, H=8, W=8]
    conv(8, 3, padding=1)
    parallel (concat) {
        conv(4, 1)
        { conv(4, 1); conv(4, 3, padding=1) }
    }
    conv(2, 1)
}
"""


def test_identity_compares_every_named_output() -> None:
    graph = resdsl.loads(TWO_HEADS).graph("two_heads")
    exact = identity_report(graph, zero_init_residual=True, batch=2)
    assert [b.merge for b in exact.blocks] == ["backbone.layer1.bn:add"]
    assert exact.exact_blocks == 1 and exact.model_exact and exact.model_distance == 0.0
    random = identity_report(graph, zero_init_residual=False, batch=2)
    assert random.exact_blocks == 0 and not random.model_exact
    assert random.model_distance > 0


def test_gradflow_probe_loss_sums_every_output_so_the_aux_head_gets_a_gradient() -> None:
    graph = resdsl.loads(TWO_HEADS).graph("two_heads")
    flow = measure(graph, batch=2, seed=3)
    torch.manual_seed(3)
    model = compile_graph(graph, init="kaiming").train()
    y = model(sample_input(graph, 2, seed=3))
    expected = y["out"].float().pow(2).mean() + y["aux"].float().pow(2).mean()
    assert flow.loss == "mean_square"
    assert flow.loss_value == float(expected.detach())
    grads = {layer.node: layer.grad_norm for layer in flow.layers}
    assert grads["aux"] > 0 and grads["head"] > 0
    assert flow.zero_grad_layers == [] and flow.unused_layers == []
    # The spread ends at the first output's last layer, not at the head declared after it.
    assert (flow.first, flow.last) == ("backbone.stem", "head")


def test_gradflow_says_a_head_no_output_uses_is_not_measured() -> None:
    graph = resdsl.loads(TWO_HEADS).graph("two_heads", aux_used=False)
    flow = measure(graph, batch=2)
    assert flow.unused_layers == ["aux"]
    assert flow.zero_grad_layers == []
    assert "aux" not in {layer.node for layer in flow.layers}
    assert flow.last == "head"


def test_cli_gradflow_reports_an_unused_head_instead_of_a_zero_gradient(tmp_path: Path) -> None:
    spec = tmp_path / "heads.res"
    spec.write_text(TWO_HEADS)
    result = CliRunner().invoke(
        app, ["gradflow", str(spec), "-p", "aux_used=false", "--batch", "2"]
    )
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert (
        "1 weighted layers are not measured: no output uses them, so the model never runs them: aux"
        in text
    )
    assert "get no gradient" not in text
    assert "every one of its 4 weighted layers gets a gradient" in text


def test_block_gradients_through_a_tap_and_two_outputs() -> None:
    graph = resdsl.loads(TWO_HEADS).graph("two_heads")
    torch.manual_seed(0)
    model = compile_graph(graph).train()
    found = block_gradients(graph, model, sample_input(graph, 2))
    assert [(b.merge, b.input) for b in found] == [("backbone.layer1.bn:add", "backbone.stem")]
    assert found[0].output_grad_norm > 0


def test_block_terms_of_a_model_without_residual_blocks_are_empty() -> None:
    graph = resdsl.loads(NO_BLOCKS).graph()
    model = compile_graph(graph).train()
    assert block_terms(graph, model, sample_input(graph, 2)) == []


def test_cli_gradflow_blocks_says_there_is_no_residual_block(tmp_path: Path) -> None:
    spec = tmp_path / "inception.res"
    spec.write_text(NO_BLOCKS)
    result = CliRunner().invoke(app, ["gradflow", str(spec), "--blocks", "--batch", "2"])
    assert result.exit_code == 0, result.output
    assert (
        "inception_like has no residual block (an ungated add merge with one skip start): "
        "there are no skip and branch terms to split" in " ".join(result.output.split())
    )
    assert "grad()" not in result.output


@pytest.mark.slow
def test_cli_gradflow_of_googlenet_blocks_and_unused_aux_heads() -> None:
    spec = str(Path(__file__).parents[1] / "specs/torchvision/googlenet.res")
    size = ["-p", "H=32", "-p", "W=32", "--batch", "2"]
    blocks = CliRunner().invoke(app, ["gradflow", spec, "-m", "googlenet", "--blocks", *size])
    assert blocks.exit_code == 0, blocks.output
    assert "googlenet has no residual block" in blocks.output
    flow = CliRunner().invoke(app, ["gradflow", spec, "-m", "googlenet", *size])
    assert flow.exit_code == 0, flow.output
    text = " ".join(flow.output.split())
    assert "6 weighted layers are not measured" in text
    assert "aux1.conv.conv, aux1.fc1, aux1.fc2, aux2.conv.conv, aux2.fc1, aux2.fc2" in text


#: A transformer layer's two residual sums: two unlabelled skips in one block.
TWO_SKIPS = """
block encoder(width: int) {
    ln_1: layernorm
    fc_1: linear(width)
    skip in -> fc_1 (add)
    ln_2: layernorm
    fc_2: linear(width)
    skip fc_1 -> fc_2 (add)
}
model layers() {
    input [5, 8]
    encoder(8)
    encoder(8)
}
"""


def test_compare_counts_each_of_two_unlabelled_skips_of_a_block() -> None:
    spec = resdsl.loads(TWO_SKIPS)
    c = compare(spec.graph(), spec.plain().graph())
    assert c.model.skips == 4 and c.plain.skips == 0
    assert [(s.skip, s.into, s.kind) for s in c.shortcuts] == [
        ("0.shortcut", "0.fc_1:add", "identity"),
        ("0.shortcut", "0.fc_2:add", "identity"),
        ("1.shortcut", "1.fc_1:add", "identity"),
        ("1.shortcut", "1.fc_2:add", "identity"),
    ]
    assert c.model.paths == 16


def test_paths_say_which_of_several_outputs_they_are_counted_to() -> None:
    report = path_report(resdsl.loads(TWO_HEADS).graph("two_heads"))
    assert report.count == 2  # input -> stem -> layer1 (branch or skip) -> layer2 -> head
    assert report.shortest_path[-1] == "head"
    assert report.explanation.endswith(
        " Paths are counted to the first output, 'out'; the paths to 'aux' are not counted."
    )
    single = path_report(resdsl.loads(TWO_HEADS).graph("two_heads", aux_used=False))
    assert "Paths are counted" not in single.explanation

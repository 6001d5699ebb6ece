"""Blocks that start as the identity (resdsl.analysis.identity), rezero.res, the graph runner."""

from __future__ import annotations

import json
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

import resdsl
from resdsl.analysis.execute import run_graph, run_nodes
from resdsl.analysis.identity import identity_report
from resdsl.backends.build import compile_graph, sample_input
from resdsl.cli import app
from tests.conftest import SPECS
from tests.reference_models import ReZeroNet


@pytest.fixture(scope="module")
def rezero() -> resdsl.Spec:
    return resdsl.load(SPECS / "rezero.res")


# ------------------------------------------------------------------ rezero.res


@pytest.mark.parametrize(
    ("model", "n", "norm", "params"),
    [("rezero20", 9, True, 42_691), ("rezero20_nonorm", 9, False, 42_115)],
)
def test_rezero_matches_a_reference_implementation(
    rezero: resdsl.Spec, model: str, n: int, norm: bool, params: int
) -> None:
    ours = rezero.compile(model)
    ref = ReZeroNet(n, norm=norm)
    assert sum(p.numel() for p in ours.parameters()) == params
    assert sum(p.numel() for p in ref.parameters()) == params
    state = ref.state_dict()
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == [
        (k, tuple(v.shape)) for k, v in state.items()
    ]
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():  # random weights everywhere, gates included, so the branches count
        for key in sorted(state):
            t, leaf = state[key], key.rsplit(".", 1)[-1]
            if not t.is_floating_point():
                continue
            if t.dim() == 0:  # a gate
                t.fill_(0.3)
            elif leaf == "running_var" or (t.dim() == 1 and leaf == "weight"):
                t.copy_(torch.rand(t.shape, generator=gen) + 0.5)
            elif t.dim() == 1:
                t.copy_(torch.randn(t.shape, generator=gen) * 0.1)
            else:
                t.copy_(
                    torch.randn(t.shape, generator=gen) * (2 / (t.numel() // t.shape[0])) ** 0.5
                )
    ours.load_state_dict(state, strict=True)
    x = torch.randn(2, 3, 32, 32, generator=gen)
    ours.eval(), ref.eval()
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("model", ["rezero20", "rezero20_nonorm"])
def test_rezero_blocks_output_exactly_the_stem_at_initialisation(
    rezero: resdsl.Spec, model: str
) -> None:
    torch.manual_seed(0)
    net = rezero.compile(model)
    seen: dict[str, torch.Tensor] = {}
    net.get_submodule("stem").register_forward_hook(
        lambda m, i, o: seen.__setitem__("stem", o.detach().clone())
    )
    net.get_submodule("blocks").register_forward_hook(
        lambda m, i, o: seen.__setitem__("blocks", o.detach().clone())
    )
    for mode in (True, False):
        net.train(mode)
        x = torch.randn(4, 3, 32, 32)
        net(x)
        assert torch.equal(seen["blocks"], seen["stem"])
        assert not torch.equal(seen["stem"], torch.zeros_like(seen["stem"]))


@pytest.mark.slow
def test_rezero110_report_is_exact(rezero: resdsl.Spec) -> None:
    r = identity_report(rezero, "rezero110")
    assert len(r.blocks) == 54 and r.exact_blocks == 54
    assert all(b.mechanism == "gate=rezero" for b in r.blocks)
    assert all(b.max_abs_diff == 0.0 and b.relative_diff == 0.0 for b in r.blocks)
    assert r.model_exact and r.model_distance == 0.0
    assert r.init == "kaiming"  # the model's own init parameter
    assert r.explanation.startswith("All 54 residual blocks compute exactly their shortcut")


def test_rezero_gate_that_is_trained_breaks_the_identity(rezero: resdsl.Spec) -> None:
    torch.manual_seed(0)
    graph = rezero.graph("rezero20")
    net = compile_graph(graph)
    with torch.no_grad():
        net.get_submodule("blocks.3.rezero").gate.fill_(0.5)
    x = sample_input(graph, 4)
    with torch.no_grad():
        assert not torch.equal(net(x), run_graph(graph, net, x, drop_residual=True))


# ------------------------------------------------------------------ zero-init


@pytest.fixture(scope="module")
def cifar() -> resdsl.Spec:
    return resdsl.load(SPECS / "cifar_resnet.res")


def test_zero_init_residual_makes_every_block_exact(cifar: resdsl.Spec) -> None:
    r = identity_report(cifar, "resnet20", zero_init_residual=True)
    assert r.zero_init_residual
    assert r.exact_blocks == len(r.blocks) == 9
    assert [b.mechanism for b in r.blocks][:2] == [
        "zero-init layer1.0.bn2",
        "zero-init layer1.1.bn2",
    ]
    shortcuts = [b.shortcut for b in r.blocks]
    assert (
        shortcuts
        == ["identity"] * 3 + ["zeropad"] + ["identity"] * 2 + ["zeropad"] + ["identity"] * 2
    )
    assert r.model_exact and r.model_distance == 0.0


def test_default_init_blocks_are_not_identities(cifar: resdsl.Spec) -> None:
    r = identity_report(cifar, "resnet20")
    assert r.exact_blocks == 0
    assert all(b.mechanism is None and b.max_abs_diff > 0.1 for b in r.blocks)
    assert not r.model_exact and r.model_distance > 0.1
    assert "0 of 9 residual blocks" in r.explanation


def test_preact_and_projection_shortcuts_start_exact() -> None:
    pre = identity_report(
        resdsl.load(SPECS / "preact_resnet.res"), "preact_resnet", n=2, zero_init_residual=True
    )
    assert pre.exact_blocks == len(pre.blocks) == 6
    assert pre.blocks[0].shortcut == "block conv_shortcut"
    assert pre.blocks[0].mechanism == "zero-init layer1.0.bn3"
    tv = identity_report(
        resdsl.load(SPECS / "resnet.res"), "resnet18", H=32, W=32, zero_init_residual=True
    )
    assert tv.exact_blocks == len(tv.blocks) == 8
    assert [b.shortcut for b in tv.blocks].count("projection") == 3
    assert tv.model_exact


def test_no_residual_merge_means_nothing_to_check() -> None:
    r = identity_report(resdsl.load(SPECS / "unet.res"))
    assert r.blocks == [] and r.model_exact
    assert "no residual (add) merges" in r.explanation


def test_scaled_merge_is_not_mistaken_for_an_identity() -> None:
    spec = resdsl.loads(
        """
        model m {
            input [4, H=6, W=6]
            conv1: conv(4, 3, padding=1)
            bn1: batchnorm
            skip in -> bn1 (add, scale=0.5)
        }
        """
    )
    r = identity_report(spec, zero_init_residual=True)
    assert [(b.mechanism, b.exact) for b in r.blocks] == [("zero-init bn1", True)]
    assert identity_report(spec).exact_blocks == 0


# ------------------------------------------------------------------ the graph runner


CASES: list[tuple[str, str | None, dict[str, Any]]] = [
    ("cifar_resnet.res", "resnet20", {}),
    ("preact_resnet.res", "preact_resnet", {"n": 2}),
    ("unet.res", None, {"H": 37, "W": 45}),  # odd sizes: the pads are not zero
    ("unet_original.res", None, {"H": 188, "W": 188}),  # centre crops
    ("resnet.res", "resnet18", {"H": 64, "W": 64}),
    ("rezero.res", "rezero20", {}),
]


@pytest.mark.parametrize(("name", "model", "params"), CASES)
def test_runner_is_bit_identical_to_the_compiled_forward(
    name: str, model: str | None, params: dict[str, Any]
) -> None:
    spec = resdsl.load(SPECS / name)
    graph = spec.graph(model, **params)
    torch.manual_seed(0)
    net = compile_graph(graph)
    net.eval()
    x = sample_input(graph, 2)
    with torch.no_grad():
        assert torch.equal(run_graph(graph, net, x), net(x))


def test_runner_evaluates_a_segment_from_given_values(cifar: resdsl.Spec) -> None:
    graph = cifar.graph("resnet20")
    torch.manual_seed(0)
    net = compile_graph(graph).eval()
    x = torch.randn(2, 16, 32, 32)
    nodes = ["layer1.0.conv1", "layer1.0.bn1", "layer1.0.2", "layer1.0.conv2", "layer1.0.bn2",
             "layer1.0.shortcut", "layer1.0.bn2:add", "layer1.0.5"]  # fmt: skip
    with torch.no_grad():
        values = run_nodes(graph, net, {"relu": x}, nodes)
        assert torch.equal(values["layer1.0.5"], net.layer1[0](x))


# ------------------------------------------------------------------ CLI


def test_cli_identity_zero_init() -> None:
    spec = str(SPECS / "cifar_resnet.res")
    result = CliRunner().invoke(app, ["identity", spec, "-m", "resnet20", "--zero-init-residual"])
    assert result.exit_code == 0, result.output
    assert "exact blocks: 9 of 9" in result.output
    assert "(bit-identical)" in result.output
    assert "zero-init bn2" in result.output


def test_cli_identity_json_and_shortened_table() -> None:
    spec = str(SPECS / "rezero.res")
    text = CliRunner().invoke(app, ["identity", spec, "-m", "rezero_net", "-p", "n=20"])
    assert text.exit_code == 0, text.output
    assert "4 rows not shown: --all lists every one" in text.output
    assert "blocks.19.bn2:add" in text.output and "blocks.14.bn2:add" not in text.output
    result = CliRunner().invoke(app, ["identity", spec, "-m", "rezero20", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["exact_blocks"] == 9 and data["model_exact"] is True


def test_cli_identity_bad_init() -> None:
    spec = str(SPECS / "cifar_resnet.res")
    result = CliRunner().invoke(app, ["identity", spec, "-m", "resnet20", "--init", "xavier"])
    assert result.exit_code == 2
    assert "unknown --init 'xavier'" in result.output


def test_docstring_examples() -> None:
    import doctest

    import resdsl.analysis.execute
    import resdsl.analysis.identity

    for module in (resdsl.analysis.execute, resdsl.analysis.identity):
        result = doctest.testmod(module)
        assert result.failed == 0 and result.attempted > 0, module.__name__


def test_runner_keeps_values_that_an_inplace_activation_would_overwrite(
    cifar: resdsl.Spec,
) -> None:
    graph = cifar.graph("resnet20")
    torch.manual_seed(0)
    net = compile_graph(graph).eval()
    x = sample_input(graph, 2)
    with torch.no_grad():
        values = run_nodes(graph, net, {"input": x}, graph.nodes)
        merge = values["layer1.0.bn2:add"]
        # The merge's value is still the sum, not the ReLU after it, whether or not
        # the generated model runs that ReLU in place.
        assert (merge < 0).any()
        assert torch.equal(values["layer1.0.5"], torch.relu(merge))

"""Blocks that start as the identity (resdsl.analysis.identity) and rezero.res."""

from __future__ import annotations

import json
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

import resdsl
from resdsl.analysis.identity import (
    Segment,
    check_blocks,
    identity_report,
    residual_merges,
    segment,
)
from resdsl.backends.build import compile_graph, observing_twin, sample_input
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
    r = rezero.identity("rezero110")
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
    checks = check_blocks(graph, net, zero_init_residual=False)
    assert [c.merge for c in checks if not c.exact] == ["blocks.3.bn2:add"]
    assert all(c.max_abs_diff == 0.0 for c in checks if c.exact)


# ------------------------------------------------------------------ zero-init


@pytest.fixture(scope="module")
def cifar() -> resdsl.Spec:
    return resdsl.load(SPECS / "cifar_resnet.res")


def test_zero_init_residual_makes_every_block_exact(cifar: resdsl.Spec) -> None:
    r = cifar.identity("resnet20", zero_init_residual=True)
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
    r = cifar.identity("resnet20")
    assert r.exact_blocks == 0
    assert all(b.mechanism is None and b.max_abs_diff > 0.1 for b in r.blocks)
    assert not r.model_exact and r.model_distance > 0.1
    assert "0 of 9 residual blocks" in r.explanation


def test_preact_and_projection_shortcuts_start_exact() -> None:
    pre = resdsl.load(SPECS / "preact_resnet.res").identity(
        "preact_resnet", n=2, zero_init_residual=True
    )
    assert pre.exact_blocks == len(pre.blocks) == 6
    assert pre.blocks[0].shortcut == "block conv_shortcut"
    assert pre.blocks[0].mechanism == "zero-init layer1.0.bn3"
    tv = resdsl.load(SPECS / "resnet.res").identity("resnet18", H=32, W=32, zero_init_residual=True)
    assert tv.exact_blocks == len(tv.blocks) == 8
    assert [b.shortcut for b in tv.blocks].count("projection") == 3
    assert tv.model_exact


def test_no_residual_merge_means_nothing_to_check() -> None:
    r = resdsl.load(SPECS / "unet.res").identity()
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
    r = spec.identity(zero_init_residual=True)
    assert [(b.mechanism, b.exact) for b in r.blocks] == [("zero-init bn1", True)]
    assert spec.identity().exact_blocks == 0


# ------------------------------------------------------------------ segments


SPECIAL = {
    # a branch that reads a value from before its skip: checked in place
    "in_place": """
        model m {
            input [4, H=6, W=6]
            a: conv(4, 3, padding=1)
            b: conv(4, 3, padding=1)
            c: conv(4, 3, padding=1)
            d: batchnorm
            skip a -> c (mul)
            skip b -> d (add)
        }
    """,
    # an outer skip around two blocks: its segment holds the blocks' starts
    "nested": """
        block res(c: int) {
            conv1: conv(c, 3, padding=1, bias=false)
            bn1: batchnorm
            relu
            conv2: conv(c, 3, padding=1, bias=false)
            bn2: batchnorm
            skip in -> bn2 (add)
        }
        model m {
            input [4, H=8, W=8]
            stem: conv(4, 3, padding=1)
            r1: res(4)
            r2: res(4)
            out: batchnorm
            outer: skip stem -> out (add, shortcut=projection)
        }
    """,
    # two skips into one merge, one from the model's input
    "two_skips": """
        model m {
            input [4, H=8, W=8]
            a: conv(4, 3, padding=1)
            b: conv(4, 3, padding=1)
            c: batchnorm
            s1: skip a -> c (add)
            s2: skip in -> c (add)
        }
    """,
}


def alone(graph: Any, net: torch.nn.Module, seed: int, batch: int) -> dict[str, float]:
    """Each contained segment checked in a pass of its own: the largest |merge - shortcut|."""
    run = observing_twin(net)
    order = {n: i for i, n in enumerate(graph.nodes)}
    gen = torch.Generator().manual_seed(seed)
    x = sample_input(graph, batch, seed=seed)
    out: dict[str, float] = {}
    for merge in residual_merges(graph):
        seg = segment(graph, merge, order)
        if not seg.contained:
            continue
        feeds = {
            s: torch.randn((batch, *(int(d) for d in graph.nodes[s]["shape"])), generator=gen)
            for s in seg.starts
        }
        seen: dict[str, torch.Tensor] = {}

        def observe(
            node: str, value: torch.Tensor, feeds: Any = feeds, seen: Any = seen
        ) -> torch.Tensor:
            value = feeds[node].clone() if node in feeds else value
            seen[node] = value.clone()
            return value

        with torch.no_grad():
            run(feeds.get("input", x), observe)
        seen.update({k: v for k, v in feeds.items() if k == "input"})
        shortcut = sum((seen[p] for p in seg.inputs[2:]), seen[seg.inputs[1]])
        out[merge] = float((seen[merge] - shortcut).abs().max())
    return out


@pytest.mark.parametrize("name", sorted(SPECIAL))
def test_segments_checked_together_equal_segments_checked_alone(name: str) -> None:
    graph = resdsl.loads(SPECIAL[name]).graph()
    torch.manual_seed(0)
    net = compile_graph(graph).train()
    checks = check_blocks(graph, net, zero_init_residual=False, seed=3, batch=2)
    expected = alone(graph, net, seed=3, batch=2)
    assert {c.merge: c.max_abs_diff for c in checks if not c.in_place} == expected
    assert all(c.max_abs_diff > 0 for c in checks)


def segments(graph: Any) -> list[Segment]:
    order = {n: i for i, n in enumerate(graph.nodes)}
    return [segment(graph, m, order) for m in residual_merges(graph)]


def test_segments_that_overlap_run_apart_and_a_branch_from_outside_runs_in_place(
    cifar: resdsl.Spec,
) -> None:
    # ResNet blocks end in a ReLU after the merge: no block's start is inside another.
    blocks = segments(cifar.graph("resnet20"))
    assert not any(a.overlaps(b) for a in blocks for b in blocks if a is not b)
    nested = segments(resdsl.loads(SPECIAL["nested"]).graph())
    assert [s.merge for s in nested] == ["r1.bn2:add", "r2.bn2:add", "out:add"]
    assert nested[1].starts == ("r1.bn2:add",)  # r1's merge is where r2 starts
    assert nested[0].overlaps(nested[1]) and nested[2].overlaps(nested[0])
    r = resdsl.loads(SPECIAL["in_place"]).identity(zero_init_residual=True)
    assert [(b.merge, b.in_place, b.exact) for b in r.blocks] == [("d:add", True, True)]
    r = resdsl.loads(SPECIAL["in_place"]).identity()
    assert [(b.in_place, b.exact) for b in r.blocks] == [(True, False)]


def test_identity_report_takes_a_graph(cifar: resdsl.Spec) -> None:
    graph = cifar.graph("resnet20")
    assert identity_report(graph, zero_init_residual=True) == cifar.identity(
        "resnet20", zero_init_residual=True
    )


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

    import resdsl.analysis.identity

    result = doctest.testmod(resdsl.analysis.identity)
    assert result.failed == 0 and result.attempted > 0

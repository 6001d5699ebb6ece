"""Gradients through a residual block (resdsl.analysis.blockgrad) and ``gradflow --blocks``."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

import resdsl
from resdsl.analysis.blockgrad import (
    BlockTerms,
    activation_after,
    block_gradients,
    block_terms,
    blocks,
)
from resdsl.backends.build import compile_graph, observing_twin, sample_input
from resdsl.cli import app
from tests.conftest import SPECS

TINY = """
model tiny {
    input [3, H=8, W=8]
    stem: conv(4, 3, padding=1)
    relu
    a1: conv(4, 3, padding=1)
    relu
    a2: conv(4, 3, padding=1)
    r1: relu
    skip stem -> r1 (add)
    b1: conv(4, 3, padding=1)
    b2: conv(4, 3, padding=1)
    skip r1 -> b2 (add)
    adaptive_avgpool(1)
    flatten
    fc: linear(5)
}
"""


def _measured_input_grad(
    graph: object, model: torch.nn.Module, x: torch.Tensor, start: str
) -> torch.Tensor:
    """dL/d(block input) from a separate, unmodified pass: only the block input is captured."""
    from resdsl.analysis.gradflow import probe_loss

    seen: dict[str, torch.Tensor] = {}

    def observe(node: str, value: torch.Tensor) -> torch.Tensor:
        if node == start and node not in seen:
            seen[node] = value.clone()
            return seen[node]
        return value

    y = observing_twin(model)(x.clone(), observe)
    loss, _ = probe_loss(graph, y, 0)
    (grad,) = torch.autograd.grad(loss, seen[start])
    return grad


def _check(graph: object, model: torch.nn.Module, x: torch.Tensor) -> list[BlockTerms]:
    terms = block_terms(graph, model, x)  # type: ignore[arg-type]
    for t in terms:
        assert torch.allclose(t.skip + t.branch, t.input_grad, rtol=1e-5, atol=1e-8)
        measured = _measured_input_grad(graph, model, x, t.summary.input)
        assert torch.allclose(t.input_grad, measured, rtol=1e-5, atol=1e-8)
        s = t.summary
        assert -1.0 <= s.cosine <= 1.0
        assert s.skip_norm == pytest.approx(float(t.skip.double().norm()))
        assert s.gain == pytest.approx(s.input_grad_norm / s.output_grad_norm)
        assert 0.0 <= s.passing <= 1.0
    return terms


def _train_steps(model: torch.nn.Module, graph: object, steps: int) -> None:
    """A few plain SGD steps on seeded random batches (the weights move; BN in train mode)."""
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for i in range(steps):
        x = sample_input(graph, 4, seed=100 + i)  # type: ignore[arg-type]
        loss = model(x).pow(2).mean() if i % 2 else model(x).logsumexp(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()


def test_tiny_split_equals_input_gradient_at_init_and_after_training() -> None:
    graph = resdsl.loads(TINY).graph()
    assert blocks(graph) == [("r1:add", "stem"), ("b2:add", "r1:add")]
    torch.manual_seed(0)
    model = compile_graph(graph, init="kaiming")
    model.train()
    x = sample_input(graph, 4, seed=0)
    first = _check(graph, model, x)
    # The adds come after r1 and b2; no ReLU follows them, so every unit passes gradient.
    assert [t.summary.passing for t in first] == [1.0, 1.0]
    # Identity skip: the skip term is dL/dH itself.
    assert first[1].summary.skip_norm == pytest.approx(first[1].summary.output_grad_norm)
    _train_steps(model, graph, 3)
    after = _check(graph, model, x)
    assert after[0].summary != first[0].summary


def test_resnet20_split_at_init_and_after_training() -> None:
    graph = resdsl.load(SPECS / "cifar_resnet.res").graph("resnet20")
    assert len(blocks(graph)) == 9
    torch.manual_seed(0)
    model = compile_graph(graph, init="kaiming")
    model.train()
    x = sample_input(graph, 4, seed=0)
    terms = _check(graph, model, x)
    # A ReLU follows every add: the fraction passing is its active fraction.
    assert all(0.3 < t.summary.passing < 0.9 for t in terms)
    _train_steps(model, graph, 2)
    _check(graph, model, x)


@pytest.mark.parametrize(
    ("activation", "slope_below_zero"), [("relu", 0.0), ("leaky_relu(0.2)", 0.2), ("elu", None)]
)
def test_passing_is_the_mean_slope_of_any_activation_after_the_add(
    activation: str, slope_below_zero: float | None
) -> None:
    graph = resdsl.loads(
        f"model m {{ input [4, 6, 6]; c: conv(4, 3, padding=1); skip in -> c (add); {activation} }}"
    ).graph()
    merge = blocks(graph)[0][0]
    assert activation_after(graph, merge) is not None  # asked of the op registry, not by name
    torch.manual_seed(0)
    model = compile_graph(graph, init="kaiming")
    x = sample_input(graph, 3, seed=0)
    (found,) = block_gradients(graph, model, x)
    h = (x + model.c(x)).detach().double()  # the add's output, computed here
    if slope_below_zero is None:  # elu: slope exp(h) below zero
        expected = torch.where(h > 0, 1.0, h.exp()).mean()
    else:
        expected = torch.where(h > 0, 1.0, slope_below_zero).mean()
    assert found.passing == pytest.approx(float(expected), rel=1e-6)


def test_gated_merges_are_not_split() -> None:
    graph = resdsl.load(SPECS / "rezero.res").graph("rezero20")
    assert blocks(graph) == []


def test_cli_blocks_json_and_text() -> None:
    spec = str(SPECS / "cifar_resnet.res")
    args = ["gradflow", spec, "-m", "resnet20", "--blocks", "--batch", "4", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["steps"], data["data"], data["trained"]) == (0, "random", None)
    assert [b["merge"] for b in data["at_init"]][:2] == ["layer1.0.bn2:add", "layer1.1.bn2:add"]
    graph = resdsl.load(SPECS / "cifar_resnet.res").graph("resnet20")
    torch.manual_seed(0)
    model = compile_graph(graph, init="kaiming")
    model.train()
    expected = block_terms(graph, model, sample_input(graph, 4, seed=0))
    assert data["at_init"] == [json.loads(t.summary.model_dump_json()) for t in expected]
    result = CliRunner().invoke(app, args[:-1], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].startswith("9 blocks: gain ")
    bad = CliRunner().invoke(app, ["gradflow", spec, "-m", "resnet20", "--steps", "2"])
    assert bad.exit_code == 2 and "--steps needs --blocks" in bad.output


def test_cli_blocks_after_training_steps() -> None:
    spec = str(SPECS / "cifar_resnet.res")
    args = ["gradflow", spec, "-m", "resnet20", "--blocks", "--batch", "4", "--steps", "2",
            "--json"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["steps"], data["data"]) == (2, "digits")
    assert len(data["at_init"]) == len(data["trained"]) == 9
    assert data["at_init"] != data["trained"]
    assert all(-1 <= b["cosine"] <= 1 for b in data["at_init"] + data["trained"])


def test_docstring_examples() -> None:
    import doctest

    import resdsl.analysis.blockgrad

    result = doctest.testmod(resdsl.analysis.blockgrad)
    assert result.failed == 0 and result.attempted > 0

"""Standard PyTorch machinery on compiled specs: torch.compile (no graph break),
torch.export, torch.jit.trace, train/eval behaviour, and training itself.

torch.compile uses the eager backend: dynamo's tracing is what finds graph
breaks, and inductor would take minutes on two cores.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest
import torch
from torch import nn

import resdsl
from resdsl.backends.build import sample_input
from tests.conftest import SPECS
from tests.test_build import GOLDEN

# (file, model, params, batch): every bundled spec, at small sizes where the size is free.
FAST = [
    ("tiny.res", "tiny", {}, 2),
    ("tiny.res", "tiny_crop", {}, 2),
    ("cifar_resnet.res", "resnet20", {}, 2),
]
SLOW = [
    ("resnet.res", "resnet18", {"H": 64, "W": 64}, 1),
    ("resnet.res", "resnet50", {"H": 64, "W": 64}, 1),
    ("plain_resnet.res", "plain20", {}, 2),
    ("preact_resnet.res", "preact_resnet164", {}, 2),
    ("unet.res", "unet", {"H": 48, "W": 48}, 1),
    ("unet_noalign.res", "unet_noalign", {"H": 32, "W": 32}, 1),
    ("unet_original.res", "unet_original", {"H": 188, "W": 188}, 1),
]
ALL = [*FAST, *[pytest.param(*case, marks=pytest.mark.slow) for case in SLOW]]
IDS = [case[1] for case in FAST] + [case[1] for case in SLOW]
# Tracing is slow on deep nets (tens of seconds for preact_resnet164): a sample suffices.
# (resnet20 is traced in test_torch_jit_trace_generalises_across_sizes.)
TRACE = [
    *FAST[:2],
    *[pytest.param(*case, marks=pytest.mark.slow) for case in SLOW[:1] + SLOW[5:6]],
]
TRACE_IDS = [case[1] for case in FAST[:2]] + [SLOW[0][1], SLOW[5][1]]


@cache
def spec(name: str) -> resdsl.Spec:
    return resdsl.load(GOLDEN / name if name == "tiny.res" else SPECS / name)


def model_and_input(
    file: str, model: str, params: dict[str, Any], batch: int
) -> tuple[nn.Module, torch.Tensor]:
    s = spec(file)
    module = s.compile(model, **params).eval()
    return module, sample_input(s.graph(model, **params), batch)


@pytest.mark.parametrize(("file", "model", "params", "batch"), ALL, ids=IDS)
def test_torch_compile_fullgraph_without_graph_breaks(
    file: str, model: str, params: dict[str, Any], batch: int
) -> None:
    torch._dynamo.reset()
    module, x = model_and_input(file, model, params, batch)
    compiled = torch.compile(module, fullgraph=True, backend="eager")
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), module(x), rtol=0, atol=0)


@pytest.mark.parametrize(("file", "model", "params", "batch"), ALL, ids=IDS)
def test_torch_export(file: str, model: str, params: dict[str, Any], batch: int) -> None:
    module, x = model_and_input(file, model, params, batch)
    program = torch.export.export(module, (x,))
    with torch.no_grad():
        torch.testing.assert_close(program.module()(x), module(x), rtol=0, atol=1e-6)


@pytest.mark.filterwarnings("ignore:`torch.jit.trace:DeprecationWarning")
def test_torch_jit_trace_generalises_across_sizes() -> None:
    module = spec("cifar_resnet.res").compile("resnet20").eval()
    traced = torch.jit.trace(module, (torch.randn(2, 3, 32, 32),))
    x = torch.randn(3, 3, 40, 24)
    with torch.no_grad():
        torch.testing.assert_close(traced(x), module(x), rtol=0, atol=1e-6)


# Align amounts are max()/min() of sizes: tracing records them as constants
# (TracerWarning), as it does any Python control flow on sizes; torch.compile
# and torch.export treat them symbolically.
@pytest.mark.filterwarnings("ignore:`torch.jit.trace:DeprecationWarning")
@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
@pytest.mark.parametrize(("file", "model", "params", "batch"), TRACE, ids=TRACE_IDS)
def test_torch_jit_trace(file: str, model: str, params: dict[str, Any], batch: int) -> None:
    module, x = model_and_input(file, model, params, batch)
    traced = torch.jit.trace(module, (x,))
    with torch.no_grad():
        torch.testing.assert_close(traced(x), module(x), rtol=0, atol=1e-6)


def test_torch_compile_with_training_and_backward() -> None:
    torch._dynamo.reset()
    module = spec("tiny.res").compile("tiny").train()
    compiled = torch.compile(module, fullgraph=True, backend="eager")
    compiled(torch.randn(2, 3, 32, 32)).sum().backward()
    assert module.stem.weight.grad is not None


# ------------------------------------------------------------------ train and eval


DROPOUT = """
model mlp {
    input [16]
    fc1: linear(32)
    act: relu
    drop: dropout(0.5)
    fc2: linear(4)
}
"""


def test_dropout_behaves_as_in_hand_written_code() -> None:
    model = resdsl.loads(DROPOUT).compile()
    reference = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 4))
    reference.load_state_dict(
        {k.replace("fc1", "0").replace("fc2", "3"): v for k, v in model.state_dict().items()}
    )
    x = torch.randn(8, 16)
    for train in (True, False):
        model.train(train)
        reference.train(train)
        torch.manual_seed(5)
        out = model(x)
        torch.manual_seed(5)
        torch.testing.assert_close(out, reference(x), rtol=0, atol=0)
    model.train()
    assert not torch.equal(model(x), model(x))  # dropout draws new masks
    model.eval()
    assert torch.equal(model(x), model(x))


def test_batchnorm_updates_running_stats_only_in_train_mode() -> None:
    model = spec("cifar_resnet.res").compile("resnet20")
    bn = model.layer1[0].bn1
    x = torch.randn(4, 3, 32, 32)
    model.eval()
    with torch.no_grad():
        model(x)
    assert torch.all(bn.running_mean == 0) and int(bn.num_batches_tracked) == 0
    model.train()
    with torch.no_grad():
        model(x)
    assert not torch.all(bn.running_mean == 0) and int(bn.num_batches_tracked) == 1


# ------------------------------------------------------------------ training


@pytest.mark.parametrize(
    ("file", "model", "lr"), [("cifar_resnet.res", "resnet20", 0.05), ("tiny.res", "tiny", 0.01)]
)
def test_a_few_sgd_steps_lower_the_loss(file: str, model: str, lr: float) -> None:
    torch.manual_seed(0)
    module = spec(file).compile(model).train()
    x = torch.randn(8, 3, 32, 32)
    out_shape = module(x[:2]).shape[1:]
    target = torch.randn(8, *out_shape) if len(out_shape) > 1 else torch.randint(0, 10, (8,))
    loss_fn: nn.Module = nn.MSELoss() if len(out_shape) > 1 else nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(module.parameters(), lr=lr, momentum=0.9)
    losses = []
    for _ in range(5):
        optimizer.zero_grad()
        loss = loss_fn(module(x), target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0], losses
    if model == "tiny":  # the rezero gates learn too
        assert module.gate1.down.gate.item() != 0.0

"""Training: the recipe, the data forms and their errors, the loop's log, DDP, and the commands."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from torch import nn
from typer.testing import CliRunner

import resdsl
from resdsl.cli import app
from resdsl.diagnostics import ResdslError
from resdsl.training import loop
from resdsl.training.data import (
    ACCEPTED,
    Dataset,
    adapt_channels,
    augment,
    input_sizes,
    load_data,
    split,
    with_label_noise,
)
from resdsl.training.distributed import SINGLE, World, device_for, world_from_env
from resdsl.training.fit import train_spec
from resdsl.training.loop import batches, layer_records, train, weighted_layers
from resdsl.training.schedule import TrainConfig, learning_rate
from tests.conftest import DATA, SPECS

TINY = DATA / "lesion_tiny.res"
runner = CliRunner()


pytestmark = pytest.mark.usefixtures("one_thread")


def toy_data(n: int = 64, seed: int = 0) -> Dataset:
    """Two classes told apart by the sign of the mean pixel: learnable in a few steps."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = torch.randn(n, 1, 8, 8, generator=g) * 0.5 + (y.float() * 2 - 1).view(-1, 1, 1, 1)
    return Dataset("toy", x, y)


def message(error: pytest.ExceptionInfo[ResdslError]) -> str:
    return error.value.diagnostics[0].message


# ---------------------------------------------------------------- augmentation


def _crops(image: torch.Tensor, pad: int) -> list[torch.Tensor]:
    """Every crop of the zero-padded image at the image's size, and their mirrors."""
    h, w = image.shape[1:]
    padded = nn.functional.pad(image, (pad, pad, pad, pad))
    out = [padded[:, i : i + h, j : j + w] for i in range(2 * pad + 1) for j in range(2 * pad + 1)]
    return out + [t.flip(-1) for t in out]


def test_augment_is_a_random_crop_of_the_padded_image_or_its_mirror() -> None:
    x = torch.rand(64, 2, 8, 8, generator=torch.Generator().manual_seed(0))
    out = augment(x, torch.Generator().manual_seed(1))
    assert out.shape == x.shape
    for image, seen in zip(x, out, strict=True):
        assert any(torch.equal(seen, crop) for crop in _crops(image, 1))  # 8 // 8 = 1 pixel
    mirrored = sum(
        not any(torch.equal(seen, crop) for crop in _crops(image, 1)[:9])
        for image, seen in zip(x, out, strict=True)
    )
    assert 16 < mirrored < 48  # about half, and not all
    again = augment(x, torch.Generator().manual_seed(1))
    assert torch.equal(out, again)  # seeded
    plain = augment(x, torch.Generator().manual_seed(1), flip=False)
    assert all(
        any(torch.equal(seen, crop) for crop in _crops(image, 1)[:9])
        for image, seen in zip(x, plain, strict=True)
    )


def test_training_on_augmented_batches_is_seeded() -> None:
    spec = resdsl.loads(
        "model m { input [1, H=8, W=8]; conv(4, 3, padding=1); relu; adaptive_avgpool(1); "
        "flatten; linear(2) }"
    )
    config = TrainConfig(steps=4, batch_size=16, augment="crop-flip")
    losses = [
        [r.loss for r in train_spec(spec, None, toy_data(), c).history.records]
        for c in (config, config, config.model_copy(update={"augment": "none"}))
    ]
    assert losses[0] == losses[1]
    assert losses[0] != losses[2]


def test_zero_init_residual_from_the_config() -> None:
    spec = resdsl.load(SPECS / "cifar_resnet.res")
    data = Dataset("t", torch.rand(8, 3, 8, 8), torch.arange(8) % 2)
    config = TrainConfig(steps=1, batch_size=4, zero_init_residual=True, lr=1e-9, warmup_lr=1e-9)
    scales = []
    for zero in (True, False):
        run = train_spec(
            spec, "resnet20", data, config.model_copy(update={"zero_init_residual": zero})
        )
        scales.append(float(run.module.get_submodule("layer1.0.bn2").weight.detach().abs().max()))
    assert scales[0] < 1e-6  # started at 0; one step at a tiny rate
    assert scales[1] == pytest.approx(1.0)


# ---------------------------------------------------------------- the recipe


def test_schedule_is_he_et_al_cifar_recipe() -> None:
    config = TrainConfig(steps=200)
    assert (config.batch_size, config.lr, config.momentum, config.weight_decay) == (
        128,
        0.1,
        0.9,
        1e-4,
    )
    warmup = config.warmup_steps(examples=1797)  # one epoch of digits: 14.04 batches
    assert (warmup, config.milestone_steps) == (15, (100, 150))
    rates = [learning_rate(config, s, warmup) for s in range(200)]
    assert rates == [0.01] * 15 + [0.1] * 85 + [0.01] * 50 + [0.001] * 50


def test_no_warmup_when_asked() -> None:
    config = TrainConfig(steps=8, warmup_epochs=0)
    assert config.warmup_steps(examples=1000) == 0
    assert [learning_rate(config, s, 0) for s in range(8)] == [0.1] * 4 + [0.01] * 2 + [0.001] * 2


def test_batches_cover_each_epoch_once() -> None:
    order = batches(10, 3, SINGLE, seed=5)
    epoch = [next(order) for _ in range(3)]  # 3 full batches of 3; the 10th example waits
    seen = torch.cat(epoch).tolist()
    assert len(set(seen)) == 9 and set(seen) <= set(range(10))


def test_batches_are_sharded_between_processes() -> None:
    a = next(batches(8, 2, World(0, 2, 0), seed=1))
    b = next(batches(8, 2, World(1, 2, 1), seed=1))
    assert set(a.tolist()).isdisjoint(b.tolist())


def test_batch_larger_than_data_is_a_usage_error() -> None:
    with pytest.raises(ResdslError) as error:
        train(
            nn.Sequential(nn.Flatten(), nn.Linear(64, 2)),
            toy_data(8),
            TrainConfig(steps=1, batch_size=16),
        )
    assert message(error) == "the batch (16 examples) is larger than the data (8 examples)"


# ---------------------------------------------------------------- the loop's log


def test_layer_records_are_the_weight_and_gradient_norms() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(72, 2))
    model(torch.randn(4, 1, 8, 8)).sum().backward()
    records = layer_records(weighted_layers(model))
    assert list(records) == ["0", "2"]
    for name, module in (("0", model[0]), ("2", model[2])):
        assert records[name].weight_norm == pytest.approx(
            float(module.weight.detach().norm()), rel=1e-6
        )
        assert records[name].grad_norm == pytest.approx(float(module.weight.grad.norm()), rel=1e-6)
        assert records[name].ratio == pytest.approx(
            records[name].grad_norm / records[name].weight_norm
        )


def test_training_a_spec_lowers_the_loss_on_digits() -> None:
    pytest.importorskip("sklearn")
    digits = load_data("digits")
    assert (digits.shape, len(digits), digits.num_classes) == ((1, 8, 8), 1797, 10)
    spec = resdsl.load(SPECS / "cifar_resnet.res")
    run = train_spec(spec, "resnet20", digits, TrainConfig(steps=20, warmup_epochs=0.1))
    assert run.params == {"H": 8, "W": 8}  # the input size follows the data
    assert run.data.shape == (3, 8, 8)  # grey replicated to the model's three channels
    h = run.history
    assert [r.step for r in h.records] == list(range(20))
    layers = list(h.records[0].layers)
    assert (layers[:3], layers[-2:], len(layers)) == (
        ["conv1", "layer1.0.conv1", "layer1.0.conv2"],
        ["layer3.2.conv2", "fc"],
        20,
    )
    assert [r.lr for r in h.records] == [0.01] * 2 + [0.1] * 8 + [0.01] * 5 + [0.001] * 5
    first = sum(r.loss for r in h.records[:5]) / 5
    last = sum(r.loss for r in h.records[-5:]) / 5
    assert last < first / 2, (first, last)
    assert h.final_error is not None and h.final_error < 0.5
    assert h.final_error == loop.evaluate_error(run.module, run.data)
    assert not h.interrupted and h.world_size == 1 and h.device == "cpu"


def test_same_seed_same_run() -> None:
    spec = resdsl.load(TINY)
    runs = [
        train_spec(
            spec, None, toy_data(), TrainConfig(steps=3, batch_size=16, seed=4), {"blocks": 1}
        )
        for _ in range(2)
    ]
    assert [r.loss for r in runs[0].history.records] == [r.loss for r in runs[1].history.records]
    for a, b in zip(runs[0].module.parameters(), runs[1].module.parameters(), strict=True):
        assert torch.equal(a, b)


def test_ctrl_c_returns_what_was_logged(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def interrupt_at_third(layers: dict[str, nn.Module]) -> dict[str, loop.LayerRecord]:
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(layers)

    real = loop.layer_records
    monkeypatch.setattr(loop, "layer_records", interrupt_at_third)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 2))
    h = train(model, toy_data(), TrainConfig(steps=10, batch_size=16))
    assert h.interrupted
    assert [r.step for r in h.records] == [0, 1]
    assert h.final_error == loop.evaluate_error(model, toy_data())


# ---------------------------------------------------------------- data


def test_unreadable_data_names_the_accepted_forms(tmp_path: Path) -> None:
    (tmp_path / "table.csv").write_text("1,2\n")
    for source, why in (
        (tmp_path / "missing.npz", "no such file or folder"),
        (tmp_path / "table.csv", "not a .npz file or an image folder"),
    ):
        with pytest.raises(ResdslError) as error:
            load_data(source)
        assert message(error) == f"cannot read training data '{source}': {why}"
        assert error.value.diagnostics[0].hint == f"--data takes {ACCEPTED}"


def test_npz_arrays(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, x=np.ones((5, 4, 4), dtype=np.float64), y=np.arange(5))
    data = load_data(path)
    assert (data.name, data.shape, data.x.dtype, data.y.tolist()) == (
        "d.npz",
        (1, 4, 4),
        torch.float32,
        [0, 1, 2, 3, 4],
    )
    np.savez(path, x=np.ones((5, 4, 4)), labels=np.arange(5))
    with pytest.raises(ResdslError) as error:
        load_data(path)
    assert message(error) == f"{path}: needs arrays named 'x' and 'y', has ['labels', 'x']"
    np.savez(path, x=np.ones((5, 4, 4)), y=np.arange(4))
    with pytest.raises(ResdslError) as error:
        load_data(path)
    assert message(error) == (
        f"{path}: expected x [N, C, H, W] and y [N] with the same N > 0, got x [5, 1, 4, 4] and y [4]"
    )
    np.savez(path, x=np.ones((2, 4, 4)), y=np.array([0.5, 1.0]))
    with pytest.raises(ResdslError) as error:
        load_data(path)
    assert message(error) == f"{path}: labels 'y' must be integers >= 0, got float64"


def test_image_folder(tmp_path: Path) -> None:
    from PIL import Image

    for label, value in (("cat", 0), ("dog", 255)):
        (tmp_path / label).mkdir()
        for i in range(2):
            Image.new("RGB", (6, 5), (value, value, value)).save(tmp_path / label / f"{i}.png")
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    data = load_data(tmp_path)
    assert (data.shape, data.y.tolist()) == ((3, 5, 6), [0, 0, 1, 1])
    assert float(data.x[0].max()) == 0.0 and float(data.x[3].min()) == 1.0
    Image.new("L", (6, 6)).save(tmp_path / "dog" / "odd.png")
    with pytest.raises(ResdslError) as error:
        load_data(tmp_path)
    assert message(error) == f"{tmp_path}: images differ in size or mode: [(5, 6, 3), (6, 6)]"


def test_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(ResdslError) as error:
        load_data(tmp_path)
    assert message(error) == f"{tmp_path}: no class sub-folders with images in them"


def test_model_input_takes_the_data_size() -> None:
    graph = resdsl.load(SPECS / "cifar_resnet.res").graph("resnet20")
    digits_like = Dataset("d", torch.zeros(2, 1, 8, 8), torch.tensor([0, 1]))
    assert input_sizes(graph, digits_like) == {"H": 8, "W": 8}
    given = frozenset({"H"})  # -p H=8 on the command line: the graph has it already
    assert input_sizes(
        resdsl.load(SPECS / "cifar_resnet.res").graph("resnet20", H=8), digits_like, given
    ) == {"W": 8}
    with pytest.raises(ResdslError) as error:
        input_sizes(graph, digits_like, given)  # -p H=32 given, data of 8
    assert (
        message(error)
        == "model resnet20 takes input [3, H, W], but the examples of d are [1, 8, 8]"
    )
    assert adapt_channels(digits_like, 3).shape == (3, 8, 8)


def test_data_that_does_not_fit_the_model_is_a_usage_error() -> None:
    graph = resdsl.load(SPECS / "cifar_resnet.res").graph("resnet20")
    for shape in ((2, 8, 8), (8, 8)):
        with pytest.raises(ResdslError) as error:
            input_sizes(graph, Dataset("d", torch.zeros(1, *shape), torch.tensor([0])))
        assert message(error) == (
            f"model resnet20 takes input [3, H, W], but the examples of d are {list(shape)}"
        )


def test_split_and_label_noise_are_seeded() -> None:
    data = toy_data(100)
    a, b = split(data, 0.25, seed=3)
    assert (len(a), len(b)) == (75, 25)
    assert torch.equal(split(data, 0.25, seed=3)[1].y, b.y)
    noisy = with_label_noise(data, 1.0, seed=0)
    assert torch.equal(noisy.y, with_label_noise(data, 1.0, seed=0).y)
    assert noisy.name == "toy (100% random labels)"


def test_devices() -> None:
    assert world_from_env({"RANK": "0", "WORLD_SIZE": "1"}) is None
    assert device_for("cpu", World(1, 2, 1)) == torch.device("cpu")
    with pytest.raises(ResdslError) as error:
        device_for("toaster", None)
    assert message(error) == "--device 'toaster' is not a device"
    if not torch.cuda.is_available():
        with pytest.raises(ResdslError) as error:
            device_for("cuda", None)
        assert message(error) == "--device cuda is not available on this machine"


# ---------------------------------------------------------------- DDP


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def ddp_worker(rank: int, port: int, out: str) -> None:
    """One torchrun-like process: the environment torchrun sets, then the library's training."""
    os.environ.update(
        RANK=str(rank),
        WORLD_SIZE="2",
        LOCAL_RANK=str(rank),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    torch.set_num_threads(1)
    torch.manual_seed(rank)  # different initial weights: DDP must broadcast rank 0's
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(144, 2)
    )
    start = {k: v.detach().clone() for k, v in model.state_dict().items()}
    history = train(model, toy_data(32), TrainConfig(steps=4, batch_size=8, seed=7))
    params = {k: v.detach().clone() for k, v in model.named_parameters()}
    torch.save(
        {"start": start, "params": params, "losses": [r.loss for r in history.records],
         "world": history.world_size, "final": history.final_error},
        Path(out) / f"{rank}.pt",
    )  # fmt: skip


@pytest.mark.slow
def test_two_processes_end_with_identical_weights(tmp_path: Path) -> None:
    mp.spawn(ddp_worker, args=(free_port(), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"{rank}.pt") for rank in range(2))
    assert not torch.equal(r0["start"]["0.weight"], r1["start"]["0.weight"])
    for key in r0["params"]:
        assert torch.equal(r0["params"][key], r1["params"][key]), key
    assert any(not torch.equal(r0["params"][k], r0["start"][k]) for k in r0["params"])
    assert r0["losses"] == r1["losses"] and len(r0["losses"]) == 4  # the whole batch's loss
    assert (r0["world"], r1["world"]) == (2, 2)
    assert r0["final"] is not None and r1["final"] is None  # only rank 0 evaluates


# ---------------------------------------------------------------- commands


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def toy_npz(tmp_path: Path, n: int) -> Path:
    """``n`` examples of the toy data set, saved as the ``.npz`` the commands read."""
    path = tmp_path / "d.npz"
    data = toy_data(n)
    np.savez(path, x=data.x.numpy(), y=data.y.numpy())
    return path


def train_tiny(data: Path, steps: int, *extra: str) -> tuple[int, str]:
    """``resdsl train`` of the one-block tiny ResNet, batch 16."""
    return invoke(
        "train", str(TINY), "-p", "blocks=1", "--data", str(data), "--steps", str(steps),
        "--batch-size", "16", *extra,
    )  # fmt: skip


def test_train_command_json(tmp_path: Path) -> None:
    code, out = train_tiny(toy_npz(tmp_path, 32), 2, "--json")
    assert code == 0, out
    log = json.loads(out)
    assert (log["model"], log["data"], log["examples"], len(log["records"])) == (
        "tiny_resnet",
        "d.npz",
        32,
        2,
    )
    assert set(log["records"][0]["layers"]["fc"]) == {"grad_norm", "weight_norm", "ratio"}


def test_train_command_exit_codes(tmp_path: Path) -> None:
    bad = tmp_path / "bad.res"
    bad.write_text("model m { input [1, 8, 8]; conv(4, 3, nope=1) }\n")
    assert invoke("train", str(bad), "--data", "digits", "--steps", "1")[0] == 1
    code, out = invoke("train", str(TINY), "--data", str(tmp_path / "none.npz"), "--steps", "1")
    assert code == 2 and "cannot read training data" in out
    assert invoke("train", str(TINY), "--data", "digits")[0] == 2  # --steps missing
    assert invoke("train", str(TINY), "--data", "digits", "--steps", "0")[0] == 2


def test_train_command_ctrl_c(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real = loop.layer_records
    calls = []

    def interrupt_at_third(layers: dict[str, nn.Module]) -> dict[str, loop.LayerRecord]:
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(layers)

    monkeypatch.setattr(loop, "layer_records", interrupt_at_third)
    code, out = train_tiny(toy_npz(tmp_path, 32), 5)
    assert code == 130
    assert "tiny_resnet on d.npz (32 examples): 2 of 5 steps (interrupted by Ctrl-C)" in out
    assert "Traceback" not in out


def test_lesion_command_json(tmp_path: Path) -> None:
    path = toy_npz(tmp_path, 64)
    args = ["lesion", str(TINY), "-p", "blocks=2", "--data", str(path), "--steps", "2"]
    code, out = invoke(*args, "--batch-size", "16", "--json")
    assert code == 0, out
    residual, plain = json.loads(out)
    assert (residual["model"], plain["model"]) == ("tiny_resnet", "tiny_resnet (plain)")
    assert residual["data"] == "d.npz (held out)"
    assert [r["target"]["module"] for r in residual["rows"]] == ["3.bn2", "4.bn2"]
    assert [r["target"]["module"] for r in plain["rows"]] == ["3", "4"]
    code, out = invoke(*args, "--batch-size", "16")
    assert code == 0, out
    assert "tiny_resnet: intact error" in out and "tiny_resnet (plain): intact error" in out


@pytest.mark.slow
def test_degradation_command_json() -> None:
    pytest.importorskip("sklearn")
    code, out = invoke(
        "degradation", "--steps", "2", "--seeds", "1", "--batch-size", "32", "--json"
    )
    assert code == 0, out
    result = json.loads(out)
    assert [(r["model"], r["seed"], len(r["errors"])) for r in result["runs"]] == [
        ("plain20", 0, 2),
        ("plain56", 0, 2),
        ("resnet20", 0, 2),
        ("resnet56", 0, 2),
    ]
    assert (result["data"], result["examples"], result["interrupted"]) == ("digits", 1797, False)
    for run in result["runs"]:  # an epoch is 56 steps of 32: the last epoch is both steps
        assert run["last_epoch_error"] == pytest.approx(sum(run["errors"]) / 2)

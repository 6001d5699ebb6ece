"""The compiled module: agreement with static shapes and with its own written-out source,
and everything a hand-written module does (printing, indexing, hooks, copies, pickles,
tracebacks), plus the ``resdsl compile`` command."""

from __future__ import annotations

import copy
import inspect
import io
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import textwrap
import traceback
from functools import cache
from pathlib import Path
from types import FrameType
from typing import Any

import networkx as nx
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

import resdsl
from resdsl.backends.build import compile_graph, observing_twin, sample_input
from resdsl.backends.codegen import Generated, generate
from resdsl.cli import app
from resdsl.diagnostics import ResdslError
from resdsl.ir import dims
from tests.conftest import ROOT, SPECS

GOLDEN = Path(__file__).parent / "golden" / "codegen"


@cache
def load(name: str) -> resdsl.Spec:
    return resdsl.load(GOLDEN / name if name == "tiny.res" else SPECS / name)


def build(file: str, model: str, **params: Any) -> nn.Module:
    return load(file).compile(model, **params)


# ------------------------------------------------------------------ static vs run time


def observe(model: nn.Module, x: torch.Tensor, gen: Generated) -> dict[str, tuple[int, ...]]:
    """Run ``model`` and record the shape of every graph node's value, as computed.

    A trace function watches the generated ``forward`` frames; when a line that
    completes a node's value (``gen.line_values``) has run, it reads the
    variable from the frame and prefixes the node id with the module's path.
    """
    filename = type(model).forward.__code__.co_filename
    paths = {id(m): name for name, m in model.named_modules()}
    seen: dict[str, tuple[int, ...]] = {}
    last: dict[int, int] = {}

    def record(frame: FrameType) -> None:
        line = last.get(id(frame))
        if line is None or line not in gen.line_values:
            return
        variable, rel = gen.line_values[line]
        prefix = paths[id(frame.f_locals["self"])]
        seen[f"{prefix}.{rel}" if prefix else rel] = tuple(frame.f_locals[variable].shape)

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        record(frame)
        if event == "line":
            last[id(frame)] = frame.f_lineno
        elif event == "return":
            last.pop(id(frame), None)
        return local

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        code = frame.f_code
        return local if code.co_filename == filename and code.co_name == "forward" else None

    sys.settrace(tracer)
    try:
        with torch.no_grad():
            model(x)
    finally:
        sys.settrace(None)
    return seen


def expected_shape(shape: tuple[int, ...], env: dict[str, int]) -> tuple[int, ...]:
    return tuple(
        dims.evaluate(d.expr, env) if isinstance(d, dims.SymDim) else int(d) for d in shape
    )


def is_noop(data: dict[str, Any]) -> bool:
    args = data["args"]
    return (
        data["op"] == "zeropad"
        and set(args.stride) == {1}
        and not args.pad_before + (args.pad_after)
    )


def valid_other_size(graph: nx.DiGraph, symbol: str, sample: int) -> int:
    rule = graph.graph["valid_sizes"].get(symbol)
    for n in range(sample + 1, sample + 200):
        if rule is None or n in rule:
            return n
    raise AssertionError(f"no other valid size for {symbol}")  # pragma: no cover


AGREEMENT = [
    ("tiny.res", "tiny", {}),
    ("tiny.res", "tiny_crop", {}),
    ("cifar_resnet.res", "resnet20", {}),
    ("cifar_resnet.res", "cifar_resnet", {"n": 2, "unit": "basic_b"}),
    ("plain_resnet.res", "plain20", {}),
    ("resnet.res", "resnet18", {"H": 64, "W": 64}),
    ("resnet.res", "resnet50", {"H": 64, "W": 64}),
    ("unet.res", "unet", {"H": 64, "W": 64}),
    ("unet_noalign.res", "unet_noalign", {"H": 32, "W": 32}),
    ("unet_original.res", "unet_original", {"H": 188, "W": 188}),
    ("preact_resnet.res", "preact_resnet", {"n": 2}),
]
SLOW_AGREEMENT = [
    ("resnet.res", "resnet34", {"H": 64, "W": 64}),
    ("resnet.res", "resnet101", {"H": 64, "W": 64}),
    ("resnet.res", "resnet152", {"H": 64, "W": 64}),
    ("cifar_resnet.res", "resnet110", {}),
    ("preact_resnet.res", "preact_resnet164", {}),
    ("preact_resnet.res", "preact_resnet1001", {}),
]


def check_agreement(file: str, model: str, params: dict[str, Any]) -> None:
    spec = load(file)
    graph = spec.graph(model, **params)
    module = compile_graph(graph).eval()
    gen = generate(graph)
    symbols = dict(graph.graph["symbols"])
    sizes = [symbols]
    if symbols:  # a size other than the sample: the align amounts are computed at run time
        sizes.append({s: valid_other_size(graph, s, v) for s, v in symbols.items()})
    for env in sizes:
        in_shape = expected_shape(graph.graph["input_shape"], env)
        seen = observe(module, torch.randn(2, *in_shape), gen)
        for node, data in graph.nodes(data=True):
            if data["role"] == "input":
                continue
            if node not in seen:
                assert is_noop(data), f"{model}: node {node!r} was never computed"
                continue
            want = expected_shape(data["shape"], env)
            assert seen[node] == (2, *want), f"{model} at {env}: {node}"
        assert set(seen) <= set(graph.nodes)


@pytest.mark.parametrize(("file", "model", "params"), AGREEMENT, ids=[m for _, m, _ in AGREEMENT])
def test_runtime_shapes_equal_static_shapes_at_every_node(
    file: str, model: str, params: dict[str, Any]
) -> None:
    check_agreement(file, model, params)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("file", "model", "params"), SLOW_AGREEMENT, ids=[m for _, m, _ in SLOW_AGREEMENT]
)
def test_runtime_shapes_equal_static_shapes_big_models(
    file: str, model: str, params: dict[str, Any]
) -> None:
    check_agreement(file, model, params)


# ------------------------------------------------------------------ the written-out source


STANDALONE_SCRIPT = textwrap.dedent(
    """
    import importlib.util, json, sys
    sys.modules["resdsl"] = None  # make sure nothing can reach resdsl
    assert importlib.util.find_spec("resdsl") is None
    import torch
    torch.manual_seed(0)
    results = {}
    for name in json.load(open("models.json")):
        spec = importlib.util.spec_from_file_location(name, f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        cls = getattr(module, module.__all__[0])
        model = cls()
        saved = torch.load(f"{name}.pt")
        model.load_state_dict(saved["state"], strict=True)
        model.eval()
        with torch.no_grad():
            out = model(saved["input"])
        results[name] = {
            "class": cls.__name__,
            "keys": list(model.state_dict()),
            "equal": bool(torch.equal(out, saved["output"])),
        }
    assert not [m for m in sys.modules if m.split(".")[0] == "resdsl" and sys.modules[m]]
    json.dump(results, open("results.json", "w"))
    """
)

STANDALONE = [
    ("tiny.res", "tiny", {}),
    ("tiny.res", "tiny_crop", {}),
    ("cifar_resnet.res", "resnet20", {}),
    ("resnet.res", "resnet18", {"H": 64, "W": 64}),
    ("preact_resnet.res", "preact_resnet", {"n": 2}),
]
# The U-Nets have 31M parameters each: their state_dicts take a while to move.
SLOW_STANDALONE = [
    ("unet.res", "unet", {"H": 48, "W": 48}),
    ("unet_original.res", "unet_original", {"H": 188, "W": 188}),
]


def isolated_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    return env


def test_written_source_rebuilds_the_same_model_without_resdsl(tmp_path: Path) -> None:
    check_standalone(tmp_path, STANDALONE)


@pytest.mark.slow
def test_written_source_rebuilds_the_unets_without_resdsl(tmp_path: Path) -> None:
    check_standalone(tmp_path, SLOW_STANDALONE)


def check_standalone(tmp_path: Path, cases: list[tuple[str, str, dict[str, Any]]]) -> None:
    expected: dict[str, Any] = {}
    names = []
    for file, model_name, params in cases:
        name = f"m_{model_name}"
        model = build(file, model_name, **params).eval()
        (tmp_path / f"{name}.py").write_text(type(model).code)  # type: ignore[attr-defined]
        x = sample_input(load(file).graph(model_name, **params), 2)
        with torch.no_grad():
            out = model(x)
        torch.save(
            {"state": model.state_dict(), "input": x, "output": out}, tmp_path / f"{name}.pt"
        )
        expected[name] = {"class": type(model).__name__, "keys": list(model.state_dict())}
        names.append(name)
    (tmp_path / "models.json").write_text(json.dumps(names))
    (tmp_path / "run.py").write_text(STANDALONE_SCRIPT)
    # -I: no PYTHONPATH, no user site, no script directory tricks; cwd outside the repo.
    subprocess.run(
        [sys.executable, "-I", "run.py"], cwd=tmp_path, env=isolated_env(), check=True, timeout=300
    )
    results = json.loads((tmp_path / "results.json").read_text())
    for name in names:
        assert results[name]["class"] == expected[name]["class"]
        assert results[name]["keys"] == expected[name]["keys"]
        assert results[name]["equal"], f"{name}: outputs differ"


def test_written_source_initialises_like_the_compiled_module() -> None:
    spec = load("tiny.res")
    torch.manual_seed(1)
    a = spec.compile("tiny")
    namespace: dict[str, Any] = {}
    exec(compile(type(a).code, "tiny_standalone.py", "exec"), namespace)  # type: ignore[attr-defined]
    torch.manual_seed(1)
    b = namespace["Tiny"]()
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb), ka


# ------------------------------------------------------------------ a hand-written module


def test_docstring_examples() -> None:
    import doctest

    import resdsl.backends.build

    assert doctest.testmod(resdsl.backends.build).failed == 0


def test_module_reads_like_a_hand_written_one() -> None:
    model = build("resnet.res", "resnet18")
    assert type(model).__name__ == "Resnet18"
    assert isinstance(model.layer1[0].conv1, nn.Conv2d)
    assert model.layer2[0].downsample[0].stride == (2, 2)
    assert model.layer4[-1] is model.layer4[1]
    with pytest.raises(IndexError):
        model.layer1[5]
    text = str(model)
    assert text.startswith("Resnet18(\n  (conv1): Conv2d(3, 64, kernel_size=(7, 7)")
    assert "(layer1): Stage(" in text and "(downsample): Downsample(" in text
    assert "layer1.0.downsample" not in dict(model.named_modules())
    assert "layer2.0.downsample.0.weight" in model.state_dict()


@pytest.mark.parametrize(("file", "model", "params"), AGREEMENT, ids=[m for _, m, _ in AGREEMENT])
def test_state_dict_follows_node_insertion_order(
    file: str, model: str, params: dict[str, Any]
) -> None:
    graph = load(file).graph(model, **params)
    with torch.device("meta"):
        module = compile_graph(graph)
    nodes = [
        f"{d['parent']}.{d['name']}" if d["parent"] else str(d["name"])
        for _, d in graph.nodes(data=True)
        if d["role"] in ("layer", "shortcut") and d["op"] != "zeropad"
    ]
    owners = list(dict.fromkeys(k.rsplit(".", 1)[0] for k in module.state_dict()))
    # Every owner of state is a node's module, except a rezero gate's container.
    for key in module.state_dict():
        assert key.rsplit(".", 1)[0] in nodes or key.endswith(".gate"), key
    assert [o for o in owners if o in nodes] == [n for n in nodes if n in owners]


def test_forward_hooks_fire_on_blocks_and_layers() -> None:
    model = build("cifar_resnet.res", "resnet20").eval()
    calls: list[tuple[str, tuple[int, ...]]] = []
    for name in ("layer1", "layer2.0", "layer2.0.conv1", "fc"):
        module = model.get_submodule(name)
        module.register_forward_hook(
            lambda m, i, o, name=name: calls.append((name, tuple(o.shape)))
        )
    with torch.no_grad():
        model(torch.randn(2, 3, 32, 32))
    assert calls == [
        ("layer1", (2, 16, 32, 32)),
        ("layer2.0.conv1", (2, 32, 16, 16)),
        ("layer2.0", (2, 32, 16, 16)),
        ("fc", (2, 10)),
    ]


def test_source_is_available_and_tracebacks_show_generated_lines() -> None:
    spec = load("cifar_resnet.res")
    model = spec.compile("resnet20")
    assert model.code == spec.source("resnet20")  # type: ignore[attr-defined]
    assert "out = self.conv1(x)" in inspect.getsource(type(model.layer1[0]).forward)
    assert inspect.getsource(type(model)).startswith("class Resnet20(Indexed):")
    try:
        model(torch.randn(1, 4, 32, 32))  # 4 channels: conv1 expects 3
    except RuntimeError as error:
        text = "".join(traceback.format_exception(error))
    else:  # pragma: no cover
        raise AssertionError("a wrong input should fail")
    assert "<resdsl:resnet20#" in text
    assert "x = self.conv1(x)  # [16, H, W]  cifar_resnet.res:" in text


def test_deepcopy_is_an_independent_copy() -> None:
    model = build("tiny.res", "tiny").eval()
    clone = copy.deepcopy(model)
    assert type(clone) is type(model)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), clone(x))
        clone.stem.weight.add_(1.0)
    assert not torch.equal(model.stem.weight, clone.stem.weight)
    assert not clone.training


def roundtrip(model: nn.Module) -> nn.Module:
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    restored: nn.Module = torch.load(buffer, weights_only=False)
    return restored


def test_pickle_restores_weights_modes_and_source() -> None:
    model = build("tiny.res", "tiny")
    model.train()
    model.enc.eval()
    model.stem.weight.requires_grad_(False)
    with torch.no_grad():
        model.gate1.down.gate.fill_(0.25)
    restored = roundtrip(model)
    assert type(restored).__name__ == "Tiny"
    assert restored.code == model.code  # type: ignore[attr-defined]
    for (k, a), (k2, b) in zip(
        model.state_dict().items(), restored.state_dict().items(), strict=True
    ):
        assert k == k2 and torch.equal(a, b), k
    assert restored.training and not restored.enc.training and not restored.enc[1].training
    assert not restored.stem.weight.requires_grad and restored.head.weight.requires_grad
    assert all(not t.is_meta for t in restored.state_dict().values())
    x = torch.randn(2, 3, 32, 32)
    model.eval()
    restored.eval()
    with torch.no_grad():
        assert torch.equal(model(x), restored(x))
    assert pickle.loads(pickle.dumps(model)).code == model.code  # type: ignore[attr-defined]


def test_pickle_does_not_need_the_spec_files(tmp_path: Path) -> None:
    # plain_resnet.res uses cifar_resnet.res: the generated source travels, not the spec.
    for name in ("plain_resnet.res", "cifar_resnet.res"):
        shutil.copy(SPECS / name, tmp_path / name)
    model = resdsl.load(tmp_path / "plain_resnet.res").compile("plain20")
    data = pickle.dumps(model)
    shutil.rmtree(tmp_path)
    restored = pickle.loads(data)
    assert type(restored).__name__ == "Plain20"
    assert list(restored.state_dict()) == list(model.state_dict())


def test_pickle_of_plain_twin_and_of_overrides() -> None:
    spec = load("resnet.res")
    twin = compile_graph(spec.plain().graph("resnet18", H=32, W=32))
    restored = roundtrip(twin)
    assert type(restored).__name__ == "Resnet18Plain"
    assert "downsample" not in restored.code  # type: ignore[attr-defined]
    zero = compile_graph(spec.graph("resnet18", H=32, W=32), zero_init_residual=True)
    restored = roundtrip(zero)
    assert restored.code == zero.code  # type: ignore[attr-defined]
    assert torch.count_nonzero(restored.layer1[0].bn2.weight) == 0


def test_pickle_keeps_the_source_and_a_copy_keeps_the_class() -> None:
    graph = load("tiny.res").graph("tiny_crop")
    model = compile_graph(graph).eval()
    restored = roundtrip(model)
    assert restored.code == model.code  # type: ignore[attr-defined]
    assert type(restored) is not type(model)  # executed again, as compile did
    assert [(k, v.shape) for k, v in restored.state_dict().items()] == [
        (k, v.shape) for k, v in model.state_dict().items()
    ]
    x = torch.randn(1, 1, 36, 36)
    with torch.no_grad():
        assert torch.equal(model(x), restored(x))
    assert type(copy.deepcopy(model)) is type(model)
    assert type(copy.deepcopy(restored)) is type(restored)
    assert roundtrip(restored).code == model.code  # type: ignore[attr-defined]


FRESH_PROCESS_SCRIPT = textwrap.dedent(
    """
    import pickle, sys
    sys.path.insert(0, sys.argv[1])  # -I ignores PYTHONPATH: this checkout, explicitly
    import torch
    saved = torch.load("m.pt", weights_only=False)
    with open("m.pickle", "rb") as f:
        plain = pickle.load(f)
    import resdsl
    assert resdsl.__file__.startswith(sys.argv[1]), resdsl.__file__
    front = ("resdsl.api", "resdsl.syntax", "resdsl.semantics")
    loaded = [m for m in sys.modules if m.startswith(front)]
    assert not loaded, loaded
    for m in (saved["model"], plain):
        assert type(m).__name__ == "Resnet20" and not m.training
        for (k, a), (k2, b) in zip(m.state_dict().items(), saved["state"].items(), strict=True):
            assert k == k2 and torch.equal(a, b), k
        with torch.no_grad():
            assert torch.equal(m(saved["x"]), saved["out"])
    print("ok")
    """
)


def test_pickle_restores_in_a_fresh_process_without_the_front_end(tmp_path: Path) -> None:
    model = build("cifar_resnet.res", "resnet20").eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        out = model(x)
    torch.save({"model": model, "x": x, "out": out, "state": model.state_dict()}, tmp_path / "m.pt")
    (tmp_path / "m.pickle").write_bytes(pickle.dumps(model))
    result = subprocess.run(
        [sys.executable, "-I", "-c", FRESH_PROCESS_SCRIPT, str(ROOT)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0 and result.stdout == "ok\n", result.stderr


# ------------------------------------------------------------------ observing the compiled module


OBSERVED = [
    ("cifar_resnet.res", "resnet20", {}),
    ("preact_resnet.res", "preact_resnet", {"n": 2}),
    ("unet.res", "unet", {"H": 37, "W": 45}),  # odd sizes: the pads are not zero
    ("unet_original.res", "unet_original", {"H": 188, "W": 188}),  # centre crops
    ("resnet.res", "resnet18", {"H": 64, "W": 64}),
    ("rezero.res", "rezero20", {}),
]


def watched_run(net: nn.Module, x: torch.Tensor) -> tuple[Any, Any, dict[str, tuple[int, ...]]]:
    """The observing twin's output, the model's, and the shape of every value the twin saw."""
    seen: dict[str, tuple[int, ...]] = {}

    def watch(node: str, value: torch.Tensor) -> torch.Tensor:
        seen[node] = tuple(value.shape)
        return value

    with torch.no_grad():
        return observing_twin(net)(x, watch), net(x), seen


@pytest.mark.parametrize(("file", "model", "params"), OBSERVED, ids=[m for _, m, _ in OBSERVED])
def test_observing_twin_sees_every_node_and_computes_the_same(
    file: str, model: str, params: dict[str, Any]
) -> None:
    graph = load(file).graph(model, **params)
    torch.manual_seed(0)
    net = compile_graph(graph).eval()
    x = sample_input(graph, 2)
    mine, theirs, seen = watched_run(net, x)
    assert torch.equal(mine, theirs)
    for node, data in graph.nodes(data=True):
        if data["role"] != "input" and node not in seen:
            assert is_noop(data), node
    assert all(seen[n] == (2, *(int(d) for d in graph.nodes[n]["shape"])) for n in seen)


def test_observing_twin_shares_the_model_state_and_substitutes_values() -> None:
    graph = load("cifar_resnet.res").graph("resnet20")
    net = compile_graph(graph).eval()
    run = observing_twin(net)
    x = torch.randn(2, 16, 32, 32)
    merges: dict[str, torch.Tensor] = {}

    def feed(node: str, value: torch.Tensor) -> torch.Tensor:
        if node == "layer1.0.bn2:add":
            merges[node] = value.clone()  # the ReLU after it may run in place
        return x if node == "relu" else value

    with torch.no_grad():
        net.layer1[0].conv1.weight.mul_(2)  # the twin holds the same tensors
        run(sample_input(graph, 2), feed)
        block = net.layer1[0](x)
    assert torch.equal(torch.relu(merges["layer1.0.bn2:add"]), block)
    assert (merges["layer1.0.bn2:add"] < 0).any()
    net.train()
    before = net.layer1[0].bn1.running_mean.clone()
    with torch.no_grad():
        run(sample_input(graph, 2), lambda node, value: value)
    assert not torch.equal(before, net.layer1[0].bn1.running_mean)  # train mode, shared buffers


#: Two named outputs, a tap into a labelled child (its block returns ``out, layer1``), and a
#: parallel with a split: every construct of language version 1 the twin must run.
TAPPED = """
block unit(width: int) {
    parallel (concat, split=2) {
        {}
        branch2: { conv(width // 2, 1); batchnorm; relu }
    }
    channel_shuffle(2)
}
model tapped() {
    input [4, H=8, W=8]
    backbone: {
        stem: conv(8, 3, padding=1)
        layer1: unit(8)
        layer2: conv(16, 3, stride=2, padding=1)
    }
    head: conv(3, 1)
    aux: conv(3, 1) from backbone.layer1
    output out: head
    output aux: aux
}
"""


def test_observing_twin_runs_named_outputs_taps_and_parallels() -> None:
    graph = resdsl.loads(TAPPED).graph("tapped")
    torch.manual_seed(0)
    net = compile_graph(graph).eval()
    assert "x, backbone_layer1 = self.backbone(x)" in net.code  # the tap's tuple assignment
    x = sample_input(graph, 2)
    mine, theirs, seen = watched_run(net, x)
    assert isinstance(mine, dict) and isinstance(theirs, dict)
    assert list(mine) == list(theirs) == ["out", "aux"]
    assert all(torch.equal(mine[k], theirs[k]) for k in theirs)
    for node, data in graph.nodes(data=True):
        if data["role"] != "input":
            assert node in seen, node
    assert all(seen[n] == (2, *(int(d) for d in graph.nodes[n]["shape"])) for n in seen)
    # A substituted tap value (layer1's output, its channel shuffle) reaches the aux head.
    with torch.no_grad():
        zeroed = observing_twin(net)(
            x, lambda n, v: torch.zeros_like(v) if n == "backbone.layer1.1" else v
        )
    assert isinstance(zeroed, dict)
    expected = net.aux(torch.zeros(2, 8, 8, 8))
    assert torch.equal(zeroed["aux"], expected)


@pytest.mark.slow
def test_observing_twin_of_fcn_resnet50_with_its_aux_head() -> None:
    graph = resdsl.load(ROOT / "specs/torchvision/segmentation.res").graph(
        "fcn_resnet50", aux_loss=True, H=32, W=32
    )
    torch.manual_seed(0)
    net = compile_graph(graph).eval()
    x = sample_input(graph, 1)
    with torch.no_grad():
        mine, theirs = observing_twin(net)(x, lambda n, v: v), net(x)
    assert isinstance(mine, dict) and isinstance(theirs, dict)
    assert list(mine) == ["out", "aux"]
    assert all(torch.equal(mine[k], theirs[k]) for k in theirs)


def test_a_restored_model_cannot_be_observed() -> None:
    restored = roundtrip(build("tiny.res", "tiny"))
    with pytest.raises(ValueError, match="a model restored from a pickle"):
        observing_twin(restored)


# ------------------------------------------------------------------ initialisation


def conv_weights(model: nn.Module) -> list[torch.Tensor]:
    return [m.weight for m in model.modules() if isinstance(m, nn.Conv2d)]


def test_default_init_is_pytorch_default() -> None:
    torch.manual_seed(0)
    model = build("resnet.res", "resnet18")
    torch.manual_seed(0)
    reference = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
    assert torch.equal(model.conv1.weight, reference.weight)


def test_kaiming_and_zero_init_residual_overrides() -> None:
    graph = load("resnet.res").graph("resnet18")
    model = compile_graph(graph, init="kaiming", zero_init_residual=True)
    w = model.layer3[1].conv2.weight
    fan_out = w.shape[0] * w.shape[2] * w.shape[3]
    assert abs(w.std().item() - (2 / fan_out) ** 0.5) < 0.1 * (2 / fan_out) ** 0.5
    for name, module in model.named_modules():
        if isinstance(module, nn.BatchNorm2d):
            expected = 0.0 if name.endswith("bn2") else 1.0
            assert torch.all(module.weight == expected), name
            assert torch.all(module.bias == 0), name
    default = compile_graph(graph)
    assert all(torch.all(m.weight == 1) for m in default.modules() if isinstance(m, nn.BatchNorm2d))


def test_zero_init_residual_makes_every_block_start_as_its_shortcut() -> None:
    model = compile_graph(load("resnet.res").graph("resnet18", H=64, W=64), zero_init_residual=True)
    block = model.layer1[1].eval()
    x = torch.randn(2, 64, 16, 16).relu()
    with torch.no_grad():
        assert torch.allclose(block(x), x)  # relu(0 + x) for x >= 0


def test_model_declared_init_parameters() -> None:
    spec = load("tiny.res")
    model = spec.compile("tiny")  # declares init="kaiming", zero_init_residual=true
    assert torch.all(model.block1.bn2.weight == 0)
    model = spec.compile("tiny", zero_init_residual=False)
    assert torch.all(model.block1.bn2.weight == 1)
    with pytest.raises(ResdslError, match="unknown initialisation scheme 'he'"):
        spec.compile("tiny", init="he")


def test_rezero_gates_start_at_zero() -> None:
    model = build("tiny.res", "tiny")
    assert model.gate1.down.gate.shape == () and model.gate1.down.gate.item() == 0.0
    assert model.scale1.res.gate.item() == 0.0
    block = model.scale1.eval()
    x = torch.randn(2, 32, 8, 8)
    with torch.no_grad():
        assert torch.equal(block(x), x)  # gate * 0.5 * conv(x) + x with gate = 0
        block.res.gate.fill_(1.0)
        expected = 0.5 * block.conv1(x) + x
        assert torch.allclose(block(x), expected)


# ------------------------------------------------------------------ inputs


def test_integer_input_for_embedding_models() -> None:
    spec = resdsl.loads(
        "model lm {\n    input [T=16]\n    emb: embedding(100, 32)\n    attn: attention(4)\n"
        "    skip emb -> attn (add)\n    norm: layernorm\n    head: linear(100)\n}\n"
    )
    graph = spec.graph()
    x = sample_input(graph, 3)
    assert x.dtype == torch.int64 and x.shape == (3, 16) and int(x.max()) < 100
    model = compile_graph(graph)
    assert "integer indices" in model.code  # type: ignore[attr-defined]
    code: str = model.code  # type: ignore[assignment]
    assert re.search(r"self\.attn\((\w+), \1, \1, need_weights=False\)\[0\]", code)
    assert model(x).shape == (3, 16, 100)


# ------------------------------------------------------------------ the command line


runner = CliRunner()


def run_cli(*args: str) -> Any:
    return runner.invoke(app, list(args))


def test_cli_compile_prints_summary_and_smoke_test(tmp_path: Path) -> None:
    target = tmp_path / "model.py"
    result = run_cli(
        "compile",
        str(SPECS / "cifar_resnet.res"),
        "--model",
        "resnet20",
        "--per-instance",
        "-o",
        str(target),
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].endswith("cifar_resnet.res: model resnet20 checks")
    assert "  parameters   269,722" in lines
    smoke = next(line for line in lines if line.startswith("  forward "))
    assert "[1, 3, 32, 32] -> [1, 10] in " in smoke and smoke.rstrip().endswith("no grad)")
    assert f"  wrote        {target} (class Resnet20)" in lines
    assert target.read_text().startswith('"""Resnet20: model resnet20')


def test_cli_compile_options(tmp_path: Path) -> None:
    target = tmp_path / "model.py"
    result = run_cli(
        "compile",
        str(SPECS / "cifar_resnet.res"),
        "-m",
        "cifar_resnet",
        "-p",
        "n=1",
        "-p",
        "H=40",
        "-p",
        "W=36",
        "--plain",
        "--init",
        "kaiming",
        "--zero-init-residual",
        "-o",
        str(target),
    )
    assert result.exit_code == 0, result.output
    source = target.read_text()
    assert "class CifarResnetPlain(" in source
    assert 'init="kaiming"' in source
    assert "no residual branch here ends in a norm layer" in source  # the plain twin
    assert "[1, 3, 40, 36] -> [1, 10]" in result.output


def test_cli_leaves_an_existing_file_alone_on_error(tmp_path: Path) -> None:
    target = tmp_path / "model.py"
    target.write_text("keep me\n")
    bad = tmp_path / "bad.res"
    bad.write_text("model m {\n    input [3, 8, 8]\n    conv(4, 30)\n}\n")
    result = run_cli("compile", str(bad), "-o", str(target))
    assert result.exit_code == 1
    assert "kernel size 30" in result.output
    assert target.read_text() == "keep me\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.res", "model.py"]


def test_cli_usage_errors(tmp_path: Path) -> None:
    spec = str(SPECS / "cifar_resnet.res")
    result = run_cli("compile", spec, "-m", "resnet20", "--init", "xavier")
    assert result.exit_code == 2 and "--init 'xavier' is not a scheme" in result.output
    onnx = tmp_path / "m.onnx"
    result = run_cli("compile", spec, "-m", "resnet20", "--onnx", str(onnx))
    if _has_onnx():  # pragma: no cover - onnx is optional
        assert result.exit_code == 0
    else:
        assert result.exit_code == 2
        assert "install resdsl[onnx]" in result.output
        assert not onnx.exists()
    result = run_cli("compile", spec, "-m", "resnet21")
    assert result.exit_code == 2


def _has_onnx() -> bool:
    import importlib.util

    return importlib.util.find_spec("onnx") is not None


def test_cli_export_writes_a_loadable_program(tmp_path: Path) -> None:
    target = tmp_path / "model.pt2"
    result = run_cli(
        "compile", str(GOLDEN / "tiny.res"), "-m", "tiny_crop", "--export", str(target)
    )
    assert result.exit_code == 0, result.output
    program = torch.export.load(target)
    x = torch.randn(1, 1, 36, 36)
    model = build("tiny.res", "tiny_crop").eval()
    model.load_state_dict(program.state_dict)
    with torch.no_grad():
        assert torch.allclose(program.module()(x), model(x))


def test_cli_import_does_not_import_torch() -> None:
    code = "import resdsl.cli, sys; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_residual_sums_in_place_equal_the_out_of_place_ones_bit_for_bit() -> None:
    """``out += x`` (as torchvision) against ``out = out + x``: outputs and gradients identical."""
    from resdsl.backends.build import load_source

    torch.manual_seed(0)
    model = resdsl.load(ROOT / "specs" / "resnet.res").compile("resnet50", num_classes=10).train()
    generated = type(model)._resdsl_generated  # type: ignore[attr-defined]
    # one class per distinct bottleneck (8), each summing in place; none out of place
    assert generated.source.count("out += x") == 8 and " = out + " not in generated.source
    plain = re.sub(r"(\w+) \+= (\w+)", r"\1 = \1 + \2", generated.source)
    twin = getattr(load_source(plain, "resnet50_plain_sum"), generated.class_name)()
    twin.load_state_dict(model.state_dict())
    twin.train()
    x = torch.randn(2, 3, 64, 64)
    out_a, out_b = model(x), twin(x)
    assert torch.equal(out_a, out_b)
    out_a.square().sum().backward()
    out_b.square().sum().backward()
    for (name, a), b in zip(model.named_parameters(), twin.parameters(), strict=True):
        assert a.grad is not None and b.grad is not None and torch.equal(a.grad, b.grad), name

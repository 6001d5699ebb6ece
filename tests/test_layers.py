"""The built-in layers against PyTorch: shapes, parameter counts, classes, errors.

Each case builds the module from the layer's own ``torch_init`` source (the
only place ``eval`` is used: test code), runs a batch of two through the
layer's ``torch_call`` source, and compares with ``infer`` and ``params``.
"""

from __future__ import annotations

import ast
import math
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from torch import nn

from resdsl.ir import dims
from resdsl.ir.dims import Shape
from resdsl.ops import BUILTIN_LAYERS, get_layer, layer_names
from resdsl.ops.activation import LeakyReLUArgs
from resdsl.ops.base import Layer, LayerArgs, ShapeError
from resdsl.ops.conv import ConvArgs

LAYERS_DIR = Path(__file__).resolve().parents[1] / "resdsl" / "ops"

SAME_EVEN_KERNEL = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")


# ------------------------------------------------------------------ helpers


def layer_of(name: str) -> Layer:
    layer = get_layer(name)
    assert layer is not None, name
    return layer


def build(name: str, kwargs: dict[str, Any], shape: Shape) -> tuple[Layer, LayerArgs, nn.Module]:
    """The layer, its validated arguments, and the module its ``torch_init`` source builds."""
    layer = layer_of(name)
    args = layer.Args.model_validate(kwargs)
    if not layer.has_module:  # a layout layer: forward runs its own lines (see forward)
        return layer, args, nn.Module()
    module = eval(layer.torch_init(args, shape), {"nn": nn})
    assert isinstance(module, nn.Module)
    return layer, args, module


def forward(layer: Layer, args: Any, module: nn.Module, shape: Shape) -> torch.Tensor:
    """Run a batch of two through the layer's ``torch_call`` source, in training mode."""
    plain = tuple(int(d) for d in shape)
    if layer.name == "embedding":
        x = torch.randint(0, args.num_embeddings, (2, *plain))
    else:
        x = torch.randn(2, *plain)
    module.train()
    with torch.no_grad():
        if layer.has_module:
            out = eval(layer.torch_call("module", "x", args, shape), {"module": module, "x": x})
        else:
            namespace = {"x": x}
            lines = layer.forward_lines(args, "out", ["x"], _NO_EMIT)
            exec("\n".join(text for text, _ in lines), namespace)
            out = namespace["out"]
    assert isinstance(out, torch.Tensor)
    return out


class _NoEmit:
    """Code generation's helpers, for the layout layers (which need none of them)."""

    def literal(self, value: int | float | bool) -> str:
        return repr(value)

    def temp(self, base: str) -> str:
        return base

    def use_functional(self) -> None:
        pass

    def gate(self) -> str:
        raise AssertionError("no layer has a gate")


_NO_EMIT = _NoEmit()


def numel(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def torch_raises(name: str, kwargs: dict[str, Any], shape: Shape) -> bool:
    """Whether PyTorch refuses: building the module or running it raises."""
    try:
        layer, args, module = build(name, kwargs, shape)
        forward(layer, args, module, shape)
    except (RuntimeError, ValueError, TypeError, IndexError, AssertionError, NotImplementedError):
        return True
    return False


def cases(table: list[Any]) -> list[Any]:
    """Table rows as ``pytest.param`` with readable ids: ``conv(out_channels=8,...)-[3,10,10]``."""
    out = []
    for row in table:
        if hasattr(row, "values"):  # already a pytest.param
            out.append(row)
            continue
        name, kwargs, shape = row[:3]
        inner = ",".join(f"{k}={v}" for k, v in kwargs.items()).replace(" ", "")
        where = f"-{[int(d) for d in shape]}" if isinstance(shape, tuple) else ""
        out.append(pytest.param(*row, id=f"{name}({inner}){where}"))
    return out


def torch_is_empty(name: str, kwargs: dict[str, Any], shape: Shape) -> bool:
    """Whether PyTorch runs but returns an empty tensor (a size of 0, an error here)."""
    layer, args, module = build(name, kwargs, shape)
    return forward(layer, args, module, shape).numel() == 0


# ------------------------------------------------------------------ the registry


def test_registry_names_are_unique_and_all_registered() -> None:
    names = [layer.name for layer in BUILTIN_LAYERS]
    assert len(names) == len(set(names))
    assert all(get_layer(name) is layer for name, layer in zip(names, BUILTIN_LAYERS, strict=True))
    assert set(names) <= set(layer_names())


def _layers_in(table: list[Any]) -> set[str]:
    return {(row.values if hasattr(row, "values") else row)[0] for row in table}


def test_every_builtin_layer_is_compared_with_torch() -> None:
    # The list of layers is the registry's (docs/language.md's table is generated
    # from it): a new layer without an agreement case fails here.
    # Layers that read a `param` of their scope run inside a model: tests/test_params.py.
    reads_param = {layer.name for layer in BUILTIN_LAYERS if layer.param_arg is not None}
    missing = {layer.name for layer in BUILTIN_LAYERS} - _layers_in(CASES) - reads_param
    assert not missing, f"add a row to CASES for {sorted(missing)}"


@pytest.mark.parametrize("layer", BUILTIN_LAYERS, ids=lambda layer: layer.name)
def test_layer_declarations(layer: Layer) -> None:
    assert issubclass(layer.Args, LayerArgs)
    assert layer.__doc__ and layer.name in layer.__doc__
    assert layer.nonlinear == (layer.category == "activation")
    expected = {
        "conv": "weighted",
        "conv_transpose": "weighted",
        "linear": "weighted",
        "attention": "weighted",
        "batchnorm": "norm",
        "groupnorm": "norm",
        "layernorm": "norm",
        "layernorm2d": "norm",
        "instancenorm": "norm",
        "maxpool": "pool",
        "avgpool": "pool",
        "adaptive_avgpool": "pool",
        "adaptive_maxpool": "pool",
        "dropout": "dropout",
        "flatten": "shape",
        "upsample": "shape",
        "channel_shuffle": "shape",
        "identity": "shape",
        "permute": "shape",
        "transpose": "shape",
        "reshape": "shape",
        "unflatten": "shape",
        "select": "shape",
        "embedding": "other",
        "add_param": "other",
        "prepend_param": "other",
    }
    assert layer.category == expected.get(layer.name, "activation")


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module.split(".")[0])
    return found


def _calls(path: Path) -> set[str]:
    return {
        node.func.id
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }


@pytest.mark.parametrize("path", sorted(LAYERS_DIR.glob("*.py")), ids=lambda p: p.name)
def test_layer_modules_never_import_torch_nor_eval(path: Path) -> None:
    assert "torch" not in _imports(path)
    assert not {"eval", "exec"} & _calls(path)


# ------------------------------------------------------------------ agreement with PyTorch

# (layer, arguments, input shape without batch, expected module class)
CASES: list[Any] = [
    # conv
    ("conv", {"out_channels": 8, "kernel_size": 3}, (3, 10, 10), nn.Conv2d),
    (
        "conv",
        {"out_channels": 64, "kernel_size": 7, "stride": 2, "padding": 3, "bias": False},
        (3, 33, 31),
        nn.Conv2d,
    ),
    ("conv", {"out_channels": 6, "kernel_size": 5, "stride": 2, "padding": 1}, (4, 17), nn.Conv1d),
    (
        "conv",
        {"out_channels": 4, "kernel_size": (3, 1, 2), "stride": (2, 1, 1), "padding": (1, 0, 1)},
        (2, 5, 6, 7),
        nn.Conv3d,
    ),
    (
        "conv",
        {"out_channels": 5, "kernel_size": 3, "dilation": 2, "padding": 2},
        (3, 9, 9),
        nn.Conv2d,
    ),
    ("conv", {"out_channels": 5, "kernel_size": 3, "dilation": (1, 3)}, (3, 9, 9), nn.Conv2d),
    ("conv", {"out_channels": 8, "kernel_size": 3, "groups": 4}, (4, 7, 7), nn.Conv2d),
    (
        "conv",
        {"out_channels": 6, "kernel_size": 3, "padding": 1, "groups": 6},
        (6, 5, 5),
        nn.Conv2d,
    ),
    ("conv", {"out_channels": 4, "kernel_size": 2, "stride": 3}, (3, 11, 11), nn.Conv2d),
    ("conv", {"out_channels": 4, "kernel_size": 5, "padding": 1}, (3, 3, 3), nn.Conv2d),
    ("conv", {"out_channels": 4, "kernel_size": 3, "padding": "same"}, (3, 7, 6), nn.Conv2d),
    pytest.param(
        "conv",
        {"out_channels": 4, "kernel_size": 4, "padding": "same", "dilation": 1},
        (3, 7, 6),
        nn.Conv2d,
        marks=SAME_EVEN_KERNEL,
        id="conv-same-even",
    ),
    ("conv", {"out_channels": 4, "kernel_size": 3, "padding": "valid"}, (3, 7, 6), nn.Conv2d),
    (
        "conv",
        {"out_channels": 4, "kernel_size": 3, "padding": 2, "padding_mode": "reflect"},
        (3, 3, 5),
        nn.Conv2d,
    ),
    (
        "conv",
        {"out_channels": 4, "kernel_size": 3, "padding": 3, "padding_mode": "circular"},
        (3, 3, 5),
        nn.Conv2d,
    ),
    (
        "conv",
        {"out_channels": 4, "kernel_size": 3, "padding": 4, "padding_mode": "replicate"},
        (3, 2),
        nn.Conv1d,
    ),
    # conv_transpose
    (
        "conv_transpose",
        {"out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1, "output_padding": 1},
        (8, 5, 5),
        nn.ConvTranspose2d,
    ),
    (
        "conv_transpose",
        {"out_channels": 4, "kernel_size": 2, "stride": 2},
        (8, 7),
        nn.ConvTranspose1d,
    ),
    (
        "conv_transpose",
        {"out_channels": 2, "kernel_size": (2, 3, 1), "stride": (2, 1, 3), "bias": False},
        (4, 3, 4, 2),
        nn.ConvTranspose3d,
    ),
    (
        "conv_transpose",
        {"out_channels": 6, "kernel_size": 3, "groups": 2, "dilation": 2, "output_padding": 1},
        (4, 5, 5),
        nn.ConvTranspose2d,
    ),
    (
        "conv_transpose",
        {"out_channels": 3, "kernel_size": 2, "stride": 3},
        (2, 4, 5),
        nn.ConvTranspose2d,
    ),
    # norms
    ("batchnorm", {}, (8,), nn.BatchNorm1d),
    ("batchnorm", {"momentum": None}, (8, 5), nn.BatchNorm1d),
    ("batchnorm", {}, (8, 4, 4), nn.BatchNorm2d),
    ("batchnorm", {"affine": False, "eps": 1e-3}, (8, 2, 3, 4), nn.BatchNorm3d),
    ("groupnorm", {"num_groups": 4}, (8, 4, 4), nn.GroupNorm),
    ("groupnorm", {"num_groups": 3, "affine": False}, (6,), nn.GroupNorm),
    ("groupnorm", {"num_groups": 2}, (6, 3), nn.GroupNorm),
    ("layernorm", {}, (5, 16), nn.LayerNorm),
    ("layernorm", {"bias": False}, (16,), nn.LayerNorm),
    ("layernorm", {"elementwise_affine": False}, (2, 3, 16), nn.LayerNorm),
    ("layernorm2d", {}, (6, 3, 5), nn.LayerNorm),
    ("layernorm2d", {"eps": 1e-6, "bias": False}, (4, 2, 2), nn.LayerNorm),
    ("instancenorm", {}, (4, 10), nn.InstanceNorm1d),
    ("instancenorm", {"affine": True}, (4, 5, 5), nn.InstanceNorm2d),
    ("instancenorm", {"track_running_stats": True}, (4, 2, 3, 3), nn.InstanceNorm3d),
    ("instancenorm", {}, (4, 1, 2), nn.InstanceNorm2d),
    # linear
    ("linear", {"out_features": 10}, (16,), nn.Linear),
    ("linear", {"out_features": 7, "bias": False}, (5, 16), nn.Linear),
    ("linear", {"out_features": 3}, (2, 3, 16), nn.Linear),
    # activations
    ("relu", {}, (3, 5, 5), nn.ReLU),
    ("relu6", {}, (3, 5), nn.ReLU6),
    ("leaky_relu", {}, (7,), nn.LeakyReLU),
    ("leaky_relu", {"negative_slope": 0.2}, (3, 5, 5), nn.LeakyReLU),
    ("elu", {"alpha": 0.5}, (3, 5, 5), nn.ELU),
    ("gelu", {}, (5, 8), nn.GELU),
    ("gelu", {"approximate": "tanh"}, (5, 8), nn.GELU),
    ("silu", {}, (3, 2, 2, 2), nn.SiLU),
    ("mish", {}, (3, 5, 5), nn.Mish),
    ("sigmoid", {}, (3, 5, 5), nn.Sigmoid),
    ("tanh", {}, (3, 5, 5), nn.Tanh),
    ("hardswish", {}, (3, 5, 5), nn.Hardswish),
    ("hardsigmoid", {}, (3, 5, 5), nn.Hardsigmoid),
    ("softmax", {}, (10,), nn.Softmax),
    ("softmax", {"dim": 2}, (3, 4, 5), nn.Softmax),
    ("softmax", {"dim": -3}, (3, 4, 5), nn.Softmax),
    # pools
    ("maxpool", {"kernel_size": 3, "stride": 2, "padding": 1}, (3, 11, 11), nn.MaxPool2d),
    ("maxpool", {"kernel_size": 3, "stride": 2, "ceil_mode": True}, (3, 10, 8), nn.MaxPool2d),
    (
        "maxpool",
        {"kernel_size": 2, "stride": 2, "padding": 1, "ceil_mode": True},
        (3, 5, 6),
        nn.MaxPool2d,
    ),
    ("maxpool", {"kernel_size": 2}, (3, 9), nn.MaxPool1d),
    ("maxpool", {"kernel_size": 2, "ceil_mode": True}, (2, 5, 5, 3), nn.MaxPool3d),
    ("maxpool", {"kernel_size": 3, "dilation": 2, "padding": 1}, (3, 10, 10), nn.MaxPool2d),
    ("maxpool", {"kernel_size": 2, "stride": 3}, (3, 11, 11), nn.MaxPool2d),
    ("maxpool", {"kernel_size": (2, 3), "stride": (1, 2)}, (3, 7, 7), nn.MaxPool2d),
    (
        "avgpool",
        {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False},
        (3, 11, 11),
        nn.AvgPool2d,
    ),
    ("avgpool", {"kernel_size": 3, "stride": 2, "ceil_mode": True}, (3, 10, 10), nn.AvgPool2d),
    (
        "avgpool",
        {"kernel_size": 4, "stride": 3, "padding": 2, "ceil_mode": True},
        (3, 9),
        nn.AvgPool1d,
    ),
    ("avgpool", {"kernel_size": 2}, (2, 5, 4, 3), nn.AvgPool3d),
    ("avgpool", {"kernel_size": 2, "divisor_override": 3}, (3, 6, 6), nn.AvgPool2d),
    ("avgpool", {"kernel_size": 2, "stride": 3}, (3, 11, 11), nn.AvgPool2d),
    ("adaptive_avgpool", {"output_size": 1}, (8, 7, 7), nn.AdaptiveAvgPool2d),
    ("adaptive_avgpool", {"output_size": (None, 3)}, (8, 5, 6), nn.AdaptiveAvgPool2d),
    ("adaptive_avgpool", {"output_size": 4}, (8, 10), nn.AdaptiveAvgPool1d),
    ("adaptive_avgpool", {"output_size": (2, None, 1)}, (8, 4, 5, 6), nn.AdaptiveAvgPool3d),
    ("adaptive_maxpool", {"output_size": 2}, (8, 5, 5), nn.AdaptiveMaxPool2d),
    ("adaptive_maxpool", {"output_size": 10}, (8, 5, 5), nn.AdaptiveMaxPool2d),
    ("adaptive_maxpool", {"output_size": (3,)}, (8, 7), nn.AdaptiveMaxPool1d),
    # shape
    ("flatten", {}, (3, 4, 5), nn.Flatten),
    ("flatten", {"start_dim": 1}, (3, 4, 5), nn.Flatten),
    ("flatten", {"start_dim": 0, "end_dim": 1}, (3, 4, 5), nn.Flatten),
    ("flatten", {"start_dim": -2}, (3, 4, 5), nn.Flatten),
    ("flatten", {"start_dim": 1, "end_dim": 1}, (3, 4, 5), nn.Flatten),
    ("flatten", {}, (7,), nn.Flatten),
    ("identity", {}, (3, 4), nn.Identity),
    # layout (no module of their own: nn.Module stands for none)
    ("permute", {"dims": (1, 2, 0)}, (3, 4, 5), nn.Module),
    ("permute", {"dims": (-1, 0)}, (3, 4), nn.Module),
    ("permute", {"dims": (0,)}, (7,), nn.Module),
    ("transpose", {"dim0": 0, "dim1": 1}, (3, 4), nn.Module),
    ("transpose", {"dim0": -1, "dim1": 0}, (3, 4, 5), nn.Module),
    ("reshape", {"sizes": (4, -1)}, (2, 3, 4), nn.Module),
    ("reshape", {"sizes": (6, 2, 2)}, (2, 3, 4), nn.Module),
    ("reshape", {"sizes": (-1,)}, (2, 3, 4), nn.Module),
    ("unflatten", {"dim": 1, "sizes": (2, 3)}, (4, 6), nn.Unflatten),
    ("unflatten", {"dim": -1, "sizes": (-1, 2)}, (4, 6), nn.Unflatten),
    ("select", {"dim": 0, "index": 0}, (3, 4), nn.Module),
    ("select", {"dim": -1, "index": -2}, (3, 4, 5), nn.Module),
    ("dropout", {}, (16,), nn.Dropout),
    ("dropout", {"p": 0.1}, (3, 8), nn.Dropout1d),
    ("dropout", {"p": 0.0}, (3, 4, 4), nn.Dropout2d),
    ("dropout", {"p": 1}, (3, 2, 2, 2), nn.Dropout3d),
    ("upsample", {"scale_factor": 2}, (3, 5, 5), nn.Upsample),
    (
        "upsample",
        {"scale_factor": 2, "mode": "bilinear", "align_corners": True},
        (3, 5, 4),
        nn.Upsample,
    ),
    ("upsample", {"scale_factor": 1.5, "mode": "linear"}, (3, 7), nn.Upsample),
    ("upsample", {"scale_factor": (1, 2, 3), "mode": "trilinear"}, (3, 2, 3, 4), nn.Upsample),
    ("upsample", {"scale_factor": 0.5, "mode": "nearest-exact"}, (3, 7, 7), nn.Upsample),
    ("upsample", {"scale_factor": (2, 1)}, (3, 4, 4), nn.Upsample),
    ("upsample", {"scale_factor": 0.5, "mode": "area"}, (3, 9, 6), nn.Upsample),
    ("upsample", {"scale_factor": 3, "mode": "bicubic"}, (3, 4, 4), nn.Upsample),
    # PyTorch rounds in floating point: floor(100 * 0.29) = 28, not 29.
    ("upsample", {"scale_factor": 0.29}, (1, 100), nn.Upsample),
    ("upsample", {"scale_factor": 0.7}, (1, 10), nn.Upsample),
    ("channel_shuffle", {"groups": 2}, (4, 3, 3), nn.ChannelShuffle),
    ("channel_shuffle", {"groups": 3}, (6, 5), nn.ChannelShuffle),
    # sequences
    ("attention", {"num_heads": 2}, (5, 8), nn.MultiheadAttention),
    ("attention", {"num_heads": 4, "bias": False, "dropout": 0.1}, (3, 16), nn.MultiheadAttention),
    ("attention", {"num_heads": 1, "add_bias_kv": True}, (4, 6), nn.MultiheadAttention),
    ("attention", {"num_heads": 3, "add_zero_attn": True}, (4, 6), nn.MultiheadAttention),
    ("embedding", {"num_embeddings": 10, "embedding_dim": 4}, (7,), nn.Embedding),
    (
        "embedding",
        {"num_embeddings": 10, "embedding_dim": 4, "padding_idx": -1, "max_norm": 1.0},
        (3, 5),
        nn.Embedding,
    ),
]


@pytest.mark.parametrize(("name", "kwargs", "shape", "cls"), cases(CASES))
def test_layer_matches_torch(
    name: str, kwargs: dict[str, Any], shape: Shape, cls: type[nn.Module]
) -> None:
    layer, args, module = build(name, kwargs, shape)
    assert type(module) is cls
    out = forward(layer, args, module, shape)
    assert tuple(out.shape) == (2, *layer.infer(args, shape))
    assert layer.params(args, shape) == numel(module)


# Inputs PyTorch refuses; infer must refuse them too, blaming the argument named.
TORCH_ERRORS: list[Any] = [
    ("conv", {"out_channels": 4, "kernel_size": 5}, (3, 4, 4), "kernel_size"),
    ("conv", {"out_channels": 4, "kernel_size": 3, "dilation": 3}, (1, 6, 6), "kernel_size"),
    ("conv", {"out_channels": 4, "kernel_size": 3, "groups": 2}, (3, 8, 8), "groups"),
    ("conv", {"out_channels": 6, "kernel_size": 3, "groups": 4}, (4, 8, 8), "groups"),
    (
        "conv",
        {"out_channels": 4, "kernel_size": 3, "stride": 2, "padding": "same"},
        (3, 8, 8),
        "padding",
    ),
    ("conv", {"out_channels": 4, "kernel_size": (3, 3, 3)}, (3, 8, 8), "kernel_size"),
    ("conv", {"out_channels": 4, "kernel_size": 3, "stride": (1, 2, 1)}, (3, 8, 8), "stride"),
    (
        "conv",
        {"out_channels": 4, "kernel_size": 3, "padding": 3, "padding_mode": "reflect"},
        (1, 3, 5),
        "padding",
    ),
    (
        "conv",
        {"out_channels": 4, "kernel_size": 3, "padding": 4, "padding_mode": "circular"},
        (1, 3, 5),
        "padding",
    ),
    pytest.param(
        "conv",
        {"out_channels": 4, "kernel_size": 4, "padding": "same", "padding_mode": "reflect"},
        (1, 2, 5),
        "padding",
        marks=SAME_EVEN_KERNEL,
        id="conv-same-reflect-too-small",
    ),
    (
        "conv_transpose",
        {"out_channels": 4, "kernel_size": 3, "stride": 2, "output_padding": 2},
        (2, 4, 4),
        "output_padding",
    ),
    (
        "conv_transpose",
        {"out_channels": 4, "kernel_size": 3, "dilation": 2, "output_padding": 2},
        (2, 4, 4),
        "output_padding",
    ),
    ("conv_transpose", {"out_channels": 4, "kernel_size": 1, "padding": 1}, (2, 1, 1), "padding"),
    ("conv_transpose", {"out_channels": 4, "kernel_size": 2, "groups": 3}, (6, 3, 3), "groups"),
    ("conv_transpose", {"out_channels": 4, "kernel_size": (2, 2)}, (6, 3), "kernel_size"),
    ("maxpool", {"kernel_size": 3, "padding": 2}, (3, 8, 8), "padding"),
    ("maxpool", {"kernel_size": 3, "padding": 2, "dilation": 2}, (3, 8, 8), "padding"),
    ("maxpool", {"kernel_size": 2, "padding": 2}, (3, 8), "padding"),
    ("maxpool", {"kernel_size": 5}, (3, 4, 4), "kernel_size"),
    ("maxpool", {"kernel_size": 3, "dilation": 3}, (1, 6, 6), "kernel_size"),
    ("maxpool", {"kernel_size": 3, "stride": 2}, (1, 2, 2, 2), "kernel_size"),
    ("maxpool", {"kernel_size": (2, 2)}, (1, 6, 6, 6), "kernel_size"),
    ("avgpool", {"kernel_size": 2, "padding": 2}, (3, 8, 8), "padding"),
    ("avgpool", {"kernel_size": 4}, (3, 3), "kernel_size"),
    ("avgpool", {"kernel_size": (1, 3, 3), "padding": (0, 1, 1)}, (1, 1, 2, 2), "kernel_size"),
    ("avgpool", {"kernel_size": 2, "divisor_override": 3}, (3, 6), "divisor_override"),
    ("adaptive_avgpool", {"output_size": (None,)}, (3, 6), "output_size"),
    ("adaptive_maxpool", {"output_size": (2, 2, 2)}, (3, 6, 6), "output_size"),
    ("groupnorm", {"num_groups": 3}, (4, 5), "num_groups"),
    ("instancenorm", {}, (4, 1, 1), None),
    ("instancenorm", {"affine": True}, (4, 1), None),
    ("softmax", {"dim": 3}, (3, 4, 5), "dim"),
    ("flatten", {"start_dim": 1, "end_dim": 0}, (3, 4, 5), "start_dim"),
    ("flatten", {"start_dim": 3}, (3, 4, 5), "start_dim"),
    ("flatten", {"end_dim": 5}, (3, 4, 5), "end_dim"),
    ("upsample", {"scale_factor": 2, "mode": "bilinear"}, (3, 5), "mode"),
    ("upsample", {"scale_factor": 2, "mode": "trilinear"}, (3, 4, 4), "mode"),
    ("upsample", {"scale_factor": 2, "mode": "linear"}, (3, 4, 4, 4), "mode"),
    ("upsample", {"scale_factor": 0.1}, (3, 5, 5), "scale_factor"),
    ("upsample", {"scale_factor": (2, 2, 2)}, (3, 4, 4), "scale_factor"),
    ("channel_shuffle", {"groups": 4}, (6, 3, 3), "groups"),
    ("attention", {"num_heads": 3}, (5, 8), "num_heads"),
    ("layernorm2d", {}, (4, 5), None),
    ("permute", {"dims": (1, 0)}, (3, 4, 5), "dims"),
    ("permute", {"dims": (0, 0, 1)}, (3, 4, 5), "dims"),
    ("permute", {"dims": (0, 3, 1)}, (3, 4, 5), "dims"),
    ("transpose", {"dim0": 0, "dim1": 2}, (3, 4), "dim1"),
    ("reshape", {"sizes": (-1, -1)}, (3, 4), "sizes"),
    ("reshape", {"sizes": (5, -1)}, (3, 4), "sizes"),
    ("reshape", {"sizes": (5, 2)}, (3, 4), "sizes"),
    ("reshape", {"sizes": (0, 12)}, (3, 4), "sizes"),
    ("unflatten", {"dim": 0, "sizes": (2, 2)}, (3, 4), "sizes"),
    ("unflatten", {"dim": 2, "sizes": (2, 2)}, (3, 4), "dim"),
    ("select", {"dim": 0, "index": 3}, (3, 4), "index"),
    ("select", {"dim": 1, "index": -5}, (3, 4), "index"),
]


@pytest.mark.parametrize(("name", "kwargs", "shape", "arg"), cases(TORCH_ERRORS))
def test_infer_refuses_what_torch_refuses(
    name: str, kwargs: dict[str, Any], shape: Shape, arg: str | None
) -> None:
    layer = layer_of(name)
    with pytest.raises(ShapeError) as info:
        layer.infer(layer.Args.model_validate(kwargs), shape)
    assert info.value.arg == arg
    assert torch_raises(name, kwargs, shape)


# Inputs PyTorch accepts but the language refuses: a size of 0 (PyTorch returns
# an empty tensor), and a dimension index that would name the batch.
STRICTER: list[Any] = [
    ("conv_transpose", {"out_channels": 4, "kernel_size": 2, "padding": 1}, (2, 1, 3), "padding"),
    ("softmax", {"dim": -4}, (3, 4, 5), "dim"),
    ("flatten", {"start_dim": -4}, (3, 4, 5), "start_dim"),
]


@pytest.mark.parametrize(("name", "kwargs", "shape", "arg"), cases(STRICTER))
def test_infer_refuses_empty_outputs_and_the_batch_dimension(
    name: str, kwargs: dict[str, Any], shape: Shape, arg: str
) -> None:
    layer = layer_of(name)
    with pytest.raises(ShapeError) as info:
        layer.infer(layer.Args.model_validate(kwargs), shape)
    assert info.value.arg == arg
    assert not torch_raises(name, kwargs, shape)


WRONG_RANK = [
    ("conv", {"out_channels": 4, "kernel_size": 1}, (8,)),
    ("conv", {"out_channels": 4, "kernel_size": 1}, (1, 2, 2, 2, 2)),
    ("conv_transpose", {"out_channels": 4, "kernel_size": 1}, (8,)),
    ("batchnorm", {}, (1, 2, 2, 2, 2)),
    ("batchnorm", {}, ()),
    ("instancenorm", {}, (8,)),
    ("maxpool", {"kernel_size": 1}, (8,)),
    ("avgpool", {"kernel_size": 1}, (1, 2, 2, 2, 2)),
    ("adaptive_avgpool", {"output_size": 1}, (8,)),
    ("adaptive_maxpool", {"output_size": 1}, (8,)),
    ("upsample", {"scale_factor": 2}, (8,)),
    ("dropout", {}, (1, 2, 2, 2, 2)),
    ("attention", {"num_heads": 1}, (8,)),
    ("attention", {"num_heads": 1}, (2, 3, 8)),
    ("linear", {"out_features": 4}, ()),
    ("layernorm", {}, ()),
    ("groupnorm", {"num_groups": 1}, ()),
    ("softmax", {}, ()),
    ("flatten", {}, ()),
]


@pytest.mark.parametrize(("name", "kwargs", "shape"), cases(WRONG_RANK))
def test_wrong_rank_is_a_shape_error(name: str, kwargs: dict[str, Any], shape: Shape) -> None:
    layer = layer_of(name)
    with pytest.raises(ShapeError):
        layer.infer(layer.Args.model_validate(kwargs), shape)


def test_shape_error_messages() -> None:
    conv = layer_of("conv")
    with pytest.raises(ShapeError) as info:
        conv.infer(conv.Args(out_channels=4, kernel_size=3, groups=2), (3, 8, 8))
    assert info.value.message == "groups=2 does not divide the 3 input channels"
    maxpool = layer_of("maxpool")
    with pytest.raises(ShapeError) as info:
        maxpool.infer(maxpool.Args(kernel_size=3, padding=2), (3, 8, 8))
    assert info.value.message == "padding=2 is more than half the kernel size 3"
    assert info.value.hint == "PyTorch pools pad at most kernel_size // 2 (here 1)"
    with pytest.raises(ShapeError) as info:
        maxpool.infer(maxpool.Args(kernel_size=5), (3, 4, 4))
    assert info.value.message == (
        "kernel size 5 is larger than the padded input size 4 in spatial dimension 1"
    )
    with pytest.raises(ShapeError) as info:
        conv.infer(conv.Args(out_channels=4, kernel_size=1), (8,))
    assert info.value.message.startswith("conv expects an input of shape [C, L] or [C, H, W]")
    attention = layer_of("attention")
    with pytest.raises(ShapeError) as info:
        attention.infer(attention.Args(num_heads=3), (5, 8))
    assert info.value.message == "num_heads=3 does not divide the embedding size 8"


# ------------------------------------------------------------------ arguments

BAD_ARGS = [
    ("conv", {"out_channels": True, "kernel_size": 3}, "out_channels", "not a boolean"),
    ("conv", {"out_channels": 8, "kernel_size": (3, False)}, "kernel_size", "not a boolean"),
    ("conv", {"out_channels": 0, "kernel_size": 3}, "out_channels", "greater than 0"),
    ("conv", {"out_channels": 8, "kernel_size": (3, 0)}, "kernel_size", "greater than 0"),
    (
        "conv",
        {"out_channels": 8, "kernel_size": 3, "padding": -1},
        "padding",
        "greater than or equal to 0",
    ),
    (
        "conv",
        {"out_channels": 8, "kernel_size": 3, "padding": "full"},
        "padding",
        "'same' or 'valid'",
    ),
    (
        "conv",
        {"out_channels": 8, "kernel_size": 3, "padding_mode": "zero"},
        "padding_mode",
        "'zeros', 'reflect', 'replicate' or 'circular'",
    ),
    ("conv", {"out_channels": 8, "kernel_size": 3, "bias": 1}, "bias", "valid boolean"),
    ("conv", {"out_channels": 8, "kernel_size": 3, "bias": "yes"}, "bias", "valid boolean"),
    ("conv", {"out_channels": 8.5, "kernel_size": 3}, "out_channels", "integer"),
    ("conv", {"out_channels": 8.0, "kernel_size": 3}, "out_channels", "not a float"),
    ("maxpool", {"kernel_size": 2, "stride": 2.0}, "stride", "not a float"),
    ("conv", {"out_channels": 8, "kernel_size": "3"}, "kernel_size", "not a string"),
    ("conv", {"out_channels": 8, "kernel_size": 3, "stride": [1, True]}, "stride", "not a boolean"),
    ("batchnorm", {"eps": "1e-5"}, "eps", "not a string"),
    ("upsample", {"scale_factor": [2, "x"]}, "scale_factor", "not a string"),
    ("conv", {"out_channels": 8, "kernel_size": 3, "bais": False}, "bais", "Extra inputs"),
    ("conv", {"kernel_size": 3}, "out_channels", "required"),
    (
        "conv_transpose",
        {"out_channels": 8, "kernel_size": 3, "padding_mode": "reflect"},
        "padding_mode",
        "'zeros'",
    ),
    (
        "conv_transpose",
        {"out_channels": 8, "kernel_size": 3, "padding": "same"},
        "padding",
        "not a string",
    ),
    ("gelu", {"approximate": "fast"}, "approximate", "'none' or 'tanh'"),
    ("leaky_relu", {"negative_slope": False}, "negative_slope", "not a boolean"),
    ("dropout", {"p": 1.5}, "p", "less than or equal to 1"),
    ("batchnorm", {"momentum": 2.0}, "momentum", "less than or equal to 1"),
    ("batchnorm", {"eps": -1e-5}, "eps", "greater than or equal to 0"),
    ("upsample", {"scale_factor": 0}, "scale_factor", "greater than 0"),
    ("upsample", {"scale_factor": 2, "mode": "cubic"}, "mode", "'nearest', 'linear', 'bilinear'"),
    ("upsample", {"scale_factor": 2, "align_corners": True}, "align_corners", "not 'nearest'"),
    (
        "embedding",
        {"num_embeddings": 10, "embedding_dim": 4, "padding_idx": 10},
        "padding_idx",
        "-10 and 9",
    ),
    ("attention", {"num_heads": 0}, "num_heads", "greater than 0"),
    ("adaptive_avgpool", {"output_size": 0}, "output_size", "greater than 0"),
    ("maxpool", {"kernel_size": 3, "stride": 0}, "stride", "greater than 0"),
    ("relu", {"inplace": True}, "inplace", "Extra inputs"),
]


@pytest.mark.parametrize(("name", "kwargs", "field", "text"), cases(BAD_ARGS))
def test_bad_arguments_are_rejected(
    name: str, kwargs: dict[str, Any], field: str, text: str
) -> None:
    with pytest.raises(ValidationError) as info:
        layer_of(name).Args.model_validate(kwargs)
    errors = info.value.errors()
    assert {str(e["loc"][0]) for e in errors} == {field}
    assert any(text in e["msg"] for e in errors), [e["msg"] for e in errors]


def test_a_float_accepts_an_int_but_an_int_never_a_float() -> None:
    conv = ConvArgs(out_channels=8, kernel_size=[3, 3])
    assert conv.kernel_size == (3, 3)
    slope = LeakyReLUArgs(negative_slope=1).negative_slope
    assert slope == 1.0 and type(slope) is float
    for kwargs in (
        {"out_channels": 8.0, "kernel_size": 3},
        {"out_channels": 8, "kernel_size": [3, 3.0]},
    ):
        with pytest.raises(ValidationError) as info:
            ConvArgs.model_validate(kwargs)
        assert [e["type"] for e in info.value.errors()] == ["float_not_int"]


def test_argument_order_follows_pytorch() -> None:
    def fields(name: str) -> list[str]:
        return list(layer_of(name).Args.model_fields)

    assert fields("conv") == [
        "out_channels",
        "kernel_size",
        "stride",
        "padding",
        "dilation",
        "groups",
        "bias",
        "padding_mode",
    ]
    assert fields("conv_transpose")[:8] == [
        "out_channels",
        "kernel_size",
        "stride",
        "padding",
        "output_padding",
        "groups",
        "bias",
        "dilation",
    ]
    assert fields("maxpool") == ["kernel_size", "stride", "padding", "dilation", "ceil_mode"]
    assert fields("avgpool")[:5] == [
        "kernel_size",
        "stride",
        "padding",
        "ceil_mode",
        "count_include_pad",
    ]
    assert fields("batchnorm") == ["eps", "momentum", "affine", "track_running_stats"]
    assert fields("groupnorm") == ["num_groups", "eps", "affine"]
    assert fields("layernorm") == ["eps", "elementwise_affine", "bias"]
    assert fields("linear") == ["out_features", "bias"]
    assert fields("upsample") == ["scale_factor", "mode", "align_corners"]
    assert fields("attention")[:3] == ["num_heads", "dropout", "bias"]
    assert fields("embedding")[:2] == ["num_embeddings", "embedding_dim"]
    assert fields("relu") == []


# ------------------------------------------------------------------ emitted source

SOURCES = [
    (
        "conv",
        {"out_channels": 64, "kernel_size": 7, "stride": 2, "padding": 3, "bias": False},
        (3, 224, 224),
        "nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)",
    ),
    (
        "conv_transpose",
        {"out_channels": 4, "kernel_size": 2, "stride": 2},
        (8, 5, 5),
        "nn.ConvTranspose2d(8, 4, 2, stride=2)",
    ),
    ("batchnorm", {}, (64, 56, 56), "nn.BatchNorm2d(64)"),
    ("batchnorm", {"momentum": None}, (64,), "nn.BatchNorm1d(64, momentum=None)"),
    ("groupnorm", {"num_groups": 32}, (64, 8, 8), "nn.GroupNorm(32, 64)"),
    ("layernorm", {}, (10, 16), "nn.LayerNorm(16)"),
    ("instancenorm", {"affine": True}, (4, 8, 8), "nn.InstanceNorm2d(4, affine=True)"),
    ("linear", {"out_features": 1000}, (2048,), "nn.Linear(2048, 1000)"),
    ("relu", {}, (3,), "nn.ReLU()"),
    ("gelu", {"approximate": "tanh"}, (3,), "nn.GELU(approximate='tanh')"),
    ("leaky_relu", {"negative_slope": 0.2}, (3,), "nn.LeakyReLU(negative_slope=0.2)"),
    ("softmax", {}, (10,), "nn.Softmax(dim=1)"),
    ("softmax", {"dim": -1}, (4, 10), "nn.Softmax(dim=-1)"),
    (
        "maxpool",
        {"kernel_size": 3, "stride": 2, "padding": 1},
        (64, 112, 112),
        "nn.MaxPool2d(3, stride=2, padding=1)",
    ),
    ("avgpool", {"kernel_size": 2, "ceil_mode": True}, (8, 5), "nn.AvgPool1d(2, ceil_mode=True)"),
    ("adaptive_avgpool", {"output_size": 1}, (2048, 7, 7), "nn.AdaptiveAvgPool2d(1)"),
    ("adaptive_maxpool", {"output_size": (None, 2)}, (8, 7, 7), "nn.AdaptiveMaxPool2d((None, 2))"),
    ("flatten", {}, (2048, 1, 1), "nn.Flatten()"),
    ("flatten", {"start_dim": 1}, (3, 4, 5), "nn.Flatten(start_dim=2)"),
    ("flatten", {"start_dim": -2, "end_dim": 1}, (3, 4, 5), "nn.Flatten(start_dim=-2, end_dim=2)"),
    ("dropout", {"p": 0.1}, (16,), "nn.Dropout(p=0.1)"),
    ("dropout", {}, (16, 4, 4), "nn.Dropout2d()"),
    (
        "upsample",
        {"scale_factor": 2, "mode": "bilinear", "align_corners": False},
        (3, 8, 8),
        "nn.Upsample(scale_factor=2.0, mode='bilinear', align_corners=False)",
    ),
    ("identity", {}, (3, 8, 8), "nn.Identity()"),
    ("attention", {"num_heads": 4}, (10, 16), "nn.MultiheadAttention(16, 4, batch_first=True)"),
    (
        "attention",
        {"num_heads": 4, "dropout": 0.1, "bias": False},
        (10, 16),
        "nn.MultiheadAttention(16, 4, dropout=0.1, bias=False, batch_first=True)",
    ),
    ("embedding", {"num_embeddings": 100, "embedding_dim": 16}, (10,), "nn.Embedding(100, 16)"),
]


@pytest.mark.parametrize(("name", "kwargs", "shape", "source"), cases(SOURCES))
def test_torch_init_source(name: str, kwargs: dict[str, Any], shape: Shape, source: str) -> None:
    layer = layer_of(name)
    assert layer.torch_init(layer.Args.model_validate(kwargs), shape) == source


def test_torch_call_source() -> None:
    attention = layer_of("attention")
    args = attention.Args(num_heads=2)
    assert (
        attention.torch_call("self.attn", "h", args, (5, 8))
        == "self.attn(h, h, h, need_weights=False)[0]"
    )
    relu = layer_of("relu")
    assert relu.torch_call("self.relu", "h", relu.Args(), (5, 8)) == "self.relu(h)"


# ------------------------------------------------------------------ costs


MACS = [
    # ResNet stem: 64 x 112 x 112 outputs, each 3 * 7 * 7 multiply-accumulates.
    (
        "conv",
        {"out_channels": 64, "kernel_size": 7, "stride": 2, "padding": 3, "bias": False},
        (3, 224, 224),
        118_013_952,
    ),
    # Depthwise 3x3: 32 x 56 x 56 outputs, each 1 * 3 * 3.
    (
        "conv",
        {"out_channels": 32, "kernel_size": 3, "padding": 1, "groups": 32},
        (32, 56, 56),
        903_168,
    ),
    ("conv", {"out_channels": 16, "kernel_size": 3}, (8, 10), 16 * 8 * 8 * 3),
    ("linear", {"out_features": 1000}, (2048,), 2_048_000),
    ("linear", {"out_features": 8}, (5, 16), 640),
    # Every one of the 8 * 5 * 5 inputs scatters into 4 * 3 * 3 outputs.
    ("conv_transpose", {"out_channels": 4, "kernel_size": 3, "stride": 2}, (8, 5, 5), 7200),
    ("conv_transpose", {"out_channels": 4, "kernel_size": 3, "groups": 2}, (8, 5), 8 * 5 * 2 * 3),
    # 4 T D^2 projections + 2 T^2 D for the scores and the weighted sum.
    ("attention", {"num_heads": 4}, (10, 16), 4 * 10 * 16 * 16 + 2 * 10 * 10 * 16),
    (
        "attention",
        {"num_heads": 4, "add_bias_kv": True},
        (10, 16),
        4 * 10 * 16 * 16 + 2 * 10 * 11 * 16,
    ),
    ("batchnorm", {}, (64, 56, 56), 0),
    ("relu", {}, (64, 56, 56), 0),
    ("maxpool", {"kernel_size": 3, "stride": 2, "padding": 1}, (64, 112, 112), 0),
    ("adaptive_avgpool", {"output_size": 1}, (2048, 7, 7), 0),
    ("upsample", {"scale_factor": 2, "mode": "bilinear"}, (3, 8, 8), 0),
    ("embedding", {"num_embeddings": 100, "embedding_dim": 16}, (10,), 0),
]


@pytest.mark.parametrize(("name", "kwargs", "shape", "macs"), cases(MACS))
def test_macs(name: str, kwargs: dict[str, Any], shape: Shape, macs: int) -> None:
    layer = layer_of(name)
    args = layer.Args.model_validate(kwargs)
    assert layer.macs(args, shape, layer.infer(args, shape)) == macs


def test_resnet_stem_params() -> None:
    conv = layer_of("conv")
    args = conv.Args(out_channels=64, kernel_size=7, stride=2, padding=3, bias=False)
    assert conv.params(args, (3, 224, 224)) == 9408


PARAM_DIMS = [
    ("conv", {"out_channels": 4, "kernel_size": 3}, (3, 8, 8), (0,)),
    ("conv_transpose", {"out_channels": 4, "kernel_size": 3}, (3, 8, 8), (0,)),
    ("batchnorm", {}, (3, 8, 8), (0,)),
    ("batchnorm", {"affine": False, "track_running_stats": False}, (3, 8, 8), ()),
    ("groupnorm", {"num_groups": 1}, (3, 8, 8), (0,)),
    ("instancenorm", {}, (3, 8, 8), ()),
    ("instancenorm", {"affine": True}, (3, 8, 8), (0,)),
    ("instancenorm", {"track_running_stats": True}, (3, 8, 8), (0,)),
    ("linear", {"out_features": 4}, (5, 16), (1,)),
    ("layernorm", {}, (5, 16), (1,)),
    ("layernorm", {"elementwise_affine": False}, (16,), (0,)),
    ("attention", {"num_heads": 2}, (5, 16), (1,)),
    ("relu", {}, (3, 8, 8), ()),
    ("maxpool", {"kernel_size": 2}, (3, 8, 8), ()),
    ("embedding", {"num_embeddings": 10, "embedding_dim": 4}, (5,), ()),
]


@pytest.mark.parametrize(("name", "kwargs", "shape", "expected"), cases(PARAM_DIMS))
def test_param_dims(
    name: str, kwargs: dict[str, Any], shape: Shape, expected: tuple[int, ...]
) -> None:
    layer = layer_of(name)
    assert layer.param_dims(layer.Args.model_validate(kwargs), shape) == expected


# ------------------------------------------------------------------ symbolic sizes

H = dims.symbol("H", 32)
W = dims.symbol("W", 24)
T = dims.symbol("T", 10)

# (layer, arguments, input shape; which output dimensions stay symbolic)
SYMBOLIC = [
    (
        "conv",
        {"out_channels": 8, "kernel_size": 7, "stride": 2, "padding": 3},
        (3, H, W),
        [False, True, True],
    ),
    (
        "conv",
        {"out_channels": 8, "kernel_size": 4, "padding": "same"},
        (3, H, W),
        [False, True, True],
    ),
    ("conv", {"out_channels": 8, "kernel_size": 3, "dilation": 2}, (3, H), [False, True]),
    (
        "conv_transpose",
        {"out_channels": 8, "kernel_size": 4, "stride": 2, "padding": 1},
        (3, H, W),
        [False, True, True],
    ),
    (
        "conv_transpose",
        {"out_channels": 8, "kernel_size": 3, "stride": 2, "output_padding": 1},
        (3, H),
        [False, True],
    ),
    ("maxpool", {"kernel_size": 3, "stride": 2, "ceil_mode": True}, (3, H, W), [False, True, True]),
    ("maxpool", {"kernel_size": 3, "stride": 2, "padding": 1}, (3, H, 7), [False, True, False]),
    ("avgpool", {"kernel_size": 2}, (3, H, W), [False, True, True]),
    ("adaptive_avgpool", {"output_size": (None, 1)}, (3, H, W), [False, True, False]),
    ("adaptive_maxpool", {"output_size": 2}, (3, H, W), [False, False, False]),
    ("upsample", {"scale_factor": 2}, (3, H, W), [False, True, True]),
    ("upsample", {"scale_factor": (0.5, 1.5), "mode": "bilinear"}, (3, H, W), [False, True, True]),
    ("flatten", {}, (3, H, W), [True]),
    ("flatten", {"start_dim": 1}, (3, H, W), [False, True]),
    ("batchnorm", {}, (3, H, W), [False, True, True]),
    ("dropout", {}, (3, H, W), [False, True, True]),
    ("relu", {}, (3, H, W), [False, True, True]),
    ("softmax", {"dim": -1}, (3, H, W), [False, True, True]),
    ("identity", {}, (3, H, W), [False, True, True]),
    ("linear", {"out_features": 4}, (T, 16), [True, False]),
    ("layernorm", {}, (T, 16), [True, False]),
    ("attention", {"num_heads": 2}, (T, 16), [True, False]),
    ("embedding", {"num_embeddings": 10, "embedding_dim": 4}, (T,), [True, False]),
]


def _bind(shape: Shape, env: dict[str, int] | None = None) -> Shape:
    """Plain sizes: the sample values, or the expressions evaluated with ``env``."""
    return tuple(
        dims.evaluate(d.expr, env) if env and isinstance(d, dims.SymDim) else int(d) for d in shape
    )


@pytest.mark.parametrize(("name", "kwargs", "shape", "symbolic"), cases(SYMBOLIC))
def test_symbolic_sizes_keep_their_expressions(
    name: str, kwargs: dict[str, Any], shape: Shape, symbolic: list[bool]
) -> None:
    layer = layer_of(name)
    args = layer.Args.model_validate(kwargs)
    out = layer.infer(args, shape)
    assert [dims.is_symbolic(d) for d in out] == symbolic
    # The sample values are those of the plain sizes.
    assert tuple(int(d) for d in out) == layer.infer(args, _bind(shape))
    # The expressions give the right sizes for other inputs too.
    for env in ({"H": 37, "W": 41, "T": 3}, {"H": 64, "W": 17, "T": 1}):
        assert _bind(out, env) == layer.infer(args, _bind(shape, env))


def test_symbolic_upsample_needs_a_binary_fraction() -> None:
    upsample = layer_of("upsample")
    args = upsample.Args(scale_factor=0.7)
    assert upsample.infer(args, (3, 30)) == (3, 21)
    with pytest.raises(ShapeError) as info:
        upsample.infer(args, (3, H))
    assert info.value.arg == "scale_factor"


def test_describe_symbolic_outputs() -> None:
    conv = layer_of("conv")
    out = conv.infer(conv.Args(out_channels=8, kernel_size=7, stride=2, padding=3), (3, H, W))
    assert [dims.describe(d) for d in out] == ["8", "H/2", "W/2"]
    up = layer_of("upsample")
    out = up.infer(up.Args(scale_factor=2), (3, H, W))
    assert [dims.describe(d) for d in out] == ["3", "2H", "2W"]


# ------------------------------------------------------------------ random geometries


def _per_dim(n: int, lo: int, hi: int) -> st.SearchStrategy[Any]:
    return st.one_of(st.integers(lo, hi), st.tuples(*[st.integers(lo, hi)] * n))


@st.composite
def conv_cases(draw: st.DrawFn) -> tuple[str, dict[str, Any], Shape]:
    n = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 3))
    shape = (groups * draw(st.integers(1, 2)), *draw(st.tuples(*[st.integers(1, 8)] * n)))
    kwargs: dict[str, Any] = {
        "out_channels": groups * draw(st.integers(1, 2)),
        "kernel_size": draw(_per_dim(n, 1, 4)),
        "stride": draw(_per_dim(n, 1, 3)),
        "dilation": draw(_per_dim(n, 1, 3)),
        "groups": groups,
        "bias": draw(st.booleans()),
    }
    if draw(st.booleans()):
        kwargs["padding"] = draw(st.sampled_from(["same", "valid"]))
    else:
        kwargs["padding"] = draw(_per_dim(n, 0, 3))
    kwargs["padding_mode"] = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
    return "conv", kwargs, shape


@st.composite
def conv_transpose_cases(draw: st.DrawFn) -> tuple[str, dict[str, Any], Shape]:
    n = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 3))
    shape = (groups * draw(st.integers(1, 2)), *draw(st.tuples(*[st.integers(1, 5)] * n)))
    kwargs = {
        "out_channels": groups * draw(st.integers(1, 2)),
        "kernel_size": draw(_per_dim(n, 1, 4)),
        "stride": draw(_per_dim(n, 1, 3)),
        "padding": draw(_per_dim(n, 0, 3)),
        "output_padding": draw(_per_dim(n, 0, 2)),
        "dilation": draw(_per_dim(n, 1, 2)),
        "groups": groups,
    }
    return "conv_transpose", kwargs, shape


@st.composite
def pool_cases(draw: st.DrawFn) -> tuple[str, dict[str, Any], Shape]:
    n = draw(st.integers(1, 3))
    name = draw(st.sampled_from(["maxpool", "avgpool"]))
    shape = (2, *draw(st.tuples(*[st.integers(1, 9)] * n)))
    kwargs: dict[str, Any] = {
        "kernel_size": draw(_per_dim(n, 1, 4)),
        "stride": draw(st.one_of(st.none(), _per_dim(n, 1, 4))),
        "padding": draw(_per_dim(n, 0, 2)),
        "ceil_mode": draw(st.booleans()),
    }
    if name == "maxpool":
        kwargs["dilation"] = draw(_per_dim(n, 1, 2))
    else:
        kwargs["count_include_pad"] = draw(st.booleans())
    return name, kwargs, shape


@settings(max_examples=300, deadline=None)
@given(st.one_of(conv_cases(), conv_transpose_cases(), pool_cases()))
def test_random_geometries_agree_with_torch(case: tuple[str, dict[str, Any], Shape]) -> None:
    name, kwargs, shape = case
    layer = layer_of(name)
    args = layer.Args.model_validate(kwargs)
    try:
        expected: Shape | None = layer.infer(args, shape)
    except ShapeError:
        expected = None
    event(f"{name}: {'refused' if expected is None else 'accepted'}")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Using padding='same' with even kernel")
        if expected is None:
            assert torch_raises(name, kwargs, shape) or torch_is_empty(name, kwargs, shape)
            return
        _, _, module = build(name, kwargs, shape)
        out = forward(layer, args, module, shape)
    assert tuple(out.shape) == (2, *expected)
    assert layer.params(args, shape) == numel(module)
    assert math.prod(expected) > 0

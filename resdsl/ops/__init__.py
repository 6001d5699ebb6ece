"""The registry of built-in layers (LANGUAGE.md section 6).

Each family lives in its own module; adding a layer touches one file plus the
list below. Users add their own with :func:`register_layer`.
"""

from __future__ import annotations

from resdsl.ops.activation import ACTIVATIONS
from resdsl.ops.attention import Attention, Embedding
from resdsl.ops.base import Layer, LayerArgs, ShapeError
from resdsl.ops.conv import Conv, ConvTranspose
from resdsl.ops.linear import Linear
from resdsl.ops.norm import BatchNorm, GroupNorm, InstanceNorm, LayerNorm
from resdsl.ops.pool import AdaptiveAvgPool, AdaptiveMaxPool, AvgPool, MaxPool
from resdsl.ops.shape import Dropout, Flatten, Identity, Upsample

BUILTIN_LAYERS: tuple[Layer, ...] = (
    Conv(),
    ConvTranspose(),
    BatchNorm(),
    GroupNorm(),
    LayerNorm(),
    InstanceNorm(),
    Linear(),
    *ACTIVATIONS,
    MaxPool(),
    AvgPool(),
    AdaptiveAvgPool(),
    AdaptiveMaxPool(),
    Flatten(),
    Dropout(),
    Upsample(),
    Identity(),
    Attention(),
    Embedding(),
)

_REGISTRY: dict[str, Layer] = {layer.name: layer for layer in BUILTIN_LAYERS}


def register_layer(layer: Layer, *, replace: bool = False) -> None:
    """Make a user-defined layer available to every spec by its ``name``."""
    if layer.name in _REGISTRY and not replace:
        raise ValueError(f"a layer named {layer.name!r} is already registered")
    _REGISTRY[layer.name] = layer


def get_layer(name: str) -> Layer | None:
    return _REGISTRY.get(name)


def layer_names() -> list[str]:
    return sorted(_REGISTRY)


__all__ = [
    "BUILTIN_LAYERS",
    "Layer",
    "LayerArgs",
    "ShapeError",
    "get_layer",
    "layer_names",
    "register_layer",
]

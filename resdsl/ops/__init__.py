"""The op registry (docs/language.md sections 6 and 7): layers, merges, shortcuts, alignments.

Each family lives in its own module; adding a built-in op touches its module
plus the tuple it is listed in. Users add their own with :func:`register_layer`
or, for any kind of op, :func:`resdsl.ops.registry.register_op`.
"""

from __future__ import annotations

from resdsl.ops.activation import ACTIVATIONS
from resdsl.ops.align import BUILTIN_ALIGNS
from resdsl.ops.attention import Attention, Embedding
from resdsl.ops.base import Layer, LayerArgs, Op, PathRole, ShapeError
from resdsl.ops.conv import Conv, ConvTranspose
from resdsl.ops.layout import LAYOUT_LAYERS
from resdsl.ops.linear import Linear
from resdsl.ops.merge import BUILTIN_MERGES, Merge
from resdsl.ops.norm import BatchNorm, ChannelLayerNorm, GroupNorm, InstanceNorm, LayerNorm
from resdsl.ops.params import PARAM_LAYERS
from resdsl.ops.pool import AdaptiveAvgPool, AdaptiveMaxPool, AvgPool, MaxPool
from resdsl.ops.registry import (
    get_layer,
    get_op,
    names_text,
    node_op,
    op_names,
    ops_of_kind,
    register_op,
    unregister_op,
)
from resdsl.ops.resize import BUILTIN_RESIZES
from resdsl.ops.shape import Dropout, Flatten, Identity, Upsample
from resdsl.ops.shortcut import BUILTIN_SHORTCUTS
from resdsl.ops.shuffle import ChannelShuffle
from resdsl.ops.split import BUILTIN_SPLITS

BUILTIN_LAYERS: tuple[Layer, ...] = (
    Conv(),
    ConvTranspose(),
    BatchNorm(),
    GroupNorm(),
    LayerNorm(),
    ChannelLayerNorm(),
    InstanceNorm(),
    Linear(),
    *ACTIVATIONS,
    MaxPool(),
    AvgPool(),
    AdaptiveAvgPool(),
    AdaptiveMaxPool(),
    Flatten(),
    *LAYOUT_LAYERS,
    *PARAM_LAYERS,
    Dropout(),
    Upsample(),
    ChannelShuffle(),
    Identity(),
    Attention(),
    Embedding(),
)

BUILTIN_OPS: tuple[Op, ...] = (
    *BUILTIN_LAYERS,
    *BUILTIN_MERGES,
    *BUILTIN_SHORTCUTS,
    *BUILTIN_ALIGNS,
    *BUILTIN_SPLITS,
    *BUILTIN_RESIZES,
)
for _op in BUILTIN_OPS:
    register_op(_op)


def register_layer(layer: Layer, *, replace: bool = False) -> None:
    """Make a user-defined layer available to every spec by its ``name``."""
    if get_op(layer.name, "layer") is not None and not replace:
        raise ValueError(f"a layer named {layer.name!r} is already registered")
    register_op(layer, replace=True)


def layer_names() -> list[str]:
    return sorted(op_names("layer"))


__all__ = [
    "BUILTIN_LAYERS",
    "BUILTIN_OPS",
    "Layer",
    "LayerArgs",
    "Merge",
    "Op",
    "PathRole",
    "ShapeError",
    "get_layer",
    "get_op",
    "layer_names",
    "names_text",
    "node_op",
    "op_names",
    "ops_of_kind",
    "register_layer",
    "register_op",
    "unregister_op",
]

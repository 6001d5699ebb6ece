"""How a diagram names an op: the op and its key arguments (``conv 3×3/2, 64``).

Pure text helpers shared by the op definitions (their ``label``) and the
diagram back end.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


def args_label(op: str, args: Any, rank: int = 2) -> str:
    """An op and its key arguments, as a node shows it: ``conv 3×3/2, 64``.

    ``rank`` is the number of spatial dimensions (for ``kernel_size=3``: ``3×3``).

    >>> from resdsl.ops import get_layer
    >>> conv = get_layer("conv")
    >>> args_label("conv", conv.Args(out_channels=64, kernel_size=3, stride=2, padding=1))
    'conv 3×3/2, 64'
    >>> args_label("linear", get_layer("linear").Args(out_features=10))
    'linear 10'
    """
    if not isinstance(args, BaseModel):
        return op
    values = dict(args)
    fields = type(args).model_fields
    if "kernel_size" in values:
        return _window_label(op, values, rank)
    parts: list[str] = []
    for name, info in fields.items():
        value = values[name]
        if info.is_required():
            parts.append(value_text(value))
        elif value != info.default:
            parts.append(f"{name}={value_text(value)}")
    return f"{op} {', '.join(parts)}" if parts else op


def _window_label(op: str, values: dict[str, Any], rank: int) -> str:
    text = f"{op} {window_text(values['kernel_size'], rank)}"
    stride = values.get("stride")
    if stride is not None and window_text(stride, rank) != window_text(1, rank):
        text += f"/{stride_text(stride)}"
    if "out_channels" in values:
        text += f", {values['out_channels']}"
    extras = []
    for name, short in (("dilation", "dil"), ("groups", "groups")):
        if name in values and values[name] not in (1, (1,) * max(rank, 1)):
            extras.append(f"{short} {stride_text(values[name])}")
    if values.get("padding_mode", "zeros") != "zeros":
        extras.append(str(values["padding_mode"]))
    return text + (f" ({', '.join(extras)})" if extras else "")


def window_text(value: Any, rank: int) -> str:
    """A window size per spatial dimension: ``3`` at rank 2 is ``3×3``."""
    if isinstance(value, tuple | list):
        return "×".join(str(v) for v in value)
    return "×".join([str(value)] * max(rank, 1))


def stride_text(value: Any) -> str:
    """A stride: ``2`` for ``2`` and ``(2, 2)``, ``(1,2)`` for ``(1, 2)``."""
    if isinstance(value, tuple | list):
        if len(set(value)) == 1:
            return str(value[0])
        return "(" + ",".join(str(v) for v in value) + ")"
    return str(value)


def value_text(value: Any) -> str:
    """An argument value as the spec writes it: ``true``, ``none``, ``[1, 2]``, ``0.5``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple | list):
        return "[" + ", ".join(value_text(v) for v in value) + "]"
    if isinstance(value, str):
        return value
    name = getattr(value, "name", None)
    return name if isinstance(name, str) else str(value)

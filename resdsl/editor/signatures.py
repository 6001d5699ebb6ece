"""What an editor shows about a built-in layer: its signature and its one-line description.

>>> from resdsl.ops import get_layer
>>> signature(get_layer("maxpool"))
'maxpool(kernel_size, [stride], padding=0, dilation=1, ceil_mode=false)'
"""

from __future__ import annotations

from typing import Any

from resdsl.ops.base import Layer

__all__ = ["describe", "literal", "signature"]


def literal(value: Any) -> str:
    """A default value as a spec writes it: ``true``, ``"zeros"``, ``1e-05``, ``[1, 2]``.

    >>> literal(True), literal("zeros"), literal(1e-5), literal((1, 2))
    ('true', '"zeros"', '1e-05', '[1, 2]')
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple | list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    return repr(value)


def signature(layer: Layer) -> str:
    """``conv(out_channels, kernel_size, stride=1, ...)``: PyTorch's names, order and defaults.

    A required argument is its bare name; one whose default is unset (PyTorch's
    ``None``, which a spec cannot write) is in brackets: ``[stride]``.
    """
    parts = []
    for name, field in layer.Args.model_fields.items():
        if field.is_required():
            parts.append(name)
        elif field.default is None:
            parts.append(f"[{name}]")
        else:
            parts.append(f"{name}={literal(field.default)}")
    return f"{layer.name}({', '.join(parts)})" if parts else layer.name


def describe(layer: Layer) -> str:
    """The first paragraph of the layer's docstring, or its name.

    >>> from resdsl.ops import get_layer
    >>> describe(get_layer("conv")).startswith("``conv(out_channels, kernel_size")
    True
    """
    doc = (type(layer).__doc__ or "").strip()
    return " ".join(doc.split("\n\n")[0].split()) if doc else layer.name

"""What an editor shows about a built-in layer: its signature and its one-line description.

The signature is the op registry's own (:func:`resdsl.ops.base.signature`), as
``resdsl layers`` and the diagnostics' hints print it.

>>> from resdsl.ops import get_layer
>>> signature(get_layer("maxpool"))
'maxpool(kernel_size, [stride], padding=0, dilation=1, ceil_mode=false)'
"""

from __future__ import annotations

from resdsl.ops.base import Layer, signature

__all__ = ["describe", "signature"]


def describe(layer: Layer) -> str:
    """The first paragraph of the layer's docstring, or its name.

    >>> from resdsl.ops import get_layer
    >>> describe(get_layer("conv")).startswith("``conv(out_channels, kernel_size")
    True
    """
    doc = (type(layer).__doc__ or "").strip()
    return " ".join(doc.split("\n\n")[0].split()) if doc else layer.name

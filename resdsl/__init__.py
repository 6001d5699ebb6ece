"""resdsl: a declarative language for residual and U-Net architectures, compiled to PyTorch.

>>> import resdsl
>>> spec = resdsl.load("specs/resnet.res")            # doctest: +SKIP
>>> spec.summary("resnet50").params                   # doctest: +SKIP
25557032

Importing resdsl does not import torch; only compiling does.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from resdsl.api import LayerRow, Spec, Summary, load, loads
from resdsl.diagnostics import Diagnostic, ResdslError
from resdsl.ops import Layer, LayerArgs, Merge, ShapeError, register_layer, register_op
from resdsl.passes.valid_sizes import SizeRule
from resdsl.semantics.elaborate import Limits
from resdsl.version import __version__

if TYPE_CHECKING:
    import torch


def compile(path: str | Path, model: str | None = None, /, **params: Any) -> torch.nn.Module:
    """Load a spec file and compile one of its models into a ``torch.nn.Module``."""
    return load(path).compile(model, **params)


__all__ = [
    "Diagnostic",
    "Layer",
    "LayerArgs",
    "LayerRow",
    "Limits",
    "Merge",
    "ResdslError",
    "ShapeError",
    "SizeRule",
    "Spec",
    "Summary",
    "__version__",
    "compile",
    "load",
    "loads",
    "register_layer",
    "register_op",
]

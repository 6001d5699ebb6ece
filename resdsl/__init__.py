"""resdsl: a declarative language for residual and U-Net architectures, compiled to PyTorch.

>>> import resdsl
>>> spec = resdsl.load("specs/resnet.res")            # doctest: +SKIP
>>> spec.summary("resnet50").params                   # doctest: +SKIP
25557032

Importing resdsl does not import torch; only compiling does. The front end
(the API, the parser, elaboration) is imported when first used, so that a
back end alone (unpickling a compiled model imports :mod:`resdsl.backends.build`)
never loads it.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resdsl.diagnostics import Diagnostic, ResdslError
from resdsl.version import __version__

if TYPE_CHECKING:
    import torch

    from resdsl.api import LayerRow, Spec, Summary, load, loads
    from resdsl.ops import Layer, LayerArgs, Merge, ShapeError, register_layer, register_op
    from resdsl.passes.valid_sizes import SizeRule
    from resdsl.semantics.elaborate import Limits

#: Public names imported on first use, and the module each comes from.
_LAZY = {
    "LayerRow": "resdsl.api",
    "Spec": "resdsl.api",
    "Summary": "resdsl.api",
    "load": "resdsl.api",
    "loads": "resdsl.api",
    "Layer": "resdsl.ops",
    "LayerArgs": "resdsl.ops",
    "ShapeError": "resdsl.ops",
    "register_layer": "resdsl.ops",
    "Merge": "resdsl.ops",
    "register_op": "resdsl.ops",
    "SizeRule": "resdsl.passes.valid_sizes",
    "Limits": "resdsl.semantics.elaborate",
}


def __getattr__(name: str) -> Any:
    where = _LAZY.get(name)
    if where is None:
        raise AttributeError(f"module 'resdsl' has no attribute {name!r}")
    value = getattr(importlib.import_module(where), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


def compile(path: str | Path, model: str | None = None, /, **params: Any) -> torch.nn.Module:
    """Load a spec file and compile one of its models into a ``torch.nn.Module``."""
    from resdsl.api import load

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

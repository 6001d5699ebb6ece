"""The op registry: what a built-in layer is.

A layer is one small definition (see :mod:`resdsl.ops.conv` for the pattern):

- ``Args``: a pydantic model of its arguments, with PyTorch's names, order and
  defaults, minus the inferred input size;
- ``infer``: the shape rule, matching PyTorch exactly; raises :class:`ShapeError`;
- ``params`` and ``macs``: static costs, computed without torch;
- ``torch_init`` and ``torch_call``: the PyTorch source that builds and calls it.

Shapes exclude the batch dimension. Dimensions are ``int`` or
:class:`resdsl.ir.dims.SymDim`; use :mod:`resdsl.ir.dims` helpers for spatial sizes so
symbolic sizes keep their expressions.

Nothing here imports torch: checking a spec never does.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from resdsl.ir.dims import Shape


class ShapeError(Exception):
    """A layer cannot accept its input. ``arg`` names the argument to blame, if any."""

    def __init__(self, message: str, hint: str | None = None, arg: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.arg = arg


class LayerArgs(BaseModel):
    """Base of every layer's argument model: strict names, immutable, no coercion of bools."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


Category = Literal["weighted", "norm", "activation", "pool", "shape", "dropout", "other"]


class Layer:
    """Base class of a built-in layer. Subclasses set the class attributes and rules."""

    name: ClassVar[str]
    Args: ClassVar[type[LayerArgs]]
    category: ClassVar[Category] = "other"
    #: True for activations: they count towards a path's nonlinearity depth.
    nonlinear: ClassVar[bool] = False
    #: Allowed input ranks (without batch); None means any.
    ranks: ClassVar[tuple[int, ...] | None] = None

    # ------------------------------------------------------------ shape & cost

    def infer(self, args: Any, shape: Shape) -> Shape:
        """The output shape for an input shape; raise ShapeError if it cannot run."""
        raise NotImplementedError

    def params(self, args: Any, shape: Shape) -> int:
        """Number of parameters (as ``sum(p.numel() for p in m.parameters())``)."""
        return 0

    def macs(self, args: Any, shape: Shape, out: Shape) -> int:
        """Multiply-accumulates of convolutions and matrix products; 0 for the rest."""
        return 0

    def param_dims(self, args: Any, shape: Shape) -> tuple[int, ...]:
        """Indices of input dimensions that size parameters (they must be fixed)."""
        return ()

    # ------------------------------------------------------------ code

    def torch_init(self, args: Any, shape: Shape) -> str:
        """Source of the constructor, e.g. ``nn.Conv2d(3, 64, 7, stride=2, bias=False)``."""
        raise NotImplementedError

    def torch_call(self, module: str, x: str, args: Any, shape: Shape) -> str:
        """Source of the call in ``forward``; ``module`` is e.g. ``self.conv1``."""
        return f"{module}({x})"


def py(value: Any) -> str:
    """A Python literal for a validated argument value (numbers, bools, str, tuples)."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, tuple | list):
        inner = ", ".join(py(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    raise TypeError(f"not a literal: {value!r}")


def call_source(ctor: str, positional: list[Any], keywords: list[tuple[str, Any, Any]]) -> str:
    """``ctor(p1, p2, k=v)``, leaving out keywords equal to their default.

    ``keywords`` holds ``(name, value, default)``.
    """
    parts = [py(v) for v in positional]
    parts += [f"{k}={py(v)}" for k, v, default in keywords if v != default]
    return f"{ctor}({', '.join(parts)})"


def rank_suffix(layer: str, shape: Shape, allowed: tuple[int, ...] = (2, 3, 4)) -> str:
    """``1d``/``2d``/``3d`` from the input rank ([C, L] -> 1d); ShapeError otherwise."""
    if len(shape) not in allowed:
        expected = " or ".join(_rank_names[r] for r in allowed)
        raise ShapeError(
            f"{layer} expects an input of shape {expected}, got {format_shape(shape)}",
            hint="add 'flatten' or check the previous layer's output",
        )
    return f"{len(shape) - 1}d"


_rank_names = {1: "[L]", 2: "[C, L]", 3: "[C, H, W]", 4: "[C, D, H, W]"}


def format_shape(shape: Shape) -> str:
    from resdsl.ir.dims import describe

    return "[" + ", ".join(describe(d) for d in shape) + "]"


def tuple_of(value: int | tuple[int, ...], n: int, what: str) -> tuple[int, ...]:
    """Expand an int or a tuple of length ``n``, as PyTorch's ``_ntuple`` does."""
    if isinstance(value, int):
        return (value,) * n
    if len(value) != n:
        raise ShapeError(
            f"{what} has {len(value)} values but the input has {n} spatial dimensions",
            arg=what,
        )
    return tuple(value)

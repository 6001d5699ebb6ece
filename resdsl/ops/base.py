"""What an op is: the base every definition in the registry builds on.

Everything that computes is an op (:class:`Op`): layers (this module),
merges (:mod:`resdsl.ops.merge`), shortcuts (:mod:`resdsl.ops.shortcut`) and
alignments (:mod:`resdsl.ops.align`); :mod:`resdsl.ops.registry` holds them by
kind and name. One definition gives every stage what it needs: its options
model (``Args``), its shape rule, its costs, its code (a constructor and a call
for an op with a module of its own, lines of ``forward`` for the others), its
diagram style and its meaning on a path (:class:`PathRole`). No back end or
analysis compares op names: they ask the definition.

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

from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from resdsl.ir.dims import Shape
from resdsl.ops.label import args_label

#: The kinds of op; the registry keeps one namespace per kind.
OpKind = Literal["layer", "merge", "shortcut", "align", "split", "resize"]
#: What an op reads in ``forward``: its one input, all its inputs (a merge), or
#: its input plus the other inputs of the concat it feeds (an alignment).
Reads = Literal["input", "inputs", "peers"]


class ShapeError(Exception):
    """A layer cannot accept its input. ``arg`` names the argument to blame, if any."""

    def __init__(self, message: str, hint: str | None = None, arg: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.arg = arg


@dataclass(frozen=True)
class PathRole:
    """What an op means on an input-to-output path (:mod:`resdsl.analysis.paths`).

    ``nonlinear``: it counts towards a path's nonlinearity depth;
    ``weighted``: towards its weighted depth; ``merges``: it joins paths;
    ``shortcut``: it sits on a skip path.
    """

    nonlinear: bool = False
    weighted: bool = False
    merges: bool = False
    shortcut: bool = False


@dataclass(frozen=True)
class BoxStyle:
    """How a diagram draws a small op node on a skip path: fill, outline and line style."""

    fill: str
    color: str
    style: str = "rounded,filled"


#: A line of ``forward`` source and whether it completes the op's value.
Line = tuple[str, bool]


class Emit(Protocol):
    """What code generation offers an op that writes ``forward`` lines itself."""

    def literal(self, value: int | float | bool) -> str:
        """A Python literal for a validated (finite) number."""
        ...

    def temp(self, base: str) -> str:
        """A fresh local variable name, e.g. ``dh`` for ``base="dh"``."""
        ...

    def use_functional(self) -> None:
        """Record that the lines use ``F`` (``torch.nn.functional``)."""
        ...

    def gate(self) -> str:
        """The source of the op's learned gate parameter, e.g. ``self.shortcut.gate``."""
        ...


class Op:
    """Base of every op definition. Subclasses set the class attributes and rules.

    ``has_module``: the op is a child ``nn.Module`` in generated code (built by
    ``torch_init``, called by ``torch_call``); otherwise it writes its
    ``forward`` lines itself (:meth:`forward_lines`). ``fresh_output``: its
    output is a new tensor that its backward does not keep, so a following
    activation may overwrite it in place.
    """

    name: ClassVar[str]
    kind: ClassVar[OpKind]
    Args: ClassVar[type[BaseModel]]
    has_module: ClassVar[bool] = False
    fresh_output: ClassVar[bool] = False
    reads: ClassVar[Reads] = "input"

    @property
    def path(self) -> PathRole:
        """The op's meaning on a path (see :class:`PathRole`)."""
        return PathRole()

    def params(self, args: Any, shape: Shape) -> int:
        """Number of parameters (as ``sum(p.numel() for p in m.parameters())``)."""
        return 0

    def macs(self, args: Any, shape: Shape, out: Shape) -> int:
        """Multiply-accumulates of convolutions and matrix products; 0 for the rest."""
        return 0

    def label(self, args: Any, rank: int) -> str:
        """The op and its key arguments as a diagram shows them (``rank``: spatial dims)."""
        return self.name

    def forward_lines(self, args: Any, out: str, ins: list[str], emit: Emit) -> list[Line]:
        """The ``forward`` lines of an op without a module; the last completes ``out``."""
        raise NotImplementedError

    def is_noop(self, args: Any) -> bool:
        """True if the op passes its input through unchanged (no line is generated)."""
        return False


class LayerArgs(BaseModel):
    """Base of every layer's argument model: strict names, immutable, no coercion of bools."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


Category = Literal["weighted", "norm", "activation", "pool", "shape", "dropout", "other"]


class Layer(Op):
    """Base class of a built-in layer. Subclasses set the class attributes and rules."""

    kind: ClassVar[OpKind] = "layer"
    Args: ClassVar[type[LayerArgs]]
    has_module = True
    category: ClassVar[Category] = "other"
    #: True for activations: they count towards a path's nonlinearity depth.
    nonlinear: ClassVar[bool] = False
    #: True if generated code may run it in place (``inplace=True``) on a fresh input.
    inplace: ClassVar[bool] = False
    #: True if its input is integer indices (so the model's input is, when it comes first).
    integer_input: ClassVar[bool] = False
    #: Allowed input ranks (without batch); None means any.
    ranks: ClassVar[tuple[int, ...] | None] = None
    #: The argument that collects every positional argument (``permute(1, 2, 0)``), if any.
    varargs: ClassVar[str | None] = None
    #: The argument that names a ``param`` of the scope (``add_param(pos_embedding)``), if
    #: any: elaboration checks the name and fills ``param_shape`` from the declaration.
    param_arg: ClassVar[str | None] = None
    #: The resize op (kind "resize") that a call with ``size=`` becomes instead of this
    #: layer (``upsample(size=shape(REF))`` is ``interpolate``), if any.
    resize_op: ClassVar[str | None] = None

    @property
    def path(self) -> PathRole:
        return _LAYER_PATHS[(self.nonlinear, self.category == "weighted")]

    # ------------------------------------------------------------ shape & cost

    def infer(self, args: Any, shape: Shape) -> Shape:
        """The output shape for an input shape; raise ShapeError if it cannot run."""
        raise NotImplementedError

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

    def label(self, args: Any, rank: int) -> str:
        return args_label(self.name, args, rank)


_LAYER_PATHS = {
    (n, w): PathRole(nonlinear=n, weighted=w) for n in (False, True) for w in (False, True)
}


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


def literal_text(value: Any) -> str:
    """A value as a spec writes it: ``true``, ``"zeros"``, ``1e-05``, ``[1, 2]``.

    >>> literal_text(True), literal_text("zeros"), literal_text(1e-5), literal_text((1, 2))
    ('true', '"zeros"', '1e-05', '[1, 2]')
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple | list):
        return "[" + ", ".join(literal_text(v) for v in value) + "]"
    return repr(value)


def signature(layer: Layer) -> str:
    """``conv(out_channels, kernel_size, stride=1, ...)``: PyTorch's names, order and defaults.

    A required argument is its bare name; one whose default is unset (PyTorch's
    ``None``, which a spec cannot write) is in brackets: ``[padding_idx]``.

    >>> from resdsl.ops import get_layer
    >>> signature(get_layer("dropout"))
    'dropout(p=0.5)'
    """
    parts = []
    for name, field in layer.Args.model_fields.items():
        if field.repr is False:  # filled in by elaboration, not written
            continue
        if name == layer.varargs:
            parts.append(f"*{name}")
        elif field.is_required():
            parts.append(name)
        elif field.default is None:
            parts.append(f"[{name}]")
        else:
            parts.append(f"{name}={literal_text(field.default)}")
    return f"{layer.name}({', '.join(parts)})" if parts else layer.name


def format_shape(shape: Shape) -> str:
    """A shape in a diagnostic: each symbolic size with its value at the sample.

    A diagnostic is about the sample input, so both are shown: ``[T, D]``
    alone hides that ``D`` is 32 where a layer needs 64.

    >>> from resdsl.ir.dims import symbol, window
    >>> format_shape((symbol("T", 16), symbol("D", 32))), format_shape((8, window(symbol("H", 9), 2, 2)))
    ('[T=16, D=32]', '[8, (H-1)/2=4]')
    """
    from resdsl.ir.dims import describe

    def size(d: int) -> str:
        text = describe(d)
        return text if text == str(int(d)) else f"{text}={int(d)}"

    return "[" + ", ".join(size(d) for d in shape) + "]"


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

"""Argument types and checks shared by the layer families.

Numbers follow one rule everywhere, the same for layer arguments as for block
and model parameters: an int never accepts a float (``conv(4.0, 3)`` is
rejected: write ``conv(4, 3)``; ``planes / 2`` is a float, ``planes // 2`` an
int), while a float accepts an int (``dropout(1)`` is ``p=1.0``). Neither a
boolean nor a string is a number: ``conv(true, 3)`` is rejected although
Python would read it as ``conv(1, 3)``, and so is ``conv(8, "3")``. A flag
takes only ``true`` or ``false``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Discriminator, Field, Strict, Tag
from pydantic_core import PydanticCustomError

from resdsl.ir.dims import Shape
from resdsl.ops.base import LayerArgs, ShapeError, format_shape


def _number_only(value: Any) -> Any:
    if isinstance(value, bool):
        raise PydanticCustomError("bool_not_number", "Input should be a number, not a boolean")
    if isinstance(value, str):
        raise PydanticCustomError("str_not_number", "Input should be a number, not a string")
    return value


def _int_only(value: Any) -> Any:
    if type(value) is int:  # the common case, first: layers validate many ints
        return value
    if isinstance(value, float):
        raise PydanticCustomError("float_not_int", "Input should be an integer, not a float")
    return _number_only(value)


#: Only ``true``/``false``: neither ``1`` nor ``"yes"`` is a boolean here.
Bool = Annotated[bool, Strict()]
#: Only an int: ``4.0`` is a float, as it is for a block's ``int`` parameter.
Int = Annotated[int, BeforeValidator(_int_only)]
Float = Annotated[float, BeforeValidator(_number_only)]
PosInt = Annotated[Int, Field(gt=0)]
NonNegInt = Annotated[Int, Field(ge=0)]
PosFloat = Annotated[Float, Field(gt=0)]
NonNegFloat = Annotated[Float, Field(ge=0)]
Probability = Annotated[Float, Field(ge=0, le=1)]


def _one_or_many(value: Any) -> str:
    return "many" if isinstance(value, list | tuple) else "one"


def _one_many_or_name(value: Any) -> str:
    return "name" if isinstance(value, str) else _one_or_many(value)


# Per-dimension arguments are tagged unions, so a bad value gets the one error of
# the form it was written in ("not a boolean"), not one error per alternative.

#: kernel_size, stride, dilation: a positive int, or one per spatial dimension.
PosSize = Annotated[
    Annotated[PosInt, Tag("one")] | Annotated[tuple[PosInt, ...], Tag("many")],
    Discriminator(_one_or_many),
]
#: padding: a non-negative int, or one per spatial dimension.
NonNegSize = Annotated[
    Annotated[NonNegInt, Tag("one")] | Annotated[tuple[NonNegInt, ...], Tag("many")],
    Discriminator(_one_or_many),
]
#: conv's padding: also "same" or "valid".
ConvPadding = Annotated[
    Annotated[NonNegInt, Tag("one")]
    | Annotated[tuple[NonNegInt, ...], Tag("many")]
    | Annotated[Literal["same", "valid"], Tag("name")],
    Discriminator(_one_many_or_name),
]
#: adaptive pools' output_size: None keeps an input size.
OutputSize = Annotated[
    Annotated[PosInt, Tag("one")] | Annotated[tuple[PosInt | None, ...], Tag("many")],
    Discriminator(_one_or_many),
]
#: upsample's scale_factor.
ScaleFactor = Annotated[
    Annotated[PosFloat, Tag("one")] | Annotated[tuple[PosFloat, ...], Tag("many")],
    Discriminator(_one_or_many),
]

#: A keyword "default" that never equals the value, so ``call_source`` always emits it.
ALWAYS: Any = object()


class NoArgs(LayerArgs):
    """The arguments of a layer that takes none."""


_RANK_NAMES = {1: "[C]", 2: "[C, L]", 3: "[C, H, W]", 4: "[C, D, H, W]"}


def check_rank(layer: str, shape: Shape, allowed: tuple[int, ...], hint: str | None = None) -> None:
    """Raise ShapeError unless the input (without batch) has one of the ``allowed`` ranks."""
    if len(shape) in allowed:
        return
    expected = " or ".join(_RANK_NAMES.get(r, f"rank {r}") for r in allowed)
    raise ShapeError(
        f"{layer} expects an input of shape {expected}, got {format_shape(shape)}",
        hint=hint or "check the previous layer's output",
    )


def check_min_rank(layer: str, shape: Shape, rank: int = 1) -> None:
    """Raise ShapeError if the input has fewer than ``rank`` dimensions."""
    if len(shape) < rank:
        raise ShapeError(
            f"{layer} needs an input with at least {rank} dimension{'s' if rank > 1 else ''}, "
            f"got {format_shape(shape)}"
        )


def kernel_too_large(kernel: int, dilation: int, padded: int, axis: int) -> ShapeError:
    """The error for a window that does not fit its padded input (``axis`` counts spatial dims)."""
    eff = dilation * (kernel - 1) + 1
    return ShapeError(
        f"kernel size {eff}{' (after dilation)' if dilation > 1 else ''} is larger than "
        f"the padded input size {padded} in spatial dimension {axis + 1}",
        hint="use a smaller kernel, more padding, or a larger input",
        arg="kernel_size",
    )


def normalize_dim(layer: str, arg: str, dim: int, rank: int) -> int:
    """A dimension index counted from the first non-batch dimension, made non-negative.

    >>> normalize_dim("softmax", "dim", -1, 3)
    2
    """
    if not -rank <= dim < rank:
        raise ShapeError(
            f"{arg}={dim} is out of range for an input with {rank} dimension"
            f"{'s' if rank != 1 else ''} (expected {-rank} to {rank - 1})",
            hint="dimensions count from the first non-batch dimension; the batch cannot be named",
            arg=arg,
        )
    return dim % rank


def torch_dim(dim: int) -> int:
    """The PyTorch index of a non-batch dimension index: shifted past the batch if non-negative."""
    return dim + 1 if dim >= 0 else dim


def keywords_of(args: LayerArgs, *positional: str) -> list[tuple[str, Any, Any]]:
    """The arguments not named in ``positional`` as ``(name, value, default)``, for ``call_source``."""
    return [
        (name, getattr(args, name), field.default)
        for name, field in type(args).model_fields.items()
        if name not in positional
    ]

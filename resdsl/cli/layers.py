"""``resdsl layers``: every layer a spec can call, with its arguments, from the op registry.

Nothing here is written by hand per layer: names, arguments, types and
defaults come from each layer's pydantic ``Args`` model, the description from
its docstring. Never imports torch.
"""

from __future__ import annotations

import types
import typing
from typing import Annotated, Any

import typer
from rich.table import Table

from resdsl.cli.common import app, out, usage_error
from resdsl.diagnostics import did_you_mean
from resdsl.ops import Layer, get_layer, layer_names
from resdsl.ops.base import literal_text, signature
from resdsl.ops.registry import names_text


def type_text(annotation: Any) -> str:
    """An argument's type as a spec writes its values.

    >>> type_text(int | tuple[int, ...]), type_text(typing.Literal["same", "valid"])
    ('int | [int, ...]', '"same" | "valid"')
    """
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Annotated:
        return type_text(args[0])
    if origin in (typing.Union, types.UnionType):
        parts = [type_text(a) for a in args if a is not type(None)]
        return " | ".join(dict.fromkeys(parts))
    if origin is typing.Literal:
        return " | ".join(literal_text(a) for a in args)
    if origin in (tuple, list):
        if len(args) == 2 and args[1] is Ellipsis:
            return f"[{type_text(args[0])}, ...]"
        return "[" + ", ".join(type_text(a) for a in args) + "]"
    return getattr(annotation, "__name__", str(annotation))


def description(layer: Layer) -> str:
    """The first line of the layer's docstring, without reStructuredText's code quotes."""
    doc = (type(layer).__doc__ or "").strip()
    return doc.splitlines()[0].strip().replace("``", "") if doc else ""


def ranks(layer: Layer) -> str:
    """The input ranks a layer accepts, without the batch dimension: ``2, 3, 4`` or ``any``."""
    return "any" if layer.ranks is None else ", ".join(str(r) for r in layer.ranks)


NameArg = Annotated[
    str | None,
    typer.Argument(help="Show one layer's arguments, types and defaults.", show_default=False),
]


@app.command()
def layers(name: NameArg = None) -> None:
    """List every layer a spec can call, with its arguments and defaults.

    Arguments keep PyTorch's names, order and defaults; [name] is an argument
    whose default is unset. With a NAME, show that layer's arguments with
    their types. The merges, shortcuts and alignments a skip takes are listed
    after the table. Never imports torch.

    Example: resdsl layers conv
    """
    if name is not None:
        _show_layer(name)
        return
    table = Table(title="layers", title_justify="left")
    for column in ("layer", "arguments", "input ranks", "what it is"):
        table.add_column(column)
    for layer in _all_layers():
        table.add_row(layer.name, signature(layer), ranks(layer), description(layer))
    out.print(table)
    out.print(f"skip merges: {names_text('merge', 'and')}")
    out.print(f"skip shortcuts (shortcut=...): {names_text('shortcut', 'and')}")
    out.print(f"skip alignments (align=...): {names_text('align', 'and')}")


def _all_layers() -> list[Layer]:
    found = (get_layer(n) for n in layer_names())
    return [layer for layer in found if layer is not None]


def _show_layer(name: str) -> None:
    layer = get_layer(name)
    if layer is None:
        usage_error(
            f"no layer named '{name}'",
            hint=did_you_mean(name, layer_names()) or "resdsl layers lists every layer",
        )
    out.print(signature(layer))
    out.print(f"  {description(layer)}")
    out.print(f"  input ranks: {ranks(layer)} (without the batch dimension)")
    table = Table(title_justify="left")
    for column in ("argument", "type", "default"):
        table.add_column(column)
    for arg, field in layer.Args.model_fields.items():
        if field.is_required():
            default = "(required)"
        elif field.default is None:
            default = "(unset)"
        else:
            default = literal_text(field.default)
        table.add_row(arg, type_text(field.annotation), default)
    if layer.Args.model_fields:
        out.print(table)

#!/usr/bin/env python
"""Regenerate the tables of docs/language.md from the op registry.

Each table sits between two marker comments, ``<!-- NAME:begin -->`` and
``<!-- NAME:end -->``, and is rewritten from :mod:`resdsl.ops` alone: names,
arguments and defaults from each layer's pydantic ``Args`` model, input ranks
from its ``ranks``, the description from its docstring's first line, and the
PyTorch module from the constructor source it emits. Nothing about a layer is
written by hand, so the page cannot drift from the code. Run from anywhere::

    python scripts/make_language_docs.py           # rewrite docs/language.md
    python scripts/make_language_docs.py --check   # exit 1 if it is out of date

A new table (merges, shortcuts, ...) is one more entry in ``TABLES``: a
function that returns its Markdown, and the two markers in the page.
"""

from __future__ import annotations

import argparse
import re
import sys
import typing
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from resdsl.ops import BUILTIN_LAYERS, Layer, ShapeError, get_layer, layer_names  # noqa: E402
from resdsl.ops.base import Category, signature  # noqa: E402

DOC = ROOT / "docs" / "language.md"

#: Input ranks (without the batch dimension) tried when a layer accepts any rank.
ALL_RANKS = (1, 2, 3, 4)
#: Channels and spatial size of the sample inputs used to ask a layer for its PyTorch module.
SAMPLE_CHANNELS, SAMPLE_SIZE = 4, 8


# ------------------------------------------------------------------ one layer


def ranks(layer: Layer) -> str:
    """The input ranks a layer accepts, without the batch dimension: ``2, 3, 4`` or ``any``.

    >>> ranks(get_layer("conv")), ranks(get_layer("relu"))
    ('2, 3, 4', 'any')
    """
    return "any" if layer.ranks is None else ", ".join(str(r) for r in layer.ranks)


def description(layer: Layer) -> str:
    """The first line of the layer's docstring."""
    doc = (type(layer).__doc__ or "").strip()
    if not doc:
        raise SystemExit(f"layer {layer.name!r} has no docstring: say what it is")
    return doc.splitlines()[0].strip()


def torch_modules(layer: Layer) -> str:
    """The PyTorch module class(es) the layer emits, one per input rank it accepts.

    Asks the layer itself: its required arguments set to 1, its ``torch_init``
    source for a sample input of each rank, the class name read off that source.
    """
    if layer.param_arg is not None:  # reads a param of its scope in forward
        return "(no module: reads `self.NAME`)"
    if not layer.has_module:  # a layout layer is a tensor method in forward (permute, ...)
        return f"`Tensor.{layer.name}` (no module)"
    # A size list gets (-1,): one size that takes the whole dimension, valid on any input.
    required = {
        name: (-1,) if typing.get_origin(f.annotation) is tuple else 1
        for name, f in layer.Args.model_fields.items()
        if f.is_required()
    }
    args = layer.Args.model_validate(required)
    found: list[str] = []
    for rank in layer.ranks or ALL_RANKS:
        shape = (SAMPLE_CHANNELS, *(SAMPLE_SIZE,) * (rank - 1))
        try:
            layer.infer(args, shape)
        except ShapeError:
            continue
        match = re.match(r"(nn\.\w+)\(", layer.torch_init(args, shape))
        if match is None:
            raise SystemExit(f"layer {layer.name!r} emits no nn.Module: {layer.torch_init}")
        if match.group(1) not in found:
            found.append(match.group(1))
    if not found:
        raise SystemExit(f"layer {layer.name!r} accepts none of the sample inputs")
    return ", ".join(f"`{name}`" for name in found)


# ------------------------------------------------------------------ tables


def builtin_layers() -> list[Layer]:
    """The built-in layers, grouped by category (in ``Category``'s order), then by name."""
    order = {category: i for i, category in enumerate(typing.get_args(Category))}
    builtin = {layer.name for layer in BUILTIN_LAYERS}
    layers = [get_layer(name) for name in layer_names() if name in builtin]
    present = [layer for layer in layers if layer is not None]
    return sorted(present, key=lambda layer: (order[layer.category], layer.name))


def cell(text: str) -> str:
    """Table-cell text: a ``|`` would end the cell."""
    return text.replace("|", "\\|")


def layers_table() -> str:
    """The Markdown table of every built-in layer."""
    rows = [
        "| layer | arguments (PyTorch's names and defaults) | input ranks | what it is | PyTorch |",
        "|---|---|---|---|---|",
    ]
    for layer in builtin_layers():
        rows.append(
            f"| `{layer.name}` | `{cell(signature(layer))}` | {ranks(layer)} "
            f"| {cell(description(layer))} | {torch_modules(layer)} |"
        )
    return "\n".join(rows) + "\n"


#: Region name (between ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->``) -> its content.
TABLES: dict[str, Callable[[], str]] = {"layers": layers_table}


def replace_region(text: str, name: str, content: str) -> str:
    """``text`` with the region between NAME's two markers replaced by ``content``.

    >>> replace_region("a\\n<!-- t:begin -->\\nold\\n<!-- t:end -->\\n", "t", "new\\n")
    'a\\n<!-- t:begin -->\\nnew\\n<!-- t:end -->\\n'
    """
    begin, end = f"<!-- {name}:begin -->\n", f"<!-- {name}:end -->"
    if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
        raise SystemExit(f"expected one {begin.strip()} and, after it, one {end}")
    head, rest = text.split(begin)
    _, tail = rest.split(end)
    return f"{head}{begin}{content}{end}{tail}"


def generated(text: str) -> str:
    """The page with every generated table brought up to date."""
    for name, make in TABLES.items():
        text = replace_region(text, name, make())
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the page is out of date")
    options = parser.parse_args()
    text = DOC.read_text(encoding="utf-8")
    new = generated(text)
    if options.check:
        if new != text:
            print(
                f"{DOC.relative_to(ROOT)} is out of date: run python scripts/make_language_docs.py"
            )
            return 1
        return 0
    DOC.write_text(new, encoding="utf-8")
    print(f"wrote {DOC.relative_to(ROOT)} ({', '.join(TABLES)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``resdsl render``: draw where the skip edges go. Never imports torch.

The work is in :mod:`resdsl.backends.render`; this command parses options, maps every
failure to a message and an exit code, and writes the file atomically.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from resdsl.backends.render import (
    DEFAULT_TIMEOUT,
    FORMATS,
    IMAGE_FORMATS,
    GraphvizError,
    GraphvizWarning,
    RenderError,
    RenderOptions,
    check_format,
    export,
    find_dot,
    format_for,
    skip_looks,
)
from resdsl.cli.common import (
    Target,
    err,
    out,
    output_path,
    reporting,
    spec_command,
    usage_error,
    write_atomic,
)

if TYPE_CHECKING:
    import networkx as nx

OutputOpt = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        help="The file to write; its extension picks the format "
        "(.svg .png .pdf .dot .gv .json .graphml). Without it (or with -o -), text formats "
        "go to stdout.",
        show_default=False,
    ),
]
FormatOpt = Annotated[
    str | None,
    typer.Option(
        "--format",
        "-f",
        help=f"The output format, overriding the extension: {', '.join(FORMATS)}.",
        show_default=False,
    ),
]
DepthOpt = Annotated[
    int | None,
    typer.Option(
        "--depth",
        "-d",
        help="Collapse every scope deeper than N into one node: 0 draws only the model's own "
        "statements, 1 opens the top-level blocks (layer1, ...) and collapses the blocks "
        "inside them (layer1.0, ...). Default: every layer.",
        metavar="N",
        show_default=False,
    ),
]
ShapesOpt = Annotated[
    str,
    typer.Option(
        "--shapes",
        help="Edge labels: symbolic (64×H/4×W/4), concrete (64×56×56, at the sample size) or none.",
    ),
]
ShowParamsOpt = Annotated[
    bool,
    typer.Option("--show-params", help="Show parameter counts on layers, blocks and clusters."),
]
FoldOpt = Annotated[
    bool,
    typer.Option(
        "--fold/--no-fold",
        help="With --depth, fold consecutive identical blocks into one node with a ×N badge.",
    ),
]
LegendOpt = Annotated[bool, typer.Option("--legend/--no-legend", help="Draw the legend.")]
LayoutOpt = Annotated[
    str,
    typer.Option(
        "--layout",
        help="auto (a U for encoder-decoders with long skips, else a top-down chain), u, or chain.",
    ),
]
TimeoutOpt = Annotated[
    float,
    typer.Option("--timeout", help="Seconds Graphviz may take before it is stopped.", min=1),
]


_HELP = f"""Draw a model: its main path, every skip edge in its own style, shapes on the edges.

{skip_looks()}; projections and zero-padding sit on their skip path; blocks are
boxed and labelled by their module path.

Formats: svg, png and pdf run Graphviz's 'dot' (apt-get install -y graphviz,
or brew install graphviz); dot, json (networkx node-link) and graphml need
nothing. json and graphml export every node of the checked graph, so they
take no drawing option (--depth, --shapes, --show-params, --layout). A PNG
larger than Graphviz's bitmap limit is scaled down with a warning: write SVG
or PDF, or use --depth. Files are written atomically; only regular files are
replaced (a symbolic link is written through).

Exit codes: 0 written; 1 the spec is invalid; 2 bad usage: an unknown format
or option value, --depth below 0, an output path that cannot be written (a
missing directory, a directory, a device or FIFO), an unknown model or
parameter, or Graphviz missing or failing.

Example: resdsl render specs/resnet.res -m resnet152 --depth 1 -o resnet152.svg
"""


def _help_from_registry(command: Callable[..., None]) -> Callable[..., None]:
    """Give the command its help text, which lists the registered merges' looks."""
    command.__doc__ = _HELP
    return command


@spec_command(plain="last")
@_help_from_registry
def render(
    target: Target,
    output: OutputOpt = None,
    format: FormatOpt = None,
    depth: DepthOpt = None,
    shapes: ShapesOpt = "symbolic",
    show_params: ShowParamsOpt = False,
    fold: FoldOpt = True,
    legend: LegendOpt = True,
    layout: LayoutOpt = "auto",
    timeout: TimeoutOpt = DEFAULT_TIMEOUT,
) -> None:
    """Draw a model (the help text, ``_HELP``, says how each skip kind looks)."""
    if output is not None and str(output) == "-":
        output = None  # -o - is stdout
    fmt = _format(output, format)
    options = _options(depth, shapes, show_params, fold, legend, layout)
    if fmt in GRAPH_FORMATS:
        _no_drawing_options(fmt, options)
    _check_output(fmt, output)
    with _status("checking the model"), reporting():
        graph = target.graph()
    data = _export(graph, fmt, timeout, options)
    if output is None:
        typer.echo(data.decode(), nl=False)
        return

    def write(tmp: Path) -> None:
        tmp.write_bytes(data)

    try:
        write_atomic(output, write)
    except OSError as error:
        usage_error(f"cannot write {output}: {error.strerror or error}")
    out.print(f"wrote {output} ({fmt}, model {graph.graph['model']})", markup=False)


#: Formats that export the checked graph itself, not a drawing of it.
GRAPH_FORMATS = ("json", "graphml")


def _no_drawing_options(fmt: str, options: dict[str, Any]) -> None:
    """json and graphml export every node: a drawing option asked for with them is an error."""
    given = [
        flag
        for flag, is_set in (
            ("--depth", options["depth"] is not None),
            ("--shapes", options["shapes"] != "symbolic"),
            ("--show-params", options["params"]),
            ("--layout", options["layout"] != "auto"),
        )
        if is_set
    ]
    if given:
        usage_error(
            f"{' and '.join(given)} {'applies' if len(given) == 1 else 'apply'} to drawings, "
            f"not to {fmt}: it exports every node of the checked graph",
            hint="leave the option out, or draw with -o diagram.svg (or .png, .pdf, .dot)",
        )


@contextmanager
def _status(text: str) -> Iterator[None]:
    """A spinner with ``text`` on stderr while a slow step runs (on a terminal only)."""
    if not err.is_terminal:
        yield
        return
    with err.status(text, spinner="dots"):
        yield


def _export(graph: nx.DiGraph, fmt: str, timeout: float, options: dict[str, Any]) -> bytes:
    """The output bytes, with progress shown and Graphviz's warnings printed as resdsl's."""
    what = "laying out with Graphviz's dot" if fmt in IMAGE_FORMATS else f"writing {fmt}"
    status = _status(f"{what} ({graph.number_of_nodes()} nodes)")
    with status, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", GraphvizWarning)
        try:
            data = export(graph, fmt, timeout=timeout, **options)
        except GraphvizError as error:
            usage_error(error.message, hint=error.hint)
    for warning in caught:
        if issubclass(warning.category, GraphvizWarning):
            err.print(f"warning: {warning.message}")
        else:
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    return data


def _options(
    depth: int | None, shapes: str, show_params: bool, fold: bool, legend: bool, layout: str
) -> dict[str, Any]:
    """The drawing options, validated (a bad value is a usage error)."""
    if depth is not None and depth < 0:
        usage_error(
            f"--depth must be 0 or more, got {depth}",
            hint="--depth 0 draws only the model's own statements; --depth 1 also opens "
            "its top-level blocks; leave it out to draw every layer",
        )
    try:
        options = RenderOptions(shapes, depth, show_params, fold, legend, layout)  # type: ignore[arg-type]
    except RenderError as error:
        usage_error(str(error))
    return {
        "shapes": options.shapes,
        "depth": options.depth,
        "params": options.params,
        "fold": options.fold,
        "legend": options.legend,
        "layout": options.layout,
    }


def _check_output(fmt: str, output: Path | None) -> None:
    """Fail before the slow part: binary formats need a file and Graphviz, and a writable path."""
    if fmt in IMAGE_FORMATS:
        if output is None:
            usage_error(f"{fmt} output is binary: give a file with -o", hint=f"-o diagram.{fmt}")
        try:
            find_dot()
        except GraphvizError as error:
            usage_error(f"cannot write {fmt}: {error.message}", hint=error.hint)
    if output is not None:
        output_path(output)


def _format(output: Path | None, format: str | None) -> str:
    try:
        if output is None:
            return check_format(format or "dot")
        return format_for(output, format)
    except RenderError as error:
        usage_error(str(error), hint="for example: -o net.svg, or -o net.out --format png")

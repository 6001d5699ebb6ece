"""``resdsl check`` and ``resdsl summary``: never import torch."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from resdsl.analysis.tables import format_macs
from resdsl.api import Spec, Summary, summarize
from resdsl.cli.common import USAGE_CODES, Target, err, out, reporting, spec_command, usage_error
from resdsl.diagnostics import ResdslError, render_all
from resdsl.passes.valid_sizes import describe_rules

__all__ = ["check", "format_macs", "summary", "summary_lines"]


def summary_lines(spec_name: str, s: Summary) -> list[str]:
    """What ``check`` prints for one model: a first line, then the totals."""
    return [f"{spec_name}: model {s.model} checks", *s.header_lines()]


@spec_command(plain="first")
def check(target: Target) -> None:
    """Check a spec: parse, elaborate and infer every shape; print a short summary.

    A file with several models and no --model has each model checked, one line
    per model (a model whose parameters have no default is checked through the
    aliases that set them). Exits 0 if everything checks, 1 with diagnostics if
    the spec is invalid, 2 for bad usage.
    """
    with reporting():
        spec = target.load()
        params = target.params(spec)
        every_model = target.model is None and len(spec.models) > 1
        if not every_model:
            s = summarize(spec.graph(target.model, **params))
    if every_model:
        _check_every_model(target, spec, params)
        return
    for line in summary_lines(str(target.path), s):
        out.print(line)


def _check_every_model(target: Target, spec: Spec, params: dict[str, Any]) -> None:
    """Check each model of the file; exit 1 if any is invalid."""
    width = max(len(name) for name in spec.models)
    out.print(f"{target.path}: {len(spec.models)} models")
    invalid = skipped = 0
    for name in spec.models:
        try:
            s = spec.summary(name, **params)
        except ResdslError as error:
            if all(d.code in USAGE_CODES for d in error.diagnostics):
                skipped += 1
                out.print(f"  {name:<{width}}  not checked: {error.diagnostics[0].message}")
                continue
            invalid += 1
            out.print(f"  {name:<{width}}  invalid:")
            err.print(render_all(error.diagnostics))
            continue
        out.print(
            f"  {name:<{width}}  checks: {s.params:,} parameters, {format_macs(s.macs)} MACs, "
            f"input {s.input_text}, output {s.output_text}"
        )
    checked = len(spec.models) - invalid - skipped
    parts = [f"{checked} check"]
    if invalid:
        parts.append(f"{invalid} invalid")
    if skipped:
        parts.append(
            f"{skipped} not checked (choose one with --model and set its parameters with -p)"
        )
    out.print(", ".join(parts))
    if invalid:
        raise typer.Exit(1)


DepthOpt = Annotated[
    int | None,
    typer.Option(
        "--depth",
        "-d",
        help="Collapse every block deeper than N into one row (its output shape, summed costs): "
        "0 lists the model's own statements, 1 opens the top-level blocks. Default: every layer.",
        metavar="N",
        show_default=False,
    ),
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print the summary as JSON (shapes at the sample size).")
]


@spec_command(plain="first")
def summary(target: Target, depth: DepthOpt = None, json: JsonOpt = False) -> None:
    """Print a per-layer table (name, op, output shape, parameters, MACs) with totals.

    Output shapes are written symbolically ([64, ceil(H/4), ceil(W/4)]) and, for a model
    with symbolic input sizes, also at the sample size (-p H=... sets it).
    Piped output is never cut to the terminal's width.
    """
    if depth is not None and depth < 0:
        usage_error(f"--depth must be 0 or more, got {depth}")
    with reporting():
        s = summarize(target.graph(), depth=depth)
    if json:
        typer.echo(s.to_json())
        return
    headers, rows = s.table()
    table = Table(title=f"{s.model}  input {s.input_text}", title_justify="left")
    for i, header in enumerate(headers):
        table.add_column(header, justify="right" if i >= len(headers) - 2 else "left")
    for row in rows:
        table.add_row(*row)
    table.add_section()
    at_sample = [_concrete(s)] if s.symbols else []
    table.add_row("Total", "", s.output_text, *at_sample, f"{s.params:,}", format_macs(s.macs))
    out.print(table)
    if s.valid_sizes:
        out.print(f"valid sizes: {describe_rules(s.valid_sizes)}")


def _concrete(s: Summary) -> str:
    return "[" + ", ".join(str(d) for d in s.output_shape) + "]"

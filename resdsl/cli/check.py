"""``resdsl check`` and ``resdsl summary``: never import torch."""

from __future__ import annotations

from rich.table import Table

from resdsl.api import Summary, summarize
from resdsl.cli.common import Target, out, reporting, spec_command
from resdsl.passes.valid_sizes import describe_rules


def format_macs(macs: int) -> str:
    """``4.0892 G``: MACs in the unit people quote them in."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if macs >= scale:
            return f"{macs / scale:.4f} {unit}"
    return str(macs)


def summary_lines(spec_name: str, s: Summary) -> list[str]:
    sizes = describe_rules(s.valid_sizes) or "fixed input size"
    at = "×".join(str(d) for d in s.input_shape)
    return [
        f"{spec_name}: model {s.model} checks",
        f"  parameters   {s.params:,}",
        f"  MACs         {format_macs(s.macs)}  (batch 1, input {at})",
        f"  input        {s.input_text}",
        f"  output       {s.output_text}",
        f"  valid sizes  {sizes}",
    ]


@spec_command(plain="first")
def check(target: Target) -> None:
    """Check a spec: parse, elaborate and infer every shape; print a short summary.

    Exits 0 if the model checks, 1 with diagnostics if the spec is invalid,
    2 for bad usage.
    """
    with reporting():
        s = summarize(target.graph())
    for line in summary_lines(str(target.path), s):
        out.print(line, markup=False)


@spec_command(plain="first")
def summary(target: Target) -> None:
    """Print a per-layer table (name, op, output shape, parameters, MACs) with totals."""
    with reporting():
        s = summarize(target.graph())
    table = Table(title=f"{s.model}  input {s.input_text}", title_justify="left")
    table.add_column("Layer")
    table.add_column("Op")
    table.add_column("Output shape")
    table.add_column("Param #", justify="right")
    table.add_column("MACs", justify="right")
    for row in s.layers:
        table.add_row(
            row.name,
            row.op,
            row.shape_text,
            f"{row.params:,}" if row.params else "--",
            f"{row.macs:,}" if row.macs else "--",
        )
    table.add_section()
    table.add_row("Total", "", s.output_text, f"{s.params:,}", format_macs(s.macs))
    out.print(table)
    if s.valid_sizes:
        out.print(f"valid sizes: {describe_rules(s.valid_sizes)}", markup=False)

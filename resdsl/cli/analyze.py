"""``resdsl compare``, ``paths``, ``gradflow``, ``identity``: the skip-connection questions.

Each command answers one question of ``docs/skip-connections.md`` with the
analysis of the same name in :mod:`resdsl.analysis`. ``compare`` and ``paths``
never import torch; ``gradflow`` and ``identity`` build the model, so they do.
Plots (``-o``) need matplotlib, the optional extra ``resdsl[plot]``.

Exit codes, as for every command: 0 success, 1 an invalid spec, 2 bad usage
(including a plot asked for without matplotlib).
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

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
    from resdsl.analysis.blockgrad import BlockGradReport
    from resdsl.analysis.compare import Comparison
    from resdsl.analysis.gradflow import GradFlow, GradFlowReport, LayerGrad
    from resdsl.analysis.identity import IdentityReport
    from resdsl.analysis.paths import PathReport

PLOT_FORMATS = ("png", "svg", "pdf")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the report as JSON instead.")]
PlotOpt = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        help="Also write a plot here (png, svg or pdf; needs matplotlib: pip install 'resdsl[plot]').",
        show_default=False,
    ),
]
AllOpt = Annotated[bool, typer.Option("--all", help="List every row, however many.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of the weights and of the batch.")]

#: Long tables show this many rows from the start and from the end, unless --all.
HEAD_ROWS, TAIL_ROWS = 12, 4


def _plot_format(output: Path) -> str:
    """The plot format from the file's extension; checks matplotlib is installed."""
    fmt = output.suffix.lstrip(".").lower()
    if fmt not in PLOT_FORMATS:
        usage_error(
            f"cannot plot to {output}: unknown format {fmt!r}",
            hint=f"use one of: {', '.join('.' + f for f in PLOT_FORMATS)}",
        )
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        usage_error(
            "plots need matplotlib, which is not installed",
            hint="pip install 'resdsl[plot]' (or pip install matplotlib)",
        )
    output_path(output)
    return fmt


def _write_plot(output: Path, draw: Callable[[Path], None]) -> None:
    try:
        write_atomic(output, draw)
    except OSError as error:
        usage_error(f"cannot write {output}: {error.strerror or error}")
    out.print(f"wrote {output}", markup=False)


def _rows(n: int, show_all: bool) -> list[int | None]:
    """Row indices to show; None marks the gap of a shortened table.

    >>> _rows(3, False), _rows(20, False)[10:14]
    ([0, 1, 2], [10, 11, None, 16])
    """
    if show_all or n <= HEAD_ROWS + TAIL_ROWS + 1:
        return list(range(n))
    return [*range(HEAD_ROWS), None, *range(n - TAIL_ROWS, n)]


def _not_shown(n: int, show_all: bool) -> None:
    if None in _rows(n, show_all):
        out.print(
            f"({n - HEAD_ROWS - TAIL_ROWS} rows not shown: --all lists every one)", markup=False
        )


# ---------------------------------------------------------------- compare


@spec_command(plain="first")
def compare(target: Target, json: JsonOpt = False, show_all: AllOpt = False) -> None:
    """Show a model beside its plain twin (the same spec with every skip removed).

    Depth (weighted layers on the longest path, nodes), input-to-output paths,
    parameters and MACs of both, and every skip whose path holds modules or
    parameters (projections, zero-padding, rezero gates) with its cost.
    Never imports torch.

    Example: resdsl compare specs/cifar_resnet.res -m resnet56
    """
    with reporting():
        spec = target.load()
        result = spec.compare(target.model, **target.params(spec))
    if json:
        typer.echo(result.model_dump_json(indent=2))
        return
    print_comparison(result, show_all=show_all)


def print_comparison(c: Comparison, *, show_all: bool = False) -> None:
    """The ``compare`` tables."""
    from resdsl.analysis.paths import format_count
    from resdsl.analysis.tables import format_macs

    a, b = c.model, c.plain
    table = Table(title=f"{a.model} and its plain twin", title_justify="left")
    table.add_column("")
    table.add_column(a.model, justify="right")
    table.add_column("plain twin", justify="right")
    table.add_column("difference", justify="right")

    def row(what: str, x: int, y: int, fmt: Callable[[int], str] = "{:,}".format) -> None:
        d = x - y
        table.add_row(what, fmt(x), fmt(y), ("+" if d > 0 else "") + fmt(d) if d else "--")

    row("weighted depth", a.weighted_depth, b.weighted_depth)
    row("weighted layers", a.weighted_layers, b.weighted_layers)
    row("graph nodes", a.nodes, b.nodes)
    row("skips", a.skips, b.skips)
    table.add_row(
        "paths", format_count(a.paths, compact=True), format_count(b.paths, compact=True), ""
    )
    row("fewest activations", a.min_nonlinearities, b.min_nonlinearities)
    row("parameters", a.params, b.params)
    table.add_row("MACs", format_macs(a.macs), format_macs(b.macs), format_macs(a.macs - b.macs))
    out.print(table)
    out.print(
        "weighted depth: weighted layers on the longest input-to-output path; paths: "
        "input-to-output paths; fewest activations: on any one path",
        markup=False,
    )

    costly = [s for s in c.shortcuts if s.params]
    if costly:
        st = Table(title="skips with parameters", title_justify="left")
        st.add_column("skip")
        st.add_column("kind")
        st.add_column("nodes")
        st.add_column("params", justify="right")
        for i in _rows(len(costly), show_all):
            if i is None:
                st.add_row("...", "...", "...", "...")
                continue
            s = costly[i]
            nodes = "\n".join(s.nodes) or (f"{s.into} (gate)" if "gate" in s.kind else "--")
            st.add_row(s.skip, s.kind, nodes, f"{s.params:,}")
        out.print(st)
        _not_shown(len(costly), show_all)
    kinds: dict[str, list[int]] = {}
    for s in c.shortcuts:
        entry = kinds.setdefault(s.kind, [0, 0])
        entry[0] += 1
        entry[1] += s.params
    parts = [
        f"{n} {kind} ({params:,} parameters)" if params else f"{n} {kind} (free)"
        for kind, (n, params) in kinds.items()
    ]
    out.print(f"skips: {', '.join(parts) or 'none'}", markup=False)
    out.print(f"parameters on skip paths: {c.shortcut_params:,}", markup=False)
    if c.other_params or c.other_macs:
        out.print(
            f"other difference: {c.other_params:+,} parameters, {c.other_macs:+,} MACs "
            "(layers after a concat see fewer input channels in the plain twin)",
            markup=False,
        )


# ---------------------------------------------------------------- paths


@spec_command(plain="first")
def paths(
    target: Target,
    json: JsonOpt = False,
    output: PlotOpt = None,
    count_only: Annotated[
        bool,
        typer.Option(
            "--count-only",
            help="Count paths and their depth ranges without histograms: for models whose "
            "histograms are too large to tabulate.",
        ),
    ] = False,
) -> None:
    """Count every input-to-output path and the activations and weighted layers each crosses.

    Exact counts (ResNet-110 has 2^54 paths) by dynamic programming, never by
    listing paths; prints the count, the fewest and most activations on a
    path, a histogram, why the shortest path is as short as it is, and that
    path. --json prints the report with every count as an exact JSON number.
    -o writes bar charts of both histograms. --count-only keeps one count and
    the depth ranges per value instead of histograms, for models with too many
    paths of too many depths to tabulate (tens of thousands of residual
    blocks). Never imports torch.

    Example: resdsl paths specs/preact_resnet.res -m preact_resnet1001 -o paths.png
    """
    from resdsl.analysis.paths import path_report, plot

    fmt = _plot_format(output) if output is not None else None
    with reporting():
        if count_only and output is not None:
            usage_error("-o plots the histograms, which --count-only leaves out")
        report = path_report(target.graph(), histograms=not count_only)
    if json:
        typer.echo(report.model_dump_json(indent=2))
    else:
        for line in path_lines(str(target.path), report):
            out.print(line, markup=False)
    if output is not None:
        _write_plot(output, lambda tmp: plot([report], tmp, format=fmt))


def path_lines(spec_name: str, r: PathReport) -> list[str]:
    """The text report of ``resdsl paths``."""
    from resdsl.analysis.paths_text import report_lines

    return report_lines(r, spec_name)


# ---------------------------------------------------------------- gradflow


@contextmanager
def _torch_errors(batch: int) -> Iterator[None]:
    """A failure inside PyTorch (batch norm on one value, memory, disk) as a message and exit 1.

    OSError: a deep model's saved activations go to temporary files, and the disk can be full.
    """
    try:
        yield
    except (RuntimeError, ValueError, OSError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        err.print(f"error: running the model failed: {first}", markup=False)
        if batch < 2:
            err.print("  hint: batch norm in training mode needs --batch 2 or more", markup=False)
        raise typer.Exit(1) from None


@contextmanager
def _progress(total: int) -> Iterator[Callable[[str], None]]:
    """A transient rich progress bar on stderr (a terminal only); yields the step callback."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    if not err.is_terminal:
        yield lambda text: None
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task("starting", total=total)
        started = False

        def step(text: str) -> None:
            nonlocal started
            if started:
                progress.advance(task)
            started = True
            progress.update(task, description=text)

        yield step


@spec_command(plain="first")
def gradflow(
    target: Target,
    plain_twin: Annotated[
        bool,
        typer.Option("--plain-twin", help="Measure the plain twin too, with the same seed."),
    ] = False,
    output: PlotOpt = None,
    json: JsonOpt = False,
    seed: SeedOpt = 0,
    batch: Annotated[int, typer.Option("--batch", help="Batch size.", min=1)] = 32,
    init: Annotated[
        str,
        typer.Option(
            "--init",
            help="Initialisation: 'kaiming' (He et al., the default here) or 'default' (PyTorch's).",
        ),
    ] = "kaiming",
    blocks: Annotated[
        bool,
        typer.Option(
            "--blocks",
            help="Per residual block: the skip and branch terms of the gradient at its input.",
        ),
    ] = False,
    steps: Annotated[
        int,
        typer.Option("--steps", help="With --blocks: measure again after N training steps.", min=0),
    ] = 0,
    data: Annotated[
        str,
        typer.Option(
            "--data",
            help="With --steps: the training data, as for 'resdsl train' (digits, .npz, "
            "an image folder).",
        ),
    ] = "digits",
    lr: Annotated[float, typer.Option("--lr", help="With --steps: learning rate.", min=0.0)] = 0.1,
) -> None:
    """Per-layer gradient norms at initialisation: one seeded forward/backward pass.

    Builds the model (He initialisation unless --init default), runs a seeded
    random batch at the sample input size in training mode, with cross-entropy
    against random targets for classifiers, else the mean of squares (summed
    over several named outputs: every head gets a gradient), and prints the
    gradient norm of every weighted layer that runs, in depth order. The spread
    is the first layer's norm over the last's (convolutions, when there are
    any). --plain-twin measures the plain twin the same way; -o plots both on a
    log scale. Imports torch. --blocks instead splits each residual block's
    input gradient into skip and branch terms, or says there is none; --steps N
    measures again after training (docs/gradflow.md).

    Example: resdsl gradflow specs/cifar_resnet.res -m resnet56 --plain-twin -o grads.png
    """
    from resdsl.analysis.gradflow import gradient_flow, plot, progress_steps
    from resdsl.backends.init import SCHEMES

    if init not in SCHEMES:
        usage_error(f"unknown --init {init!r}", hint=f"--init is one of: {', '.join(SCHEMES)}")
    if steps and not blocks:
        usage_error("--steps needs --blocks", hint="add --blocks")
    if blocks:
        _show(_block_report(target, seed=seed, batch=batch, init=init, steps=steps, data=data,
                            lr=lr), json)  # fmt: skip
        return
    fmt = _plot_format(output) if output is not None else None
    with reporting():
        # Spec errors first, as diagnostics, then the progress bar.
        spec = target.load()
        params = target.params(spec)
        graph = spec.graph(target.model, **params)
        plain = spec.plain().graph(target.model, **params) if plain_twin else None
        total = sum(progress_steps(g) for g in (graph, plain) if g is not None)
        with _progress(total) as step, _torch_errors(batch):
            report = gradient_flow(graph, plain, seed=seed, batch=batch, init=init, step=step)
    if json:
        typer.echo(report.model_dump_json(indent=2))
    else:
        print_gradflow(report)
    if output is not None:
        _write_plot(output, lambda tmp: plot(report, tmp, format=fmt))


def _show(report: BlockGradReport, json: bool) -> None:
    if json:
        typer.echo(report.model_dump_json(indent=2))
    else:
        print_blocks(report)


def _block_report(
    target: Target, *, seed: int, batch: int, init: str, steps: int, data: str, lr: float
) -> BlockGradReport:
    """Measure block gradients at initialisation and, with ``steps``, after training."""
    import copy

    import torch

    from resdsl.analysis.blockgrad import BlockGradReport, block_gradients
    from resdsl.backends.build import compile_graph, sample_input

    with reporting():
        spec = target.load()
        params = target.params(spec)
        if not steps:
            graph = spec.graph(target.model, **params)
            with _torch_errors(batch):
                torch.manual_seed(seed)
                module = compile_graph(graph, init=init)
                module.train()
                x = sample_input(graph, batch, seed=seed)
                found = block_gradients(graph, module, x, seed=seed)
            return BlockGradReport(
                model=str(graph.graph["model"]), data="random", batch=batch, seed=seed, steps=0,
                at_init=found,
            )  # fmt: skip
        from resdsl.training.data import load_data
        from resdsl.training.fit import prepare
        from resdsl.training.loop import train
        from resdsl.training.schedule import TrainConfig

        dataset = load_data(data)
        config = TrainConfig(steps=steps, seed=seed, batch_size=max(batch, 2), lr=lr)
        module, graph, params, dataset = prepare(
            spec, target.model, dataset, params, seed=seed, init=init
        )
        x, y = dataset.x[:batch], dataset.y[:batch]
        with _torch_errors(batch):
            module.train()
            state = copy.deepcopy(module.state_dict())  # measuring moves batch-norm statistics
            before = block_gradients(graph, module, x, seed=seed, target=y)
            module.load_state_dict(state)
            train(module, dataset, config)
            module.train()
            after = block_gradients(graph, module, x, seed=seed, target=y)
    return BlockGradReport(
        model=str(graph.graph["model"]), data=dataset.name, batch=batch, seed=seed, steps=steps,
        at_init=before, trained=after,
    )  # fmt: skip


def print_blocks(r: BlockGradReport) -> None:
    """The ``gradflow --blocks`` tables: one at initialisation, one after training."""
    runs = [("at initialisation", r.at_init)]
    if r.trained is not None:
        runs.append((f"after {r.steps} training steps", r.trained))
    for when, found in runs:
        table = Table(
            title=f"{r.model}: gradient at each residual block's input, {when} "
            f"(data {r.data}, batch {r.batch}, seed {r.seed})",
            title_justify="left",
        )
        for col in ("block (add)", "input", "skip norm", "branch norm", "cosine",
                    "passing", "gain"):  # fmt: skip
            table.add_column(col, justify="left" if col in ("block (add)", "input") else "right")
        for b in found:
            table.add_row(b.merge, b.input, f"{b.skip_norm:.4g}", f"{b.branch_norm:.4g}",
                          f"{b.cosine:+.3f}", f"{b.passing:.3f}", f"{b.gain:.4g}")  # fmt: skip
        out.print(table)
        if not found:
            out.print(
                f"{r.model} has no residual block (an ungated add merge with one skip start): "
                "there are no skip and branch terms to split",
                markup=False,
            )
            continue
        against = sum(1 for b in found if b.cosine < 0)
        out.print(
            f"{len(found)} blocks: gain {min(b.gain for b in found):.3g} to "
            f"{max(b.gain for b in found):.3g}; the branch term points against the skip term "
            f"(negative cosine) in {against}",
            markup=False,
        )


def print_gradflow(r: GradFlowReport) -> None:
    """The ``gradflow`` table and summary."""
    from resdsl.analysis.gradflow import format_ratio

    m, p = r.model, r.plain
    twin = {layer.node: layer for layer in p.layers} if p is not None else {}
    table = Table(
        title=f"{m.model}: gradient norms at initialisation (init={m.init}, batch {m.batch}, "
        f"seed {m.seed}, {m.loss.replace('_', ' ')} loss)",
        title_justify="left",
    )
    table.add_column("depth", justify="right")
    table.add_column("layer")
    table.add_column("op")
    table.add_column("grad norm", justify="right")
    if p is not None:
        table.add_column("plain twin", justify="right")
    for layer in m.layers:
        depth = f"{layer.depth:g}" + ("" if layer.role == "layer" else " (shortcut)")
        cells = [depth, layer.node, layer.op, _norm_cell(layer)]
        if p is not None:
            other = twin.get(layer.node)
            cells.append(_norm_cell(other) if other is not None else "--")
        table.add_row(*cells)
    out.print(table)
    for flow in [m] + ([p] if p is not None else []):
        _print_flow_summary(flow)
    ratio = r.spread_ratio
    if ratio is not None:
        out.print(
            f"the plain twin's spread is {format_ratio(ratio)} the residual network's",
            markup=False,
        )
    elif p is not None and (m.spread is None or p.spread is None):
        out.print(
            "no spread ratio: a spread it would be taken from is not a finite number",
            markup=False,
        )


def _norm_cell(layer: LayerGrad) -> str:
    """A gradient norm for the table: ``overflow`` for inf/nan, never a non-number."""
    return "overflow" if layer.overflow else f"{layer.grad_norm:.4g}"


def _print_flow_summary(flow: GradFlow) -> None:
    """One model's spread line and whether every layer gets a (finite) gradient."""
    from resdsl.analysis.gradflow import format_ratio

    name = f"{flow.model}{' plain twin' if flow.plain else ''}"
    over = "convolutions" if flow.spread_over == "conv" else "weighted layers"
    loss = f"{flow.loss_value:.4f}" if math.isfinite(flow.loss_value) else "overflow"
    if flow.spread is None or flow.max_min is None:
        spread = f"spread not computed: {over} overflowed"
    else:
        spread = (
            f"spread {format_ratio(flow.spread)} ({flow.first} over {flow.last}, {over}); "
            f"max/min {format_ratio(flow.max_min)}"
        )
    out.print(f"{name}: {spread}; loss {loss}", markup=False)
    n, k = len(flow.layers), len(flow.overflow_layers)
    if k:
        out.print(
            f"  {k} of its {n} weighted layers overflowed (gradient norm inf or nan in float32); "
            f"{n - k - len(flow.zero_grad_layers)} get a finite non-zero gradient",
            markup=False,
        )
    if flow.unused_layers:
        for line in textwrap.wrap(
            f"{len(flow.unused_layers)} weighted layers are not measured: no output uses them, "
            f"so the model never runs them: {', '.join(flow.unused_layers)}",
            100,
            initial_indent="  ",
            subsequent_indent="    ",
        ):
            out.print(line, markup=False)
    if flow.zero_grad_layers:
        names = ", ".join(flow.zero_grad_layers)
        for line in textwrap.wrap(
            f"{len(flow.zero_grad_layers)} weighted layers get no gradient at this step: "
            f"{names} (typically a zero rezero gate or a zero-initialised norm after them, "
            "which the first update moves)",
            100,
            initial_indent="  ",
            subsequent_indent="    ",
        ):
            out.print(line, markup=False)
    elif not k:
        out.print(f"  every one of its {n} weighted layers gets a gradient", markup=False)


# ---------------------------------------------------------------- identity


@spec_command(plain="first")
def identity(
    target: Target,
    zero_init_residual: Annotated[
        bool | None,
        typer.Option(
            "--zero-init-residual/--no-zero-init-residual",
            help="Zero the last norm of every residual branch (overrides the model's parameter).",
            show_default=False,
        ),
    ] = None,
    init: Annotated[
        str | None,
        typer.Option(
            "--init",
            help="'default' or 'kaiming' (overrides the model's own 'init' parameter).",
            show_default=False,
        ),
    ] = None,
    seed: SeedOpt = 0,
    batch: Annotated[int, typer.Option("--batch", help="Batch size.", min=2)] = 4,
    json: JsonOpt = False,
    show_all: AllOpt = False,
) -> None:
    """Which residual blocks compute exactly their shortcut at initialisation?

    For every add merge, runs its residual branch and its shortcut on a random
    input with the model's initial weights and compares the merge's output
    with the shortcut's ('exact' when bit-identical). Blocks start as the
    identity with --zero-init-residual (the last norm of each branch at 0) or
    with gate=rezero. Also prints how far the whole model's output is from its
    skip-only path (every residual branch dropped). Imports torch.

    Example: resdsl identity specs/cifar_resnet.res -m resnet56 --zero-init-residual
    """
    from resdsl.analysis.identity import identity_report
    from resdsl.backends.init import SCHEMES

    if init is not None and init not in SCHEMES:
        usage_error(f"unknown --init {init!r}", hint=f"--init is one of: {', '.join(SCHEMES)}")
    with reporting():
        graph = target.graph()  # spec errors first
        with _torch_errors(batch):
            report = identity_report(
                graph, zero_init_residual=zero_init_residual, init=init, seed=seed, batch=batch
            )
    if json:
        typer.echo(report.model_dump_json(indent=2))
        return
    print_identity(report, show_all=show_all)


def print_identity(r: IdentityReport, *, show_all: bool = False) -> None:
    """The ``identity`` table and summary."""
    table = Table(
        title=f"{r.model}: residual blocks at initialisation (init={r.init}, "
        f"zero_init_residual={'true' if r.zero_init_residual else 'false'}, seed {r.seed})",
        title_justify="left",
    )
    table.add_column("merge")
    table.add_column("shortcut")
    table.add_column("zeroed by")
    table.add_column("max |diff|", justify="right")
    table.add_column("rel. diff", justify="right")
    table.add_column("exact")
    for i in _rows(len(r.blocks), show_all):
        if i is None:
            table.add_row(*["..."] * 6)
            continue
        b = r.blocks[i]
        mechanism = (b.mechanism or "--").replace(f" {b.block}.", " ") if b.block else b.mechanism
        table.add_row(
            b.merge,
            b.shortcut.removesuffix(", gate=rezero"),
            mechanism or "--",
            f"{b.max_abs_diff:.3g}",
            f"{b.relative_diff:.3g}",
            "yes" if b.exact else "no",
        )
    if r.blocks:
        out.print(table)
        _not_shown(len(r.blocks), show_all)
    out.print(
        f"exact blocks: {r.exact_blocks} of {len(r.blocks)}; model vs skip-only path: "
        f"relative L2 distance {r.model_distance:.3g}, max |diff| {r.model_max_abs_diff:.3g}"
        + (" (bit-identical)" if r.model_exact else ""),
        markup=False,
    )
    for line in textwrap.wrap(r.explanation, 100, break_on_hyphens=False):
        out.print(line, markup=False)

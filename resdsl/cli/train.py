"""``resdsl train``, ``lesion``, ``degradation``: the skip-connection questions, answered by training.

Thin: the work is in :mod:`resdsl.training`. Ctrl-C stops training cleanly:
what was logged so far is printed (and plotted with ``-o``), and the command
exits 130. Under ``torchrun`` only rank 0 prints and writes files.

Exit codes, as for every command: 0 success, 1 an invalid spec, 2 bad usage
(including unreadable data, or data that does not fit the model's input),
130 interrupted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from resdsl.cli.analyze import JsonOpt, PlotOpt, _plot_format, _write_plot
from resdsl.cli.common import (
    AllowOutsideOpt,
    MaxNodesOpt,
    ModelOpt,
    ParamOpt,
    PlainOpt,
    SpecArg,
    app,
    err,
    load_spec,
    out,
    parse_params,
    reporting,
    usage_error,
)
from resdsl.semantics.elaborate import Limits

if TYPE_CHECKING:
    from resdsl.training.data import Dataset
    from resdsl.training.degradation import Degradation
    from resdsl.training.lesion import LesionReport
    from resdsl.training.loop import History, StepRecord
    from resdsl.training.schedule import TrainConfig

INTERRUPTED = 130
AUGMENTS = ("none", "crop", "crop-flip")

DataOpt = Annotated[
    str,
    typer.Option(
        "--data",
        help="'digits' (scikit-learn's 8x8 digits), a .npz file (arrays x, y), or an image folder "
        "(one sub-folder per class).",
    ),
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of the weights and of the batch order.")]
BatchOpt = Annotated[
    int, typer.Option("--batch-size", help="Examples per step (all processes).", min=1)
]
LrOpt = Annotated[float, typer.Option("--lr", help="Learning rate after the warm-up.", min=0.0)]
WarmupOpt = Annotated[
    float,
    typer.Option("--warmup", help="Epochs at the warm-up rate 0.01 (0: none).", min=0.0),
]
NoiseOpt = Annotated[
    float,
    typer.Option(
        "--label-noise",
        help="Replace this fraction of the labels by random ones (seeded).",
        min=0.0,
        max=1.0,
    ),
]
AugmentOpt = Annotated[
    str,
    typer.Option(
        "--augment",
        help="'crop-flip' (He et al.'s CIFAR augmentation: pad by 1/8, random crop, random "
        "mirror), 'crop' (no mirror) or 'none'. The batch errors logged are the augmented ones.",
    ),
]
ZeroInitResidualOpt = Annotated[
    bool,
    typer.Option(
        "--zero-init-residual",
        help="Start every residual branch at zero (its last norm's scale at 0; Goyal et al.).",
    ),
]
DeviceOpt = Annotated[
    str,
    typer.Option("--device", help="cpu (default), cuda, cuda:1, mps ... if this machine has it."),
]
ThreadsOpt = Annotated[
    int | None,
    typer.Option(
        "--threads", help="CPU threads for PyTorch (on a busy machine, 1 is often fastest).", min=1
    ),
]


def _config(
    steps: int,
    seed: int,
    batch_size: int,
    lr: float,
    warmup: float,
    augment: str = "none",
    zero_init_residual: bool = False,
) -> TrainConfig:
    from pydantic import ValidationError

    from resdsl.training.schedule import TrainConfig

    if augment not in AUGMENTS:
        usage_error(
            f"unknown --augment {augment!r}", hint=f"--augment is one of: {', '.join(AUGMENTS)}"
        )
    try:
        return TrainConfig(
            steps=steps,
            seed=seed,
            batch_size=batch_size,
            lr=lr,
            warmup_epochs=warmup,
            augment=augment,  # type: ignore[arg-type]  # checked above
            zero_init_residual=zero_init_residual,
        )
    except ValidationError as error:
        usage_error(
            f"bad training setting: {error.errors()[0]['loc'][0]}: {error.errors()[0]['msg']}"
        )


def _data(source: str, label_noise: float, seed: int) -> Dataset:
    from resdsl.training.data import load_data, with_label_noise

    data = load_data(source)
    return with_label_noise(data, label_noise, seed=seed) if label_noise else data


def _is_main() -> bool:
    from resdsl.training.distributed import world_from_env

    world = world_from_env()
    return world is None or world.is_main


def _threads(threads: int | None) -> None:
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


@contextmanager
def _stopping() -> Iterator[None]:
    """Ctrl-C outside the training loop (loading, compiling): a message and exit 130."""
    try:
        yield
    except KeyboardInterrupt:
        err.print("interrupted", markup=False)
        raise typer.Exit(INTERRUPTED) from None


@contextmanager
def _progress(total: int, show: bool) -> Iterator[Callable[[str, StepRecord | None], None]]:
    """A transient progress bar on a terminal's stderr; yields ``update(description, record)``."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    if not (show and err.is_terminal):
        yield lambda text, record: None
        return
    with Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task("", total=total)

        def update(text: str, record: StepRecord | None) -> None:
            if record is None:
                progress.update(task, description=text)
            else:
                progress.update(
                    task,
                    advance=1,
                    description=f"{text} loss {record.loss:.3f} error {record.error:.1%}",
                )

        yield update


def _finish(
    result: History | Degradation,
    json: bool,
    print_table: Callable[[], None],
    output: Path | None,
    draw: Callable[[Path], None],
) -> None:
    """Show a finished run: JSON or a table, the plot with -o, exit 130 if it was interrupted.

    Only rank 0 calls it, so a torchrun job prints and writes files once.
    """
    if json:
        typer.echo(result.model_dump_json(indent=2))
    else:
        print_table()
    if output is not None:
        _write_plot(output, draw)
    if result.interrupted:
        raise typer.Exit(INTERRUPTED)


# ---------------------------------------------------------------- train


@app.command()
def train(
    spec: SpecArg,
    data: DataOpt,
    steps: Annotated[int, typer.Option("--steps", help="Training steps (batches).", min=1)],
    model: ModelOpt = None,
    param: ParamOpt = None,
    plain: PlainOpt = False,
    seed: SeedOpt = 0,
    batch_size: BatchOpt = 128,
    lr: LrOpt = 0.1,
    warmup: WarmupOpt = 1.0,
    label_noise: NoiseOpt = 0.0,
    augment: AugmentOpt = "none",
    zero_init_residual: ZeroInitResidualOpt = False,
    device: DeviceOpt = "cpu",
    threads: ThreadsOpt = None,
    output: PlotOpt = None,
    json: JsonOpt = False,
    max_nodes: MaxNodesOpt = Limits().max_nodes,
    allow_outside: AllowOutsideOpt = False,
) -> None:
    """Train a model on small data with He et al.'s CIFAR recipe; log loss, error and layer norms.

    SGD, momentum 0.9, weight decay 1e-4, batch 128, He initialisation; the
    rate is 0.01 for the first epoch (--warmup), then --lr (0.1),
    divided by 10 at 50% and 75% of the steps. Symbolic input sizes (H, W)
    take the data's size; one-channel data is replicated to the model's
    channels. Prints the final training error and, for every convolution and
    linear layer, the gradient norm, weight norm and their ratio at the last
    step; --json prints every step's record; -o plots the curves. Under
    torchrun it trains with DistributedDataParallel. Imports torch.

    Example: resdsl train specs/cifar_resnet.res -m resnet20 --data digits --steps 168 -o curves.png
    """
    _threads(threads)
    fmt = _plot_format(output) if output is not None else None
    main = _is_main()
    config = _config(steps, seed, batch_size, lr, warmup, augment, zero_init_residual)
    with reporting(), _stopping():
        loaded = load_spec(spec, plain=plain, max_nodes=max_nodes, allow_outside=allow_outside)
        params = parse_params(loaded, param)
        dataset = _data(data, label_noise, seed)
        with _progress(steps, main and not json) as update:
            run = loaded.train(
                model,
                dataset,
                config=config,
                device=device,
                on_step=lambda record: update("training", record),
                **params,
            )
    history = run.history

    def draw(tmp: Path) -> None:
        from resdsl.training.plot import plot_history

        plot_history(history, tmp, format=fmt)

    if main:
        _finish(history, json, lambda: print_history(history), output, draw)


def print_history(h: History) -> None:
    """The last step's per-layer table, then the run's summary."""
    last = h.records[-1] if h.records else None
    if last is not None:
        table = Table(title=f"{h.model}: weighted layers at step {last.step}", title_justify="left")
        for column in ("layer", "grad norm", "weight norm", "ratio"):
            table.add_column(column, justify="left" if column == "layer" else "right")
        for name, layer in last.layers.items():
            table.add_row(
                name, f"{layer.grad_norm:.3g}", f"{layer.weight_norm:.3g}", f"{layer.ratio:.3g}"
            )
        out.print(table)
    done = len(h.records)
    out.print(
        f"{h.model} on {h.data} ({h.examples} examples): {done} of {h.config.steps} steps"
        + (" (interrupted by Ctrl-C)" if h.interrupted else ""),
        markup=False,
    )
    if last is not None:
        out.print(f"  last batch   loss {last.loss:.4f}, error {last.error:.2%}", markup=False)
    if h.final_error is not None:
        out.print(
            f"  training error  {h.final_error:.2%} (whole training set, eval mode)", markup=False
        )
    out.print(
        f"  CPU time     {h.cpu_seconds:.1f} s on {h.device}, {h.world_size} process(es)",
        markup=False,
    )


# ---------------------------------------------------------------- lesion


@app.command()
def lesion(
    spec: SpecArg,
    data: DataOpt,
    steps: Annotated[
        int, typer.Option("--steps", help="Training steps before the lesions.", min=1)
    ],
    model: ModelOpt = None,
    param: ParamOpt = None,
    seed: SeedOpt = 0,
    batch_size: BatchOpt = 128,
    lr: LrOpt = 0.1,
    warmup: WarmupOpt = 1.0,
    holdout: Annotated[
        float,
        typer.Option(
            "--holdout",
            help="Fraction of the data held out to measure errors on.",
            min=0.05,
            max=0.9,
        ),
    ] = 0.25,
    device: DeviceOpt = "cpu",
    threads: ThreadsOpt = None,
    json: JsonOpt = False,
    max_nodes: MaxNodesOpt = Limits().max_nodes,
    allow_outside: AllowOutsideOpt = False,
) -> None:
    """Train a model and its plain twin, then remove one block at a time (Veit et al. 2016).

    In the residual model each residual branch is removed in turn (its output
    replaced by zeros, so the merge passes the shortcut alone); in the plain
    twin each innermost block is replaced by the identity where its output has
    its input's shape (the others are listed as not removable). The errors are
    measured on --holdout of the data, held out from training. Residual
    networks degrade gracefully; plain ones break. Imports torch.

    Example: resdsl lesion specs/cifar_resnet.res -m resnet20 --data digits --steps 168
    """
    from resdsl.training.data import split
    from resdsl.training.fit import train_spec
    from resdsl.training.lesion import lesion_report

    _threads(threads)
    config = _config(steps, seed, batch_size, lr, warmup)
    reports: list[LesionReport] = []
    with reporting(), _stopping():
        loaded = load_spec(spec, max_nodes=max_nodes, allow_outside=allow_outside)
        params = parse_params(loaded, param)
        training, held_out = split(_data(data, 0.0, seed), holdout, seed=seed)
        for twin in (loaded, loaded.plain()):
            with _progress(steps, not json) as update:
                run = train_spec(
                    twin,
                    model,
                    training,
                    config,
                    params,
                    device=device,
                    on_step=lambda record: update("training", record),
                )
            if run.history.interrupted:
                raise KeyboardInterrupt
            name = run.history.model
            reports.append(
                lesion_report(
                    run.module, run.graph, _fit(held_out, run.data), device=device, name=name
                )
            )
    if json:
        typer.echo("[" + ",\n".join(r.model_dump_json(indent=2) for r in reports) + "]")
    else:
        print_lesions(reports[0], reports[1])


def _fit(held_out: Dataset, trained_on: Dataset) -> Dataset:
    from resdsl.training.data import adapt_channels

    return adapt_channels(held_out, trained_on.shape[0])


def print_lesions(residual: LesionReport, plain: LesionReport) -> None:
    """One row per block: the error change with the residual branch, or the plain block, removed."""
    plain_rows = {r.target.name: r for r in plain.rows}
    table = Table(
        title=f"Lesions on {residual.data}: change in error with one block removed",
        title_justify="left",
    )
    table.add_column("block")
    table.add_column(f"{residual.model}", justify="right")
    table.add_column(f"{plain.model}", justify="right")
    names = list(dict.fromkeys([r.target.name for r in residual.rows] + list(plain_rows)))
    residual_rows = {r.target.name: r for r in residual.rows}
    for name in names:
        table.add_row(name, _cell(residual_rows.get(name)), _cell(plain_rows.get(name)))
    out.print(table)
    for report in (residual, plain):
        changes = report.changes
        summary = (
            f"mean change {sum(changes) / len(changes):+.1%}, largest {max(changes):+.1%}"
            if changes
            else "nothing could be removed"
        )
        out.print(f"{report.model}: intact error {report.baseline:.1%}; {summary}", markup=False)
    for report in (residual, plain):
        for row in report.rows:
            if row.target.reason is not None:
                out.print(
                    f"  {report.model}: {row.target.name} not removed: {row.target.reason}",
                    markup=False,
                )


def _cell(row: Any) -> str:
    if row is None:
        return ""
    if row.change is None:
        return "n/a"
    return f"{row.change:+.1%}"


# ---------------------------------------------------------------- degradation


@app.command()
def degradation(
    data: DataOpt = "digits",
    steps: Annotated[int, typer.Option("--steps", help="Training steps per run.", min=1)] = 504,
    seeds: Annotated[
        int, typer.Option("--seeds", help="Seeds 0 .. N-1 for every model.", min=1)
    ] = 3,
    batch_size: BatchOpt = 128,
    lr: LrOpt = 0.1,
    warmup: WarmupOpt = 1.0,
    label_noise: NoiseOpt = 0.0,
    augment: AugmentOpt = "crop-flip",
    zero_init_residual: Annotated[
        bool,
        typer.Option(
            "--zero-init-residual/--no-zero-init-residual",
            help="Start every residual branch at zero (Goyal et al.); the default here.",
        ),
    ] = True,
    device: DeviceOpt = "cpu",
    threads: ThreadsOpt = None,
    output: PlotOpt = None,
    json: JsonOpt = False,
) -> None:
    """He et al.'s degradation experiment: plain-20/56 and ResNet-20/56 over several seeds.

    Trains the bundled plain20, plain56 (plain_resnet.res), resnet20 and
    resnet56 (cifar_resnet.res) with the same recipe as `resdsl train`, from
    each seed, and prints their training errors (over the last epoch's
    batches, and on the whole training set in eval mode); -o plots training
    error against steps, plain nets beside residual ones (as the paper's
    Fig. 6). The defaults are the setting where both halves of the figure
    show on digits (docs/training.md): 504 steps, He et al.'s augmentation
    and zero-initialised residual branches; plain-56 trains far worse than
    plain-20, and ResNet-56 at least as well as ResNet-20 (about 9
    CPU-minutes with --threads 1). Imports torch.

    Example: resdsl degradation --seeds 3 --threads 1 -o degradation.png
    """
    from resdsl.api import load
    from resdsl.syntax.loader import bundled_specs_dir
    from resdsl.training.degradation import MODELS, run_degradation

    _threads(threads)
    fmt = _plot_format(output) if output is not None else None
    config = _config(steps, 0, batch_size, lr, warmup, augment, zero_init_residual)
    main = _is_main()
    with reporting(), _stopping():
        dataset = _data(data, label_noise, 0)
        specs = {file: load(bundled_specs_dir() / file) for file, _ in MODELS}
        models = [(specs[file], name) for file, name in MODELS]
        with _progress(steps, main and not json) as update:
            current = [""]

            def start(name: str, seed: int) -> None:
                current[0] = f"{name} seed {seed}"
                update(current[0], None)

            result = run_degradation(
                models,
                dataset,
                config,
                range(seeds),
                device=device,
                on_run=start,
                on_step=lambda record: update(current[0], record),
            )

    def draw(tmp: Path) -> None:
        from resdsl.training.degradation import plot

        plot(result, tmp, format=fmt)

    if main:
        _finish(result, json, lambda: print_degradation(result), output, draw)


def print_degradation(result: Degradation) -> None:
    """Per model and seed the training error over the last epoch; the means and CPU time."""
    seeds = list(dict.fromkeys(r.seed for r in result.runs))
    config = result.config
    batches = "augmented batches" if config.augment != "none" else "batches"
    table = Table(
        title=f"Training error on {result.data} after {config.steps} steps (batch "
        f"{config.batch_size}): mean over the last epoch's {batches}",
        title_justify="left",
    )
    table.add_column("model")
    for seed in seeds:
        table.add_column(f"seed {seed}", justify="right")
    table.add_column("mean", justify="right")
    table.add_column("whole set, eval", justify="right")
    table.add_column("CPU s", justify="right")
    for name in result.models:
        runs = {r.seed: r for r in result.runs if r.model == name}
        cells = [f"{runs[s].last_epoch_error:.1%}" if s in runs else "" for s in seeds]
        last = result.mean_last_epoch_error(name)
        final = result.mean_final_error(name)
        cpu = sum(r.cpu_seconds for r in runs.values())
        table.add_row(
            name,
            *cells,
            f"{last:.1%}" if last is not None else "",
            f"{final:.1%}" if final is not None else "",
            f"{cpu:.0f}",
        )
    out.print(table)
    out.print(
        "whole set, eval: the mean over seeds of the error on the whole training set, "
        "not augmented, in eval mode, after the last step",
        markup=False,
    )
    if result.interrupted:
        out.print("interrupted by Ctrl-C: the table holds the runs so far", markup=False)


__all__ = ["degradation", "lesion", "train"]

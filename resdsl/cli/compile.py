"""``resdsl compile``: check a spec, build the PyTorch module, smoke-test it, write it out.

torch is imported only when the command runs, so ``check``, ``summary`` and
``render`` stay torch-free.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from resdsl.api import PER_INSTANCE_NOTE, summarize
from resdsl.backends.init import SCHEMES
from resdsl.cli.check import summary_lines
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
    import torch

OutputOpt = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        help="Write the standalone PyTorch source here (it imports only torch).",
        show_default=False,
    ),
]
InitOpt = Annotated[
    str | None,
    typer.Option(
        "--init",
        help="Initialisation scheme: 'default' (PyTorch's) or 'kaiming' (torchvision's). "
        "Overrides the model's own 'init' parameter.",
        show_default=False,
    ),
]
ZeroInitOpt = Annotated[
    bool | None,
    typer.Option(
        "--zero-init-residual/--no-zero-init-residual",
        help="Zero the last norm layer of every residual branch (torchvision's "
        "zero_init_residual). Overrides the model's own parameter.",
        show_default=False,
    ),
]
ExportOpt = Annotated[
    Path | None,
    typer.Option(
        "--export",
        help="Also write a torch.export program (eval mode, sample input size) here.",
        show_default=False,
    ),
]
OnnxOpt = Annotated[
    Path | None,
    typer.Option(
        "--onnx",
        help="Also write an ONNX model (eval mode, sample input size); needs resdsl[onnx].",
        show_default=False,
    ),
]


PerInstanceOpt = Annotated[
    bool,
    typer.Option(
        "--per-instance",
        help="With -o, write the per-instance source (one class per block instance, "
        "its numbers written in, and a model class that takes no arguments) instead of "
        "the parametric module (docs/pysource.md).",
    ),
]
ForwardOpt = Annotated[
    bool,
    typer.Option(
        "--forward/--no-forward",
        help="Run one forward pass on a sample input (batch 1, the sample size) as a smoke "
        "test. --no-forward skips it: for big inputs, or when only the source (-o) is wanted.",
    ),
]


@spec_command("compile", plain="output")
def compile_(
    target: Target,
    output: OutputOpt = None,
    init: InitOpt = None,
    zero_init_residual: ZeroInitOpt = None,
    forward: ForwardOpt = True,
    export: ExportOpt = None,
    onnx: OnnxOpt = None,
    per_instance: PerInstanceOpt = False,
) -> None:
    """Compile a model to PyTorch: check it, build it, run one forward pass on a sample input.

    With -o and no --model, write the whole file as one module: a class per
    block and model taking their parameters, and a function per model
    (docs/pysource.md); with --model, the same module cut down to that
    model's function and the classes it needs. A model is built and run
    first (a file of several models without --model is checked on the meta
    device instead). Where the spec cannot be written with parameters, and
    with --param, --plain, --init, --zero-init-residual or --per-instance,
    -o writes the per-instance source: a class named after the model that
    takes no arguments. An existing file is replaced only on success, a
    symbolic link is written through, and anything but a regular file (a
    directory, /dev/null, a FIFO) is refused before the build starts.
    --no-forward skips the forward pass. Exits 0 on success, 1 for an invalid
    spec or a failed build, 2 for bad usage.
    """
    if init is not None and init not in SCHEMES:
        usage_error(f"--init {init!r} is not a scheme", hint=f"choose one of: {', '.join(SCHEMES)}")
    if onnx is not None and importlib.util.find_spec("onnx") is None:
        usage_error(
            "--onnx needs the 'onnx' package, which is not installed",
            hint="install resdsl[onnx]  (pip install 'resdsl[onnx]')",
        )
    for path in (output, export, onnx):
        if path is not None:
            output_path(path)  # before the build: a bad -o costs no time
    if output is not None and not per_instance and _whole_file(target, init, zero_init_residual):
        with reporting():
            text = target.load().module_source()
        write_atomic(output, lambda tmp: _write_text(tmp, text))
        out.print(f"  wrote        {output} (every model of {target.path.name})")
        return
    with reporting():
        graph = target.graph()
        # Build first: nothing is written unless the model builds (and runs).
        from resdsl.backends.build import compile_graph, sample_input

        module = compile_graph(graph, init=init, zero_init_residual=zero_init_residual)
    for line in summary_lines(str(target.path), summarize(graph)):
        out.print(line)
    x = sample_input(graph, 1) if forward or export or onnx else None
    if forward and x is not None:
        _smoke_test(module, x)
    code: str = type(module).code  # type: ignore[attr-defined]
    written = f"class {type(module).__name__}"
    if output is not None and not per_instance and _parametric(target, init, zero_init_residual):
        code, written = _parametric_or(code, written, target)
    if output is not None:
        write_atomic(output, lambda tmp: _write_text(tmp, code))
        out.print(f"  wrote        {output} ({written})")
    if x is not None:
        _exports(module, x, export, onnx)


def _whole_file(target: Target, init: str | None, zero: bool | None) -> bool:
    """Write the whole file as one module: -o without --model, on a file of several models.

    Options that choose or change one model (--param, --plain, --init,
    --zero-init-residual) keep the one-model source.
    """
    if target.model is not None or target.param or target.plain or init or zero is not None:
        return False
    with reporting():
        return len(target.load().models) > 1


def _parametric(target: Target, init: str | None, zero: bool | None) -> bool:
    """-o for one model, as the file defines it: no option that changes the model."""
    return not (target.param or target.plain or init or zero is not None)


def _parametric_or(code: str, written: str, target: Target) -> tuple[str, str]:
    """The model's part of the file's parametric module where it has one, else ``code``.

    Returns the text and what it defines, for the closing line.
    """
    with reporting():
        spec = target.load()
        text = spec.module_source(target.model)  # no --model: a file of one model, whole
    if text.startswith(PER_INSTANCE_NOTE):
        return code, written
    return text, f"function {spec.model_name(target.model)}"


def _smoke_test(module: torch.nn.Module, x: torch.Tensor) -> None:
    """One forward pass in eval mode, timed and printed; a failure is a bug report."""
    import torch

    module.eval()
    try:
        with torch.no_grad():
            start = time.perf_counter()
            y = module(x)
            elapsed = time.perf_counter() - start
    except Exception as error:  # a checked spec that fails to run is a bug in resdsl
        _failed("the forward pass on a sample input failed", error)
    out.print(
        f"  forward      {_shape(x)} -> {_shape(y)} in {elapsed * 1000:.1f} ms "
        "(batch 1, eval mode, no grad)"
    )


def _exports(
    module: torch.nn.Module, x: torch.Tensor, export: Path | None, onnx: Path | None
) -> None:
    """``--export`` and ``--onnx``: each traces the module at the sample input."""
    import torch

    module.eval()
    if export is not None:
        try:
            program = torch.export.export(module, (x,))
        except Exception as error:
            _failed("torch.export could not export the model", error)
        write_atomic(export, lambda tmp: _save_program(program, tmp))
        out.print(f"  exported     {export} (torch.export)")
    if onnx is not None:
        try:
            write_atomic(onnx, lambda tmp: _onnx_export(module, x, tmp))
        except typer.Exit:
            raise
        except Exception as error:
            _failed("ONNX export failed", error)
        out.print(f"  exported     {onnx} (ONNX)")


def _write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def _save_program(program: torch.export.ExportedProgram, path: Path) -> None:
    import io

    import torch

    buffer = io.BytesIO()  # a buffer: torch.export.save wants a .pt2 name for paths
    torch.export.save(program, buffer)
    path.write_bytes(buffer.getvalue())


def _onnx_export(module: torch.nn.Module, x: torch.Tensor, path: Path) -> None:
    import torch

    torch.onnx.export(module, (x,), str(path))


def _shape(t: torch.Tensor | dict[str, torch.Tensor]) -> str:
    if isinstance(t, dict):  # a model with `output` lines returns its outputs by name
        return "{" + ", ".join(f"{k}: {_shape(v)}" for k, v in t.items()) + "}"
    return "[" + ", ".join(str(d) for d in t.shape) + "]"


def _failed(what: str, error: Exception) -> NoReturn:
    err.print(f"error: {what}: {type(error).__name__}: {error}", markup=False)
    err.print(
        "  hint: the spec checked, so this is a bug in resdsl; please report it", markup=False
    )
    raise typer.Exit(1)

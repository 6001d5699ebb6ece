"""What every command shares: the app, loading a spec from options, printing errors.

Exit codes: 0 success, 1 an invalid spec, 2 bad usage (unknown option, missing
file, unknown model or parameter, bad ``-p`` value).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console, ConsoleDimensions

from resdsl.api import Spec, load, value_from_text
from resdsl.diagnostics import ResdslError, render_all
from resdsl.semantics.elaborate import Limits
from resdsl.version import __version__

if TYPE_CHECKING:
    import networkx as nx

app = typer.Typer(
    name="resdsl",
    help="Check, compile, draw and analyse .res architecture specs (ResNets, U-Nets, ...).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"resdsl {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Check, compile, draw and analyse .res architecture specs (ResNets, U-Nets, ...)."""


#: Width tables are laid out in when the output is not a terminal (a pipe, a file):
#: wide enough that rich never cuts or wraps a layer name.
PIPE_WIDTH = 10_000


class LiteralConsole(Console):
    """A console that prints user text literally and never cuts piped tables.

    Spec text reaches the console everywhere (quoted source lines, layer and
    symbol names, file names), so rich's markup (``[bold]``) and emoji codes
    (``:x:``) are off. Output that is not a terminal gets :data:`PIPE_WIDTH`
    columns, so a table's names survive ``| less`` or ``> file`` whole.
    """

    def __init__(self, *, stderr: bool = False, **options: Any) -> None:
        super().__init__(
            stderr=stderr, markup=False, emoji=False, highlight=False, soft_wrap=True, **options
        )

    @property
    def size(self) -> ConsoleDimensions:
        dimensions = super().size
        if self.is_terminal:
            return dimensions
        return ConsoleDimensions(PIPE_WIDTH, dimensions.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self.width, self.height = new_size


out = LiteralConsole()
err = LiteralConsole(stderr=True)

#: Diagnostic codes that mean the command line, not the spec, is wrong.
USAGE_CODES = frozenset(
    {
        "no-file",
        "file-too-large",
        "encoding",
        "choose-model",
        "unknown-model",
        "unknown-parameter",
        "alias-fixed",
        "missing-parameter",
        "bad-param",
        "usage",
    }
)

SpecArg = Annotated[Path, typer.Argument(help="The .res spec file.", show_default=False)]
ModelOpt = Annotated[
    str | None,
    typer.Option("--model", "-m", help="The model to use (default: the file's only model)."),
]
ParamOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--param",
        "-p",
        help="Set a model parameter or an input size: -p depths=[2,2,2,2] -p H=256.",
        metavar="NAME=VALUE",
    ),
]
PlainOpt = Annotated[
    bool,
    typer.Option("--plain", help="Use the plain twin: the same model with every skip removed."),
]
MaxNodesOpt = Annotated[
    int, typer.Option("--max-nodes", help="Stop with an error past this many graph nodes.", min=1)
]
AllowOutsideOpt = Annotated[
    bool,
    typer.Option("--allow-outside", help="Let 'use' read files outside the spec's directory."),
]


#: ``--max-nodes`` when not given.
MAX_NODES = Limits().max_nodes


@dataclass(frozen=True)
class Target:
    """The spec a command works on, as the options every such command shares name it.

    Built by :func:`spec_command` from the spec argument, ``--model``,
    ``--param``, ``--plain`` (where the command has it), ``--max-nodes`` and
    ``--allow-outside``.
    """

    path: Path
    model: str | None = None
    param: tuple[str, ...] = ()
    plain: bool = False
    max_nodes: int = MAX_NODES
    allow_outside: bool = False

    def load(self) -> Spec:
        """The spec (its plain twin with ``--plain``); raises :class:`ResdslError`."""
        return load_spec(
            self.path, plain=self.plain, max_nodes=self.max_nodes, allow_outside=self.allow_outside
        )

    def params(self, spec: Spec) -> dict[str, Any]:
        """The ``-p`` values, parsed against ``spec``."""
        return parse_params(spec, list(self.param))

    def graph(self) -> nx.DiGraph:
        """The checked graph of the chosen model; raises :class:`ResdslError`."""
        spec = self.load()
        return spec.graph(self.model, **self.params(spec))


_KEYWORD = inspect.Parameter.KEYWORD_ONLY


def _option(
    name: str, annotation: Any, default: Any = inspect.Parameter.empty
) -> inspect.Parameter:
    return inspect.Parameter(name, _KEYWORD, default=default, annotation=annotation)


_LEADING = [
    _option("spec", SpecArg),
    _option("model", ModelOpt, None),
    _option("param", ParamOpt, None),
]
_PLAIN = _option("plain", PlainOpt, False)
_TRAILING = [
    _option("max_nodes", MaxNodesOpt, MAX_NODES),
    _option("allow_outside", AllowOutsideOpt, False),
]


def spec_command(
    name: str | None = None, *, plain: str | None = None
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register ``def command(target: Target, ...own options)`` as a command on one spec.

    The command line gets the shared options around the command's own: the
    spec file, ``--model`` and ``--param`` first, ``--max-nodes`` and
    ``--allow-outside`` last, and ``--plain`` where ``plain`` says: ``"first"``
    (before the command's own options), ``"last"`` (after them), or the name of
    the own option it follows; None leaves it out. They reach the command as
    one :class:`Target`.
    """

    def register(command: Callable[..., None]) -> Callable[..., None]:
        own = list(inspect.signature(command, eval_str=True).parameters.values())[1:]
        names = [p.name for p in own]
        if plain is None:
            middle = own
        else:
            at = {"first": 0, "last": len(own)}.get(plain)
            at = names.index(plain) + 1 if at is None else at
            middle = [*own[:at], _PLAIN, *own[at:]]
        parameters = [*_LEADING, *(p.replace(kind=_KEYWORD) for p in middle), *_TRAILING]

        @functools.wraps(command)
        def run(**options: Any) -> None:
            shared = {
                p.name: options.pop(p.name)
                for p in [*_LEADING, _PLAIN, *_TRAILING]
                if p.name in options
            }
            target = Target(shared.pop("spec"), param=tuple(shared.pop("param") or ()), **shared)
            command(target, **options)

        run.__signature__ = inspect.Signature(parameters, return_annotation=None)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in parameters}
        app.command(name)(run)
        return run

    return register


def fail(error: ResdslError) -> NoReturn:
    """Print diagnostics to stderr and exit 1 (spec) or 2 (usage)."""
    err.print(render_all(error.diagnostics), markup=False)
    usage = all(d.code in USAGE_CODES for d in error.diagnostics)
    raise typer.Exit(2 if usage else 1)


def usage_error(message: str, hint: str | None = None) -> NoReturn:
    fail(ResdslError.single("usage", message, hint=hint))


@contextmanager
def reporting() -> Iterator[None]:
    """Turn a ResdslError into printed diagnostics and the right exit code."""
    try:
        yield
    except ResdslError as error:
        fail(error)


def load_spec(
    path: Path,
    *,
    plain: bool = False,
    max_nodes: int = Limits().max_nodes,
    allow_outside: bool = False,
) -> Spec:
    spec = load(path, allow_outside=allow_outside, limits=Limits(max_nodes=max_nodes))
    return spec.plain() if plain else spec


def parse_params(spec: Spec, items: list[str] | None) -> dict[str, Any]:
    """``-p name=value`` options, each value parsed as a spec expression."""
    params: dict[str, Any] = {}
    for item in items or []:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise ResdslError.single(
                "bad-param",
                f"-p {item!r}: expected NAME=VALUE",
                hint="for example: -p depths=[2,2,2,2] -p num_classes=10 -p H=256",
            )
        try:
            params[name] = value_from_text(text, spec, name)
        except ResdslError as error:
            raise ResdslError(
                [d if d.code in USAGE_CODES else _as_usage(d) for d in error.diagnostics]
            ) from None
    return params


def _as_usage(d: Any) -> Any:
    from dataclasses import replace

    return replace(d, code="bad-param")


def output_path(path: Path) -> Path:
    """Where ``-o PATH`` writes, checked before any slow work; a usage error if it cannot.

    A symbolic link is written through, as ``>`` in a shell would: its target
    is replaced and the link stays. Only a regular file is ever replaced; a
    directory, device (``/dev/null``), FIFO or socket is refused, and so is a
    missing or unwritable directory or an over-long name. Returns the path to
    replace (the link's target for a link).

    >>> output_path(Path("model.py")) == Path.cwd() / "model.py"
    True
    """
    try:
        destination = Path(os.path.realpath(path))
        directory = destination.parent
        _check_name_length(path, destination)
        if not directory.is_dir():
            usage_error(f"cannot write {path}: directory {_parent(path)} does not exist")
        if destination.exists():
            mode = destination.stat().st_mode
            if stat.S_ISDIR(mode):
                usage_error(f"cannot write {path}: it is a directory")
            if not stat.S_ISREG(mode):
                usage_error(
                    f"cannot write {path}: it is not a regular file (a device, FIFO or socket)",
                    hint="resdsl only writes regular files; give a file name",
                )
        if not os.access(directory, os.W_OK | os.X_OK):
            usage_error(f"cannot write {path}: directory {_parent(path)} is not writable")
    except OSError as error:
        usage_error(f"cannot write {path}: {error.strerror or error}")
    return destination


def _parent(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def _check_name_length(path: Path, destination: Path) -> None:
    """An over-long file name as a message rather than the OS's ``File name too long``."""
    try:
        limit = os.pathconf(destination.parent, "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    if len(os.fsencode(destination.name)) > limit:
        usage_error(
            f"cannot write {str(path)[:60]}...: the file name is longer than {limit} bytes",
            hint="choose a shorter file name",
        )


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Write a file through a temporary file in the same directory, then rename it.

    ``write`` receives the temporary path. The data reach the disk (fsync)
    before the rename, so a crash leaves the old file or the new one, never a
    torn one. On any failure, an interruption included, the destination is
    left untouched and the temporary file removed; a path that cannot be
    written (see :func:`output_path`) is a usage error (exit 2), never a
    traceback. A replaced file keeps its permissions.
    """
    destination = output_path(path)
    try:
        mode = destination.stat().st_mode & 0o777 if destination.exists() else _default_mode()
        fd, tmp_name = tempfile.mkstemp(prefix=".resdsl-", suffix=".tmp", dir=destination.parent)
    except OSError as error:
        usage_error(f"cannot write {path}: {error.strerror or error}")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.chmod(tmp, mode)
        _fsync(tmp)
        os.replace(tmp, destination)
    except OSError as error:
        usage_error(f"cannot write {path}: {error.strerror or error}")
    finally:
        tmp.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # not every file system syncs a directory
        _fsync(destination.parent)


def _default_mode() -> int:
    """The mode a plain ``open()`` gives a new file: 0o666 less the umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _fsync(path: Path) -> None:
    """Flush a file's (or a directory's) data to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

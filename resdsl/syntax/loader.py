"""Loading a spec: reading files, following ``use``, collecting definitions.

``use`` paths are relative to the file that says them. They may not leave the
directory tree of the spec being loaded (no absolute paths, no ``..`` above its
root) unless the caller allows it; the bundled spec library is also searched,
so ``use "resnet.res"`` works from anywhere. Each file is loaded once, and a
``use`` cycle is an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from resdsl.diagnostics import Collector, Diagnostic, ResdslError, did_you_mean
from resdsl.ops import get_layer
from resdsl.source import SourceFile, Span, UnreadableSource, read_source_text
from resdsl.syntax import ast
from resdsl.syntax.parse import parse

MAX_USE_DEPTH = 64
"""Files reached through a chain of `use`, at most (each link is a nested load)."""

#: The longest file or directory name most file systems accept.
MAX_NAME_BYTES = 255


def _is_file(path: Path) -> bool:
    """Whether ``path`` names a file (of any kind); False for any OS error, not a traceback."""
    try:
        return path.exists() and not path.is_dir()
    except OSError:
        return False


def bundled_specs_dir() -> Path:
    """The spec library shipped with the package (``specs/`` in a checkout)."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "specs", here.parent / "specs"):
        if candidate.is_dir():
            return candidate
    return here / "specs"


@dataclass
class Program:
    """Every definition reachable from a root file, by name."""

    root: SourceFile
    blocks: dict[str, ast.BlockDef] = field(default_factory=dict)
    models: dict[str, ast.ModelDef | ast.ModelAlias] = field(default_factory=dict)
    root_models: list[str] = field(default_factory=list)
    files: list[SourceFile] = field(default_factory=list)


def load_file(path: str | Path, *, allow_outside: bool = False) -> Program:
    """Load a spec file and everything it uses.

    Every file, the root and each ``use``d one, must be a regular UTF-8 file of
    at most 10 MiB (:func:`resdsl.source.read_source_text`).
    """
    p = Path(path)
    display = str(path)
    try:
        text = read_source_text(p)
        base = p.resolve().parent
    except UnreadableSource as err:
        raise ResdslError.single(err.code, f"{display}: {err.reason}") from None
    except OSError as err:
        raise ResdslError.single("no-file", f"{display}: {err.strerror or err}") from None
    return _load(text, display, base, base, allow_outside)


def load_text(
    text: str,
    filename: str = "<string>",
    *,
    base: Path | None = None,
    allow_outside: bool = False,
) -> Program:
    """Load spec text. ``base`` is the directory its ``use`` paths are relative to.

    With no ``base``, ``use`` can only reach the bundled spec library.
    """
    root_dir = base.resolve() if base is not None else None
    return _load(text, filename, root_dir, base, allow_outside)


def _load(
    text: str, filename: str, root_dir: Path | None, base: Path | None, allow_outside: bool
) -> Program:
    """`load_text`, given ``base`` resolved as ``root_dir`` (a file's directory is already)."""
    loader = _Loader(root_dir, allow_outside)
    root = SourceFile(filename, text)
    program = Program(root)
    loader.load(root, base, program, is_root=True, stack=())
    _check_aliases(program, loader.collector)
    loader.collector.raise_if_errors()
    return program


def _check_aliases(program: Program, collector: Collector) -> None:
    """Every alias must name a model: a broken one is the file's error, whichever model is used.

    The elaborator follows the alias a command uses (and finds cycles);
    checking every target here means ``check -m a`` cannot pass a file whose
    ``model r50 = resnett(...)`` is wrong.
    """
    for model in program.models.values():
        if isinstance(model, ast.ModelAlias) and model.target not in program.models:
            collector.error(
                "unknown-alias-target",
                f"unknown model '{model.target}'",
                model.target_span,
                hint=did_you_mean(model.target, program.models),
            )


class _Loader:
    def __init__(self, root_dir: Path | None, allow_outside: bool) -> None:
        self.root_dir = root_dir
        self.allow_outside = allow_outside
        self.collector = Collector()
        self.loaded: set[Path] = set()
        self.where: dict[str, Span] = {}

    def load(
        self,
        source: SourceFile,
        directory: Path | None,
        program: Program,
        *,
        is_root: bool,
        stack: tuple[Path, ...],
    ) -> None:
        try:
            spec = parse(source)
        except ResdslError as err:
            self.collector.extend(err.diagnostics)
            return
        program.files.append(source)
        for use in spec.uses:
            self._use(use, directory, program, stack)
        for definition in spec.definitions:
            self._define(definition, program, is_root)

    def _use(
        self, use: ast.Use, directory: Path | None, program: Program, stack: tuple[Path, ...]
    ) -> None:
        resolved = self._resolve(use, directory)
        if resolved is None:
            return
        if resolved in stack:
            chain = " -> ".join(p.name for p in (*stack, resolved))
            self.collector.error("use-cycle", f"'use' cycle: {chain}", use.span)
            return
        if resolved in self.loaded:
            return
        if len(stack) >= MAX_USE_DEPTH:
            self.collector.error(
                "too-deep",
                f"files 'use' files more than {MAX_USE_DEPTH} deep here",
                use.span,
                hint="use the files you need from one file instead of through a chain",
            )
            return
        self.loaded.add(resolved)
        if resolved.suffix != ".res":
            self.collector.error(
                "use-path",
                f"'use \"{use.path}\"' is not a .res file",
                use.span,
                hint="'use' reads only spec files, whose names end in .res",
            )
            return
        try:
            text = read_source_text(resolved)
        except UnreadableSource as err:
            self.collector.error(
                "use-unreadable", f"cannot read '{use.path}': {err.reason}", use.span
            )
            return
        display = self._display(resolved)
        self.load(
            SourceFile(display, text),
            resolved.parent,
            program,
            is_root=False,
            stack=(*stack, resolved),
        )

    def _display(self, resolved: Path) -> str:
        for base in (self.root_dir, bundled_specs_dir().resolve()):
            if base is not None and resolved.is_relative_to(base):
                rel = resolved.relative_to(base)
                return str(rel) if base == self.root_dir else f"<resdsl>/{rel}"
        return str(resolved)

    def _resolve(self, use: ast.Use, directory: Path | None) -> Path | None:
        raw = use.path
        pure = PurePosixPath(raw.replace("\\", "/"))
        if not raw or "\x00" in raw:
            self.collector.error("use-path", "empty or invalid 'use' path", use.span)
            return None
        if any(len(part.encode("utf-8")) > MAX_NAME_BYTES for part in pure.parts):
            self.collector.error(
                "use-path",
                f"a name in this 'use' path is longer than {MAX_NAME_BYTES} bytes",
                use.span,
                hint="file systems refuse such names; check the path",
            )
            return None
        if pure.is_absolute() and not self.allow_outside:
            self.collector.error(
                "use-outside",
                f"'use \"{raw}\"' is an absolute path",
                use.span,
                hint="use a path relative to this file, inside the spec's directory",
            )
            return None
        candidates: list[tuple[Path, Path | None]] = []
        if directory is not None:
            candidates.append(((directory / raw).resolve(), self.root_dir))
        bundled = bundled_specs_dir().resolve()
        candidates.append(((bundled / raw).resolve(), bundled))
        outside = False
        for path, boundary in candidates:
            allowed = self.allow_outside or boundary is None or path.is_relative_to(boundary)
            if not allowed:
                outside = True
                continue
            if _is_file(path):
                return path
        if outside:
            self.collector.error(
                "use-outside",
                f"'use \"{raw}\"' leaves the directory of the spec",
                use.span,
                hint="a spec may only use files inside its own directory tree "
                "or the bundled library",
            )
        else:
            self.collector.error(
                "use-missing",
                f"cannot find '{raw}'",
                use.span,
                hint="paths are relative to the file that says 'use'; "
                "the bundled library is searched too",
            )
        return None

    def _define(self, d: ast.Definition, program: Program, is_root: bool) -> None:
        kind = "block" if isinstance(d, ast.BlockDef) else "model"
        if isinstance(d, ast.BlockDef) and get_layer(d.name) is not None:
            self.collector.error(
                "shadows-builtin",
                f"block '{d.name}' has the name of a built-in layer",
                d.name_span,
                hint="choose another name for the block",
            )
            return
        if d.name in self.where:
            first = self.where[d.name]
            self.collector.add(
                Diagnostic(
                    "duplicate-definition",
                    f"'{d.name}' is defined twice",
                    d.name_span,
                    notes=(f"first defined at {first}",),
                )
            )
            return
        self.where[d.name] = d.name_span
        if kind == "block":
            assert isinstance(d, ast.BlockDef)
            program.blocks[d.name] = d
        else:
            assert isinstance(d, ast.ModelDef | ast.ModelAlias)
            program.models[d.name] = d
            if is_root:
                program.root_models.append(d.name)

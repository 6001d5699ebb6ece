"""The public Python API: :func:`load`, :func:`loads` and :class:`Spec`.

>>> spec = loads('''
... model tiny(width: int = 8) {
...     input [3, H=32, W=32]
...     conv1: conv(width, 3, padding=1)
...     act: relu
...     skip conv1 -> act (add)
... }
... ''')
>>> spec.models
['tiny']
>>> s = spec.summary()
>>> s.params, s.output_shape
(224, (8, 32, 32))
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import networkx as nx
from pydantic import BaseModel, ConfigDict

from resdsl.diagnostics import Diagnostic, ResdslError
from resdsl.ir.dims import SizeDomain, SymDim, describe
from resdsl.passes import run_passes
from resdsl.passes.costs import first_over
from resdsl.passes.valid_sizes import SizeRule
from resdsl.semantics.elaborate import Limits, elaborate
from resdsl.semantics.expr import BlockRef
from resdsl.syntax import ast
from resdsl.syntax.loader import Program, load_file, load_text

if TYPE_CHECKING:
    import graphviz
    import torch

    from resdsl.analysis.compare import Comparison
    from resdsl.analysis.gradflow import GradFlowReport
    from resdsl.analysis.identity import IdentityReport
    from resdsl.analysis.paths import PathReport
    from resdsl.training import Dataset, StepRecord, TrainConfig, TrainedModel


class LayerRow(NamedTuple):
    """One row of a summary table: a node, its op, output shape and costs.

    ``shape`` holds the sizes at the sample input (symbolic sizes are
    :class:`~resdsl.ir.dims.SymDim` ints); ``shape_text`` writes them symbolically.
    """

    name: str
    op: str
    depth: int
    shape: tuple[int, ...]
    params: int
    macs: int
    #: The shape written symbolically, in a form that holds at every valid input size.
    text: str = ""

    @property
    def shape_text(self) -> str:
        return self.text or shape_text(self.shape)


class Summary(BaseModel):
    """What ``resdsl check`` reports about a model."""

    model_config = ConfigDict(frozen=True)
    model: str
    params: int
    macs: int
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    input_text: str
    output_text: str
    symbols: dict[str, int]
    valid_sizes: dict[str, SizeRule]
    layers: list[LayerRow]

    @property
    def sample_text(self) -> str:
        """``3×224×224``: the input shape the concrete sizes and the MACs are taken at."""
        return "×".join(str(d) for d in self.input_shape)

    def header_lines(self) -> list[str]:
        """The totals, as ``resdsl check`` prints them (after its first line)."""
        from resdsl.analysis.tables import format_macs
        from resdsl.passes.valid_sizes import describe_rules

        return [
            f"  parameters   {self.params:,}",
            f"  MACs         {format_macs(self.macs)}  (batch 1, input {self.sample_text})",
            f"  input        {self.input_text}",
            f"  output       {self.output_text}",
            f"  valid sizes  {describe_rules(self.valid_sizes) or 'fixed input size'}",
        ]

    def table(self) -> tuple[list[str], list[list[str]]]:
        """The per-layer table's headers and rows (the ``at ...`` column with symbolic sizes)."""
        concrete = bool(self.symbols)
        headers = ["layer", "op", "output shape"]
        headers += [f"at {self.sample_text}"] if concrete else []
        headers += ["params", "MACs"]
        rows = []
        for row in self.layers:
            cells = [row.name, row.op, row.shape_text]
            cells += [_concrete_text(row.shape)] if concrete else []
            cells += [f"{row.params:,}" if row.params else "--"]
            cells += [f"{row.macs:,}" if row.macs else "--"]
            rows.append(cells)
        return headers, rows

    def to_json(self) -> str:
        """The summary as JSON: totals, valid sizes, and one object per layer.

        Shapes are at the sample size (``shape``) and written symbolically
        (``shape_text``); valid sizes are rules with a sentence each.
        """
        import json

        layers = [
            {
                "name": r.name,
                "op": r.op,
                "depth": r.depth,
                "shape": [int(d) for d in r.shape],
                "shape_text": r.shape_text,
                "params": r.params,
                "macs": r.macs,
            }
            for r in self.layers
        ]
        data = self.model_dump(mode="json", exclude={"layers"}) | {"layers": layers}
        return json.dumps(data, indent=2)

    def __repr__(self) -> str:
        from resdsl.analysis.tables import format_macs

        return (
            f"<Summary {self.model}: {self.params:,} parameters, {format_macs(self.macs)} MACs, "
            f"input {self.input_text}, output {self.output_text}, {len(self.layers)} layers>"
        )

    def __str__(self) -> str:
        """The totals and the per-layer table, as plain text.

        >>> print(loads("model m { input [3, 8, 8]; c: conv(4, 3) }").summary())
        model m
          parameters   112
          MACs         3.8880 K  (batch 1, input 3×8×8)
          input        [3, 8, 8]
          output       [4, 6, 6]
          valid sizes  fixed input size
        <BLANKLINE>
        layer  op    output shape  params  MACs
        -----  ----  ------------  ------  -----
        c      conv  [4, 6, 6]        112  3,888
        """
        from resdsl.analysis.tables import text_table

        headers, rows = self.table()
        right = {len(headers) - 2, len(headers) - 1}
        return "\n".join(
            [f"model {self.model}", *self.header_lines(), "", text_table(headers, rows, right)]
        )

    def _repr_html_(self) -> str:
        """The per-layer table for Jupyter, with the totals in its caption."""
        from resdsl.analysis.tables import html_table

        headers, rows = self.table()
        right = {len(headers) - 2, len(headers) - 1}
        totals = [line.strip() for line in self.header_lines()]
        caption = f"model {self.model}: " + "; ".join(" ".join(t.split()) for t in totals)
        return html_table(headers, rows, right, caption=caption)


def _concrete_text(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(int(d)) for d in shape) + "]"


def shape_text(shape: tuple[int, ...], domain: Mapping[str, SizeDomain] | None = None) -> str:
    """``[64, H/4, W/4]``: a shape with symbolic sizes written symbolically.

    With ``domain`` (a graph's ``valid_sizes``), each size is written in a
    form that holds at every valid input size (``2*ceil(H/2)``).
    """
    return "[" + ", ".join(describe(d, domain) for d in shape) + "]"


class Spec:
    """A loaded spec file: its models, and everything resdsl can do with them.

    Graphs returned by :meth:`graph` are fresh for each call; treat their node
    data as read-only values.
    """

    def __init__(self, program: Program, *, plain: bool = False, limits: Limits | None = None):
        self.program = program
        self.is_plain = plain
        self.limits = limits or Limits()

    def __repr__(self) -> str:
        return f"<Spec {self.program.root.name!r} models={self.models}{' plain' if self.is_plain else ''}>"

    @property
    def models(self) -> list[str]:
        """Names of the models defined in the spec's own file."""
        return list(self.program.root_models)

    def model_name(self, model: str | None = None) -> str:
        """The model to use: the named one, or the file's only model."""
        if model is not None:
            if model not in self.program.models:
                from resdsl.diagnostics import did_you_mean

                hint = did_you_mean(model, self.program.models)
                choices = ", ".join(self.models)
                raise ResdslError.single(
                    "unknown-model",
                    f"{self.program.root.name}: no model named '{model}'",
                    hint=hint or (f"the models are: {choices}" if choices else None),
                )
            return model
        if len(self.models) == 1:
            return self.models[0]
        if not self.models:
            raise ResdslError.single(
                "no-model",
                "this file defines no model",
                self.program.root.span(0, 0),
                hint="add a 'model', or 'use' this file from one that has a model",
            )
        raise ResdslError.single(
            "choose-model",
            f"{self.program.root.name} defines {len(self.models)} models: {', '.join(self.models)}",
            hint="choose one with --model NAME (or spec.graph('NAME'))",
        )

    def graph(self, model: str | None = None, /, **params: Any) -> nx.DiGraph:
        """The checked graph of a model (see :mod:`resdsl.ir.graph` for its data).

        ``params`` set the model's parameters, or the sample size of an input
        symbol (``H=256``). Raises :class:`ResdslError` listing every problem.
        """
        name = self.model_name(model)
        values = {k: _from_python(v) for k, v in params.items()}
        with gc_paused():
            graph, diagnostics = elaborate(self.program, name, values, self.limits)
            if diagnostics:
                raise ResdslError(diagnostics)
            graph.graph["plain"] = self.is_plain
            return _within_limits(run_passes(graph), self.limits)

    def summary(self, model: str | None = None, /, **params: Any) -> Summary:
        """Parameters, MACs, output shape and valid input sizes of a model."""
        return summarize(self.graph(model, **params))

    def plain(self) -> Spec:
        """The plain twin: every ``skip`` removed, every other statement kept.

        Skips take no position, so every layer keeps its name and its weights'
        ``state_dict`` keys (shortcut projections aside, which disappear).
        """
        p = self.program
        blocks = {k: replace(b, body=ast.without_skips(b.body)) for k, b in p.blocks.items()}
        models: dict[str, ast.ModelDef | ast.ModelAlias] = {
            k: replace(m, body=ast.without_skips(m.body)) if isinstance(m, ast.ModelDef) else m
            for k, m in p.models.items()
        }
        twin = Program(p.root, blocks, models, list(p.root_models), list(p.files))
        return Spec(twin, plain=True, limits=self.limits)

    # ---------------------------------------------------------------- back ends

    def compile(
        self,
        model: str | None = None,
        /,
        *,
        init: str | None = None,
        zero_init_residual: bool | None = None,
        check_forward: bool = False,
        **params: Any,
    ) -> torch.nn.Module:
        """Build the model as a ``torch.nn.Module`` (imports torch).

        The options are ``resdsl compile``'s: ``init`` (``"default"`` or
        ``"kaiming"``) and ``zero_init_residual`` override the model's own
        parameters of those names, for any model, whether or not it declares
        them. ``check_forward`` runs one forward pass (batch 1, eval mode, no
        gradients) at the sample input size before returning, as
        ``resdsl compile`` does unless ``--no-forward``; by default none runs.
        The other keywords are the model's parameters and input sizes.

        >>> spec = loads("model m { input [3, 8, 8]; c: conv(4, 3) }")
        >>> model = spec.compile(init="kaiming", check_forward=True)
        >>> type(model).__name__
        'M'
        """
        from resdsl.backends.build import compile_graph, sample_input

        graph = self.graph(model, **params)
        module = compile_graph(graph, init=init, zero_init_residual=zero_init_residual)
        if check_forward:
            import torch

            was_training = module.training
            module.eval()
            with torch.no_grad():
                module(sample_input(graph, 1))
            module.train(was_training)
        return module

    def source(
        self,
        model: str | None = None,
        /,
        *,
        init: str | None = None,
        zero_init_residual: bool | None = None,
        **params: Any,
    ) -> str:
        """Standalone PyTorch source defining the model as a class (no torch import here).

        ``init`` and ``zero_init_residual`` are :meth:`compile`'s. Writing the
        source runs nothing: no module is built and no forward pass is run.
        """
        from resdsl.backends.codegen import generate

        graph = self.graph(model, **params)
        return generate(graph, init=init, zero_init_residual=zero_init_residual).source

    def module_source(self, model: str | None = None, /) -> str:
        """The whole file as one PyTorch module shaped like a hand-written one (imports torch).

        One ``nn.Module`` class per block definition (its constructor takes the
        input channels, then the block's parameters), one per model definition
        (taking the model's parameters), and a function per model and alias:
        ``resnet50(**kwargs)``. Every model of the file that elaborates with its
        defaults is built from the written module and checked against the
        in-memory compile (the same ``state_dict`` keys, in order, and shapes).
        Where the file uses something this writer cannot express with
        parameters (see docs/pysource.md), a file with one model gets the
        per-instance source of :meth:`source`, headed by a comment that says
        why; a file with several raises :class:`ResdslError` (choose a model).

        With ``model``, the same module cut down to that model's function and
        the classes it needs (``--model NAME -o``), checked again; where the
        file cannot be written with parameters, that model's per-instance
        source, headed by the reason.

        >>> text = load("specs/resnet.res").module_source()  # doctest: +SKIP
        >>> "def resnet50(**kwargs: Any) -> Resnet:" in text     # doctest: +SKIP
        True
        """
        from resdsl.backends.codegen import generate
        from resdsl.pysource import Unsupported
        from resdsl.pysource.verify import model_source, parametric_source

        graphs: dict[str, nx.DiGraph] = {}
        if model is not None:  # an unknown or unbuildable model is the user's error
            graphs[self.model_name(model)] = self.graph(model)
        for name in self.models:
            try:
                graphs.setdefault(name, self.graph(name))
            except ResdslError:
                continue  # a model with a required parameter: its aliases elaborate it
        try:
            if self.is_plain:
                raise Unsupported("the plain twin (written per instance)")
            text = parametric_source(self.program, graphs, self.program.root.name)
            if model is None:
                return text
            return model_source(text, model, graphs[self.model_name(model)])
        except Unsupported as why:
            reason = str(why)
        if model is not None or (len(self.models) == 1 and graphs):
            text = generate(graphs[self.model_name(model)]).source
            note = (
                f"# resdsl wrote this model per instance: it cannot write {reason} parametrically."
            )
            return _comment_lines(note) + text
        raise ResdslError.single(
            "per-instance-only",
            f"{self.program.root.name}: cannot write the file as one module: it uses {reason}",
            hint="write one model at a time with --model NAME (per-instance source)",
        )

    def to_dot(self, model: str | None = None, /, **options: Any) -> str:
        """The skip-path diagram as DOT text (deterministic; no Graphviz needed)."""
        from resdsl.backends.render import split_options, to_dot

        params, render_options = split_options(options)
        return to_dot(self.graph(model, **params), **render_options)

    def render(
        self, model: str | None = None, /, path: str | Path | None = None, **options: Any
    ) -> graphviz.Digraph:
        """The diagram as a ``graphviz.Digraph``; written to ``path`` when given."""
        from resdsl.backends.render import render_graph, split_options

        params, render_options = split_options(options)
        return render_graph(self.graph(model, **params), path=path, **render_options)

    def train(
        self,
        model: str | None = None,
        /,
        data: str | Path | Dataset = "digits",
        *,
        steps: int = 168,
        seed: int = 0,
        config: TrainConfig | None = None,
        device: str = "cpu",
        on_step: Callable[[StepRecord], None] | None = None,
        **params: Any,
    ) -> TrainedModel:
        """Train the model on ``data`` with He et al.'s CIFAR recipe (see :mod:`resdsl.training`).

        ``data`` is ``"digits"``, a ``.npz`` path, an image folder or a
        :class:`~resdsl.training.data.Dataset`; ``config`` replaces the recipe
        (``steps`` and ``seed`` then come from it). Symbolic input sizes take the
        data's. Imports torch.

        >>> import torch
        >>> from resdsl.training import Dataset
        >>> toy = Dataset("toy", torch.rand(128, 3, 8, 8), torch.arange(128) % 2)
        >>> spec = loads("model m { input [3, H=32, W=32]; conv(2, 3); adaptive_avgpool(1); flatten }")
        >>> run = spec.train(data=toy, steps=2)
        >>> run.params, len(run.history.records)
        ({'H': 8, 'W': 8}, 2)
        """
        from resdsl.training import TrainConfig, load_data, train_spec

        dataset = data if not isinstance(data, str | Path) else load_data(data)
        config = config or TrainConfig(steps=steps, seed=seed)
        return train_spec(self, model, dataset, config, params, device=device, on_step=on_step)

    # ---------------------------------------------------------------- analyses

    def paths(self, model: str | None = None, /, **params: Any) -> PathReport:
        """Input-to-output path statistics (counts without enumerating paths)."""
        from resdsl.analysis.paths import path_report

        return path_report(self.graph(model, **params))

    def compare(self, model: str | None = None, /, **params: Any) -> Comparison:
        """The model beside its plain twin: depth, paths, parameters, MACs, shortcut costs.

        No torch. See :mod:`resdsl.analysis.compare`.

        >>> spec = loads("model m { input [4, 8, 8]; c: conv(4, 3, padding=1); skip in -> c (add) }")
        >>> c = spec.compare()
        >>> (c.model.paths, c.plain.paths), c.shortcuts[0].kind
        ((2, 1), 'identity')
        """
        from resdsl.analysis.compare import compare

        return compare(self.graph(model, **params), self.plain().graph(model, **params))

    def gradflow(
        self,
        model: str | None = None,
        /,
        *,
        plain_twin: bool = False,
        seed: int = 0,
        batch: int = 32,
        init: str = "kaiming",
        step: Callable[[str], None] | None = None,
        **params: Any,
    ) -> GradFlowReport:
        """Per-layer gradient norms at initialisation, and the plain twin's if asked.

        Imports torch. See :mod:`resdsl.analysis.gradflow`.
        """
        from resdsl.analysis.gradflow import gradient_flow

        graph = self.graph(model, **params)
        plain = self.plain().graph(model, **params) if plain_twin else None
        return gradient_flow(graph, plain, seed=seed, batch=batch, init=init, step=step)

    def identity(
        self,
        model: str | None = None,
        /,
        *,
        zero_init_residual: bool | None = None,
        init: str | None = None,
        seed: int = 0,
        batch: int = 4,
        **params: Any,
    ) -> IdentityReport:
        """Which residual blocks compute exactly their shortcut at initialisation?

        Imports torch. See :mod:`resdsl.analysis.identity`.
        """
        from resdsl.analysis.identity import identity_report

        return identity_report(
            self.graph(model, **params),
            zero_init_residual=zero_init_residual,
            init=init,
            seed=seed,
            batch=batch,
        )


#: How a module that :meth:`Spec.module_source` writes per instance begins.
PER_INSTANCE_NOTE = "# resdsl wrote this model per instance:"


def _comment_lines(text: str) -> str:
    """``text`` as ``#`` comment lines of at most 88 columns."""
    import textwrap

    body = text.removeprefix("# ")
    return "".join(f"# {line}\n" for line in textwrap.wrap(body, 86))


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for a bounded, allocation-heavy phase.

    Elaboration allocates thousands of objects that live as long as the graph;
    CPython's collector would traverse them again and again (about a tenth of
    the time) without finding anything to free. Reference counting still frees
    everything it can; the collector runs again, as before, afterwards.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def summarize(graph: nx.DiGraph, depth: int | None = None) -> Summary:
    """A :class:`Summary` of a checked graph.

    With ``depth``, every scope deeper than ``depth`` becomes one row (as
    ``resdsl render --depth``): 0 keeps the model's own statements and
    collapses each top-level block (``layer1``), 1 opens those and collapses
    the blocks inside them (``layer1.0``). A collapsed row's op is the block's
    name, its shape the block's output, its costs the sums of its layers'.
    """
    domain = graph.graph["valid_sizes"]
    rows = [
        LayerRow(
            node,
            data["op"],
            data["parent"].count(".") + 1 if data["parent"] else 0,
            data["shape"],
            data["params"],
            data["macs"],
            shape_text(data["shape"], domain),
        )
        for node, data in graph.nodes(data=True)
        if data["role"] != "input"
    ]
    if depth is not None:
        rows = _collapsed(rows, graph.graph["scopes"], depth)
    in_shape = graph.graph["input_shape"]
    out_shape = graph.graph["output_shape"]
    return Summary.model_construct(  # built from checked data: no validation needed
        model=graph.graph["model"],
        params=graph.graph["params"],
        macs=graph.graph["macs"],
        input_shape=tuple(int(d) for d in in_shape),
        output_shape=tuple(int(d) for d in out_shape),
        input_text="["
        + ", ".join(
            f"{describe(d)}={int(d)}" if isinstance(d, SymDim) else str(d) for d in in_shape
        )
        + "]",
        output_text=shape_text(out_shape, domain),
        symbols=dict(graph.graph["symbols"]),
        valid_sizes=dict(graph.graph["valid_sizes"]),
        layers=rows,
    )


def _collapsed(rows: list[LayerRow], scopes: dict[str, Any], depth: int) -> list[LayerRow]:
    """Rows deeper than ``depth`` merged into one row per scope at ``depth + 1``."""
    merged: dict[str, LayerRow] = {}
    for row in rows:
        if row.depth <= depth:
            merged[row.name] = row
            continue
        path = ".".join(row.name.split(".")[: depth + 1])
        before = merged.get(path)
        if before is None:
            info = scopes.get(path)
            op = getattr(info, "block", None) or getattr(info, "kind", None) or "scope"
            merged[path] = LayerRow(path, op, depth, row.shape, row.params, row.macs, row.text)
        else:
            merged[path] = before._replace(
                shape=row.shape,
                params=before.params + row.params,
                macs=before.macs + row.macs,
                text=row.text,
            )
    return list(merged.values())


def _from_python(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_from_python(v) for v in value]
    if isinstance(value, list):
        return [_from_python(v) for v in value]
    return value


def _within_limits(graph: nx.DiGraph, limits: Limits) -> nx.DiGraph:
    """The graph, if its parameters and values fit the limits; else a located error."""
    over = first_over(graph, limits.max_params, limits.max_elements)
    if over is None:
        return graph
    node, what = over
    raise ResdslError.single(
        "too-large",
        what,
        graph.nodes[node].get("span"),
        hint="reduce the channel counts or the input size, or raise the limit "
        "(Limits(max_params=...), Limits(max_elements=...))",
    )


def load(path: str | Path, *, allow_outside: bool = False, limits: Limits | None = None) -> Spec:
    """Load a spec file (and the files it ``use``s).

    ``allow_outside`` lets ``use`` reach files outside the spec's directory.
    """
    with gc_paused():
        program = load_file(path, allow_outside=allow_outside)
    return Spec(program, limits=limits)


def loads(
    text: str,
    filename: str = "<string>",
    *,
    base: str | Path | None = None,
    limits: Limits | None = None,
) -> Spec:
    """Load spec text. ``use`` paths resolve against ``base`` and the bundled library."""
    return Spec(
        load_text(text, filename, base=Path(base) if base is not None else None), limits=limits
    )


def value_from_text(text: str, spec: Spec, name: str) -> Any:
    """A ``-p name=value`` value from the command line, parsed as a spec expression.

    A bare word that names nothing (``-p init=kaiming``: the shell has eaten
    the quotes of ``init="kaiming"``) is taken as that string, unless it is
    close to a block's name (``-p unit=bottlenek``), which is then suggested.

    >>> spec = loads("block basic() { relu }\\nmodel m { input [3, 8, 8]; relu }")
    >>> value_from_text("kaiming", spec, "init"), value_from_text("[1, 2]", spec, "d")
    ('kaiming', [1, 2])
    """
    from resdsl.diagnostics import did_you_mean
    from resdsl.semantics.expr import NO_REFS, Env, EvalError, evaluate
    from resdsl.syntax.parse import parse_expr

    expr = parse_expr(text, name=f"<-p {name}>")

    class _Globals:
        def block(self, n: str) -> BlockRef | None:
            return BlockRef(n) if n in spec.program.blocks else None

        def shape_of(self, ref: ast.Label | ast.InputRef, env: Env) -> tuple[int, ...]:
            return NO_REFS.shape_of(ref, env)

    try:
        return evaluate(expr, Env(), _Globals())
    except EvalError as err:
        if not isinstance(expr, ast.Name):
            raise ResdslError([err.diagnostic]) from None
        close = did_you_mean(expr.id, spec.program.blocks)
        if close is None:
            return expr.id  # a bare word: the string the user meant
        quoted = f"-p '{name}=\"{expr.id}\"'"
        hint = f"{close} (for the word itself as a string, quote it: {quoted})"
        raise ResdslError([replace(err.diagnostic, hint=hint)]) from None


__all__ = ["Diagnostic", "LayerRow", "Spec", "Summary", "load", "loads", "summarize"]

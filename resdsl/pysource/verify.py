"""Write a file's module, then prove it: each model built from it has the compile's state.

Building on the ``meta`` device allocates no memory, so checking ResNet-152
costs the time to construct its modules, not to fill them.
"""

from __future__ import annotations

import ast as pyast
from types import ModuleType
from typing import Any

import networkx as nx

from resdsl.backends.build import compile_graph, load_source
from resdsl.ir.values import BlockRef
from resdsl.pysource.pyexpr import Unsupported
from resdsl.pysource.render import write_module
from resdsl.pysource.select import only_model
from resdsl.pysource.witness import Witness, witnesses
from resdsl.syntax.loader import Program


def parametric_source(program: Program, graphs: dict[str, nx.DiGraph], path: str) -> str:
    """The file's module, checked against the in-memory compile of every model in ``graphs``."""
    file_name = path.replace("\\", "/").rsplit("/", 1)[-1]
    extra = witnesses(program, graphs)
    source = write_module(program, {**graphs, **{w.key: w.graph for w in extra}}, file_name)
    check_models(source, graphs, file_name, extra)
    return source


def model_source(source: str, model: str, graph: nx.DiGraph) -> str:
    """``source`` cut down to ``model`` (its function and the classes it needs), checked again."""
    try:
        text = only_model(source, model)
    except KeyError:
        raise Unsupported(f"model '{model}', which the module has no function for") from None
    check_models(text, {model: graph}, model)
    return text


def check_models(
    source: str,
    graphs: dict[str, nx.DiGraph],
    file_name: str,
    extra: list[Witness] | None = None,
) -> None:
    """Raise :class:`Unsupported` unless each model's ``state_dict`` keys and shapes match.

    ``extra``: models built with a block argument (``CifarResnet(n=3, unit=BasicB, ...)``).
    """
    import torch

    module = load_source(source, f"resdsl_module_{abs(hash(source))}")
    classes = definition_classes(source)
    jobs: list[tuple[str, Any, dict[str, Any], nx.DiGraph]] = []
    for name, graph in graphs.items():
        jobs.append((name, getattr(module, name, None), {}, graph))
    for w in extra or []:
        if ("Block", w.block) not in classes:
            continue  # a block the module leaves out: nothing of it to check
        builder = getattr(module, classes.get(("Model", w.model), ""), None)
        jobs.append((w.key, builder, _python_values(w.values, module, classes), w.graph))
    for name, builder, kwargs, graph in jobs:
        with torch.device("meta"):
            expected = compile_graph(graph).state_dict()
            try:
                built = builder(**kwargs).state_dict()
            except Exception as err:
                raise Unsupported(f"a model ({name}) that its module cannot build: {err}") from None
        got = [(k, tuple(v.shape)) for k, v in built.items()]
        if got != [(k, tuple(v.shape)) for k, v in expected.items()]:
            raise Unsupported(f"a model ({name}) whose module state differs from the compile's")


def definition_classes(source: str) -> dict[tuple[str, str], str]:
    """("Block" or "Model", name) -> its class in a written module (from the class docstrings,
    ``Block basic_b from cifar_resnet.res:38.``)."""
    out = {}
    for node in pyast.parse(source).body:
        if isinstance(node, pyast.ClassDef):
            words = (pyast.get_docstring(node) or "").split()
            if len(words) > 2 and words[0] in ("Block", "Model") and words[2] == "from":
                out[(words[0], words[1])] = node.name
    return out


def _python_values(
    values: dict[str, Any], module: ModuleType, classes: dict[tuple[str, str], str]
) -> dict[str, Any]:
    """A witness's values as the written module takes them: a block is its class."""

    def convert(value: Any) -> Any:
        if isinstance(value, BlockRef):
            return getattr(module, classes[("Block", value.name)])
        if isinstance(value, list | tuple):
            return [convert(v) for v in value]
        return value

    return {k: convert(v) for k, v in values.items()}

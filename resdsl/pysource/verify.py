"""Write a file's module, then prove it: each model built from it has the compile's state.

Building on the ``meta`` device allocates no memory, so checking ResNet-152
costs the time to construct its modules, not to fill them.
"""

from __future__ import annotations

import ast as pyast

import networkx as nx

from resdsl.backends.build import compile_graph, load_source
from resdsl.pysource.pyexpr import Unsupported
from resdsl.pysource.render import write_module
from resdsl.pysource.witness import Witness, witnesses
from resdsl.syntax.loader import Program


def parametric_source(program: Program, graphs: dict[str, nx.DiGraph], path: str) -> str:
    """The file's module, checked against the in-memory compile of every model in ``graphs``."""
    file_name = path.replace("\\", "/").rsplit("/", 1)[-1]
    extra = witnesses(program, graphs)
    source = write_module(program, {**graphs, **{w.key: w.graph for w in extra}}, file_name)
    check_models(source, graphs, file_name, extra)
    return source


def check_models(
    source: str,
    graphs: dict[str, nx.DiGraph],
    file_name: str,
    extra: list[Witness] | None = None,
) -> None:
    """Raise :class:`Unsupported` unless each model's ``state_dict`` keys and shapes match.

    ``extra``: models built with a block argument (``resnet20(unit=BasicB)``).
    """
    import torch

    module = load_source(source, f"resdsl_module_{abs(hash(source))}")
    classes = block_classes(source)
    jobs: list[tuple[str, str, dict[str, str], nx.DiGraph]]
    jobs = [(name, name, {}, graph) for name, graph in graphs.items()]
    jobs += [(w.key, w.model, {w.param: w.block}, w.graph) for w in extra or []]
    for name, builder, blocks, graph in jobs:
        with torch.device("meta"):
            expected = compile_graph(graph).state_dict()
            try:
                kwargs = {p: getattr(module, classes[b]) for p, b in blocks.items()}
                built = getattr(module, builder)(**kwargs).state_dict()
            except Exception as err:
                raise Unsupported(f"a model ({name}) that its module cannot build: {err}") from None
        got = [(k, tuple(v.shape)) for k, v in built.items()]
        if got != [(k, tuple(v.shape)) for k, v in expected.items()]:
            raise Unsupported(f"a model ({name}) whose module state differs from the compile's")


def block_classes(source: str) -> dict[str, str]:
    """Block name -> its class in a written module (each class's docstring names its block)."""
    out = {}
    for node in pyast.parse(source).body:
        if isinstance(node, pyast.ClassDef):
            doc = pyast.get_docstring(node) or ""
            if doc.startswith("Block ") and " from " in doc:
                out[doc.split()[1]] = node.name
    return out

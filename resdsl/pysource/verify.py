"""Write a file's module, then prove it: each model built from it has the compile's state.

Building on the ``meta`` device allocates no memory, so checking ResNet-152
costs the time to construct its modules, not to fill them.
"""

from __future__ import annotations

import networkx as nx

from resdsl.backends.build import compile_graph, load_source
from resdsl.backends.init import resolve_init
from resdsl.pysource.pyexpr import Unsupported
from resdsl.pysource.render import write_module
from resdsl.pysource.select import only_model
from resdsl.syntax.loader import Program


def parametric_source(program: Program, graphs: dict[str, nx.DiGraph], path: str) -> str:
    """The file's module, checked against the in-memory compile of every model in ``graphs``."""
    for name, graph in graphs.items():
        if resolve_init(graph) != ("default", False):
            raise Unsupported(f"model {name}'s initialisation scheme")
    file_name = path.replace("\\", "/").rsplit("/", 1)[-1]
    source = write_module(program, graphs, file_name)
    check_models(source, graphs, file_name)
    return source


def model_source(source: str, model: str, graph: nx.DiGraph) -> str:
    """``source`` cut down to ``model`` (its function and the classes it needs), checked again."""
    try:
        text = only_model(source, model)
    except KeyError:
        raise Unsupported(f"model '{model}', which the module has no function for") from None
    check_models(text, {model: graph}, model)
    return text


def check_models(source: str, graphs: dict[str, nx.DiGraph], file_name: str) -> None:
    """Raise :class:`Unsupported` unless each model's ``state_dict`` keys and shapes match."""
    import torch

    module = load_source(source, f"resdsl_module_{abs(hash(source))}")
    for name, graph in graphs.items():
        with torch.device("meta"):
            expected = compile_graph(graph).state_dict()
            try:
                built = getattr(module, name)().state_dict()
            except Exception as err:
                raise Unsupported(f"a model ({name}) that its module cannot build: {err}") from None
        got = [(k, tuple(v.shape)) for k, v in built.items()]
        if got != [(k, tuple(v.shape)) for k, v in expected.items()]:
            raise Unsupported(f"a model ({name}) whose module state differs from the compile's")

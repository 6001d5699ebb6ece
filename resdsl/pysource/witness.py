"""A block of the file that no model uses, elaborated through a model that takes a block.

The writer needs an elaborated instance of each block (its input rank, its
merges' arguments). A file may define a block that its models only offer as
a choice: cifar_resnet.res's ``basic_b`` (option B) is what ``unit=basic_b``
selects, while every alias uses ``basic``. Such a block is elaborated through
the definition of the first model of the file with a ``block`` parameter
that accepts it, with that model's values (``cifar_resnet(n=3,
unit=basic_b)`` for ``resnet20``), and that *witness* model is checked against the
compile like every other (see :mod:`resdsl.pysource.verify`). A block of a
``use``d file gets one too: plain_resnet.res's models use ``plain``, but the
class of the ``cifar_resnet`` they stand for defaults to ``unit=Basic``. A
witnessed block the module leaves out is not checked.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from resdsl.ir.values import BlockRef
from resdsl.passes import run_passes
from resdsl.semantics.elaborate import Limits, elaborate
from resdsl.semantics.expr import Value
from resdsl.syntax import ast
from resdsl.syntax.loader import Program


@dataclass(frozen=True)
class Witness:
    """``model(**values)`` with ``values[param]`` a block: an elaboration that instantiates
    an otherwise unused block (``cifar_resnet(n=3, unit=basic_b, num_classes=10)``)."""

    model: str
    param: str
    values: dict[str, Value]
    graph: nx.DiGraph

    @property
    def block(self) -> str:
        return str(self.values[self.param])

    @property
    def key(self) -> str:
        return f"{self.model}({self.param}={self.block})"


def used_blocks(graphs: list[nx.DiGraph]) -> set[str]:
    """The blocks instantiated in these graphs (as a statement or as a shortcut)."""
    return {
        info.block
        for g in graphs
        for info in g.graph["scopes"].values()
        if info.block and info.kind != "model"
    }


def witnesses(program: Program, graphs: dict[str, nx.DiGraph]) -> list[Witness]:
    """One witness for each block that none of ``graphs`` instantiates and some model's
    ``block`` parameter accepts (with that model's other values)."""
    used = used_blocks(list(graphs.values()))
    out: list[Witness] = []
    for block in program.blocks:
        if block in used:
            continue
        found = _witness(program, graphs, block)
        if found is not None:
            out.append(found)
            used |= used_blocks([found.graph])
    return out


def _witness(program: Program, graphs: dict[str, nx.DiGraph], block: str) -> Witness | None:
    """The first model whose definition takes a block parameter that accepts ``block``,
    with the values that model binds (an alias's fixed values included)."""
    for graph in graphs.values():
        info = graph.graph["scopes"][""]
        model = program.models.get(info.block or "")
        if not isinstance(model, ast.ModelDef):
            continue
        for param in model.params:
            if param.type != "block":
                continue
            values = {**info.args, param.name: BlockRef(block)}
            witness, diagnostics = elaborate(program, model.name, values, Limits())
            if not diagnostics:
                return Witness(model.name, param.name, values, run_passes(witness))
    return None

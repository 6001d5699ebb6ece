"""A block of the file that no model uses, elaborated through a model that takes a block.

The writer needs an elaborated instance of each block (its input rank, its
merges' arguments). A file may define a block that its models only offer as
a choice: cifar_resnet.res's ``basic_b`` (option B) is what ``unit=basic_b``
selects, while every alias uses ``basic``. Such a block is elaborated through
the first model of the file with a ``block`` parameter that accepts it
(``resnet20(unit=basic_b)``), and that *witness* model is checked against the
compile like every other (see :mod:`resdsl.pysource.verify`). Blocks of a
``use``d file are left to the writer (a file needs only the blocks its own
models use).
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from resdsl.ir.values import BlockRef
from resdsl.passes import run_passes
from resdsl.semantics.elaborate import Limits, elaborate
from resdsl.syntax import ast
from resdsl.syntax.loader import Program


@dataclass(frozen=True)
class Witness:
    """``model(param=block)``: an elaboration that instantiates an otherwise unused block."""

    model: str
    param: str
    block: str
    graph: nx.DiGraph

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
    """One witness for each block of the root file that none of ``graphs`` instantiates
    and some model's ``block`` parameter accepts (with that model's other values)."""
    used = used_blocks(list(graphs.values()))
    out: list[Witness] = []
    for block, bdef in program.blocks.items():
        if block in used or bdef.span.file != program.root.name:
            continue
        found = _witness(program, graphs, block)
        if found is not None:
            out.append(found)
            used |= used_blocks([found.graph])
    return out


def _witness(program: Program, graphs: dict[str, nx.DiGraph], block: str) -> Witness | None:
    for name in graphs:
        target = _definition(program, name)
        if target is None:
            continue
        for param in target.params:
            if param.type != "block":
                continue
            graph, diagnostics = elaborate(program, name, {param.name: BlockRef(block)}, Limits())
            if not diagnostics:
                return Witness(name, param.name, block, run_passes(graph))
    return None


def _definition(program: Program, name: str) -> ast.ModelDef | None:
    """The model definition a model name stands for (through its aliases)."""
    seen: set[str] = set()
    model = program.models.get(name)
    while isinstance(model, ast.ModelAlias) and name not in seen:
        seen.add(name)
        name = model.target
        model = program.models.get(name)
    return model if isinstance(model, ast.ModelDef) else None

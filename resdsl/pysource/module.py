"""A spec file as one Python module: a class per block and model, a function per model name."""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field

import networkx as nx

from resdsl.backends.codegen import camel_case, escape
from resdsl.ops import get_layer
from resdsl.pysource.blockout import BlockOut
from resdsl.pysource.branches import FlowWriter, has_branches, resized_chain
from resdsl.pysource.chain import INDENT, ChainWriter
from resdsl.pysource.gates import GATE_CLASS, GATE_DOC, GATE_INIT, uses_gates
from resdsl.pysource.helpers import HELPERS
from resdsl.pysource.init import scheme_lines
from resdsl.pysource.names import KEEP, check_user_name, fresh, user_names
from resdsl.pysource.needed import callee_rank, written_blocks
from resdsl.pysource.pyexpr import Scope, Unsupported, is_literal, python_expr
from resdsl.pysource.references import References
from resdsl.pysource.residual import ResidualWriter
from resdsl.syntax import ast
from resdsl.syntax.loader import Program

#: Module-level names a class or function of the written module cannot take.
RESERVED = KEEP | frozenset(dir(builtins)) | frozenset(HELPERS)
_TYPES = {"int": "int", "float": "float", "bool": "bool", "str": "str", "list": "list"}


@dataclass
class ClassCode:
    name: str
    base: str
    doc: list[str]
    signature: str
    init: list[str]
    forward: list[str] = field(default_factory=list)
    running: str = ""  # the writer's running channel variable, if the output is held in it
    returns: str = "torch.Tensor"  # what forward returns (a dict for a model's outputs)
    uses_gate: bool = False  # builds a merge's learned gate (the file's ``Gate`` class)


def input_name(taken: set[str]) -> str:
    """The constructor's input-channels parameter: ``in_channels`` unless the block has one."""
    for name in ("in_channels", "input_channels", "channels_in"):
        if name not in taken:
            return name
    return fresh("in_channels", taken)


def signature(
    params: tuple[ast.Param, ...], scope: Scope, first: str | None
) -> tuple[str, list[str]]:
    """``self, in_channels: int, planes: int, stride: int = 1`` and the lines that fill defaults."""
    parts = ["self"] + ([f"{first}: int"] if first else [])
    fill: list[str] = []
    for p in params:
        check_user_name(p.name, "parameter")
        if p.name in scope.blocks:
            raise Unsupported(f"the parameter name '{p.name}' (a block's class)")
        if p.type == "block" and get_layer(p.name) is not None:  # see calls.is_block_call
            raise Unsupported(f"the block parameter '{p.name}', named like a layer")
        kind = "type[nn.Module]" if p.type == "block" else _TYPES[p.type]
        if p.default is None:
            parts.append(f"{p.name}: {kind}")
        elif (is_literal(p.default) and not isinstance(p.default, ast.ListExpr)) or (
            p.type == "block"
        ):  # a list default is filled in the body: a mutable default is shared between calls
            parts.append(f"{p.name}: {kind} = {python_expr(p.default, scope)}")
        else:
            parts.append(f"{p.name}: {kind} | None = None")
            fill += [f"if {p.name} is None:", f"{INDENT}{p.name} = {python_expr(p.default, scope)}"]
    return ", ".join(parts), fill


def has_skip(body: tuple[ast.Stmt, ...]) -> bool:
    """Does this scope (not a nested group) have a skip?"""
    for stmt in body:
        if isinstance(stmt, ast.Skip):
            return True
        if isinstance(stmt, ast.Repeat) and has_skip(stmt.body):
            return True
        if isinstance(stmt, ast.If) and (has_skip(stmt.body) or has_skip(stmt.orelse)):
            return True
    return False


def body_class(
    name: str,
    params: tuple[ast.Param, ...],
    body: tuple[ast.Stmt, ...],
    blocks: dict[str, str],
    refs: References,
    rank: int,
    in_channels: str | None,
    outputs: tuple[ast.Output, ...] = (),
) -> tuple[ClassCode, str, bool]:
    """A block (``in_channels`` None: it is a parameter) or a model as a class.

    Returns the class, its output channels and whether it uses ``F``.
    """
    scope = Scope({p.name: p.name for p in params}, blocks)
    scope.block_values |= {p.name for p in params if p.type == "block"}
    taken = set(KEEP) | user_names(params, body) | set(blocks.values())
    first = input_name(taken) if in_channels is None else None
    sig, fill = signature(params, scope, first)
    channels = first or in_channels or ""
    scope.channels[""] = channels  # channels(in)
    taken |= {first} if first else set()
    resized = resized_chain(body, refs)
    if resized is not None and not outputs:  # torchvision's ASPPPooling
        chain = ChainWriter(refs, rank, channels, frozenset(taken))
        chain.body(body[:-1], scope, 0)
        code = ClassCode(name, "nn.Sequential", [], sig, fill + chain.lines, resized)
        return code, chain.channels, True
    if has_branches(body) or outputs:
        flow = FlowWriter(refs, rank, channels, frozenset(taken))
        out = flow.write(body, scope, outputs)
        code = ClassCode(name, "nn.Module", [], sig, fill + flow.init, flow.forward)
        if outputs:
            code.returns = "dict[str, torch.Tensor]"
        return code, out, flow.uses_f
    if has_skip(body):
        res = ResidualWriter(refs, rank, channels, frozenset(taken))
        out = res.write(body, scope)
        code = ClassCode(name, "nn.Module", [], sig, fill + res.init, res.forward)
        code.uses_gate = res.uses_gate
        return code, out, res.uses_f
    chain = ChainWriter(refs, rank, channels, frozenset(taken))
    chain.body(body, scope, 0)
    code = ClassCode(name, "nn.Sequential", [], sig, fill + chain.lines, running=chain.var)
    return code, chain.channels, False


def shape_doc(channels: str, rank: int, out: str, out_rank: int, running: str = "") -> str:
    if "self." in out or out == running:
        out = "out_channels"  # known once the children are built
    spatial = ["H", "W", "D"][: rank - 1] if rank <= 4 else ["..."]
    after = [f"{s}'" for s in spatial][: out_rank - 1]
    src = ", ".join(["N", channels, *spatial])
    dst = ", ".join(["N", out, *after])
    return f"``[{src}]`` -> ``[{dst}]``."


@dataclass
class FileWriter:
    program: Program
    graphs: dict[str, nx.DiGraph]
    file_name: str
    classes: list[ClassCode] = field(default_factory=list)
    uses_f: bool = False
    block_classes: dict[str, str] = field(default_factory=dict)  # block definition -> class

    def write_classes(self) -> dict[str, str]:
        """Every block and model definition as a class; returns the model classes by name."""
        refs = References.of(list(self.graphs.values()))
        taken: set[str] = set(RESERVED) | ({GATE_CLASS} if uses_gates(self.program) else set())
        blocks: dict[str, str] = {}
        needed = self.needed_models()
        for name in written_blocks(self.program, sorted(needed)):
            blocks[name] = _fresh(camel_case(name), taken)
        self.block_classes = blocks
        ranks = {name: refs.block_input_rank(name) for name in blocks}
        for name in blocks:
            block = self.program.blocks[name]
            rank = ranks[name] or callee_rank(block.body, ranks)
            if rank is None:
                raise Unsupported(
                    f"block '{name}', which no model uses (its input rank is unknown)"
                )
            code, out, uses_f = body_class(
                blocks[name], block.params, block.body, blocks, refs, rank, None
            )
            code.init.append(f"self.out_channels = {out}")
            first = code.signature.split(", ")[1].split(":")[0]
            refs.block_out[name] = BlockOut(block.params, first, out)
            code.doc = [
                f"Block {name} from {escape(self._where(block.span))}.",
                "",
                shape_doc(first, rank, out, rank, code.running),
            ]
            self.classes.append(code)
            self.uses_f |= uses_f
        models: dict[str, str] = {}
        for name, model in self.program.models.items():
            if isinstance(model, ast.ModelDef) and name in needed:
                models[name] = self.model_class(name, model, blocks, refs, taken)
        if any(code.uses_gate for code in self.classes):
            self.classes.insert(0, ClassCode(GATE_CLASS, "nn.Module", GATE_DOC, "self", GATE_INIT))
        return models

    def needed_models(self) -> set[str]:
        """The file's own models and the models its aliases stand for (not a used file's others)."""
        needed: set[str] = set()
        for name in self.program.root_models:
            while name not in needed:
                needed.add(name)
                model = self.program.models.get(name)
                if not isinstance(model, ast.ModelAlias):
                    break
                name = model.target
        return needed

    def model_class(
        self,
        name: str,
        model: ast.ModelDef,
        blocks: dict[str, str],
        refs: References,
        taken: set[str],
    ) -> str:
        graph = self.graphs.get(name) or next(
            (g for g in self.graphs.values() if g.graph["scopes"][""].block == name), None
        )
        if graph is None:
            raise Unsupported(f"model '{name}', which no model of the file elaborates")
        if not model.input.dims or model.input.dims[0].value is None:
            raise Unsupported("an input whose channels are a symbol")
        scope = Scope({p.name: p.name for p in model.params}, blocks)
        channels = python_expr(model.input.dims[0].value, scope)
        rank = len(model.input.dims)
        cls = _fresh(camel_case(name), taken)
        code, out, uses_f = body_class(
            cls, model.params, model.body, blocks, refs, rank, channels, model.outputs
        )
        code.init += scheme_lines(model.params)
        out_rank = len(graph.nodes[graph.graph["output"]]["shape"])
        code.doc = [
            f"Model {name} from {escape(self._where(model.span))}.",
            "",
            shape_doc(channels, rank, out, out_rank, code.running),
        ]
        self.classes.append(code)
        self.uses_f |= uses_f
        return cls

    def _where(self, span: object) -> str:
        """``common.res:15``: the file a definition is written in (a used file's, for its blocks)."""
        line = getattr(span, "line", 0)
        file = getattr(span, "file", None) or self.file_name
        return f"{file.replace(chr(92), '/').rsplit('/', 1)[-1]}:{line}"


def _fresh(name: str, taken: set[str]) -> str:
    base, k = name, 2
    while name in taken:
        name, k = f"{base}{k}", k + 1
    taken.add(name)
    return name

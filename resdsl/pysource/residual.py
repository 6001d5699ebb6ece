"""A scope with skips as an ``nn.Module`` with its own ``forward`` (a residual block).

Its statements must be a flat sequence of calls, layer groups, ``let`` and
``skip``; anything else is :class:`Unsupported`. Parameter-free unlabelled
layers share one module each (torchvision's single ``self.relu``). The
input is ``x``, the running value ``out``, and a value a skip starts from is
named after its label. A shortcut that ``auto`` makes only where the shapes
differ is built under the condition that they do: the path's stride is not 1,
or the channels change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from resdsl.ir import dims
from resdsl.ops import Layer, get_layer, get_op, node_op
from resdsl.pysource.calls import LayerCode, block_call, is_block_call, layer_code
from resdsl.pysource.chain import INDENT
from resdsl.pysource.emit import MergeEmit
from resdsl.pysource.gates import GATE_CLASS, gate_attribute
from resdsl.pysource.groupstride import group_stride, hoist
from resdsl.pysource.layers import Probes, constructor, validated_args
from resdsl.pysource.layout import SequentialLayers
from resdsl.pysource.mergeargs import option_init, option_lines, varying_option
from resdsl.pysource.names import FORWARD_NAMES, check_user_name, fresh, is_attribute_name
from resdsl.pysource.params import param_line
from resdsl.pysource.pyexpr import (
    IDENT,
    Scope,
    Unsupported,
    is_literal,
    python_expr,
    statement_name,
)
from resdsl.pysource.references import NodeRef, References
from resdsl.pysource.shortcuts import (
    ShortcutCode,
    block_shortcut_code,
    node_shortcut,
    shortcut_name,
)
from resdsl.pysource.skipif import built_group, write_branch
from resdsl.pysource.text import WIDTH
from resdsl.syntax import ast

#: The key of the scope's input among the values skips start from (no label is empty).
_INPUT = ""


@dataclass
class _Value:
    var: str
    channels: str
    stride: list[str]  # the path's stride factors since the scope's input
    fresh: bool  # a tensor made in this forward (a merge may write into it)


@dataclass
class ResidualWriter:
    refs: References
    rank: int
    in_channels: str
    reserved: frozenset[str]
    init: list[str] = field(default_factory=list)
    forward: list[str] = field(default_factory=list)
    shared: dict[str, str] = field(default_factory=dict)  # constructor -> module name
    init_locals: set[str] = field(default_factory=set)  # the writer's own ``__init__`` variables
    uses_f: bool = False
    marks: dict[int, int] = field(default_factory=dict)  # skip -> its place in ``init``
    uses_gate: bool = False  # a merge's gate is a module of the file's ``Gate`` class

    def write(self, body: tuple[ast.Stmt, ...], scope: Scope) -> str:
        """Write ``__init__`` and ``forward`` lines; returns the output channels."""
        skips = [s for s in body if isinstance(s, ast.Skip)]
        sources = {s.src.literal for s in skips if isinstance(s.src, ast.Label)}
        labels = {s.label.literal for s in body if isinstance(s, ast.Call | ast.Group) and s.label}
        self.names = {n for n in labels if n} | set(self.reserved)
        values: dict[str | None, _Value] = {_INPUT: _Value("x", self.in_channels, [], False)}
        cur = values[_INPUT]
        for stmt in body:
            if isinstance(stmt, ast.Let):
                check_user_name(stmt.name, "let")
                self.init.append(f"{stmt.name} = {python_expr(stmt.value, scope)}")
                assert isinstance(scope.names, dict)
                scope.names[stmt.name] = stmt.name
                if isinstance(stmt.value, ast.Name) and (
                    stmt.value.id in scope.blocks or stmt.value.id in scope.block_values
                ):
                    scope.block_values.add(stmt.name)  # a block held by a let
            elif isinstance(stmt, ast.Call | ast.Group):
                label = stmt.label.literal if stmt.label is not None else None
                if stmt.label is not None and (label is None or not IDENT.match(label)):
                    raise Unsupported("an interpolated label in a block with skips")
                if label is not None and not is_attribute_name(label):
                    raise Unsupported(f"the label '{label}' as a module attribute")
                var = (
                    "out"
                    if label not in sources
                    else fresh(str(label), FORWARD_NAMES | self.names - {label})
                )
                cur = self.statement(stmt, scope, cur, var)
                cur = self.labelled(label, cur, values, skips, scope)
            elif isinstance(stmt, ast.If):
                cur = write_branch(self, stmt, scope, cur, values, skips)
            elif isinstance(stmt, ast.ParamDecl):  # self.layer_scale: a gate=NAME merge reads it
                self.init.append(param_line(stmt, scope, self.names))
                self.names.add(stmt.name)
            elif isinstance(stmt, ast.Skip):
                self.marks[id(stmt)] = len(self.init)
            else:
                raise Unsupported(f"{statement_name(stmt)} in a block with skips")
        self.forward.append(f"return {cur.var}")
        return cur.channels

    def labelled(
        self,
        label: str | None,
        cur: _Value,
        values: dict[str | None, _Value],
        skips: list[ast.Skip],
        scope: Scope,
    ) -> _Value:
        """After a statement: its value by label, merged with the skips that end at it."""
        if label is None:
            return cur
        values[label] = cur
        for skip in skips:
            if skip.dst.literal == label:
                cur = self.merge(skip, values, cur, scope)
                values[label] = cur
        scope.channels[label] = cur.channels
        return cur

    def statement(self, stmt: ast.Call | ast.Group, scope: Scope, cur: _Value, var: str) -> _Value:
        if isinstance(stmt, ast.Group):
            return self.group(stmt, scope, cur, var)
        label = stmt.label.literal if stmt.label is not None else None
        if is_block_call(stmt, scope):
            if label is None:
                raise Unsupported("an unlabelled block in a block with skips")
            self.init.append(f"self.{label} = {block_call(stmt, scope, cur.channels)}")
            self.forward.append(f"{var} = self.{label}({cur.var})")
            return _Value(var, f"self.{label}.out_channels", [*cur.stride, "?"], False)
        code = layer_code(stmt, scope, cur.channels, self.rank, self.refs)
        if label is None:
            label = self.shared_module(code)
        else:
            self.init.append(f"self.{label} = {code.ctor}")
        stride = [*cur.stride, *_stride_of(stmt, code, scope)]
        value = _Value(var, code.out_channels, stride, code.layer.fresh_output)
        self.say(f"{var} = {code.call(f'self.{label}', cur.var)}", value)
        return value

    def say(self, line: str, value: _Value) -> None:
        """A ``forward`` line with its value's shape, where the comment fits the line.

        The shape is relative to the scope's input ``[in_channels, H, W]``:
        ``[planes * 4, H/stride, W/stride]`` (sizes divided as the per-instance
        source writes them, ``H/8``, for sizes the strides divide); where that
        does not fit, ``[planes * 4, ...]``.
        """
        if "self." in value.channels:
            self.forward.append(line)
            return
        spatial = _spatial(self.rank, value.stride)
        for shape in (", ".join([value.channels, *spatial]), f"{value.channels}, ..."):
            comment = f"  # [{shape}]"
            if len(INDENT * 2 + line + comment) <= WIDTH:
                self.forward.append(line + comment)
                return
        self.forward.append(line)

    def shared_module(self, code: LayerCode) -> str:
        """One module per parameter-free layer (``self.relu``), shared by every call."""
        if not code.stateless():
            raise Unsupported("an unlabelled layer with parameters in a block with skips")
        if code.ctor not in self.shared:
            name = code.layer.name if IDENT.match(code.layer.name) else "layer"
            base, k = name, 1
            while name in self.names:
                name, k = f"{base}{k}", k + 1
            self.names.add(name)
            self.shared[code.ctor] = name
            self.init.append(f"self.{name} = {code.ctor}")
        return self.shared[code.ctor]

    def group(self, stmt: ast.Group, scope: Scope, cur: _Value, var: str) -> _Value:
        label = stmt.label.literal
        if not all(
            isinstance(inner, ast.Call) and inner.label is None and not is_block_call(inner, scope)
            for inner in stmt.body
        ):
            stride = [*cur.stride, *group_stride(stmt.body, scope, self.refs)]
            built = _Value(var, built_group(self, stmt, scope, cur.channels), stride, False)
            self.say(f"{var} = self.{label}({cur.var})", built)
            return built
        layers = SequentialLayers(scope, self.rank, self.refs, cur.channels)
        for inner in stmt.body:
            if (
                not isinstance(inner, ast.Call)
                or inner.label is not None
                or is_block_call(inner, scope)
            ):
                raise Unsupported("a group of anything but unlabelled layers in a block with skips")
            layers.add(inner)
        channels = layers.done()
        stride = list(cur.stride) + [
            s for c, code in layers.first for s in _stride_of(c, code, scope)
        ]
        self.init.append(f"self.{label} = nn.Sequential({', '.join(layers.ctors)})")
        value = _Value(var, channels, stride, False)
        self.say(f"{var} = self.{label}({cur.var})", value)
        return value

    def merge(
        self,
        skip: ast.Skip,
        values: dict[str | None, _Value],
        dst: _Value,
        scope: Scope,
        nodes: list[NodeRef] | None = None,  # the merge's instances, if not the skip's own
    ) -> _Value:
        src_label = skip.src.literal if isinstance(skip.src, ast.Label) else _INPUT
        if src_label not in values:
            raise Unsupported("a skip from a value not computed before its target")
        src = values[src_label]
        nodes = self.refs.with_role(skip.span, "merge") if nodes is None else nodes
        op = get_op(skip.merge, "merge")
        if not nodes or op is None:
            raise Unsupported("a merge no model elaborates")
        option = varying_option(skip, nodes)  # drop_path=sd_prob: kept on the module
        start = len(self.init)
        other = self.shortcut(skip, src, dst, scope)
        if self.marks.get(id(skip), start) < start:  # a skip written before its target
            hoist(self.init, self.marks[id(skip)], start)
        gate = self.gate(skip, nodes)
        raw = [other, dst.var] if op.skips_first else [dst.var, other]
        emit = MergeEmit(set(self.names) | {"x", "out", "skip", other, dst.var}, gate)
        ins = self.aligned(nodes, raw, emit)
        lines = None
        if option is not None:
            attr = fresh(option, self.names)
            self.names.add(attr)
            self.init.append(option_init(skip, option, attr, scope))
            lines = option_lines(op, nodes, option, attr, ins, emit)
        elif dst.fresh and dst.var == "out" and ins == raw:
            lines = op.in_place_lines(nodes[0].data["args"], "out", ins, emit)
        lines = lines or op.forward_lines(nodes[0].data["args"], "out", ins, emit)
        channels = _merged_channels(nodes[0], [src, dst] if op.skips_first else [dst, src])
        self.forward.extend(text for text, _ in lines[:-1])
        value = _Value("out", channels, dst.stride, True)
        self.say(lines[-1][0], value)
        self.uses_f = self.uses_f or emit.uses_f
        return value

    def gate(self, skip: ast.Skip, nodes: list[NodeRef]) -> str | None:
        """``self.rezero = Gate()`` where the merge is (:mod:`resdsl.pysource.gates`)."""
        name = gate_attribute(self.refs, skip, nodes)
        if name is not None:
            if name in self.names or name in self.shared.values():
                raise Unsupported(f"the gate '{name}', named like another attribute")
            self.names.add(name)
            self.init.append(f"self.{name} = {GATE_CLASS}()")
            self.uses_gate = True
        return name

    def aligned(self, nodes: list[NodeRef], raw: list[str], emit: MergeEmit) -> list[str]:
        """The merge's inputs after their alignments; one provably zero in every model is left out."""
        preds = [n.preds() for n in nodes]
        if any(len(p) != len(raw) for p in preds):
            raise Unsupported("a merge whose inputs differ between models")
        ins = []
        for i, var in enumerate(raw):
            aligns = [(n, p[i]) for n, p in zip(nodes, preds, strict=True)]
            data = [n.graph.nodes[a] for n, a in aligns]
            if any(d["role"] != "align" for d in data):
                if any(d["role"] == "align" for d in data):
                    raise Unsupported("an alignment some models need and others do not")
                ins.append(var)
                continue
            if all(_keeps_shape(n, a) for n, a in aligns):
                ins.append(var)
                continue
            align = node_op(data[0])
            if align is None or len({repr(d["args"]) for d in data}) != 1:
                raise Unsupported("an alignment whose arguments vary")
            out = var if var == "out" else "skip"
            lines = align.forward_lines(data[0]["args"], out, [var, *raw], emit)
            self.forward.extend(text for text, _ in lines)
            ins.append(out)
        return ins

    def shortcut(self, skip: ast.Skip, src: _Value, dst: _Value, scope: Scope) -> str:
        """The shortcut's ``__init__`` and ``forward`` lines; returns the variable the merge adds."""
        name = _shortcut_name(skip)
        op = get_op(name, "shortcut")
        path = dst.stride[len(src.stride) :]
        ends = ((src.var, src.channels), (dst.var, dst.channels))
        if op is None:
            return self.written(block_shortcut_code(self.refs, skip, name, ends, path, scope))
        same, differs = (get_op(op.resolve(s), "shortcut") for s in (True, False))
        builds = (same.builds if same else "?", differs.builds if differs else "?")
        if builds == ("nothing", "nothing"):
            return src.var
        if "?" in builds or differs is None or same is None:
            raise Unsupported(f"the shortcut '{name}' here")
        if "?" in path:
            raise Unsupported("a projection around a block or a layer without a stride argument")
        tests = [f"{s} != 1" for s in path if s != "1"]
        if src.channels != dst.channels:
            tests.append(f"{src.channels} != {dst.channels}")
        if "node" in builds:
            stride = " * ".join(path) if path else "1"
            in_forward = {"x", "out", "identity", src.var, dst.var}
            taken = (self.names | set(scope.names), (self.names - set(scope.names)) | in_forward)
            module = (shortcut_name(self.refs, skip), stride)
            code = node_shortcut((same, differs), module, ends, tests, taken, self.rank)
            return self.written(code)
        module = self.shortcut_module(skip, differs, dst.channels, path)
        if builds[0] == "layers":
            self.init.append(f"self.{module[0]} = {module[1]}")
            self.forward.append(f"identity = self.{module[0]}({src.var})")
        elif not tests:
            return src.var
        else:
            self.init.append(f"self.{module[0]}: nn.Module | None = None")
            self.init.append(f"if {' or '.join(tests)}:")
            self.init.append(f"{INDENT}self.{module[0]} = {module[1]}")
            call = f"self.{module[0]}({src.var})"
            self.forward.append(f"identity = {src.var} if self.{module[0]} is None else {call}")
        return "identity"

    def written(self, code: ShortcutCode) -> str:
        """Add a shortcut's lines (:mod:`resdsl.pysource.shortcuts`); returns its variable."""
        self.init.extend(code.init)
        self.forward.extend(code.forward)
        self.uses_f = self.uses_f or code.uses_f
        return code.var

    def shortcut_module(
        self, skip: ast.Skip, op: Any, channels: str, path: list[str]
    ) -> tuple[str, str]:
        name = shortcut_name(self.refs, skip)
        stride = " * ".join(path) if path else "1"
        probes, (c, s, i) = Probes.make([channels, stride, "in_channels"])
        ctors = []
        in_channels = self.in_channels
        for layer_name, values in op.layers(c, s if path else 1):
            layer = get_layer(layer_name)
            assert isinstance(layer, Layer)
            ps = Probes({**probes.exprs, i: in_channels})
            args = validated_args(layer, values)
            ctors.append(constructor(layer, args, (int(i), *(64,) * (self.rank - 1)), ps))
            in_channels = channels if layer.category == "weighted" else in_channels
        return name, f"nn.Sequential({', '.join(ctors)})"


def _spatial(rank: int, stride: list[str]) -> list[str]:
    """``["H/stride", "W/stride"]``: the sizes after the path's strides ("?": a block's)."""
    if "?" in stride or rank > 4:
        return ["..."]
    names = ["H", "W", "D"][: rank - 1]
    if not stride:
        return names
    simple = [s if IDENT.match(s) or s.isdigit() else f"({s})" for s in stride]
    factor = simple[0] if len(simple) == 1 else f"({' * '.join(simple)})"
    return [f"{name}/{factor}" for name in names]


def _keeps_shape(ref: NodeRef, node: str) -> bool:
    """Is this alignment the identity at every input size (its output size is its input's)?"""
    g = ref.graph
    before = g.nodes[next(iter(g.predecessors(node)))]["shape"]
    after = g.nodes[node]["shape"]
    return len(before) == len(after) and all(
        _same_size(a, b) for a, b in zip(before, after, strict=True)
    )


#: Sizes at which two size expressions of one symbol are compared. Those of a
#: network are floors of affine maps (periodic with the product of the strides),
#: so agreeing on every size up to this bound means agreeing everywhere for any
#: network whose total stride is at most half of it.
_SIZE_BOUND = 4096


def _same_size(a: int, b: int) -> bool:
    """Equal at every size: the same expression, or one symbol with equal values throughout."""
    ea, eb = dims.expr_of(a), dims.expr_of(b)
    if ea == eb:
        return True
    symbols = dims.symbols_of(ea) | dims.symbols_of(eb)
    if len(symbols) != 1:
        return False
    (name,) = symbols
    memo_a: dict[object, int] = {}
    memo_b: dict[object, int] = {}
    for n in range(1, _SIZE_BOUND + 1):
        memo_a.clear()
        memo_b.clear()
        if dims.evaluate(ea, {name: n}, memo_a) != dims.evaluate(eb, {name: n}, memo_b):
            return False
    return True


def _merged_channels(ref: NodeRef, ordered: list[_Value]) -> str:
    """The merge's output channels: its first input's, or their sum (a concatenation)."""
    g = ref.graph
    widths = [int(g.nodes[p]["shape"][0]) for p in ref.preds()]
    out = int(ref.data["shape"][0])
    if len(widths) == len(ordered) and out == sum(widths) and out not in widths:
        return " + ".join(v.channels for v in ordered)
    if any(w != out for w in widths):
        raise Unsupported("a merge whose output channels are neither its inputs' nor their sum")
    return ordered[0].channels


def _shortcut_name(skip: ast.Skip) -> str:
    for option in skip.options:
        if option.name == "shortcut":
            value = option.value
            if isinstance(value, ast.Name):
                return value.id
            raise Unsupported("a shortcut option that is not a name")
    return "identity"


def _stride_of(stmt: ast.Call, code: LayerCode, scope: Scope) -> list[str]:
    """The layer's stride as expressions (none when it is 1); ``?`` where it is not one.

    A layer that changes the size otherwise (unpadded, or an adaptive pool) has
    no stride a shortcut could follow: a shortcut around it is refused.
    """
    for i, arg in enumerate(stmt.args):
        name = arg.name or list(code.layer.Args.model_fields)[i]
        if name == "stride":
            text = python_expr(arg.value, scope)
            return [] if is_literal(arg.value) and text == "1" else [text]
    in_shape, out_shape = code.in_shape, None
    try:
        out_shape = code.layer.infer(code.call_args, in_shape)
    except Exception:
        raise Unsupported(f"whether '{code.layer.name}' keeps the spatial size") from None
    if tuple(int(d) for d in out_shape[1:]) != tuple(int(d) for d in in_shape[1:]):
        return ["?"]
    return []

r"""A scope with ``parallel`` arms or ``from`` inputs as an ``nn.Module`` with a ``forward``.

Written as torchvision writes its Inception modules: each labelled statement
is a child module (``self.branch1``), and a ``parallel`` merges its arms in
one call, ``torch.cat([self.branch1(x), self.branch2(x), ...], dim=1)``. An
arm of one or two statements is written inline
(``self.expand1x1_activation(self.expand1x1(x))``, as torchvision's Fire);
a longer arm, or one with a parallel inside, gets a variable of its own
named after its first label (``branch3x3dbl``). With ``split=N`` the input is
chunked first (``x1, x2 = x.chunk(2, dim=1)``, as ShuffleNet V2).

``STATEMENT from REF`` reads an earlier value of the scope, or ``in``. A
value that nothing the scope returns depends on (GoogLeNet's aux heads in
eval mode) keeps its modules, so its weights load, but ``forward`` skips it,
as the language says; an ``if`` around such values is an ``if`` in
``__init__`` only. An ``if`` whose value is used is an ``if`` in both, and
``forward`` reads the names its test needs from the module
(``self.stride``, as torchvision's InvertedResidual). Unlabelled layers must
be parameter-free: they share one module each (``self.relu``), since a
positional name would need ``self[<int>]``.

>>> import resdsl
>>> spec = resdsl.loads(
...     "block fire(s: int, e: int) {\n"
...     "    squeeze: conv(s, 1)\n"
...     "    parallel (concat) { a: conv(e, 1); b: conv(e, 3, padding=1) }\n"
...     "}\n"
...     "model m() { input [3, H=8, W=8]\n fire(4, 8) }\n"
... )
>>> print(spec.module_source().split("def forward(self, x: torch.Tensor) -> torch.Tensor:")[1]
...       .split("\n\n")[0])
<BLANKLINE>
        x = self.squeeze(x)  # [s, ...]
        return torch.cat([self.a(x), self.b(x)], dim=1)
"""

from __future__ import annotations

import dataclasses
import keyword
import re
from dataclasses import dataclass, field
from typing import Any

from resdsl.ops import get_op
from resdsl.pysource.armlist import arm_list
from resdsl.pysource.blockout import BlockOut, channel_sum
from resdsl.pysource.calls import LayerCode, block_call, is_block_call, layer_code
from resdsl.pysource.chain import CHANNELS, INDENT, ChainWriter, group_variable
from resdsl.pysource.emit import MergeEmit
from resdsl.pysource.layout import sequential_ctor
from resdsl.pysource.pyexpr import IDENT, Scope, Unsupported, python_expr, statement_name
from resdsl.pysource.references import References
from resdsl.pysource.text import WIDTH
from resdsl.source import Span
from resdsl.syntax import ast

#: The source of a statement that reads the value before it.
_PREV = "\0prev"
#: The source of a statement that reads the scope's input (``from in``).
_IN = "\0in"
#: Arms of at most this many statements are written as one nested call.
_INLINE_ARM = 2


def has_branches(body: tuple[ast.Stmt, ...]) -> bool:
    """Does this scope (not a nested group) have a ``parallel``, a ``from`` or a ``shape()``?"""
    for stmt in body:
        if isinstance(stmt, ast.Parallel | ast.From) or size_ref(stmt) is not None:
            return True
        if isinstance(stmt, ast.If) and (has_branches(stmt.body) or has_branches(stmt.orelse)):
            return True
    return False


def _inner(stmt: ast.Stmt) -> ast.Stmt:
    return stmt.stmt if isinstance(stmt, ast.From) else stmt


def _label(stmt: ast.Stmt) -> str | None:
    inner = _inner(stmt)
    label = getattr(inner, "label", None)
    return label.literal if isinstance(label, ast.Label) else None


def _source(stmt: ast.Stmt) -> str:
    """What the statement reads: the value before it, the scope's input, or a label."""
    if not isinstance(stmt, ast.From):
        return _PREV
    if stmt.ref.is_input:
        return _IN
    if len(stmt.ref.labels) != 1 or stmt.ref.labels[0].literal is None:
        raise Unsupported("a 'from' reading inside a labelled child (a tap)")
    return stmt.ref.labels[0].literal


def _ref_key(ref: ast.Ref | ast.InputRef | ast.Label) -> str:
    """``in`` or a label of this scope, as the keys of the values a scope holds."""
    if isinstance(ref, ast.InputRef) or (isinstance(ref, ast.Ref) and ref.is_input):
        return _IN
    labels = ref.labels if isinstance(ref, ast.Ref) else (ref,)
    if len(labels) != 1 or labels[0].literal is None:
        raise Unsupported("a reference inside a labelled child (a tap)")
    return labels[0].literal


def size_ref(stmt: ast.Stmt) -> str | None:
    """The value whose size ``upsample(size=shape(REF))`` takes, or None."""
    inner = _inner(stmt)
    if not isinstance(inner, ast.Call):
        return None
    for arg in inner.args:
        value = arg.value
        if isinstance(value, ast.FuncCall) and value.func == "shape":
            if arg.name != "size" or len(value.args) != 1:
                raise Unsupported("shape() anywhere but as upsample's size=")
            ref = value.args[0]
            if not isinstance(ref, ast.InputRef | ast.Label):
                raise Unsupported("shape() of an expression")  # pragma: no cover - the parser
            return _ref_key(ref)
    return None


def resized_chain(body: tuple[ast.Stmt, ...], refs: References) -> list[str] | None:
    """The ``forward`` of a chain that ends resized to its input, as torchvision's ASPPPooling.

    An ``nn.Sequential`` whose ``forward`` runs its children, then
    ``F.interpolate(out, size=x.shape[2:], ...)``: the last statement is an
    unlabelled ``upsample(size=shape(in))`` (it has no module), and nothing
    before it needs a ``forward`` of its own. None where that is not so.
    """
    if not body or has_branches(body[:-1]) or any(isinstance(s, ast.Skip) for s in body):
        return None
    last = body[-1]
    if not isinstance(last, ast.Call) or last.label is not None or size_ref(last) != _IN:
        return None
    expr, _ = resize_call(last.span, refs, "out", "x")
    return ["out = super().forward(x)", f"return {expr}"]


def resize_call(span: Span, refs: References, x: str, ref: str) -> tuple[str, bool]:
    """The registry's resize line as an expression, and whether it uses ``F``."""
    nodes = refs.with_role(span, "resize")
    op = get_op(nodes[0].data["op"], "resize") if nodes else None
    if op is None or len({repr(n.data["args"]) for n in nodes}) != 1:
        raise Unsupported("a resize no model elaborates, or whose arguments vary")
    emit = MergeEmit({x, ref})
    lines = op.forward_lines(nodes[0].data["args"], "\0", [x, ref], emit)
    if len(lines) != 1 or not lines[0][0].startswith("\0 = "):
        raise Unsupported("a resize of more than one line")  # pragma: no cover
    return lines[0][0][len("\0 = ") :], emit.uses_f


def live_statements(body: tuple[ast.Stmt, ...], outputs: tuple[ast.Output, ...] = ()) -> set[int]:
    """The indexes of the statements whose value the scope's output depends on.

    The last value is the output; a statement is live if the live statement
    after it reads the value before it, or a live ``from`` names its label.
    An ``if`` is allowed only around values nothing reads (an aux head).
    """
    live: set[int] = set()
    wanted: set[str] = {_ref_key(o.ref) for o in outputs}
    need_prev = not outputs
    for i in reversed(range(len(body))):
        stmt = body[i]
        if isinstance(stmt, ast.Let):
            continue
        if isinstance(stmt, ast.If):
            inner = [s for s in (*stmt.body, *stmt.orelse) if not isinstance(s, ast.Let)]
            if any(_label(s) in wanted for s in inner):
                raise Unsupported("a value made inside an 'if' and read after it")
            if need_prev and any(isinstance(s, ast.From) or size_ref(s) for s in inner):
                raise Unsupported("a 'from' or shape() inside an 'if' whose value is used")
            if need_prev:  # its value is the output or the next statement's input
                live.add(i)
            continue
        if not isinstance(stmt, ast.Call | ast.Group | ast.Parallel | ast.From):
            raise Unsupported(f"{statement_name(stmt)} beside a parallel or 'from'")
        if not (need_prev or _label(stmt) in wanted):
            need_prev = False
            continue
        live.add(i)
        source = _source(stmt)
        need_prev = source == _PREV
        wanted |= {r for r in (source, size_ref(stmt)) if r not in (None, _PREV)}
    return live


def plan_variables(
    body: tuple[ast.Stmt, ...], live: set[int], outputs: tuple[ast.Output, ...], taken: set[str]
) -> tuple[str, dict[int, str]]:
    """The running variable, and the statements whose value needs a variable of its own.

    The running variable is ``x``, or ``out`` where a later statement reads
    the input; a labelled value read by a statement (or an output) after
    another live statement moved the running one on has its label as its
    variable (added to ``taken``).
    """
    end = len(body)
    late = {_ref_key(o.ref): end for o in outputs}
    for j in live:
        for key in (_source(body[j]), size_ref(body[j])):
            if key is not None and key != _PREV:
                late[key] = max(late.get(key, j), j)
    first = min(live, default=end)
    running = "out" if late.get(_IN, first) > first else "x"
    own: dict[int, str] = {}
    for i in sorted(live):
        label = _label(body[i])
        if label is None or label not in late:
            continue
        if late[label] == end or any(i < k < late[label] for k in live):
            if not IDENT.match(label) or label in taken:
                raise Unsupported(f"the label '{label}' as a variable")
            taken.add(label)
            own[i] = label
    return running, own


@dataclass
class _Value:
    expr: str  # a variable, or an expression of calls (an inline arm)
    channels: str


@dataclass
class FlowWriter:
    refs: References
    rank: int
    in_channels: str
    reserved: frozenset[str]
    init: list[str] = field(default_factory=list)
    forward: list[str] = field(default_factory=list)
    uses_f: bool = False
    shared: dict[str, str] = field(default_factory=dict)  # constructor -> module name
    attrs: set[str] = field(default_factory=set)  # child module names taken
    local: set[str] = field(default_factory=set)  # forward variables taken
    depth: int = 0  # of the ``__init__`` lines (inside an ``if``)
    fdepth: int = 0  # of the ``forward`` lines
    kept: set[str] = field(default_factory=set)  # parameters kept for forward's ``if``
    running: str = "x"  # the forward variable of the running value
    own: dict[int, str] = field(default_factory=dict)  # statement -> its own variable
    sizes: dict[str, _Value] = field(default_factory=dict)  # the values shape() may read

    def write(
        self, body: tuple[ast.Stmt, ...], scope: Scope, outputs: tuple[ast.Output, ...] = ()
    ) -> str:
        """Write ``__init__`` and ``forward`` lines; returns the output channels."""
        self.attrs = _labels(body) | {"out_channels"}
        self.local = set(self.reserved) | {"x", "out"}
        live = live_statements(body, outputs)
        self.running, self.own = plan_variables(body, live, outputs, self.local)
        values: dict[str, _Value] = {_IN: _Value("x", self.in_channels)}
        self.sizes = values
        cur = self.sequence(body, scope, values[_IN], values, live)
        if outputs:
            self.return_outputs(outputs, values, scope)
        else:
            self.ret(cur)
        return cur.channels

    def return_outputs(
        self, outputs: tuple[ast.Output, ...], values: dict[str, _Value], scope: Scope
    ) -> None:
        """``return {"out": x, "aux": aux}``; an ``output ... if COND`` is added where it holds."""
        always = [o for o in outputs if o.when is None]
        if len(always) == len(outputs):
            items = ", ".join(f'"{o.name}": {values[_ref_key(o.ref)].expr}' for o in outputs)
            self.emit_forward(f"return {{{items}}}")
            return
        if outputs[: len(always)] != tuple(always):
            raise Unsupported("a conditional output before an unconditional one")
        result = self.fresh("result")
        items = ", ".join(f'"{o.name}": {values[_ref_key(o.ref)].expr}' for o in always)
        self.emit_forward(f"{result}: dict[str, torch.Tensor] = {{{items}}}")
        for o in outputs[len(always) :]:
            assert o.when is not None
            self.emit_forward(f"if {python_expr(o.when, self.keep(o.when, scope))}:")
            self.emit_forward(f'{INDENT}{result}["{o.name}"] = {values[_ref_key(o.ref)].expr}')
        self.emit_forward(f"return {result}")

    def sequence(
        self,
        body: tuple[ast.Stmt, ...],
        scope: Scope,
        cur: _Value,
        values: dict[str, _Value],
        live: set[int],
    ) -> _Value:
        """The statements in order; each live value is assigned to ``x``."""
        for i, stmt in enumerate(body):
            if isinstance(stmt, ast.Let):
                self.emit_init(f"{stmt.name} = {python_expr(stmt.value, scope)}")
                assert isinstance(scope.names, dict)
                scope.names[stmt.name] = stmt.name
            elif isinstance(stmt, ast.If) and i in live:
                cur = self.live_branch(stmt, scope, values, cur)
            elif isinstance(stmt, ast.If):
                self.dead_branch(stmt, scope, values, cur)
            else:
                source = _source(stmt)
                src = cur if source == _PREV else values[source]
                forward = list(self.forward)
                value = self.statement(_inner(stmt), scope, src)
                if i not in live:
                    self.forward = forward  # nothing the output depends on reads it
                else:
                    var = self.own.get(i, self.running) if self.fdepth == 0 else self.running
                    if value.expr != var:
                        self.say(f"{var} = {value.expr}", value.channels)
                    value = _Value(var, value.channels)
                cur = value
                label = _label(stmt)
                if label is not None:
                    values[label] = cur
        return cur

    def live_branch(
        self, stmt: ast.If, scope: Scope, values: dict[str, _Value], cur: _Value
    ) -> _Value:
        """An ``if`` the output depends on: in ``__init__`` and, on kept attributes, in ``forward``.

        ``forward`` cannot see the constructor's parameters, so the names the
        test reads are kept on the module (``self.stride = stride``), as
        torchvision's InvertedResidual keeps ``self.stride``.
        """
        test, body, orelse = stmt.test, stmt.body, stmt.orelse
        if not body and not orelse:
            return cur
        if not body:  # if not TEST: the else branch alone
            body, orelse = orelse, body
            is_not = isinstance(test, ast.Unary) and test.op == "not"
            test = (
                test.operand
                if isinstance(test, ast.Unary) and is_not
                else ast.Unary("not", test, test.span)
            )
        kept = self.keep(test, scope)
        init_test = python_expr(test, scope)
        forward_test = python_expr(test, kept)
        outs: list[tuple[str, int]] = []
        for branch, head in ((body, init_test), (orelse, None)):
            if head is None and not branch:
                outs.append((cur.channels, -1))
                break
            self.emit_init(f"if {head}:" if head is not None else "else:")
            self.emit_forward(f"if {forward_test}:" if head is not None else "else:")
            self.depth += 1
            self.fdepth += 1
            starts = len(self.init), len(self.forward)
            value = self.sequence(branch, scope, cur, values, live_statements(branch))
            if value.expr != self.running:
                self.emit_forward(f"{self.running} = {value.expr}")
            if len(self.init) == starts[0]:  # every module it calls is shared, or none
                self.emit_init("pass")
            if len(self.forward) == starts[1] and head is None:
                self.forward.pop()  # an else that computes nothing: no else in forward
            elif len(self.forward) == starts[1]:
                self.emit_forward("pass")
            outs.append((value.channels, len(self.init)))
            self.depth -= 1
            self.fdepth -= 1
        return _Value(self.running, self.joined_channels(outs, scope))

    def joined_channels(self, outs: list[tuple[str, int]], scope: Scope) -> str:
        """The channels after an ``if``: the branches' expression, or a variable each sets."""
        if len({c for c, _ in outs}) == 1:
            return outs[0][0]
        var, taken = "out_channels", self.reserved | set(scope.names)
        while var in taken:
            var += "_"
        indent = INDENT * (self.depth + 1)
        for channels, at in reversed(outs):
            line = f"{indent}{var} = {channels}"
            if at < 0:  # no else: the value passes through
                self.init.append(f"{INDENT * self.depth}else:")
                self.init.append(line)
            else:
                self.init.insert(at, line)
        return var

    def keep(self, test: ast.Expr, scope: Scope) -> Scope:
        """A scope in which the names ``test`` reads are attributes kept by ``__init__``."""
        kept: dict[str, str] = {}
        for name in sorted(_names(test)):
            if name not in scope.names:
                continue
            if not child_name_ok(name) or name in self.attrs - self.kept:
                raise Unsupported(f"the name '{name}' kept for forward's 'if'")
            if name not in self.kept:
                self.kept.add(name)
                self.attrs.add(name)
                self.emit_init(f"self.{name} = {scope.names[name]}")
            kept[name] = f"self.{name}"
        return scope.child(kept)

    def emit_forward(self, line: str) -> None:
        self.forward.append(INDENT * self.fdepth + line)

    def ret(self, cur: _Value) -> None:
        """``return EXPR``: the last line's value returned directly where it was just computed."""
        last = self.forward[-1] if self.forward else ""
        head = f"{cur.expr} = "
        if last.startswith(head) and cur.expr == self.running:
            self.forward[-1] = "return " + last[len(head) :].split("  # [")[0]
        else:
            self.forward.append(f"return {cur.expr}")

    def dead_branch(
        self, stmt: ast.If, scope: Scope, values: dict[str, _Value], cur: _Value
    ) -> None:
        """An ``if`` around values nothing reads: its modules exist under the condition."""
        forward = list(self.forward)
        for body, first in ((stmt.body, True), (stmt.orelse, False)):
            if not first:
                if not body:
                    break
                self.emit_init("else:")
            else:
                self.emit_init(f"if {python_expr(stmt.test, scope)}:")
            start = len(self.init)
            self.depth += 1
            value = cur
            for inner in body:
                if isinstance(inner, ast.Let | ast.If):
                    raise Unsupported(f"{statement_name(inner)} inside an 'if' beside a parallel")
                source = _source(inner)
                src = value if source == _PREV else values[source]
                value = self.statement(_inner(inner), scope, src)
                label = _label(inner)
                if label is not None:
                    values[label] = value
            if len(self.init) == start:
                self.emit_init("pass")
            self.depth -= 1
        self.forward = forward  # nothing in forward reads them

    def emit_init(self, line: str) -> None:
        self.init.append(INDENT * self.depth + line)

    def say(self, line: str, channels: str) -> None:
        """A ``forward`` line with its value's channels, where the comment fits the line."""
        comment = f"  # [{channels}, ...]"
        line = INDENT * self.fdepth + line
        fits = len(INDENT * 2 + line + comment) <= WIDTH and "self." not in channels
        self.forward.append(line + (comment if fits else ""))

    # ------------------------------------------------------------------ statements

    def statement(self, stmt: ast.Stmt, scope: Scope, cur: _Value) -> _Value:
        """The statement's value as an expression of ``cur`` (its modules go to ``__init__``)."""
        if isinstance(stmt, ast.Parallel):
            return self.parallel(stmt, scope, cur)
        if isinstance(stmt, ast.Group):
            return self.group(stmt, scope, cur)
        if not isinstance(stmt, ast.Call):
            raise Unsupported(f"{statement_name(stmt)} in a parallel's arm")
        label = stmt.label.literal if stmt.label is not None else None
        if stmt.label is not None and (label is None or not IDENT.match(label)):
            raise Unsupported("an interpolated label beside a parallel")
        if is_block_call(stmt, scope):
            if label is None or not child_name_ok(label):
                raise Unsupported("an unlabelled block beside a parallel")
            self.emit_init(f"self.{label} = {block_call(stmt, scope, cur.channels)}")
            out = self.block_channels(stmt, scope, cur.channels)
            return _Value(f"self.{label}({cur.expr})", out or f"self.{label}.out_channels")
        if size_ref(stmt) is not None:
            return self.resize(stmt, cur)
        code = layer_code(stmt, scope, cur.channels, self.rank, self.refs)
        if label is None or not child_name_ok(label):
            name = self.shared_module(code)
        else:
            name = label
            self.emit_init(f"self.{label} = {code.ctor}")
        return _Value(self.call(code, f"self.{name}", cur), code.out_channels)

    def resize(self, stmt: ast.Call, cur: _Value) -> _Value:
        """``upsample(size=shape(REF))``: the registry's ``F.interpolate(x, size=ref.shape[2:])``."""
        ref = self.sizes.get(size_ref(stmt) or "")
        if ref is None or not IDENT.match(ref.expr):
            raise Unsupported("a resize to a value this forward does not hold")
        expr, uses_f = resize_call(stmt.span, self.refs, cur.expr, ref.expr)
        self.uses_f |= uses_f
        return _Value(expr, cur.channels)

    def call(self, code: LayerCode, module: str, cur: _Value) -> str:
        """The layer's call on ``cur``; an expression read twice by it is held in a variable."""
        probe = code.call(module, "__value__")
        if probe.count("__value__") > 1 and not IDENT.match(cur.expr):
            raise Unsupported(f"a '{code.layer.name}' reading an inline arm twice")
        return code.call(module, cur.expr)

    def block_channels(self, stmt: ast.Call, scope: Scope, channels: str) -> str | None:
        out = self.refs.block_out.get(stmt.name)
        return out.of(stmt.args, scope, channels) if isinstance(out, BlockOut) else None

    def shared_module(self, code: LayerCode) -> str:
        """One module per parameter-free layer (``self.relu``), shared by every call."""
        if not code.stateless():
            raise Unsupported("an unlabelled layer with parameters beside a parallel")
        if code.ctor in self.shared:
            return self.shared[code.ctor]
        base = code.layer.name if IDENT.match(code.layer.name) else "layer"
        name, k = base, 1
        while name in self.attrs:
            name, k = f"{base}{k}", k + 1
        self.attrs.add(name)
        if self.depth == 0:  # one made under an 'if' may not exist for later calls
            self.shared[code.ctor] = name
        self.emit_init(f"self.{name} = {code.ctor}")
        return name

    def group(self, stmt: ast.Group, scope: Scope, cur: _Value) -> _Value:
        """A labelled group: an inline ``nn.Sequential(...)``, else one filled in a variable."""
        label = stmt.label.literal
        if label is None or not IDENT.match(label) or not child_name_ok(label):
            raise Unsupported("an interpolated label beside a parallel")
        inline = self.inline_group(stmt, scope, cur.channels)
        if inline is not None:
            ctor, channels = inline
            self.emit_init(f"self.{label} = {ctor}")
            return _Value(f"self.{label}({cur.expr})", channels)
        var = group_variable(stmt.label, self.reserved | set(scope.names))
        self.emit_init(f"{var} = nn.Sequential()")
        chain = ChainWriter(self.refs, self.rank, cur.channels, self.reserved, self.init, var)
        chain.body(stmt.body, scope, self.depth)
        self.emit_init(f"self.{label} = {var}")
        channels = chain.channels
        if channels == CHANNELS:
            channels = f"{label}_channels"
            self.emit_init(f"{channels} = {CHANNELS}")
        return _Value(f"self.{label}({cur.expr})", channels)

    def inline_group(self, stmt: ast.Group, scope: Scope, channels: str) -> tuple[str, str] | None:
        """``nn.Sequential(a, b)`` of unlabelled calls whose channels are known, or None."""
        ctors = []
        for inner in stmt.body:
            if not isinstance(inner, ast.Call) or inner.label is not None:
                return None
            if is_block_call(inner, scope):
                out = self.block_channels(inner, scope, channels)
                if out is None:
                    return None
                ctors.append(block_call(inner, scope, channels))
                channels = out
                continue
            code = layer_code(inner, scope, channels, self.rank, self.refs)
            ctors.append(sequential_ctor(code))
            channels = code.out_channels
        return f"nn.Sequential({', '.join(ctors)})", channels

    # ------------------------------------------------------------------ parallel

    def parallel(self, stmt: ast.Parallel, scope: Scope, cur: _Value) -> _Value:
        if not IDENT.match(cur.expr):
            raise Unsupported("a parallel on an inline value")  # pragma: no cover - arms hold it
        nodes = self.refs.with_role(stmt.span, "merge")
        op = get_op(stmt.merge, "merge")
        if not nodes or op is None or len({repr(n.data["args"]) for n in nodes}) != 1:
            raise Unsupported("a parallel no model elaborates, or whose merge varies")
        if stmt.label is not None:
            return self.listed(stmt, scope, cur, op, nodes[0].data["args"])
        inputs = self.split_inputs(stmt, scope, cur)
        arms = [self.arm(arm, scope, value) for arm, value in zip(stmt.arms, inputs, strict=True)]
        emit = MergeEmit(set(self.local))
        lines = op.forward_lines(nodes[0].data["args"], "\0", [a.expr for a in arms], emit)
        if len(lines) != 1 or not lines[0][0].startswith("\0 = "):
            raise Unsupported(f"the merge '{stmt.merge}' of a parallel (more than one line)")
        self.uses_f |= emit.uses_f
        return _Value(lines[0][0][len("\0 = ") :], _merged_channels(nodes[0], arms))

    def listed(self, stmt: ast.Parallel, scope: Scope, cur: _Value, op: Any, args: Any) -> _Value:
        """A labelled parallel: an ``nn.ModuleList`` whose arms are concatenated in a loop."""
        label = stmt.label.literal if stmt.label is not None else None
        if label is None or not child_name_ok(label) or stmt.merge != "concat" or stmt.options:
            raise Unsupported("a labelled parallel but a plain concat of a literal label")
        var, channels = arm_list(
            stmt, scope, cur.channels, self.refs, self.rank, self.reserved, self.init, self.depth
        )
        self.emit_init(f"self.{label} = {var}")
        lines = op.forward_lines(args, "\0", ["\1"], MergeEmit(set(self.local)))
        arms = f"[arm({cur.expr}) for arm in self.{label}]"
        return _Value(lines[0][0][len("\0 = ") :].replace("[\1]", arms), channels)

    def split_inputs(self, stmt: ast.Parallel, scope: Scope, cur: _Value) -> list[_Value]:
        """Each arm's input: the parallel's input, or its chunks (``split=N``)."""
        split = next((o for o in stmt.options if o.name == "split"), None)
        if split is None:
            return [cur] * len(stmt.arms)
        chunks = len(stmt.arms)
        names = [self.fresh(f"{cur.expr}{k + 1}") for k in range(chunks)]
        self.emit_forward(f"{', '.join(names)} = {cur.expr}.chunk({chunks}, dim=1)")
        channels = f"{cur.channels} // {chunks}"
        if IDENT.match(cur.channels) is None and not cur.channels.isdigit():
            channels = f"({cur.channels}) // {chunks}"
        return [_Value(n, channels) for n in names]

    def arm(self, arm: ast.Stmt | ast.Seq, scope: Scope, cur: _Value) -> _Value:
        """An arm's value: inline when short, else computed into a variable of its own."""
        stmts = arm.body if isinstance(arm, ast.Seq) else (arm,)
        if any(isinstance(s, ast.From | ast.If | ast.Repeat | ast.Let) for s in stmts):
            raise Unsupported("a 'from', 'if', 'repeat' or 'let' in a parallel's arm")
        if any(size_ref(s) is not None for s in stmts):
            raise Unsupported("shape() in a parallel's arm")
        inline = len(stmts) <= _INLINE_ARM and not any(isinstance(s, ast.Parallel) for s in stmts)
        if inline:
            for s in stmts:
                cur = self.statement(s, scope, cur)
            return cur
        var = self.fresh(_arm_name(stmts))
        for s in stmts:
            value = self.statement(s, scope, cur)
            self.say(f"{var} = {value.expr}", value.channels)
            cur = _Value(var, value.channels)
        return cur

    def fresh(self, base: str) -> str:
        name, k = base, 2
        while name in self.local:
            name, k = f"{base}_{k}", k + 1
        self.local.add(name)
        return name


def child_name_ok(name: str) -> bool:
    """Can ``self.NAME`` hold a child module (no keyword, no ``nn.Module`` attribute)?"""
    from torch import nn  # the written module is checked with torch anyway

    return (
        IDENT.match(name) is not None
        and not keyword.iskeyword(name)
        and not name.startswith("_")
        and name != "out_channels"
        and not hasattr(nn.Module, name)
    )


def _names(expr: object) -> set[str]:
    """The names an expression reads."""
    if isinstance(expr, ast.Name):
        return {expr.id}
    out: set[str] = set()
    if dataclasses.is_dataclass(expr) and not isinstance(expr, type):
        for f in dataclasses.fields(expr):
            value = getattr(expr, f.name)
            items = value if isinstance(value, tuple) else (value,)
            for item in items:
                out |= _names(item)
    return out


def _labels(body: tuple[ast.Stmt, ...]) -> set[str]:
    """Every literal label of the scope, arms and ``if`` bodies included (module names taken)."""
    out: set[str] = set()
    for stmt in body:
        label = _label(stmt)
        if label is not None:
            out.add(label)
        inner = _inner(stmt)
        if isinstance(inner, ast.Parallel):
            for arm in inner.arms:
                out |= _labels(arm.body if isinstance(arm, ast.Seq) else (arm,))
        if isinstance(inner, ast.If):
            out |= _labels(inner.body) | _labels(inner.orelse)
    return out


def _arm_name(stmts: tuple[ast.Stmt, ...]) -> str:
    """``branch3x3dbl`` for an arm starting ``branch3x3dbl_1``; ``branch`` without a label."""
    for s in stmts:
        label = _label(s)
        if label is not None and IDENT.match(label):
            base = re.sub(r"_\d+[a-z]?\Z", "", label)
            return base if IDENT.match(base) else label
    return "branch"


def _merged_channels(ref: object, arms: list[_Value]) -> str:
    """A concatenation's channels are its arms' sum; any other merge keeps its first input's."""
    from resdsl.pysource.references import NodeRef

    assert isinstance(ref, NodeRef)
    g = ref.graph
    widths = [int(g.nodes[p]["shape"][0]) for p in ref.preds()]
    out = int(ref.data["shape"][0])
    if len(widths) == len(arms) and out == sum(widths) and len(widths) > 1 and out not in widths:
        return channel_sum([a.channels for a in arms])
    if any(w != out for w in widths):
        raise Unsupported("a merge whose output channels are neither its inputs' nor their sum")
    return arms[0].channels

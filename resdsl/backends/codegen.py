"""Code generation: a checked graph -> standalone PyTorch source (pure; no torch here).

:func:`generate` returns a :class:`Generated` value: the source of a module that
imports only torch and defines one ``nn.Module`` class per distinct scope, plus
a map from generated lines back to spec spans.

>>> import resdsl
>>> spec = resdsl.loads('''
... model tiny(width: int = 8) {
...     input [3, H=32, W=32]
...     conv1: conv(width, 3, padding=1)
...     act: relu
...     skip conv1 -> act (add)
... }
... ''', "tiny.res")
>>> gen = generate(spec.graph())
>>> gen.class_name
'Tiny'
>>> forward = gen.source.split("    def forward")[1].split("        return")[0]
>>> print(forward.strip())
(self, x: torch.Tensor) -> torch.Tensor:
        \"\"\"``x``: ``[N, 3, H, W]`` -> ``[N, 8, H, W]``.\"\"\"
        conv1 = self.conv1(x)  # [8, H, W]  tiny.res:4
        del x
        x = self.act(conv1)  # [8, H, W]  tiny.res:5
        x = x + conv1  # [8, H, W]  tiny.res:6

How the graph becomes classes
-----------------------------

Every scope of the graph (see :mod:`resdsl.ir.graph`) is a class: the model, each
block instance, each labelled group, each shortcut container (a projection's
``0``, ``1``, ... and, with ``gate=rezero``, its ``gate`` parameter). Scopes
with the same structure (the same generated class body: modules, constructor
arguments, shapes, spec lines, nested classes) share one class, named after
the block (``Basic``, ``Basic2``, ...), the group label plus ``Group``
(``DoubleConvGroup``), the shortcut's label or block (``Downsample``,
``ConvShortcut``), and the model in CamelCase (``resnet18`` -> ``Resnet18``,
``unet_original`` -> ``UnetOriginal``; the plain twin adds ``Plain``).

Children are registered in graph insertion order under their names from the
naming rule, so ``state_dict`` keys come in node order. Numeric names
(``0``, ``2``) are registered with ``add_module``; a class with numbered
children derives from ``Indexed``, whose ``__getitem__`` makes
``model.layer1[0].conv1`` work as it does on an ``nn.Sequential``.

``forward`` is straight-line code, one operation per line, each commented with
its output shape (symbolic, without batch) and its spec line. Variables are
allocated by a liveness analysis: a value's variable is reused as soon as no
later line reads it, so a skip source stays alive only until its merge.
Values that feed a skip are named after their label (``down3``, ``preact``).
A value that dies at a step without being overwritten is ``del``-eted there.
The same analysis lets a ``relu`` (``relu6``, ``leaky_relu``) run in place, as
torchvision's do, when its input is a fresh tensor of this ``forward`` that
nothing reads afterwards (see ``_Codegen.can_run_in_place``).

Safety: the spec never runs code. The source is built only from validated
identifiers (labels, block and model names), ``repr()`` of validated numbers
and strings, and the constructor source of registered layers; each constructor
and call is parsed to check it is a single expression over ``torch``/``nn``/
``F``. File names, shapes and other text reach the source only inside
comments and docstrings, escaped so they cannot end them.
"""

from __future__ import annotations

import ast as pyast
import builtins
import keyword
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import networkx as nx

from resdsl.backends.init import init_lines, resolve_init
from resdsl.diagnostics import ResdslError
from resdsl.ir.dims import SizeDomain, describe
from resdsl.ir.graph import ParamTensor, ScopeInfo
from resdsl.ir.names import MODEL_ATTRIBUTES, MODULE_ATTRIBUTES
from resdsl.ops import Layer, Merge, Op, node_op
from resdsl.passes.costs import live_nodes
from resdsl.source import Span
from resdsl.version import __version__

INDENT = "    "

#: Names the generated module defines or imports at top level.
GLOBALS = frozenset({"torch", "nn", "F", "Indexed", "__all__"})

#: Names a constructor or call expression from a built-in layer may refer to.
ALLOWED_NAMES = frozenset({"torch", "nn", "F"})

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_NUMBER = re.compile(r"(?:0|[1-9][0-9]*)\Z")

_RESERVED_VARIABLES = (
    frozenset(keyword.kwlist) | frozenset(dir(builtins)) | GLOBALS | {"self", "math"}
)

#: Ops defined in this package: their code may refer only to torch, nn and F.
_BUILTIN_OP_MODULE = "resdsl.ops."


@dataclass(frozen=True)
class Generated:
    """The result of :func:`generate`.

    - ``source``: the Python module text (imports only torch);
    - ``class_name``: the model's class, which takes no arguments;
    - ``line_map``: 1-based generated line -> the spec span it came from;
    - ``line_values``: 1-based line of each ``forward`` statement that
      completes a graph node's value -> ``(variable, node)``, where ``node`` is
      the node id relative to the scope of the class (prefix it with the
      module's path to get the graph node id). Tools use it to observe every
      node at run time;
    - ``classes``: class name -> the scope paths it is instantiated at
      (``""`` for the model).
    """

    source: str
    class_name: str
    line_map: dict[int, Span]
    line_values: dict[int, tuple[str, str]] = field(default_factory=dict)
    classes: dict[str, list[str]] = field(default_factory=dict)


def generate(
    graph: nx.DiGraph,
    *,
    init: str | None = None,
    zero_init_residual: bool | None = None,
) -> Generated:
    """Generate standalone PyTorch source for a checked graph.

    ``init`` and ``zero_init_residual`` override the model's parameters of the
    same name (see :mod:`resdsl.backends.init`); the chosen initialisation is written
    into the model class's ``__init__``.

    >>> import resdsl
    >>> src = generate(resdsl.load("specs/resnet.res").graph("resnet18")).source  # doctest: +SKIP
    >>> "class Resnet18(nn.Module):" in src                                       # doctest: +SKIP
    True
    """
    return _Codegen(graph, init, zero_init_residual).run()


# ---------------------------------------------------------------- text helpers


def camel_case(name: str) -> str:
    """``resnet18`` -> ``Resnet18``, ``unet_original`` -> ``UnetOriginal``.

    >>> camel_case("double_conv"), camel_case("_x")
    ('DoubleConv', 'X')
    """
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", name) if p]
    out = "".join(p[0].upper() + p[1:] for p in parts)
    if not out or not _IDENT.match(out):
        return "Module"
    if out[0].isdigit():
        out = "M" + out
    return out


def escape(text: str) -> str:
    """Text made safe for a comment or a docstring: printable ASCII, no quotes or newlines.

    >>> escape('a"b\\nc')
    'a\\\\"b\\\\nc'
    """
    out = text.encode("unicode_escape").decode("ascii")
    return out.replace('"', '\\"')


def shape_text(shape: Sequence[int], domain: Mapping[str, SizeDomain] | None = None) -> str:
    """``[64, H/4, W/4]``, each size in a form that holds at every size in ``domain``."""
    return "[" + ", ".join(describe(d, domain) for d in shape) + "]"


def _where(span: Span | None) -> str:
    if span is None:
        return ""
    name = span.file.replace("\\", "/").rsplit("/", 1)[-1] if span.file else "<spec>"
    return escape(f"{name}:{span.line}")


def _literal(value: Any) -> str:
    """A Python literal for a validated number (finite) or bool."""
    if isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return repr(int(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ResdslError.single(
                "codegen-number", f"{value!r} cannot appear in generated code (not finite)"
            )
        return repr(value)
    raise TypeError(f"not a number: {value!r}")  # pragma: no cover - callers validate


def _spec_value(value: Any) -> str:
    """A block argument as the spec would write it (for docstrings; escaped later)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_spec_value(v) for v in value) + "]"
    if isinstance(value, int | float):
        return repr(value)
    name = getattr(value, "name", None)  # a block given as an argument: the spec names it
    return name if isinstance(name, str) else repr(value)


def _check_expression(source: str, allowed: frozenset[str] | None, what: str) -> None:
    """``source`` must be one Python expression referring only to ``allowed`` names."""
    if (source, allowed) not in _CHECKED:
        _check_expression_uncached(source, allowed, what)
        if len(_CHECKED) < 100_000:
            _CHECKED.add((source, allowed))


#: Expressions already found safe: repeated blocks repeat their constructors.
_CHECKED: set[tuple[str, frozenset[str] | None]] = set()


def _check_expression_uncached(source: str, allowed: frozenset[str] | None, what: str) -> None:
    try:
        tree = pyast.parse(source, mode="eval")
    except SyntaxError:
        raise ResdslError.single(
            "codegen", f"{what} produced invalid Python: {escape(source)}"
        ) from None
    if allowed is None:
        return
    for node in pyast.walk(tree):
        if isinstance(node, pyast.Name) and node.id not in allowed:
            raise ResdslError.single(
                "codegen",
                f"{what} produced {escape(source)}, which refers to '{node.id}'",
                hint="generated code may only use torch, nn and F; check the argument values "
                "(a number that is not finite, e.g. 1e999, cannot be written as code)",
            )


def _check_statement(source: str, what: str) -> None:
    """``source`` must be one Python statement (the line of a user's op)."""
    try:
        tree = pyast.parse(source, mode="exec")
    except SyntaxError:
        tree = None
    if tree is None or len(tree.body) != 1:
        raise ResdslError.single("codegen", f"{what} produced invalid Python: {escape(source)}")


# ---------------------------------------------------------------- namespace


class Namespace:
    """Fresh identifiers that never collide with keywords, builtins, globals or each other.

    Like ``torch.fx``'s ``_Namespace``: a candidate that is not a usable
    identifier gets a trailing ``_``; a taken one gets ``_1``, ``_2``, ... (or
    ``2``, ``3``, ... for class names that do not end in a digit).

    >>> ns = Namespace(reserved={"x"})
    >>> ns.create("x"), ns.create("lambda"), ns.create("lambda")
    ('x_1', 'lambda_', 'lambda__1')
    """

    def __init__(self, reserved: Iterable[str] = (), *, numbered: bool = False) -> None:
        self.taken: set[str] = set(_RESERVED_VARIABLES) | set(reserved)
        self.numbered = numbered

    def free(self, name: str) -> bool:
        return name not in self.taken

    def create(self, candidate: str) -> str:
        base = candidate if _IDENT.match(candidate) else "v"
        if keyword.iskeyword(base):
            base += "_"
        name = base
        k = 1
        while name in self.taken:
            k += 1
            numbered = self.numbered and not base[-1].isdigit()
            name = f"{base}{k}" if numbered else f"{base}_{k - 1}"
        self.taken.add(name)
        return name


# ---------------------------------------------------------------- units


@dataclass
class _Unit:
    """One child of a scope: a graph node, a nested scope, or a rezero gate container."""

    kind: Literal["node", "scope", "gate"]
    key: str  # node id, or scope path
    name: str = ""  # the child's module name, for modules


@dataclass
class _Line:
    text: str
    span: Span | None = None
    value: tuple[str, str] | None = None


@dataclass
class _Class:
    name: str
    base: str
    doc: str
    body: list[_Line]
    paths: list[str] = field(default_factory=list)


def child_ref(name: str) -> str:
    """How ``forward`` refers to a child module: ``self.conv1``, ``self[0]``."""
    if _NUMBER.match(name):
        return f"self[{name}]"
    if not _IDENT.match(name) or keyword.iskeyword(name) or name.startswith("__"):
        return f"getattr(self, {name!r})"
    return f"self.{name}"


def child_init(name: str, ctor: str) -> str:
    """How ``__init__`` registers a child module (a quoted label such as ``block1-0`` by name)."""
    if (
        _NUMBER.match(name)
        or not _IDENT.match(name)
        or keyword.iskeyword(name)
        or name.startswith("__")
    ):
        return f"self.add_module({name!r}, {ctor})"
    return f"self.{name} = {ctor}"


def param_source(param: ParamTensor) -> str:
    """The constructor of a ``param``: ``nn.Parameter(torch.zeros(1, 1, 768))``.

    >>> from resdsl.source import SourceFile
    >>> span = SourceFile("t.res", "x").span(0, 1)
    >>> param_source(ParamTensor((96, 1, 1), "fill", 1e-06, span))
    'nn.Parameter(torch.full((96, 1, 1), 1e-06))'
    """
    sizes = ", ".join(str(d) for d in param.shape)
    if param.init == "normal":
        return f"nn.Parameter(torch.empty({sizes}).normal_(std={param.value!r}))"
    if param.value in (0.0, 1.0):
        return f"nn.Parameter(torch.{'zeros' if param.value == 0.0 else 'ones'}({sizes}))"
    shape = f"({sizes},)" if len(param.shape) == 1 else f"({sizes})"
    return f"nn.Parameter(torch.full({shape}, {param.value!r}))"


def _written_after(span: Span | None, other: Span) -> bool:
    """``span`` starts after ``other`` in the same file."""
    return span is not None and span.source is other.source and span.start > other.start


def _parent_of(path: str) -> str:
    return path.rpartition(".")[0]


class _Structure:
    """Every scope's children in order (nodes, nested scopes, rezero gates), from the graph."""

    def __init__(self, nodes: dict[str, dict[str, Any]], scopes: dict[str, ScopeInfo]) -> None:
        self.nodes = nodes
        self.scopes = scopes
        self.ops: dict[str, Op | None] = {n: node_op(d) for n, d in nodes.items()}
        self.units: dict[str, list[_Unit]] = {path: [] for path in scopes}
        self.gates: dict[str, str] = {}  # gate owner path -> merge node
        self.seen: dict[str, set[tuple[str, str]]] = {path: set() for path in scopes}

    def add(self, scope: str, unit: _Unit) -> None:
        if (unit.kind, unit.key) not in self.seen[scope]:
            self.seen[scope].add((unit.kind, unit.key))
            self.units[scope].append(unit)

    def collect(self) -> None:
        """For every scope, its children in order of their first node."""
        for node, data in self.nodes.items():
            if data["role"] == "input":
                continue
            parent = data["parent"]
            if parent not in self.scopes:
                raise _internal(
                    node, f"its parent scope {parent!r} is not in graph.graph['scopes']"
                )
            op = self.ops[node]
            if isinstance(op, Merge) and op.has_gate(data["args"]):
                self.add_gate(node, data)
            self.add(parent, _Unit("node", node, data["name"]))
            # Register the node's enclosing scopes with their own parents.
            child = parent
            while child:
                up = _parent_of(child)
                if up not in self.scopes:
                    raise _internal(node, f"scope {child!r} has no parent scope {up!r}")
                self.add(up, _Unit("scope", child, child.rpartition(".")[2]))
                child = up
        # Scopes with no nodes (an empty block) still appear in their parent.
        for path in self.scopes:
            if path and ("scope", path) not in self.seen[_parent_of(path)]:
                self.place_empty_scope(path)
        for units in self.units.values():
            self.place_early_shortcuts(units)

    def place_early_shortcuts(self, units: list[_Unit]) -> None:
        """A skip written before its destination registers its shortcut where it is written.

        Its nodes follow the destination in the graph, so its modules would come
        after the destination's; torchvision's RegNet registers ``proj`` before
        ``f``, and a spec says so by writing ``proj: skip in -> f (...)`` first.
        """
        for k in range(len(units)):
            unit = units[k]
            if unit.kind != "scope" or self.scopes[unit.key].kind != "shortcut":
                continue
            where = self.scopes[unit.key].span
            first_after = next(
                (j for j in range(k) if _written_after(self.unit_span(units[j]), where)), None
            )
            if first_after is not None:
                units.insert(first_after, units.pop(k))

    def unit_span(self, unit: _Unit) -> Span | None:
        if unit.kind == "node":
            span: Span | None = self.nodes[unit.key]["span"]
            return span
        if unit.kind == "scope":
            return self.scopes[unit.key].span
        return None

    def add_gate(self, node: str, data: dict[str, Any]) -> None:
        """A merge's learned gate lives in its owner scope (a shortcut) or a gate module."""
        owner, parent = data["scope"], data["parent"]
        # The elaborator refuses skip labels that clash (check_skip_labels).
        if owner in self.gates:
            raise _internal(node, f"a second rezero gate is named {owner!r}")
        self.gates[owner] = node
        if owner in self.scopes and self.scopes[owner].kind != "shortcut":
            raise _internal(node, f"its gate {owner!r} is also a statement's scope")
        if owner not in self.scopes:
            if _parent_of(owner) != parent:
                raise _internal(node, f"its gate {owner!r} is not in scope {parent!r}")
            self.add(parent, _Unit("gate", owner, owner.rpartition(".")[2]))

    def place_empty_scope(self, path: str) -> None:
        """An empty scope is placed right after the unit that produces its input."""
        units = self.units[_parent_of(path)]
        info = self.scopes[path]
        position = 0
        for i, unit in enumerate(units):
            if info.input is not None and self.produces(unit, info.input):
                position = i + 1
        units.insert(position, _Unit("scope", path, path.rpartition(".")[2]))

    def produces(self, unit: _Unit, node: str) -> bool:
        if unit.kind == "node":
            return unit.key == node
        if unit.kind == "scope":
            return self.scopes[unit.key].output == node
        return False


class _Codegen:
    """Turns a checked graph into classes: one per distinct scope, then the module text."""

    def __init__(self, graph: nx.DiGraph, init: str | None, zero: bool | None) -> None:
        self.g = graph
        self.nodes: dict[str, dict[str, Any]] = dict(graph.nodes(data=True))
        self.scopes: dict[str, ScopeInfo] = graph.graph["scopes"]
        if "" not in self.scopes:
            raise ResdslError.single("codegen", "the graph has no model scope (did it check?)")
        self.init_scheme, self.zero_init = resolve_init(graph, init, zero)
        self.structure = _Structure(self.nodes, self.scopes)
        self.ops = self.structure.ops
        self.units = self.structure.units
        self.gates = self.structure.gates
        self.classes: dict[tuple[Any, ...], _Class] = {}
        self.class_order: list[_Class] = []
        model = str(graph.graph.get("model") or "model")
        base = camel_case(model) + ("Plain" if graph.graph.get("plain") else "")
        self.class_ns = Namespace(reserved={"Indexed"}, numbered=True)
        self.model_class = self.class_ns.create(base)
        self.uses_f = False
        self.inplace: set[str] = set()  # activations that may overwrite their input
        self.uses_indexed = False
        self.exports, self.imports = scope_crossings(graph, self.scopes)
        #: The model's named outputs (``output NAME: REF``): forward returns them in a dict.
        self.outputs: dict[str, str] = dict(graph.graph.get("outputs") or {})
        #: Nodes an output depends on; the others (an unused aux head) are built, not run.
        self.live = live_nodes(graph)

    def is_module_node(self, node: str) -> bool:
        op = self.ops[node]
        if op is None:  # an unknown op: layer_of reports it
            return self.nodes[node]["role"] in ("layer", "shortcut")
        return op.has_module

    # ------------------------------------------------------------ run

    def run(self) -> Generated:
        self.structure.collect()
        root = self.emit_scope("")
        return assemble(self, root)

    # ------------------------------------------------------------ names

    def check_child_name(self, name: str, span: Span | None, scope: str, extra: set[str]) -> None:
        where = f"'{scope}'" if scope else "the model"
        if _NUMBER.match(name):
            return
        if not name or "." in name:
            raise ResdslError.single(
                "codegen-name",
                f"'{escape(name)}' in {where} cannot name a PyTorch module",
                span,
                hint="a module name is not empty and has no '.'",
            )
        reserved = name in MODULE_ATTRIBUTES or name in extra
        if "code" in extra and name.startswith("_resdsl"):
            reserved = True  # the model class keeps resdsl's own attributes under _resdsl*
        if reserved or (name.startswith("__") and name.endswith("__")):
            raise ResdslError.single(
                "codegen-name",
                f"the label '{name}' in {where} cannot name a PyTorch module: "
                f"'{name}' is already an attribute of the module",
                span,
                hint="choose another label",
            )

    # ------------------------------------------------------------ scopes

    def emit_scope(self, path: str) -> _Class:
        """Generate (or reuse) the class of a scope, children first."""
        info = self.scopes[path]
        has_gate = path in self.gates and path in self.scopes and info.kind == "shortcut"
        extra: set[str] = {"forward"}
        if has_gate:
            extra.add("gate")
        if path == "":
            extra |= MODEL_ATTRIBUTES
        # First: the forward decides which activations run in place.
        forward = _ForwardWriter(self, path).lines()
        init = self.init_params(path, extra) + self.init_children(path, extra)
        if has_gate:
            span = self.nodes[self.gates[path]]["span"]
            init.append(_Line(_GATE_LINE + f"  {_where(span)}", span))
        if path == "":
            init.extend(
                _Line(line)
                for line in init_lines(self.g, self.init_scheme, self.zero_init, self.module_path)
            )
        body: list[_Line] = [
            _Line("def __init__(self) -> None:"),
            _Line(INDENT + "super().__init__()"),
        ]
        body += [_Line(INDENT + line.text, line.span, line.value) for line in init]
        body.append(_Line(""))
        body += forward
        numbered = any(_NUMBER.match(u.name) for u in self.units[path] if self.is_child_module(u))
        base = "Indexed" if numbered else "nn.Module"
        if numbered:
            self.uses_indexed = True
        doc = self.class_doc(path)
        if path == "":
            cls = _Class(self.model_class, base, doc, body, [path])
            self.class_order.append(cls)
            return cls
        return self.shared_class(
            (base, doc, _body_key(body)),
            path,
            self.class_base(path),
            cls_base=base,
            doc=doc,
            body=body,
        )

    def init_params(self, path: str, extra: set[str]) -> list[_Line]:
        """The ``__init__`` lines of the scope's ``param`` tensors (``self.NAME = ...``)."""
        lines: list[_Line] = []
        for name, param in self.scopes[path].params.items():
            self.check_child_name(name, param.span, path, extra)
            if keyword.iskeyword(name):
                raise ResdslError.single(
                    "codegen-name",
                    f"the param '{name}' cannot be a PyTorch attribute: it is a Python keyword",
                    param.span,
                    hint="choose another name",
                )
            extra.add(name)
            lines.append(
                _Line(f"self.{name} = {param_source(param)}  # {_where(param.span)}", param.span)
            )
        return lines

    def is_child_module(self, unit: _Unit) -> bool:
        return unit.kind != "node" or self.is_module_node(unit.key)

    def init_children(self, path: str, extra: set[str]) -> list[_Line]:
        """The ``__init__`` lines that build a scope's child modules, in order."""
        init: list[_Line] = []
        names: dict[str, _Unit] = {}
        for unit in self.units[path]:
            if not self.is_child_module(unit):
                continue
            span = self.span_of(unit)
            self.check_child_name(unit.name, span, path, extra)
            if unit.name in names:
                raise ResdslError.single(
                    "codegen-name",
                    f"two modules in '{path or 'the model'}' are both named '{unit.name}'",
                    span,
                    hint="give one of them another label",
                )
            names[unit.name] = unit
            if unit.kind == "node":
                ctor = self.layer_ctor(unit.key)
            elif unit.kind == "scope":
                ctor = self.emit_scope(unit.key).name + "()"
            else:
                ctor = self.gate_class(unit.key).name + "()"
            init.append(_Line(f"{child_init(unit.name, ctor)}  # {_where(span)}", span))
        return init

    def shared_class(
        self,
        key: tuple[Any, ...],
        path: str,
        name: str,
        *,
        cls_base: str,
        doc: str,
        body: list[_Line],
    ) -> _Class:
        """The class with this structure: an existing one (used at one more path) or a new one."""
        found = self.classes.get(key)
        if found is not None:
            found.paths.append(path)
            return found
        cls = _Class(self.class_ns.create(name), cls_base, doc, body, [path])
        self.classes[key] = cls
        self.class_order.append(cls)
        return cls

    def gate_class(self, path: str) -> _Class:
        span = self.nodes[self.gates[path]]["span"]
        body = [
            _Line("def __init__(self) -> None:"),
            _Line(INDENT + "super().__init__()"),
            _Line(INDENT + _GATE_LINE + f"  {_where(span)}", span),
        ]
        doc = "A rezero gate: a learnable scalar, initialised to 0, that scales a residual branch."
        key = ("gate", doc, _body_key(body))
        return self.shared_class(key, path, "Gate", cls_base="nn.Module", doc=doc, body=body)

    def class_base(self, path: str) -> str:
        info = self.scopes[path]
        label = path.rpartition(".")[2]
        if info.block:
            return camel_case(info.block)
        if info.kind == "group":
            return (camel_case(label) if not _NUMBER.match(label) else "") + "Group"
        return camel_case(label) if not _NUMBER.match(label) else "Shortcut"

    def class_doc(self, path: str) -> str:
        info = self.scopes[path]
        if path == "":
            model = str(self.g.graph.get("model", ""))
            twin = " (the plain twin: every skip removed)" if self.g.graph.get("plain") else ""
            args = ", ".join(f"{k}={_spec_value(v)}" for k, v in info.args.items())
            return f"Model {model}({args}){twin}, generated by resdsl from {_where(info.span)}."
        label = path.rpartition(".")[2]
        if info.block:
            args = ", ".join(f"{k}={_spec_value(v)}" for k, v in info.args.items())
            if info.kind == "shortcut":
                return f"Shortcut {label}: block {info.block}({args})."
            return f"Block {info.block}({args})."
        if info.kind == "group":
            return f"Group {path.rpartition('.')[2]}: its statements in sequence."
        if info.kind == "shortcut":
            gate = ", with a rezero gate" if path in self.gates else ""
            ops = [str(d.get("op")) for d in self.nodes.values() if d.get("parent") == path]
            return f"Shortcut {label}: a projection ({' and '.join(ops)}){gate}."
        return ""  # pragma: no cover

    def span_of(self, unit: _Unit) -> Span | None:
        if unit.kind == "node":
            span: Span = self.nodes[unit.key]["span"]
            return span
        if unit.kind == "scope":
            return self.scopes[unit.key].span
        return self.nodes[self.gates[unit.key]]["span"]  # type: ignore[no-any-return]

    def module_path(self, node: str) -> str:
        """The module path of a module node: its parent scope plus its name."""
        data = self.nodes[node]
        return f"{data['parent']}.{data['name']}" if data["parent"] else str(data["name"])

    # ------------------------------------------------------------ layers

    def input_of(self, node: str) -> str:
        preds = self.preds(node)
        if len(preds) != 1:
            raise _internal(node, f"a layer needs one input, it has {len(preds)}")
        return preds[0]

    def preds(self, node: str) -> list[str]:
        return sorted(self.g.predecessors(node), key=lambda p: self.g.edges[p, node]["index"])

    def layer_of(self, node: str) -> Layer:
        op = self.ops[node]
        if not isinstance(op, Layer):
            raise _internal(node, f"no registered layer '{self.nodes[node]['op']}'")
        return op

    def layer_ctor(self, node: str) -> str:
        layer = self.layer_of(node)
        data = self.nodes[node]
        in_shape = self.nodes[self.input_of(node)]["shape"]
        ctor = str(layer.torch_init(data["args"], in_shape))
        _check_expression(ctor, _allowed_names(layer), f"layer '{data['op']}' at {node!r}")
        if node in self.inplace:
            ctor = _with_inplace(ctor)
        return ctor

    def layer_call(self, node: str, module: str, x: str) -> str:
        layer = self.layer_of(node)
        data = self.nodes[node]
        in_shape = self.nodes[self.input_of(node)]["shape"]
        call = str(layer.torch_call(module, x, data["args"], in_shape))
        allowed = _allowed_names(layer)
        if allowed is not None:
            allowed = allowed | {"self", "getattr", x}
        _check_expression(call, allowed, f"layer '{data['op']}' at {node!r}")
        return call

    def forward_doc(self) -> str:
        g = self.g
        in_shape = g.graph.get("input_shape") or self.nodes[g.graph["input"]]["shape"]
        out_shape = g.graph.get("output_shape") or self.nodes[g.graph["output"]]["shape"]
        kind = " integer indices (torch.long)" if integer_input(g) else ""
        domain = g.graph.get("valid_sizes")
        result = f"``[N, {shape_text(out_shape, domain)[1:]}``"
        if self.outputs:
            result = "a dict: " + ", ".join(
                f"``{name}``: ``[N, {shape_text(self.nodes[node]['shape'], domain)[1:]}``"
                for name, node in self.outputs.items()
            )
        text = f"``x``: ``[N, {shape_text(in_shape, domain)[1:]}``{kind} -> {result}."
        return f'"""{escape(text)}"""'


_GATE_LINE = "self.gate = nn.Parameter(torch.zeros(()))  # rezero: the block starts as the identity"


def _body_key(body: list[_Line]) -> tuple[tuple[str, tuple[str, str] | None], ...]:
    return tuple((line.text, line.value) for line in body)


def _allowed_names(op: Op) -> frozenset[str] | None:
    """Built-in ops may only name torch, nn and F; a user's op is only parsed."""
    return ALLOWED_NAMES if type(op).__module__.startswith(_BUILTIN_OP_MODULE) else None


# ---------------------------------------------------------------- forward


@dataclass
class _Plan:
    """A scope's ``forward`` in SSA form: value ``i`` is defined by step ``i``, ``-1`` is the input.

    ``alias[i]``: the value a no-op step passes through; ``last_use[v]``: the
    last step that reads value ``v``; ``skip_read``: values a skip starts from.
    """

    steps: list[_Unit]
    defines: list[str] = field(default_factory=list)
    reads: list[list[int]] = field(default_factory=list)
    read_nodes: list[list[str]] = field(default_factory=list)
    alias: dict[int, int] = field(default_factory=dict)
    final: int = -1
    real: list[int] = field(default_factory=list)
    last_use: dict[int, int] = field(default_factory=dict)
    skip_read: set[int] = field(default_factory=set)
    #: Values a step defines besides its own: what a child scope returns beyond its output.
    extra: dict[int, list[tuple[int, str]]] = field(default_factory=dict)
    #: The scope's values besides its output (exports, or the model's other outputs).
    finals: list[int] = field(default_factory=list)
    #: Values that enter besides ``x``: what the scope reads from outside (``-2``, ``-3``...).
    entries: list[tuple[int, str]] = field(default_factory=list)


class _Variables:
    """Variable names of one ``forward``: named after labels, or generic and recycled."""

    def __init__(self, input_read: bool) -> None:
        self.var: dict[int, str] = {-1: "x"}
        self.labelled: set[str] = set()  # variables named after a label: never recycled
        self.live: set[str] = {"x"}
        self.free: list[str] = [] if input_read else ["x"]

    def take(self, name: str) -> str:
        if name in self.free:
            self.free.remove(name)
        self.live.add(name)
        return name

    def fresh(self, base: str) -> str:
        return self.take(Namespace(self.live | set(self.free) | self.labelled).create(base))

    def choose(self, label: str, named: bool, in_vars: list[str], dying: list[str]) -> str:
        """The variable of a step's output (``named``: a skip starts from it)."""
        if named:
            # A quoted label ("block1-0") names its variable block1_0.
            out = self.fresh(re.sub(r"\W", "_", label, flags=re.ASCII))
            self.labelled.add(out)
            return out
        if in_vars and in_vars[0] in dying:
            return self.take(in_vars[0])  # the value it is derived from dies here
        generic = [name for name in dying if name not in self.labelled]
        if generic:
            return self.take(generic[0])
        if self.free:
            return self.take("x" if "x" in self.free else self.free[0])
        return self.fresh("out")

    def release(self, names: list[str]) -> None:
        self.free.extend(n for n in names if n not in self.labelled and n not in self.free)


class _Emit:
    """What an op writing its own ``forward`` lines may ask for (see :class:`resdsl.ops.base.Emit`)."""

    def __init__(self, cg: _Codegen, node: str, temps: Namespace) -> None:
        self.cg = cg
        self.node = node
        self.temps = temps

    def literal(self, value: int | float | bool) -> str:
        return _literal(value)

    def temp(self, base: str) -> str:
        return self.temps.create(base)

    def use_functional(self) -> None:
        self.cg.uses_f = True

    def gate(self) -> str:
        owner = str(self.cg.nodes[self.node]["scope"])
        return f"{child_ref(owner.rpartition('.')[2])}.gate"


class _ForwardWriter:
    """The ``forward`` method of a scope's class: straight-line code, liveness-named.

    Each step (a layer, a nested scope, a merge, a shortcut or an align)
    defines one value. A value that a skip starts from gets its label as
    variable name; every other value takes a generic name (``x``, ``out``)
    that is recycled once its value is dead. A step's output reuses the
    variable of an input that dies at that step; any other input that dies
    there is deleted right after it (``del``), so no tensor outlives its
    last use.
    """

    def __init__(self, cg: _Codegen, path: str) -> None:
        self.cg = cg
        self.path = path
        self.nodes = cg.nodes
        self.ops = cg.ops

    def lines(self) -> list[_Line]:
        path = self.path
        plan = self.plan()
        names = _Variables(-1 in plan.last_use)
        params = ["x: torch.Tensor"]
        for value, node in plan.entries:
            names.var[value] = names.fresh(self.var_base(node))
            names.labelled.add(names.var[value])
            params.append(f"{names.var[value]}: torch.Tensor")
        last_step = plan.real[-1] if plan.real else -1
        outputs = self.cg.outputs if path == "" else {}
        if outputs:
            returns = "dict[str, torch.Tensor]"
        elif plan.finals:
            returns = "tuple[" + ", ".join(["torch.Tensor"] * (1 + len(plan.finals))) + "]"
        else:
            returns = "torch.Tensor"
        lines = [_Line(f"def forward(self, {', '.join(params)}) -> {returns}:")]
        if path == "":
            lines.append(_Line(INDENT + self.cg.forward_doc()))
        for i in plan.real:
            lines += self.step(plan, i, names, i == last_step)
        if outputs:
            values = [plan.final, *plan.finals]
            items = ", ".join(
                f"{name!r}: {names.var[v]}" for name, v in zip(outputs, values, strict=True)
            )
            lines.append(_Line(INDENT + f"return {{{items}}}"))
        else:
            returned = [names.var[v] for v in (plan.final, *plan.finals)]
            lines.append(_Line(INDENT + f"return {', '.join(returned)}"))
        return lines

    def var_base(self, node: str) -> str:
        """A variable name for a value read across scopes: its label (``layer3``)."""
        name = str(self.nodes[node].get("name", ""))
        scope = str(self.nodes[node].get("scope", ""))
        if not _IDENT.match(name) or keyword.iskeyword(name):
            name = scope.rpartition(".")[2]
        return name if _IDENT.match(name) and not keyword.iskeyword(name) else "value"

    def ends(self) -> tuple[str, str]:
        """The nodes whose values enter and leave the scope."""
        if self.path == "":
            return str(self.cg.g.graph["input"]), str(self.cg.g.graph["output"])
        info = self.cg.scopes[self.path]
        if info.input is None or info.output is None:
            raise _internal(self.path, "the scope has no input or output")
        return info.input, info.output

    def plan(self) -> _Plan:
        path = self.path
        start, end = self.ends()
        plan = _Plan([u for u in self.cg.units[path] if u.kind != "gate"])
        defs: dict[str, int] = {start: -1}
        for k, node in enumerate(self.cg.imports.get(path, ())):
            defs[node] = -2 - k
            plan.entries.append((-2 - k, node))
        finals = self.final_nodes()
        # Steps no output depends on are skipped, unless the scope's own results are unused
        # (a class whose forward the model never calls still computes them).
        live = self.cg.live
        prune = all(n in live for n in (end, *finals))
        extra_id = len(plan.steps)
        dead: set[int] = set()
        for i, unit in enumerate(plan.steps):
            out, inputs = self.step_inputs(unit)
            exported = self.cg.exports.get(unit.key, []) if unit.kind == "scope" else []
            if prune and out not in live and not any(n in live for n in exported):
                dead.add(i)
            row = []
            for n in inputs:
                if n not in defs and i not in dead:
                    raise _internal(n, f"it is read in scope {path!r} but not defined there")
                row.append(defs.get(n, -1))
            plan.reads.append(row)
            plan.read_nodes.append(inputs)
            plan.defines.append(out)
            if self.is_noop(unit):
                plan.alias[i] = row[0]
                defs[out] = row[0]
            else:
                defs[out] = i
            for node in exported:
                plan.extra.setdefault(i, []).append((extra_id, node))
                defs[node] = extra_id
                extra_id += 1
        for node in (end, *finals):
            if node not in defs:
                raise _internal(node, f"the output of scope {path!r} is not defined there")
        plan.final = defs[end]
        plan.finals = [defs[n] for n in finals]
        plan.real = [i for i in range(len(plan.steps)) if i not in plan.alias and i not in dead]
        for i in plan.real:
            for v, n in zip(plan.reads[i], plan.read_nodes[i], strict=True):
                plan.last_use[v] = i
                if self.reads_as_skip(plan.steps[i], n):
                    plan.skip_read.add(v)
        for v in (plan.final, *plan.finals):
            plan.last_use[v] = len(plan.steps)
        return plan

    def final_nodes(self) -> list[str]:
        """What the scope returns besides its output: exports, or the model's other outputs."""
        if self.path == "":
            return list(self.cg.outputs.values())[1:]
        return list(self.cg.exports.get(self.path, ()))

    def step(self, plan: _Plan, i: int, names: _Variables, last: bool) -> list[_Line]:
        """The lines of step ``i``, then the ``del`` of inputs that die there."""
        unit = plan.steps[i]
        in_vars = [names.var[v] for v in plan.reads[i]]
        dying = [names.var[v] for v in dict.fromkeys(plan.reads[i]) if plan.last_use.get(v) == i]
        names.live.difference_update(dying)
        node = plan.defines[i]
        data = self.nodes[node]
        label = unit.name if unit.kind == "scope" else str(data["name"])
        if unit.kind == "node" and not self.cg.is_module_node(node):
            label = ""  # merges, shortcuts and alignments have no name of their own
        out_var = names.choose(label, i in plan.skip_read, in_vars, dying)
        if self.can_run_in_place(unit, plan, i):
            self.cg.inplace.add(node)
        released = [name for name in dying if name != out_var]
        names.release(released)
        names.var[i] = out_var
        extra_vars = []
        for value, extra_node in plan.extra.get(i, ()):
            names.var[value] = names.fresh(self.var_base(extra_node))
            names.labelled.add(names.var[value])
            extra_vars.append(names.var[value])
        prefix = f"{self.path}." if self.path else ""
        rel = node[len(prefix) :] if node.startswith(prefix) else node
        temps = Namespace(names.live | set(names.free) | names.labelled | set(in_vars))
        span = self.cg.span_of(unit)
        in_place = (
            bool(in_vars) and out_var == in_vars[0] and self.can_merge_in_place(unit, plan, i)
        )
        outs = ", ".join([out_var, *extra_vars])
        step = self.step_lines(unit, node, outs, in_vars, temps, in_place)
        lines: list[_Line] = []
        for k, (text, is_value) in enumerate(step):
            if k == len(step) - 1 and len(step) > 1 and not last:
                # Inputs only the size computations read die before the last line.
                early = [n for n in released if not re.search(rf"\b{n}\b", text)]
                if early:
                    lines.append(_Line(INDENT + f"del {', '.join(early)}"))
                    released = [n for n in released if n not in early]
            if is_value:
                domain = self.cg.g.graph.get("valid_sizes")
                comment = f"  # {shape_text(data['shape'], domain)}  {_where(span)}"
                lines.append(_Line(INDENT + text + comment, span, (out_var, rel)))
            else:
                lines.append(_Line(INDENT + text, span))
        if released and not last:
            lines.append(_Line(INDENT + f"del {', '.join(released)}"))
        return lines

    def can_run_in_place(self, unit: _Unit, plan: _Plan, i: int) -> bool:
        """May this activation overwrite its input (``nn.ReLU(inplace=True)``, as torchvision)?

        Only when nothing can see the input afterwards: it dies at this step,
        it was made by an earlier step of this same ``forward`` (not the
        scope's input, which the caller may still hold), and that step makes a
        fresh tensor that autograd does not keep (a convolution, a norm, a
        linear layer, a merge), never a view or an alias of another value.
        """
        if unit.kind != "node":
            return False
        op = self.ops[unit.key]
        if not isinstance(op, Layer) or not op.inplace:
            return False
        reads = plan.reads[i]
        if len(reads) != 1 or reads[0] < 0 or plan.last_use.get(reads[0]) != i:
            return False
        if reads[0] in plan.alias:
            return False
        producer = plan.steps[reads[0]]
        if producer.kind != "node":
            return False
        made_by = self.ops[producer.key]
        return made_by is not None and made_by.fresh_output

    def can_merge_in_place(self, unit: _Unit, plan: _Plan, i: int) -> bool:
        """May this merge write into its first input (``out += identity``, as torchvision)?

        The same conditions as an activation run in place: the first input
        dies here, this ``forward`` made it (not the scope's input), and its
        maker gives a fresh tensor autograd does not keep; and no other input
        of the merge is that same value.
        """
        if unit.kind != "node" or not isinstance(self.ops[unit.key], Merge):
            return False
        reads = plan.reads[i]
        first = reads[0] if reads else -1
        if first < 0 or plan.last_use.get(first) != i or first in plan.alias:
            return False
        if first in reads[1:]:
            return False
        producer = plan.steps[first]
        if producer.kind != "node":
            return False
        made_by = self.ops[producer.key]
        return made_by is not None and made_by.fresh_output

    def reads_as_skip(self, unit: _Unit, node: str) -> bool:
        """Does this step read ``node`` as the start of a skip (or as an align's size reference)?

        Such values live until their merge; they are named after their label.
        """
        if self.nodes[node]["role"] in ("shortcut", "align"):
            return False  # a shortcut's output is read at once by its merge
        if unit.kind == "scope":
            return self.cg.scopes[unit.key].kind == "shortcut"
        if unit.kind != "node":
            return False
        op = self.ops[unit.key]
        if op is not None and op.reads == "peers":
            return True
        edge = self.cg.g.edges.get((node, unit.key))
        return bool(edge is not None and edge.get("kind") == "skip")

    def is_noop(self, unit: _Unit) -> bool:
        """A step that passes its input through (a zero-padding shortcut between equal shapes)."""
        if unit.kind != "node" or self.cg.is_module_node(unit.key):
            return False
        op = self.ops[unit.key]
        return op is not None and op.is_noop(self.nodes[unit.key]["args"])

    def step_inputs(self, unit: _Unit) -> tuple[str, list[str]]:
        """The node a step defines, and the nodes it reads (in order)."""
        if unit.kind == "scope":
            info = self.cg.scopes[unit.key]
            if info.input is None or info.output is None:
                raise _internal(unit.key, "the scope has no input or output")
            return info.output, [info.input, *self.cg.imports.get(unit.key, ())]
        node = unit.key
        op = self.ops[node]
        reads = op.reads if op is not None else "input"
        if reads == "peers":
            return node, [self.cg.input_of(node), *self.concat_originals(node)]
        if reads == "inputs":
            return node, self.cg.preds(node)
        return node, [self.cg.input_of(node)]

    def concat_originals(self, align: str) -> list[str]:
        """The concat inputs an align node is sized against, before their own alignment."""
        succs = list(self.cg.g.successors(align))
        if len(succs) != 1:
            raise _internal(align, "an align node feeds exactly one concat")
        out: list[str] = []
        for p in self.cg.preds(succs[0]):
            op = self.ops[p]
            original = self.cg.input_of(p) if op is not None and op.reads == "peers" else p
            if original not in out:
                out.append(original)
        return out

    def step_lines(
        self,
        unit: _Unit,
        node: str,
        out: str,
        ins: list[str],
        temps: Namespace,
        in_place: bool = False,
    ) -> list[tuple[str, bool]]:
        """The source lines of one step; the flag marks the line that completes the value."""
        if unit.kind == "scope":
            return [(f"{out} = {child_ref(unit.name)}({', '.join(ins)})", True)]
        data = self.nodes[node]
        if self.cg.is_module_node(node):
            module = child_ref(str(data["name"]))
            return [(f"{out} = {self.cg.layer_call(node, module, ins[0])}", True)]
        op = self.ops[node]
        assert op is not None  # is_module_node is True for unknown ops
        emit = _Emit(self.cg, node, temps)
        written = (
            op.in_place_lines(data["args"], out, ins, emit)
            if in_place and isinstance(op, Merge)
            else None
        )
        lines = written or op.forward_lines(data["args"], out, ins, emit)
        allowed = _allowed_names(op)
        if allowed is None:  # a user's op: its lines must at least be Python
            for text, _ in lines:
                _check_statement(text, f"{op.kind} '{op.name}' at {node!r}")
        return lines


def scope_crossings(
    graph: nx.DiGraph, scopes: dict[str, ScopeInfo]
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """What each scope returns besides its output, and reads besides its input.

    A value read outside the scope that defines it (a tap such as
    ``backbone.layer3``, or a model output inside a group) is an export of
    every scope between; a value a scope reads from outside, other than its
    input, is an import. Both in node order.

    >>> import resdsl
    >>> g = resdsl.loads("model m() {\\n input [3, 8, 8]\\n b: { c: conv(4, 1); relu }\\n"
    ...     " conv(2, 1) from b.c\\n}").graph()
    >>> scope_crossings(g, g.graph["scopes"])
    ({'b': ['b.c']}, {})
    """
    order = {n: i for i, n in enumerate(graph.nodes)}
    live = live_nodes(graph)
    exports: dict[str, set[str]] = {}
    imports: dict[str, set[str]] = {}
    nodes = graph.nodes
    outputs = list(graph.graph.get("outputs", {}).values())[1:]
    reads = [(u, v, str(nodes[v]["parent"])) for u, v in graph.edges]
    reads += [(n, n, "") for n in outputs]
    for u, v, reader in reads:
        inside_u = _chain(str(nodes[u]["parent"])) if nodes[u]["role"] != "input" else set()
        inside_v = _chain(reader)
        for path in inside_u - inside_v:
            if u != scopes[path].output and v in live:
                exports.setdefault(path, set()).add(u)
        for path in inside_v - inside_u:
            if u != scopes[path].input:
                imports.setdefault(path, set()).add(u)
    return (
        {k: sorted(v, key=order.__getitem__) for k, v in exports.items()},
        {k: sorted(v, key=order.__getitem__) for k, v in imports.items()},
    )


def _chain(parent: str) -> set[str]:
    """A scope path and every scope above it, without the model (``a.b`` -> ``{a.b, a}``)."""
    out: set[str] = set()
    while parent:
        out.add(parent)
        parent = _parent_of(parent)
    return out


# ---------------------------------------------------------------- output


def assemble(cg: _Codegen, root: _Class) -> Generated:
    """The module text: header, imports, ``Indexed`` if used, every class, ``__all__``."""
    g = cg.g
    lines: list[_Line] = []
    model = str(g.graph.get("model", ""))
    info = cg.scopes[""]
    sizes = "; ".join(str(rule.sentence) for rule in (g.graph.get("valid_sizes") or {}).values())
    header = [
        f"{root.name}: model {model}, generated by resdsl {__version__} from "
        f"{_where(info.span).rsplit(':', 1)[0]}. Do not edit: regenerate it.",
        "",
        "Standalone PyTorch: this file imports only torch. Build the model with",
        f"``model = {root.name}()`` (it takes no arguments: the spec's parameters are",
        "baked in). Comments give each value's shape without the batch dimension",
        "and the spec line it comes from.",
    ]
    if sizes:
        header += ["", f"Valid input sizes: {sizes}."]
    lines.append(_Line('"""' + escape(header[0])))
    lines += [_Line(escape(h)) for h in header[1:]]
    lines.append(_Line('"""'))
    lines.append(_Line(""))
    lines.append(_Line("import torch"))
    if cg.uses_f:
        lines.append(_Line("import torch.nn.functional as F"))
    lines.append(_Line("from torch import nn"))
    if cg.uses_indexed:
        lines += [_Line(""), _Line("")]
        lines += [_Line(t) for t in _INDEXED.splitlines()]
    for cls in cg.class_order:
        lines += [_Line(""), _Line("")]
        lines += _class_lines(cls, root)
    lines += [_Line(""), _Line(""), _Line(f"__all__ = [{root.name!r}]")]
    text = "\n".join(line.text.rstrip() for line in lines) + "\n"
    line_map = {i: ln.span for i, ln in enumerate(lines, start=1) if ln.span is not None}
    line_values = {i: ln.value for i, ln in enumerate(lines, start=1) if ln.value is not None}
    classes = {cls.name: list(cls.paths) for cls in cg.class_order}
    return Generated(text, root.name, line_map, line_values, classes)


def _class_lines(cls: _Class, root: _Class) -> list[_Line]:
    lines = [_Line(f"class {cls.name}({cls.base}):")]
    doc = cls.doc
    if cls is not root and cls.paths:
        shown = ", ".join(p for p in cls.paths[:4])
        more = f" and {len(cls.paths) - 4} more" if len(cls.paths) > 4 else ""
        doc += f" Used as {shown}{more}."
    lines.append(_Line(INDENT + '"""' + escape(doc) + '"""'))
    lines.append(_Line(""))
    lines += [_Line(INDENT + ln.text if ln.text else "", ln.span, ln.value) for ln in cls.body]
    return lines


_INDEXED = '''class Indexed(nn.Module):
    """A module whose children named 0, 1, ... are reachable by index: ``model.layer1[0]``."""

    def __getitem__(self, index: int) -> nn.Module:
        if index < 0:
            index += 1 + max((int(k) for k in self._modules if k.isdigit()), default=-1)
        module = self._modules.get(str(index))
        if module is None:
            raise IndexError(f"{type(self).__name__} has no child {index}")
        return module'''


def _with_inplace(ctor: str) -> str:
    """``nn.ReLU()`` -> ``nn.ReLU(inplace=True)``; ``nn.LeakyReLU(0.2)`` likewise."""
    call = pyast.parse(ctor, mode="eval").body
    if (
        not isinstance(call, pyast.Call)
        or any(k.arg == "inplace" for k in call.keywords)
        or not ctor.endswith(")")
    ):
        return ctor  # pragma: no cover - built-in activations are plain calls
    empty = not call.args and not call.keywords
    return ctor[:-1] + ("" if empty else ", ") + "inplace=True)"


def integer_input(graph: nx.DiGraph) -> bool:
    """True if the model's input is integer indices (its first layer takes indices: ``embedding``)."""
    start = graph.graph["input"]
    for s in graph.successors(start):
        op = node_op(graph.nodes[s])
        if isinstance(op, Layer) and op.integer_input:
            return True
    return False


def _internal(node: str, message: str) -> ResdslError:
    return ResdslError.single(
        "internal",
        f"cannot generate code: node {escape(node)!r}: {message}",
        hint="this is a bug in resdsl (the graph breaks its contract); please report it",
    )

"""The op registry: every op definition, by kind and name.

One namespace per kind (``layer``, ``merge``, ``shortcut``, ``align``), so a
layer and a shortcut may share a name (``identity``); each kind keeps the
order of registration, which is the order messages list them in. Users add
their own ops from Python with :func:`register_op` (and take them away with
:func:`unregister_op`); every stage reads the definitions from here.

A new kind of op (branches, layout ops, learned tensors) is a new
:data:`resdsl.ops.base.OpKind`, a base class deriving from
:class:`resdsl.ops.base.Op` listed in :data:`BASES`, and the graph role its
nodes take (:func:`node_op`); the back ends already dispatch on what the
base class declares (``has_module``, ``reads``, ``forward_lines``, ``path``,
``label``, ``params``/``macs``).

>>> [op.name for op in ops_of_kind("merge")][:3]
['add', 'concat', 'mul']
>>> get_op("zeropad", "shortcut").description
'zero-padding shortcut'
>>> names_text("merge", "or")
'add, concat or mul'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, cast, get_args, overload

from resdsl.ops.align import Align
from resdsl.ops.base import Layer, Op, OpKind
from resdsl.ops.merge import Merge
from resdsl.ops.resize import Resize
from resdsl.ops.shortcut import Shortcut
from resdsl.ops.split import Split

KINDS: tuple[OpKind, ...] = get_args(OpKind)
#: The base class each kind's definitions derive from.
BASES: dict[OpKind, type[Op]] = {
    "layer": Layer,
    "merge": Merge,
    "shortcut": Shortcut,
    "align": Align,
    "split": Split,
    "resize": Resize,
}

_OPS: dict[str, dict[str, Op]] = {kind: {} for kind in KINDS}
_LAYERS, _MERGES, _SHORTCUTS, _ALIGNS, _SPLITS, _RESIZES = (
    _OPS[k] for k in ("layer", "merge", "shortcut", "align", "split", "resize")
)


def register_op(op: Op, *, replace: bool = False) -> None:
    """Make an op available to every spec, by its ``kind`` and ``name``.

    Raises ValueError if the name is taken in its kind (unless ``replace``)
    or the op does not derive from its kind's base class.
    """
    kind = getattr(op, "kind", None)
    if kind not in _OPS:
        raise ValueError(f"{op!r} has no kind (expected one of {', '.join(KINDS)})")
    base = BASES[cast(OpKind, kind)]
    if not isinstance(op, base):
        raise ValueError(f"a {kind} op must derive from {base.__module__}.{base.__name__}")
    if not getattr(op, "name", None) or not str(op.name).isidentifier():
        raise ValueError(f"{op!r} needs a name that is an identifier")
    table = _OPS[kind]
    if op.name in table and not replace:
        raise ValueError(f"{_article(kind)} {kind} named {op.name!r} is already registered")
    table[op.name] = op


def unregister_op(kind: OpKind, name: str) -> None:
    """Remove an op (a user's; removing a built-in one breaks the specs that use it)."""
    del _OPS[kind][name]


@overload
def get_op(name: str, kind: Literal["layer"]) -> Layer | None: ...
@overload
def get_op(name: str, kind: Literal["merge"]) -> Merge | None: ...
@overload
def get_op(name: str, kind: Literal["shortcut"]) -> Shortcut | None: ...
@overload
def get_op(name: str, kind: Literal["align"]) -> Align | None: ...
@overload
def get_op(name: str, kind: Literal["split"]) -> Split | None: ...
@overload
def get_op(name: str, kind: Literal["resize"]) -> Resize | None: ...
def get_op(name: str, kind: OpKind) -> Op | None:
    """The op of a kind by name, or None."""
    return _OPS[kind].get(name)


def get_layer(name: str) -> Layer | None:
    """The layer op named ``name``, or None: ``get_op(name, "layer")``, asked once per layer call."""
    return _LAYERS.get(name)  # type: ignore[return-value]


def ops_of_kind(kind: OpKind) -> list[Any]:
    """Every op of a kind, in registration order."""
    return list(_OPS[kind].values())


def op_names(kind: OpKind) -> list[str]:
    """The names of every op of a kind, in registration order."""
    return list(_OPS[kind])


def names_text(kind: OpKind, last: str = "and") -> str:
    """The names of a kind's ops as a sentence: ``add, concat and mul``."""
    names = op_names(kind)
    if len(names) < 2:
        return "".join(names)
    return f"{', '.join(names[:-1])} {last} {names[-1]}"


def node_op(data: Mapping[str, Any]) -> Op | None:
    """The definition of a graph node's op (None for the input node or an unknown op).

    The node's ``role`` says the kind: merges and alignments are their own
    kinds; a ``shortcut`` node is a shortcut op with a node of its own
    (``zeropad``) or a layer of a shortcut's scope; anything else is a layer.
    """
    role = data.get("role")
    name = data.get("op")
    if role == "layer":  # the common case first: checking ResNet-50 asks 176 times
        return _LAYERS.get(name)  # type: ignore[arg-type]
    if role == "merge":
        return _MERGES.get(name)  # type: ignore[arg-type]
    if role == "align":
        return _ALIGNS.get(name)  # type: ignore[arg-type]
    if role == "split":
        return _SPLITS.get(name)  # type: ignore[arg-type]
    if role == "resize":
        return _RESIZES.get(name)  # type: ignore[arg-type]
    if role == "shortcut":
        found = _SHORTCUTS.get(name)  # type: ignore[arg-type]
        if found is not None and cast(Shortcut, found).builds == "node":
            return found
    return _LAYERS.get(name)  # type: ignore[arg-type]


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"

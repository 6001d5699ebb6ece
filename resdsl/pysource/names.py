"""Python names in a written class: the user's names win, the writer's own take fresh ones.

A block's parameters, ``let`` names and loop variables keep their spec names
in the constructor (``def __init__(self, in_channels: int, out: int)``). The
writer's own variables (the running channel count ``channels``, the input
channels ``in_channels``, a group's ``layers``) take their usual name unless a
user's name has it, and then a fresh one (``channels_``). Only a Python
keyword or a name the written code itself needs (``self``, ``nn``, ``torch``,
``F``, a builtin it calls) is refused: a parameter named like another builtin
(``next``, ``input``) is legal Python and shadows nothing the class uses.

>>> fresh("channels", {"channels", "out"})
'channels_'
>>> fresh("out", {"channels"})
'out'
"""

from __future__ import annotations

import keyword
from collections.abc import Iterable, Iterator

from resdsl.pysource.pyexpr import IDENT, Unsupported
from resdsl.syntax import ast

#: Builtins the written code calls or annotates with: a user's name must not shadow them.
WRITER_BUILTINS = frozenset(
    {"range", "len", "min", "max", "super", "int", "float", "bool", "str", "list", "type"}
)
#: Names a user's parameter, ``let`` or loop variable cannot take.
KEEP = (
    frozenset(keyword.kwlist)
    | frozenset(keyword.softkwlist)
    | WRITER_BUILTINS
    | {"self", "nn", "torch", "F", "Any", "kwargs", "None", "True", "False"}
)
#: Names ``forward`` uses itself: a value named after its label takes a fresh name instead.
FORWARD_NAMES = KEEP | {"x", "out", "identity", "skip", "max", "min"}
#: Public attributes of ``nn.Sequential`` (and so of ``nn.Module``): a label
#: named like one cannot be set as ``self.<label>`` (tests check the list).
MODULE_ATTRIBUTES = frozenset(
    {
        "T_destination", "add_module", "append", "apply", "bfloat16", "buffers",
        "call_super_init", "children", "compile", "cpu", "cuda", "double", "dump_patches",
        "eval", "extend", "extra_repr", "float", "forward", "get_buffer", "get_extra_state",
        "get_parameter", "get_submodule", "half", "insert", "ipu", "load_state_dict",
        "modules", "mtia", "named_buffers", "named_children", "named_modules",
        "named_parameters", "parameters", "pop", "register_backward_hook",
        "register_buffer", "register_forward_hook", "register_forward_pre_hook",
        "register_full_backward_hook", "register_full_backward_pre_hook",
        "register_load_state_dict_post_hook", "register_load_state_dict_pre_hook",
        "register_module", "register_parameter", "register_state_dict_post_hook",
        "register_state_dict_pre_hook", "requires_grad_", "set_extra_state",
        "set_submodule", "share_memory", "state_dict", "to", "to_empty", "train",
        "training", "type", "xpu", "zero_grad",
    }
)  # fmt: skip
#: Attributes the written classes set themselves.
WRITER_ATTRIBUTES = frozenset({"out_channels"})


def check_user_name(name: str, what: str) -> None:
    """Refuse a user's name that is not an identifier or that the written code needs."""
    if not IDENT.match(name) or name in KEEP:
        raise Unsupported(f"the {what} name '{name}'")


def fresh(base: str, taken: Iterable[str]) -> str:
    """``base``, or ``base_``, ``base_2``, ... : the first that ``taken`` does not hold."""
    used = set(taken)
    if base not in used:
        return base
    name, k = f"{base}_", 2
    while name in used:
        name, k = f"{base}_{k}", k + 1
    return name


def claim(base: str, taken: set[str]) -> str:
    """``base``, or ``base_1``, ``base_2``, ...: the first ``taken`` lacks, which it joins.

    For the temporaries of a registry op's lines, claimed one after another.

    >>> taken = {"dh"}
    >>> claim("dh", taken), claim("dh", taken), sorted(taken)
    ('dh_1', 'dh_2', ['dh', 'dh_1', 'dh_2'])
    """
    name, k = base, 1
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    taken.add(name)
    return name


def is_attribute_name(label: str | None) -> bool:
    """Can this label be a module attribute, ``self.<label>``?"""
    return (
        label is not None
        and IDENT.match(label) is not None
        and not label.startswith("_")
        and label not in keyword.kwlist
        and label not in MODULE_ATTRIBUTES
        and label not in WRITER_ATTRIBUTES
    )


def user_names(params: Iterable[ast.Param], body: Iterable[ast.Stmt]) -> set[str]:
    """Every name a definition binds in its constructor: parameters, ``let`` names, loop variables."""
    return {p.name for p in params} | set(_bound(body))


def _bound(body: Iterable[ast.Stmt]) -> Iterator[str]:
    for stmt in body:
        if isinstance(stmt, ast.Let):
            yield stmt.name
        elif isinstance(stmt, ast.Repeat):
            if stmt.var is not None:
                yield stmt.var
            yield from _bound(stmt.body)
        elif isinstance(stmt, ast.If):
            yield from _bound(stmt.body)
            yield from _bound(stmt.orelse)
        elif isinstance(stmt, ast.Group):
            yield from _bound(stmt.body)

"""A merge's learned gate (``gate=rezero``) as a small module class of the written file.

ReZero (Bachlechner et al. 2021) scales a residual branch by one learned
scalar that starts at 0. The compile keeps it as a module named after the
skip's label, whose one parameter is ``gate`` (state_dict key
``blocks.0.rezero.gate``), registered where the merge is. The written module
does the same with one class, written once at the top of the file::

    class Gate(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gate = nn.Parameter(torch.zeros(()))

built in ``__init__`` as ``self.rezero = Gate()`` and read by the registry's
own ``forward`` line: ``out = self.rezero.gate * out + x``. A gate on a
projection shortcut (where the compile keeps it on the shortcut's own module)
is refused.
"""

from __future__ import annotations

from resdsl.pysource.names import is_attribute_name
from resdsl.pysource.pyexpr import Unsupported
from resdsl.pysource.references import NodeRef, References
from resdsl.syntax import ast
from resdsl.syntax.loader import Program

#: The class that holds a gate: one per written file that needs it.
GATE_CLASS = "Gate"
#: Its docstring and ``__init__`` body (after ``super().__init__()``).
GATE_DOC = [
    "A learned scalar that scales a residual branch (ReZero's alpha).",
    "",
    "It starts at 0: the block it gates starts as the identity.",
]
GATE_INIT = ["self.gate = nn.Parameter(torch.zeros(()))"]


def uses_gates(program: Program) -> bool:
    """Does a definition of the program hold a skip with a ``gate`` option?

    >>> import resdsl
    >>> text = "block b { c: conv(4, 3, padding=1); if true { r: skip in -> c (add, gate=rezero) } }"
    >>> uses_gates(resdsl.loads(text, "g.res").program)
    True
    """
    definitions = [*program.blocks.values(), *program.models.values()]
    return any(
        option.name == "gate"
        for skip in ast.subtree(definitions)
        if isinstance(skip, ast.Skip)
        for option in skip.options
    )


def gate_attribute(refs: References, skip: ast.Skip, nodes: list[NodeRef]) -> str | None:
    """The attribute that holds the merge's gate (``rezero``); None: the merge has none.

    A merge gated by a ``param`` tensor (``gate=layer_scale``) has none here:
    the registry's line reads the block's own parameter, ``self.layer_scale``.
    """
    gated = [n for n in nodes if getattr(n.data["args"], "gate", None) is not None]
    if not gated:
        return None
    if len(gated) != len(nodes):
        raise Unsupported("a merge with a learned gate in some models only")
    if refs.shortcut_scopes(skip.span):
        raise Unsupported("a learned gate on a projection shortcut")
    owners = {str(n.data["scope"]).rpartition(".")[2] for n in nodes}
    label = skip.label.literal if skip.label is not None else None
    if len(owners) != 1 or (label is not None and owners != {label}):
        raise Unsupported("a learned gate whose module name is not known")
    name = next(iter(owners))
    if not is_attribute_name(name):
        raise Unsupported(f"the gate '{name}' as a module attribute")
    return name

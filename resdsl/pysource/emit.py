"""What an op's ``forward_lines`` may ask of the writer (``resdsl.ops.base.Emit``).

The residual and the parallel writers both write merges with the registry's
own lines; this is the one object those lines talk to.
"""

from __future__ import annotations

from resdsl.pysource.names import claim
from resdsl.pysource.pyexpr import Unsupported


class MergeEmit:
    """Literals, fresh temporaries and the merge's gate for a merge's ``forward_lines``.

    >>> emit = MergeEmit({"out", "dh"})
    >>> emit.temp("dh"), emit.temp("dh"), emit.literal(2)
    ('dh_1', 'dh_2', '2')
    >>> MergeEmit(set(), gate="rezero").gate()
    'self.rezero.gate'
    """

    def __init__(self, taken: set[str], gate: str | None = None) -> None:
        self.taken = taken
        self.uses_f = False
        self.gate_attr = gate  # the module that holds the merge's gate (``rezero``)

    def literal(self, value: int | float | bool) -> str:
        return repr(value)

    def temp(self, base: str) -> str:
        return claim(base, self.taken)

    def use_functional(self) -> None:
        self.uses_f = True

    def gate(self) -> str:
        if self.gate_attr is None:
            raise Unsupported("a merge with a learned gate")
        return f"self.{self.gate_attr}.gate"

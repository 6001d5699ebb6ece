"""A labelled ``parallel`` as an ``nn.ModuleList``, as torchvision's ASPP keeps its ``convs``.

A labelled parallel is a scope of its own whose arms are named by position
(``convs.0``, ``convs.1``, ...), exactly the children of an ``nn.ModuleList``
filled in order; a ``repeat`` among the arms is a ``for`` loop that appends
one arm per round. ``forward`` runs every arm on the input and merges them:
``torch.cat([arm(x) for arm in self.convs], dim=1)``. Each arm is one
unlabelled call (a block or a layer) whose output channels are known, so the
merged channels are their sum (``width + len(rates) * width + width``).
"""

from __future__ import annotations

import re

from resdsl.pysource.blockout import channel_sum
from resdsl.pysource.chain import CHANNELS, INDENT, ChainWriter, group_variable
from resdsl.pysource.pyexpr import IDENT, Scope, Unsupported, python_expr, statement_name
from resdsl.pysource.references import References
from resdsl.syntax import ast


def arm_list(
    stmt: ast.Parallel,
    scope: Scope,
    channels: str,
    refs: References,
    rank: int,
    reserved: frozenset[str],
    lines: list[str],
    depth: int,
) -> tuple[str, str]:
    """Append the ``ModuleList``'s lines; returns its local variable and the merged channels."""
    if channels == CHANNELS:
        raise Unsupported("a labelled parallel on a running channel count")  # pragma: no cover
    assert stmt.label is not None
    var = group_variable(stmt.label, reserved | set(scope.names))
    lines.append(f"{INDENT * depth}{var} = nn.ModuleList()")
    parts: list[str] = []
    for arm in stmt.arms:
        if isinstance(arm, ast.Repeat):
            loop = arm.var or "_"
            if arm.var is not None and (not IDENT.match(loop) or loop in reserved):
                raise Unsupported(f"the loop variable '{loop}'")
            count = python_expr(arm.count, scope)
            lines.append(f"{INDENT * depth}for {loop} in range({count}):")
            inner = scope.child({loop: loop}) if arm.var else scope
            for each in arm.body:
                out = _one_arm(each, inner, channels, refs, rank, reserved, lines, depth + 1, var)
                if arm.var is not None and re.search(rf"\b{loop}\b", out):
                    raise Unsupported("an arm whose channels change with its loop")
                parts.append(f"({count}) * ({out})")
        else:
            parts.append(_one_arm(arm, scope, channels, refs, rank, reserved, lines, depth, var))
    return var, channel_sum(parts)


def _one_arm(
    arm: ast.Stmt | ast.Seq,
    scope: Scope,
    channels: str,
    refs: References,
    rank: int,
    reserved: frozenset[str],
    lines: list[str],
    depth: int,
    var: str,
) -> str:
    """Append one arm (an unlabelled call); returns its output channels."""
    if not isinstance(arm, ast.Call) or arm.label is not None:
        what = "a labelled arm" if isinstance(arm, ast.Call) else statement_name(arm)
        raise Unsupported(f"{what} in a labelled parallel (an arm of the ModuleList)")
    chain = ChainWriter(refs, rank, channels, reserved, lines, var)
    chain.call(arm, scope, depth)
    if chain.channels == CHANNELS:
        raise Unsupported("an arm of a labelled parallel whose block computes its channels")
    return chain.channels

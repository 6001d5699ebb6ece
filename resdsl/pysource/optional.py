"""An ``if`` that builds layers in one branch only, inside a scope with skips.

``if norm { bn1: batchnorm }`` is written as torchvision writes an optional
module (``downsample``): ``self.bn1 = nn.BatchNorm2d(planes) if norm else
None`` in ``__init__``, so that the module is absent from the ``state_dict``
where the compile leaves it out, and in ``forward``::

    if self.bn1 is not None:
        out = self.bn1(out)

The layers must keep the channel count and the size, so that what follows
them is the same either way. Both branches may end with the same skip (the
same label, source, merge and options), each to the value its branch ends
with::

    if norm {
        bn2: batchnorm
        rezero: skip in -> bn2 (add, gate=rezero)
    } else {
        rezero: skip in -> conv2 (add, gate=rezero)
    }

That is one merge, written once after the optional layers; its instances are
those of both skips (``rezero20`` elaborates the first, ``rezero20_nonorm``
the second).
"""

from __future__ import annotations

import ast as pyast
import dataclasses
from typing import TYPE_CHECKING

from resdsl.pysource.chain import INDENT
from resdsl.pysource.names import is_attribute_name
from resdsl.pysource.pyexpr import Scope, Unsupported
from resdsl.pysource.text import WIDTH
from resdsl.syntax import ast

if TYPE_CHECKING:
    from resdsl.pysource.residual import ResidualWriter, _Value

Branch = tuple[ast.Stmt, ...]


def builds(branch: Branch) -> bool:
    """Does the branch build anything (a statement that is not a skip)?

    >>> import resdsl
    >>> spec = resdsl.loads("block b { bn: batchnorm; skip in -> bn (add) }", "b.res")
    >>> builds(spec.program.blocks["b"].body), builds(spec.program.blocks["b"].body[1:])
    (True, False)
    """
    return any(not isinstance(s, ast.Skip) for s in branch)


def is_optional(body: Branch, orelse: Branch) -> bool:
    """One branch builds, the other holds only skips (or nothing).

    >>> import resdsl
    >>> text = "block b(f: bool) { if f { bn: batchnorm }; if f { a: relu } else { a: silu } }"
    >>> first, second = resdsl.loads(text, "b.res").program.blocks["b"].body
    >>> is_optional(first.body, first.orelse), is_optional(second.body, second.orelse)
    (True, False)
    """
    return builds(body) != builds(orelse)


def write_optional(
    res: ResidualWriter,
    test: str,
    branches: tuple[Branch, Branch],
    scope: Scope,
    cur: _Value,
    values: dict[str | None, _Value],
    skips: list[ast.Skip],
) -> _Value:
    """Write the ``if`` (see the module docstring); returns the running value after it."""
    body, orelse = branches
    if not builds(body):
        test, body, orelse = negated(test), orelse, body
    count = sum(not isinstance(s, ast.Skip) for s in body)
    calls = [s for s in body[:count] if isinstance(s, ast.Call) and s.label is not None]
    ends = body[count:]
    if len(calls) != count or not all(isinstance(s, ast.Skip) for s in ends):
        raise Unsupported("an 'if' whose branch builds anything but labelled layers, then skips")
    after = _optional_layers(res, test, calls, scope, cur, skips)
    last = calls[-1].label.literal if calls[-1].label is not None else None
    pairs = _shared_skips(ends, orelse)
    for built_skip, other in pairs:
        if built_skip.dst.literal != last or values.get(other.dst.literal) is not cur:
            raise Unsupported("a skip under an 'if' whose target is not the value just computed")
    for built_skip, other in pairs:
        after = _shared_merge(res, (built_skip, other), values, after, scope)
    return after


def negated(test: str) -> str:
    """The test's negation, parenthesised only where needed.

    >>> negated("norm"), negated("stride == 1 and inp == oup")
    ('not norm', 'not (stride == 1 and inp == oup)')
    """
    expr = pyast.parse(test, mode="eval").body
    return pyast.unparse(pyast.UnaryOp(pyast.Not(), expr))


def _optional_layers(
    res: ResidualWriter,
    test: str,
    calls: list[ast.Call],
    scope: Scope,
    cur: _Value,
    skips: list[ast.Skip],
) -> _Value:
    """Each layer built under the test, and called in ``forward`` where it was built."""
    if cur.var != "out":
        raise Unsupported("an 'if' that builds layers on a value the block keeps by name")
    outer = {s.dst.literal for s in skips} | {
        s.src.literal for s in skips if isinstance(s.src, ast.Label)
    }
    lines, value, first = len(res.forward), cur, ""
    for call in calls:
        label = call.label.literal if call.label is not None else None
        if label is None or not is_attribute_name(label):
            raise Unsupported(f"the label '{label}' as a module attribute")
        if label in outer:
            raise Unsupported("a skip from or to a layer that an 'if' may not build")
        start = len(res.init)
        value = res.statement(call, scope, value, "out")
        made = res.init[start:]
        if len(made) != 1 or not made[0].startswith(f"self.{label} = "):
            raise Unsupported("an 'if' whose layer is not one module")
        del res.init[start:]
        res.init += _built_if(test, label, made[0].partition(" = ")[2])
        first = first or label
    if (value.channels, value.stride) != (cur.channels, cur.stride):
        raise Unsupported("an 'if' whose layers change the channel count or the size")
    calls_made = res.forward[lines:]
    del res.forward[lines:]
    res.forward.append(f"if self.{first} is not None:")
    res.forward += [_indented(line) for line in calls_made]
    for call in calls:
        if call.label is not None and call.label.literal is not None:
            scope.channels[call.label.literal] = cur.channels
    return dataclasses.replace(cur, fresh=cur.fresh and value.fresh)


def _built_if(test: str, attr: str, ctor: str) -> list[str]:
    """``self.bn1 = nn.BatchNorm2d(planes) if norm else None``, or over three lines if long."""
    line = f"self.{attr} = {ctor} if {test} else None"
    if len(INDENT * 2 + line) <= WIDTH:
        return [line]
    return [f"self.{attr}: nn.Module | None = None", f"if {test}:", f"{INDENT}self.{attr} = {ctor}"]


def _indented(line: str) -> str:
    """A ``forward`` line one level deeper; its shape comment goes if it no longer fits."""
    code = line.partition("  # [")[0]
    return INDENT + (line if len(INDENT * 3 + line) <= WIDTH else code)


def _shared_skips(ends: Branch, orelse: Branch) -> list[tuple[ast.Skip, ast.Skip]]:
    """The skips both branches end with, in pairs; Unsupported unless they are the same."""
    if len(ends) != len(orelse) or not all(isinstance(s, ast.Skip) for s in orelse):
        raise Unsupported("an 'if' whose branches end with different skips")
    pairs = [(a, b) for a, b in zip(ends, orelse, strict=True)]
    for a, b in pairs:
        assert isinstance(a, ast.Skip) and isinstance(b, ast.Skip)
        if _skip_key(a) != _skip_key(b):
            raise Unsupported("an 'if' whose branches end with different skips")
    return pairs  # type: ignore[return-value]


def _skip_key(skip: ast.Skip) -> tuple[object, ...]:
    """What a skip merges, and how, without its target or where it is written."""
    label = skip.label.literal if skip.label is not None else None
    src = skip.src.literal if isinstance(skip.src, ast.Label) else None
    options = tuple((o.name, _spanless(o.value)) for o in skip.options)
    return (label, src, skip.merge, options)


def _spanless(node: object) -> object:
    """An AST value without its spans: equal for the same text written in two places."""
    if isinstance(node, tuple | list):
        return tuple(_spanless(item) for item in node)
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        fields = dataclasses.fields(node)
        return (
            type(node).__name__,
            *(_spanless(getattr(node, f.name)) for f in fields if f.name != "span"),
        )
    return node


def _shared_merge(
    res: ResidualWriter,
    pair: tuple[ast.Skip, ast.Skip],
    values: dict[str | None, _Value],
    dst: _Value,
    scope: Scope,
) -> _Value:
    """The pair's merge, written once from the instances of both skips."""
    first, other = pair
    src = first.src.literal if isinstance(first.src, ast.Label) else ""
    if src and src in values and values[src].var == "out":
        raise Unsupported("a skip under an 'if' from a value the block does not keep")
    nodes = [n for skip in pair for n in res.refs.with_role(skip.span, "merge")]
    start = len(res.init)
    merged = res.merge(first, values, dst, scope, nodes)
    if any("nn." in line for line in res.init[start:]):
        raise Unsupported("a skip under an 'if' with a projection shortcut")
    values[other.dst.literal] = merged
    return merged

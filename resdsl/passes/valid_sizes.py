"""Valid input sizes: for each symbolic input dimension, exactly which sizes work.

Every symbolic size is a composition of non-decreasing floor-affine maps of the
input size (:mod:`resdsl.ir.dims`). The conditions collected during elaboration
are of two kinds:

- ``size >= 1`` (a size must stay positive): non-decreasing in the input size,
  so they hold from some threshold on, found by binary search;
- ``a == b`` (merged tensors must match): when both sides grow at the same
  rate, shifting the input by the right period shifts both sides by the same
  integer, so the condition is periodic and a scan of one period decides it.

Together: size ``n`` is valid iff ``n >= minimum`` and ``n % period`` is in
``residues``. When the two sides of an equality grow at different rates (a
size that must stay fixed because it sizes a parameter), only finitely many
sizes work; they are found by a bounded scan and reported with ``maximum``.

>>> from resdsl.ir import dims
>>> h = dims.symbol("H", 64)
>>> down = dims.window(h, 2, 2)               # maxpool 2
>>> up = dims.affine(down, 2, 0)              # upsample x2
>>> rule = valid_sizes([Constraint("eq", dims.expr_of(up), dims.expr_of(h), "m", "")],
...                    {"H": 64})["H"]
>>> (rule.minimum, rule.period, rule.residues), rule.sentence
((2, 2, (0,)), 'H must be a multiple of 2, at least 2')
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import networkx as nx
from pydantic import BaseModel, ConfigDict

from resdsl.ir.dims import DimExpr, _window_value, evaluate, slope
from resdsl.ir.graph import Constraint

MAX_PERIOD = 1 << 16
SCAN = 4096
SEARCH_LIMIT = 1 << 40


class SizeRule(BaseModel):
    """The sizes ``n`` of one symbol for which the model checks.

    ``n`` is valid iff ``minimum <= n``, ``n <= maximum`` when a maximum is set,
    and ``n % period in residues``. No size is valid when ``residues`` is empty.
    """

    model_config = ConfigDict(frozen=True)
    symbol: str
    minimum: int
    period: int
    residues: tuple[int, ...]
    maximum: int | None = None
    sentence: str

    def __contains__(self, n: object) -> bool:
        if not isinstance(n, int):
            return False
        if n < self.minimum or (self.maximum is not None and n > self.maximum):
            return False
        return n % self.period in self.residues

    @property
    def everything(self) -> bool:
        """True when every positive size works."""
        return (
            self.minimum <= 1 and self.period == 1 and self.maximum is None and bool(self.residues)
        )

    def sizes(self, count: int = 5) -> list[int]:
        """The first few valid sizes."""
        out: list[int] = []
        n = self.minimum
        while len(out) < count and (self.maximum is None or n <= self.maximum):
            if n in self:
                out.append(n)
            n += 1
            if n > self.minimum + self.period * (count + 1) and not out:
                break
        return out


def attach_valid_sizes(graph: nx.DiGraph) -> None:
    """Store ``{symbol: SizeRule}`` as ``graph.graph["valid_sizes"]``."""
    graph.graph["valid_sizes"] = valid_sizes(graph.graph["constraints"], graph.graph["symbols"])


def valid_sizes(
    constraints: Iterable[Constraint], symbols: Mapping[str, int]
) -> dict[str, SizeRule]:
    """One :class:`SizeRule` per symbol, the other symbols held at their samples.

    Symbols whose constraints are the same up to their name (``H`` and ``W`` of
    a square input, usually) and that have the same sample share one
    computation: the rule depends on nothing else.
    """
    constraints = list(constraints)
    memo: dict[int, tuple[frozenset[str], Any, DimExpr]] = {}
    seen = [(_outline(c.left, memo), _outline(c.right, memo)) for c in constraints]
    involved = [left[0] | right[0] for left, right in seen]
    rules: dict[str, SizeRule] = {}
    shared: dict[Any, SizeRule] = {}
    for name in symbols:
        mine = [c for c, s in zip(constraints, involved, strict=True) if name in s]
        key: Any = None
        if all(len(s) == 1 for s in involved if name in s):
            key = (
                symbols[name],
                tuple(
                    (c.kind, left[1], right[1])
                    for c, (left, right), s in zip(constraints, seen, involved, strict=True)
                    if name in s
                ),
            )
            rule = shared.get(key)
            if rule is not None:
                rules[name] = _make(name, rule.minimum, rule.period, rule.residues, rule.maximum)
                continue
        rules[name] = rule = _rule(name, mine, symbols)
        if key is not None:
            shared[key] = rule
    return rules


def _outline(
    expr: DimExpr | int, memo: dict[int, tuple[frozenset[str], Any, DimExpr]]
) -> tuple[frozenset[str], Any]:
    """The symbols of an expression, and the expression with their names left out.

    Memoised by identity, since hashing a tree costs its size; the memo keeps
    each expression, so that its id stays unique.
    """
    if isinstance(expr, int):
        return frozenset(), expr
    known = memo.get(id(expr))
    if known is not None:
        return known[0], known[1]
    names: frozenset[str]
    if expr[0] == "sym":
        names, anonymous = frozenset((expr[1],)), ("sym", "", expr[2])
    else:
        names = frozenset()
        parts: list[Any] = []
        for part in expr:
            if isinstance(part, tuple):
                inner, part = _outline(part, memo)
                names |= inner
            parts.append(part)
        anonymous = tuple(parts)
    memo[id(expr)] = (names, anonymous, expr)
    return names, anonymous


def _rule(name: str, mine: list[Constraint], symbols: Mapping[str, int]) -> SizeRule:
    ge = [c for c in mine if c.kind == "ge"]
    eq = [c for c in mine if c.kind == "eq"]

    start = _threshold(_Checker(ge, name, symbols))
    if start is None:
        return _make(name, 1, 1, (), None)
    holds = _Checker(eq, name, symbols)
    period = _period(eq, name, symbols)
    if period is None:  # sizes that must stay fixed: a finite set, scanned
        found = [n for n in range(start, start + SCAN) if holds(n)]
        if not found:
            return _make(name, start, 1, (), None)
        lo, hi = found[0], found[-1]
        span = hi - lo + 1
        return _make(name, lo, span, tuple(sorted({n % span for n in found})), hi)
    residues = {n % period for n in range(start, start + period) if holds(n)}
    if not residues:
        return _make(name, start, 1, (), None)
    period, residues = _reduce(period, residues)
    minimum = next(n for n in range(start, start + period) if n % period in residues)
    return _make(name, minimum, period, tuple(sorted(residues)), None)


_WIN, _LIN, _SCALE, _MIN, _MAX, _MUL = range(6)
_OPS = {"win": _WIN, "lin": _LIN, "scale": _SCALE, "min": _MIN, "max": _MAX, "mul": _MUL}
_Ref = tuple[str, int]  # ("n", 0): the symbol; ("c", i): constant i; ("s", j): step j


class _Checker:
    """Whether constraints hold at size ``n`` of one symbol, the others at their samples.

    The same as evaluating the constraints in turn with :func:`~resdsl.ir.dims.evaluate`,
    sub-expressions shared, and stopping at the first that fails. But the
    expressions are compiled once into a flat list of steps, the parts that do
    not depend on the symbol are computed once, and nothing is hashed per size.
    """

    def __init__(
        self, constraints: list[Constraint], name: str, symbols: Mapping[str, int]
    ) -> None:
        self.name = name
        self.env = symbols
        self.consts: list[int] = []
        self.steps: list[tuple[Any, ...]] = []
        self.refs: dict[int, tuple[_Ref, DimExpr]] = {}  # the expression keeps its id unique
        compiled = []
        for c in constraints:
            left, right = self._ref(c.left), self._ref(c.right)
            compiled.append((len(self.steps), c.kind == "eq", left, right))
        # The values while checking: the symbol, the constants, then one per step.
        base = 1 + len(self.consts)

        def slot(ref: _Ref) -> int:
            kind, i = ref
            return 0 if kind == "n" else 1 + i if kind == "c" else base + i

        steps = [
            (op, slot(a), slot(b)) if op >= _MIN else (op, slot(a), *params)
            for op, a, b, *params in self.steps
        ]
        self.start = [0, *self.consts]
        self.checks: list[tuple[list[tuple[Any, ...]], bool, int, int]] = []
        done = 0
        for end, is_eq, left, right in compiled:
            self.checks.append((steps[done:end], is_eq, slot(left), slot(right)))
            done = end

    def _const(self, value: int) -> _Ref:
        self.consts.append(value)
        return ("c", len(self.consts) - 1)

    def _ref(self, expr: DimExpr | int) -> _Ref:
        if isinstance(expr, int):
            return self._const(expr)
        known = self.refs.get(id(expr))
        if known is not None:
            return known[0]
        op = expr[0]
        ref: _Ref
        if op == "sym":
            ref = ("n", 0) if expr[1] == self.name else self._const(self.env[expr[1]])
        else:
            code = _OPS.get(op)
            if code is None:
                raise ValueError(f"unknown dimension expression {op!r}")
            a = self._ref(expr[1])
            b: _Ref = self._ref(expr[2]) if code >= _MIN else ("c", -1)
            params = () if code >= _MIN else expr[2:]
            if a[0] == "c" and b[0] == "c":
                x = self.consts[a[1]]
                y = self.consts[b[1]] if code >= _MIN else 0
                ref = self._const(_apply(code, x, y, params))
            else:
                self.steps.append((code, a, b, *params))
                ref = ("s", len(self.steps) - 1)
        self.refs[id(expr)] = (ref, expr)
        return ref

    def __call__(self, n: int) -> bool:
        v = self.start.copy()
        v[0] = n
        push = v.append
        for steps, is_eq, left, right in self.checks:
            for step in steps:
                op = step[0]
                x = v[step[1]]
                if op == _WIN:
                    push(_window_value(x, step[2], step[3], step[4], step[5], step[6]))
                elif op == _LIN:
                    push(x * step[2] + step[3])
                elif op == _SCALE:
                    push(x * step[2] // step[3])
                else:
                    push(_apply(op, x, v[step[2]], ()))
            if is_eq:
                if v[left] != v[right]:
                    return False
            elif v[left] < v[right]:
                return False
        return True


def _apply(op: int, x: int, y: int, params: tuple[Any, ...]) -> int:
    """One step of :func:`~resdsl.ir.dims.evaluate`: ``x`` and ``y`` are the operands' values."""
    if op == _WIN:
        return _window_value(x, *params)
    if op == _LIN:
        m: int = params[0]
        c: int = params[1]
        return x * m + c
    if op == _SCALE:
        num: int = params[0]
        den: int = params[1]
        return x * num // den
    if op == _MIN:
        return min(x, y)
    if op == _MAX:
        return max(x, y)
    return x * y


def _threshold(ok: Any) -> int | None:
    """The smallest n >= 1 from which the monotone predicate ``ok`` holds."""
    hi = 1
    while not ok(hi):
        hi *= 2
        if hi > SEARCH_LIMIT:
            return None
    lo = 0  # ok(lo) is false (or lo is below the domain)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


def _shift(expr: DimExpr | int, name: str, symbols: Mapping[str, int]) -> tuple[int, int] | None:
    """(p, d) with expr(n + p) == expr(n) + d for every n, or None if none exists."""
    if isinstance(expr, int):
        return 1, 0
    op = expr[0]
    if op == "sym":
        return (1, 1) if expr[1] == name else (1, 0)
    if op in ("min", "max", "mul"):
        a = _shift(expr[1], name, symbols)
        b = _shift(expr[2], name, symbols)
        if a is None or b is None:
            return None
        lcm = math.lcm(a[0], b[0])
        da, db = a[1] * lcm // a[0], b[1] * lcm // b[0]
        if op == "mul":
            if da and db:
                return None
            env = dict(symbols)
            const = evaluate(expr[2] if da else expr[1], env)
            return lcm, (da or db) * const
        return (lcm, da) if da == db else None
    inner = _shift(expr[1], name, symbols)
    if inner is None:
        return None
    p, d = inner
    if op == "win":
        stride = expr[5]
        k = stride // math.gcd(d, stride) if d else 1
        return p * k, d * k // stride
    if op == "lin":
        return p, d * expr[2]
    if op == "scale":
        num, den = expr[2], expr[3]
        k = den // math.gcd(d * num, den) if d else 1
        return p * k, d * num * k // den
    return None


def _period(eq: list[Constraint], name: str, symbols: Mapping[str, int]) -> int | None:
    period = 1
    for c in eq:
        a, b = _shift(c.left, name, symbols), _shift(c.right, name, symbols)
        if a is None or b is None or slope(c.left) != slope(c.right):
            return None
        lcm = math.lcm(a[0], b[0])
        if a[1] * lcm // a[0] != b[1] * lcm // b[0]:
            return None
        period = math.lcm(period, lcm)
        if period > MAX_PERIOD:
            return None
    return period


def _reduce(period: int, residues: set[int]) -> tuple[int, set[int]]:
    """The smallest period that describes the same set of residues."""
    for d in range(1, period + 1):
        if period % d:
            continue
        small = {r % d for r in residues}
        if all((r % d in small) == (r in residues) for r in range(period)):
            return d, small
    return period, residues


def _make(
    name: str, minimum: int, period: int, residues: tuple[int, ...], maximum: int | None
) -> SizeRule:
    return SizeRule(
        symbol=name,
        minimum=minimum,
        period=period,
        residues=residues,
        maximum=maximum,
        sentence=_sentence(name, minimum, period, residues, maximum),
    )


def _sentence(
    name: str, minimum: int, period: int, residues: tuple[int, ...], maximum: int | None
) -> str:
    return _phrase([name], minimum, period, residues, maximum)


def _phrase(
    names: list[str], minimum: int, period: int, residues: tuple[int, ...], maximum: int | None
) -> str:
    """One sentence for symbols that share a rule: "H and W must be multiples of 16, ..."."""
    many = len(names) > 1
    who = " and ".join([", ".join(names[:-1]), names[-1]]) if many else names[0]
    if not residues:
        return f"no size of {who} is valid"
    if maximum is not None:
        values = [n for n in range(minimum, maximum + 1) if n % period in residues]
        if len(values) == 1:
            return f"{who} must be exactly {values[0]}"
        return f"{who} must be one of {', '.join(map(str, values))}"
    if period == 1:
        return f"{who} can be any size" if minimum <= 1 else f"{who} must be at least {minimum}"
    multiple = f"multiples of {period}" if many else f"a multiple of {period}"
    if residues == (0,):
        return f"{who} must be {multiple}, at least {minimum}"
    if len(residues) == 1:
        return f"{who} must be {residues[0]} more than {multiple}, at least {minimum}"
    listed = ", ".join(map(str, residues))
    return f"{who} modulo {period} must be one of {listed}, at least {minimum}"


def describe_rules(rules: Mapping[str, SizeRule]) -> str:
    """All rules in one sentence, symbols with the same rule named together.

    >>> r = {s: _make(s, 16, 16, (0,), None) for s in ("H", "W")}
    >>> describe_rules(r)
    'H and W must be multiples of 16, at least 16'
    """
    groups: dict[tuple[int, int, tuple[int, ...], int | None], list[str]] = {}
    for name, rule in rules.items():
        key = (rule.minimum, rule.period, rule.residues, rule.maximum)
        groups.setdefault(key, []).append(name)
    return "; ".join(_phrase(names, *key) for key, names in groups.items())

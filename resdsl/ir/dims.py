"""Tensor dimensions that may be symbolic.

A dimension is a plain ``int``, or a :class:`SymDim`: an ``int`` subclass whose
value is the *sample* size (``H=224`` in ``input [3, H=224, W=224]``) and which
also carries an expression saying how it was computed from the input symbols.
Arithmetic on a ``SymDim`` gives a plain ``int`` (the sample), so shape rules
that only need numbers need not care; rules for spatial dimensions use the
helpers here (:func:`window`, :func:`affine`, ...), which keep the expression.

Expressions are hashable tuples, so identical sub-expressions are shared:

- ``("sym", name, sample)``
- ``("win", src, pad_total, pad_left, eff_kernel, stride, ceil)``: convolution
  and pooling, ``floor((src + pad_total - eff_kernel) / stride) + 1`` (with
  PyTorch's ``ceil_mode`` rule when ``ceil``);
- ``("lin", src, m, c)``: ``src * m + c`` (transposed convolution, integer upsampling);
- ``("scale", src, num, den)``: ``floor(src * num / den)`` (fractional upsampling);
- ``("min", a, b)``, ``("max", a, b)``: centre-crop and zero-pad alignment;
- ``("mul", a, b)``: flattening two dimensions into one.

The expressions let the checker state exactly which input sizes are valid
(:mod:`resdsl.passes.valid_sizes`) and let diagrams label edges ``64×H/4×W/4``.

>>> h = symbol("H", 224)
>>> out = window(h, kernel=7, stride=2, padding=3)
>>> int(out), describe(out)
(112, 'H/2')
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any, Protocol

DimExpr = tuple[Any, ...]
"""A hashable expression tree over input symbols; see the module docstring."""


class SymDim(int):
    """An ``int`` (the sample size) that remembers how it was computed."""

    expr: DimExpr
    #: How many size-changing steps lie between the input symbols and this size
    #: (0 for a symbol itself).
    depth: int

    def __new__(cls, value: int, expr: DimExpr, depth: int = 1) -> SymDim:
        obj = super().__new__(cls, value)
        obj.expr = expr
        obj.depth = depth
        return obj

    def __repr__(self) -> str:
        return int.__repr__(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return (SymDim, (int(self), self.expr, self.depth))


def depth_of(d: int) -> int:
    """The depth of a size's expression (:attr:`SymDim.depth`), 0 for a plain number.

    The functions over expressions recurse through them, so the elaborator
    bounds it (``Limits.max_size_depth``).

    >>> depth_of(window(window(symbol("H", 64), 2, 2), 2, 2)), depth_of(7)
    (2, 0)
    """
    return d.depth if isinstance(d, SymDim) else 0


MAX_SIZE = 2**63 - 1
"""The largest size of a dimension (PyTorch's sizes are 64-bit)."""

Dim = int  # a SymDim is an int; annotations say Dim where a symbolic one may appear
Shape = tuple[int, ...]


def symbol(name: str, sample: int) -> SymDim:
    """The input dimension ``name`` at its sample size."""
    return SymDim(sample, ("sym", name, sample), 0)


def expr_of(d: int) -> DimExpr | int:
    """The expression of a symbolic dimension, or the plain number."""
    return d.expr if isinstance(d, SymDim) else int(d)


def is_symbolic(d: int) -> bool:
    return isinstance(d, SymDim)


def _window_value(n: int, pad_total: int, pad_left: int, eff: int, stride: int, ceil: bool) -> int:
    num = n + pad_total - eff
    if not ceil:
        return num // stride + 1
    out = -(-num // stride) + 1
    # PyTorch: the last pooling window must start inside the input or the left padding.
    if (out - 1) * stride >= n + pad_left:
        out -= 1
    return out


def window(
    n: int,
    kernel: int,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    ceil_mode: bool = False,
    padding_after: int | None = None,
) -> int:
    """Output size of a convolution or pooling window along one dimension."""
    after = padding if padding_after is None else padding_after
    pad_total = padding + after
    eff = dilation * (kernel - 1) + 1
    value = _window_value(int(n), pad_total, padding, eff, stride, ceil_mode)
    if not isinstance(n, SymDim):
        return value
    if stride == 1 and not ceil_mode and pad_total == eff - 1:
        return n  # a 'same' window: the size and its expression are unchanged
    return SymDim(value, ("win", n.expr, pad_total, padding, eff, stride, ceil_mode), n.depth + 1)


def affine(n: int, m: int, c: int) -> int:
    """``n * m + c``, for transposed convolutions and integer upsampling."""
    value = int(n) * m + c
    if not isinstance(n, SymDim):
        return value
    if m == 1 and c == 0:
        return n
    return SymDim(value, ("lin", n.expr, m, c), n.depth + 1)


def scaled(n: int, factor: float | Fraction) -> int:
    """``floor(n * factor)``, as ``nn.Upsample`` computes output sizes."""
    f = Fraction(factor).limit_denominator(1 << 20)
    if f.denominator == 1:
        return affine(n, f.numerator, 0)
    value = int(n) * f.numerator // f.denominator
    if not isinstance(n, SymDim):
        return value
    return SymDim(value, ("scale", n.expr, f.numerator, f.denominator), n.depth + 1)


def minimum(a: int, b: int) -> int:
    return _pair("min", a, b, min(int(a), int(b)))


def maximum(a: int, b: int) -> int:
    return _pair("max", a, b, max(int(a), int(b)))


def product(dims: Sequence[int]) -> int:
    """The size of several dimensions flattened into one."""
    out: int = 1
    for d in dims:
        out = _pair("mul", out, d, int(out) * int(d)) if out != 1 or is_symbolic(out) else d
    return out


def _pair(op: str, a: int, b: int, value: int) -> int:
    if not isinstance(a, SymDim) and not isinstance(b, SymDim):
        return value
    ea, eb = expr_of(a), expr_of(b)
    if ea == eb:
        return a
    return SymDim(value, (op, ea, eb), max(depth_of(a), depth_of(b)) + 1)


def evaluate(
    expr: DimExpr | int, env: Mapping[str, int], memo: dict[Any, int] | None = None
) -> int:
    """The value of an expression with the symbols bound by ``env``."""
    if isinstance(expr, int):
        return expr
    if memo is not None and expr in memo:
        return memo[expr]
    op = expr[0]
    value: int
    if op == "sym":
        value = env[expr[1]]
    elif op == "win":
        _, src, pad_total, pad_left, eff, stride, ceil = expr
        value = _window_value(evaluate(src, env, memo), pad_total, pad_left, eff, stride, ceil)
    elif op == "lin":
        value = evaluate(expr[1], env, memo) * expr[2] + expr[3]
    elif op == "scale":
        value = evaluate(expr[1], env, memo) * expr[2] // expr[3]
    elif op == "min":
        value = min(evaluate(expr[1], env, memo), evaluate(expr[2], env, memo))
    elif op == "max":
        value = max(evaluate(expr[1], env, memo), evaluate(expr[2], env, memo))
    elif op == "mul":
        value = evaluate(expr[1], env, memo) * evaluate(expr[2], env, memo)
    else:  # pragma: no cover - the constructors above are the only producers
        raise ValueError(f"unknown dimension expression {op!r}")
    if memo is not None:
        memo[expr] = value
    return value


@lru_cache(maxsize=8192)
def symbols_of(expr: DimExpr | int) -> frozenset[str]:
    """The input symbols an expression depends on."""
    if isinstance(expr, int):
        return frozenset()
    if expr[0] == "sym":
        return frozenset((expr[1],))
    out: frozenset[str] = frozenset()
    for part in expr[1:]:
        if isinstance(part, tuple):
            out |= symbols_of(part)
    return out


@lru_cache(maxsize=8192)
def slope(expr: DimExpr | int) -> Fraction | None:
    """The asymptotic rate of growth in the single symbol, or None if not affine."""
    if isinstance(expr, int):
        return Fraction(0)
    op = expr[0]
    if op == "sym":
        return Fraction(1)
    inner = slope(expr[1])
    if inner is None:
        return None
    if op == "win":
        return inner / int(expr[5])
    if op == "lin":
        return inner * int(expr[2])
    if op == "scale":
        return inner * int(expr[2]) / int(expr[3])
    if op in ("min", "max"):
        other = slope(expr[2])
        if other is None:
            return None
        return min(inner, other) if op == "min" else max(inner, other)
    return None


def describe(d: int, domain: Mapping[str, SizeDomain] | None = None) -> str:
    """A readable form of a dimension: ``H/4``, ``2W``, ``(H-4)/2``, or the number.

    Without ``domain``, the form is the affine function through the sample
    value with the expression's rate of growth: exact at the sizes that agree
    with the sample modulo the expression's period (what a diagnostic about
    the sample needs). With ``domain`` (the model's valid-size rules), the
    form holds at every size the model accepts (:func:`describe_exact`).
    """
    if not isinstance(d, SymDim):
        return str(int(d))
    if domain is not None:
        return describe_exact(d, domain)
    return _describe(d.expr, int(d))


@lru_cache(maxsize=8192)
def _describe(expr: DimExpr, value: int) -> str:
    names = symbols_of(expr)
    if expr[0] == "mul" and len(names) > 1:  # flattened sizes: 3*H*W, W*H ...
        return "*".join(_factor(part) for part in _factors(expr))
    rate = slope(expr)
    if len(names) != 1 or rate is None or rate == 0:
        return str(value)
    (name,) = names
    sample = _sample_of(expr)
    offset = Fraction(value) - rate * sample
    num, den = rate.numerator, rate.denominator
    head = name if num == 1 else f"{num}{name}"
    shift = offset * den
    if shift.denominator != 1:
        return str(value)
    c = int(shift)
    if den == 1:
        return head if c == 0 else f"{head}{c:+d}"
    return f"{head}/{den}" if c == 0 else f"({head}{c:+d})/{den}"


def _factors(expr: DimExpr | int) -> list[DimExpr | int]:
    """The factors of nested products, in order: ``(mul, (mul, 3, H), W)`` -> ``[3, H, W]``."""
    if isinstance(expr, tuple) and expr[0] == "mul":
        return [*_factors(expr[1]), *_factors(expr[2])]
    return [expr]


def _factor(part: DimExpr | int) -> str:
    """One factor of a product, parenthesised when its form has an operator of its own."""
    if isinstance(part, int):
        return str(part)
    text = _describe(part, evaluate(part, _samples(part)))
    return text if text.replace("/", "").replace("*", "").isalnum() else f"({text})"


def _samples(expr: DimExpr) -> dict[str, int]:
    """The sample value of every symbol in an expression."""
    if expr[0] == "sym":
        return {expr[1]: int(expr[2])}
    out: dict[str, int] = {}
    for part in expr[1:]:
        if isinstance(part, tuple):
            out |= _samples(part)
    return out


def _sample_of(expr: DimExpr) -> int:
    """The sample value of the (single) symbol an expression depends on."""
    while expr[0] != "sym":
        expr = next(part for part in expr[1:] if isinstance(part, tuple))
    return int(expr[2])


# ------------------------------------------------------------ exact formulas


class SizeDomain(Protocol):
    """The sizes of one symbol a model accepts (a :class:`~resdsl.passes.valid_sizes.SizeRule`).

    ``n`` is in the domain iff ``minimum <= n``, ``n <= maximum`` when set, and
    ``n % period in residues``.
    """

    @property
    def minimum(self) -> int: ...
    @property
    def period(self) -> int: ...
    @property
    def residues(self) -> tuple[int, ...]: ...
    @property
    def maximum(self) -> int | None: ...


#: The most sizes of one period :func:`describe` evaluates to find an exact formula.
FORMULA_SCAN = 4096

_Step = tuple[Any, ...]


def _flatten(expr: DimExpr, name: str) -> list[_Step]:
    """The expression as a list of steps in evaluation order (shared parts once).

    Step ``i`` is ``("n",)`` (the symbol ``name``), ``("k", value)`` (a number,
    or another symbol at its sample), or the expression's own node with its
    operands replaced by the indices of earlier steps. Iterative, so that an
    expression hundreds of layers deep needs no deep recursion.
    """
    index: dict[int, int] = {}
    steps: list[_Step] = []
    alive: list[DimExpr] = []  # keeps each flattened expression, so its id stays unique

    def ref(part: Any) -> int:
        if isinstance(part, tuple):
            return index[id(part)]
        steps.append(("k", int(part)))
        return len(steps) - 1

    stack: list[tuple[DimExpr, bool]] = [(expr, False)]
    while stack:
        node, ready = stack.pop()
        if id(node) in index:
            continue
        op = node[0]
        operands = (
            [] if op == "sym" else [node[1]] if op in ("win", "lin", "scale") else [*node[1:3]]
        )
        if not ready:
            stack.append((node, True))
            stack.extend((p, False) for p in operands if isinstance(p, tuple))
            continue
        if op == "sym":
            step: _Step = ("n",) if node[1] == name else ("k", int(node[2]))
        elif op in ("win", "lin", "scale"):
            step = (op, ref(node[1]), *node[2:])
        else:
            step = (op, ref(node[1]), ref(node[2]))
        steps.append(step)
        index[id(node)] = len(steps) - 1
        alive.append(node)
    return steps


def _run(steps: list[_Step], n: int) -> int:
    """The value of flattened steps at size ``n`` (the last step is the expression)."""
    v: list[int] = []
    for step in steps:
        op = step[0]
        if op == "n":
            v.append(n)
        elif op == "k":
            v.append(step[1])
        elif op == "win":
            v.append(_window_value(v[step[1]], *step[2:]))
        elif op == "lin":
            v.append(v[step[1]] * step[2] + step[3])
        elif op == "scale":
            v.append(v[step[1]] * step[2] // step[3])
        elif op == "min":
            v.append(min(v[step[1]], v[step[2]]))
        elif op == "max":
            v.append(max(v[step[1]], v[step[2]]))
        else:
            v.append(v[step[1]] * v[step[2]])
    return v[-1]


def _step_shift(steps: list[_Step]) -> tuple[int, int] | None:
    """(p, d) with f(n + p) == f(n) + d for every n, or None when f is not periodic so."""
    shifts: list[tuple[int, int] | None] = []
    for step in steps:
        op = step[0]
        out: tuple[int, int] | None
        if op in ("n", "k"):
            out = (1, 1 if op == "n" else 0)
        elif op in ("min", "max", "mul"):
            a, b = shifts[step[1]], shifts[step[2]]
            out = None
            if a is not None and b is not None:
                lcm = math.lcm(a[0], b[0])
                da, db = a[1] * lcm // a[0], b[1] * lcm // b[0]
                if op != "mul" and da == db:
                    out = (lcm, da)
                elif op == "mul" and not (da and db):
                    out = None if da or db else (lcm, 0)  # a product of sizes: not affine
        else:
            inner = shifts[step[1]]
            out = None if inner is None else _unary_shift(step, *inner)
        shifts.append(out)
    return shifts[-1]


def _unary_shift(step: _Step, p: int, d: int) -> tuple[int, int]:
    op = step[0]
    if op == "win":
        stride = step[5]
        k = stride // math.gcd(d, stride) if d else 1
        return p * k, d * k // stride
    if op == "lin":
        return p, d * step[2]
    num, den = step[2], step[3]
    k = den // math.gcd(d * num, den) if d else 1
    return p * k, d * num * k // den


def _domain_sizes(rule: SizeDomain, period: int) -> list[int] | None:
    """The valid sizes of one full period of ``f`` and the rule, from the smallest on."""
    span = math.lcm(period, rule.period)
    if span > FORMULA_SCAN:
        return None
    stop = rule.minimum + span
    if rule.maximum is not None:
        stop = min(stop, rule.maximum + 1)
    return [n for n in range(max(1, rule.minimum), stop) if n % rule.period in rule.residues]


def _affine_text(name: str, rate: Fraction, offset: Fraction) -> str | None:
    """``H/2``, ``2H+1``, ``(H-4)/2``: ``rate * n + offset`` when it is one of these forms."""
    num, den = rate.numerator, rate.denominator
    head = name if num == 1 else f"{num}{name}"
    shift = offset * den
    if shift.denominator != 1:
        return None
    c = int(shift)
    if den == 1:
        return head if c == 0 else f"{head}{c:+d}"
    return f"{head}/{den}" if c == 0 else f"({head}{c:+d})/{den}"


def _floor_text(name: str, m: int, b: int, q: int, c: int) -> str:
    """``m*floor((H+b)/q)+c`` for ``0 <= b < q``, as ``ceil`` where that reads better."""
    if b == 0:
        core = f"floor({name}/{q})"
    elif b == q - 1:  # floor((n + q - 1) / q) == ceil(n / q)
        core = f"ceil({name}/{q})"
    else:  # the offset nearest zero: floor((n + b) / q) == floor((n + b - q) / q) + 1
        r = b if b <= q // 2 else b - q
        core, c = f"floor(({name}{r:+d})/{q})", c + m * ((b - r) // q)
    head = core if m == 1 else f"{m}*{core}"
    return head if c == 0 else f"{head}{c:+d}"


def _exact_text(name: str, steps: list[_Step], rule: SizeDomain) -> str | None:
    """A formula equal to the expression at every size in ``rule``, or None if none is found.

    Tried in turn: a number (the size does not vary), ``rate*H + c`` and
    ``m*floor((H+b)/q) + c``; each is checked at every valid size of one
    period, which decides it for all sizes (both sides shift alike).
    """
    shift = _step_shift(steps)
    if shift is None:
        return None
    p, d = shift
    sizes = _domain_sizes(rule, p)
    if not sizes:
        return None
    values = [_run(steps, n) for n in sizes]
    if len(set(values)) == 1 and (d == 0 or rule.maximum is not None):
        return str(values[0])
    rate = Fraction(d, p)
    offsets = {Fraction(v) - rate * n for n, v in zip(sizes, values, strict=True)}
    if len(offsets) == 1:
        text = _affine_text(name, rate, offsets.pop())
        if text is not None:
            return text
    span = math.lcm(p, rule.period)
    for q in (q for q in range(2, span + 1) if span % q == 0 and (rate * q).denominator == 1):
        m = int(rate * q)
        for b in range(q):
            c = values[0] - m * ((sizes[0] + b) // q)
            if all(m * ((n + b) // q) + c == v for n, v in zip(sizes, values, strict=True)):
                return _floor_text(name, m, b, q, c)
    return None


def describe_exact(d: int, domain: Mapping[str, SizeDomain]) -> str:
    """A form of ``d`` that holds at every input size the model accepts.

    ``domain`` maps each input symbol to the sizes the model accepts (its
    valid-size rules). Where ``rate*H + c`` does not hold for all of them,
    the form has a floor or ceiling (``conv(stride=2, padding=1)`` then
    ``upsample(2)`` is ``2*ceil(H/2)``); where no such form is found, it
    says for which sizes the printed form holds.

    >>> h = symbol("H", 32)
    >>> up = affine(window(h, 3, 2, 1), 2, 0)
    >>> every = {"H": Domain()}
    >>> describe(up), describe_exact(up, every)
    ('H', '2*ceil(H/2)')
    """
    if not isinstance(d, SymDim):
        return str(int(d))
    names = symbols_of(d.expr)
    rule = domain.get(next(iter(names))) if len(names) == 1 else None
    if rule is None:
        return _describe(d.expr, int(d))
    (name,) = names
    return _exact_cached(d.expr, int(d), name, _domain_key(rule))


@dataclass(frozen=True)
class Domain:
    """A :class:`SizeDomain` as a plain value (hashable, so formulas can be cached)."""

    minimum: int = 1
    period: int = 1
    residues: tuple[int, ...] = (0,)
    maximum: int | None = None


def _domain_key(rule: SizeDomain) -> Domain:
    return Domain(rule.minimum, rule.period, tuple(rule.residues), rule.maximum)


@lru_cache(maxsize=8192)
def _exact_cached(expr: DimExpr, value: int, name: str, rule: Domain) -> str:
    steps = _flatten(expr, name)
    text = _exact_text(name, steps, rule)
    if text is not None:
        return text
    sample_form = _describe(expr, value)
    shift = _step_shift(steps)
    if shift is None or shift[0] == 1:
        return f"{sample_form} (at {name}={_sample_of(expr)})"
    p = shift[0]
    return f"{sample_form} (for {name}%{p}={_sample_of(expr) % p})"

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

from collections.abc import Mapping, Sequence
from fractions import Fraction
from functools import lru_cache
from typing import Any

DimExpr = tuple[Any, ...]
"""A hashable expression tree over input symbols; see the module docstring."""


class SymDim(int):
    """An ``int`` (the sample size) that remembers how it was computed."""

    expr: DimExpr

    def __new__(cls, value: int, expr: DimExpr) -> SymDim:
        obj = super().__new__(cls, value)
        obj.expr = expr
        return obj

    def __repr__(self) -> str:
        return int.__repr__(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return (SymDim, (int(self), self.expr))


Dim = int  # a SymDim is an int; annotations say Dim where a symbolic one may appear
Shape = tuple[int, ...]


def symbol(name: str, sample: int) -> SymDim:
    """The input dimension ``name`` at its sample size."""
    return SymDim(sample, ("sym", name, sample))


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
    return SymDim(value, ("win", n.expr, pad_total, padding, eff, stride, ceil_mode))


def affine(n: int, m: int, c: int) -> int:
    """``n * m + c``, for transposed convolutions and integer upsampling."""
    value = int(n) * m + c
    if not isinstance(n, SymDim):
        return value
    if m == 1 and c == 0:
        return n
    return SymDim(value, ("lin", n.expr, m, c))


def scaled(n: int, factor: float | Fraction) -> int:
    """``floor(n * factor)``, as ``nn.Upsample`` computes output sizes."""
    f = Fraction(factor).limit_denominator(1 << 20)
    if f.denominator == 1:
        return affine(n, f.numerator, 0)
    value = int(n) * f.numerator // f.denominator
    if not isinstance(n, SymDim):
        return value
    return SymDim(value, ("scale", n.expr, f.numerator, f.denominator))


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
    return SymDim(value, (op, ea, eb))


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


def describe(d: int) -> str:
    """A readable form of a dimension: ``H/4``, ``2W``, ``(H-4)/2``, or the number.

    The form is the affine function through the sample value with the
    expression's rate of growth, which is exact on the sizes the model accepts.
    """
    if not isinstance(d, SymDim):
        return str(int(d))
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

"""Valid input sizes from symbolic constraints, checked against brute force."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from resdsl.ir import dims
from resdsl.ir.graph import Constraint
from resdsl.passes.valid_sizes import SizeRule, valid_sizes


def _eq(a: int, b: int) -> Constraint:
    return Constraint("eq", dims.expr_of(a), dims.expr_of(b), "n", "")


def _ge(a: int) -> Constraint:
    return Constraint("ge", dims.expr_of(a), 1, "n", "")


def test_down_up_must_be_even() -> None:
    h = dims.symbol("H", 64)
    up = dims.affine(dims.window(h, 2, 2), 2, 0)
    rule = valid_sizes([_eq(up, h), _ge(up)], {"H": 64})["H"]
    assert (rule.minimum, rule.period, rule.residues, rule.maximum) == (2, 2, (0,), None)
    assert rule.sentence == "H must be a multiple of 2, at least 2"


def test_fixed_size_gives_a_finite_set() -> None:
    h = dims.symbol("H", 7)
    rule = valid_sizes([_eq(h, 7)], {"H": 7})["H"]
    assert rule.sentence == "H must be exactly 7"
    assert 7 in rule and 8 not in rule and 6 not in rule


def test_no_constraint_means_every_size() -> None:
    rule = valid_sizes([], {"H": 7})["H"]
    assert rule.everything and rule.sentence == "H can be any size"


def test_impossible() -> None:
    h = dims.symbol("H", 8)
    rule = valid_sizes([_eq(dims.affine(h, 1, 1), h)], {"H": 8})["H"]
    assert rule.residues == () and rule.sentence == "no size of H is valid"


@st.composite
def pipelines(draw: st.DrawFn) -> list[tuple[str, int, int, int]]:
    n = draw(st.integers(1, 4))
    return [
        (
            draw(st.sampled_from(["conv", "pool", "up"])),
            draw(st.integers(1, 4)),  # kernel
            draw(st.integers(1, 3)),  # stride / scale
            draw(st.integers(0, 2)),  # padding
        )
        for _ in range(n)
    ]


def _apply(pipe: list[tuple[str, int, int, int]], h: int) -> int:
    x = h
    for op, k, s, p in pipe:
        if op == "up":
            x = dims.affine(x, s, 0)
        else:
            x = dims.window(x, k, s, min(p, k // 2), ceil_mode=(op == "pool" and p == 2))
    return x


@settings(max_examples=150, deadline=None)
@given(pipelines(), pipelines())
def test_rule_matches_brute_force(
    a: list[tuple[str, int, int, int]], b: list[tuple[str, int, int, int]]
) -> None:
    """Two branches of one input merged by add: the rule equals a brute-force scan."""
    h = dims.symbol("H", 64)
    left, right = _apply(a, h), _apply(b, h)
    constraints = [_ge(left), _ge(right), _eq(left, right)]
    rule: SizeRule = valid_sizes(constraints, {"H": 64})["H"]
    for n in range(1, 300):
        env = {"H": n}
        lv, rv = dims.evaluate(dims.expr_of(left), env), dims.evaluate(dims.expr_of(right), env)
        ok = lv >= 1 and rv >= 1 and lv == rv
        if rule.maximum is None or n <= rule.maximum or not ok:
            assert (n in rule) == ok, (n, rule, lv, rv)

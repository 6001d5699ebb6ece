"""Printed symbolic shapes hold at every valid input size, checked by brute force.

A shape is printed (``check``'s output line, diagram labels, comments in the
generated source) as one formula for all sizes the model accepts. These tests
elaborate the model again at every valid size in a range and compare each
printed formula, evaluated there, with the size elaboration computes.
"""

from __future__ import annotations

import ast
import math
import operator
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import resdsl
from resdsl.api import summarize
from resdsl.ir import dims

ROOT = Path(__file__).resolve().parents[1]

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul}


def value_of(formula: str, env: dict[str, int]) -> Fraction:
    """The value of a printed size formula (``2*ceil(H/2)``, ``(H-4)/2``) at ``env``."""

    def walk(node: ast.AST) -> Fraction:
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return Fraction(node.value)
        if isinstance(node, ast.Name):
            return Fraction(env[node.id])
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -walk(node.operand)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            return walk(node.left) / walk(node.right)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return Fraction(_BINARY[type(node.op)](walk(node.left), walk(node.right)))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            rounding = {"floor": math.floor, "ceil": math.ceil}[node.func.id]
            return Fraction(rounding(walk(node.args[0])))
        raise AssertionError(f"not a size formula: {ast.dump(node)}")

    # 2H is how a formula writes 2*H
    text = "".join(
        f"{c}*" if c.isdigit() and i + 1 < len(formula) and formula[i + 1] in env else c
        for i, c in enumerate(formula)
    )
    return walk(ast.parse(text, mode="eval").body)


def printed_shapes(spec: resdsl.Spec, model: str) -> dict[str, list[str]]:
    """Every node's shape as ``check``/``summary`` print it, split into sizes."""
    summary = summarize(spec.graph(model))
    rows = {row.name: row.shape_text[1:-1].split(", ") for row in summary.layers}
    rows["<output>"] = summary.output_text[1:-1].split(", ")
    return rows


def assert_formulas_hold(spec: resdsl.Spec, model: str, sizes: range, **fixed: int) -> int:
    """Check every printed size against elaboration at each valid size; return how many."""
    graph = spec.graph(model, **fixed)
    rule = graph.graph["valid_sizes"]["H"]
    printed = printed_shapes(spec, model)
    checked = 0
    for n in sizes:
        if n not in rule:
            continue
        at_n = spec.graph(model, H=n, **fixed)
        real = {node: list(data["shape"]) for node, data in at_n.nodes(data=True)}
        real["<output>"] = list(at_n.graph["output_shape"])
        for node, texts in printed.items():
            for text, size in zip(texts, real[node], strict=True):
                assert value_of(text, {"H": n, "W": fixed.get("W", 64)}) == int(size), (
                    f"{model}: {node} prints {text}, but H={n} gives {int(size)}"
                )
        checked += 1
    return checked


CONV_UP = """
model m {
  input [3, H=32, W=32]
  conv(4, 3, stride=2, padding=1)
  upsample(2)
}
"""


def test_conv_then_upsample_prints_a_ceiling() -> None:
    spec = resdsl.loads(CONV_UP)
    summary = summarize(spec.graph("m"))
    assert summary.output_text == "[4, 2*ceil(H/2), 2*ceil(W/2)]"
    assert assert_formulas_hold(spec, "m", range(1, 80), W=32) == 79


def test_unet_original_crop_formula_does_not_depend_on_the_sample() -> None:
    spec = resdsl.load(ROOT / "specs" / "unet_original.res")
    texts = {
        summarize(spec.graph("unet_original", H=h, W=h)).output_text for h in (572, 573, 580, 587)
    }
    assert texts == {"[2, 16*floor((H+4)/16)-188, 16*floor((W+4)/16)-188]"}


def test_unet_original_formulas_hold_at_every_valid_size() -> None:
    spec = resdsl.load(ROOT / "specs" / "unet_original.res")
    assert assert_formulas_hold(spec, "unet_original", range(180, 230), W=188) == 42


def test_cifar_resnet_formulas_hold_at_every_size() -> None:
    spec = resdsl.load(ROOT / "specs" / "cifar_resnet.res")
    assert assert_formulas_hold(spec, "resnet20", range(1, 70), W=32) == 69


def test_unet_noalign_keeps_the_exact_quotients_of_its_rule() -> None:
    spec = resdsl.load(ROOT / "specs" / "unet_noalign.res")
    graph = spec.graph("unet_noalign")
    assert graph.graph["valid_sizes"]["H"].sentence == "H must be a multiple of 16, at least 16"
    assert summarize(graph).output_text == "[2, H, W]"
    assert assert_formulas_hold(spec, "unet_noalign", range(16, 130), W=64) == 8


def test_a_formula_that_fits_no_form_says_where_it_holds() -> None:
    # ceil(3*ceil(H/2)/2) takes the values 2, 2, 3, 3, 5, 5, 6, 6, 8, ...: no
    # m*floor((H+b)/q)+c, so the printed form names the sizes it holds at
    h = dims.symbol("H", 10)
    odd = dims.window(dims.affine(dims.window(h, 1, 2), 3, 0), 1, 2)
    assert dims.describe(odd, {"H": dims.Domain()}) == "(3H+2)/4 (for H%4=2)"
    for n in range(2, 100, 4):
        assert value_of("(3H+2)/4", {"H": n}) == dims.evaluate(dims.expr_of(odd), {"H": n})


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["conv", "pool", "up"]),
            st.integers(1, 4),
            st.integers(1, 3),
            st.integers(0, 2),
        ),
        min_size=1,
        max_size=4,
    ),
    sample=st.integers(8, 40),
)
def test_random_pipelines_print_what_every_size_gives(
    steps: list[tuple[str, int, int, int]], sample: int
) -> None:
    h: int = dims.symbol("H", sample)
    for kind, kernel, stride, padding in steps:
        if kind == "up":
            h = dims.affine(h, stride, 0)
        else:
            h = dims.window(h, kernel, stride, min(padding, kernel // 2), ceil_mode=kind == "pool")
    if not dims.is_symbolic(h):
        return
    text = dims.describe(h, {"H": dims.Domain(minimum=8)})
    if "(for " in text or "(at " in text:
        return  # it says where it holds: checked at the sample only
    for n in range(8, 200):
        real = dims.evaluate(dims.expr_of(h), {"H": n})
        assert value_of(text, {"H": n}) == real, (steps, text, n)


@pytest.mark.parametrize("h", [250, 257])
def test_valid_size_hint_is_the_whole_models_rule(h: int) -> None:
    spec = resdsl.load(ROOT / "specs" / "unet_noalign.res")
    with pytest.raises(resdsl.ResdslError) as info:
        spec.graph("unet_noalign", H=h)
    hints = {d.hint for d in info.value.diagnostics}
    assert hints == {
        "use align=crop or align=pad to make them match, or change the input size: "
        "H and W must be multiples of 16, at least 16"
    }
    # following it works
    assert spec.graph("unet_noalign", H=h - h % 16).graph["valid_sizes"]["H"].period == 16

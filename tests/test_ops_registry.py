"""The op registry: every op has its parts, and a merge registered from a test works end to end.

The ``max`` merge below is defined here, in the test, and registered with
``register_op``: no file of the package mentions it. Checking, code
generation, the compiled module, the diagram and the path analysis must all
handle it through its definition alone.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import torch

import resdsl
from resdsl.ir.dims import Shape
from resdsl.ops import get_op, node_op, op_names, ops_of_kind, register_op, unregister_op
from resdsl.ops.base import Emit, Layer, Op, PathRole
from resdsl.ops.merge import Merge, MergeError, MergeInput, ShapeContext, SkipStyle, mismatch
from resdsl.ops.registry import BASES, KINDS, names_text

PACKAGE = Path(__file__).resolve().parents[1] / "resdsl"


class Max(Merge):
    """``max``: the element-wise maximum of equal shapes (a test's own merge)."""

    name = "max"
    verb = "take the maximum of"
    style = SkipStyle(
        "#2f9e44", "dashed", 2.0, "max skip (element-wise maximum)", "max", look="green"
    )

    def infer(self, args: Any, inputs: Sequence[MergeInput], ctx: ShapeContext) -> Shape:
        first = inputs[0].shape
        for index, item in enumerate(inputs[1:], start=1):
            if tuple(map(int, item.shape)) != tuple(map(int, first)):
                raise MergeError(
                    index, mismatch(self.verb, [item.shape, first]), "max needs equal shapes"
                )
            for a, b in zip(item.shape, first, strict=True):
                ctx.equal(index, a, b)
        return first

    def expression(self, args: Any, ins: list[str], emit: Emit) -> str:
        out = ins[0]
        for other in ins[1:]:
            out = f"torch.maximum({out}, {other})"
        return out


@pytest.fixture
def max_merge() -> Iterator[Max]:
    op = Max()
    register_op(op)
    try:
        yield op
    finally:
        unregister_op("merge", "max")


SPEC = """
model gated(width: int = 4) {
    input [4, H=8, W=8]
    conv1: conv(width, 3, padding=1)
    act:   relu
    conv2: conv(width, 3, padding=1)
    skip conv1 -> conv2 (max)
}
"""


def test_a_merge_registered_from_a_test_checks_shapes(max_merge: Max) -> None:
    summary = resdsl.loads(SPEC, "gated.res").summary()
    rows = [(row.name, row.op, row.shape_text) for row in summary.layers]
    assert rows[-1] == ("conv2:max", "max", "[4, H, W]")
    assert summary.params == 2 * (4 * 4 * 9 + 4)
    bad = SPEC.replace("conv2: conv(width, 3", "conv2: conv(8, 3")
    with pytest.raises(resdsl.ResdslError) as err:
        resdsl.loads(bad, "gated.res").summary()
    [diag] = err.value.diagnostics
    assert diag.code == "merge-shape"
    assert diag.message == (
        "skip 'conv1' -> 'conv2': cannot take the maximum of [4, H=8, W=8] and [8, H=8, W=8]"
    )
    assert diag.hint == "max needs equal shapes"
    assert (diag.span.line, diag.span.column) == (7, 5)


def test_a_merge_registered_from_a_test_compiles_and_runs(max_merge: Max) -> None:
    spec = resdsl.loads(SPEC, "gated.res")
    model = spec.compile().eval()
    torch.manual_seed(0)
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        a = model.conv1(x)
        reference = torch.maximum(model.conv2(torch.relu(a)), a)
        out = model(x)
    assert torch.equal(out, reference)
    assert not torch.equal(out, model.conv2(torch.relu(a)))  # the merge did something


def test_a_merge_registered_from_a_test_is_in_the_generated_source(max_merge: Max) -> None:
    spec = resdsl.loads(SPEC, "gated.res")
    source = spec.source()
    assert re.search(
        r"^        x = torch\.maximum\(x, conv1\)  # \[4, H, W\]  gated\.res:7$", source, re.M
    ), source
    namespace: dict[str, Any] = {}
    exec(compile(source, "<generated>", "exec"), namespace)  # the test runs the text it got
    standalone = namespace["Gated"]().eval()
    built = spec.compile().eval()
    standalone.load_state_dict(built.state_dict())
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        assert torch.equal(standalone(x), built(x))


def test_a_merge_registered_from_a_test_is_drawn_and_counted(max_merge: Max) -> None:
    spec = resdsl.loads(SPEC, "gated.res")
    dot = spec.to_dot()
    assert '"conv2:max" [label=<<B>max</B>>, shape="circle"' in dot  # the merge node
    assert (
        '"conv1" -> "conv2:max" [color="#2f9e44", style="dashed", penwidth=2, '
        'fontcolor="#2f9e44", weight=1, tailport="e", headport="e", '
        'tooltip="skip shortcut (max)", label="4×H×W"]'
    ) in dot  # the skip, in the merge's own style
    assert '"legend:1:a" -> "legend:1:b" [label="max skip (element-wise maximum)"' in dot
    report = spec.paths()
    assert (report.merges, report.count) == (1, 2)
    assert (report.min_nonlinearities, report.max_nonlinearities) == (0, 1)
    graph = spec.graph()
    assert node_op(graph.nodes["conv2:max"]) is max_merge
    [edge] = [d for _, _, d in graph.edges(data=True) if d["kind"] == "skip"]
    assert (edge["merge"], edge["shortcut"]) == ("max", "identity")


def test_an_unknown_merge_suggests_a_registered_one(max_merge: Max) -> None:
    with pytest.raises(resdsl.ResdslError) as err:
        resdsl.loads(SPEC.replace("(max)", "(maxx)"), "gated.res").summary()
    [diag] = err.value.diagnostics
    assert diag.code == "unknown-merge"
    assert diag.message == "unknown merge 'maxx': expected add, concat, mul or max"
    assert diag.hint == "did you mean 'max'?"


def test_a_registered_merge_takes_only_its_own_skip_options(max_merge: Max) -> None:
    with pytest.raises(resdsl.ResdslError) as err:
        resdsl.loads(SPEC.replace("(max)", "(max, shortcut=auto)"), "gated.res").summary()
    [diag] = err.value.diagnostics
    assert (diag.code, diag.message) == (
        "skip-option",
        "shortcut= applies to 'add' skips, not 'max'",
    )


def test_a_users_merge_that_writes_bad_python_is_a_codegen_error(max_merge: Max) -> None:
    class Broken(Max):
        """A merge whose expression is not Python."""

        def expression(self, args: Any, ins: list[str], emit: Emit) -> str:
            return "torch.maximum(" + ", ".join(ins)

    register_op(Broken(), replace=True)
    with pytest.raises(resdsl.ResdslError) as err:
        resdsl.loads(SPEC, "gated.res").source()
    [diag] = err.value.diagnostics
    assert diag.code == "codegen"
    assert diag.message == (
        "merge 'max' at 'conv2:max' produced invalid Python: x = torch.maximum(x, conv1"
    )


def test_an_unregistered_merge_is_unknown_again() -> None:
    assert get_op("max", "merge") is None
    with pytest.raises(resdsl.ResdslError) as err:
        resdsl.loads(SPEC, "gated.res").summary()
    [diag] = err.value.diagnostics
    assert diag.message == f"unknown merge 'max': expected {names_text('merge', 'or')}"


def test_registering_a_taken_name_or_a_wrong_base_is_refused(max_merge: Max) -> None:
    with pytest.raises(ValueError, match="a merge named 'max' is already registered"):
        register_op(Max())
    register_op(Max(), replace=True)  # explicit replacement is allowed

    class NotAMerge(Layer):
        name = "max2"
        kind = "merge"  # type: ignore[assignment]

    with pytest.raises(
        ValueError, match=re.escape("a merge op must derive from resdsl.ops.merge.Merge")
    ):
        register_op(NotAMerge())


# ------------------------------------------------------------------ every op has its parts


def _ops() -> list[Op]:
    return [op for kind in KINDS for op in ops_of_kind(kind)]


@pytest.mark.parametrize("op", _ops(), ids=lambda op: f"{op.kind}:{op.name}")
def test_every_registered_op_has_its_parts(op: Op) -> None:
    assert op.kind in KINDS and isinstance(op, BASES[op.kind])
    assert get_op(op.name, op.kind) is op
    assert op.name.isidentifier() and op.__doc__
    assert isinstance(op.path, PathRole)
    assert hasattr(op.Args, "model_validate")
    if isinstance(op, Merge):
        assert op.verb and op.style.glyph and op.style.meaning
        assert type(op).infer is not Merge.infer
        assert type(op).expression is not Merge.expression
        assert op.path.merges and op.reads == "inputs" and not op.has_module
        assert set(op.options) <= {"shortcut", "align", "scale", "gate", "drop_path", "dim"}
    if op.has_module:
        assert isinstance(op, Layer)
        assert type(op).torch_init is not Layer.torch_init
    elif op.kind in ("align",) or getattr(op, "builds", None) == "node":
        assert type(op).forward_lines is not Op.forward_lines


def test_merge_names_are_listed_in_registration_order() -> None:
    names = op_names("merge")
    assert names[:3] == ["add", "concat", "mul"]  # the built-ins come first
    assert names_text("merge") == ", ".join(names[:-1]) + " and " + names[-1]


def test_skip_options_each_belong_to_one_merge_kind() -> None:
    owners: dict[str, str] = {}
    for op in ops_of_kind("merge"):
        for option in op.options:
            assert option not in owners, (option, owners[option], op.name)
            owners[option] = op.name
    assert owners.keys() == {"shortcut", "scale", "gate", "drop_path", "align", "dim"}


def _string_constants(path: Path) -> set[str]:
    return {
        node.value
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


@pytest.mark.parametrize(
    "path",
    [
        PACKAGE / "backends" / "codegen.py",
        PACKAGE / "backends" / "render.py",
        PACKAGE / "backends" / "init.py",
        PACKAGE / "passes" / "costs.py",
        PACKAGE / "analysis" / "paths.py",
        PACKAGE / "analysis" / "compare.py",
    ],
    ids=lambda p: p.name,
)
def test_back_ends_and_analyses_name_no_merge_shortcut_or_alignment(path: Path) -> None:
    """They ask the op definitions; no op name appears among their string constants."""
    names = {op.name for op in ops_of_kind("merge") + ops_of_kind("align")}
    names |= {op.name for op in ops_of_kind("shortcut") if op.builds != "nothing"}
    assert names & _string_constants(path) == set()

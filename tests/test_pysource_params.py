"""The parametric module writer on ``param`` tensors (resdsl.pysource.params).

A ``param`` is the ``nn.Parameter`` line torchvision writes
(``self.layer_scale = nn.Parameter(torch.ones(dim, 1, 1) * scale)``), on the
module of the scope that declares it, and a ``gate=NAME`` merge multiplies the
main path by it. Each written module is compared with the in-memory compile:
the same ``state_dict`` (keys, order, values under one seed) and the same output.
"""

from __future__ import annotations

import pytest
import torch

import resdsl
from resdsl.backends.build import load_source
from resdsl.pysource.params import initial_value
from resdsl.pysource.pyexpr import Scope
from resdsl.syntax import ast

LAYER_SCALE = """
block scaled(dim: int, scale: float) {
    param layer_scale [dim, 1, 1] = scale
    "block": {
        conv(dim, 3, padding=1, groups=dim)
        relu
        conv(dim, 1)
    }
    skip in -> "block" (add, gate=layer_scale)
}
model m(width: int = 8) {
    input [3, H=8, W=8]
    stem: conv(width, 1)
    scaled(width, 0.5)
    scaled(width, 1e-6)
}
model wide = m(width=12)
"""


def assert_matches_compile(spec: resdsl.Spec, source: str, names: list[str]) -> None:
    """Each model built from ``source`` under one seed is the compile, weights and output."""
    module = load_source(source, "params_written")
    x = torch.randn(2, 3, 8, 8)
    for name in names:
        torch.manual_seed(0)
        model = getattr(module, name)().eval()
        torch.manual_seed(0)
        compiled = spec.compile(name).eval()
        written, expected = model.state_dict(), compiled.state_dict()
        assert list(written) == list(expected), name
        for key, value in expected.items():
            assert torch.equal(written[key], value), (name, key)
        with torch.no_grad():
            assert torch.equal(model(x), compiled(x)), name


def test_a_layer_scale_is_torchvisions_parameter_line_and_gates_the_residual() -> None:
    spec = resdsl.loads(LAYER_SCALE, "m.res")
    source = spec.module_source()
    assert "self.layer_scale = nn.Parameter(torch.ones(dim, 1, 1) * scale)" in source
    assert "out = self.layer_scale * out + x  # [dim, H, W]" in source
    assert "Scaled(width, width, 1e-06)" in source
    assert_matches_compile(spec, source, ["m", "wide"])


@pytest.mark.parametrize(
    ("init", "expected"),
    [
        ("zeros", "torch.zeros(1, 1, hidden_dim)"),
        ("ones", "torch.ones(1, 1, hidden_dim)"),
        ("0", "torch.zeros(1, 1, hidden_dim)"),
        ("1.0", "torch.ones(1, 1, hidden_dim)"),
        ("0.5", "torch.full((1, 1, hidden_dim), 0.5)"),
        ("normal(0.02)", "torch.empty(1, 1, hidden_dim).normal_(std=0.02)"),
        ("scale", "torch.ones(1, 1, hidden_dim) * scale"),
    ],
)
def test_each_initial_value_is_the_torch_factory_that_gives_it(init: str, expected: str) -> None:
    text = (
        f"model m(hidden_dim: int = 4, scale: float = 0.5) {{\n"
        f"    input [3, H=8, W=8]\n"
        f"    param p [1, 1, hidden_dim] = {init}\n"
        f"    conv(4, 1)\n"
        f"}}\n"
    )
    program = resdsl.loads(text, "m.res").program
    model = program.models["m"]
    assert isinstance(model, ast.ModelDef)
    decl = next(s for s in model.body if isinstance(s, ast.ParamDecl))
    scope = Scope({"hidden_dim": "hidden_dim", "scale": "scale"})
    assert initial_value(decl, scope) == expected

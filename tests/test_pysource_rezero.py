"""rezero.res as one parametric module (resdsl.pysource).

- a learned gate (``gate=rezero``) is a module of the file's one ``Gate``
  class, built where the merge is (``self.rezero = Gate()``) and read by the
  registry's own line (``out = self.rezero.gate * out + x``);
- an ``if`` that builds layers in one branch only is an optional module
  (``self.bn1 = nn.BatchNorm2d(planes) if norm else None``, called under
  ``if self.bn1 is not None:``), and a skip both branches end with is one
  merge after it;
- a model built from the module under ``torch.manual_seed(k)`` starts from
  the compile's exact state, gates at 0, and with the gates set non-zero it
  computes what the compile computes.
"""

from __future__ import annotations

import ast
from functools import cache
from types import ModuleType

import pytest
import torch
from torch import nn

import resdsl
from resdsl.backends.build import load_source
from resdsl.diagnostics import ResdslError
from resdsl.pysource.optional import negated
from tests.conftest import SPECS

MODELS = ["rezero20", "rezero20_nonorm"]


@cache
def rezero_text() -> str:
    return resdsl.load(SPECS / "rezero.res").module_source()


@cache
def rezero_module() -> ModuleType:
    return load_source(rezero_text(), "rezero_written")


@cache
def rezero_spec() -> resdsl.Spec:
    return resdsl.load(SPECS / "rezero.res")


def class_names(text: str) -> list[str]:
    return [n.name for n in ast.parse(text).body if isinstance(n, ast.ClassDef)]


def written_and_compiled(name: str, seed: int) -> tuple[nn.Module, nn.Module]:
    """The model built from the written module and compiled, each under the same seed."""
    torch.manual_seed(seed)
    written = getattr(rezero_module(), name)()
    torch.manual_seed(seed)
    compiled = rezero_spec().compile(name)
    return written, compiled


def set_gates(model: nn.Module, values: torch.Tensor) -> list[str]:
    """Give the gates these values, in state_dict order; returns their keys."""
    keys = [k for k in model.state_dict() if k.endswith(".gate")]
    with torch.no_grad():
        for key, value in zip(keys, values, strict=True):
            model.get_parameter(key).fill_(value)
    return keys


# ------------------------------------------------------------------ the module


def test_rezero_module_is_one_class_per_definition_and_the_gate() -> None:
    text = rezero_text()
    assert not text.startswith("#"), text.splitlines()[0]
    assert class_names(text) == ["Gate", "RezeroBasic", "RezeroNet"]
    assert len(text.splitlines()) == 118
    assert "self[" not in text
    assert text.count("nn.Parameter(") == 1


def test_optional_norms_and_the_gate_are_written_as_a_person_would() -> None:
    text = rezero_text()
    assert "        self.bn1 = nn.BatchNorm2d(planes) if norm else None\n" in text
    assert (
        "        self.bn2 = nn.BatchNorm2d(planes) if norm else None\n        self.rezero = Gate()\n"
        in text
    )
    assert (
        "        if self.bn2 is not None:\n"
        "            out = self.bn2(out)  # [planes, H, W]\n"
        "        out = self.rezero.gate * out + x  # [planes, H, W]\n"
        "        return out\n"
    ) in text
    assert text.count("self.rezero.gate * out") == 1  # the two skips are one merge


@pytest.mark.parametrize(
    ("name", "seed"), [("rezero20", 0), ("rezero20", 5), ("rezero20_nonorm", 3)]
)
def test_a_model_built_under_a_seed_starts_from_the_compiles_state(name: str, seed: int) -> None:
    written, compiled = written_and_compiled(name, seed)
    expected = compiled.state_dict()
    state = written.state_dict()
    assert list(state) == list(expected)
    assert [tuple(t.shape) for t in state.values()] == [tuple(t.shape) for t in expected.values()]
    for key, value in expected.items():
        assert torch.equal(state[key], value), key
    gates = [k for k in state if k.endswith(".gate")]
    assert len(gates) == 9 and gates[0] == "blocks.0.rezero.gate"
    assert all(state[k].item() == 0.0 and state[k].shape == () for k in gates)


def test_without_norm_the_blocks_hold_no_norm_at_all() -> None:
    written, compiled = written_and_compiled("rezero20_nonorm", 0)
    block = written.blocks[0]
    assert block.bn1 is None and block.bn2 is None
    assert [name for name, _ in block.named_children()] == ["conv1", "relu1", "conv2", "rezero"]
    assert sum(p.numel() for p in written.parameters()) == 42_115
    assert sum(p.numel() for p in compiled.parameters()) == 42_115


@pytest.mark.parametrize("name", MODELS)
def test_at_initialisation_the_blocks_are_the_identity(name: str) -> None:
    written, _ = written_and_compiled(name, 1)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        stem = written.stem(x)
        assert torch.equal(written.blocks(stem), stem)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("training", [False, True])
def test_with_gates_set_the_written_model_computes_what_the_compile_does(
    name: str, training: bool
) -> None:
    written, compiled = written_and_compiled(name, 4)
    gates = torch.linspace(0.25, 2.25, 9)
    assert set_gates(written, gates) == set_gates(compiled, gates)
    written.train(training)
    compiled.train(training)
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        expected = compiled(x)
        out = written(x)
        if not training:  # (a training forward would update the batch statistics again)
            stem = written.stem(x)
            assert not torch.equal(written.blocks(stem), stem)  # the branches now count
    assert torch.equal(out, expected)
    if training:  # batch statistics were updated the same way too
        for key, value in compiled.state_dict().items():
            assert torch.equal(written.state_dict()[key], value), key


def test_the_gate_is_a_parameter_the_optimiser_moves() -> None:
    written, _ = written_and_compiled("rezero20", 0)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    written(x).sum().backward()
    grad = written.blocks[0].rezero.gate.grad
    assert grad is not None and grad.shape == () and grad.item() != 0.0


# ------------------------------------------------------------------ pieces


def test_a_layer_built_only_in_the_else_branch_is_built_under_the_negated_test() -> None:
    spec = resdsl.loads(
        """
        block b(plain: bool) {
            c: conv(4, 3, padding=1)
            if plain { } else { n: batchnorm }
            skip in -> c (add)
        }
        model m1 { input [4, 8, 8]; b(true) }
        model m2 { input [4, 8, 8]; b(false) }
        """,
        "else.res",
    )
    text = spec.module_source()
    assert "        self.n = nn.BatchNorm2d(4) if not plain else None\n" in text
    module = load_source(text, "else_written")
    for name in ("m1", "m2"):
        torch.manual_seed(0)
        written = getattr(module, name)()
        torch.manual_seed(0)
        compiled = spec.compile(name)
        assert list(written.state_dict()) == list(compiled.state_dict())
        written.load_state_dict(compiled.state_dict())
        x = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            assert torch.equal(written.eval()(x), compiled.eval()(x))


def test_a_gate_outside_an_if_is_built_where_the_merge_is() -> None:
    spec = resdsl.loads(
        """
        model m {
            input [4, 8, 8]
            a: conv(4, 3, padding=1)
            r: skip in -> a (add, gate=rezero)
            b: conv(4, 1)
        }
        """,
        "gated.res",
    )
    text = spec.module_source()
    assert not text.startswith("#"), text.splitlines()[0]
    assert "        self.a = nn.Conv2d(4, 4, 3, padding=1)\n        self.r = Gate()\n" in text
    torch.manual_seed(0)
    written = load_source(text, "gated_written").m()
    torch.manual_seed(0)
    compiled = spec.compile("m")
    assert list(written.state_dict()) == ["a.weight", "a.bias", "r.gate", "b.weight", "b.bias"]
    assert list(written.state_dict()) == list(compiled.state_dict())


def test_a_block_named_gate_leaves_the_helper_its_name() -> None:
    spec = resdsl.loads(
        """
        block gate(c: int) {
            a: conv(c, 3, padding=1)
            r: skip in -> a (add, gate=rezero)
        }
        model m { input [4, 8, 8]; g: gate(4) }
        """,
        "named.res",
    )
    text = spec.module_source()
    assert class_names(text)[:2] == ["Gate", "Gate2"]
    assert "        self.r = Gate()\n" in text and "Gate2(" in text


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (  # the compile keeps this gate on the shortcut's own module
            "a: conv(8, 3, padding=1); r: skip in -> a (add, shortcut=projection, gate=rezero)",
            "a learned gate on a projection shortcut",
        ),
        (  # the gate would exist in some models only
            "a: conv(4, 3, padding=1); if flag { r: skip in -> a (add, gate=rezero) }",
            "with a projection shortcut or a learned gate",
        ),
        (
            "a: conv(4, 3, padding=1); if flag { n: batchnorm; skip in -> n (add) }",
            "an 'if' whose branches end with different skips",
        ),
        (
            "a: conv(4, 3, padding=1); if flag { n: conv(8, 1) }; skip in -> a (add)",
            "an 'if' whose layers change the channel count or the size",
        ),
        (
            "a: conv(4, 3, padding=1); if flag { n: batchnorm }; b: relu; skip in -> n (add)",
            "a skip from or to a layer that an 'if' may not build",
        ),
    ],
)
def test_what_it_cannot_write_says_why(body: str, reason: str) -> None:
    spec = resdsl.loads(
        f"block b(flag: bool) {{ {body} }}\n"
        "model m1 { input [4, 8, 8]; b(true) }\nmodel m2 { input [4, 8, 8]; b(false) }",
        "refused.res",
    )
    with pytest.raises(ResdslError, match=reason):
        spec.module_source()


def test_a_negated_test_is_parenthesised_only_where_needed() -> None:
    assert negated("norm") == "not norm"
    assert negated("stride == 1 and inp == oup") == "not (stride == 1 and inp == oup)"


def test_the_module_cut_to_one_model_keeps_the_gate_class() -> None:
    text = rezero_spec().module_source("rezero20_nonorm")
    assert class_names(text) == ["Gate", "RezeroBasic", "RezeroNet"]
    assert "def rezero20(" not in text and "def rezero20_nonorm(" in text
    written = load_source(text, "rezero_cut").rezero20_nonorm()
    assert list(written.state_dict()) == list(rezero_spec().compile("rezero20_nonorm").state_dict())


@pytest.mark.parametrize(
    "body",
    [
        "c: conv(4, 3, padding=1); if flag { n: batchnorm; r: relu }; skip in -> c (add)",
        "c: conv(4, 3, padding=1); if flag { n: batchnorm; g: skip in -> n (add) }"
        " else { g: skip in -> c (add) }; r: relu",
        "c: conv(4, 3, padding=1); if flag { n: batchnorm; g: skip in -> n (add, scale=0.5) }"
        " else { g: skip in -> c (add, scale=0.5) }",
        "c: conv(4, 3, padding=1); if flag { n: batchnorm; g: skip in -> n (add, gate=rezero) }"
        " else { g: skip in -> c (add, gate=rezero) }; r: relu",
    ],
)
def test_optional_layers_and_shared_merges_compute_what_the_compile_does(body: str) -> None:
    spec = resdsl.loads(
        f"block b(flag: bool) {{ {body} }}\n"
        "model m1 { input [4, 8, 8]; b(true) }\nmodel m2 { input [4, 8, 8]; b(false) }",
        "optional.res",
    )
    module = load_source(spec.module_source(), "optional_written")
    for name in ("m1", "m2"):
        compiled = spec.compile(name)
        with torch.no_grad():  # every state non-zero (gates included), variances positive
            for value in compiled.state_dict().values():
                if value.is_floating_point():
                    value.copy_(torch.rand(value.shape, generator=torch.Generator()) + 0.5)
        written = getattr(module, name)()
        written.load_state_dict(compiled.state_dict())
        for training in (False, True):
            x = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(int(training)))
            written.train(training)
            compiled.train(training)
            with torch.no_grad():
                assert torch.equal(written(x), compiled(x)), (name, training)

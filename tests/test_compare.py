"""A model beside its plain twin (resdsl.analysis.compare) and ``resdsl compare``."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import resdsl
from resdsl.analysis.compare import compare
from resdsl.cli import app
from resdsl.semantics.expr import BlockRef
from tests.conftest import SPECS


@pytest.fixture(scope="module")
def cifar() -> resdsl.Spec:
    return resdsl.load(SPECS / "cifar_resnet.res")


def test_option_a_skips_are_free(cifar: resdsl.Spec) -> None:
    c = cifar.compare("resnet56")
    assert c.model.params == c.plain.params == 853_018
    assert c.model.macs == c.plain.macs
    assert c.shortcut_params == 0 and c.other_params == 0
    assert c.model.weighted_depth == c.plain.weighted_depth == 56
    assert c.model.weighted_layers == c.plain.weighted_layers == 56
    assert (c.model.skips, c.plain.skips) == (27, 0)
    assert (c.model.paths, c.plain.paths) == (2**27, 1)
    assert (c.model.min_nonlinearities, c.plain.min_nonlinearities) == (28, 55)
    # a merge per block, and a zero-pad node where a stage widens (option A is
    # the identity where shapes match)
    assert c.model.nodes - c.plain.nodes == 27 + 2
    assert sorted(s.kind for s in c.shortcuts) == ["identity"] * 25 + ["zeropad"] * 2
    assert c.plain.plain and not c.model.plain


def test_option_b_projections_account_for_the_difference(cifar: resdsl.Spec) -> None:
    c = cifar.compare("cifar_resnet", n=3, unit=BlockRef("basic_b"))
    assert (c.model.params, c.plain.params) == (272_474, 269_722)
    assert c.shortcut_params == 272_474 - 269_722
    assert c.other_params == 0
    projections = [s for s in c.shortcuts if s.kind == "projection"]
    assert [(s.skip, s.nodes) for s in projections] == [
        ("layer2.0.shortcut", ["layer2.0.shortcut.0", "layer2.0.shortcut.1"]),
        ("layer3.0.shortcut", ["layer3.0.shortcut.0", "layer3.0.shortcut.1"]),
    ]
    # 1x1 conv 16 -> 32 plus batch norm; 1x1 conv 32 -> 64 plus batch norm.
    assert [s.params for s in projections] == [16 * 32 + 2 * 32, 32 * 64 + 2 * 64]
    assert c.model.macs - c.plain.macs == c.shortcut_macs
    assert c.model.weighted_layers == c.plain.weighted_layers + 2
    assert c.model.weighted_depth == c.plain.weighted_depth == 20
    assert sum(s.kind == "identity" for s in c.shortcuts) == 7


def test_preact_official_projection_shortcuts() -> None:
    c = resdsl.load(SPECS / "preact_resnet.res").compare("preact_resnet164")
    assert c.model.params == 1_703_258
    blocks = [s for s in c.shortcuts if s.params]
    assert [s.kind for s in blocks] == ["block conv_shortcut"] * 3
    assert [s.params for s in blocks] == [16 * 64, 64 * 128, 128 * 256]
    assert c.model.params - c.plain.params == c.shortcut_params == 41_984


def test_unet_concat_skips_widen_the_decoder() -> None:
    c = resdsl.load(SPECS / "unet.res").compare()
    assert c.model.params == 31_037_698
    assert c.shortcut_params == 0
    assert [s.kind for s in c.shortcuts] == ["concat, align=pad"] * 4
    # Without the skips each decoder double conv's first conv sees half its channels.
    assert c.other_params == c.model.params - c.plain.params == 3_133_440
    assert c.other_params == sum(9 * (w // 2) * w // 2 for w in (1024, 512, 256, 128))


def test_rezero_gates_cost_one_parameter_each() -> None:
    c = resdsl.load(SPECS / "rezero.res").compare("rezero20")
    assert [s.kind for s in c.shortcuts] == ["identity, gate=rezero"] * 9
    assert [s.params for s in c.shortcuts] == [1] * 9
    assert c.shortcut_params == c.model.params - c.plain.params == 9
    assert c.shortcuts[0].skip == "blocks.0.rezero"
    assert c.shortcuts[0].into == "blocks.0.bn2:add"


def test_cli_compare_table() -> None:
    spec = str(SPECS / "cifar_resnet.res")
    result = CliRunner().invoke(app, ["compare", spec, "-m", "cifar_resnet", "-p", "n=3",
                                      "-p", "unit=basic_b"])  # fmt: skip
    assert result.exit_code == 0, result.output
    text = result.output
    assert "plain twin" in text and "2^9" in text
    assert "272,474" in text and "269,722" in text and "+2,752" in text
    assert "layer2.0.shortcut.0" in text and "layer3.0.shortcut.1" in text
    assert "skips: 7 identity (free), 2 projection (2,752 parameters)" in text


def test_cli_compare_long_lists_are_shortened() -> None:
    spec = str(SPECS / "rezero.res")
    short = CliRunner().invoke(app, ["compare", spec, "-m", "rezero110"])
    assert short.exit_code == 0, short.output
    assert "38 rows not shown: --all lists every one" in short.output
    full = CliRunner().invoke(app, ["compare", spec, "-m", "rezero110", "--all"])
    assert "blocks.30.rezero" in full.output and "not shown" not in full.output


def test_cli_compare_json() -> None:
    result = CliRunner().invoke(app, ["compare", str(SPECS / "unet.res"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["model"]["params"] == 31_037_698
    assert data["other_params"] == 3_133_440
    assert data["plain"]["paths"] == 1


def test_cli_compare_invalid_spec(tmp_path: object) -> None:
    result = CliRunner().invoke(app, ["compare", str(SPECS / "nope.res")])
    assert result.exit_code == 2


def test_docstring_examples() -> None:
    import doctest

    import resdsl.analysis.compare

    result = doctest.testmod(resdsl.analysis.compare)
    assert result.failed == 0 and result.attempted > 0


def test_compare_takes_the_model_graph_and_its_plain_twins(cifar: resdsl.Spec) -> None:
    graph, plain = cifar.graph("resnet20"), cifar.plain().graph("resnet20")
    c = compare(graph, plain)
    assert c == cifar.compare("resnet20")
    assert (c.model.plain, c.plain.plain) == (False, True)
    assert (c.model.skips, c.plain.skips) == (9, 0)

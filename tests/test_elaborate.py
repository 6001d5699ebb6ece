"""Elaboration of the bundled specs and of every language feature, without torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import resdsl
from resdsl.ir.graph import lint
from resdsl.ops import registry
from tests.conftest import DATA, ROOT, SPECS

REFERENCE_PARAMS = {
    ("resnet.res", "resnet18"): 11_689_512,
    ("resnet.res", "resnet34"): 21_797_672,
    ("resnet.res", "resnet50"): 25_557_032,
    ("resnet.res", "resnet101"): 44_549_160,
    ("resnet.res", "resnet152"): 60_192_808,
    ("cifar_resnet.res", "resnet20"): 269_722,
    ("cifar_resnet.res", "resnet32"): 464_154,
    ("cifar_resnet.res", "resnet44"): 658_586,
    ("cifar_resnet.res", "resnet56"): 853_018,
    ("cifar_resnet.res", "resnet110"): 1_727_962,
    ("preact_resnet.res", "preact_resnet164"): 1_703_258,
    ("preact_resnet.res", "preact_resnet1001"): 10_327_706,
    ("unet.res", "unet"): 31_037_698,
    ("unet_noalign.res", "unet_noalign"): 31_037_698,
    ("unet_original.res", "unet_original"): 31_030_658,
}

REFERENCE_MACS_G = {"resnet18": 1.8141, "resnet34": 3.6638, "resnet50": 4.0892,
                    "resnet101": 7.8014, "resnet152": 11.5136}  # fmt: skip


@pytest.fixture(scope="module")
def resnet() -> resdsl.Spec:
    return resdsl.load(SPECS / "resnet.res")


@pytest.mark.parametrize(("file", "model"), sorted(REFERENCE_PARAMS), ids=lambda x: str(x))
def test_parameter_counts_equal_the_references(file: str, model: str) -> None:
    assert resdsl.load(SPECS / file).summary(model).params == REFERENCE_PARAMS[(file, model)]


@pytest.mark.parametrize("model", sorted(REFERENCE_MACS_G))
def test_macs_equal_torchvision(resnet: resdsl.Spec, model: str) -> None:
    assert round(resnet.summary(model).macs / 1e9, 4) == REFERENCE_MACS_G[model]


def test_cifar_option_b_counts() -> None:
    spec = resdsl.load(SPECS / "cifar_resnet.res")
    counts = {n: spec.summary("cifar_resnet", n=n, unit="basic_b").params for n in (3, 9)}
    assert counts == {3: 272_474, 9: 855_770}


@pytest.mark.parametrize("model", ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"])
def test_node_names_are_torchvision_module_paths(resnet: resdsl.Spec, model: str) -> None:
    reference = json.loads((DATA / "torchvision_resnet.json").read_text())["models"][model]
    ref_modules: dict[str, int] = {}
    for key, shape in reference["state_dict"]:
        module, _, leaf = key.rpartition(".")
        if leaf in ("weight", "bias"):
            n = 1
            for d in shape:
                n *= d
            ref_modules[module] = ref_modules.get(module, 0) + n
    g = resnet.graph(model)
    ours = {n: d["params"] for n, d in g.nodes(data=True) if d["params"]}
    assert ours == ref_modules
    # Modules appear in torchvision's registration order.
    order = [n for n in g.nodes if n in ref_modules]
    assert order == list(dict.fromkeys(ref_modules))
    assert g.nodes["layer2.0.downsample.0"]["op"] == "conv"
    assert g.nodes["layer2.0.downsample.1"]["op"] == "batchnorm"
    assert len(reference["state_dict"]) == {"resnet18": 122, "resnet34": 218,
                                            "resnet50": 320, "resnet101": 626,
                                            "resnet152": 932}[model]  # fmt: skip


def test_unet_valid_sizes() -> None:
    noalign = resdsl.load(SPECS / "unet_noalign.res").summary()
    for symbol in ("H", "W"):
        rule = noalign.valid_sizes[symbol]
        assert (rule.minimum, rule.period, rule.residues, rule.maximum) == (16, 16, (0,), None)
        assert rule.sentence == f"{symbol} must be a multiple of 16, at least 16"
    padded = resdsl.load(SPECS / "unet.res").summary().valid_sizes["H"]
    assert (padded.minimum, padded.period, padded.residues) == (16, 1, (0,))
    original = resdsl.load(SPECS / "unet_original.res").summary()
    assert original.valid_sizes["H"].minimum == 188
    assert 187 not in original.valid_sizes["H"] and 188 in original.valid_sizes["H"]
    assert original.output_shape == (2, 388, 388)


def test_valid_sizes_agree_with_elaborating_each_size() -> None:
    """Brute force: the reported rule equals elaborating the U-Net at every size."""
    spec = resdsl.load(SPECS / "unet_noalign.res")
    rule = spec.summary().valid_sizes["H"]
    for h in range(1, 70):
        try:
            spec.graph(H=h, W=32)
            ok = True
        except resdsl.ResdslError:
            ok = False
        assert ok == (h in rule), h


def test_every_bundled_graph_passes_lint() -> None:
    for path in sorted(SPECS.glob("*.res")):
        spec = resdsl.load(path)
        for model in spec.models:
            if model == "preact_resnet1001":
                continue  # covered by the count test; slow to lint
            try:
                g = spec.graph(model)
            except resdsl.ResdslError as err:  # a parameterised template model
                assert [d.code for d in err.diagnostics] == ["missing-parameter"]
                continue
            assert lint(g, registry) == [], (path.name, model)


def test_check_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from resdsl.cli import app\n"
        "r = CliRunner().invoke(app, ['check', 'specs/resnet.res', '--model', 'resnet152'])\n"
        "assert r.exit_code == 0, r.output\n"
        "r = CliRunner().invoke(app, ['summary', 'specs/unet.res'])\n"
        "assert r.exit_code == 0, r.output\n"
        "assert 'torch' not in sys.modules, 'check imported torch'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


# ------------------------------------------------------------------ language

LANGUAGE_SECTION_1 = (SPECS / "resnet.res").read_text()


def test_language_section_1_example() -> None:
    spec = resdsl.loads(LANGUAGE_SECTION_1, "resnet.res")
    assert spec.summary("resnet18").params == 11_689_512
    assert spec.summary("resnet50").params == 25_557_032


def test_prenorm_transformer_merges_carry_merged_values() -> None:
    """Skips (docs/language.md section 6): `skip attn -> fc2` after `skip in -> attn` carries in + attn."""
    spec = resdsl.loads(
        """
        block layer(dim: int) {
            ln1: layernorm
            attn: attention(4)
            skip in -> attn (add)
            ln2: layernorm
            fc1: linear(dim * 4)
            gelu
            fc2: linear(dim)
            skip attn -> fc2 (add)
        }
        model t() {
            input [T=16, 32]
            l0: layer(32)
        }
        """
    )
    g = spec.graph()
    assert set(g.predecessors("l0.fc2:add")) == {"l0.fc2", "l0.attn:add"}
    assert g.nodes["l0.ln2"]["shape"] == (16, 32)
    assert set(g.predecessors("l0.ln2")) == {"l0.attn:add"}


def test_naming_rule_positions_and_groups() -> None:
    spec = resdsl.loads(
        """
        block unit(c: int) { conv(c, 3, padding=1); batchnorm; relu }
        model m() {
            input [3, H=8, W=8]
            stem: conv(8, 3)
            relu
            body: {
                unit(8)
                repeat 2 as i { u{i + 1}: unit(8) }
            }
            pool: adaptive_avgpool(1)
        }
        """
    )
    names = [n for n in spec.graph().nodes]
    assert names == [
        "input", "stem", "1",
        "body.0.0", "body.0.1", "body.0.2",
        "body.u1.0", "body.u1.1", "body.u1.2",
        "body.u2.0", "body.u2.1", "body.u2.2",
        "pool",
    ]  # fmt: skip


def test_skips_are_declarative_and_merge_in_written_order() -> None:
    spec = resdsl.loads(
        """
        model dense() {
            input [4, H=8, W=8]
            skip a -> c (concat)
            skip b -> c (concat)
            a: conv(2, 1)
            b: conv(3, 1)
            c: conv(5, 1)
        }
        """
    )
    g = spec.graph()
    merge = "c:concat"
    inputs = sorted(g.predecessors(merge), key=lambda u: g.edges[u, merge]["index"])
    assert inputs == ["a", "b", "c"]
    assert g.nodes[merge]["shape"] == (10, 8, 8)
    assert [g.edges[u, merge]["kind"] for u in inputs] == ["skip", "skip", "main"]


def test_let_may_use_channels_of_earlier_values() -> None:
    spec = resdsl.loads(
        """
        block se(r: int = 4) {
            let c = channels(in)
            pool: adaptive_avgpool(1)
            down: conv(c // r, 1)
            relu
            up: conv(c, 1)
            sigmoid
        }
        model m() {
            input [16, H=8, W=8]
            x: se
            skip in -> x (mul)
        }
        """
    )
    g = spec.graph()
    assert g.nodes["x.down"]["shape"] == (4, 1, 1)
    assert g.nodes["x:mul"]["shape"] == (16, 8, 8)


def test_if_else_and_model_parameters() -> None:
    text = """
    model m(wide: bool = false) {
        input [3, H=8, W=8]
        if wide { c: conv(64, 1) } else { c: conv(8, 1) }
    }
    """
    spec = resdsl.loads(text)
    assert spec.graph().nodes["c"]["shape"][0] == 8
    assert spec.graph(wide=True).nodes["c"]["shape"][0] == 64


def test_shortcut_kinds() -> None:
    text = """
    block sc(channels: int, stride: int) { conv(channels, 1, stride=stride, bias=false) }
    model m(kind: str = "auto") {
        input [16, H=8, W=8]
        a: conv(32, 3, stride=2, padding=1)
        p: skip in -> a (add, shortcut=projection)
        b: conv(64, 3, stride=2, padding=1)
        z: skip a -> b (add, shortcut=zeropad)
        c: conv(64, 3, padding=1)
        u: skip b -> c (add, shortcut=sc)
        d: conv(64, 3, padding=1)
        r: skip c -> d (add, gate=rezero, scale=0.5)
    }
    """
    g = resdsl.loads(text).graph()
    assert [g.nodes[n]["op"] for n in ("p.0", "p.1")] == ["conv", "batchnorm"]
    assert g.nodes["p.0"]["args"].stride == 2
    assert g.nodes["z"]["op"] == "zeropad"
    assert (g.nodes["z"]["args"].pad_before, g.nodes["z"]["args"].pad_after) == (16, 16)
    # c is the same shape as b: the user-block shortcut is still built, as asked.
    assert g.nodes["u.0"]["op"] == "conv"
    merge = g.nodes["d:add"]
    assert (merge["args"].gate, merge["args"].scale, merge["params"]) == ("rezero", 0.5, 1)


def test_align_crop_and_pad_insert_nodes() -> None:
    text = """
    model m(mode: str = "crop") {
        input [4, H=20, W=20]
        a: conv(4, 3)
        maxpool(2)
        b: conv_transpose(4, 2, stride=2)
        skip a -> b (concat, align=crop)
    }
    """
    g = resdsl.loads(text).graph(H=21, W=21)
    crops = {n: d["args"].amounts for n, d in g.nodes(data=True) if d["op"] == "crop"}
    # Both sides are aligned to min(a, b): symbolically either could be larger.
    assert crops == {"b:concat/crop0": ((0, 1), (0, 1)), "b:concat/crop1": ((0, 0), (0, 0))}
    assert g.nodes["b:concat"]["shape"] == (8, 18, 18)
    padded = resdsl.loads(text.replace("align=crop", "align=pad")).graph(H=21, W=21)
    pads = {n: d["args"].amounts for n, d in padded.nodes(data=True) if d["op"] == "pad"}
    assert pads == {"b:concat/pad0": ((0, 0), (0, 0)), "b:concat/pad1": ((0, 1), (0, 1))}
    assert padded.nodes["b:concat"]["shape"] == (8, 19, 19)


def test_plain_twin_keeps_names_and_drops_skips() -> None:
    spec = resdsl.load(SPECS / "resnet.res")
    plain = spec.plain()
    g, p = spec.graph("resnet18"), plain.graph("resnet18")
    assert not any(d["kind"] == "skip" for _, _, d in p.edges(data=True))
    shortcut_params = sum(d["params"] for _, d in g.nodes(data=True) if d["role"] == "shortcut")
    assert p.graph["params"] == g.graph["params"] - shortcut_params
    assert {n for n, d in p.nodes(data=True) if d["params"]} <= set(g.nodes)


def test_use_resolves_relative_then_bundled(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "blocks.res").write_text("block two(c: int) { conv(c, 1); relu }\n")
    (tmp_path / "net.res").write_text(
        'use "lib/blocks.res"\nuse "resnet.res"\n'
        "model m() {\n    input [3, H=8, W=8]\n    two(4)\n    basic(4)\n}\n"
        "model r18 = resnet(depths=[2, 2, 2, 2], num_classes=10)\n"
    )
    spec = resdsl.load(tmp_path / "net.res")
    assert spec.models == ["m", "r18"]
    assert spec.summary("m").output_shape == (4, 8, 8)
    assert spec.summary("r18").params == 11_689_512 - 1000 * 513 + 10 * 513


def test_use_outside_is_allowed_only_when_asked(tmp_path: Path) -> None:
    (tmp_path / "shared.res").write_text("block one() { relu }\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "net.res").write_text(
        'use "../shared.res"\nmodel m() {\n    input [3]\n    one\n}\n'
    )
    with pytest.raises(resdsl.ResdslError) as err:
        resdsl.load(tmp_path / "sub" / "net.res")
    assert err.value.diagnostics[0].code == "use-outside"
    assert "block one" not in str(err.value)  # never shows the other file
    spec = resdsl.load(tmp_path / "sub" / "net.res", allow_outside=True)
    assert spec.summary().output_shape == (3,)


def test_resource_limits_are_configurable() -> None:
    text = "model m(n: int = 50) {\n    input [3]\n    repeat n { relu }\n}\n"
    with pytest.raises(resdsl.ResdslError) as err:
        resdsl.loads(text, limits=resdsl.Limits(max_nodes=20)).graph()
    assert err.value.diagnostics[0].code == "too-many-nodes"
    assert len(resdsl.loads(text, limits=resdsl.Limits(max_nodes=60)).graph()) == 51


RESIDUAL_CHAIN = Path(__file__).parent / "specs" / "residual_chain.res"


def test_a_repeat_past_the_node_limit_is_refused_once_its_size_is_known() -> None:
    # 30,001 blocks of 5 nodes: refused after the second copy (when its size is
    # known to repeat), not after elaborating 100,000 nodes
    with pytest.raises(resdsl.ResdslError) as err:
        resdsl.load(RESIDUAL_CHAIN).graph("chain_past_limit")
    [d] = err.value.diagnostics
    assert d.code == "too-many-nodes" and str(d.span).endswith("residual_chain.res:22:16")
    assert d.notes == (
        "it makes 5 nodes and 29,999 more copies follow: at least 150,006 nodes in all",
    )
    # at the limit exactly it is built
    fits = resdsl.load(RESIDUAL_CHAIN, limits=resdsl.Limits(max_nodes=150_006))
    assert len(fits.graph("chain_past_limit")) == 150_006


def test_nothing_but_resdsl_error_escapes() -> None:
    for text in ["model m() {", "\x00\x01", "model m() { input [0] }", "model m() { input [] }",
                 "block b() { b }\nmodel m() {\n input [3]\n b\n}", "(" * 5000,
                 "model m() {\n input [3]\n repeat -1 { relu }\n}"]:  # fmt: skip
        with pytest.raises(resdsl.ResdslError):
            spec = resdsl.loads(text)
            spec.graph()


def _graph_data(g: Any) -> tuple[Any, ...]:
    nodes = [(n, sorted((k, repr(v)) for k, v in d.items())) for n, d in g.nodes(data=True)]
    edges = [(u, v, sorted(d.items())) for u, v, d in g.edges(data=True)]
    scopes = [(k, repr(v)) for k, v in g.graph["scopes"].items()]
    return nodes, sorted(edges), scopes, g.graph["constraints"]


@pytest.mark.parametrize(
    ("file", "model"),
    [("resnet.res", "resnet50"), ("cifar_resnet.res", "resnet20"), ("unet.res", "unet"),
     ("preact_resnet.res", "preact_resnet164"), ("unet_original.res", "unet_original")],
)  # fmt: skip
def test_stamping_repeated_blocks_gives_the_same_graph(file: str, model: str) -> None:
    """Copying repeated block instances must equal elaborating each one."""
    from resdsl.semantics.elaborate import Elaborator, Limits

    program = resdsl.load(SPECS / file).program
    graphs = []
    for stamping in (True, False):
        el = Elaborator(program, Limits())
        el.stamping = stamping
        graphs.append(el.model(model, {}, None))
        assert el.collector.diagnostics == []
    assert _graph_data(graphs[0]) == _graph_data(graphs[1])


def test_blocks_with_list_arguments_repeat() -> None:
    spec = resdsl.loads(
        """
        block widths(ws: list) { repeat len(ws) as i { conv(ws[i], 1) } }
        model m() {
            input [3, H=4, W=4]
            a: widths([4, 8])
            b: widths([8, 8])
            c: widths([8, 8])
        }
        """
    )
    g = spec.graph()
    assert g.nodes["c.1"]["shape"] == (8, 4, 4) and g.nodes["a.0"]["shape"] == (4, 4, 4)


def test_graph_structures_are_consistent() -> None:
    """The bulk-built DiGraph answers like one built edge by edge."""
    import networkx as nx

    g = resdsl.load(SPECS / "resnet.res").graph("resnet18")
    rebuilt = nx.DiGraph()
    rebuilt.add_nodes_from(g.nodes(data=True))
    rebuilt.add_edges_from(g.edges(data=True))
    assert list(rebuilt.nodes) == list(g.nodes)
    assert sorted(rebuilt.edges) == sorted(g.edges)
    for v in g:
        assert set(g.predecessors(v)) == set(rebuilt.predecessors(v))
        assert set(g.successors(v)) == set(rebuilt.successors(v))
    assert nx.is_directed_acyclic_graph(g)
    assert next(iter(nx.topological_sort(g))) == "input"


def test_the_collector_is_restored_after_checking() -> None:
    import gc

    assert gc.isenabled()
    resdsl.load(SPECS / "resnet.res").summary("resnet18")
    assert gc.isenabled()
    with pytest.raises(resdsl.ResdslError):
        resdsl.loads("model m() {\n    input [3]\n    nope\n}\n").graph()
    assert gc.isenabled()
    gc.disable()
    try:
        resdsl.load(SPECS / "resnet.res").summary("resnet18")
        assert not gc.isenabled()  # a caller's choice is kept
    finally:
        gc.enable()


def test_elaboration_state_is_freed_without_the_cycle_collector() -> None:
    """The elaborator's parts refer back to it; after a model they must let go.

    Left to the cycle collector, the state of every elaboration lingered and
    made checking a fifth slower.
    """
    import gc
    import weakref

    from resdsl.semantics.elaborate import Elaborator, Limits

    program = resdsl.load(SPECS / "resnet.res").program
    el = Elaborator(program, Limits())
    el.model("resnet18", {}, None)
    assert el.collector.diagnostics == []
    ref = weakref.ref(el)
    gc.disable()
    try:
        del el
        assert ref() is None
    finally:
        gc.enable()


def _first_error(text: str, **params: Any) -> tuple[str, str | None]:
    with pytest.raises(resdsl.ResdslError) as err:
        resdsl.loads(text).graph(**params)
    d = err.value.diagnostics[0]
    return d.message, d.hint


@pytest.mark.parametrize(
    ("call", "message", "hint"),
    [
        ("conv(4.0, 3)", "argument 'out_channels' of conv must be an int, got float 4.0",
         "write 4"),
        ("conv(-(-4.0), 3)", "argument 'out_channels' of conv must be an int, got float 4.0",
         "write 4"),
        ("conv(planes / 2, 3)", "argument 'out_channels' of conv must be an int, got float 4.0",
         "'/' always gives a float: use '//' to divide ints"),
        ("conv(planes * 1.0, 3)", "argument 'out_channels' of conv must be an int, got float 8.0",
         None),
        ("conv(4.5, 3)", "argument 'out_channels' of conv must be an int, got float 4.5", None),
        ("conv(4, [3, 3.0])", "argument 'kernel_size' of conv must be an int or a list of ints, "
         "got float 3.0 in [3, 3.0]", "write 3"),
        ("b(4.0)", "argument 'width' of block 'b' must be an int, got float 4.0", "write 4"),
        ("b(planes / 2)", "argument 'width' of block 'b' must be an int, got float 4.0",
         "'/' always gives a float: use '//' to divide ints"),
    ],
)  # fmt: skip
def test_an_int_never_accepts_a_float(call: str, message: str, hint: str | None) -> None:
    """One number rule for layer arguments and block parameters, with the same words."""
    text = f"""
        block b(width: int) {{ conv(width, 3) }}
        model m(planes: int = 8) {{
            input [3, H=8, W=8]
            {call}
        }}
        """
    assert _first_error(text) == (message, hint)


def test_a_float_accepts_an_int_and_integer_arithmetic_stays_int() -> None:
    g = resdsl.loads(
        """
        model m(s: int = 2, planes: int = 8) {
            input [3, H=8, W=8]
            conv(64 * 2 ** s, 3)
            conv(planes // 2, 1)
            dropout(1)
        }
        """
    ).graph()
    assert g.nodes["0"]["args"].out_channels == 256
    assert g.nodes["1"]["args"].out_channels == 4
    p = g.nodes["2"]["args"].p
    assert p == 1.0 and type(p) is float


def test_a_model_int_parameter_given_a_float_from_python() -> None:
    text = "model m(width: int = 4) {\n input [3, H=8, W=8]\n conv(width, 3)\n}\n"
    assert _first_error(text, width=4.0) == (
        "argument 'width' of model 'm' must be an int, got float 4.0",
        "write 4",
    )


def _relative_structure(g: Any, path: str) -> tuple[Any, ...]:
    """What a scope builds, relative to its path: nodes and the edges among them."""
    prefix = f"{path}."
    inside = [n for n in g if n.startswith(prefix)]
    nodes = [
        (n.removeprefix(prefix), d["op"], d["role"], repr(d["args"]), repr(d["shape"]))
        for n in inside
        for d in [g.nodes[n]]
    ]
    members = set(inside)
    edges = sorted(
        (u.removeprefix(prefix), v.removeprefix(prefix), d["kind"], d.get("merge"), d["index"])
        for u, v, d in g.edges(data=True)
        if u in members and v in members
    )
    return tuple(nodes), tuple(edges)


def test_block_instances_carry_their_key_in_the_graph() -> None:
    g = resdsl.load(SPECS / "resnet.res").graph("resnet50")
    scopes = g.graph["scopes"]
    assert scopes["layer1.0"].instance == "bottleneck(planes=64, stride=1) on [64, H/4=56, W/4=56]"
    assert scopes["layer2.0"].instance == (
        "bottleneck(planes=128, stride=2) on [256, H/4=56, W/4=56]"
    )
    assert scopes["layer1"].instance == (
        "stage(unit=bottleneck, width=64, n=3, stride=1) on [64, H/4=56, W/4=56]"
    )
    # Stamped copies carry the key of the instance they were copied from.
    assert scopes["layer1.1"].instance == scopes["layer1.2"].instance
    assert scopes[""].instance is None and scopes["layer1.0.downsample"].instance is None
    by_key: dict[str, list[str]] = {}
    for path, info in scopes.items():
        assert (info.instance is not None) == (info.kind == "block"), path
        if info.instance is not None:
            by_key.setdefault(info.instance, []).append(path)
    assert len(by_key) == 12  # 4 stages and 8 kinds of bottleneck
    for paths in by_key.values():
        first = _relative_structure(g, paths[0])
        assert first[0], paths[0]
        for other in paths[1:]:
            assert _relative_structure(g, other) == first, (paths[0], other)


def test_a_shortcut_block_has_an_instance_key() -> None:
    g = resdsl.load(SPECS / "preact_resnet.res").graph("preact_resnet164")
    shortcuts = {
        p: i.instance for p, i in g.graph["scopes"].items() if i.kind == "shortcut" and i.block
    }
    assert shortcuts["layer1.0.shortcut"] == (
        "conv_shortcut(channels=64, stride=1) on [16, H=32, W=32] in a shortcut"
    )
    assert len(shortcuts) == 3


def test_instance_keys_do_not_depend_on_stamping() -> None:
    from resdsl.semantics.elaborate import Elaborator, Limits

    program = resdsl.load(SPECS / "unet.res").program
    keys = []
    for stamping in (True, False):
        el = Elaborator(program, Limits())
        el.stamping = stamping
        g = el.model("unet", {}, None)
        keys.append({p: i.instance for p, i in g.graph["scopes"].items()})
    assert keys[0] == keys[1] and any(keys[0].values())

"""Path counting (resdsl.analysis.paths): exact counts, against brute-force enumeration."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from math import comb
from pathlib import Path

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import resdsl
from resdsl.analysis.paths import PathReport, is_activation, is_weighted, path_report
from resdsl.cli import app
from tests.conftest import ROOT, SPECS

# A post-activation bottleneck ResNet for CIFAR with the official pre-activation
# net's layout (depth 9n+2): the same units, with the ReLU after each merge.
POSTACT = (ROOT / "tests" / "specs" / "postact_resnet.res").read_text(encoding="utf-8")


def brute_force(graph: nx.DiGraph) -> tuple[Counter[int], Counter[int], set[tuple[str, ...]]]:
    """Histograms by listing every path (networkx), and the set of paths."""
    start, end = graph.graph["input"], graph.graph["output"]
    act = {n for n, d in graph.nodes(data=True) if is_activation(d)}
    weighted = {n for n, d in graph.nodes(data=True) if is_weighted(d)}
    nl: Counter[int] = Counter()
    wd: Counter[int] = Counter()
    paths: set[tuple[str, ...]] = set()
    for path in nx.all_simple_paths(graph, start, end):
        nl[sum(n in act for n in path)] += 1
        wd[sum(n in weighted for n in path)] += 1
        paths.add(tuple(path))
    return nl, wd, paths


def assert_matches_brute_force(graph: nx.DiGraph, report: PathReport) -> None:
    nl, wd, paths = brute_force(graph)
    assert report.count == len(paths)
    assert report.nonlinearity_histogram == dict(nl)
    assert report.weighted_depth_histogram == dict(wd)
    assert report.min_nonlinearities == min(nl)
    assert report.max_nonlinearities == max(nl)
    assert tuple(report.shortest_path) in paths
    act = {n for n, d in graph.nodes(data=True) if is_activation(d)}
    assert sum(n in act for n in report.shortest_path) == report.min_nonlinearities
    # The activations every path crosses are exactly those in every enumerated path.
    common = set.intersection(*(set(p) for p in paths)) & act
    assert set(report.always_crossed) == common
    assert_count_only_agrees(graph, report)


def assert_count_only_agrees(graph: nx.DiGraph, report: PathReport) -> None:
    """Counting without histograms gives the same report, less the histograms."""
    counted = path_report(graph, histograms=False)
    assert counted.histograms is False
    assert counted.nonlinearity_histogram == counted.weighted_depth_histogram == {}
    keep = set(PathReport.model_fields) - {
        "histograms",
        "nonlinearity_histogram",
        "weighted_depth_histogram",
    }
    assert counted.model_dump(include=keep) == report.model_dump(include=keep)


def polynomial(branches: dict[int, int], shift: int) -> dict[int, int]:
    """Coefficients of x^shift * prod (1 + x^d)^m over {d: m}: paths by activations."""
    coeffs = {0: 1}
    for d, m in branches.items():
        for _ in range(m):
            nxt: dict[int, int] = {}
            for k, c in coeffs.items():
                nxt[k] = nxt.get(k, 0) + c
                nxt[k + d] = nxt.get(k + d, 0) + c
            coeffs = nxt
    return {k + shift: c for k, c in sorted(coeffs.items())}


@pytest.fixture(scope="module")
def cifar() -> resdsl.Spec:
    return resdsl.load(SPECS / "cifar_resnet.res")


# ------------------------------------------------------------------ CIFAR ResNets


def test_resnet110_has_2_to_the_54_paths_binomially_distributed(cifar: resdsl.Spec) -> None:
    r = cifar.paths("resnet110")
    assert r.count == 2**54
    assert isinstance(r.count, int)
    assert (r.min_nonlinearities, r.max_nonlinearities) == (55, 109)
    assert r.nonlinearity_histogram == {55 + k: comb(54, k) for k in range(55)}
    # Two weighted layers per residual branch, plus the stem conv and the classifier.
    assert r.weighted_depth_histogram == {2 + 2 * k: comb(54, k) for k in range(55)}
    assert (r.min_weighted_depth, r.max_weighted_depth) == (2, 110)
    assert r.merges == 54


def test_resnet110_shortest_path_takes_every_skip(cifar: resdsl.Spec) -> None:
    r = cifar.paths("resnet110")
    path = r.shortest_path
    assert path[0] == "input" and path[-1] == "fc"
    assert len(r.always_crossed) == 55
    assert r.always_crossed[0] == "relu"
    assert all(n.endswith(".5") for n in r.always_crossed[1:])  # the ReLU after each merge
    assert not any(n.endswith((".conv1", ".conv2")) for n in path)
    assert r.explanation == (
        "Every path crosses at least 55 activations: the relu after each of the 54 merges "
        "sits on the skip-only path, plus 1 outside the residual blocks (relu)."
    )


def test_veit_95_percent_of_paths_go_through_19_to_35_branches(cifar: resdsl.Spec) -> None:
    r = cifar.paths("resnet110")
    through = {(k - 2) // 2: c for k, c in r.weighted_depth_histogram.items()}
    share = sum(c for k, c in through.items() if 19 <= k <= 35) / r.count
    assert share > 0.95
    lo, hi = r.weighted_depth_range(0.95)
    assert 2 + 2 * 19 <= lo <= hi <= 2 + 2 * 35


@pytest.mark.parametrize("n", [1, 2, 3])
def test_small_cifar_resnets_match_brute_force(cifar: resdsl.Spec, n: int) -> None:
    graph = cifar.graph("cifar_resnet", n=n)
    report = path_report(graph)
    assert report.count == 2 ** (3 * n)
    assert_matches_brute_force(graph, report)


def test_plain_twin_has_one_path(cifar: resdsl.Spec) -> None:
    r = cifar.plain().paths("resnet110")
    assert r.plain and r.count == 1
    assert r.nonlinearity_histogram == {109: 1}
    assert r.weighted_depth_histogram == {110: 1}
    assert r.explanation.startswith("There is a single input-to-output path")


def test_plain_twin_agrees_with_plain_resnet_spec() -> None:
    twin = resdsl.load(SPECS / "cifar_resnet.res").plain().paths("resnet56")
    plain = resdsl.load(SPECS / "plain_resnet.res").paths("plain56")
    assert twin.nonlinearity_histogram == plain.nonlinearity_histogram
    assert twin.shortest_path == plain.shortest_path


# ------------------------------------------------------------------ pre-activation


def test_preact_resnet1001_path_counts() -> None:
    # How long this takes is measured by benchmarks/bench_paths.py, not asserted here.
    spec = resdsl.load(SPECS / "preact_resnet.res")
    r = path_report(spec.graph("preact_resnet1001"))
    assert r.count == 2**333
    assert r.min_nonlinearities == 4
    assert r.always_crossed == ["layer1.0.preact", "layer2.0.preact", "layer3.0.preact", "relu"]
    # Branches of a stage's first unit hold 2 ReLUs (its pre-activation is shared with
    # the shortcut), the other 330 hold 3: the histogram is (1 + x^2)^3 (1 + x^3)^330.
    assert r.max_nonlinearities == 4 + 3 * 2 + 330 * 3
    assert r.nonlinearity_histogram == polynomial({2: 3, 3: 330}, shift=4)
    assert "the skip-only path (every skip, no branch) crosses none of them" in r.explanation


def test_postact_resnet1001_crosses_334_activations() -> None:
    r = resdsl.loads(POSTACT).paths(n=111)
    assert r.count == 2**333
    assert r.min_nonlinearities == 334
    assert r.max_nonlinearities == 334 + 2 * 333


def test_preact_and_postact_small_match_brute_force() -> None:
    pre = resdsl.load(SPECS / "preact_resnet.res").graph("preact_resnet", n=2)
    post = resdsl.loads(POSTACT).graph(n=2)
    for graph in (pre, post):
        assert_matches_brute_force(graph, path_report(graph))


# ------------------------------------------------------------------ U-Net, rezero


@pytest.mark.parametrize("name", ["unet.res", "unet_original.res"])
def test_unet_long_skips(name: str) -> None:
    graph = resdsl.load(SPECS / name).graph()
    r = path_report(graph)
    assert r.count == 5  # four nested skips
    assert r.min_nonlinearities == 4  # the first double conv and the last one
    assert r.max_nonlinearities == 18
    assert "the skips (concat) carry earlier features past the layers in between" in r.explanation
    assert_matches_brute_force(graph, r)


def test_densenet121_doubles_its_paths_at_each_of_its_58_dense_layers() -> None:
    """Each dense layer concatenates its input with its output: two ways through it."""
    r = path_report(resdsl.load(SPECS / "torchvision" / "densenet.res").graph("densenet121"))
    assert r.count == 2 ** (6 + 12 + 24 + 16)
    assert (r.min_nonlinearities, r.max_nonlinearities) == (5, 121)
    assert "the skips (concat) carry earlier features" in r.explanation


def test_rezero_identity_path_crosses_only_the_stem() -> None:
    graph = resdsl.load(SPECS / "rezero.res").graph("rezero20")
    r = path_report(graph)
    assert r.count == 2**9
    assert r.always_crossed == ["stem.relu"]
    assert r.nonlinearity_histogram == {1 + k: comb(9, k) for k in range(10)}
    assert_matches_brute_force(graph, r)


# ------------------------------------------------------------------ random DAGs

OPS = ["conv(4, 3, padding=1)", "relu", "batchnorm", "identity", "tanh"]


@st.composite
def specs(draw: st.DrawFn) -> str:
    n = draw(st.integers(2, 9))
    ops = draw(st.lists(st.sampled_from(OPS), min_size=n, max_size=n))
    pairs = st.tuples(st.integers(-1, n - 1), st.integers(0, n - 1)).filter(lambda p: p[0] < p[1])
    skips = draw(st.lists(pairs, max_size=6, unique=True))
    merge = draw(st.sampled_from(["add", "concat"]))
    lines = [f"    l{i}: {op}" for i, op in enumerate(ops)]
    if merge == "concat":  # widths change: only convs would care, so keep shapes fixed
        lines = [
            f"    l{i}: {'identity' if op.startswith('conv') else op}" for i, op in enumerate(ops)
        ]
    for src, dst in skips:
        lines.append(f"    skip {'in' if src < 0 else f'l{src}'} -> l{dst} ({merge})")
    return "model m {\n    input [4, 6, 6]\n" + "\n".join(lines) + "\n}\n"


@settings(max_examples=60, deadline=None)
@given(specs())
def test_random_dags_match_brute_force(text: str) -> None:
    graph = resdsl.loads(text).graph()
    assert_matches_brute_force(graph, path_report(graph))


# ------------------------------------------------------------------ CLI


def test_cli_paths_text() -> None:
    result = CliRunner().invoke(app, ["paths", str(SPECS / "cifar_resnet.res"), "-m", "resnet110"])
    assert result.exit_code == 0, result.output
    assert "18,014,398,509,481,984 (2^54)" in result.output
    assert "activations per path   55 to 109" in result.output
    assert "sits on the skip-only path" in " ".join(result.output.split())
    assert "input -> conv1 -> bn1 -> relu -> layer1.0.bn2:add" in result.output


def test_cli_paths_json_has_exact_numbers() -> None:
    spec = str(SPECS / "preact_resnet.res")
    result = CliRunner().invoke(app, ["paths", spec, "-m", "preact_resnet1001", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["count"] == 2**333
    expected = polynomial({2: 3, 3: 330}, shift=4)
    assert {int(k): v for k, v in data["nonlinearity_histogram"].items()} == expected
    assert data["min_nonlinearities"] == 4
    assert data["shortest_path"][0] == "input"


def test_cli_paths_plain() -> None:
    spec = str(SPECS / "cifar_resnet.res")
    result = CliRunner().invoke(app, ["paths", spec, "-m", "resnet20", "--plain", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["count"] == 1


def test_cli_paths_plot(tmp_path: Path) -> None:
    out = tmp_path / "hist.png"
    spec = str(SPECS / "cifar_resnet.res")
    result = CliRunner().invoke(app, ["paths", spec, "-m", "resnet56", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*.tmp"))


def test_cli_paths_plot_without_matplotlib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    out = tmp_path / "hist.png"
    spec = str(SPECS / "cifar_resnet.res")
    result = CliRunner().invoke(app, ["paths", spec, "-m", "resnet20", "-o", str(out)])
    assert result.exit_code == 2
    assert "plots need matplotlib" in result.output
    assert "resdsl[plot]" in result.output
    assert not out.exists()


def test_cli_paths_bad_plot_format(tmp_path: Path) -> None:
    spec = str(SPECS / "cifar_resnet.res")
    result = CliRunner().invoke(
        app, ["paths", spec, "-m", "resnet20", "-o", str(tmp_path / "x.gif")]
    )
    assert result.exit_code == 2
    assert "unknown format 'gif'" in result.output


def test_cli_paths_unknown_model() -> None:
    result = CliRunner().invoke(app, ["paths", str(SPECS / "cifar_resnet.res"), "-m", "resnet21"])
    assert result.exit_code == 2
    assert "no model named 'resnet21'" in result.output


def test_paths_and_compare_do_not_import_torch(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from resdsl.cli import app\n"
        "r = CliRunner().invoke(app, ['paths', 'specs/preact_resnet.res', '-m', "
        f"'preact_resnet164', '-o', {str(tmp_path / 'p.png')!r}])\n"
        "assert r.exit_code == 0, r.output\n"
        "r = CliRunner().invoke(app, ['compare', 'specs/unet.res'])\n"
        "assert r.exit_code == 0, r.output\n"
        "import resdsl.analysis.paths, resdsl.analysis.compare\n"
        "assert 'torch' not in sys.modules, 'paths or compare imported torch'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_docstring_examples() -> None:
    import doctest

    import resdsl.analysis.paths
    import resdsl.cli.analyze

    for module in (resdsl.analysis.paths, resdsl.cli.analyze):
        result = doctest.testmod(module)
        assert result.failed == 0 and result.attempted > 0, module.__name__


RESIDUAL_CHAIN = Path(__file__).parent / "specs" / "residual_chain.res"


def test_histograms_are_freed_after_their_last_reader() -> None:
    # 1,000 residual blocks: keeping every node's histogram held about 100 MB
    # (sizes quadratic in the depth, per node); two live ones hold well under 2 MB
    import tracemalloc

    graph = resdsl.load(RESIDUAL_CHAIN).graph("chain", n=1000)
    tracemalloc.start()
    try:
        report = path_report(graph)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # each block: 1 activation on the skip-only path, 2 through its branch
    assert report.count == 2**1000 and report.nonlinearity_histogram[1500] == comb(1000, 500)
    assert peak < 2 * 2**20, peak


def test_too_much_histogram_work_is_a_located_error_with_a_way_out() -> None:
    spec = resdsl.load(RESIDUAL_CHAIN)
    graph = spec.graph("chain", n=300)
    with pytest.raises(resdsl.ResdslError) as info:
        path_report(graph, max_work=20_000)
    [d] = info.value.diagnostics
    assert d.code == "paths-too-large"
    assert d.span is not None and str(d.span).startswith(
        f"{RESIDUAL_CHAIN}:8:"
    )  # a merge: its skip
    assert d.message.startswith("the path histograms of model 'chain' grow past 20,000 units")
    assert d.hint is not None and "resdsl paths --count-only" in d.hint
    counted = path_report(graph, histograms=False, max_work=20_000)
    assert (counted.count, counted.min_nonlinearities, counted.max_nonlinearities) == (
        2**300,
        300,
        600,
    )


def test_paths_count_only_on_the_command_line() -> None:
    spec = [str(RESIDUAL_CHAIN), "--model", "chain"]  # 40 blocks by default
    result = CliRunner().invoke(app, ["paths", *spec, "--count-only", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["count"] == 2**40 and data["histograms"] is False
    assert data["nonlinearity_histogram"] == {}
    text = CliRunner().invoke(app, ["paths", *spec, "--count-only"]).output
    assert "(counted without histograms: --count-only)" in text
    assert "activations per path   40 to 80" in text

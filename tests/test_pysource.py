"""The spec file as one hand-written-looking module (resdsl.pysource).

- resnet.res becomes four small classes (Basic, Bottleneck, Stage, Resnet) and
  a function per model, under 200 lines, with no ``self[<int>]`` call; each of
  resnet18..152 built from it loads torchvision's ``state_dict`` strictly and
  gives torchvision's output;
- every bundled model's written module (the parametric one, or the
  per-instance source where a file falls back), imported with ``python -I`` in
  a fresh process, gives the in-memory compile's output bit for bit;
- the golden modules in tests/golden/pysource/ refresh only with
  RESDSL_UPDATE_GOLDEN=1.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest
import torch

import resdsl
from resdsl.backends.build import load_source
from resdsl.diagnostics import ResdslError
from resdsl.pysource import Unsupported, write_module
from resdsl.pysource.pyexpr import Scope, python_expr
from resdsl.pysource.text import hug_powers, wrap
from resdsl.syntax.parse import parse_expr
from tests.conftest import ROOT, SPECS, UPDATE_GOLDEN
from tests.torchvision_oracle import import_torchvision

GOLDEN = Path(__file__).parent / "golden" / "pysource"
RESNETS = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]
#: Spec files whose whole module is written parametrically.
PARAMETRIC = [
    "resnet.res",
    "unet.res",
    "unet_noalign.res",
    "unet_original.res",
    "cifar_resnet.res",
    "plain_resnet.res",
    "preact_resnet.res",
    "rezero.res",
    "torchvision/mobilenet_v2.res",
    "torchvision/mobilenet_v3.res",
    "torchvision/densenet.res",
    "torchvision/resnext.res",
    "torchvision/efficientnet.res",
    "torchvision/squeezenet.res",
    "torchvision/regnet.res",
    "torchvision/googlenet.res",
    "torchvision/inception.res",
    "torchvision/shufflenet.res",
    "torchvision/convnext.res",
]
#: Every bundled spec file with a model, the zoo's included: the bit-for-bit
#: test covers each of its models (common.res only declares blocks).
BUNDLED = sorted(
    p.relative_to(SPECS).as_posix()
    for p in [*SPECS.glob("*.res"), *SPECS.glob("torchvision/*.res")]
    if resdsl.load(p).models
)


@cache
def module_text(file: str) -> str:
    return resdsl.load(SPECS / file).module_source()


@cache
def resnet_module() -> ModuleType:
    return load_source(module_text("resnet.res"), "resnet_written")


@pytest.mark.parametrize("file", PARAMETRIC)
def test_module_matches_golden(file: str) -> None:
    path = GOLDEN / file.replace(".res", ".py")
    text = module_text(file)
    if UPDATE_GOLDEN:
        path.write_text(text)
    assert text == path.read_text(), f"regenerate with RESDSL_UPDATE_GOLDEN=1 ({path.name})"


def test_resnet_module_reads_like_torchvision() -> None:
    text = module_text("resnet.res")
    tree = ast.parse(text)
    classes = [n.name for n in tree.body if isinstance(n, ast.ClassDef)]
    functions = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert classes == ["Basic", "Bottleneck", "Stage", "Resnet"]  # 3 blocks + 1 model
    assert functions == ["resnet", *RESNETS]
    assert len(text.splitlines()) <= 200
    assert not re.search(r"self\[\d+\]", text)
    assert "planes * 4" in text and "for s in range(4):" in text
    assert "if stride != 1 or in_channels != planes * 4:" in text
    assert "def __init__(self, in_channels: int, planes: int, stride: int = 1)" in text
    assert "num_classes: int = 1000" in text


@pytest.mark.parametrize("file", ["unet.res", "unet_original.res"])
def test_unet_module_is_about_milesials_size(file: str) -> None:
    text = module_text(file)
    tree = ast.parse(text)
    classes = [n.name for n in tree.body if isinstance(n, ast.ClassDef)]
    assert classes[:4] == ["DoubleConv", "Down", "Up", "OutConv"] and len(classes) == 5
    assert len(text.splitlines()) <= 160
    assert not re.search(r"self\[\d+\]", text)
    concats = text.count("torch.cat(")
    assert concats == 4
    # Only the up-sampled side can be smaller: the skip side's pad is provably zero.
    assert text.count("F.pad(") == (4 if file == "unet.res" else 0)
    assert "factor = 2 if bilinear else 1" in text or file != "unet.res"


@pytest.mark.parametrize("file", PARAMETRIC)
def test_module_passes_ruff_as_generated(file: str, tmp_path: Path) -> None:
    path = tmp_path / Path(file).name.replace(".res", ".py")
    path.write_text(module_text(file))
    for command in (["check", "--isolated"], ["format", "--check", "--isolated"]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *command, str(path)], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", RESNETS)
def test_resnet_module_loads_torchvision_state_dict_strictly(name: str) -> None:
    tv = import_torchvision()
    with torch.device("meta"):
        reference = getattr(tv.models, name)()
        model = getattr(resnet_module(), name)()
    ours = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    assert ours == [(k, tuple(v.shape)) for k, v in reference.state_dict().items()]
    result = model.load_state_dict(reference.state_dict(), strict=True, assign=True)
    assert not result.missing_keys and not result.unexpected_keys


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_resnet_module_matches_torchvision_output(name: str) -> None:
    tv = import_torchvision()
    torch.manual_seed(0)
    reference = getattr(tv.models, name)().eval()
    model = getattr(resnet_module(), name)().eval()
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x), reference(x))


# ------------------------------------------------------------------ bit for bit, fresh process

#: Run by the parent (to fill the in-memory model) and by the child (the written one):
#: the same deterministic state for the same keys in the same order.
FILL = """
import torch

def fill(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for key, t in model.state_dict().items():
            if not t.is_floating_point():
                continue
            if key.endswith("running_var") or (t.dim() == 1 and key.endswith("weight")):
                t.copy_(torch.rand(t.shape, generator=g) * 0.5 + 0.75)
            else:
                fan_in = t[0].numel() if t.dim() else 1
                t.copy_(torch.randn(t.shape, generator=g) * (1.0 / fan_in) ** 0.5)
    return model.eval()
"""

CHILD = (
    FILL
    + """
import importlib.util, json, sys

jobs = json.load(open(sys.argv[1]))
for job in jobs:
    spec = importlib.util.spec_from_file_location("written", job["path"])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = fill(getattr(module, job["builder"])())
    saved = torch.load(job["expected"])
    assert list(model.state_dict()) == saved["keys"], job["model"]
    with torch.no_grad():
        out = model(saved["input"])
    torch.testing.assert_close(out, saved["output"], rtol=0, atol=0, equal_nan=True)
    print("ok", job["model"])
"""
)


def buildable(spec: resdsl.Spec) -> list[str]:
    """The models that build with their defaults (not those with a required parameter)."""
    out = []
    for model in spec.models:
        try:
            spec.graph(model)
        except ResdslError:
            continue
        out.append(model)
    return out


def written_modules(file: str, tmp: Path) -> list[tuple[str, Path, str]]:
    """(model, written file, builder name) for each buildable model of a bundled spec file."""
    spec = resdsl.load(SPECS / file)
    try:
        text = spec.module_source()
    except ResdslError:
        text = None
    out = []
    for model in buildable(spec):
        if text is not None and not text.startswith("#"):
            path, builder = tmp / "module.py", model
            path.write_text(text)
        else:  # the per-instance source: one class, no arguments
            path = tmp / f"{model}.py"
            path.write_text(spec.source(model))
            builder = type(spec.compile(model)).__name__
        out.append((model, path, builder))
    return out


def expected_output(spec: resdsl.Spec, model: str, out: Path) -> None:
    namespace: dict[str, object] = {}
    exec(FILL, namespace)
    try:
        graph = spec.graph(model, H=64, W=64)
    except ResdslError:
        graph = spec.graph(model)
    from resdsl.backends.build import compile_graph, sample_input

    built = namespace["fill"](compile_graph(graph))  # type: ignore[operator]
    x = sample_input(graph, 1, seed=1)
    with torch.no_grad():
        y = built(x)
    torch.save({"keys": list(built.state_dict()), "input": x, "output": y}, out)


@pytest.mark.slow
@pytest.mark.parametrize("file", BUNDLED)
def test_written_module_matches_compile_bit_for_bit_in_a_fresh_process(
    file: str, tmp_path: Path
) -> None:
    spec = resdsl.load(SPECS / file)
    jobs = []
    for model, path, builder in written_modules(file, tmp_path):
        expected = tmp_path / f"{model}.pt"
        expected_output(spec, model, expected)
        jobs.append(
            {"model": model, "path": str(path), "builder": builder, "expected": str(expected)}
        )
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    result = subprocess.run(
        [sys.executable, "-I", "-c", CHILD, str(tmp_path / "jobs.json")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == [w for m in buildable(spec) for w in ("ok", m)]


# ------------------------------------------------------------------ pieces


def test_expressions_are_written_as_python() -> None:
    scope = Scope({"s": "s", "planes": "planes", "depths": "depths"})
    assert python_expr(parse_expr("64 * 2 ** s"), scope) == "64 * 2 ** s"
    assert python_expr(parse_expr("(planes + 1) * 4"), scope) == "(planes + 1) * 4"
    assert python_expr(parse_expr("depths[s] - 1"), scope) == "depths[s] - 1"
    assert python_expr(parse_expr("not (s == 0 and planes > 2)"), scope) == (
        "not (s == 0 and planes > 2)"
    )
    assert hug_powers("x = 64 * 2 ** s") == "x = 64 * 2**s"


def test_unknown_names_and_odd_strings_are_unsupported_not_pasted() -> None:
    with pytest.raises(Unsupported, match="'os'"):
        python_expr(parse_expr("os"), Scope({}))
    with pytest.raises(Unsupported, match="string"):
        python_expr(parse_expr('"a\\"b"'), Scope({}))


def test_long_lines_wrap_as_ruff_formats_them() -> None:
    line = "        self.conv1 = nn.Conv2d(in_channels, planes, 3, stride=stride, padding=1, bias=False)"
    assert wrap(line) == [
        "        self.conv1 = nn.Conv2d(",
        "            in_channels, planes, 3, stride=stride, padding=1, bias=False",
        "        )",
    ]


def test_files_it_cannot_express_say_why() -> None:
    two = resdsl.loads(
        "block b(flag: bool) { c: conv(4, 3, padding=1); if flag { n: batchnorm } else"
        " { m: relu }; skip in -> c (add) }\n"
        "model m1 { input [4, 8, 8]; b(true) }\nmodel m2 { input [4, 8, 8]; b(false) }",
        "two.res",
    )
    with pytest.raises(ResdslError, match="an 'if' in a block with skips that does not build"):
        two.module_source()
    one = resdsl.loads(
        "model m { input [3, 8, 8]; a: conv(4, 3, padding=1); conv(4, 1); b: relu; skip a -> b (add) }",
        "m.res",
    )
    text = one.module_source()
    assert text.startswith("# resdsl wrote this model per instance: it cannot write an unlabelled")
    assert "class M(" in text


def test_module_checks_are_done_on_the_written_module() -> None:
    spec = resdsl.load(SPECS / "resnet.res")
    graphs = {m: spec.graph(m) for m in RESNETS}
    text = write_module(spec.program, graphs, "resnet.res")
    assert text == module_text("resnet.res")


def test_cli_writes_the_whole_file_without_model(tmp_path: Path) -> None:
    out = tmp_path / "resnet.py"
    result = subprocess.run(
        [sys.executable, "-m", "resdsl", "compile", str(SPECS / "resnet.res"), "-o", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert out.read_text() == module_text("resnet.res")
    assert "every model of resnet.res" in result.stdout


@pytest.mark.parametrize(
    ("file", "builder", "params", "shape"),
    [
        ("unet.res", "unet", {"bilinear": True}, (1, 3, 57, 43)),
        ("unet.res", "unet", {"n_channels": 1, "n_classes": 5}, (1, 1, 40, 36)),
        ("resnet.res", "resnet", {"depths": [1, 2, 1, 1], "num_classes": 7}, (2, 3, 48, 40)),
        ("resnet.res", "resnet50", {"num_classes": 10}, (1, 3, 64, 64)),
    ],
)
def test_classes_take_the_models_parameters(
    file: str, builder: str, params: dict[str, object], shape: tuple[int, ...]
) -> None:
    """Other parameter values than any alias's (the untaken ``if bilinear`` branch too)."""
    spec = resdsl.load(SPECS / file)
    module = load_source(module_text(file), f"written_{file.replace('.', '_')}")
    reference = spec.compile(builder, **params).eval()
    model = getattr(module, builder)(**params).eval()
    state = reference.state_dict()
    assert [(k, v.shape) for k, v in model.state_dict().items()] == [
        (k, v.shape) for k, v in state.items()
    ]
    model.load_state_dict(state, strict=True)
    x = torch.randn(shape)
    with torch.no_grad():
        assert torch.equal(model(x), reference(x))


def test_cli_writes_a_one_model_file_parametrically_after_its_forward_check(
    tmp_path: Path,
) -> None:
    out = tmp_path / "unet.py"
    result = subprocess.run(
        [sys.executable, "-m", "resdsl", "compile", str(SPECS / "unet.res"), "-o", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert "forward      [1, 3, 256, 256] -> [1, 2, 256, 256]" in result.stdout
    assert out.read_text() == module_text("unet.res")
    # With --per-instance the per-instance source, as before.
    one = tmp_path / "one.py"
    args = ["compile", str(SPECS / "unet.res"), "-m", "unet", "--no-forward", "-o", str(one)]
    subprocess.run([sys.executable, "-m", "resdsl", *args, "--per-instance"], check=True, cwd=ROOT)
    assert one.read_text() == resdsl.load(SPECS / "unet.res").source("unet")


def test_one_model_is_its_function_and_the_classes_it_needs(tmp_path: Path) -> None:
    """--model NAME -o: the file's module cut down to NAME, ruff-clean, NAME's state."""
    text = resdsl.load(SPECS / "resnet.res").module_source("resnet50")
    tree = ast.parse(text)
    # Basic stays: it is Resnet's default unit.
    assert [n.name for n in tree.body if isinstance(n, ast.ClassDef | ast.FunctionDef)] == [
        "Basic",
        "Bottleneck",
        "Stage",
        "Resnet",
        "resnet50",
    ]
    assert "Model resnet50: ``resnet50(**kwargs)`` builds it" in text
    assert text.count("\n\n\n\n") == 0
    path = tmp_path / "resnet50.py"
    path.write_text(text)
    ruff = [sys.executable, "-m", "ruff"]
    assert subprocess.run([*ruff, "check", "--quiet", str(path)], cwd=ROOT).returncode == 0
    model = load_source(text, "resnet50_written").resnet50()
    with torch.device("meta"):
        expected = resdsl.load(SPECS / "resnet.res").compile("resnet50").state_dict()
    assert [(k, v.shape) for k, v in model.state_dict().items()] == [
        (k, v.shape) for k, v in expected.items()
    ]


def test_one_model_of_a_file_it_cannot_write_is_per_instance() -> None:
    spec = resdsl.load(SPECS / "torchvision" / "lraspp.res")
    text = spec.module_source("lraspp_mobilenet_v3_large")
    assert text.startswith("# resdsl wrote this model per instance: it cannot write ")
    assert text.endswith(spec.source("lraspp_mobilenet_v3_large"))

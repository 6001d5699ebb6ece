"""Code generation (pure: no torch): snapshots, safety, naming, liveness, initialisation.

The generated source is snapshotted for a feature-rich small spec
(tests/golden/codegen/tiny.res) and the CIFAR ResNet-20. Refresh the
snapshots only on purpose: RESDSL_UPDATE_GOLDEN=1 pytest tests/test_codegen.py
"""

from __future__ import annotations

import ast
import doctest
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import networkx as nx
import pytest

import resdsl
import resdsl.backends.codegen
import resdsl.backends.init
from resdsl.backends.codegen import (
    MODULE_ATTRIBUTES,
    Generated,
    Namespace,
    camel_case,
    escape,
    generate,
)
from resdsl.backends.init import init_lines, residual_norms, resolve_init
from resdsl.diagnostics import ResdslError
from tests.conftest import ROOT, SPECS, UPDATE_GOLDEN

GOLDEN = Path(__file__).parent / "golden" / "codegen"

# Every bundled model, with whether generating it is cheap enough for the fast suite.
BUNDLED = [
    ("resnet.res", "resnet18"),
    ("resnet.res", "resnet34"),
    ("resnet.res", "resnet50"),
    ("resnet.res", "resnet101"),
    ("resnet.res", "resnet152"),
    ("cifar_resnet.res", "resnet20"),
    ("cifar_resnet.res", "resnet110"),
    ("plain_resnet.res", "plain20"),
    ("preact_resnet.res", "preact_resnet164"),
    ("preact_resnet.res", "preact_resnet1001"),
    ("unet.res", "unet"),
    ("unet_noalign.res", "unet_noalign"),
    ("unet_original.res", "unet_original"),
]


@cache
def spec(name: str) -> resdsl.Spec:
    path = GOLDEN / name if name == "tiny.res" else SPECS / name
    return resdsl.load(path)


@cache
def generated(file: str, model: str) -> Generated:
    return generate(spec(file).graph(model))


# ------------------------------------------------------------------ snapshots


@pytest.mark.parametrize(
    ("file", "model", "golden"),
    [
        ("tiny.res", "tiny", "tiny.py"),
        ("tiny.res", "tiny_crop", "tiny_crop.py"),
        ("cifar_resnet.res", "resnet20", "cifar_resnet20.py"),
    ],
)
def test_generated_source_matches_snapshot(file: str, model: str, golden: str) -> None:
    source = generated(file, model).source
    path = GOLDEN / golden
    if UPDATE_GOLDEN:
        path.write_text(source, encoding="utf-8")
    assert path.exists(), f"missing snapshot {path}: run with RESDSL_UPDATE_GOLDEN=1"
    assert source == path.read_text(encoding="utf-8"), (
        f"generated source differs from {path}; if the change is intended, "
        "refresh it with RESDSL_UPDATE_GOLDEN=1"
    )


def test_generation_is_deterministic() -> None:
    a = generate(spec("tiny.res").graph("tiny"))
    b = generate(spec("tiny.res").graph("tiny"))
    assert a == b


def test_module_docstring_examples() -> None:
    for module in (resdsl.backends.codegen, resdsl.backends.init):
        result = doctest.testmod(module)
        assert result.failed == 0, module.__name__


def test_codegen_and_init_do_not_import_torch() -> None:
    code = "import sys, resdsl.backends.codegen, resdsl.backends.init; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# ------------------------------------------------------------------ shape of the source


def imports_of(source: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add(node.module or "")
    return names


@pytest.mark.parametrize(("file", "model"), BUNDLED, ids=[m for _, m in BUNDLED])
def test_source_imports_only_torch_and_compiles(file: str, model: str) -> None:
    gen = generated(file, model)
    assert imports_of(gen.source) <= {"torch", "torch.nn", "torch.nn.functional"}
    compile(gen.source, "<generated>", "exec")
    assert f"class {gen.class_name}(" in gen.source
    assert gen.source.rstrip().endswith(f"__all__ = [{gen.class_name!r}]")


@pytest.mark.parametrize(("file", "model"), BUNDLED, ids=[m for _, m in BUNDLED])
def test_each_forward_line_names_its_shape_and_spec_line(file: str, model: str) -> None:
    gen = generated(file, model)
    lines = gen.source.splitlines()
    assert gen.line_values, "no forward statements recorded"
    for number, (variable, _node) in gen.line_values.items():
        text = lines[number - 1]
        match = re.search(r"# (\[[^\]]*\])  ([\w.<>-]+):(\d+)$", text)
        assert match, text
        # a value is assigned, or (a residual sum) added into its variable in place
        assert text.strip().startswith((f"{variable} = ", f"{variable} += "))
        span = gen.line_map[number]
        assert int(match.group(3)) == span.line
        assert match.group(2) == Path(span.file).name


def test_line_map_points_at_the_statement_each_line_came_from() -> None:
    gen = generated("resnet.res", "resnet18")
    lines = gen.source.splitlines()
    for number, span in gen.line_map.items():
        text = lines[number - 1]
        spec_line = span.source.line_text(span.line)
        if "self.conv1 = nn.Conv2d(64, 64, 3" in text:
            assert spec_line.strip().startswith("conv1: conv(planes, 3")
        if re.search(r"self\.downsample = ", text):
            assert "downsample: skip in -> bn2" in spec_line


def test_numbers_are_emitted_as_numbers() -> None:
    source = generated("resnet.res", "resnet18").source
    assert "nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)" in source
    assert "nn.MaxPool2d(3, stride=2, padding=1)" in source
    assert "nn.Linear(512, 1000)" in source


# ------------------------------------------------------------------ classes and names


def test_identical_scopes_share_one_class() -> None:
    classes = generated("resnet.res", "resnet50").classes
    by_path = {p: name for name, paths in classes.items() for p in paths}
    # The non-first blocks of a stage have the same structure and share a class...
    assert len({by_path[f"layer3.{i}"] for i in range(1, 6)}) == 1
    # ...while the first (stride, projection) and other stages differ.
    assert by_path["layer3.0"] != by_path["layer3.1"]
    assert by_path["layer2.1"] != by_path["layer3.1"]
    assert by_path[""] == "Resnet50"
    assert by_path["layer1"] == "Stage"
    assert {by_path["layer1.0"], by_path["layer1.1"]} == {"Bottleneck", "Bottleneck2"}
    assert by_path["layer2.0.downsample"].startswith("Downsample")


def test_class_names() -> None:
    assert camel_case("resnet18") == "Resnet18"
    assert camel_case("unet_original") == "UnetOriginal"
    assert camel_case("preact_resnet164") == "PreactResnet164"
    assert generated("unet.res", "unet").class_name == "Unet"
    plain = generate(spec("resnet.res").plain().graph("resnet18"))
    assert plain.class_name == "Resnet18Plain"
    unet = generated("unet.res", "unet").classes
    assert unet["DoubleConv"] == ["inc"]
    assert "DoubleConvGroup" in unet  # a group class is named after its label
    tiny = generated("tiny.res", "tiny").classes
    assert tiny["Gate"] == ["scale1.res"]  # a rezero gate on an identity skip
    assert tiny["Down"] == ["gate1.down"]  # a projection shortcut with its gate


def test_namespace_avoids_keywords_builtins_and_taken_names() -> None:
    ns = Namespace()
    assert ns.create("lambda") == "lambda_"
    assert ns.create("print") == "print_1"
    assert ns.create("torch") == "torch_1"
    assert ns.create("x") == "x"
    assert ns.create("x") == "x_1"
    assert ns.create("9lives") == "v"
    classes = Namespace(numbered=True)
    assert [classes.create("Basic") for _ in range(3)] == ["Basic", "Basic2", "Basic3"]
    assert [classes.create("Resnet18") for _ in range(2)] == ["Resnet18", "Resnet18_1"]


def test_module_attribute_list_is_complete() -> None:
    import torch  # the test may import torch; the module under test must not

    m = torch.nn.Module()
    names = {n for n in set(dir(m)) | set(vars(m)) if not n.startswith("__")}
    assert not names - MODULE_ATTRIBUTES, "torch added nn.Module attributes: update the list"
    assert {"forward", "training", "_modules", "state_dict"} <= MODULE_ATTRIBUTES


def one_model(body: str, extra: str = "", filename: str = "t.res") -> nx.DiGraph:
    return resdsl.loads(f"{extra}\nmodel m {{\n    input [3, 8, 8]\n{body}\n}}\n", filename).graph()


@pytest.mark.parametrize("label", ["training", "forward", "state_dict", "_modules", "__init__"])
def test_label_that_is_a_module_attribute_is_rejected(label: str) -> None:
    # By check, where the label is written (the generator keeps the same rule as a guard).
    with pytest.raises(ResdslError) as info:
        one_model(f"    {label}: conv(4, 3)")
    (d,) = info.value.diagnostics
    assert d.code == "reserved-label"
    assert d.message == (
        f"the label '{label}' cannot name a module: '{label}' is already an attribute of "
        "a PyTorch module"
    )
    assert d.span is not None and d.span.line == 4


def test_model_level_code_label_is_reserved_but_fine_in_a_block() -> None:
    with pytest.raises(ResdslError, match="'code'"):
        generate(one_model("    code: conv(4, 3)"))
    block = "block b { code: conv(4, 3) }"
    source = generate(one_model("    inner: b", extra=block)).source
    assert "self.code = nn.Conv2d(3, 4, 3)" in source


def test_python_keyword_labels_use_string_names() -> None:
    source = generate(one_model("    class: conv(4, 3)\n    pass: relu")).source
    assert "self.add_module('class', nn.Conv2d(3, 4, 3))" in source
    assert "getattr(self, 'class')(x)" in source
    assert "getattr(self, 'pass')(x)" in source


def test_file_names_and_strings_cannot_escape_comments_or_docstrings() -> None:
    evil = 'evil"""\nimport os\nos.system("echo pwned")  #.res'
    text = (
        "block b(mode: str) { conv(4, 3) }\n"
        'model m(note: str = "x\\"\\"\\" + __import__(\'os\')") {\n'
        "    input [3, 8, 8]\n"
        '    inner: b("\\"\\"\\"; import os")\n'
        "}\n"
    )
    graph = resdsl.loads(text, evil).graph()
    source = generate(graph).source
    tree = ast.parse(source)  # still valid Python
    assert imports_of(source) <= {"torch", "torch.nn", "torch.nn.functional"}
    calls = [
        n.func.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
    ]
    assert "__import__" not in calls
    assert "\nimport os" not in source
    # The only strings in the code are docstrings and validated names.
    docstrings = {
        ast.get_docstring(n, clean=False)
        for n in ast.walk(tree)
        if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            allowed = node.value in docstrings or node.value == " has no child "  # Indexed
            assert allowed or re.fullmatch(r"[\w.]*", node.value), node.value


def test_non_finite_numbers_are_refused() -> None:
    # The front end refuses 1e999; a graph built from Python could still carry one.
    graph = one_model("    bn: batchnorm")
    data = graph.nodes["bn"]
    data["args"] = data["args"].model_copy(update={"eps": float("inf")})
    with pytest.raises(ResdslError, match="refers to 'inf'"):
        generate(graph)
    graph = one_model("    conv1: conv(3, 3, padding=1)\n    skip in -> conv1 (add, scale=0.5)")
    merge = next(n for n, d in graph.nodes(data=True) if d["op"] == "add")
    graph.nodes[merge]["args"] = graph.nodes[merge]["args"].model_copy(
        update={"scale": float("nan")}
    )
    with pytest.raises(ResdslError, match="not finite"):
        generate(graph)


# ------------------------------------------------------------------ liveness


def forward_functions(source: str) -> list[tuple[str, ast.FunctionDef]]:
    out = []
    for cls in ast.parse(source).body:
        if isinstance(cls, ast.ClassDef):
            for item in cls.body:
                if isinstance(item, ast.FunctionDef) and item.name == "forward":
                    out.append((cls.name, item))
    return out


def is_size_temp(stmt: ast.stmt) -> bool:
    """``dh = max(a.size(2), b.size(2)) - b.size(2)``: an int, not a tensor."""
    return (
        isinstance(stmt, ast.Assign)
        and isinstance(stmt.value, ast.BinOp)
        and "size" in {n.attr for n in ast.walk(stmt.value) if isinstance(n, ast.Attribute)}
    )


@pytest.mark.parametrize(("file", "model"), BUNDLED, ids=[m for _, m in BUNDLED])
def test_no_tensor_outlives_its_last_use(file: str, model: str) -> None:
    """After every statement, each variable holding a tensor is read again later.

    The one exception is the statement just before ``return``, where the
    function's end releases everything anyway.
    """
    for cls, fn in forward_functions(generated(file, model).source):
        body = [s for s in fn.body if not (isinstance(s, ast.Expr))]  # drop the docstring
        holding: set[str] = {"x"}
        for k, stmt in enumerate(body):
            if isinstance(stmt, ast.Delete):
                holding -= {t.id for t in stmt.targets if isinstance(t, ast.Name)}
                continue
            if isinstance(stmt, ast.Return):
                break
            if isinstance(stmt, ast.Assign) and not is_size_temp(stmt):
                holding |= {t.id for t in stmt.targets if isinstance(t, ast.Name)}
            rest = body[k + 1 :]
            if rest and isinstance(rest[0], ast.Return):
                continue
            if rest and isinstance(rest[0], ast.Delete):
                pending = {t.id for t in rest[0].targets if isinstance(t, ast.Name)}
            else:
                pending = set()
            for name in holding - pending:
                assert reads_before_write(name, rest), (
                    f"{cls}.forward: '{name}' holds a dead tensor after line {stmt.lineno}"
                )


def reads_before_write(name: str, stmts: list[ast.stmt]) -> bool:
    for stmt in stmts:
        if isinstance(stmt, ast.AugAssign):  # out += x reads both
            if any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(stmt)):
                return True
            continue
        value = stmt.value if isinstance(stmt, ast.Assign | ast.Return) else None
        if value is not None and any(
            isinstance(n, ast.Name) and n.id == name for n in ast.walk(value)
        ):
            return True
        if isinstance(stmt, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in stmt.targets
        ):
            return False
    return False


def test_skip_sources_are_named_after_their_label_and_freed_at_the_merge() -> None:
    source = generated("unet.res", "unet").source
    forward = source[source.index("class Unet(") :]
    assert "down3 = self.down3(down2)" in forward
    # down3 is deleted right after its last use (the second pad of concat1's inputs).
    lines = forward.splitlines()
    last_read = max(i for i, line in enumerate(lines) if "down3" in line and "del" not in line)
    assert lines[last_read + 1].strip() == "del down3"
    # The ResNet block reads like torchvision's: the shortcut overwrites x.
    block = generated("resnet.res", "resnet18").source
    assert "x = self.downsample(x)  # [128, ceil(H/8), ceil(W/8)]" in block
    assert "out += x  # [128, ceil(H/8), ceil(W/8)]" in block


# ------------------------------------------------------------------ initialisation


def test_resolve_init_reads_the_model_parameters_and_overrides() -> None:
    tiny = spec("tiny.res").graph("tiny")
    assert resolve_init(tiny) == ("kaiming", True)
    assert resolve_init(tiny, "default", False) == ("default", False)
    plain = spec("resnet.res").graph("resnet18")
    assert resolve_init(plain) == ("default", False)
    assert resolve_init(plain, zero_init_residual=True) == ("default", True)
    with pytest.raises(ResdslError, match="unknown initialisation scheme 'xavier'"):
        resolve_init(plain, "xavier")
    with pytest.raises(ResdslError, match="unknown initialisation scheme 'he'") as info:
        resolve_init(spec("tiny.res").graph("tiny", init="he"))
    assert info.value.diagnostics[0].code == "bad-init"


def test_init_parameter_only_exists_where_a_model_declares_it() -> None:
    with pytest.raises(ResdslError) as info:
        spec("resnet.res").graph("resnet18", init="kaiming")
    assert info.value.diagnostics[0].code == "unknown-parameter"


@pytest.mark.parametrize(
    ("file", "model", "first", "count"),
    [
        ("resnet.res", "resnet18", "layer1.0.bn2", 8),
        ("resnet.res", "resnet50", "layer1.0.bn3", 16),
        ("cifar_resnet.res", "resnet20", "layer1.0.bn2", 9),
        # A pre-activation unit's branch ends in conv3: the walk passes it to bn3.
        ("preact_resnet.res", "preact_resnet164", "layer1.0.bn3", 54),
        ("unet.res", "unet", None, 0),
    ],
)
def test_residual_norms(file: str, model: str, first: str | None, count: int) -> None:
    norms = residual_norms(spec(file).graph(model))
    assert len(norms) == count
    if first is not None:
        assert norms[0] == first


def test_residual_norms_skip_gated_merges_and_plain_twins() -> None:
    assert residual_norms(spec("tiny.res").graph("tiny")) == ["block1.bn2", "block2.bn2"]
    assert residual_norms(spec("resnet.res").plain().graph("resnet18")) == []


def test_init_lines() -> None:
    graph = spec("resnet.res").graph("resnet18")
    assert init_lines(graph, "default", False, str) == []
    kaiming = init_lines(graph, "kaiming", False, str)
    assert any('kaiming_normal_(m.weight, mode="fan_out"' in line for line in kaiming)
    zero = "\n".join(init_lines(graph, "default", True, str))
    assert "'layer1.0.bn2'," in zero and "nn.init.zeros_(self.get_submodule(name).weight)" in zero
    source = generate(graph, init="kaiming", zero_init_residual=True).source
    assert '# init="kaiming"' in source and "'layer4.1.bn2'," in source


def test_escape() -> None:
    assert escape("a\nb") == "a\\nb"
    assert escape('x"""y') == 'x\\"\\"\\"y'
    assert escape("é") == "\\xe9"


# ------------------------------------------------------------------ in-place activations


def ctor_of(source: str, name: str) -> str:
    match = re.search(
        rf"(?:self\.{name} = |self\.add_module\('{name}', )(nn\.\w+\([^)]*\))", source
    )
    assert match, name
    return match.group(1)


def test_activations_run_in_place_only_where_nothing_else_sees_their_input() -> None:
    source = generated("resnet.res", "resnet18").source
    assert "nn.ReLU()" not in source  # after batch norms and adds, as torchvision does
    text = """
block first_relu { r: relu; k: conv(3, 1) }
model m {
    input [3, 8, 8]
    a: conv(3, 3, padding=1)
    b: relu
    skip a -> b (add)
    c: relu
    f: first_relu
    g: identity
    h: relu
    i: batchnorm
    j: leaky_relu(0.2)
}
"""
    source = generate(resdsl.loads(text).graph()).source
    assert ctor_of(source, "b") == "nn.ReLU()"  # a is read again by the merge
    assert ctor_of(source, "c") == "nn.ReLU(inplace=True)"  # the merge's fresh output
    assert ctor_of(source, "r") == "nn.ReLU()"  # a block's input: the caller may hold it
    assert ctor_of(source, "h") == "nn.ReLU()"  # identity returns its input itself
    assert ctor_of(source, "j") == "nn.LeakyReLU(negative_slope=0.2, inplace=True)"


def test_a_gate_named_like_a_statement_is_a_clean_error() -> None:
    # The front end refuses a skip label that is also a statement's name, so the
    # gate's module can never clash with the statement's.
    with pytest.raises(ResdslError) as info:
        one_model(
            "    c: conv(3, 3, padding=1)\n    res: skip in -> c (add, gate=rezero)\n    res: relu"
        )
    (d,) = info.value.diagnostics
    assert d.code == "duplicate-name" and "'res' is already the name of a statement" in d.message

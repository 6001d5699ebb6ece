"""The torchvision zoo written in version 0 (specs/torchvision/), checked against torchvision.

torchvision itself is the oracle, imported in this process
(tests/torchvision_oracle.py; nothing is downloaded: builders run with
``weights=None``, and the weights' metadata is a table in torchvision's
source). For every bundled model:

- the compiled model's ``state_dict`` has torchvision's keys and shapes, in
  torchvision's order;
- its parameter count is the DEFAULT weights' ``meta["num_params"]``;
- its static MAC count, at the resolution torchvision measured at, rounds to
  ``meta["_ops"]`` (GMACs, 3 decimals, as torchvision stores it);
- torchvision's ``state_dict`` (random model, filled deterministically) loads
  with ``strict=True``, and in eval mode both models give bit-identical outputs
  (``torch.equal``) on a 96x128 input, a size neither was written for. The
  specs apply the same operations in the same order as torchvision; where the
  graph differs (a DenseNet layer concatenates onto its input instead of
  torchvision's list of features; a skip adds ``branch + input`` where
  torchvision writes ``result += input``) the values are the same by exact
  arithmetic: concatenation copies, and a sum of two floats is commutative.

tests/data/torchvision_zoo.json (written by scripts/make_zoo_data.py) holds
the same facts for checks and docs that must not need torchvision.
"""

from __future__ import annotations

import json
import runpy
import warnings
from functools import cache
from typing import Any

import pytest
import torch

import resdsl
from tests import reference_models as rm
from tests import torchvision_oracle as oracle
from tests.conftest import DATA, ROOT, SPECS

ZOO = SPECS / "torchvision"
COMMITTED = json.loads((DATA / "torchvision_zoo.json").read_text())["models"]

#: torchvision's RegNets but regnet_y_128gf (its oracle needs 2.6 GB to build).
REGNETS = tuple(
    f"regnet_{kind}_{size}"
    for kind, sizes in (
        ("y", ("400mf", "800mf", "1_6gf", "3_2gf", "8gf", "16gf", "32gf")),
        ("x", ("400mf", "800mf", "1_6gf", "3_2gf", "8gf", "16gf", "32gf")),
    )
    for size in sizes
)

#: Every model each spec defines: the family (where it has one) and its sizes.
BUNDLED: dict[str, tuple[str, ...]] = {
    "resnext.res": (
        "resnext",
        "resnext50_32x4d",
        "resnext101_32x8d",
        "resnext101_64x4d",
        "wide_resnet50_2",
        "wide_resnet101_2",
    ),
    "densenet.res": ("densenet", "densenet121", "densenet161", "densenet169", "densenet201"),
    "mobilenet_v2.res": ("mobilenet_v2_net", "mobilenet_v2"),
    "mobilenet_v3.res": ("mobilenet_v3", "mobilenet_v3_large", "mobilenet_v3_small"),
    "efficientnet.res": ("efficientnet", *(f"efficientnet_b{i}" for i in range(8))),
    "squeezenet.res": ("squeezenet", "squeezenet1_0", "squeezenet1_1"),
    "googlenet.res": ("googlenet",),
    "inception.res": ("inception_v3",),
    "segmentation.res": ("segmentation", "fcn_resnet50", "deeplabv3_resnet50"),
    "shufflenet.res": (
        "shufflenet_v2",
        "shufflenet_v2_x0_5",
        "shufflenet_v2_x1_0",
        "shufflenet_v2_x1_5",
        "shufflenet_v2_x2_0",
    ),
    "regnet.res": ("regnet", *REGNETS),
    "convnext.res": (
        "convnext",
        "convnext_tiny",
        "convnext_small",
        "convnext_base",
        "convnext_large",
    ),
    "vit.res": ("vit", "vit_b_16", "vit_b_32", "vit_l_16", "vit_l_32"),
}
#: The models torchvision also has (a family's general model, such as resnext, it has not).
SPEC_OF = {name: file for file, names in BUNDLED.items() for name in names if name in COMMITTED}

#: The smallest size of each family runs its forward comparison in the quick
#: suite; the other sizes (seconds each on two CPU cores) are marked slow.
QUICK = {
    "resnext50_32x4d",
    "densenet121",
    "mobilenet_v2",
    "mobilenet_v3_large",
    "mobilenet_v3_small",
    "efficientnet_b0",
    "squeezenet1_1",
    "googlenet",
    "shufflenet_v2_x1_0",
    "fcn_resnet50",
    "regnet_y_400mf",
    "regnet_x_1_6gf",
    "convnext_tiny",
    "vit_b_16",
}
FORWARD_MODELS = [
    name if name in QUICK else pytest.param(name, marks=pytest.mark.slow) for name in SPEC_OF
]
FORWARD_INPUT = [1, 3, 96, 128]  # batch 1, neither 224 nor square
#: Inception v3's aux head (built, though unused in eval mode) needs 299x299 or more.
FORWARD_INPUTS = {
    "inception_v3": [1, 3, 299, 320],
    # Small, so that the dilated ResNet-50 under the segmentation heads runs quickly.
    "fcn_resnet50": [1, 3, 64, 80],
    "deeplabv3_resnet50": [1, 3, 64, 80],
}
FILL_SEED, INPUT_SEED = 0, 1
#: Models whose input size is a builder argument (a ViT's position embedding has
#: one row per patch) run at a small size of their own, built so on both sides.
IMAGE_SIZE = {"vit_b_16": 32, "vit_b_32": 64, "vit_l_16": 32, "vit_l_32": 64}


def at_resolution(name: str, size: int) -> dict[str, int]:
    """The arguments that make ``name``'s input ``size`` x ``size``."""
    return {"image_size": size} if name in IMAGE_SIZE else {"H": size, "W": size}


def forward_case(name: str) -> tuple[dict[str, Any], list[int]]:
    """The builder arguments and the input shape of ``name``'s forward comparison."""
    size = IMAGE_SIZE.get(name)
    if size is None:
        return {}, FORWARD_INPUTS.get(name, FORWARD_INPUT)
    return {"image_size": size}, [1, 3, size, size]


@cache
def spec(file: str) -> resdsl.Spec:
    return resdsl.load(ZOO / file)


@cache
def reference(name: str) -> oracle.Reference:
    return oracle.reference(name)


def layout(model: torch.nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    return [(key, tuple(t.shape)) for key, t in model.state_dict().items()]


# ------------------------------------------------------------------ the oracle


def test_torchvision_imports_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tv = oracle.import_torchvision()
    assert tv.__version__.split("+")[0] == "0.28.0"
    assert oracle.weights_meta("resnet50")["num_params"] == 25_557_032


def test_torchvision_ops_still_say_they_are_missing() -> None:
    """The schemas defined for the import carry no kernel: nms fails as torchvision says."""
    tv = oracle.import_torchvision()
    if tv.extension._has_ops():  # a torchvision whose compiled ops load: nothing was stubbed
        assert oracle._schema_library is None
        return
    boxes, scores = torch.tensor([[0.0, 0.0, 1.0, 1.0]]), torch.tensor([1.0])
    with pytest.raises(RuntimeError, match="Couldn't load custom C\\+\\+ ops"):
        tv.ops.nms(boxes, scores, 0.5)


# ------------------------------------------------------------------ static facts


@pytest.mark.parametrize("file", list(BUNDLED))
def test_every_model_of_a_spec_is_tested(file: str) -> None:
    assert spec(file).models == list(BUNDLED[file])


@pytest.mark.parametrize("name", list(SPEC_OF))
def test_state_dict_keys_and_shapes_equal_torchvision_in_order(name: str) -> None:
    with torch.device("meta"):
        model = spec(SPEC_OF[name]).compile(name)
    assert layout(model) == reference(name).state_dict


def weights_args(name: str) -> dict[str, Any]:
    """The model arguments torchvision's weights (and their metadata) are built with."""
    args: dict[str, Any] = COMMITTED[name]["weights_args"]
    return args


@pytest.mark.parametrize("name", list(SPEC_OF))
def test_parameters_equal_torchvision_metadata(name: str) -> None:
    params = spec(SPEC_OF[name]).summary(name, **weights_args(name)).params
    assert params == reference(name).num_params


@pytest.mark.parametrize("name", list(SPEC_OF))
def test_parameters_equal_torchvisions_default_builder(name: str) -> None:
    """With no arguments, the spec's model is the builder's (``weights=None``) model."""
    # The RegNet builders compute their widths with tensors: build those on the CPU.
    with torch.device("cpu" if name.startswith("regnet_") else "meta"):
        expected = sum(p.numel() for p in oracle.build(name).parameters())
    assert spec(SPEC_OF[name]).summary(name).params == expected


@pytest.mark.parametrize("name", list(SPEC_OF))
def test_macs_equal_torchvision_metadata(name: str) -> None:
    ref = reference(name)
    macs = (
        spec(SPEC_OF[name])
        .summary(name, **at_resolution(name, ref.resolution), **weights_args(name))
        .macs
    )
    assert round(macs / 1e9, 3) == ref.gmacs, macs


@pytest.mark.parametrize("name", list(SPEC_OF))
def test_committed_facts_agree_with_the_specs(name: str) -> None:
    """The loose cross-check that needs no torchvision (tests/data/torchvision_zoo.json)."""
    facts = COMMITTED[name]
    size = facts["resolution"]
    summary = spec(SPEC_OF[name]).summary(name, **at_resolution(name, size), **weights_args(name))
    assert summary.params == facts["num_params"]
    assert round(summary.macs / 1e9, 3) == facts["gmacs"]
    with torch.device("meta"):
        assert len(spec(SPEC_OF[name]).compile(name).state_dict()) == facts["state_dict_entries"]


@pytest.mark.parametrize("name", REGNETS)
def test_regnet_stage_rows_are_torchvisions_block_params(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """regnet.res writes each model's stages as rows; torchvision computes them."""
    tv = oracle.import_torchvision()
    stages = spec("regnet.res").program.models[name].args[-1].value
    rows = [[item.value for item in row.items] for row in stages.items]
    captured: list[Any] = []
    monkeypatch.setattr(
        tv.models.regnet, "_regnet", lambda params, *a, **k: captured.append(params)
    )
    getattr(tv.models.regnet, name)()
    (params,) = captured
    assert set(params.bottleneck_multipliers) == {1.0}
    assert rows == [
        [d, w, g] for d, w, g in zip(params.depths, params.widths, params.group_widths, strict=True)
    ]


@pytest.mark.parametrize(
    "name", ["convnext_tiny", "convnext_small", "efficientnet_b0", "efficientnet_b3"]
)
def test_stochastic_depth_equals_torchvisions(name: str) -> None:
    """drop_path= of every residual block is torchvision's StochasticDepth probability."""
    with torch.device("meta"):
        torchvision_model = oracle.build(name)
    expected = [
        module.stochastic_depth.p
        for module in torchvision_model.modules()
        if hasattr(module, "stochastic_depth") and getattr(module, "use_res_connect", True)
    ]
    graph = spec(SPEC_OF[name]).graph(name)
    got = [
        data["args"].drop_path
        for _, data in graph.nodes(data=True)
        if data["role"] == "merge" and data["op"] == "add"
    ]
    assert got == expected
    assert len(set(got)) == len(got) > 1  # rising with depth


@pytest.mark.slow
def test_committed_facts_are_torchvisions() -> None:
    script: dict[str, Any] = runpy.run_path(str(ROOT / "scripts" / "make_zoo_data.py"))
    assert script["facts"]()["models"] == COMMITTED


# ------------------------------------------------------------------ weights and outputs


@pytest.mark.parametrize("name", FORWARD_MODELS)
def test_torchvision_weights_load_strictly_and_outputs_are_identical(name: str) -> None:
    assert_same_model(name, {})


#: The models whose weights torchvision builds with other arguments than its default.
WEIGHTS_VARIANTS = [name for name in SPEC_OF if COMMITTED[name]["weights_args"]]


@pytest.mark.parametrize("name", WEIGHTS_VARIANTS)
def test_weights_variant_is_torchvisions_too(name: str) -> None:
    """Built as torchvision's weights are (GoogLeNet without aux heads, the segmentation
    models with theirs, returning {"out", "aux"}), the spec's model is torchvision's."""
    args = weights_args(name)
    with torch.device("meta"):
        model = spec(SPEC_OF[name]).compile(name, **args)
        assert layout(model) == layout(oracle.build(name, **args))
    assert_same_model(name, args)


def assert_same_model(name: str, args: dict[str, Any]) -> None:
    """torchvision's randomly filled weights load strictly, and eval outputs are identical."""
    arguments, shape = forward_case(name)
    args = {**arguments, **args}
    torchvision_model = rm.fill_state_dict(oracle.build(name, **args), FILL_SEED).eval()
    model = spec(SPEC_OF[name]).compile(name, **args).eval()
    model.load_state_dict(torchvision_model.state_dict(), strict=True)
    for key, value in torchvision_model.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    x = rm.reference_input(shape, INPUT_SEED)
    with torch.no_grad():
        expected = torchvision_model(x)
        got = model(x)
    if isinstance(expected, dict):  # segmentation: {"out": ..., "aux": ...} at the input's size
        assert list(got) == list(expected)
        for key in expected:
            assert got[key].shape == expected[key].shape == (*x.shape[:1], 21, *x.shape[2:])
            assert torch.equal(got[key], expected[key]), key
        return
    assert got.shape == expected.shape == (1, 1000)
    assert torch.equal(got, expected), (got - expected).abs().max().item()


# ------------------------------------------------------------------ docs/zoo.md


def test_docs_table_is_current() -> None:
    """docs/zoo.md's table is what scripts/make_zoo_table.py makes from the specs today."""
    script: dict[str, Any] = runpy.run_path(str(ROOT / "scripts" / "make_zoo_table.py"))
    doc = (ROOT / "docs" / "zoo.md").read_text(encoding="utf-8")
    assert script["render"](doc) == doc, "run: python scripts/make_zoo_table.py"
    for name in SPEC_OF:  # every bundled model has a row
        assert f"| `{name}` |" in doc


def test_docs_loading_snippet_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The snippet of docs/zoo.md, verbatim, with the download replaced by torchvision's
    own randomly initialised state_dict (these tests have no network)."""
    doc = (ROOT / "docs" / "zoo.md").read_text(encoding="utf-8")
    snippet = doc.split("```python\n", 1)[1].split("```", 1)[0]
    tv = oracle.import_torchvision()
    weights_type = tv.models.ResNeXt50_32X4D_Weights
    state = rm.fill_state_dict(oracle.build("resnext50_32x4d"), FILL_SEED).state_dict()
    calls: list[dict[str, Any]] = []

    def get_state_dict(self: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        calls.append(kwargs)
        return state

    monkeypatch.setattr(weights_type, "get_state_dict", get_state_dict)
    monkeypatch.chdir(ROOT)
    namespace: dict[str, Any] = {}
    exec(compile(snippet, "docs/zoo.md", "exec"), namespace)
    assert calls == [{"progress": True}]
    model = namespace["model"]
    assert not model.training
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())

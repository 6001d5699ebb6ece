"""Write tests/data/torchvision_zoo.json: torchvision's facts for the zoo models of issue 9.

For each model: the DEFAULT weights' ``num_params`` and ``_ops`` (GMACs, as
torchvision rounds them), the resolution those are measured at, and the
number of ``state_dict`` entries of the randomly initialised builder. The
tests compare with torchvision itself; this file lets the docs table and a
loose cross-check run without torchvision.

    PYTHONPATH=. python scripts/make_zoo_data.py          # rewrite the file
    PYTHONPATH=. python scripts/make_zoo_data.py --check  # exit 1 if it is stale
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.torchvision_oracle import import_torchvision, reference  # noqa: E402

OUT = ROOT / "tests" / "data" / "torchvision_zoo.json"

#: Every model issue 9 names, the sibling sizes it asks for, and every other
#: size specs/torchvision/ bundles (densenet161, efficientnet_b4 ... b7).
MODELS = [
    "resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d",
    "wide_resnet50_2", "wide_resnet101_2",
    "densenet121", "densenet161", "densenet169", "densenet201",
    "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small",
    "efficientnet_b0", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3",
    "efficientnet_b4", "efficientnet_b5", "efficientnet_b6", "efficientnet_b7",
    "regnet_y_400mf", "regnet_y_800mf", "regnet_y_1_6gf", "regnet_y_3_2gf", "regnet_y_8gf",
    "regnet_y_16gf", "regnet_y_32gf", "regnet_x_400mf", "regnet_x_800mf", "regnet_x_1_6gf",
    "regnet_x_3_2gf", "regnet_x_8gf", "regnet_x_16gf", "regnet_x_32gf",
    "squeezenet1_0", "squeezenet1_1", "googlenet", "inception_v3",
    "shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0",
    "convnext_tiny", "convnext_small", "convnext_base", "convnext_large",
    "vit_b_16", "vit_b_32", "vit_l_16", "vit_l_32",
    "fcn_resnet50", "deeplabv3_resnet50", "lraspp_mobilenet_v3_large",
]  # fmt: skip


#: The builder arguments under which torchvision's weights, and so their metadata,
#: differ from the builder's defaults: GoogLeNet's weights drop the aux heads that
#: ``weights=None`` builds; the segmentation weights carry the aux head that
#: ``weights=None`` leaves out. A spec's model of the same name takes the same
#: arguments, so its counts are compared with the metadata under these.
WEIGHTS_ARGS: dict[str, dict[str, object]] = {
    "googlenet": {"aux_logits": False},
    "fcn_resnet50": {"aux_loss": True},
    "deeplabv3_resnet50": {"aux_loss": True},
}


def facts() -> dict[str, object]:
    models = {}
    for name in MODELS:
        ref = reference(name)
        models[name] = {
            "num_params": ref.num_params,
            "gmacs": ref.gmacs,
            "resolution": ref.resolution,
            "state_dict_entries": len(ref.state_dict),
            "weights_args": WEIGHTS_ARGS.get(name, {}),
        }
    return {"torchvision": import_torchvision().__version__.split("+")[0], "models": models}


def main(argv: list[str]) -> int:
    text = json.dumps(facts(), indent=1) + "\n"
    if "--check" in argv:
        stale = not OUT.exists() or OUT.read_text() != text
        print(f"{OUT.name} is {'stale' if stale else 'up to date'}")
        return int(stale)
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""torchvision as the oracle: its model builders and weight metadata, imported cleanly.

torchvision's model definitions (``torchvision/models/*.py``) are pure Python,
but ``import torchvision`` also loads its compiled operators (``_C.so``:
nms, roi_align, ...), which none of the classification or segmentation models
use. Where the installed torchvision wheel was built against another variant
of torch (the PyPI wheel of torchvision 0.28.0 is a CUDA build; a CPU-only
torch 2.13.0 lacks the ``libc10_cuda.so`` it links against), loading ``_C``
fails. torchvision tolerates that (``extension._has_ops()`` becomes False and
every op that needs it raises when called), except in one place:
``torchvision/_meta_registrations.py`` registers fake (meta) kernels for
``torchvision::nms`` and ``torchvision::qnms`` unconditionally, and
``torch.library.register_fake`` raises "operator torchvision::nms does not
exist" when the op's schema was never defined.

:func:`import_torchvision` therefore imports torchvision normally, and only if
that exact error occurs, defines the two schemas (as torchvision's C++ code
declares them, with no kernel: calling ``torchvision.ops.nms`` still fails
with torchvision's own message) and imports it again. Nothing else is patched,
no warning is printed, and a torchvision whose extension loads is untouched.

>>> tv = import_torchvision()
>>> tv.models.get_model_weights("resnet50").DEFAULT.meta["num_params"]
25557032
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import torch
from torch import nn

#: The two operators torchvision/_meta_registrations.py needs to exist, with the
#: schemas that torchvision/csrc/ops/nms.cpp and quantized/cpu/qnms_kernel.cpp declare.
UNCONDITIONAL_FAKE_OPS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
MISSING_OP_ERROR = "operator torchvision::nms does not exist"

_schema_library: torch.library.Library | None = None  # kept alive: it owns the definitions


def import_torchvision() -> ModuleType:
    """Return the ``torchvision`` module, importable even when its compiled ops are not."""
    try:
        return importlib.import_module("torchvision")
    except RuntimeError as error:
        if MISSING_OP_ERROR not in str(error):
            raise
    _forget_partial_import()
    _define_unconditional_fake_ops()
    return importlib.import_module("torchvision")


def _forget_partial_import() -> None:
    """Drop the submodules a failed ``import torchvision`` left behind, so it reruns whole."""
    for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
        del sys.modules[name]


def _define_unconditional_fake_ops() -> None:
    global _schema_library
    if _schema_library is None:
        _schema_library = torch.library.Library("torchvision", "DEF")  # type: ignore[no-untyped-call]
        for schema in UNCONDITIONAL_FAKE_OPS.values():
            _schema_library.define(schema)  # type: ignore[no-untyped-call]


# ------------------------------------------------------------------ reference facts


@dataclass(frozen=True)
class Reference:
    """What torchvision says about one model, without downloading its weights."""

    name: str
    num_params: int
    gmacs: float  # meta["_ops"]: GMACs at `resolution`, as torchvision rounds it (3 decimals)
    resolution: int  # the DEFAULT weights' evaluation crop (segmentation: resize) size
    state_dict: list[tuple[str, tuple[int, ...]]]  # keys and shapes, in order


#: Builder arguments that keep ``weights=None`` from downloading or warning: the
#: segmentation models would fetch an ImageNet backbone, and GoogLeNet and
#: Inception v3 warn (FutureWarning) unless told how to initialise.
BUILDER_ARGS: dict[str, dict[str, Any]] = {
    "googlenet": {"init_weights": True},
    "inception_v3": {"init_weights": True},
    "fcn_resnet50": {"weights_backbone": None},
    "deeplabv3_resnet50": {"weights_backbone": None},
    "lraspp_mobilenet_v3_large": {"weights_backbone": None},
}


def build(name: str, **kwargs: Any) -> nn.Module:
    """torchvision's builder for ``name``, randomly initialised (``weights=None``)."""
    tv = import_torchvision()
    arguments = {**BUILDER_ARGS.get(name, {}), **kwargs}
    model: nn.Module = tv.models.get_model(name, weights=None, **arguments)
    return model


def weights_meta(name: str) -> dict[str, Any]:
    """The DEFAULT weights' metadata of ``name`` (a table in torchvision's source, no download)."""
    tv = import_torchvision()
    meta: dict[str, Any] = tv.models.get_model_weights(name).DEFAULT.meta
    return meta


def reference(name: str) -> Reference:
    """Parameter count, GMACs and ``state_dict`` layout of torchvision's ``name``."""
    meta = weights_meta(name)
    # Shapes only: build without real storage, except the RegNets, whose builder
    # computes the stage widths with tensor arithmetic (regnet.py, from_init_params).
    device = "cpu" if name.startswith("regnet_") else "meta"
    with torch.device(device):
        model = build(name)
    layout = [(key, tuple(t.shape)) for key, t in model.state_dict().items()]
    return Reference(name, int(meta["num_params"]), float(meta["_ops"]), resolution(name), layout)


def resolution(name: str) -> int:
    """The input size torchvision evaluates ``name``'s DEFAULT weights at (and counts MACs at).

    It is an argument of the weights' preset transforms: ``crop_size`` for
    classification, ``resize_size`` for segmentation.
    """
    tv = import_torchvision()
    preset = tv.models.get_model_weights(name).DEFAULT.transforms.keywords
    size = preset.get("crop_size", preset.get("resize_size"))
    return int(size[0] if isinstance(size, list | tuple) else size)

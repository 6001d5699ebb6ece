"""Regenerate the example diagrams in ``docs/images/`` (needs Graphviz's ``dot``).

Run from anywhere: ``python scripts/make_images.py``. Each image is rendered
through the public API (``Spec.render``), so the pictures in the docs are what a
user gets. ``--check`` renders into a temporary directory instead and only
reports whether every image can be made (for CI without touching the files).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import resdsl  # noqa: E402

#: (file name, spec, model, render options)
IMAGES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("resnet18_depth2.png", "resnet.res", "resnet18", {"depth": 2}),
    ("unet.png", "unet.res", "unet", {}),
    ("unet_depth1.png", "unet.res", "unet", {"depth": 1}),
    ("preact_resnet164_depth1.png", "preact_resnet.res", "preact_resnet164", {"depth": 1}),
    ("resnet152_depth1.png", "resnet.res", "resnet152", {"depth": 1}),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="render to a temporary directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) if args.check else ROOT / "docs" / "images"
        target.mkdir(parents=True, exist_ok=True)
        for name, spec, model, options in IMAGES:
            start = time.perf_counter()
            resdsl.load(ROOT / "specs" / spec).render(model, path=target / name, **options)
            elapsed = time.perf_counter() - start
            size = (target / name).stat().st_size
            print(f"{name:32} {size / 1024:7.0f} KiB  {elapsed:5.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

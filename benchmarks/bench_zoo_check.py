"""Is the front end as fast per node on the version 1 zoo as on ResNet-50?

Run on demand: ``python benchmarks/bench_zoo_check.py [--rounds N]``. For each
model it times ``resdsl.load(spec).summary(model)`` in process (read and parse
the file with its ``use`` files, elaborate, infer every shape, count
parameters and MACs, derive valid input sizes, build the summary), takes the
best of several rounds of calls, and divides by the model's graph nodes. The
models are timed in alternating rounds, so a change in the machine's speed
hits them alike. It prints each model's time, node count, time per node, and
the ratio per node against ResNet-50 (the target: within 2x). Nothing here
imports torch.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import resdsl  # noqa: E402

#: (label, spec file, model): the reference first.
MODELS = [
    ("resnet50", ROOT / "specs" / "resnet.res", "resnet50"),
    ("convnext_tiny", ROOT / "specs" / "torchvision" / "convnext.res", "convnext_tiny"),
    ("vit_b_16", ROOT / "specs" / "torchvision" / "vit.res", "vit_b_16"),
    ("regnet_y_400mf", ROOT / "specs" / "torchvision" / "regnet.res", "regnet_y_400mf"),
]


def check(path: Path, model: str) -> None:
    resdsl.load(path).summary(model)


def best_ms(path: Path, model: str, calls: int) -> float:
    """The fastest of ``calls`` checks, in milliseconds."""
    best = float("inf")
    for _ in range(calls):
        t = time.perf_counter()
        check(path, model)
        best = min(best, time.perf_counter() - t)
    return best * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--calls", type=int, default=10)
    options = parser.parse_args()
    nodes = {
        label: resdsl.load(path).graph(model).number_of_nodes() for label, path, model in MODELS
    }
    for _, path, model in MODELS:  # warm up
        check(path, model)
    best = {label: float("inf") for label, _, _ in MODELS}
    for _ in range(options.rounds):
        for label, path, model in MODELS:
            best[label] = min(best[label], best_ms(path, model, options.calls))
    reference = best["resnet50"] / nodes["resnet50"]
    print(f"{'model':16} {'check':>9} {'nodes':>6} {'per node':>10} {'vs resnet50':>12}")
    for label, _, _ in MODELS:
        per_node = best[label] / nodes[label]
        print(
            f"{label:16} {best[label]:7.2f}ms {nodes[label]:6d} {per_node * 1000:8.1f}us "
            f"{per_node / reference:11.2f}x"
        )


if __name__ == "__main__":
    main()

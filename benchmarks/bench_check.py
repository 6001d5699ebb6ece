"""How fast is checking? ``resdsl.load(spec).summary(model)`` end to end, in process.

Run on demand: ``python benchmarks/bench_check.py``. It times the whole front end
(read and parse the file, elaborate, infer shapes, count parameters and MACs,
derive valid input sizes) and each stage alone, then prints the median against
the 5 ms target and the 4.5 ms the fastest peer tool we measured needs to validate
ResNet-50. Nothing here imports torch.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import resdsl  # noqa: E402
from resdsl.api import summarize  # noqa: E402
from resdsl.passes import run_passes  # noqa: E402
from resdsl.semantics.elaborate import elaborate  # noqa: E402
from resdsl.syntax.loader import load_file  # noqa: E402

TARGET_MS = 5.0
PEER_MS = 4.5


def median_ms(fn: Callable[[], object], repeat: int = 200, warmup: int = 20) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main() -> None:
    spec_path = ROOT / "specs" / "resnet.res"
    model = sys.argv[1] if len(sys.argv) > 1 else "resnet50"
    program = load_file(spec_path)
    graph, _ = elaborate(program, model)
    stages = {
        "parse + use": lambda: load_file(spec_path),
        "elaborate + shapes": lambda: elaborate(program, model),
        "costs + valid sizes": lambda: run_passes(elaborate(program, model)[0]),
        "summary table": lambda: summarize(run_passes(graph)),
    }
    for name, fn in stages.items():
        print(f"  {name:22s} {median_ms(fn):7.2f} ms")
    total = median_ms(lambda: resdsl.load(spec_path).summary(model))
    print(f"resdsl.load('specs/resnet.res').summary({model!r}): median {total:.2f} ms")
    print(f"  vs target {TARGET_MS} ms: ratio {total / TARGET_MS:.2f}")
    print(f"  vs fastest peer {PEER_MS} ms: ratio {total / PEER_MS:.2f}")
    print(f"  ({len(graph)} nodes; note: the stages overlap, the total is measured on its own)")


if __name__ == "__main__":
    main()

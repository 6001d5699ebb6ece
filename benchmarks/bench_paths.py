"""How fast is path counting? ``path_report`` on the deepest bundled models, in process.

Run on demand: ``python benchmarks/bench_paths.py [--repeat N]``. For each case
it builds the checked graph once, then times ``resdsl.analysis.paths.path_report``
(exact path count, nonlinearity and weighted-depth histograms, always-crossed
nodes) and prints a Markdown table of the best and median times against the
target: preact_resnet1001 (2**333 paths) under 1 s. Nothing here imports torch.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import resdsl  # noqa: E402
from resdsl.analysis.paths import path_report  # noqa: E402

#: (spec, model, target in seconds or None)
CASES: list[tuple[str, str, float | None]] = [
    ("preact_resnet.res", "preact_resnet1001", 1.0),
    ("preact_resnet.res", "preact_resnet164", None),
    ("resnet.res", "resnet152", None),
]


def describe_count(count: int) -> str:
    """``2**333`` for a power of two, the number itself when short, else ``1.234e+56``."""
    if count > 10**6 and count & (count - 1) == 0:
        return f"2**{count.bit_length() - 1}"
    return str(count) if count <= 10**6 else f"{count:.3e}"


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"Python {sys.version.split()[0]}; {args.repeat} runs each\n")
    print("| model | graph nodes | paths | best | median | target | ratio |")
    print("|---|---:|---:|---:|---:|---|---:|")
    failed = False
    for spec_file, model, target in CASES:
        graph = resdsl.load(ROOT / "specs" / spec_file).graph(model)
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            report = path_report(graph)
            times.append(time.perf_counter() - start)
        best, median = min(times), statistics.median(times)
        verdict, ratio = "", ""
        if target is not None:
            ok = best < target
            failed |= not ok
            verdict = f"< {target:g} s {'ok' if ok else 'MISSED'}"
            ratio = f"{best / target:.3f}"
        paths = describe_count(report.count)
        print(
            f"| {model} | {len(graph)} | {paths} | {best * 1000:.0f} ms "
            f"| {median * 1000:.0f} ms | {verdict} | {ratio} |"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""How fast is drawing? ``Spec.graph`` + ``to_dot`` + ``dot -Tsvg``, in process.

Run on demand: ``python benchmarks/bench_render.py [--repeat N]``. For each case
it times building the checked graph, writing the DOT (pure Python), and
Graphviz turning it into SVG, and prints a Markdown table of medians with the
end-to-end worst case against the targets: resnet152 at full depth under 10 s,
at ``--depth 1`` under 2 s. Needs Graphviz's ``dot``; nothing here imports torch.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import resdsl  # noqa: E402
from resdsl.backends.render import dot_to_image, to_dot  # noqa: E402

#: (label, spec, model, render options, end-to-end target in seconds or None)
CASES: list[tuple[str, str, str, dict[str, Any], float | None]] = [
    ("resnet152, full depth", "resnet.res", "resnet152", {}, 10.0),
    ("resnet152, --depth 1", "resnet.res", "resnet152", {"depth": 1}, 2.0),
    ("resnet18, full depth", "resnet.res", "resnet18", {}, None),
    ("preact_resnet1001, --depth 1", "preact_resnet.res", "preact_resnet1001", {"depth": 1}, None),
    ("unet, full depth (U layout)", "unet.res", "unet", {}, None),
]


def timed(fn: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    times, value = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return times, value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    version = subprocess.run(["dot", "-V"], capture_output=True, text=True).stderr.strip()
    print(f"{version}; Python {sys.version.split()[0]}; medians of {args.repeat} runs\n")
    print("| case | nodes drawn | graph | DOT | dot -Tsvg | total (worst) | target |")
    print("|---|---:|---:|---:|---:|---:|---|")
    failed = False
    for label, spec_file, model, options, target in CASES:
        spec = resdsl.load(ROOT / "specs" / spec_file)
        t_graph, graph = timed(lambda s=spec, m=model: s.graph(m), args.repeat)
        t_dot, dot = timed(lambda g=graph, o=options: to_dot(g, **o), args.repeat)
        t_svg, svg = timed(lambda d=dot: dot_to_image(d, "svg"), args.repeat)
        assert svg.startswith(b"<?xml")
        drawn = sum(
            1
            for line in dot.splitlines()
            if line.lstrip().startswith('"') and " [" in line and "->" not in line
        )
        worst = max(a + b + c for a, b, c in zip(t_graph, t_dot, t_svg, strict=True))
        total = statistics.median(a + b + c for a, b, c in zip(t_graph, t_dot, t_svg, strict=True))
        verdict = ""
        if target is not None:
            ok = worst < target
            failed |= not ok
            verdict = f"< {target:g} s {'ok' if ok else 'MISSED'}"
        print(
            f"| {label} | {drawn} | {statistics.median(t_graph) * 1000:.0f} ms "
            f"| {statistics.median(t_dot) * 1000:.0f} ms | {statistics.median(t_svg):.2f} s "
            f"| {total:.2f} s ({worst:.2f} s) | {verdict} |"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

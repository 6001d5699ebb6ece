"""How do path counting's memory and time grow with depth? ``path_report`` on N residual blocks.

Run on demand: ``python benchmarks/bench_paths_memory.py [N ...]`` (default
500 1000 2000 3000). Each N runs in a fresh process: it builds the checked
graph of a plain chain of N two-layer residual blocks (2**N paths, N+1
activations deep at most), then measures ``path_report`` alone: the growth of
the process's peak resident memory (VmHWM, Linux) over what the graph already
held, and the time. It also times the count-only mode
(``histograms=False``). Prints a Markdown table. Nothing here imports torch.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from measure import RESIDUAL_CHAIN, ROOT, status_bytes, tree_from_argv

tree_from_argv()


def measure(n: int, histograms: bool) -> dict[str, float]:
    """Build the graph of ``n`` blocks, then time ``path_report`` and its peak memory growth."""
    import gc

    import resdsl
    from resdsl.analysis.paths import path_report
    from resdsl.semantics.elaborate import Limits

    spec = resdsl.load(RESIDUAL_CHAIN, limits=Limits(max_nodes=10 * n + 100))
    graph = spec.graph("chain", n=n)
    gc.collect()
    # VmHWM only grows: reset it (Linux >= 4.0) so it measures path_report alone
    Path("/proc/self/clear_refs").write_text("5")
    before = status_bytes("VmRSS")
    start = time.perf_counter()
    try:
        report = path_report(graph, histograms=histograms, max_work=10**15)
    except TypeError:  # an earlier version (--tree): histograms only, no limit
        report = path_report(graph)
    seconds = time.perf_counter() - start
    peak = status_bytes("VmHWM")
    assert report.count == 2**n
    return {"n": n, "nodes": graph.number_of_nodes(), "mb": (peak - before) / 2**20, "s": seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[500, 1000, 2000, 3000])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--count-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tree", default=str(ROOT), help="measure the resdsl in this source tree")
    parser.add_argument("--no-count-only", action="store_true", help="skip the count-only runs")
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(measure(args.one, not args.count_only)))
        return 0
    print(f"Python {sys.version.split()[0]}; each N in a fresh process\n")
    print(
        "| residual blocks | graph nodes | histograms: peak memory | time | count-only: peak memory | time |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for n in args.sizes:
        rows = []
        for flag in ([], ["--count-only"]):
            if flag and args.no_count_only:
                rows.append({"mb": float("nan"), "s": float("nan")})
                continue
            done = subprocess.run(
                [sys.executable, __file__, "--one", str(n), "--tree", args.tree, *flag],
                check=True,
                capture_output=True,
                text=True,
            )
            rows.append(json.loads(done.stdout))
        full, count = rows
        print(
            f"| {n:,} | {full['nodes']:,} | {full['mb']:.1f} MB | {full['s']:.2f} s "
            f"| {count['mb']:.1f} MB | {count['s']:.2f} s |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

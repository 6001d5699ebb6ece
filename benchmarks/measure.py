"""What several benchmarks measure the same way: process memory and live tensor bytes.

Imported by the scripts beside it (``python benchmarks/bench_X.py`` puts this
folder on ``sys.path``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

#: A residual chain of ``n`` small blocks: the spec of the scale benchmarks and their tests.
RESIDUAL_CHAIN = ROOT / "tests" / "specs" / "residual_chain.res"


def tree_from_argv() -> str:
    """The source tree to measure: ``--tree PATH`` (an earlier commit's checkout) or this one.

    It goes first on ``sys.path``, so ``import resdsl`` finds that tree's package.
    """
    tree = sys.argv[sys.argv.index("--tree") + 1] if "--tree" in sys.argv else str(ROOT)
    sys.path.insert(0, tree)
    return tree


def status_bytes(field: str) -> int:
    """A memory figure of this process from ``/proc/self/status`` (``VmRSS``, ``VmHWM``), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def tensor_peak_bytes(model: Any, x: Any) -> int:
    """The peak of live tensor bytes during one no-grad forward, from the profiler's events."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    with torch.no_grad(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        model(x)
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    events.sort(key=lambda e: e.start_ns())
    current = peak = 0
    for e in events:
        current += e.nbytes()
        peak = max(peak, current)
    return peak

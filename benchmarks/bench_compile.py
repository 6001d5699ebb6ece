"""Compiled specs against hand-written PyTorch: forward time, peak memory, compile time.

Run on demand (not part of the test suite)::

    python benchmarks/bench_compile.py            # everything, a few minutes on 2 cores
    python benchmarks/bench_compile.py --quick    # fewer rounds, smaller U-Net

- **Forward time**: the compiled resnet18 (batch 1 at 32x32 and 224x224) and
  resnet50 (batch 1, 224x224) against ``tests/reference_models.py``'s
  torchvision-style ResNets with the same weights, eval mode, no grad. Both
  run in one process in alternating rounds (A B, B A, ...), and the ratio of
  the medians is reported. Target: <= 1.03.
- **Peak memory**: the growth of memory during one no-grad forward, each
  model in a fresh subprocess: the peak of live tensor bytes (from the torch
  profiler's allocation events: exact and deterministic) and the growth of
  the process's peak RSS (``resource.getrusage``). resnet50 at 224x224 and
  milesial's U-Net at 256x256. Target: <= 1.05.
- **Compile time**: resnet152 from spec text to a ready module
  (``resdsl.loads(text).compile("resnet152")``: parse, elaborate, check,
  generate, exec, construct) against constructing the reference. The
  reference's constructor runs PyTorch's default initialisation *and*
  torchvision's kaiming loop, so the like-for-like comparison compiles with
  ``init="kaiming"``; the default-init compile is reported too. Target: <= 1.2.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from measure import tensor_peak_bytes  # noqa: E402

import resdsl  # noqa: E402
from tests import reference_models as rm  # noqa: E402

SPECS = ROOT / "specs"


def compiled(model: str, **params: object) -> nn.Module:
    file = "unet.res" if model.startswith("unet") else "resnet.res"
    return resdsl.load(SPECS / file).compile(model, **params)


def reference(model: str) -> nn.Module:
    return rm.UNet(3, 2, bilinear=False) if model == "unet" else getattr(rm, model)()


# ------------------------------------------------------------------ forward time


def time_forward(model: nn.Module, x: torch.Tensor, iterations: int) -> float:
    with torch.no_grad():
        start = time.perf_counter()
        for _ in range(iterations):
            model(x)
        return (time.perf_counter() - start) / iterations


def forward_ratio(name: str, size: int, rounds: int, budget: float) -> dict[str, float]:
    ours = compiled(name, H=size, W=size).eval()
    theirs = rm.fill_state_dict(reference(name), 0).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(1, 3, size, size)
    with torch.no_grad():
        assert torch.allclose(ours(x), theirs(x), rtol=1e-4, atol=1e-4)
    for _ in range(3):  # warm up both
        time_forward(ours, x, 1)
        time_forward(theirs, x, 1)
    per_call = time_forward(theirs, x, 3)
    iterations = max(1, int(budget / max(per_call, 1e-6)))
    a: list[float] = []
    b: list[float] = []
    for r in range(rounds):
        pair = [(ours, a), (theirs, b)] if r % 2 == 0 else [(theirs, b), (ours, a)]
        for model, out in pair:
            out.append(time_forward(model, x, iterations))
    ma, mb = statistics.median(a), statistics.median(b)
    return {"compiled_ms": ma * 1e3, "reference_ms": mb * 1e3, "ratio": ma / mb}


# ------------------------------------------------------------------ memory


def _trim() -> None:
    gc.collect()
    with contextlib.suppress(OSError):  # not glibc: nothing to trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _current_rss_kb() -> int:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() // 1024


def measure_memory(kind: str, name: str, size: int) -> dict[str, int]:
    """In this (fresh) process: peak growth of one no-grad forward."""
    model = (compiled(name, H=size, W=size) if kind == "compiled" else reference(name)).eval()
    x = torch.randn(1, 3, size, size)
    _trim()
    before = _current_rss_kb()
    with torch.no_grad():
        model(x)
    rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    tensor_peak = tensor_peak_bytes(model, x)
    return {"rss_growth_kb": rss_growth, "tensor_peak_bytes": tensor_peak}


def memory_ratio(name: str, size: int) -> dict[str, float]:
    out: dict[str, dict[str, int]] = {}
    for kind in ("reference", "compiled"):
        result = subprocess.run(
            [sys.executable, __file__, "--memory", kind, name, str(size)],
            check=True,
            capture_output=True,
            text=True,
        )
        out[kind] = json.loads(result.stdout.strip().splitlines()[-1])
    ours, theirs = out["compiled"], out["reference"]
    return {
        "compiled_tensor_mb": ours["tensor_peak_bytes"] / 2**20,
        "reference_tensor_mb": theirs["tensor_peak_bytes"] / 2**20,
        "tensor_ratio": ours["tensor_peak_bytes"] / theirs["tensor_peak_bytes"],
        "compiled_rss_mb": ours["rss_growth_kb"] / 1024,
        "reference_rss_mb": theirs["rss_growth_kb"] / 1024,
        "rss_ratio": ours["rss_growth_kb"] / max(theirs["rss_growth_kb"], 1),
    }


# ------------------------------------------------------------------ compile time


def time_call(f: Callable[[], object]) -> float:
    start = time.perf_counter()
    f()
    return time.perf_counter() - start


def compile_ratio(rounds: int) -> dict[str, float]:
    text = (SPECS / "resnet.res").read_text()

    def ours() -> nn.Module:
        return resdsl.loads(text, "resnet.res").compile("resnet152")

    def ours_kaiming() -> nn.Module:
        spec = resdsl.loads(text, "resnet.res")
        from resdsl.backends.build import compile_graph

        return compile_graph(spec.graph("resnet152"), init="kaiming")

    cold = time_call(ours)  # the first compile: no cache of any kind is warm yet
    times: dict[str, list[float]] = {"default": [], "kaiming": [], "reference": []}
    makers = {"default": ours, "kaiming": ours_kaiming, "reference": rm.resnet152}
    order = list(makers)
    for r in range(rounds):
        for key in order if r % 2 == 0 else reversed(order):
            gc.collect()
            times[key].append(time_call(makers[key]))
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "cold_compile_s": cold,
        "compile_default_s": med["default"],
        "compile_kaiming_s": med["kaiming"],
        "reference_s": med["reference"],
        "ratio_like_for_like": med["kaiming"] / med["reference"],
        "ratio_default_init": med["default"] / med["reference"],
    }


# ------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, smaller U-Net")
    parser.add_argument(
        "--memory", nargs=3, metavar=("KIND", "MODEL", "SIZE"), help=argparse.SUPPRESS
    )
    parser.add_argument("--only", choices=["forward", "memory", "compile"], help="one section")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory:
        kind, name, size = args.memory
        print(json.dumps(measure_memory(kind, name, int(size))))
        return
    rounds = 5 if args.quick else 11
    budget = 0.2 if args.quick else 0.5
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    if args.only in (None, "forward"):
        print("\nForward time (batch 1, eval, no grad; median of alternating rounds)")
        for name, size in (("resnet18", 32), ("resnet18", 224), ("resnet50", 224)):
            r = forward_ratio(name, size, rounds, budget)
            print(
                f"  {name:9} {size:3}x{size:<3}  compiled {r['compiled_ms']:8.2f} ms   "
                f"reference {r['reference_ms']:8.2f} ms   ratio {r['ratio']:.3f}"
            )
    if args.only in (None, "memory"):
        print("\nPeak memory growth of one no-grad forward (fresh process each)")
        unet = 128 if args.quick else 256
        for name, size in (("resnet50", 224), ("unet", unet)):
            m = memory_ratio(name, size)
            print(
                f"  {name:9} {size:3}x{size:<3}  tensors: compiled {m['compiled_tensor_mb']:7.1f} MB"
                f"  reference {m['reference_tensor_mb']:7.1f} MB  ratio {m['tensor_ratio']:.3f}"
                f"   RSS: compiled {m['compiled_rss_mb']:7.1f} MB  reference "
                f"{m['reference_rss_mb']:7.1f} MB  ratio {m['rss_ratio']:.3f}"
            )
    if args.only in (None, "compile"):
        print("\nCompile time: resnet152, spec text -> module, vs constructing the reference")
        c = compile_ratio(3 if args.quick else 9)
        print(
            f"  first compile (cold)       {c['cold_compile_s']:.3f} s\n"
            f"  compile, init=default      {c['compile_default_s']:.3f} s  "
            f"ratio {c['ratio_default_init']:.3f}\n"
            f"  compile, init=kaiming      {c['compile_kaiming_s']:.3f} s  "
            f"ratio {c['ratio_like_for_like']:.3f}  (like for like)\n"
            f"  reference constructor      {c['reference_s']:.3f} s  "
            "(default init + torchvision's kaiming loop)"
        )


if __name__ == "__main__":
    main()

"""How much memory does the first forward take? The compiled resnet50 against torchvision's code.

Run on demand: ``python benchmarks/bench_first_forward_memory.py [--rounds N] [--tree PATH]``.
Each measurement runs in a fresh process: build the model (eval mode), then
run one forward of a batch of 8 at 224x224 with no grad and record

- the growth of the process's peak resident memory (VmHWM, Linux; reset just
  before the forward) over the resident memory before it, and
- the peak of live tensor bytes during a second forward (the torch
  profiler's allocation events: exact and deterministic).

``compile`` checks the module it builds with one batch-1 forward, so the
reference runs one too before the measured forward. The reference is
torchvision's ResNet-50 code, with torchvision's residual
sum in place (``out += identity``); the models of ``tests/reference_models.py``
with that forward (torchvision itself need not be installed). ``--tree PATH``
measures the resdsl of another source tree (an earlier commit's checkout), to
compare generated code before and after a change. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

from measure import ROOT, status_bytes, tensor_peak_bytes, tree_from_argv

TREE = tree_from_argv()
sys.path.insert(1, str(ROOT))  # tests.reference_models


def torchvision_resnet50() -> object:
    """tests/reference_models' ResNet-50 with torchvision's forward: ``out += identity``."""
    from torch import Tensor

    from tests import reference_models as rm

    class Bottleneck(rm.Bottleneck):
        def forward(self, x: Tensor) -> Tensor:  # torchvision/models/resnet.py, line for line
            identity = x
            out = self.conv1(x)
            out = self.bn1(out)
            out = self.relu(out)
            out = self.conv2(out)
            out = self.bn2(out)
            out = self.relu(out)
            out = self.conv3(out)
            out = self.bn3(out)
            if self.downsample is not None:
                identity = self.downsample(x)
            out += identity
            out = self.relu(out)
            return out

    return rm.ResNet(Bottleneck, [3, 4, 6, 3])


def measure(which: str, batch: int) -> dict[str, float]:
    import contextlib
    import ctypes
    import gc

    import torch

    torch.manual_seed(0)
    if which == "resdsl":
        import resdsl

        model = resdsl.load(ROOT / "specs" / "resnet.res").compile("resnet50")
    else:
        model = torchvision_resnet50()
        with torch.no_grad():  # compile checks its module with one batch-1 forward: so here too
            model.eval()(torch.randn(1, 3, 224, 224))  # type: ignore[attr-defined, operator]
    model.eval()  # type: ignore[attr-defined]
    x = torch.randn(batch, 3, 224, 224)
    gc.collect()
    with contextlib.suppress(OSError):  # not glibc: nothing to trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM (Linux >= 4.0)
    before = status_bytes("VmRSS")
    with torch.no_grad():
        model(x)  # type: ignore[operator]
    rss = status_bytes("VmHWM") - before
    return {"rss": rss / 2**20, "tensors": tensor_peak_bytes(model, x) / 2**20}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--tree", default=str(ROOT))
    parser.add_argument("--one", choices=["resdsl", "torchvision"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.batch)))
        return 0
    results: dict[str, list[dict[str, float]]] = {"resdsl": [], "torchvision": []}
    for _ in range(args.rounds):
        for which in results:
            done = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--one",
                    which,
                    "--batch",
                    str(args.batch),
                    "--tree",
                    args.tree,
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            results[which].append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(
        f"resnet50, batch {args.batch}, 224x224, eval, no grad; {args.rounds} fresh processes each\n"
    )
    print("| model | peak RSS growth (median, range) | peak live tensors |")
    print("|---|---:|---:|")
    med = {}
    for which, rows in results.items():
        rss = [r["rss"] for r in rows]
        med[which] = statistics.median(rss)
        tensors = statistics.median(r["tensors"] for r in rows)
        print(
            f"| {which} | {med[which]:.0f} MB ({min(rss):.0f}-{max(rss):.0f}) | {tensors:.0f} MB |"
        )
    print(f"\nresdsl / torchvision, median RSS growth: {med['resdsl'] / med['torchvision']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

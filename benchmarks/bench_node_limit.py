"""How soon is a model past the node limit refused? A repeat of 30,000 residual blocks.

Run on demand: ``python benchmarks/bench_node_limit.py [--tree PATH]``. In a
fresh process, elaborates a chain of 30,000 five-node residual blocks (150,006
nodes) against the default limit of 100,000 nodes and reports the time to the
error and the process's peak resident memory growth (VmHWM, Linux).
``--tree PATH`` measures another checkout (an earlier commit's), which built
nodes up to the limit before refusing. Nothing here imports torch.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TREE = sys.argv[sys.argv.index("--tree") + 1] if "--tree" in sys.argv else str(ROOT)
sys.path.insert(0, TREE)

SPEC = """
block res() {
    conv(4, 1)
    relu
    conv2: conv(4, 1)
    skip in -> conv2 (add)
    relu
}
model chain(n: int = 30000) {
    input [4, 2, 2]
    first: res()
    repeat n { res() }
}
"""


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def main() -> int:
    import resdsl

    spec = resdsl.loads(SPEC, "chain.res")
    before = _status("VmRSS")
    start = time.perf_counter()
    try:
        spec.graph("chain")
    except resdsl.ResdslError as error:
        message = error.diagnostics[0].message
    else:
        raise SystemExit("the model was not refused")
    seconds = time.perf_counter() - start
    grown = (_status("VmHWM") - before) / 2**20
    print(f"{TREE}: refused in {seconds:.2f} s, peak memory +{grown:.0f} MB: {message}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""How soon is a model past the node limit refused? A repeat of 30,000 residual blocks.

Run on demand: ``python benchmarks/bench_node_limit.py [--tree PATH]``. In a
fresh process, elaborates a chain of 30,000 five-node residual blocks (150,006
nodes) against the default limit of 100,000 nodes and reports the time to the
error and the process's peak resident memory growth (VmHWM, Linux).
``--tree PATH`` measures another checkout (an earlier commit's), which built
nodes up to the limit before refusing. Nothing here imports torch.
"""

from __future__ import annotations

import time

from measure import RESIDUAL_CHAIN, status_bytes, tree_from_argv

TREE = tree_from_argv()


def main() -> int:
    import resdsl

    spec = resdsl.load(RESIDUAL_CHAIN)
    before = status_bytes("VmRSS")
    start = time.perf_counter()
    try:
        spec.graph("chain_past_limit")
    except resdsl.ResdslError as error:
        message = error.diagnostics[0].message
    else:
        raise SystemExit("the model was not refused")
    seconds = time.perf_counter() - start
    grown = (status_bytes("VmHWM") - before) / 2**20
    print(f"{TREE}: refused in {seconds:.2f} s, peak memory +{grown:.0f} MB: {message}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

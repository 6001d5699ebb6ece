"""The long fuzz run: generated and mutated specs, in worker processes, with bounds.

    python scripts/fuzz.py --cases 100000 --seed 1 --jobs 2

Each case is a spec from ``tests/fuzzing.py`` (half written by the
grammar-aware generator, half a bundled spec with token edits), made from
its own ``random.Random(f"{seed}:{index}")``, so ``--replay INDEX`` writes
any case again, and ``--first`` splits a run into shards (cases ``first`` to
``first + cases - 1``) for several processes or machines. A worker loads the case, checks every model and writes each
checking model's source, with a per-case bound on CPU time (``--bound``,
ITIMER_PROF), a wall-clock figure for the slowest case, and a memory bound
per worker (``--memory``, RLIMIT_AS). Anything but a
ResdslError, or a case past the time bound, is a finding: the run prints
counts and writes one example of each finding to ``--out``. Exit code 1 if
there was any finding.

The in-suite fuzzer (``tests/test_fuzz.py``) runs the same cases, fewer of
them; benchmarks/README.md records the figures of a long run.
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import fuzzing  # noqa: E402  (the repository root is on the path now)

CHUNK = 250


def make_case(seed: int, index: int, seeds: list[fuzzing.Seed]) -> tuple[str, Path | None]:
    """The spec text of case ``index`` and the directory its ``use`` lines resolve in."""
    pick = fuzzing.RandomPick(random.Random(f"{seed}:{index}"))
    if index % 2:
        return fuzzing.generate(pick), None
    seed_spec = pick.choice(seeds)
    return fuzzing.mutate(seed_spec, pick), seed_spec.directory


def _limit_memory(megabytes: int) -> None:
    limit = megabytes * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def run_chunk(seed: int, start: int, stop: int, bound: float) -> dict[str, Any]:
    """Run cases ``start..stop-1``: counts, the slowest case, one example per finding."""
    seeds = fuzzing.seeds()
    counts: collections.Counter[str] = collections.Counter()
    findings: dict[str, tuple[int, str]] = {}
    slowest = (0.0, -1)
    for index in range(start, stop):
        text, base = make_case(seed, index, seeds)
        began = time.perf_counter()
        outcome = fuzzing.run_case(text, base, bound)
        took = time.perf_counter() - began
        slowest = max(slowest, (took, index))
        counts[outcome.status] += 1
        if outcome.status in ("crash", "timeout"):
            key = outcome.detail or "timeout"
            findings.setdefault(key, (index, text))
            counts[f"{outcome.status}: {key}"] += 1
    return {"counts": counts, "findings": findings, "slowest": slowest}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--first", type=int, default=0, help="index of the first case (shards)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--bound", type=float, default=10.0, help="CPU seconds per case")
    parser.add_argument("--memory", type=int, default=4096, help="MiB per worker")
    parser.add_argument("--out", type=Path, default=None, help="where findings are written")
    parser.add_argument("--replay", type=int, default=None, help="print case INDEX and stop")
    args = parser.parse_args(argv)
    if args.replay is not None:
        text, base = make_case(args.seed, args.replay, fuzzing.seeds())
        print(f"# use resolves in {base}" if base else "# generated", text, sep="\n")
        return 0
    began = time.perf_counter()
    counts: collections.Counter[str] = collections.Counter()
    findings: dict[str, tuple[int, str]] = {}
    slowest = (0.0, -1)
    with ProcessPoolExecutor(args.jobs, initializer=_limit_memory, initargs=(args.memory,)) as pool:
        end = args.first + args.cases
        futures = [
            pool.submit(run_chunk, args.seed, start, min(start + CHUNK, end), args.bound)
            for start in range(args.first, end, CHUNK)
        ]
        for done, future in enumerate(as_completed(futures), 1):
            result = future.result()
            counts.update(result["counts"])
            for key, example in result["findings"].items():
                findings.setdefault(key, example)
            slowest = max(slowest, result["slowest"])
            if done % 20 == 0:  # progress, with the figures so far
                print(f"{done * CHUNK:,} cases, {time.perf_counter() - began:.0f} s: "
                      f"{counts['crash']} other exceptions, {counts['timeout']} over the bound",
                      file=sys.stderr, flush=True)  # fmt: skip
    wall = time.perf_counter() - began
    report(args, counts, findings, slowest, wall)
    return 1 if findings else 0


def report(
    args: argparse.Namespace,
    counts: collections.Counter[str],
    findings: dict[str, tuple[int, str]],
    slowest: tuple[float, int],
    wall: float,
) -> None:
    total = counts["ok"] + counts["error"] + counts["crash"] + counts["timeout"]
    print(f"command: python scripts/fuzz.py --cases {args.cases} --seed {args.seed} "
          f"--first {args.first} --jobs {args.jobs} --bound {args.bound:g} "
          f"--memory {args.memory}")  # fmt: skip
    print(f"cases: {total:,}  checked: {counts['ok']:,}  ResdslError: {counts['error']:,}")
    print(f"other exceptions: {counts['crash']:,}  over {args.bound:g} s: {counts['timeout']:,}")
    print(f"slowest case: {slowest[0]:.2f} s (index {slowest[1]})  wall time: {wall:.0f} s")
    if not findings:
        return
    out = args.out or Path(tempfile.mkdtemp(prefix="resdsl-fuzz-"))
    out.mkdir(parents=True, exist_ok=True)
    for n, (key, (index, text)) in enumerate(sorted(findings.items())):
        print(f"  {counts.get('crash: ' + key, 0) + counts.get('timeout: ' + key, 0)} x {key}"
              f"  (--replay {index})")  # fmt: skip
        (out / f"finding{n}.res").write_text(f"# {key}\n# case {index}\n{text}", encoding="utf-8")
    print(f"examples written to {out}")


if __name__ == "__main__":
    sys.exit(main())

"""How long does ``resdsl check`` take as a whole process, start-up included?

Run on demand: ``python benchmarks/bench_startup.py [--rounds N] [--model M]``.
It times three commands, each in a fresh Python process, in alternating rounds
(A B C, A B C, ...) so that a drift in the machine's speed touches all three:

- ``python -m resdsl check specs/resnet.res --model resnet152``: the real command;
- ``python -c "import resdsl.cli"``: importing the command line, no work done;
- ``python -c pass``: the interpreter's own start-up.

It prints the median of each and the ratios of the medians, then, in this
process, what getting the parser ready costs: loading the shipped LALR tables
against building them from the grammar (what every run used to do).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def commands(model: str) -> dict[str, list[str]]:
    py = sys.executable
    return {
        f"resdsl check specs/resnet.res --model {model}": [
            *(py, "-m", "resdsl", "check", "specs/resnet.res", "--model", model)
        ],
        'python -c "import resdsl.cli"': [py, "-c", "import resdsl.cli"],
        "python -c pass": [py, "-c", "pass"],
    }


def run_once(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def whole_process(rounds: int, model: str) -> dict[str, float]:
    # The checkout first on the path, so the command runs this tree's code.
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    cmds = commands(model)
    for argv in cmds.values():  # warm the file cache and the .pyc files
        run_once(argv, env)
    times: dict[str, list[float]] = {name: [] for name in cmds}
    for _ in range(rounds):
        for name, argv in cmds.items():
            times[name].append(run_once(argv, env))
    return {name: statistics.median(ts) for name, ts in times.items()}


def parser_setup_ms(repeat: int = 7) -> tuple[float, float]:
    """Median ms to get Lark ready: from the shipped tables, and from the grammar."""
    from resdsl.syntax import parse, tables

    grammar = tables.grammar_path().read_text(encoding="utf-8")

    def timed(fn: Callable[[], object]) -> float:
        samples = []
        for _ in range(repeat):
            start = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - start)
        return statistics.median(samples) * 1000

    loaded = timed(lambda: tables.load_lark(**parse._runtime()))
    built = timed(lambda: tables.build_lark(grammar, **parse._runtime()))
    return loaded, built


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--model", default="resnet152")
    args = parser.parse_args()
    medians = whole_process(args.rounds, args.model)
    check, cli, bare = medians.values()
    for name, value in medians.items():
        print(f"  {name:55s} median {value * 1000:7.1f} ms")
    print(
        f"  check / import resdsl.cli: {check / cli:.2f}   check / python -c pass: {check / bare:.2f}"
    )
    print(f"  check - import resdsl.cli: {(check - cli) * 1000:.1f} ms of work")
    try:
        loaded, built = parser_setup_ms()
    except ImportError:  # a tree from before the tables were shipped
        return
    print(
        f"  parser ready in process: {loaded:.1f} ms from the shipped tables, {built:.1f} ms built"
    )


if __name__ == "__main__":
    main()

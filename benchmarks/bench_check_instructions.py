"""Instructions per in-process check of ResNet-50, counted by valgrind: load-independent.

Wall-clock timings of a 5 ms call swing by 2x with other jobs on the machine;
the number of machine instructions a call executes does not. This counts them
with valgrind's callgrind for two runs of ``resdsl.load(...).summary(...)``
(``--calls`` and three times as many) and prints the difference per call, so
interpreter start-up and imports cancel out. ``--against DIR`` counts another
checkout too (for example a worktree of an older commit) and prints the ratio.

    python benchmarks/bench_check_instructions.py [--model resnet50] [--against ../old]

Needs ``valgrind`` on the PATH; takes about a minute per tree.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import sys
import resdsl
path, model, calls = sys.argv[1], sys.argv[2], int(sys.argv[3])
for _ in range(calls):
    resdsl.load(path).summary(model)
"""


def instructions(tree: Path, model: str, calls: int) -> int:
    """Instructions of one process that imports resdsl from ``tree`` and checks ``calls`` times."""
    with tempfile.TemporaryDirectory() as tmp:
        child = Path(tmp) / "child.py"
        child.write_text(CHILD)
        env = dict(os.environ, PYTHONPATH=str(tree), PYTHONHASHSEED="0")
        done = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={tmp}/out",
                os.path.realpath(sys.executable),
                str(child),
                str(tree / "specs" / "resnet.res"),
                model,
                str(calls),
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise SystemExit(f"valgrind gave no count:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def per_call(tree: Path, model: str, calls: int) -> float:
    few = instructions(tree, model, calls)
    many = instructions(tree, model, 3 * calls)
    return (many - few) / (2 * calls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--against", type=Path, help="another checkout to compare with")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install -y valgrind)")
    here = per_call(ROOT, args.model, args.calls)
    print(f"this tree:  {here / 1e6:.2f} M instructions per check of {args.model}")
    if args.against is not None:
        there = per_call(args.against.resolve(), args.model, args.calls)
        print(f"{args.against}: {there / 1e6:.2f} M instructions per check")
        print(f"this / that: {here / there:.3f}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""Regenerate docs/skip-connections.md and docs/images/guide_*.png from measurements.

Every command in the guide is run here, in-process through the real CLI
(``typer.testing.CliRunner``), and its output is pasted in as it came, with
long tables shortened where marked. Every number in the prose is read from
the same runs; figures that move with the CPU (timings, and the float
results of training) are given as ranges or rounded. Run from anywhere::

    python scripts/make_guide.py

It trains small networks on scikit-learn's digits (the degradation
experiment dominates: about 10 CPU-minutes, one thread) and needs the
``train`` extra (``pip install -e '.[train]'``: scikit-learn, matplotlib).
``python scripts/make_guide.py SECTION ...`` rewrites only the sections named
(``--help`` lists them with what each reruns); ``--check SECTION ...`` writes
nothing and exits 1 with a diff where the page is not what they print now.
``tests/test_guide.py`` checks that the page is this script's output: the
torch-free commands give exactly the output pasted here, the paths section and
the closing paragraph are what ``--check`` regenerates, the degradation prose,
README and docs/training.md quote the table on the page, and the other
commands still run with the options shown.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import io
import os
import platform
import shlex
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from statistics import median
from types import ModuleType
from typing import Any

os.environ["COLUMNS"] = "100"  # rich tables: the width the guide is written for
os.environ.setdefault("TERM", "dumb")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)  # commands are shown, and run, with paths relative to the repository

import torch  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

import resdsl  # noqa: E402
from resdsl.analysis.blockgrad import BlockGradReport  # noqa: E402
from resdsl.analysis.gradflow import format_ratio  # noqa: E402
from resdsl.analysis.paths import PathReport  # noqa: E402
from resdsl.analysis.paths import plot as plot_paths  # noqa: E402
from resdsl.cli import analyze as analyze_cli  # noqa: E402
from resdsl.cli import app  # noqa: E402
from resdsl.cli import train as train_cli  # noqa: E402
from resdsl.training.degradation import Degradation  # noqa: E402
from resdsl.training.lesion import LesionReport  # noqa: E402
from resdsl.training.loop import History  # noqa: E402

DOC = ROOT / "docs" / "skip-connections.md"
#: Where the figures go, relative to the working folder (the repository, or a scratch one for --check).
IMAGES = Path("docs") / "images"

#: The degradation experiment as the guide runs it (see docs/training.md for what was tried).
DEGRADATION = (
    "resdsl degradation --data digits --steps 504 --seeds 3 --augment crop-flip "
    "--zero-init-residual --threads 1 -o docs/images/guide_degradation.png"
)

# A post-activation bottleneck ResNet with the layout of the official
# pre-activation CIFAR net (depth 9n+2): the ReLU after each merge (a test fixture).
POSTACT = (ROOT / "tests" / "specs" / "postact_resnet.res").read_text(encoding="utf-8")

Say = Callable[[str], None]

#: The blocks of ResNet-20 that change the resolution (and whose shortcut zero-pads).
DOWNSAMPLING = ("layer2.0", "layer3.0")


def run(command: str) -> str:
    """Run a ``resdsl ...`` command line through the CLI; its output, stripped of trailing spaces."""
    args = shlex.split(command)
    assert args[0] == "resdsl", command
    result = CliRunner().invoke(app, args[1:])
    if result.exit_code != 0:
        raise SystemExit(f"{command!r} failed ({result.exit_code}):\n{result.output}")
    return "\n".join(line.rstrip() for line in result.output.splitlines())


def run_capturing(command: str, module: ModuleType, printer: str) -> tuple[str, tuple[Any, ...]]:
    """Run a command and also catch what it hands to its printing function.

    The commands print their results with a module-level function
    (``print_lesions``, ``print_degradation``, ...); wrapping it for one run
    gives the prose the very objects the pasted output shows, without training
    twice.
    """
    real = getattr(module, printer)
    caught: list[tuple[Any, ...]] = []

    def wrapper(*args: Any, **kwargs: Any) -> None:
        caught.append(args)
        real(*args, **kwargs)

    setattr(module, printer, wrapper)
    try:
        text = run(command)
    finally:
        setattr(module, printer, real)
    assert len(caught) == 1, (command, len(caught))
    return text, caught[0]


def shell(command: str, output: str) -> str:
    """A fenced block: the command, then its output."""
    return f"```console\n$ {command}\n{output}\n```\n"


def elide(text: str, head: int, tail: int, what: str = "lines") -> str:
    """Keep the first ``head`` and last ``tail`` lines; say how many were left out."""
    lines = text.splitlines()
    if len(lines) <= head + tail + 1:
        return text
    cut = len(lines) - head - tail
    return "\n".join([*lines[:head], f"[... {cut} {what} left out here ...]", *lines[-tail:]])


def elide_between(text: str, start: str, keep: int, tail: int, nth: int = 1) -> str:
    """From the ``nth`` line containing ``start``, keep ``keep`` lines, cut, keep the last ``tail``.

    The cut ends where the text ends or at the next line that starts a new
    table (a title line without a box character), whichever comes first.
    """
    lines = text.splitlines()
    hits = [k for k, line in enumerate(lines) if start in line]
    i = hits[nth - 1]
    end = next(
        (k for k in range(i + 1, len(lines)) if lines[k].startswith("└")),
        len(lines) - 1,
    )
    head = i + keep
    stop = end - tail + 1
    if stop - head <= 1:
        return text
    return "\n".join([*lines[:head], f"[... {stop - head} lines left out here ...]", *lines[stop:]])


def python_block(code: str) -> tuple[str, str]:
    """Run a snippet of Python (the guide shows exactly this code) and capture what it prints."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        exec(compile(code, "<guide>", "exec"), {"__name__": "__guide__"})
    return code, buffer.getvalue().rstrip()


def python_shown(code: str, output: str) -> str:
    return f"```python\n{code.rstrip()}\n```\n\nOutput:\n\n```text\n{output}\n```\n"


def image(name: str, alt: str) -> str:
    return f"![{alt}](images/{name})\n"


def span(values: list[float], fmt: str = "{:.1%}") -> str:
    """``a`` or ``a-b``: a range as the prose gives it (the figures move with the CPU)."""
    lo, hi = fmt.format(min(values)), fmt.format(max(values))
    return lo if lo == hi else f"{lo} to {hi}"


def _mean(report: PathReport) -> float:
    """The mean number of activations on a path (exact counts, float result)."""
    total = sum(k * c for k, c in report.nonlinearity_histogram.items())
    return total / report.count


# ---------------------------------------------------------------- the page


def intro(say: Say) -> None:
    say(
        "# Skip connections: the questions people ask, answered with resdsl\n\n"
        "<!-- Generated by scripts/make_guide.py: do not edit by hand; run the script. -->\n\n"
        "People who use resdsl keep asking the same questions about skip connections. Each "
        "has a command that answers it on the bundled specs, at initialisation or after "
        "training on a small data set. Everything below was produced by "
        "`scripts/make_guide.py`, which runs the commands and pastes their real output, with "
        f"long tables shortened where marked (torch {torch.__version__}, Python "
        f"{platform.python_version()}, one CPU thread). Figures that move with the CPU, the "
        "seed or the batch are given as ranges. The scientific statements are checked against "
        "He et al. 2015 (*Deep residual learning for image recognition*), He et al. 2016 "
        "(*Identity mappings in deep residual networks*) and Veit et al. 2016 (*Residual "
        "networks behave like ensembles of relatively shallow networks*).\n\n"
        "| question | what resdsl measures | command |\n"
        "|---|---|---|\n"
        "| Why keep layers whose activations go to zero; why not remove them? | the error "
        "of a trained network with one residual branch, or one plain layer, removed | "
        "`resdsl lesion` |\n"
        "| With non-zero weights, doesn't the block hurt? Can it learn the identity? Why "
        "don't extra layers hurt? | blocks that start as their shortcut; deeper plain and "
        "residual networks trained side by side | `resdsl identity`, "
        "`resdsl degradation` |\n"
        "| Why do gradients survive depth (dH/dx = I + dF/dx)? Can the gradient go the "
        "wrong way? | per-layer gradient norms, model against plain twin, at step 0 and "
        "during training; per block, the skip and branch terms of the gradient and their "
        "cosine | `resdsl gradflow --plain-twin`, `resdsl train`, "
        "`resdsl gradflow --blocks` |\n"
        "| Are the layers inside a residual block still trained? | every layer's gradient "
        "and weight norm during training | `resdsl train` |\n"
        "| The degradation problem: a deeper *plain* net has higher *training* error | "
        "plain-20, plain-56, ResNet-20, ResNet-56 trained over three seeds | "
        "`resdsl degradation` |\n"
        "| Why is there no path from input to output without nonlinearities? | the "
        "activations on every input-to-output path, counted exactly | `resdsl paths` |\n\n"
        "## Terms\n\n"
        "A **residual block** computes `H(x) = S(x) + F(x)`, and in the original design "
        "(He et al. 2015) a ReLU after the sum: `y = relu(H(x))`.\n\n"
        "- The **branch** `F` is the block's own layers (conv, batch norm, ReLU, conv, "
        "batch norm in the CIFAR ResNets).\n"
        "- The **shortcut** `S` is what the skip edge computes. Here **identity** means one "
        "thing only, the identity mapping `S(x) = x`: an *identity shortcut* passes its "
        "input unchanged, and its Jacobian is the identity matrix `I`. The first block of a "
        "stage changes the shape, and its shortcut zero-pads the channels (option A of He et "
        "al. 2015) or projects them with a 1x1 conv.\n"
        "- The **skip-only path** is the input-to-output path that takes every skip and no "
        "branch.\n"
        "- The **plain twin** of a model is the same spec with every `skip` statement "
        "removed (`Spec.plain()`, `--plain`): the same layers, names and depth, no skip "
        "edges. The bundled `plain20` and `plain56` (`specs/plain_resnet.res`) are the plain "
        "twins of `resnet20` and `resnet56` (`specs/cifar_resnet.res`).\n\n"
        "The specs: `specs/cifar_resnet.res` (He et al. 2015's CIFAR ResNets, option A "
        "shortcuts, ReLU after the add), `specs/plain_resnet.res` (their plain nets), "
        "`specs/preact_resnet.res` (He et al. 2016's pre-activation ResNets, no ReLU after "
        "the add), `specs/unet.res` (milesial's U-Net) and `specs/rezero.res` (Bachlechner "
        "et al.'s ReZero blocks). The training runs use scikit-learn's bundled digits (1,797 "
        "images of 8x8, no download) with He et al.'s CIFAR recipe: SGD with momentum 0.9, "
        "weight decay 1e-4, batch 128, a warm-up epoch at 0.01, then 0.1 divided by 10 at "
        "50% and 75% of the steps ([training.md](training.md)).\n"
    )


def lesions(say: Say) -> None:
    say(
        '\n## 1. "Why keep layers whose activations go to zero; why not remove them?"\n\n'
        "First what the skips cost. `resdsl compare` puts a model beside its plain twin:\n\n"
    )
    cifar = resdsl.load("specs/cifar_resnet.res")
    cmp56 = cifar.compare("resnet56")
    cmd = "resdsl compare specs/cifar_resnet.res -m resnet56"
    say(shell(cmd, run(cmd)))
    say(
        f"\nOption A shortcuts cost nothing: the plain twin has the same "
        f"{cmp56.model.weighted_layers} weighted layers and {cmp56.model.params:,} "
        "parameters. What the skips change is the structure. In the plain twin every "
        "signal passes through every layer. If a convolution there outputs zeros, the batch "
        "norm after it outputs its bias (a constant), so the network's output no longer "
        "depends on its input at all. In ResNet-56 a branch that outputs zeros leaves its "
        "block computing its shortcut, and the signal goes on.\n\n"
        "That is an argument; `resdsl lesion` measures it, as Veit et al. 2016 did on "
        "ImageNet and CIFAR-10. It trains a model and its plain twin on 75% of the data, "
        "then removes one block at a time and measures the error on the held-out 25%: in "
        "the residual model the branch's output is replaced by zeros (the block passes its "
        "shortcut alone), in the plain twin the block is replaced by the identity mapping "
        "(which needs its output to have its input's shape):\n\n"
    )
    cmd = "resdsl lesion specs/cifar_resnet.res -m resnet20 --data digits --steps 168 --threads 1"
    text, (residual, plain) = run_capturing(cmd, train_cli, "print_lesions")
    say(shell(cmd, text))
    assert isinstance(residual, LesionReport) and isinstance(plain, LesionReport)
    res_changes, plain_changes = residual.changes, plain.changes
    down = {r.target.name: r.change for r in residual.rows if r.target.name in DOWNSAMPLING}
    others = [r for r in residual.rows if r.change is not None and r.target.name not in down]
    worst = sorted(others, key=lambda r: r.change or 0.0, reverse=True)[:2]
    typical = median(r.change or 0.0 for r in others)
    changes = list(down.values())
    verdict = "So here too" if min(c or 0.0 for c in changes) > typical else "Not clearly here"
    first_blocks = all(r.target.name.startswith("layer1.") for r in worst)
    downsampling = (
        "Veit et al. found that removing a block that changes the resolution (its shortcut "
        f"is not the identity mapping) hurts more than removing the others. {verdict}: "
        f"removing the branch of {' or '.join(down)} changes the error by "
        + " and ".join(f"{c:+.1%}" for c in changes)
        + f", against a median of {typical:+.1%} for the other blocks; the costly ones are "
        + " and ".join(f"{r.target.name} ({r.change:+.1%})" for r in worst)
        + (", the first blocks after the stem" if first_blocks else "")
    )
    say(
        f"\nRemoving one of ResNet-20's {len(res_changes)} residual branches changes the "
        f"held-out error by a median of {median(res_changes):+.1%} (at most "
        f"{max(res_changes):+.1%}); removing one of plain-20's {len(plain_changes)} "
        f"removable blocks changes it by a median of {median(plain_changes):+.1%}. "
        "The figures move with the seed and the CPU (`tests/test_lesion.py` pins the "
        "ordering, not the values), but the picture is Veit et al.'s: the residual network "
        "degrades gracefully, the plain one breaks. Their explanation is the unraveled view: "
        "a residual network is a collection of paths of different lengths (section 6), and "
        "deleting one branch removes only the paths through it, while in a plain network "
        f"every path goes through every layer. {downsampling}.\n\n"
        "So a branch whose output is (nearly) zero is not a hole in the network: its block "
        "computes about its shortcut, and what the other branches learned still reaches "
        "the output. Whether such a branch can be *removed* after training is an empirical "
        "question, answered per block by `resdsl lesion`.\n"
    )


def identity_and_degradation(say: Say) -> None:
    say(
        "\n## 2. \"With non-zero weights, doesn't the block hurt? Can it learn the identity? "
        "Why don't extra layers hurt?\"\n\n"
        "If a block's branch outputs zero, the block computes its shortcut; with an "
        "identity shortcut (and, in the original design, a ReLU after the add that sees "
        "non-negative inputs, since the previous block ended with one) that is the identity "
        "mapping. So a deeper residual network can represent a shallower one, which is He "
        "et al. 2015's argument: \"if the added layers can be constructed as identity "
        "mappings, a deeper model should have training error no greater than its shallower "
        "counterpart\" (section 3.1). `resdsl identity` checks, with the model's initial "
        "weights, which blocks compute exactly their shortcut. With PyTorch's default "
        "initialisation (the model's own choice here) none does:\n\n"
    )
    cmd = "resdsl identity specs/cifar_resnet.res -m resnet56"
    say(shell(cmd, elide_between(run(cmd), "┡", 4, 4)))
    say(
        "\nZeroing the last batch-norm scale of every branch (torchvision's "
        "`zero_init_residual`, Goyal et al. 2017) makes every block start as its shortcut; "
        "`gate=rezero` (Bachlechner et al. 2020) does it with a learned scalar that starts "
        "at 0:\n\n"
    )
    cmd = "resdsl identity specs/cifar_resnet.res -m resnet56 --zero-init-residual"
    say(shell(cmd, elide_between(run(cmd), "┡", 4, 4)))
    say(
        '\nThat answers "can it represent the identity", by construction. Whether extra '
        "layers hurt once their weights are not zero is a question about training, and He "
        "et al. 2015 answered it with the degradation experiment (section 5): a 56-layer "
        "*plain* network ends with a higher *training* error than a 20-layer one, so the "
        "solver does not find the identity mapping for the extra layers of a plain net; "
        "with residual blocks it does, or does better. Their Fig. 7 shows what the trained "
        "blocks learn: the responses of a ResNet's layers (each 3x3 conv's output after "
        "batch norm, the last of which is the branch's output) are generally smaller than "
        "in the plain net, and smaller in the deeper ResNets. The residual functions end up "
        "close to zero, small corrections to the shortcut, without being driven to zero.\n"
    )


def _ratio_table(say: Say) -> None:
    """First-conv over last-conv gradient norm during the first SGD steps, plain-56 and ResNet-56."""
    code, output = python_block(
        textwrap.dedent(
            """\
            import resdsl
            from resdsl.training import TrainConfig

            config = TrainConfig(steps=21, seed=0)
            runs = {
                name: resdsl.load(f"specs/{file}").train(name, "digits", config=config)
                for file, name in [("plain_resnet.res", "plain56"), ("cifar_resnet.res", "resnet56")]
            }
            print("step   plain56 first/last conv   resnet56 first/last conv")
            for step in (0, 1, 2, 3, 5, 10, 15, 20):
                cells = []
                for run in runs.values():
                    layers = run.history.records[step].layers
                    convs = [name for name in layers if "conv" in name]
                    cells.append(layers[convs[0]].grad_norm / layers[convs[-1]].grad_norm)
                print(f"{step:4d}   {cells[0]:23.3g}   {cells[1]:24.3g}")
            """
        )
    )
    say(python_shown(code, output))
    rows = {int(line.split()[0]): line.split()[1:] for line in output.splitlines()[1:]}
    first, tenth, last = (float(rows[k][0]) for k in (0, 10, 20))
    res_first, res_tenth = float(rows[0][1]), float(rows[10][1])
    later = (
        "the early layers now get *less* gradient than the late ones"
        if tenth < 1
        else "far from the step-0 ratio"
    )
    say(
        f"\nOn digits, at step 0, plain-56's first conv gets {first:,.0f} times the gradient "
        f"of its last. Ten SGD steps later (still in the warm-up at 0.01) the ratio is "
        f"{tenth:.2g}, and {last:.2g} at step 20: {later}. ResNet-56's goes from "
        f'{res_first:.3g} to {res_tenth:.3g}. So "plain networks\' gradients explode" is a '
        "statement about step 0 only. He et al. 2015 (section 4.1) say that the degradation "
        "they saw is not a vanishing-gradient problem either: their plain nets use batch "
        "norm, they checked that the backward gradients have healthy norms, and they "
        "conjecture that deep plain nets have exponentially low convergence rates "
        "instead.\n"
    )


def gradients(say: Say) -> None:
    say(
        '\n## 3. "Why do gradients survive depth (dH/dx = I + dF/dx)? Can the gradient go '
        'the wrong way?"\n\n'
        "`resdsl gradflow` builds the model with He initialisation, runs one forward and "
        "backward pass on a seeded random batch (training mode, so batch norm uses batch "
        "statistics; cross-entropy against random labels) and records the gradient norm of "
        "every weighted layer's weight, in depth order. `--plain-twin` does the same for "
        "the plain twin, with the same seed, weights and batch:\n\n"
    )
    cmd = (
        "resdsl gradflow specs/cifar_resnet.res -m resnet56 --plain-twin "
        "-o docs/images/guide_gradflow_resnet56.png"
    )
    say(shell(cmd, elide_between(run(cmd), "┡", 6, 6)))
    cifar = resdsl.load("specs/cifar_resnet.res")
    flow = cifar.gradflow("resnet56", plain_twin=True)
    assert flow.plain is not None and flow.model.spread and flow.plain.spread
    m = flow.model
    res_spread, plain_spread = flow.model.spread, flow.plain.spread
    convs = len([x for x in m.layers if x.op == "conv"])
    per_res = res_spread ** (1 / (convs - 1))
    per_plain = plain_spread ** (1 / (convs - 1))
    say(
        "\n"
        + image("guide_gradflow_resnet56.png", "gradient norms of ResNet-56 and its plain twin")
    )
    say(
        f"\nAt step 0, in the plain twin, the gradient grows by about {per_plain:.2f}x per "
        f"layer going down towards the input, {format_ratio(plain_spread)} over the {convs} "
        "convolutions: with batch norm, a deep plain network's gradients *explode* at "
        "initialisation rather than vanish (Yang et al. 2019 show that batch norm itself "
        f"causes this). ResNet-56's grow too, by about {per_res:.3f}x per layer, "
        f"{format_ratio(res_spread)} in all: the compounding happens, more slowly.\n\n"
        "Why more slowly? For an identity shortcut the block's Jacobian is `I + J_F`, a "
        "matrix, so the gradient arriving from above, `g`, leaves the block as "
        "`g + g·J_F`: the **skip term** `g` plus the **branch term** `g·J_F`. The branch "
        "term can point anywhere: it adds to the skip term, or cancels part of it. And in "
        "the original design the ReLU after the add multiplies the gradient by 0 wherever "
        "the sum was negative, *before* it reaches the skip, so not even the skip term "
        "passes unchanged. He et al. 2016 write the decomposition "
        "`dE/dx_l = dE/dx_L (1 + d/dx_l sum F)` for networks where both the shortcut and "
        "the function after the add are identity mappings (pre-activation), and argue that "
        "the second term is unlikely to be -1 for every example of a batch, so the gradient "
        "is unlikely to be cancelled.\n\n"
        "The spreads move with the seed and the batch. From `Spec.gradflow`:\n\n"
    )
    rows = [
        "| init | batch | seed | ResNet-56 | plain twin | ratio |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    ratios: list[float] = []
    for init, batch, seed in [("kaiming", 32, 0), ("kaiming", 32, 1), ("kaiming", 64, 2)]:
        r = (
            flow
            if (init, batch, seed) == ("kaiming", 32, 0)
            else cifar.gradflow("resnet56", plain_twin=True, init=init, batch=batch, seed=seed)
        )
        assert r.plain is not None and r.plain.spread and r.model.spread and r.spread_ratio
        ratios.append(r.spread_ratio)
        rows.append(
            f"| {init} | {batch} | {seed} | {format_ratio(r.model.spread)} | "
            f"{format_ratio(r.plain.spread)} | {format_ratio(r.spread_ratio)} |"
        )
    say("\n".join(rows) + "\n")
    say(
        f"\nThe plain twin's spread is {format_ratio(min(ratios))} to "
        f"{format_ratio(max(ratios))} the residual network's. But this is step 0, on a "
        "random batch. Here are the same first-to-last ratios during training on digits, "
        "read from `resdsl train`'s per-layer log (`Spec.train` returns it):\n\n"
    )
    _ratio_table(say)
    _blocks(say)


def _blocks(say: Say) -> None:
    say(
        "\n`resdsl gradflow --blocks` measures the two terms directly, per block: the norms "
        "of the skip term and of the branch term of the gradient at the block's input, "
        "their cosine (negative: the branch term points against the skip term), how much "
        "gradient the activation after the add passes (for ReLU the fraction of units it "
        "keeps; 1.0 when none follows) and the block's gain (input gradient norm over "
        "output gradient norm). With `--steps N` it trains the model on `--data` and "
        "measures again, on the same batch ([gradflow.md](gradflow.md)):\n\n"
    )
    cmd = "resdsl gradflow specs/cifar_resnet.res -m resnet20 --blocks --steps 168 --batch 128"
    text, (r,) = run_capturing(cmd, analyze_cli, "print_blocks")
    say(shell(cmd, text))
    assert isinstance(r, BlockGradReport) and r.trained is not None
    for when, found in (("init", r.at_init), ("trained", r.trained)):
        assert found, when
    init, trained = r.at_init, r.trained
    against_init = [b for b in init if b.cosine < 0]
    against = [b for b in trained if b.cosine < 0]
    say(
        f"\nAt initialisation the two terms are of the same size and nearly orthogonal "
        f"(cosines {span([b.cosine for b in init], '{:+.2f}')}); the branch term points "
        f"slightly against the skip term in {len(against_init)} of the {len(init)} blocks, "
        f"and the ReLU after the add passes gradient through "
        f"{span([b.passing for b in init], '{:.0%}')} of the units. After {r.steps} steps "
        f"the cosines range {span([b.cosine for b in trained], '{:+.2f}')}, negative in "
        f"{len(against)} of the {len(trained)} blocks, and the ReLUs pass "
        f"{span([b.passing for b in trained], '{:.0%}')}. So the sign of the branch term "
        "is not fixed by the architecture: it is a measurement, and it can point against "
        'the skip term ("the wrong way"), cancelling part of it; in this run it did so '
        "only a little, at initialisation, and the trained branches add to the skip term. "
        "What the post-activation block does not do is pass the skip term unchanged: the "
        "ReLU after the add has already zeroed the gradient of "
        f"{1 - max(b.passing for b in init + trained):.0%} or more of the units. The numbers vary "
        "with the seed and the CPU; the split itself is exact (`tests/test_blockgrad.py`: "
        "skip term plus branch term equals the input gradient measured in an unmodified "
        "pass).\n\n"
        "In a pre-activation network (He et al. 2016) no activation follows the add, and "
        "every block passes all of the gradient it receives to its skip:\n\n"
    )
    cmd = "resdsl gradflow specs/preact_resnet.res -m preact_resnet164 --blocks --batch 8"
    text, (pre,) = run_capturing(cmd, analyze_cli, "print_blocks")
    say(shell(cmd, elide_between(text, "┡", 4, 3)))
    pre_against = [b for b in pre.at_init if b.cosine < 0]
    say(
        f"\nEvery one of its {len(pre.at_init)} blocks passes "
        f"{span([b.passing for b in pre.at_init], '{:.0%}')}: within a stage the gradient "
        "goes from block to block along the identity shortcuts without crossing a ReLU or "
        "a weight layer (between stages it crosses a projection shortcut and the BN-ReLU "
        "that the stage's first unit shares with it; section 6). The branch terms still "
        f"point against the skip term in {len(pre_against)} of the {len(pre.at_init)} "
        "blocks here, at initialisation.\n"
    )


def inner_layers(say: Say) -> None:
    say(
        '\n## 4. "Are the layers inside a residual block still trained?"\n\n'
        "Yes. The branch is added to the shortcut, so the loss depends on it and its layers "
        "get gradients. `resdsl train` logs, at every step, each weighted layer's gradient "
        "norm, weight norm and their ratio (the relative size of an SGD step, before the "
        "learning rate); the table is the last step's:\n\n"
    )
    cmd = "resdsl train specs/cifar_resnet.res -m resnet20 --data digits --steps 168 --threads 1"
    text, (history,) = run_capturing(cmd, train_cli, "print_history")
    say(shell(cmd, elide_between(text, "┡", 5, 4)))
    assert isinstance(history, History)
    first, last = history.records[0], history.records[-1]
    inner = [name for name in first.layers if name.startswith("layer")]
    ratios_first = [first.layers[n].ratio for n in inner]
    ratios_last = [last.layers[n].ratio for n in inner]
    silent = sum(1 for r in history.records for n in inner if r.layers[n].grad_norm == 0.0)
    assert silent == 0, f"{silent} layer-steps without gradient: the prose says none"
    say(
        f"\nAll {len(inner)} convolutions inside the blocks get a non-zero gradient at every "
        f"step (zero gradients in {silent} of the {len(inner) * len(history.records)} "
        f"layer-steps logged): at step 0 their ratios range {span(ratios_first, '{:.2g}')}, at the last step "
        f"{span(ratios_last, '{:.2g}')} (the learning rate has been divided by 100 by then, "
        "and the error is near zero).\n\n"
        "One exception, at the very first step, in the networks that start as their "
        "shortcut. Behind a zero gate the branch's output is multiplied by 0, and so is the "
        "gradient reaching its layers:\n\n"
    )
    cmd = "resdsl gradflow specs/rezero.res -m rezero20"
    say(shell(cmd, elide(run(cmd), 3, 9)))
    code, output = python_block(
        textwrap.dedent(
            """\
            import torch
            import torch.nn.functional as F
            import resdsl

            torch.manual_seed(0)
            net = resdsl.load("specs/rezero.res").compile("rezero20")
            opt = torch.optim.SGD(net.parameters(), lr=0.1)
            x, y = torch.randn(32, 3, 32, 32), torch.randint(0, 10, (32,))
            for step in range(2):
                opt.zero_grad()
                F.cross_entropy(net(x), y).backward()
                silent = [n for n, p in net.named_parameters()
                          if n.endswith("conv1.weight") and p.grad.abs().max() == 0]
                gate = net.blocks[0].rezero.gate
                print(f"step {step}: gate of block 0 = {gate.item():+.4f}, "
                      f"branch convs with zero gradient: {len(silent)} of 9")
                opt.step()
            """
        )
    )
    say(
        "\nThe gates themselves get a gradient (the branch's output projected on the loss's "
        "gradient), so the first update moves them off zero, and from the second step on "
        "every branch is trained:\n\n"
    )
    say(python_shown(code, output))
    say(
        "\n`zero_init_residual` behaves the same way: with the last batch-norm scale at 0, "
        "the layers before it get no gradient until that scale has moved.\n"
    )


def degradation(say: Say) -> None:
    say(
        '\n## 5. "The degradation problem: a deeper plain net has higher training error"\n\n'
        "He et al. 2015 (Fig. 1 and Fig. 6) trained plain and residual networks of 20 to 110 "
        "layers on CIFAR-10: the deeper *plain* networks ended with a higher *training* "
        "error, an optimisation failure rather than overfitting, while the deeper residual "
        "networks trained better. `resdsl degradation` repeats it on digits, with the "
        "bundled plain-20, plain-56, ResNet-20 and ResNet-56, three seeds each (a seed sets "
        "the initial weights, the batch order and the crops). This setting uses He et al.'s "
        "augmentation (each image padded by an eighth of its size, 1 pixel here, randomly "
        "cropped back and randomly mirrored: the training error is that of the augmented "
        "batches, as in their plots, which keeps it away from zero) and zero-initialised "
        "residual branches (Goyal et al. 2017; plain networks have no residual branch to "
        "zero):\n\n"
    )
    text, (result,) = run_capturing(DEGRADATION, train_cli, "print_degradation")
    say(shell(DEGRADATION, text))
    assert isinstance(result, Degradation)
    cpu = sum(r.cpu_seconds for r in result.runs)
    say("\n" + image("guide_degradation.png", "training error against steps, plain and residual"))

    def errors(model: str) -> list[float]:
        return [r.last_epoch_error for r in result.runs if r.model == model]

    p20, p56, r20, r56 = (errors(m) for m in ("plain20", "plain56", "resnet20", "resnet56"))
    seeds = sorted({r.seed for r in result.runs})
    every = all(a > b for a, b in zip(p56, p20, strict=True))
    say(
        f"\nThe whole experiment took about {round(cpu / 60)} CPU-minutes (one thread; the "
        "CPU s column; more wall time on a busy machine). "
        f"Plain-56 ends at {span(p56)} training error and plain-20 at {span(p20)}: "
        f"plain-56 is worse on {'every' if every else 'not every'} seed ({seeds}). With the "
        f"same 56 layers and the same parameters, ResNet-56 ends at {span(r56)} and "
        f"ResNet-20 at {span(r20)} (means {sum(r56) / len(r56):.1%} and "
        f"{sum(r20) / len(r20):.1%}).\n\n"
        "What was tried before this setting, and failed to let the deeper ResNet train at "
        "least as well as the shallower one, is in [training.md](training.md#the-degradation-"
        "experiment): without augmentation digits is too easy (both ResNets reach about 0% "
        "and ResNet-56 is the slower one), and with random labels, or with augmentation but "
        "He initialisation of the branches, ResNet-56 was slower than ResNet-20 within the "
        "same number of steps.\n"
    )


def paths(say: Say) -> None:
    cifar = resdsl.load("specs/cifar_resnet.res")
    preact = resdsl.load("specs/preact_resnet.res")
    r110 = cifar.paths("resnet110")
    p164 = preact.paths("preact_resnet164")
    unet = resdsl.load("specs/unet.res").paths()
    lo95, hi95 = r110.weighted_depth_range(0.95)
    say(
        '\n## 6. "Why is there no path from input to output without nonlinearities?"\n\n'
        "A network with skips is a DAG with many input-to-output paths. `resdsl paths` "
        "counts them and, for each, the activations (nonlinear layers) and the weighted "
        "layers it crosses, exactly and without listing them: a dynamic programme over the "
        "graph carries a histogram along each value, shifted by one at each activation, "
        "summed at each merge and dropped once its last reader has it. A model with "
        "histograms too large to tabulate (tens of thousands of residual blocks) stops "
        "with an error that points at the merge; `--count-only` then gives the count, "
        "the depth ranges and the shortest path without them. Start with the U-Net:\n\n"
    )
    cmd = "resdsl paths specs/unet.res -o docs/images/guide_paths_unet.png"
    say(shell(cmd, run(cmd)))
    say("\n" + image("guide_paths_unet.png", "paths of the U-Net by number of activations"))
    say(
        f"\nThe four nested long skips give {unet.count} paths, and even the shortest crosses "
        f"{unet.min_nonlinearities} ReLUs and {unet.min_weighted_depth} weighted layers: the "
        "skips start *after* the first double conv (`inc`) and end *before* the last one "
        "(`up4_conv`), so they carry features, not pixels. A path with no activation would "
        "add a linear function of the raw input to the output; none of the bundled designs "
        "has one, and `paths` names the activations that every path must cross.\n\n"
        "In the original ResNet:\n\n"
    )
    cmd = (
        "resdsl paths specs/cifar_resnet.res -m resnet110 -o docs/images/guide_paths_resnet110.png"
    )
    say(shell(cmd, elide_between(run(cmd), "A shortest path", 4, 3)))
    say(
        f"\nExactly 2^54 paths; the number through `k` of the 54 residual branches is "
        f"`C(54, k)`, so path lengths are binomial (Veit et al. 2016): 95% of the paths "
        f"cross {lo95} to {hi95} weighted layers, {(lo95 - 2) // 2} to {(hi95 - 2) // 2} "
        "branches. That counts paths; it does not say where the gradient goes. Veit et al. "
        "measured that too: the gradient through a path shrinks quickly with the number of "
        "branches it crosses, so in ResNet-110 most of the gradient during training comes "
        "from paths only 10 to 34 blocks long, well below the typical path's 27 (they call "
        "these the *effective* paths). And no path is free of activations: in the original "
        "(post-activation) design the ReLU after each add sits on the skip-only path, so "
        f"every path crosses at least {r110.min_nonlinearities}.\n\n"
        "Pre-activation ResNets move every ReLU into the branches (He et al. 2016):\n\n"
    )
    cmd = "resdsl paths specs/preact_resnet.res -m preact_resnet1001"
    say(shell(cmd, elide_between(run(cmd), "A shortest path", 3, 2)))
    plot_paths(
        [r110, p164],
        IMAGES / "guide_paths_resnet110_vs_preact164.png",
        title="2^54 paths each: post-activation ResNet-110 vs pre-activation ResNet-164",
    )
    say(
        "\nResNet-110 and pre-activation ResNet-164 both have 54 residual blocks and 2^54 "
        f"paths. ResNet-110's paths cross {r110.min_nonlinearities} to "
        f"{r110.max_nonlinearities} activations, ResNet-164's {p164.min_nonlinearities} to "
        f"{p164.max_nonlinearities}. A typical path crosses about as many in both (the "
        f"histograms are centred near {_mean(r110):.0f} and {_mean(p164):.0f}); what "
        "pre-activation changes is the short end: its skip-only path crosses only the "
        f"{p164.min_nonlinearities} activations that every path crosses.\n\n"
        + image(
            "guide_paths_resnet110_vs_preact164.png",
            "path histograms of ResNet-110 and pre-activation ResNet-164",
        )
    )
    code, output = python_block(
        textwrap.dedent(
            """\
            import resdsl

            POSTACT = '''@POSTACT@'''

            pre = resdsl.load("specs/preact_resnet.res").paths("preact_resnet1001")
            post = resdsl.loads(POSTACT).paths(n=111)
            print("paths:", "2^333" if pre.count == post.count == 2**333 else "?")
            print("fewest activations, pre-activation: ", pre.min_nonlinearities, pre.always_crossed)
            print("fewest activations, post-activation:", post.min_nonlinearities)
            """
        ).replace("@POSTACT@", POSTACT)
    )
    say(
        "\nThe deepest bundled model, pre-activation ResNet-1001, against a post-activation "
        "ResNet of the same depth (the same bottleneck units with the ReLU after the add, "
        "written inline); the counts near `2^333` are exact Python integers:\n\n"
    )
    say(python_shown(code, output))
    say(
        "\nIn the pre-activation network the shortest path crosses 4 activations: the "
        "BN-ReLU that each stage's first unit shares between its branch and its projection "
        "shortcut (three of them), and the final BN-ReLU before pooling. The post-activation "
        "network of the same depth forces 334 on every path. So: the skips are designed to "
        "carry *features*, and `paths` shows how many nonlinear layers separate the input "
        "from the output on the shortest route: 4 in the U-Net and in a pre-activation "
        "ResNet, one per block plus one in a post-activation ResNet.\n"
    )


def closing(say: Say) -> None:
    say(
        "\n## Reproducing this page\n\n"
        "```console\n$ python scripts/make_guide.py\n```\n\n"
        "It reruns every command above and rewrites this file and "
        "`docs/images/guide_*.png` (about 10 CPU-minutes, most of them the degradation "
        "experiment); `python scripts/make_guide.py lesions paths` rewrites just those "
        "sections. The analyses are in `resdsl/analysis/` (`paths.py` and "
        "`compare.py` never import torch), the training runs in `resdsl/training/`, the "
        "commands in `resdsl/cli/`. `tests/test_guide.py` reruns the torch-free commands "
        "and compares their output with this page exactly, regenerates the paths section "
        "and this paragraph (`python scripts/make_guide.py --check paths closing`), checks "
        "that the prose and the README quote the degradation table as it is, and that the "
        "other commands still run as shown.\n\n"
        "References: He, Zhang, Ren, Sun, *Deep residual learning for image recognition* "
        "(2015); He, Zhang, Ren, Sun, *Identity mappings in deep residual networks* (2016); "
        "Veit, Wilber, Belongie, *Residual networks behave like ensembles of relatively "
        "shallow networks* (2016); Goyal et al., *Accurate, large minibatch SGD* (2017); "
        "Yang, Pennington, Rao, Sohl-Dickstein, Schoenholz, *A mean field theory of batch "
        "normalization* (2019); Bachlechner et al., *ReZero is all you need* (2020); "
        "Ronneberger, Fischer, Brox, *U-Net* (2015).\n"
    )


SECTIONS = {
    "intro": intro,
    "lesions": lesions,
    "identity": identity_and_degradation,
    "gradients": gradients,
    "inner": inner_layers,
    "degradation": degradation,
    "paths": paths,
    "closing": closing,
}

#: Where each section starts on the page (the intro at the top).
HEADINGS = {
    "intro": "",
    "lesions": "\n## 1. ",
    "identity": "\n## 2. ",
    "gradients": "\n## 3. ",
    "inner": "\n## 4. ",
    "degradation": "\n## 5. ",
    "paths": "\n## 6. ",
    "closing": "\n## Reproducing this page",
}


def section_bounds(page: str, name: str) -> tuple[int, int]:
    """Where one section's text starts and ends on the page (its heading to the next one's)."""
    order = list(HEADINGS)
    start = page.index(HEADINGS[name]) if HEADINGS[name] else 0
    following = order[order.index(name) + 1 :]
    end = page.index(HEADINGS[following[0]]) if following else len(page)
    return start, end


def replace_section(page: str, name: str, text: str) -> str:
    """The page with one section's text replaced (from its heading to the next section's)."""
    start, end = section_bounds(page, name)
    return page[:start] + text + page[end:]


def check(names: list[str]) -> int:
    """0 when the page's sections ``names`` are what their commands print now; else 1 and a diff.

    The commands run in a scratch folder (``specs/`` linked in), so the figures
    they write do not touch the repository. For the sections whose output does
    not move with the CPU: ``paths`` and ``closing``.
    """
    page = DOC.read_text(encoding="utf-8")
    differ = 0
    with tempfile.TemporaryDirectory() as scratch, contextlib.chdir(scratch):
        Path("specs").symlink_to(ROOT / "specs")
        IMAGES.mkdir(parents=True)
        for name in names:
            parts: list[str] = []
            SECTIONS[name](parts.append)
            start, end = section_bounds(page, name)
            shown, now = page[start:end].splitlines(), "".join(parts).splitlines()
            if shown != now:
                differ = 1
                print(f"section {name!r} of {DOC.relative_to(ROOT)} is not what it prints now:")
                print("\n".join(difflib.unified_diff(shown, now, "page", "now", lineterm="")))
    return differ


#: What rerunning each section runs (for --help); "trains" means CPU-minutes.
COSTS = {
    "intro": "no command (seconds)",
    "lesions": "compare; trains ResNet-20 and its plain twin for lesion",
    "identity": "identity at initialisation (seconds)",
    "gradients": "gradflow; trains plain-56, ResNet-56 (21 steps) and ResNet-20 (168)",
    "inner": "trains ResNet-20 (168 steps); gradflow on ReZero",
    "degradation": "trains 4 models on 3 seeds (about 10 CPU-minutes)",
    "paths": "paths, no torch (seconds)",
    "closing": "no command (seconds)",
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The section names asked for on the command line (none: the whole page), and --check."""
    parser = argparse.ArgumentParser(
        prog="python scripts/make_guide.py",
        description=(
            "Regenerate docs/skip-connections.md and docs/images/guide_*.png by running\n"
            "the commands the page shows. With section names, only those sections of the\n"
            "existing page are rewritten (only their commands rerun); the rest is kept."
        ),
        epilog="sections, and what rerunning each runs:\n"
        + "\n".join(f"  {name:<12} {cost}" for name, cost in COSTS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # No choices=: with nargs="*", Python 3.11 checks the empty default against them.
    parser.add_argument("sections", nargs="*", metavar="SECTION", help="a section name")
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing: rerun the sections named and exit 1, with a diff, where the "
        "page differs from what they print now",
    )
    args = parser.parse_args(argv)
    unknown = [n for n in args.sections if n not in SECTIONS]
    if unknown:
        parser.error(f"unknown section {unknown[0]!r}: the sections are {', '.join(SECTIONS)}")
    if args.check and not args.sections:
        parser.error("--check needs the sections to check, e.g. --check paths closing")
    return args


def main(names: list[str]) -> None:
    """Write the page; with section names, rewrite only those sections of the existing page.

    Rewriting one section (``python scripts/make_guide.py lesions``) runs only its
    commands: the degradation experiment takes minutes, the others seconds.
    """
    started = time.perf_counter()
    torch.set_num_threads(1)
    IMAGES.mkdir(parents=True, exist_ok=True)
    page = DOC.read_text(encoding="utf-8") if names else ""
    for name in names or list(SECTIONS):
        parts: list[str] = []
        SECTIONS[name](parts.append)
        page = replace_section(page, name, "".join(parts)) if names else page + "".join(parts)
        print(f"{name}: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    DOC.write_text(page, encoding="utf-8")
    took = time.perf_counter() - started
    print(f"wrote {DOC.relative_to(ROOT)} and docs/images/guide_*.png in {took:.0f} s")


if __name__ == "__main__":
    arguments = parse_args(sys.argv[1:])
    if arguments.check:
        torch.set_num_threads(1)
        sys.exit(check(arguments.sections))
    main(arguments.sections)

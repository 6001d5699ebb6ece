#!/usr/bin/env python
"""Regenerate docs/skip-connections.md and docs/images/guide_*.png.

Every command in the guide is run here, in-process through the real CLI
(``typer.testing.CliRunner``), and its output is pasted in as it came, with
long tables and paths shortened where marked. Every number in the prose comes
from the same runs. Run from anywhere::

    python scripts/make_guide.py

It takes about a minute on two CPU cores (the gradient-flow measurements
dominate) and needs matplotlib (``pip install -e '.[plot]'``).
"""

from __future__ import annotations

import contextlib
import io
import os
import platform
import shlex
import sys
import textwrap
import time
from pathlib import Path

os.environ["COLUMNS"] = "100"  # rich tables: the width the guide is written for
os.environ.setdefault("TERM", "dumb")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)  # commands are shown, and run, with paths relative to the repository

import torch  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

import resdsl  # noqa: E402
from resdsl.analysis.compare import compare  # noqa: E402
from resdsl.analysis.gradflow import format_ratio, gradient_flow  # noqa: E402
from resdsl.analysis.identity import identity_report  # noqa: E402
from resdsl.analysis.paths import PathReport, format_count  # noqa: E402
from resdsl.analysis.paths import plot as plot_paths  # noqa: E402
from resdsl.cli import app  # noqa: E402

DOC = ROOT / "docs" / "skip-connections.md"
IMAGES = ROOT / "docs" / "images"

# A post-activation bottleneck ResNet with the layout of the official
# pre-activation CIFAR net (depth 9n+2): the ReLU after each merge.
POSTACT = """\
block bottleneck(planes: int, stride: int = 1) {
    conv1: conv(planes, 1, stride=stride, bias=false)
    bn1:   batchnorm
           relu
    conv2: conv(planes, 3, padding=1, bias=false)
    bn2:   batchnorm
           relu
    conv3: conv(planes * 4, 1, bias=false)
    bn3:   batchnorm
    shortcut: skip in -> bn3 (add, shortcut=auto)
           relu
}
block stage(width: int, n: int, stride: int = 1) {
    bottleneck(width, stride=stride)
    repeat n - 1 { bottleneck(width) }
}
model postact_resnet(n: int) {
    input [3, H=32, W=32]
    conv1: conv(16, 3, padding=1, bias=false)
    bn1:   batchnorm
    relu:  relu
    repeat 3 as s { layer{s + 1}: stage(16 * 2 ** s, n, stride=1 if s == 0 else 2) }
    avgpool: adaptive_avgpool(1)
    flatten
    fc: linear(10)
}
"""


def run(command: str) -> str:
    """Run a ``resdsl ...`` command line through the CLI; its output, stripped of trailing spaces."""
    args = shlex.split(command)
    assert args[0] == "resdsl", command
    result = CliRunner().invoke(app, args[1:])
    if result.exit_code != 0:
        raise SystemExit(f"{command!r} failed ({result.exit_code}):\n{result.output}")
    return "\n".join(line.rstrip() for line in result.output.splitlines())


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


def elide_between(text: str, start: str, keep: int, tail: int) -> str:
    """From the first line containing ``start``, keep ``keep`` lines, then the last ``tail``."""
    lines = text.splitlines()
    i = next(k for k, line in enumerate(lines) if start in line)
    head = i + keep
    if len(lines) <= head + tail + 1:
        return text
    cut = len(lines) - head - tail
    return "\n".join([*lines[:head], f"[... {cut} lines left out here ...]", *lines[-tail:]])


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


def _mean(report: PathReport) -> float:
    """The mean number of activations on a path (exact counts, float result)."""
    total = sum(k * c for k, c in report.nonlinearity_histogram.items())
    return total / report.count


def main() -> None:
    started = time.perf_counter()
    IMAGES.mkdir(parents=True, exist_ok=True)
    cifar = resdsl.load("specs/cifar_resnet.res")
    preact = resdsl.load("specs/preact_resnet.res")
    parts: list[str] = []
    say = parts.append

    say(
        "# Skip connections: the questions people ask, answered with resdsl\n\n"
        "<!-- Generated by scripts/make_guide.py: do not edit by hand; run the script. -->\n\n"
        "People who use resdsl keep asking the same questions about skip connections. "
        "Each has a command that answers it on the bundled specs, and usually a figure. "
        "Everything below was produced by `scripts/make_guide.py`, which runs the commands "
        "and pastes their real output, with long tables and paths shortened where marked "
        f"(torch {torch.__version__}, Python {platform.python_version()}, on a CPU).\n\n"
        "| question | what resdsl shows | command |\n"
        "|---|---|---|\n"
        "| If a layer's activation goes to zero, isn't it a waste? Why not remove those "
        "layers? | the plain twin: the same layers without skips, and the gradient flow of "
        "both | `resdsl compare`, `resdsl gradflow --plain-twin` |\n"
        "| Why don't extra residual layers hurt? Can the block learn the identity? | blocks "
        "that start as an exact identity (zero-init or `gate=rezero`), checked numerically "
        "| `resdsl identity` |\n"
        "| Why do gradients survive in deep networks? (dH/dx = dF/dx + 1) | per-layer "
        "gradient norms at initialisation, model against plain twin, on one plot | "
        "`resdsl gradflow --plain-twin -o` |\n"
        "| Are the layers inside a residual block still trained? | the same plot: non-zero "
        "gradients on every weighted layer | `resdsl gradflow` |\n"
        "| Why is there no path from input to output without nonlinearities? (U-Net's long "
        "skips) | the number of activations on every input-to-output path, as a histogram "
        "| `resdsl paths -o` |\n\n"
        "The specs: `specs/cifar_resnet.res` (He et al. 2015's CIFAR ResNets, option A "
        "zero-padding shortcuts), `specs/preact_resnet.res` (He et al. 2016's pre-activation "
        "ResNets), `specs/unet.res` (milesial's U-Net) and `specs/rezero.res` (Bachlechner et "
        "al.'s ReZero blocks). The **plain twin** of a model is the same spec with every "
        "`skip` statement removed (`Spec.plain()`, `--plain`): the same layers, names and "
        "depth, no skip edges.\n"
    )

    # ---------------------------------------------------------------- 1. plain twin
    cmp56 = compare(cifar, "resnet56")
    paths56 = cifar.paths("resnet56")
    plain56 = cifar.plain().paths("resnet56")
    say(
        "\n## 1. \"If a layer's activation goes to zero, isn't it a waste? Why not remove "
        'those layers?"\n\n'
        "Start with what the skips cost. `resdsl compare` puts a model beside its plain twin:\n\n"
    )
    cmd = "resdsl compare specs/cifar_resnet.res -m resnet56"
    say(shell(cmd, run(cmd)))
    say(
        f"\nThe skips of ResNet-56 (option A) cost nothing: the plain twin has the same "
        f"{cmp56.model.weighted_layers} weighted layers, the same "
        f"{cmp56.model.params:,} parameters and the same MACs. Projection shortcuts do "
        "cost something, and `compare` lists them; in the official pre-activation design "
        "three 1x1 convs are all there is:\n\n"
    )
    cmd = "resdsl compare specs/preact_resnet.res -m preact_resnet164"
    say(shell(cmd, run(cmd)))
    say(
        f"\nWhat the skips change is the structure. The plain twin is one chain: every "
        f"layer lies on its single input-to-output path, so a layer whose output goes to "
        f"zero zeroes everything after it, and every one of its "
        f"{plain56.min_nonlinearities} activations is crossed by every signal. ResNet-56 "
        f"has {format_count(paths56.count)} paths; only {len(paths56.always_crossed)} "
        f"activations lie on all of them (the stem's ReLU and the ReLU after each of the "
        f"{paths56.merges} merges: section 5). When a residual branch outputs zero, the "
        "block passes its input through and the network loses only the paths through that "
        "branch. That is why a branch that is (nearly) silent is not a waste of the network "
        "around it, and why removing single blocks from a trained ResNet barely hurts it "
        "while removing a layer from a plain network breaks it (Veit et al. 2016). The "
        "gradient flow of both networks (section 3) shows the other half of the answer: "
        "without the skips, the same layers are much harder to train.\n"
    )

    # ---------------------------------------------------------------- 2. identity
    default56 = identity_report(cifar, "resnet56")
    say(
        '\n## 2. "Why don\'t extra residual layers hurt? Can the block learn the identity?"\n\n'
        "A residual block computes `shortcut(x) + F(x)`. If its branch `F` outputs zero, "
        "the block is exactly its shortcut, so a deeper residual network can always "
        "represent a shallower one: extra blocks have a safe default. `resdsl identity` "
        "builds the model, feeds a random input to each block's skip, runs the branch and "
        "the shortcut with the model's initial weights, and compares the merge's output "
        "with the shortcut's, bit for bit. It also compares the whole model with its "
        "**skip-only path** (the network with every residual branch dropped).\n\n"
        "With the ordinary initialisation no block is the identity yet:\n\n"
    )
    cmd = "resdsl identity specs/cifar_resnet.res -m resnet56"
    say(shell(cmd, elide_between(run(cmd), "┡", 4, 8)))
    say(
        f"\nEach branch adds a random function of about the size of its input (relative "
        f"difference near 1), and the output is {default56.model_distance:.2f} (relative "
        "L2) away from the skip-only path. Zeroing the last batch norm of every branch "
        "(torchvision's `zero_init_residual`, Goyal et al. 2017) makes every block start "
        "as its shortcut:\n\n"
    )
    cmd = "resdsl identity specs/cifar_resnet.res -m resnet56 --zero-init-residual"
    say(shell(cmd, elide_between(run(cmd), "┡", 4, 8)))
    say(
        "\n`gate=rezero` does it in the language: the branch is multiplied by a learnable "
        "scalar that starts at 0 (ReZero, Bachlechner et al. 2020). `specs/rezero.res` "
        "gates every block that way:\n\n"
    )
    cmd = "resdsl identity specs/rezero.res -m rezero110"
    say(shell(cmd, elide_between(run(cmd), "┡", 4, 8)))
    code, output = python_block(
        textwrap.dedent(
            """\
            import torch
            import resdsl

            torch.manual_seed(0)
            net = resdsl.load("specs/rezero.res").compile("rezero110")
            seen = {}
            net.stem.register_forward_hook(lambda m, i, o: seen.update(stem=o))
            net.blocks.register_forward_hook(lambda m, i, o: seen.update(blocks=o))
            net(torch.randn(8, 3, 32, 32))
            print("54 blocks, output equal to the stem's:", torch.equal(seen["blocks"], seen["stem"]))
            """
        )
    )
    say(
        "\nThe same fact, checked on the compiled module with forward hooks: all 54 blocks "
        "of `rezero110` pass the stem's output through bit for bit.\n\n"
    )
    say(python_shown(code, output))
    say(
        "\nSo at initialisation a 110-layer ReZero network computes exactly what its "
        "3-layer stem and its head compute, and training decides how much of each branch "
        "to let in. Whether a block can *learn* the identity later is the same question "
        "the other way round: it has to drive its branch to zero, which a gate or a "
        "batch-norm scale can do with one number.\n"
    )

    # ---------------------------------------------------------------- 3. gradients
    say(
        '\n## 3. "Why do gradients survive in deep networks? (dH/dx = dF/dx + 1)"\n\n'
        "`resdsl gradflow` builds the model with He (kaiming) initialisation, runs one "
        "forward and backward pass on a seeded random batch (training mode, so batch norm "
        "uses batch statistics; cross-entropy against random labels), and records the "
        "gradient norm of every weighted layer's weight in depth order. `--plain-twin` "
        "does the same for the plain twin, with the same seed, weights and batch:\n\n"
    )
    cmd = (
        "resdsl gradflow specs/cifar_resnet.res -m resnet56 --plain-twin "
        "-o docs/images/guide_gradflow_resnet56.png"
    )
    say(shell(cmd, elide_between(run(cmd), "┡", 6, 14)))
    flow = gradient_flow(cifar, "resnet56", plain_twin=True)
    assert flow.plain is not None
    m, p = flow.model, flow.plain
    norms_m = {layer.node: layer.grad_norm for layer in m.layers}
    norms_p = {layer.node: layer.grad_norm for layer in p.layers}
    per_layer = p.spread ** (1 / (len([x for x in p.layers if x.op == "conv"]) - 1))
    say(
        "\n"
        + image("guide_gradflow_resnet56.png", "gradient norms of ResNet-56 and its plain twin")
    )
    say(
        f"\nWhat the plot shows. In the residual network the gradient norms of the 55 "
        f"convolutions stay within a factor of {format_ratio(m.max_min)}: the first conv's "
        f"is {norms_m[m.first]:.3g}, the last one's {norms_m[m.last]:.3g} (a spread of "
        f"{format_ratio(m.spread)}). In the plain twin they span "
        f"{format_ratio(p.spread)}: the last conv's gradient ({norms_p[p.last]:.3g}) is "
        f"about the residual network's, but going down towards the input it grows by about "
        f"{per_layer:.2f}x per layer, to {norms_p[p.first]:,.0f} at the first conv. At "
        "initialisation the plain network's gradients do not vanish, they **explode** "
        "towards the input: with batch norm, each layer of a deep plain network amplifies "
        "the backward signal a little, and the factors compound over the depth (Yang et al. "
        "2019 show batch norm itself causes this gradient explosion at initialisation). In "
        "the residual network a block's Jacobian is `1 + dF/dx`: the identity term carries "
        "the gradient from the top of each stage to the bottom unchanged, and the branches "
        "only add to it, so the compounding never happens. (The last point on each curve is "
        "the linear classifier, whose gradient is set by the loss rather than by depth; the "
        "spread is measured over the convolutions.)\n\n"
        "The numbers are one measurement: they move with the seed and the batch, not the "
        "picture. Spreads (first conv over last conv) for a few settings, from "
        "`resdsl.analysis.gradflow.gradient_flow`:\n\n"
    )
    rows = [
        "| init | batch | seed | ResNet-56 | plain twin | ratio |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    settings = [("kaiming", 32, 0), ("kaiming", 32, 1), ("kaiming", 64, 2), ("default", 32, 0)]
    for init, batch, seed in settings:
        same = (init, batch, seed) == ("kaiming", 32, 0)  # the run above
        r = (
            flow
            if same
            else gradient_flow(
                cifar, "resnet56", plain_twin=True, init=init, batch=batch, seed=seed
            )
        )
        assert r.plain is not None and r.spread_ratio is not None
        rows.append(
            f"| {init} | {batch} | {seed} | {format_ratio(r.model.spread)} | "
            f"{format_ratio(r.plain.spread)} | {format_ratio(r.spread_ratio)} |"
        )
    say("\n".join(rows) + "\n")
    say(
        "\nThe residual network's spread stays within a few tens in every setting; the plain "
        "twin's moves a lot from batch to batch but stays two to three orders of magnitude "
        "wider. The issue that asked for this measurement reported about 13x for the "
        "residual network and about 7,000x for the plain twin; `tests/test_gradflow.py` "
        "pins the ratio between the two at 100x or more for the first setting above.\n"
    )

    # ---------------------------------------------------------------- 4. inner layers
    inner = [x for x in m.layers if ".conv" in x.node]
    say(
        '\n## 4. "Are the layers inside a residual block still trained?"\n\n'
        "The skip does not bypass the block's layers: the branch is added to the shortcut, "
        "so the loss depends on it and its layers get gradients. The plot above shows it: "
        f"every one of ResNet-56's {len(m.layers)} weighted layers has a non-zero gradient, "
        f"the {len(inner)} convolutions inside the blocks between "
        f"{min(x.grad_norm for x in inner):.3g} and {max(x.grad_norm for x in inner):.3g} "
        f"(`gradflow` says `{'every one of its ' + str(len(m.layers)) + ' weighted layers gets a gradient'}`).\n\n"
        "There is one honest exception, at the very first step, in the networks that start "
        "as the identity. Behind a zero gate the branch's output is multiplied by 0, and so "
        "is the gradient reaching its layers:\n\n"
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
                      f"its gradient = {gate.grad.item():+.4f}, "
                      f"branch convs with zero gradient: {len(silent)} of 9")
                opt.step()
            """
        )
    )
    say(
        "\nThe gates themselves get a gradient (it is the branch's output, projected on the "
        "loss's gradient), so the first update moves them off zero, and from the second "
        "step on every branch is trained:\n\n"
    )
    say(python_shown(code, output))
    say(
        "\n`zero_init_residual` behaves the same way: with the last batch-norm scale at 0, "
        "the layers before it get no gradient until that scale has moved.\n"
    )

    # ---------------------------------------------------------------- 5. paths
    r110 = cifar.paths("resnet110")
    p164 = preact.paths("preact_resnet164")
    unet = resdsl.load("specs/unet.res").paths()
    lo95, hi95 = r110.weighted_depth_range(0.95)
    say(
        '\n## 5. "Why is there no path from input to output without nonlinearities?" '
        "(U-Net's long skips)\n\n"
        "A network with skips is a DAG with many input-to-output paths. `resdsl paths` "
        "counts them and, for each, the activations (nonlinear layers) and the weighted "
        "layers it crosses, exactly and without listing them: a dynamic programme over the "
        "graph holds one histogram per node, shifted by one at each activation and summed "
        "at each merge. Start with the U-Net:\n\n"
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
        "In a ResNet the question is sharper, because the skips are meant to be identity "
        "paths:\n\n"
    )
    cmd = (
        "resdsl paths specs/cifar_resnet.res -m resnet110 -o docs/images/guide_paths_resnet110.png"
    )
    say(shell(cmd, elide_between(run(cmd), "A shortest path", 4, 3)))
    say(
        f"\nExactly 2^54 paths, and the number through `k` of the 54 residual branches is "
        f"`C(54, k)`: path lengths are binomial (Veit et al. 2016). 95% of the paths cross "
        f"{lo95} to {hi95} weighted layers, that is {(lo95 - 2) // 2} to {(hi95 - 2) // 2} "
        "residual branches: most of the signal travels through paths of about half the "
        "network's depth. But no path is free of activations: in the original (post-"
        "activation) design the ReLU after each merge sits on the identity path itself, "
        f"so every path crosses at least {r110.min_nonlinearities}.\n\n"
        "Pre-activation ResNets move every ReLU into the branches (He et al. 2016, "
        '"Identity mappings in deep residual networks"):\n\n'
    )
    cmd = "resdsl paths specs/preact_resnet.res -m preact_resnet1001"
    say(shell(cmd, elide_between(run(cmd), "A shortest path", 3, 2)))
    plot_paths(
        [r110, p164],
        IMAGES / "guide_paths_resnet110_vs_preact164.png",
        title="2^54 paths each: post-activation ResNet-110 vs pre-activation ResNet-164",
    )
    say(
        "\nBoth networks below have 54 residual blocks and 2^54 paths. The post-activation "
        "ResNet-110's paths cross 55 to 109 activations, the pre-activation ResNet-164's "
        f"{p164.min_nonlinearities} to {p164.max_nonlinearities}. A typical path crosses "
        f"about as many in both (the histograms are centred near {_mean(r110):.0f} and "
        f"{_mean(p164):.0f}); what pre-activation changes is the short end: its identity "
        "path crosses only the 4 activations that every path crosses.\n\n"
        + image(
            "guide_paths_resnet110_vs_preact164.png",
            "path histograms of ResNet-110 and pre-activation ResNet-164",
        )
    )
    code, output = python_block(
        textwrap.dedent(
            """\
            import time
            import resdsl
            from resdsl.analysis.paths import path_report

            POSTACT = '''@POSTACT@'''

            def timed(spec, *args, **params):
                t0 = time.perf_counter()
                graph = spec.graph(*args, **params)          # elaboration and checks
                t1 = time.perf_counter()
                report = path_report(graph)                  # the counting alone
                t2 = time.perf_counter()
                return report, t1 - t0, t2 - t1

            pre, elab_pre, count_pre = timed(resdsl.load("specs/preact_resnet.res"), "preact_resnet1001")
            post, elab_post, count_post = timed(resdsl.loads(POSTACT), n=111)
            print("paths:", "2^333" if pre.count == post.count == 2**333 else "?")
            print("fewest activations, pre-activation: ", pre.min_nonlinearities, pre.always_crossed)
            print("fewest activations, post-activation:", post.min_nonlinearities)
            print(f"elaboration {elab_pre:.2f} s, counting {count_pre * 1000:.0f} ms (pre-activation)")
            print(f"elaboration {elab_post:.2f} s, counting {count_post * 1000:.0f} ms (post-activation)")
            """
        ).replace("@POSTACT@", POSTACT)
    )
    say(
        "\nThe deepest bundled model, pre-activation ResNet-1001, against a post-activation "
        "ResNet of the same depth (the same bottleneck units with the ReLU after the add, "
        "written inline). The counting handles numbers near `2^333` as exact Python "
        "integers:\n\n"
    )
    say(python_shown(code, output))
    say(
        "\nIn the pre-activation network the shortest path crosses 4 activations: the "
        "BN-ReLU that each stage's first unit shares between its branch and its projection "
        "shortcut (three of them), and the final BN-ReLU before pooling. The post-activation "
        "network of the same depth forces 334 on every path. So the answer to the question: "
        "the skips are designed to carry *features*, and resdsl shows how many nonlinear "
        "layers separate the input from the output on the shortest route: 4 in a U-Net and "
        "in a pre-activation ResNet, one per block plus one in a post-activation ResNet.\n"
    )

    say(
        "\n## Reproducing this page\n\n"
        "```console\n$ python scripts/make_guide.py\n```\n\n"
        "It reruns every command above and rewrites this file and "
        "`docs/images/guide_*.png`. The analyses are in `resdsl/analysis/` (`paths.py` and "
        "`compare.py` never import torch; `gradflow.py` and `identity.py` build the "
        "model), the commands in `resdsl/cli/analyze.py`, and the tests that pin the "
        "numbers in `tests/test_paths.py`, `tests/test_compare.py`, `tests/test_gradflow.py` "
        "and `tests/test_identity.py`.\n\n"
        "References: He, Zhang, Ren, Sun, *Deep residual learning for image recognition* "
        "(2015); He, Zhang, Ren, Sun, *Identity mappings in deep residual networks* (2016); "
        "Veit, Wilber, Belongie, *Residual networks behave like ensembles of relatively "
        "shallow networks* (2016); Goyal et al., *Accurate, large minibatch SGD* (2017); "
        "Yang, Pennington, Rao, Sohl-Dickstein, Schoenholz, *A mean field theory of batch "
        "normalization* (2019); Bachlechner et al., *ReZero is all you need* (2020); "
        "Ronneberger, Fischer, Brox, *U-Net* (2015).\n"
    )

    DOC.write_text("".join(parts), encoding="utf-8")
    took = time.perf_counter() - started
    print(f"wrote {DOC.relative_to(ROOT)} and docs/images/guide_*.png in {took:.0f} s")


if __name__ == "__main__":
    main()

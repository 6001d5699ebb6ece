"""Gradient flow at initialisation: per-layer gradient norms, model against plain twin.

"Why do gradients survive in deep networks?" A residual block computes
``H(x) = x + F(x)``, so ``dH/dx = 1 + dF/dx``: the gradient reaching a block
from above passes to the block below through the identity term unchanged,
whatever the branch does. Without the skips (the plain twin) it must pass
through every layer's Jacobian in turn, and its size drifts geometrically
with depth. "Are the layers inside a residual block still trained?" The same
measurement answers: every weighted layer gets a non-zero gradient.

:func:`measure` builds a model (seeded), runs one forward and backward pass
on a seeded random batch at the model's sample input size, and records the
gradient norm of every weighted layer, in depth order:

- initialisation: He (kaiming) by default, ``init="kaiming"`` of
  :mod:`resdsl.backends.init` (``kaiming_normal_``, fan_out, for ReLU, on every
  convolution; norms at weight 1, bias 0; linear layers keep PyTorch's
  default), the scheme ResNets are trained with; ``init="default"`` keeps
  PyTorch's defaults;
- training mode (batch norm uses batch statistics, as at step 0 of training);
- loss: cross-entropy against seeded random targets when the output is a
  vector of class scores (shape ``[C]``), otherwise the mean of squares of
  the output;
- a weighted layer's gradient norm is the L2 norm of the gradients of its
  weight tensors (``weight``; ``in_proj_weight`` and ``out_proj.weight`` for
  attention), biases left out.

The **spread** is the first layer's gradient norm over the last's, taken
over the convolutions when the model has at least two (the final linear
classifier's gradient is set by the loss, not by depth), otherwise over all
weighted layers on the main path; ``max_min`` is the largest over the
smallest on the same layers. The plain twin is built with the same seed
(with parameter-free shortcuts it starts with exactly the same weights).

**Overflow.** A deep plain network can drive its float32 activations or
gradients past the largest float: a layer whose gradient norm comes out
``inf`` or ``nan`` is marked ``overflow`` (its norm is ``null`` in JSON) and
listed in ``overflow_layers``; no spread is computed from an overflowed norm
(``spread`` and ``max_min`` are ``None`` when any layer they are taken over
overflowed).

>>> import resdsl
>>> spec = resdsl.load("specs/cifar_resnet.res")                      # doctest: +SKIP
>>> graph, plain = spec.graph("resnet56"), spec.plain().graph("resnet56")  # doctest: +SKIP
>>> r = gradient_flow(graph, plain)                                   # doctest: +SKIP
>>> round(r.model.spread), round(r.plain.spread)                      # doctest: +SKIP
(15, 7805)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import networkx as nx
from pydantic import BaseModel, ConfigDict, computed_field

from resdsl.analysis.paths import is_weighted
from resdsl.passes.costs import live_nodes

if TYPE_CHECKING:
    import torch
    from matplotlib.axes import Axes
    from torch import nn

    from resdsl.backends.build import ModelOutput

Step = Callable[[str], None]


class LayerGrad(BaseModel):
    """The gradient of one weighted layer.

    ``depth`` counts the weighted layers on the main path, from 1; a shortcut
    projection sits half-way after the main-path layer before it (``4.5``).
    """

    model_config = ConfigDict(frozen=True)

    node: str
    op: str
    role: str
    depth: float
    params: int
    grad_norm: float
    weight_norm: float

    @computed_field  # type: ignore[prop-decorator]
    @property
    def overflow(self) -> bool:
        """The gradient norm is not a finite number (``inf`` or ``nan``: float32 overflowed)."""
        return not math.isfinite(self.grad_norm)


class GradFlow(BaseModel):
    """Per-layer gradient norms of one model at initialisation (see :func:`measure`)."""

    model_config = ConfigDict(frozen=True, ser_json_inf_nan="null")

    model: str
    plain: bool
    init: str
    seed: int
    batch: int
    loss: Literal["cross_entropy", "mean_square"]
    loss_value: float
    layers: list[LayerGrad]
    spread_over: Literal["conv", "weighted"]
    first: str
    last: str
    spread: float | None
    max_min: float | None
    zero_grad_layers: list[str]
    overflow_layers: list[str] = []
    #: Weighted layers no output depends on (an unused aux head): never run, not measured.
    unused_layers: list[str] = []


class GradFlowReport(BaseModel):
    """A model's gradient flow and, if asked, its plain twin's."""

    model_config = ConfigDict(frozen=True, ser_json_inf_nan="null")

    model: GradFlow
    plain: GradFlow | None = None

    @property
    def spread_ratio(self) -> float | None:
        """How much wider the plain twin's spread is than the model's.

        None without a twin, or when either spread is unknown (overflow).
        """
        if self.plain is None or self.plain.spread is None or not self.model.spread:
            return None
        return self.plain.spread / self.model.spread


def _weighted(graph: nx.DiGraph) -> list[tuple[str, float]]:
    """Weighted nodes in depth order, with their depth (see :class:`LayerGrad`)."""
    out: list[tuple[str, float]] = []
    depth = 0
    for node, data in graph.nodes(data=True):
        if not is_weighted(data):
            continue
        if data["role"] == "layer":
            depth += 1
            out.append((node, float(depth)))
        else:
            out.append((node, depth + 0.5))
    return out


def _weight_grads(module: nn.Module) -> tuple[float, float]:
    import torch

    grads: list[torch.Tensor] = []
    weights: list[torch.Tensor] = []
    for name, p in module.named_parameters():
        if not name.rsplit(".", 1)[-1].endswith("weight"):
            continue
        weights.append(p.detach().float().reshape(-1))
        grads.append(
            p.grad.detach().float().reshape(-1) if p.grad is not None else torch.zeros(p.numel())
        )
    if not weights:
        return 0.0, 0.0
    return float(torch.cat(grads).norm()), float(torch.cat(weights).norm())


def measure(
    graph: nx.DiGraph,
    *,
    seed: int = 0,
    batch: int = 32,
    init: str = "kaiming",
    step: Step | None = None,
) -> GradFlow:
    """One seeded forward/backward pass of a checked graph's model; per-layer gradient norms.

    ``step`` is called with a short description before each unit of work
    (for a progress bar): building, then every innermost block in the forward
    pass and again, in reverse, in the backward pass, then reading the
    gradients; :func:`progress_steps` says how many calls to expect.

    >>> import resdsl
    >>> spec = resdsl.loads('''
    ... model m {
    ...     input [4, H=8, W=8]
    ...     conv1: conv(8, 3, padding=1)
    ...     relu
    ...     conv2: conv(8, 3, padding=1)
    ... }
    ... ''')
    >>> flow = measure(spec.graph(), batch=2)
    >>> [layer.node for layer in flow.layers], flow.loss
    (['conv1', 'conv2'], 'mean_square')
    >>> flow.spread == flow.layers[0].grad_norm / flow.layers[1].grad_norm
    True
    """
    import torch

    from resdsl.backends.build import compile_graph

    def say(text: str) -> None:
        if step is not None:
            step(text)

    name = str(graph.graph["model"]) + (" (plain twin)" if graph.graph.get("plain") else "")
    say(f"building {name}")
    torch.manual_seed(seed)
    model = compile_graph(graph, init=init)
    model.train()
    large = activation_bytes(graph, batch) > CHECKPOINT_ABOVE
    if large:
        _checkpoint_blocks(graph, model)
    with _block_progress(graph, model, say, name) as backward_started, _offloaded(large):
        loss, loss_kind = _forward_loss(graph, model, seed=seed, batch=batch, say=say, name=name)
        backward_started()
        torch.autograd.backward(loss)
    say(f"reading the gradients of {name}")
    live = live_nodes(graph)
    layers = [layer for layer in _layer_grads(graph, model) if layer.node in live]
    over, chosen = _spread_layers(layers, name)
    # The last layer is the first output's: with several outputs (``out``, ``aux``) the
    # graph lists a later head last, which is not where the main output's gradient starts.
    main = nx.ancestors(graph, graph.graph["output"]) | {graph.graph["output"]}
    first, last = chosen[0], [layer for layer in chosen if layer.node in main][-1]
    norms = [layer.grad_norm for layer in chosen]
    finite = all(math.isfinite(n) for n in norms)
    return GradFlow(
        model=str(graph.graph["model"]),
        plain=bool(graph.graph.get("plain", False)),
        init=init,
        seed=seed,
        batch=batch,
        loss=loss_kind,
        loss_value=float(loss.detach()),
        layers=layers,
        spread_over=over,
        first=first.node,
        last=last.node,
        spread=_ratio(first.grad_norm, last.grad_norm) if finite else None,
        max_min=_ratio(max(norms), min(norms)) if finite else None,
        zero_grad_layers=[layer.node for layer in layers if layer.grad_norm == 0.0],
        overflow_layers=[layer.node for layer in layers if layer.overflow],
        unused_layers=[node for node, _ in _weighted(graph) if node not in live],
    )


def _spread_layers(
    layers: list[LayerGrad], name: str
) -> tuple[Literal["conv", "weighted"], list[LayerGrad]]:
    """The main-path layers the spread is taken over: convolutions if two or more, else all."""
    main = [layer for layer in layers if layer.role == "layer"]
    convs = [layer for layer in main if layer.op == "conv"]
    over: Literal["conv", "weighted"] = "conv" if len(convs) >= 2 else "weighted"
    chosen = convs if over == "conv" else main
    if not chosen:
        raise ValueError(f"{name} has no weighted layer: no gradient flow to measure")
    return over, chosen


#: Above this estimate of a forward pass's activations, blocks recompute theirs in backward.
CHECKPOINT_ABOVE = 1 << 30


def activation_bytes(graph: nx.DiGraph, batch: int) -> int:
    """Float32 bytes of every node's value at the sample size: what backward could keep."""
    total = 0
    for _, data in graph.nodes(data=True):
        numel = 1
        for d in data["shape"]:
            numel *= int(d)
        total += numel
    return 4 * batch * total


def innermost_blocks(graph: nx.DiGraph) -> list[str]:
    """Module paths of the block instances with no block inside them, in graph order."""
    blocks = block_paths(graph)
    enclosing: set[str] = set()  # blocks with a block inside them
    for path in blocks:
        while "." in path:
            path = path.rpartition(".")[0]
            enclosing.add(path)
    return [p for p in blocks if p not in enclosing]


def block_paths(graph: nx.DiGraph) -> list[str]:
    """Module paths of every block instance, in graph order."""
    return [p for p, info in graph.graph["scopes"].items() if info.kind == "block" and p]


def _checkpoint_blocks(graph: nx.DiGraph, model: nn.Module) -> None:
    """Run every innermost block under activation checkpointing, to bound memory.

    Backward then keeps each block's input only and recomputes its inside
    (the same values: CPU kernels are deterministic and the random state is
    restored), so the gradients are those of the plain pass. A deep plain twin
    of preact_resnet1001 would otherwise keep several GB of activations;
    the block inputs alone are still 1.6 GB at batch 32, which
    :func:`_offloaded` moves to disk.
    """
    import functools

    from torch.utils.checkpoint import checkpoint

    for path in innermost_blocks(graph):
        module = model.get_submodule(path)
        run = functools.partial(checkpoint, module.forward, use_reentrant=False)
        module.forward = run


#: Saved tensors at least this large go to a temporary file while checkpointing.
OFFLOAD_FROM = 1 << 20


@contextmanager
def _offloaded(active: bool) -> Iterator[None]:
    """While active, tensors that backward keeps (1 MiB and more) wait in temporary files.

    Under checkpointing what backward keeps is each block's input: a few MB
    each, hundreds of them in a deep network. Each is written to a file when
    the forward pass saves it and read back when backward reaches its block,
    so resident memory holds one block's values at a time. Wrap the forward
    and the backward pass: the files are deleted when both are done.
    """
    if not active:
        yield
        return
    import tempfile

    import torch
    from torch import nn

    _return_large_frees_to_os()
    with tempfile.TemporaryDirectory(prefix="resdsl-gradflow-") as folder:
        count = [0]

        def pack(t: torch.Tensor) -> object:
            if t.numel() * t.element_size() < OFFLOAD_FROM or isinstance(t, nn.Parameter):
                return t  # small tensors and parameters stay where they are
            count[0] += 1
            path = Path(folder) / f"{count[0]}.bin"
            t.detach().contiguous().numpy().tofile(path)  # no copy when contiguous
            return _Offloaded(path, tuple(t.shape), t.dtype)

        def unpack(saved: object) -> torch.Tensor:
            if isinstance(saved, _Offloaded):
                numel = math.prod(saved.shape)
                flat = torch.from_file(str(saved.path), size=numel, dtype=saved.dtype)
                return flat.reshape(saved.shape)
            return saved  # type: ignore[return-value]

        with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
            yield


@dataclass(frozen=True)
class _Offloaded:
    """A saved tensor written to a file: where, and what to read it back as."""

    path: Path
    shape: tuple[int, ...]
    dtype: torch.dtype


def _return_large_frees_to_os() -> None:
    """Make glibc give freed blocks of 1 MiB and more back to the system at once.

    By default glibc raises its threshold for doing so as large blocks are
    freed (up to 32 MiB), and then keeps freed activations in its heap: a
    forward pass through preact_resnet1001 that keeps nothing still left
    1.1 GB resident. A fixed threshold costs a little time in page faults.
    Other C libraries, and other systems, are left as they are.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    m_mmap_threshold = -3  # glibc's M_MMAP_THRESHOLD; setting it also stops the raising
    mallopt(m_mmap_threshold, 1 << 20)


@contextmanager
def _block_progress(
    graph: nx.DiGraph, model: nn.Module, say: Step, name: str
) -> Iterator[Callable[[], None]]:
    """Report every innermost block as the forward pass, then the backward pass, reaches it.

    A forward hook on each block reports it and hooks its output tensor, whose
    gradient arrives when backward reaches the block. Yields the function to
    call between the passes (recomputing a checkpointed block runs its
    forward again, which must not count).
    """
    import torch

    paths = innermost_blocks(graph)
    n = len(paths)
    forward = [True]
    seen = [0, 0]

    def hooked(path: str) -> Callable[..., None]:
        def on_forward(module: nn.Module, args: object, output: object) -> None:
            if not forward[0]:
                return
            seen[0] += 1
            say(f"forward {name}: block {seen[0]} of {n} ({path})")
            if isinstance(output, torch.Tensor) and output.requires_grad:
                output.register_hook(lambda grad: on_backward(path))  # type: ignore[no-untyped-call]

        return on_forward

    def on_backward(path: str) -> None:
        seen[1] += 1
        say(f"backward {name}: block {seen[1]} of {n} ({path})")

    def backward_started() -> None:
        forward[0] = False
        say(f"backward {name}")

    handles = [model.get_submodule(p).register_forward_hook(hooked(p)) for p in paths]
    try:
        yield backward_started
    finally:
        for handle in handles:
            handle.remove()


def progress_steps(graph: nx.DiGraph) -> int:
    """How many times :func:`measure` calls ``step`` for this graph (a progress bar's total)."""
    return 4 + 2 * len(innermost_blocks(graph))


def _forward_loss(
    graph: nx.DiGraph, model: nn.Module, *, seed: int, batch: int, say: Step, name: str
) -> tuple[torch.Tensor, Literal["cross_entropy", "mean_square"]]:
    """The model's loss on a seeded batch: cross-entropy for class scores, else mean square."""

    from resdsl.backends.build import sample_input

    x = sample_input(graph, batch, seed=seed)
    say(f"forward {name}")
    return probe_loss(graph, model(x), seed)


def probe_loss(
    graph: nx.DiGraph, y: ModelOutput, seed: int, target: torch.Tensor | None = None
) -> tuple[torch.Tensor, Literal["cross_entropy", "mean_square"]]:
    """The loss the gradient analyses probe with, and its kind.

    Cross-entropy for class scores (against ``target``, else labels drawn with
    ``seed + 1``), else the mean of squares of the output. A model with named
    outputs (``output NAME: REF``) is probed through all of them: the loss is
    the sum of each output's loss, as torchvision's segmentation training sums
    ``out`` and ``aux``, so every head gets a gradient. The kind reported is
    the first output's.

    >>> import torch, resdsl
    >>> graph = resdsl.loads(
    ...     "model m { input [4]\\n a: linear(3)\\n b: linear(2)\\n output main: a\\n output aux: b }"
    ... ).graph()
    >>> y = {"main": torch.zeros(1, 3), "aux": torch.full((1, 2), 2.0)}
    >>> loss, kind = probe_loss(graph, y, 0, target=torch.tensor([0]))
    >>> round(float(loss), 4), kind   # log(3) + log(2): both heads are class scores
    (1.7918, 'cross_entropy')
    """
    if not isinstance(y, dict):
        return _one_loss([int(d) for d in graph.graph["output_shape"]], y, seed, target)
    outputs: dict[str, str] = graph.graph["outputs"]
    losses = [
        _one_loss([int(d) for d in graph.nodes[node]["shape"]], y[name], seed, target)
        for name, node in outputs.items()
    ]
    total = losses[0][0]
    for loss, _ in losses[1:]:
        total = total + loss
    return total, losses[0][1]


def _one_loss(
    out_shape: list[int], y: torch.Tensor, seed: int, target: torch.Tensor | None
) -> tuple[torch.Tensor, Literal["cross_entropy", "mean_square"]]:
    """One output's loss: cross-entropy for class scores (``[classes]``), else mean square."""
    import torch
    import torch.nn.functional as F

    if len(out_shape) == 1 and out_shape[0] > 1:
        if target is None:
            gen = torch.Generator().manual_seed(seed + 1)
            target = torch.randint(0, out_shape[0], (y.shape[0],), generator=gen)
        return F.cross_entropy(y, target), "cross_entropy"
    return y.float().pow(2).mean(), "mean_square"


def _layer_grads(graph: nx.DiGraph, model: nn.Module) -> list[LayerGrad]:
    """Every weighted layer's gradient, read from its module (its path is the node's scope)."""
    layers: list[LayerGrad] = []
    for node, depth in _weighted(graph):
        data = graph.nodes[node]
        grad, weight = _weight_grads(model.get_submodule(str(data["scope"])))
        layers.append(
            LayerGrad(
                node=node,
                op=str(data["op"]),
                role=str(data["role"]),
                depth=depth,
                params=int(data["params"]),
                grad_norm=grad,
                weight_norm=weight,
            )
        )
    return layers


def _ratio(a: float, b: float) -> float:
    if b == 0.0:
        return float("inf") if a else 1.0
    return a / b


def gradient_flow(
    graph: nx.DiGraph,
    plain: nx.DiGraph | None = None,
    *,
    seed: int = 0,
    batch: int = 32,
    init: str = "kaiming",
    step: Step | None = None,
) -> GradFlowReport:
    """Gradient norms of a checked graph's model at initialisation, and of its plain twin if given.

    ``plain`` is the plain twin's graph (``spec.plain().graph(...)``). Both
    are built with the same ``seed`` and see the same batch (a larger input
    costs time: the pass runs on the CPU at the sample size).
    """
    from resdsl.backends.init import resolve_init

    scheme, _ = resolve_init(graph, init, None)  # validates the scheme
    flow = measure(graph, seed=seed, batch=batch, init=scheme, step=step)
    twin = None
    if plain is not None:
        twin = measure(plain, seed=seed, batch=batch, init=scheme, step=step)
    return GradFlowReport(model=flow, plain=twin)


def plot(
    report: GradFlowReport,
    path: str | Path,
    *,
    title: str | None = None,
    format: str | None = None,
) -> None:
    """Write a log-scale plot of gradient norm against depth (model and plain twin).

    ``format`` (``png``, ``svg``, ``pdf``) defaults to the file's extension.
    Needs matplotlib (``pip install 'resdsl[plot]'``).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=110)
    series = [(report.model, "tab:blue", "o")]
    if report.plain is not None:
        series.append((report.plain, "tab:red", "s"))
    overflowed: list[tuple[GradFlow, str]] = []
    for flow, color, marker in series:
        _plot_series(ax, flow, color, marker)
        if flow.overflow_layers:
            overflowed.append((flow, color))
    ax.set_yscale("log")
    for flow, color in overflowed:
        _plot_overflow(ax, flow, color)
    ax.set_xlabel("weighted layer (depth order, input to output)")
    ax.set_ylabel("gradient norm of the layer's weight")
    flow = report.model
    ax.set_title(
        title
        or f"Gradient norms at initialisation (init={flow.init}, batch {flow.batch}, "
        f"seed {flow.seed}, {flow.loss.replace('_', ' ')} loss)",
        fontsize=10,
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(str(path), format=format)
    plt.close(fig)


def _drawn(layer: LayerGrad) -> bool:
    """A finite, non-zero norm: what a log axis can show."""
    return not layer.overflow and layer.grad_norm > 0


def _plot_series(ax: Axes, flow: GradFlow, color: str, marker: str) -> None:
    """One model's finite gradient norms: main-path line, shortcut projections as crosses."""
    main = [layer for layer in flow.layers if layer.role == "layer" and _drawn(layer)]
    spread = "not computed (overflow)" if flow.spread is None else format_ratio(flow.spread)
    label = (
        f"{flow.model}{' plain twin' if flow.plain else ''}: "
        f"spread {spread} (first/last {flow.spread_over})"
    )
    ax.plot(
        [layer.depth for layer in main],
        [layer.grad_norm for layer in main],
        color=color,
        marker=marker,
        markersize=3,
        linewidth=1.2,
        label=label,
    )
    extra = [layer for layer in flow.layers if layer.role != "layer" and _drawn(layer)]
    if extra:
        ax.scatter(
            [layer.depth for layer in extra],
            [layer.grad_norm for layer in extra],
            color=color,
            marker="x",
            s=25,
            label=f"{flow.model} shortcut projections",
        )


def _plot_overflow(ax: Axes, flow: GradFlow, color: str) -> None:
    """Overflowed layers as triangles on the top edge (no finite value to place them at)."""
    depths = [layer.depth for layer in flow.layers if layer.overflow]
    ax.scatter(
        depths,
        [0.97] * len(depths),
        transform=ax.get_xaxis_transform(),
        color=color,
        marker="^",
        s=18,
        clip_on=False,
        label=f"{flow.model}{' plain twin' if flow.plain else ''}: "
        f"{len(depths)} layers overflowed (inf/nan), marked at the top edge",
    )


def format_ratio(value: float) -> str:
    """``13.3x``, ``7,805x``: a spread as people say it.

    >>> format_ratio(13.27), format_ratio(7805.2), format_ratio(float("inf"))
    ('13.3x', '7,805x', 'infinite')
    """
    if value != value or value in (float("inf"), float("-inf")):
        return "infinite"
    if value >= 100:
        return f"{value:,.0f}x"
    return f"{value:.3g}x"


__all__ = [
    "GradFlow",
    "GradFlowReport",
    "LayerGrad",
    "format_ratio",
    "gradient_flow",
    "innermost_blocks",
    "measure",
    "plot",
    "progress_steps",
]

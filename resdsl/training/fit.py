"""From a spec to a trained model: fit the model's input to the data, compile, train.

This is what ``Spec.train`` and ``resdsl train`` do. It reads only the graph's
input shape and symbols (see :mod:`resdsl.ir.graph`) and trains the module
that ``spec.compile`` builds (with He et al.'s initialisation unless told
otherwise): no second interpretation of the graph.

>>> import resdsl, torch
>>> from resdsl.training.data import Dataset
>>> spec = resdsl.loads("model m { input [3, H=32, W=32]; conv(4, 3); adaptive_avgpool(1); flatten }")
>>> data = Dataset("toy", torch.rand(32, 1, 6, 6), torch.arange(32) % 4)
>>> run = train_spec(spec, None, data, TrainConfig(steps=2, batch_size=8))
>>> run.params, run.data.shape, len(run.history.records)
({'H': 6, 'W': 6}, (3, 6, 6), 2)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import networkx as nx
import torch
from torch import nn

from resdsl.backends.build import compile_graph
from resdsl.training.data import Dataset, adapt_channels, input_sizes
from resdsl.training.loop import History, StepRecord, train
from resdsl.training.schedule import TrainConfig


class Spec(Protocol):
    """What training needs of a :class:`resdsl.api.Spec`: its checked graphs."""

    @property
    def is_plain(self) -> bool: ...

    def graph(self, model: str | None = None, /, **params: Any) -> nx.DiGraph: ...


@dataclass
class TrainedModel:
    """A trained module, the graph it was compiled from, the (adapted) data and the log."""

    module: nn.Module
    graph: nx.DiGraph
    params: dict[str, Any]
    data: Dataset
    history: History


def prepare(
    spec: Spec,
    model: str | None,
    data: Dataset,
    params: dict[str, Any],
    *,
    seed: int = 0,
    init: str | None = "kaiming",
    zero_init_residual: bool | None = None,
) -> tuple[nn.Module, nx.DiGraph, dict[str, Any], Dataset]:
    """The module (initialised from ``seed``) and graph for data shaped as ``data``.

    Symbolic input sizes not set in ``params`` take the data's sizes;
    one-channel data is replicated to the model's channels. ``init`` is a
    scheme of :mod:`resdsl.backends.init`: He et al.'s ``"kaiming"`` by
    default, ``None`` for the model's own choice; ``zero_init_residual``
    starts every residual block as its shortcut (Goyal et al. 2017).
    """
    graph = spec.graph(model, **params)
    sizes = input_sizes(graph, data, frozenset(params))
    params = {**params, **sizes}
    if sizes:
        graph = spec.graph(model, **params)
    data = adapt_channels(data, int(graph.graph["input_shape"][0]))
    torch.manual_seed(seed)
    module = compile_graph(graph, init=init, zero_init_residual=zero_init_residual)
    return module, graph, params, data


def train_spec(
    spec: Spec,
    model: str | None,
    data: Dataset,
    config: TrainConfig,
    params: dict[str, Any] | None = None,
    *,
    init: str | None = "kaiming",
    zero_init_residual: bool | None = None,
    device: str = "cpu",
    on_step: Callable[[StepRecord], None] | None = None,
) -> TrainedModel:
    """Compile ``model`` of ``spec`` for ``data`` (He initialisation) and train it with ``config``.

    ``zero_init_residual`` overrides ``config.zero_init_residual`` when given.
    """
    if zero_init_residual is None and config.zero_init_residual:
        zero_init_residual = True
    module, graph, params, data = prepare(
        spec,
        model,
        data,
        dict(params or {}),
        seed=config.seed,
        init=init,
        zero_init_residual=zero_init_residual,
    )
    name = str(graph.graph["model"]) + (" (plain)" if spec.is_plain else "")
    history = train(module, data, config, device=device, on_step=on_step, name=name)
    return TrainedModel(module, graph, params, data, history)


__all__ = ["Spec", "TrainedModel", "prepare", "train_spec"]

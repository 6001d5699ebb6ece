"""The training loop: a compiled model, a data set, a :class:`TrainConfig` -> a :class:`History`.

Every step logs the training loss and error of its batch, the learning rate,
and, for every weighted layer (convolution or linear), the norm of its weight
gradient, the norm of its weight and their ratio: the quantities that show a
plain network failing to optimise while its residual twin trains.

Launched under ``torchrun`` (or inside a process group the caller set up), the
model is wrapped in ``DistributedDataParallel``: each process trains on its
shard of every batch (``DistributedSampler``), gradients are averaged, and the
logged loss and error are those of the whole batch. Ctrl-C ends training
cleanly: the history so far is returned, marked ``interrupted``.

>>> import torch
>>> from resdsl.training.data import Dataset, augment
>>> from resdsl.training.schedule import TrainConfig
>>> _ = torch.manual_seed(0)
>>> data = Dataset("toy", torch.randn(64, 1, 2, 2), torch.arange(64) % 2)
>>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
>>> history = train(model, data, TrainConfig(steps=3, batch_size=16))
>>> [r.step for r in history.records], list(history.records[0].layers)
([0, 1, 2], ['1'])
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import torch
import torch.distributed as dist
from pydantic import BaseModel, ConfigDict, computed_field
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler

from resdsl.diagnostics import ResdslError
from resdsl.training.data import Dataset, augment
from resdsl.training.distributed import SINGLE, World, device_for, process_group, world_from_env
from resdsl.training.schedule import TrainConfig, learning_rate

EVAL_BATCH = 1024


class LayerRecord(BaseModel):
    """One weighted layer at one step: ``|grad W|``, ``|W|`` (Frobenius norms) and their ratio."""

    model_config = ConfigDict(frozen=True)
    grad_norm: float
    weight_norm: float

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ratio(self) -> float:
        return self.grad_norm / self.weight_norm if self.weight_norm else float("inf")


class StepRecord(BaseModel):
    """What one training step logged. ``error`` is the batch's fraction of wrong answers."""

    model_config = ConfigDict(frozen=True)
    step: int
    lr: float
    loss: float
    error: float
    layers: dict[str, LayerRecord]


class History(BaseModel):
    """A training run: its settings, every step's record, and the final training error.

    ``final_error`` is the error over the whole training set in eval mode
    (batch norm's running statistics), after the last step; ``cpu_seconds``
    is this process's CPU time for the run.
    """

    model: str
    data: str
    examples: int
    config: TrainConfig
    device: str
    world_size: int = 1
    records: list[StepRecord] = []
    interrupted: bool = False
    final_error: float | None = None
    cpu_seconds: float = 0.0


def weighted_layers(model: nn.Module) -> dict[str, nn.Module]:
    """The convolutions and linear layers, by module path (``layer1.0.conv1``)."""
    kinds = (nn.modules.conv._ConvNd, nn.Linear)
    return {name: m for name, m in model.named_modules() if isinstance(m, kinds)}


def layer_records(layers: dict[str, nn.Module]) -> dict[str, LayerRecord]:
    """Gradient and weight norms of each layer's ``weight`` (after backward, before the step)."""
    weights: list[torch.Tensor] = [m.weight for m in layers.values()]  # type: ignore[misc]
    grads = [w.grad if w.grad is not None else torch.zeros_like(w) for w in weights]
    norms = torch.stack(
        [torch.linalg.vector_norm(t.detach()).float() for t in (*grads, *weights)]
    ).tolist()
    n = len(weights)
    return {
        name: LayerRecord(grad_norm=norms[i], weight_norm=norms[n + i])
        for i, name in enumerate(layers)
    }


def batches(n: int, batch: int, world: World, seed: int) -> Iterator[torch.Tensor]:
    """Indices of this process's examples, batch after batch, epoch after epoch.

    Every epoch is a fresh seeded permutation (``DistributedSampler``), cut into
    full batches; each process takes its own shard of it.

    >>> [b.tolist() for b, _ in zip(batches(4, 2, SINGLE, 0), range(3))]
    [[0, 1], [3, 2], [1, 3]]
    """
    sampler: DistributedSampler[int] = DistributedSampler(
        range(n),  # type: ignore[arg-type]  # only len() is used
        num_replicas=world.size,
        rank=world.rank,
        shuffle=True,
        seed=seed,
        drop_last=True,
    )
    if len(sampler) < batch:
        raise ResdslError.single(
            "usage",
            f"the batch ({batch * world.size} examples) is larger than the data ({n} examples)",
            hint="use a smaller --batch-size",
        )
    return _epochs(sampler, batch)  # checked now, not at the first batch


def _epochs(sampler: DistributedSampler[int], batch: int) -> Iterator[torch.Tensor]:
    epoch = 0
    while True:
        sampler.set_epoch(epoch)
        order = torch.tensor(list(sampler))
        for start in range(0, len(order) - batch + 1, batch):
            yield order[start : start + batch]
        epoch += 1


def current_world() -> World | None:
    """The process group the caller set up, else the torchrun environment, else None."""
    if dist.is_initialized() and dist.get_world_size() > 1:
        env = world_from_env()
        local = env.local_rank if env is not None else dist.get_rank()
        return World(dist.get_rank(), dist.get_world_size(), local)
    return world_from_env()


def train(
    model: nn.Module,
    data: Dataset,
    config: TrainConfig,
    *,
    device: str = "cpu",
    on_step: Callable[[StepRecord], None] | None = None,
    name: str | None = None,
) -> History:
    """Train ``model`` in place on ``data`` and return what was logged.

    ``on_step`` is called with every step's record (on every process).
    """
    world = current_world()
    where = device_for(device, world)
    size = world.size if world else 1
    if config.batch_size % size:
        raise ResdslError.single(
            "usage",
            f"--batch-size {config.batch_size} does not divide among {size} processes",
        )
    history = History(
        model=name or type(model).__name__,
        data=data.name,
        examples=len(data),
        config=config,
        device=str(where),
        world_size=size,
    )
    start = time.process_time()
    with process_group(world, where):
        history.interrupted = _run(model, data, config, where, world or SINGLE, history, on_step)
        if (world or SINGLE).is_main:
            history.final_error = evaluate_error(model, data, where)
    history.cpu_seconds = time.process_time() - start
    return history


def _run(
    model: nn.Module,
    data: Dataset,
    config: TrainConfig,
    device: torch.device,
    world: World,
    history: History,
    on_step: Callable[[StepRecord], None] | None,
) -> bool:
    """The steps; True if Ctrl-C stopped them."""
    model.to(device).train()
    net: nn.Module = model
    if world.size > 1:
        net = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
    order = batches(len(data), config.batch_size // world.size, world, config.seed)
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=config.lr,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
    )
    layers = weighted_layers(model)
    warmup = config.warmup_steps(len(data))
    # Augmentation draws from its own generator: the same seed gives the same crops on every run.
    crops = torch.Generator().manual_seed(config.seed * 7919 + world.rank)
    try:
        for step in range(config.steps):
            lr = learning_rate(config, step, warmup)
            for group in optimizer.param_groups:
                group["lr"] = lr
            index = next(order)
            x, y = data.x[index], data.y[index].to(device)
            if config.augment != "none":
                x = augment(x, crops, flip=config.augment == "crop-flip")
            x = x.to(device)
            optimizer.zero_grad(set_to_none=True)
            logits = net(x)
            loss = nn.functional.cross_entropy(logits, y)
            torch.autograd.backward(loss)
            record = _record(step, lr, loss, logits, y, layer_records(layers), world)
            optimizer.step()
            history.records.append(record)
            if on_step is not None:
                on_step(record)
    except KeyboardInterrupt:
        return True
    return False


def _record(
    step: int,
    lr: float,
    loss: torch.Tensor,
    logits: torch.Tensor,
    y: torch.Tensor,
    layers: dict[str, LayerRecord],
    world: World,
) -> StepRecord:
    """The step's record, with loss and error over the whole (all processes') batch."""
    n = float(len(y))
    totals = torch.stack(
        [loss.detach() * n, (logits.argmax(1) != y).sum().float(), torch.tensor(n, device=y.device)]
    )
    if world.size > 1:
        dist.all_reduce(totals)
    loss_sum, wrong, count = totals.tolist()
    return StepRecord(step=step, lr=lr, loss=loss_sum / count, error=wrong / count, layers=layers)


@torch.no_grad()
def evaluate_error(model: nn.Module, data: Dataset, device: torch.device | str = "cpu") -> float:
    """The fraction of ``data`` the model gets wrong, in eval mode (its mode is restored after)."""
    was_training = model.training
    model.eval()
    wrong = 0
    try:
        for start in range(0, len(data), EVAL_BATCH):
            x = data.x[start : start + EVAL_BATCH].to(device)
            y = data.y[start : start + EVAL_BATCH].to(device)
            wrong += int((model(x).argmax(1) != y).sum())
    finally:
        model.train(was_training)
    return wrong / len(data) if len(data) else 0.0


__all__ = [
    "History",
    "LayerRecord",
    "StepRecord",
    "batches",
    "evaluate_error",
    "layer_records",
    "train",
    "weighted_layers",
]

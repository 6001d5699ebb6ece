"""The training recipe: SGD with momentum and weight decay, a warm-up, and a step schedule.

The defaults are He et al.'s CIFAR-10 recipe ("Deep Residual Learning for
Image Recognition", 2015, section 4.2): batch 128, learning rate 0.1,
momentum 0.9, weight decay 1e-4, the rate divided by 10 at 32k and 48k of 64k
iterations (here: at 50% and 75% of the steps), and, as they did for
ResNet-110, a warm-up at 0.01: they warmed up "until the training error is
below 80%", about 400 iterations, which is one epoch of CIFAR-10 at batch 128;
here: one epoch (``warmup_epochs``), rounded up to whole steps. On digits
(1,797 examples, 15 steps an epoch at batch 128) a shorter warm-up of 5% of
168 steps let ResNet-56 diverge on one seed of two; one epoch did not.

>>> config = TrainConfig(steps=100)
>>> warmup = config.warmup_steps(examples=640)   # 5 batches of 128 an epoch
>>> [learning_rate(config, s, warmup) for s in (0, 4, 5, 49, 50, 74, 75, 99)]
[0.01, 0.01, 0.1, 0.1, 0.01, 0.01, 0.001, 0.001]
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class TrainConfig(BaseModel):
    """How to train: steps, batch, optimiser and schedule (He et al.'s CIFAR recipe by default).

    ``augment``: ``"crop-flip"`` is He et al.'s CIFAR augmentation (pad by an
    eighth of the size, random crop, random horizontal flip; see
    :func:`resdsl.training.data.augment`), ``"crop"`` the same without the
    flip. ``zero_init_residual`` starts every residual branch at zero (Goyal
    et al. 2017); plain networks have none and are unaffected.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    steps: Annotated[int, Field(gt=0)]
    batch_size: Annotated[int, Field(gt=0)] = 128
    lr: Annotated[float, Field(gt=0)] = 0.1
    momentum: Annotated[float, Field(ge=0)] = 0.9
    weight_decay: Annotated[float, Field(ge=0)] = 1e-4
    warmup_lr: Annotated[float, Field(gt=0)] = 0.01
    warmup_epochs: Annotated[float, Field(ge=0)] = 1.0
    milestones: tuple[float, ...] = (0.5, 0.75)
    lr_factor: Annotated[float, Field(gt=0)] = 0.1
    seed: int = 0
    augment: Literal["none", "crop", "crop-flip"] = "none"
    zero_init_residual: bool = False

    def steps_per_epoch(self, examples: int) -> int:
        """Full batches in one pass over ``examples`` (the last partial batch is dropped)."""
        return max(1, examples // self.batch_size)

    def warmup_steps(self, examples: int) -> int:
        """Steps at ``warmup_lr``: ``warmup_epochs`` epochs of ``examples``, rounded up."""
        return math.ceil(self.warmup_epochs * examples / self.batch_size)

    @property
    def milestone_steps(self) -> tuple[int, ...]:
        """The steps at which the rate is multiplied by ``lr_factor``."""
        return tuple(round(m * self.steps) for m in self.milestones)


def learning_rate(config: TrainConfig, step: int, warmup_steps: int) -> float:
    """The learning rate at a step (counted from 0), after ``warmup_steps`` of warm-up."""
    if step < warmup_steps:
        return config.warmup_lr
    passed = sum(step >= m for m in config.milestone_steps)
    return float(round(config.lr * config.lr_factor**passed, 12))


__all__ = ["TrainConfig", "learning_rate"]

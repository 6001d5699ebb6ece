"""Running under ``torchrun``: which process this is, and the process group.

``torchrun --nproc_per_node N`` starts N copies of the command with ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK`` (and ``MASTER_ADDR``/``MASTER_PORT``) in
their environment; that is how training knows to use
``DistributedDataParallel``: gloo on CPUs, NCCL on GPUs.

>>> world_from_env({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"})
World(rank=1, size=2, local_rank=1)
>>> world_from_env({}) is None
True
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist

from resdsl.diagnostics import ResdslError


@dataclass(frozen=True)
class World:
    """This process's place among the training processes."""

    rank: int
    size: int
    local_rank: int

    @property
    def is_main(self) -> bool:
        """Only the main process (rank 0) writes outputs."""
        return self.rank == 0


SINGLE = World(0, 1, 0)


def world_from_env(env: Mapping[str, str] | None = None) -> World | None:
    """The torchrun environment, or None when not launched by torchrun (or with one process)."""
    env = os.environ if env is None else env
    if "WORLD_SIZE" not in env or "RANK" not in env:
        return None
    try:
        world = World(int(env["RANK"]), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", "0")))
    except ValueError:
        raise ResdslError.single(
            "usage", f"RANK={env['RANK']!r} WORLD_SIZE={env['WORLD_SIZE']!r} are not integers"
        ) from None
    return world if world.size > 1 else None


def device_for(name: str, world: World | None) -> torch.device:
    """The device to train on: ``name`` if this machine has it; under torchrun, GPU ``LOCAL_RANK``.

    >>> device_for("cpu", None)
    device(type='cpu')
    """
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ResdslError.single(
            "usage",
            f"--device {name!r} is not a device",
            hint="for example: cpu, cuda, cuda:1, mps",
        ) from None
    if device.type == "cuda" and world is not None:
        device = torch.device("cuda", world.local_rank)
    if device.type == "cpu":
        return device
    backend = getattr(torch, device.type, None)
    available = backend is not None and backend.is_available()
    if device.type == "cuda" and available and (device.index or 0) >= torch.cuda.device_count():
        available = False
    if not available:
        raise ResdslError.single(
            "usage",
            f"--device {device} is not available on this machine",
            hint="train on the CPU (the default), or on a device this machine has",
        )
    return device


@contextmanager
def process_group(world: World | None, device: torch.device) -> Iterator[None]:
    """Join the process group torchrun set up (NCCL on GPUs, gloo otherwise), and leave it after.

    A group already initialised by the caller is used as it is and left alone.
    """
    if world is None or dist.is_initialized():
        yield
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        yield
    finally:
        dist.destroy_process_group()


__all__ = ["SINGLE", "World", "device_for", "process_group", "world_from_env"]

"""A compiled model trains under DistributedDataParallel (gloo, two processes).

Each worker compiles the spec itself with a different seed (as DDP wants:
one model per process; a module passed to ``mp.spawn`` would share its
storage between the processes), DDP broadcasts rank 0's weights, and each rank
trains a few SGD steps on different data. Gradients are all-reduced, so both
ranks must end with identical weights, different from where they started.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel

import resdsl
from tests.conftest import SPECS

WORLD = 2
STEPS = 3


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def worker(rank: int, port: int, out: str) -> None:
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        torch.manual_seed(rank)  # different initial weights: DDP must broadcast rank 0's
        model = resdsl.load(SPECS / "cifar_resnet.res").compile("resnet20")
        torch.save(dict(model.named_parameters()), Path(out) / f"start{rank}.pt")
        ddp = DistributedDataParallel(model.train())
        optimizer = torch.optim.SGD(ddp.parameters(), lr=0.05, momentum=0.9)
        g = torch.Generator().manual_seed(100 + rank)  # each rank sees different data
        for _ in range(STEPS):
            x = torch.randn(4, 3, 32, 32, generator=g)
            y = torch.randint(0, 10, (4,), generator=g)
            optimizer.zero_grad()
            nn.functional.cross_entropy(ddp(x), y).backward()
            optimizer.step()
        params = {k: v.detach().clone() for k, v in model.named_parameters()}
        torch.save({"class": type(model).__name__, "params": params}, Path(out) / f"{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_ddp_two_ranks_end_with_identical_weights(tmp_path: Path) -> None:
    mp.spawn(worker, args=(free_port(), str(tmp_path)), nprocs=WORLD, join=True)
    results = [torch.load(tmp_path / f"{rank}.pt") for rank in range(WORLD)]
    start = torch.load(tmp_path / "start0.pt")
    other = torch.load(tmp_path / "start1.pt")
    assert not torch.equal(start["conv1.weight"], other["conv1.weight"])
    assert [r["class"] for r in results] == ["Resnet20", "Resnet20"]
    a, b = (r["params"] for r in results)
    assert list(a) == list(start)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert any(not torch.equal(a[k], start[k]) for k in a), "the weights did not move"

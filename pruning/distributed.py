"""Data-parallel training through `torchrun`: one process per device, gradients averaged by DDP.

`torchrun --nproc-per-node N -m pruning.cli train ...` starts N copies; each reads RANK, WORLD_SIZE and
LOCAL_RANK from its environment (without them: one process, no process group). The backend is `nccl` on
GPUs (process i on cuda:LOCAL_RANK) and `gloo` on CPUs. Every process sees its share of each global
batch (`--batch-size` is the global one); the loss is normalised by the global count of matched
anchors, so the averaged gradient is the one a single process on the whole batch would compute. Only
rank 0 writes checkpoints, logs and progress.

BatchNorm statistics are per process (SyncBatchNorm has no CPU path to test here): keep each process's
share of the batch at 8 images or more.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pruning.device import DeviceError

if TYPE_CHECKING:  # torch is imported where it is used, so that the CLI reads the environment without it
    import torch
    from torch import nn


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (rank 0 of 1 when not under torchrun)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Whether this process writes checkpoints, logs and progress."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def world_from_env() -> World:
    """RANK, WORLD_SIZE and LOCAL_RANK as torchrun sets them; a single process when they are absent."""
    try:
        return World(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                     int(os.environ.get("LOCAL_RANK", 0)))
    except ValueError as exc:
        raise ValueError(f"torchrun environment (RANK, WORLD_SIZE, LOCAL_RANK): {exc}") from None


def process_device(device: torch.device, world: World) -> torch.device:
    """The device of this process: under torchrun on GPUs, process i takes cuda:LOCAL_RANK."""
    import torch

    if not world.distributed or device.type != "cuda":
        return device
    if device.index is not None:
        raise DeviceError(f"device {device}: under torchrun each process takes cuda:LOCAL_RANK; pass --device cuda "
                          "(choose GPUs with CUDA_VISIBLE_DEVICES)")
    return torch.device("cuda", world.local_rank)


@contextmanager
def process_group(device: torch.device, world: World) -> Iterator[World]:
    """Joins the torchrun process group for the block (nccl on CUDA, gloo on CPU); nothing when single."""
    if not world.distributed:
        yield world
        return
    import torch
    import torch.distributed as dist

    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        yield world
    finally:
        dist.destroy_process_group()


def wrap(model: nn.Module, device: torch.device, world: World) -> nn.Module:
    """`model` for training: itself in one process, in DistributedDataParallel across several."""
    if not world.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel wrapper (its anchors, its state dict)."""
    from torch.nn.parallel import DistributedDataParallel

    return model.module if isinstance(model, DistributedDataParallel) else model


def global_share(count: torch.Tensor) -> torch.Tensor:
    """The factor that turns a loss normalised by this process's `count` (of matched anchors, at least 1)
    into one normalised by the count over all processes, once DDP averages the gradients: 1 when single."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return torch.ones((), device=count.device)
    total = count.detach().clone().float()
    dist.all_reduce(total)
    return count.detach().float().clamp(min=1) * dist.get_world_size() / total.clamp(min=1)


def mean_over_processes(values: dict[str, float], device: torch.device) -> dict[str, float]:
    """Per-process figures (mean losses) averaged over all processes, for rank 0's log."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or not values:
        return values
    tensor = torch.tensor(list(values.values()), dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return dict(zip(values, (tensor / dist.get_world_size()).tolist(), strict=True))

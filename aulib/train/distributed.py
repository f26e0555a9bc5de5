"""Multi-process training helpers: one code path for 1 process and for ``torchrun``.

``fit`` calls :func:`setup` once. When the process was started by ``torchrun`` (the
``WORLD_SIZE``/``RANK`` environment variables) or a process group already exists, the model
is wrapped in DistributedDataParallel (NCCL on CUDA, gloo on CPU), each rank reads its shard
through a ``DistributedSampler`` and only rank 0 writes checkpoints and progress bars.
Without them everything is a no-op and training runs in this process.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    enabled: bool
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(device: str) -> DistInfo:
    """Join (or start) the process group when running distributed; else a 1-process info."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(True, dist.get_rank(), dist.get_world_size(),
                        int(os.environ.get("LOCAL_RANK", dist.get_rank())))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or not dist.is_available():
        return DistInfo(False)
    backend = "nccl" if device.startswith("cuda") else "gloo"
    dist.init_process_group(backend=backend)
    return DistInfo(True, dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def local_device(device: str, info: DistInfo) -> str:
    """``cuda`` -> ``cuda:<local_rank>`` under DDP (one GPU per process)."""
    if info.enabled and device == "cuda":
        torch.cuda.set_device(info.local_rank)
        return f"cuda:{info.local_rank}"
    return device


def wrap(model, info: DistInfo, device: str):
    if not info.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP

    ids = [torch.device(device).index] if device.startswith("cuda") else None
    return DDP(model, device_ids=ids,
               find_unused_parameters=bool(getattr(model, "ddp_find_unused_parameters", False)))


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def broadcast_object(obj, info: DistInfo):
    if not info.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_objects(obj, info: DistInfo) -> list:
    """All ranks' ``obj`` as a list (rank order); ``[obj]`` when not distributed."""
    if not info.enabled:
        return [obj]
    out = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def all_reduce_mean(value: float, info: DistInfo) -> float:
    if not info.enabled:
        return value
    t = torch.tensor([value], dtype=torch.float64)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t)
    return float(t.item()) / info.world_size

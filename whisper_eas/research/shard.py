"""Runs spread over processes and machines with torch.distributed: `eval`, `search` and
`transcribe` under torchrun.

    torchrun --nproc-per-node 2 -m whisper_eas eval --data ... --model base --output r.jsonl
    torchrun --nnodes 2 --nproc-per-node 8 --rdzv-backend c10d --rdzv-endpoint host:29500 \
        -m whisper_eas search ...

torchrun starts the processes (on one machine, or on several through its rendezvous) and sets
RANK, WORLD_SIZE and LOCAL_RANK in each; without them a run is one process and nothing here
applies. Each rank takes every WORLD_SIZE-th item (utterance or file) from its rank on, runs
them with the ordinary one-process code, and writes its own part; rank 0 merges the parts into
the file one process would have written. Ranks meet only at barriers (gloo on CPU, NCCL on
CUDA, where rank r takes the GPU of its LOCAL_RANK).
"""

import datetime
import os
from dataclasses import dataclass

import torch

# A rank waits at a barrier while the others finish their share of a configuration; that may
# take hours on a big data set (gloo's default gives up after 30 minutes).
BARRIER_TIMEOUT = datetime.timedelta(hours=24)


@dataclass(frozen=True)
class Shard:
    rank: int = 0
    world: int = 1

    def mine(self, items: list) -> list:
        """This rank's items: every world-th from its rank on, in their order."""
        return items[self.rank :: self.world]

    def barrier(self) -> None:
        if self.world > 1:
            torch.distributed.barrier()

    @property
    def main(self) -> bool:
        return self.rank == 0


def join(device: str) -> tuple[Shard, str]:
    """This process's shard and device. Under torchrun the process group is joined (once) and a
    CUDA rank takes the GPU of its LOCAL_RANK; otherwise (one process) nothing changes."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Shard(), device
    if device.startswith("cuda"):
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
        torch.cuda.set_device(device)
    if not torch.distributed.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        torch.distributed.init_process_group(backend, timeout=BARRIER_TIMEOUT)
    return Shard(torch.distributed.get_rank(), torch.distributed.get_world_size()), device


def leave() -> None:
    """Close the process group at the end of a sharded run (nothing in one process)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()

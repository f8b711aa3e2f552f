"""Gradients shared through ``torch.distributed`` (NCCL on GPUs, gloo on CPUs)
for networks on the torch backend: the block vectors never leave the device."""

from __future__ import annotations

import os

from ..errors import ArgumentError, BackendUnavailable
from .blocks import BlockReducer, gather_padded
from .guard import report_failure


class TorchDistributedReducer(BlockReducer):
    """The reducer of an initialised ``torch.distributed`` process ``group``
    (None: the default group).  ``reduce`` and ``block_size`` as for
    :class:`MPIReducer`: exact pads every rank's block vectors to the largest
    share and uses one equal-size all-gather; fast uses one all-reduce.

    With NCCL, call ``torch.cuda.set_device(local_rank)`` before
    ``init_process_group``: ``agree`` sends Python values through the device.
    """

    def __init__(self, group=None, *, reduce: str = "exact", block_size: int | None = None):
        super().__init__(reduce=reduce, block_size=block_size)
        try:
            import torch.distributed as dist
        except ImportError as exc:
            raise BackendUnavailable("TorchDistributedReducer needs PyTorch: pip install torch") from exc
        if not (dist.is_available() and dist.is_initialized()):
            raise ArgumentError(
                "TorchDistributedReducer needs torch.distributed.init_process_group(...) to have been called first"
            )
        self._dist = dist
        self.group = group
        self.rank = dist.get_rank(group)
        self.size = dist.get_world_size(group)
        # torch 2.13 renamed all_gather_into_tensor (now deprecated) to all_gather_single
        self._all_gather = getattr(dist, "all_gather_single", None) or dist.all_gather_into_tensor

    def agree(self, value):
        """Rank 0's ``value`` (any picklable Python value), on every rank."""
        box = [value]
        root = 0 if self.group is None else self._dist.get_global_rank(self.group, 0)
        self._dist.broadcast_object_list(box, src=root, group=self.group)
        return box[0]

    def abort(self, exc: BaseException) -> None:
        """Print which rank failed and why, then end this process at once with
        exit code 1 (torch.distributed has no abort for the others: torchrun
        and mpiexec end the job when a rank exits so; gloo peers fail on the
        closed connection, NCCL peers at the process group's timeout)."""
        if self.size > 1:
            report_failure(self.rank, self.size, exc)
            os._exit(1)

    def _gather_blocks(self, local, counts):
        import torch

        def gather_equal(padded):
            out = torch.empty((self.size * padded.shape[0], padded.shape[1]), dtype=padded.dtype, device=padded.device)
            self._all_gather(out, padded.contiguous(), group=self.group)
            return out

        return gather_padded(local, counts, gather_equal)

    def _sum(self, flat):
        total = flat.clone()
        self._dist.all_reduce(total, group=self.group)
        return total

    def _gather_objects(self, value) -> list:
        everyone = [None] * self.size
        self._dist.all_gather_object(everyone, value, group=self.group)
        return everyone

    def __repr__(self) -> str:
        return (
            f"TorchDistributedReducer(rank {self.rank} of {self.size}, reduce={self.reduce!r}, "
            f"block_size={self.block_size})"
        )

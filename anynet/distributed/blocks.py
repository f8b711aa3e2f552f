"""The part of every multi-process reducer that does not talk to a network:
how a mini-batch is cut into blocks and shared among ranks, how block
gradients are flattened into one vector and back, and the fixed order in
which block gradients are added.  One copy, used by the MPI, NCCL and
torch.distributed reducers alike.
"""

from __future__ import annotations

import itertools
import math

import array_api_compat

from ..xp.backend import get_backend, namespace_of
from ..errors import ArgumentError, ArgumentTypeError, DistributedError
from ..model.params import book_lists, from_book

REDUCE_MODES = ("exact", "fast")
# The default of ``reduce="exact"``: every mini-batch in this many blocks.
# A count, not a function of the number of ranks, so that the blocks (and
# the bits) are the same on any number of ranks; 4 gives each of up to 4
# ranks a block (README, Scale, for what it costs against ``reduce="fast"``).
DEFAULT_BLOCKS = 4


def default_block_size(rows: int) -> int:
    """Rows per block of the exact reduction when none is given: a mini-batch
    of ``rows`` rows in :data:`DEFAULT_BLOCKS` blocks, ``ceil(rows / 4)``
    rows each (fewer blocks when ``rows < 4``)."""
    return max(1, math.ceil(rows / DEFAULT_BLOCKS))


class BlockPlan:
    """A mini-batch of ``m`` rows cut into blocks of ``block_size`` rows (the
    last one may be shorter) and the blocks dealt to ``size`` ranks as
    contiguous runs, the first ``K % size`` ranks taking one block more.

    Block boundaries depend on ``m`` and ``block_size`` only, never on
    ``size``: that is what makes the exact reduction independent of the
    number of ranks.  Rank 0 always holds a block; a rank holds none when
    there are fewer blocks than ranks.
    """

    def __init__(self, m: int, block_size: int, size: int):
        self.bounds = [(start, min(start + block_size, m)) for start in range(0, m, block_size)]
        per_rank, extra = divmod(len(self.bounds), size)
        self.counts = [per_rank + (rank < extra) for rank in range(size)]
        self.firsts = [sum(self.counts[:rank]) for rank in range(size)]

    def blocks(self, rank: int) -> list[tuple[int, int]]:
        """The ``(start, stop)`` row ranges of the blocks ``rank`` computes, in block order."""
        first = self.firsts[rank]
        return self.bounds[first : first + self.counts[rank]]

    def rows(self, rank: int) -> tuple[int, int]:
        """The ``(start, stop)`` rows of ``rank``'s whole share (``start == stop`` for none)."""
        mine = self.blocks(rank)
        if not mine:
            return (self.bounds[-1][1],) * 2
        return mine[0][0], mine[-1][1]


def fold(rows):
    """``rows[0] + rows[1] + ... + rows[K-1]``, added strictly left to right.

    Floating-point addition is not associative, so the order is the result:
    this one depends on K alone, and an element-wise add of two vectors is
    correctly rounded on every device, so the host (NumPy) and a GPU (CuPy,
    torch) give the same bits.  ``sum(axis=0)`` would not do: its order is
    each library's implementation detail (NumPy adds rows one by one today;
    CUDA reductions use trees shaped by the launch configuration).
    """
    total = rows[0]
    for k in range(1, rows.shape[0]):
        total = total + rows[k]
    return total


class Layout:
    """Where each gradient array of a list of Params sits in one flat vector
    (every bias gradient, then every weight gradient: the order anynet 0.2
    sent, kept so that a fast all-reduce adds each number where it did), with
    the backend (namespace, device, dtype) they live on."""

    def __init__(self, grads):
        arrays = self.arrays(grads)
        self.n_b = len(grads)
        self.shapes = [tuple(a.shape) for a in arrays]
        self.lengths = [math.prod(shape) for shape in self.shapes]
        self.size = sum(self.lengths)
        ends = list(itertools.accumulate(self.lengths))
        self.parts = list(zip([0, *ends[:-1]], ends, self.shapes))  # (start, stop, shape) of each array in the vector
        self.backend = get_backend(arrays[0], dtype=arrays[0].dtype)
        self.xp = namespace_of(arrays[0])

    @staticmethod
    def arrays(grads) -> list:
        """The gradient arrays of a list of Params in the order of the flat
        vector: every bias gradient, then every weight gradient."""
        weights, biases = book_lists(grads)
        return biases + weights

    def flatten(self, grads):
        """One 1-D array of the backend: every bias gradient, then every weight gradient."""
        xp = self.xp
        return xp.concat([xp.reshape(a, (-1,)) for a in self.arrays(grads)])

    def zeros(self, rows: int):
        """A ``(rows, size)`` array of zeros on the backend."""
        return self.xp.zeros((rows, self.size), dtype=self.backend.dtype, device=self.backend.device)

    def unflatten(self, flat):
        """The gradients (a list of Params) on the backend from a flat vector
        of the backend or of the host (moved to the device in one transfer)."""
        if not self.backend.owns(flat):
            flat = self.backend.asarray(flat)
        reshape = self.xp.reshape
        arrays = [reshape(flat[start:stop], shape) for start, stop, shape in self.parts]
        return from_book(arrays[self.n_b :], arrays[: self.n_b])

    def signature(self) -> tuple:
        """What must be the same on every rank: the shapes and the dtype."""
        return tuple(self.shapes), self.backend.dtype_name


class BlockReducer:
    """``batch_gradients`` for any transport.  A subclass sets ``rank`` and
    ``size`` and supplies three collectives:

    * ``_gather_blocks(local, counts)``: ``local`` is this rank's
      ``(counts[rank], P)`` block vectors; return all ``(sum(counts), P)`` in
      rank order (a host NumPy array or one of the backend);
    * ``_sum(flat)``: the element-wise sum of every rank's ``(P,)`` vector;
    * ``_gather_objects(value)``: every rank's small Python value, as a list.

    ``reduce="exact"`` computes every block's gradient by itself, gathers all
    block vectors and folds them in block order on every rank: the same bits
    for any number of ranks, for K block-gradient calls and K*P numbers
    gathered per step (K blocks, P parameters); ``block_size`` rows per block,
    by default a quarter of the mini-batch (:func:`default_block_size`).
    ``reduce="fast"`` computes a
    rank's whole share in one call and sums the shares with one all-reduce of
    P numbers, whose order depends on the number of ranks: results agree to
    rounding, not to the bit.
    """

    rank = 0
    size = 1

    def __init__(self, *, reduce: str = "exact", block_size: int | None = None):
        if reduce not in REDUCE_MODES:
            raise ArgumentError(f"reduce must be one of {', '.join(REDUCE_MODES)}, not {reduce!r}")
        if block_size is not None:
            if isinstance(block_size, bool) or not isinstance(block_size, int):
                raise ArgumentTypeError(f"block_size must be a whole number of rows, not {type(block_size).__name__}")
            if block_size < 1:
                raise ArgumentError(f"block_size must be at least 1 row, not {block_size}")
        self.reduce = reduce
        self.block_size = block_size
        self._checked = None
        self._plans, self._layouts = {}, {}

    def computing(self) -> tuple[int, int]:
        """``(rank, ranks)``: this rank's place among the ranks that compute
        blocks, and how many do (every rank here; see
        :meth:`MPIReducer.begin_epoch <anynet.distributed.MPIReducer.begin_epoch>`)."""
        return self.rank, self.size

    def begin_epoch(self) -> bool:
        """Called by the training loop on every rank as an epoch starts: whether this rank computes (always)."""
        return True

    def end_epoch(self, params, state):
        """Called by the training loop as an epoch ends: the parameters and optimizer state every rank goes on with."""
        return params, state

    def _plan(self, rows: int) -> BlockPlan:
        """The BlockPlan of a mini-batch of ``rows`` rows, made once per size."""
        key = (rows, self.block_rows(rows), self.computing()[1])
        if key not in self._plans:
            self._plans[key] = BlockPlan(*key)
        return self._plans[key]

    def _layout(self, gradients) -> Layout:
        """The Layout of ``gradients`` (a list of Params), made once per
        array type, dtype, device and shapes: finding the backend of an
        array costs more than a small network's step on the host."""
        arrays = Layout.arrays(gradients)
        first = arrays[0]
        key = (type(first), first.dtype, array_api_compat.device(first), *(a.shape for a in arrays))
        if key not in self._layouts:
            self._layouts = {key: Layout(gradients)}  # the latest only
        return self._layouts[key]

    @property
    def is_root(self) -> bool:
        return self.rank == 0

    def block_rows(self, rows: int) -> int:
        """The rows per block of a mini-batch of ``rows`` rows: ``block_size``
        when given; else :func:`default_block_size` for exact, and single rows
        for fast (whose ranks then get shares that differ by at most a row)."""
        if self.block_size is not None:
            return self.block_size
        return default_block_size(rows) if self.reduce == "exact" else 1

    def local_rows(self, rows: int) -> tuple[int, int]:
        """The rows ``(start, stop)`` of a mini-batch of ``rows`` rows that
        this rank reads: its blocks (exact) or its share (fast); block 0 for
        a rank without any, which computes it only to learn the gradients'
        shapes (it would wait for the others anyway)."""
        plan = self._plan(rows)
        start, stop = plan.rows(self.computing()[0])
        return (start, stop) if stop > start else plan.bounds[0]

    def batch_gradients(self, grad_fn, x, targets, rows=None):
        """The gradient (a list of Params) summed over every row of the
        mini-batch ``(x, targets)``, the same on every rank; ``grad_fn(x_rows,
        target_rows)`` returns the summed gradient of some rows.  With
        ``rows``, the mini-batch has ``rows`` rows and ``x`` and ``targets``
        hold only those of :meth:`local_rows` (a rank need not gather the rest)."""
        m = x.shape[0] if rows is None else rows
        plan = self._plan(m)
        offset = 0 if rows is None else self.local_rows(rows)[0]

        def part(a, b):
            return grad_fn(x[a - offset : b - offset, ...], targets[a - offset : b - offset, ...])

        shape, rank = (m, *x.shape[1:]), self.computing()[0]
        if self.reduce == "fast":
            start, stop = plan.rows(rank)
            if stop > start:
                grads = part(start, stop)
                layout = self._layout(grads)
                flat = layout.flatten(grads)
            else:  # no rows here: block 0 tells the shapes; this rank adds zeros
                layout = self._layout(part(*plan.bounds[0]))
                flat = layout.zeros(1)[0]
            self._check_agreement(layout, shape)
            return layout.unflatten(self._sum(flat))
        grads = [part(a, b) for a, b in plan.blocks(rank)]
        layout = self._layout(grads[0] if grads else part(*plan.bounds[0]))  # block 0 tells a rank without blocks the shapes
        self._check_agreement(layout, shape)
        return layout.unflatten(self._fold_blocks(layout, grads, plan))

    def _fold_blocks(self, layout, grads, plan):
        """Every rank's block vectors gathered and folded in block order
        (:func:`fold`), given this rank's block gradients ``grads``: a flat
        vector of the backend or of the host."""
        if grads:
            local = layout.xp.stack([layout.flatten(g) for g in grads])
        else:
            local = layout.zeros(0)
        return fold(self._gather_blocks(local, plan.counts))

    def _check_agreement(self, layout, shape) -> None:
        """Whenever the batch shape changes (the first and the last mini-batch
        of an epoch): every rank has the same batch shape and gradient shapes,
        else the collectives would mismatch or hang."""
        if self._checked is not None and self._checked[0] is layout and self._checked[1] == shape:
            return  # the common case, every step: the same layout object and batch shape as last time
        mine = (tuple(shape), *layout.signature())
        everyone = self._gather_objects(mine)
        if any(value != everyone[0] for value in everyone):
            listing = "; ".join(f"rank {r}: batch {v[0]}, gradients {v[1]} {v[2]}" for r, v in enumerate(everyone))
            raise DistributedError(
                f"the ranks disagree on the mini-batch or the network ({listing}); every rank must hold "
                "the same data, shuffle with the same seed and build the same network"
            )
        self._checked = (layout, shape)

    # -- the transport, supplied by subclasses ---------------------------------

    def _gather_blocks(self, local, counts):
        raise NotImplementedError

    def _sum(self, flat):
        raise NotImplementedError

    def _gather_objects(self, value) -> list:
        raise NotImplementedError


def gather_padded(local, counts, gather_equal):
    """All ranks' block vectors in block order, through a gather that needs
    the same size from every rank (NCCL, torch.distributed): pad each
    rank's ``(counts[rank], P)`` to ``(max(counts), P)`` with zeros,
    ``gather_equal(padded) -> (len(counts) * max(counts), P)``, drop the padding."""
    xp = namespace_of(local)
    widest = max(counts)
    if local.shape[0] < widest:
        shape = (widest - local.shape[0], local.shape[1])
        local = xp.concat([local, xp.zeros(shape, dtype=local.dtype, device=array_api_compat.device(local))])
    gathered = gather_equal(local)
    parts = [gathered[r * widest : r * widest + counts[r], ...] for r in range(len(counts)) if counts[r]]
    return parts[0] if len(parts) == 1 else xp.concat(parts)


"""Sweeps: many configurations of one network shape (seeds, eta, lambda)
trained together as stacks, each network equal to its separate run
``Network(sizes, cost, seed=s, ...).SGD(...)``: bit for bit on NumPy, to
rounding on the other backends.

A thin front: it builds the Networks, splits them into stacks and trains
each stack with the one training loop, :func:`anynet.train.fit.fit` (a
:class:`~anynet.model.stacked.StackedModel`: each network its own run),
through the Networks' public surface only.  Under MPI (``comm=``), the configurations are split across the ranks in
contiguous blocks and every rank returns all the trained networks.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

from .. import arguments
from ..errors import ArgumentError, ArgumentTypeError, TooLargeError
from ..train.fit import Callback, Shuffler, TrainConfig, fit
from ..model.layers import Dense, chain
from ..model.memory import check_memory, shortfall
from ..model.params import book_lists
from ..model.stacked import StackedModel
from ..xp.backend import get_backend
from .construction import is_layer_list
from .network_api import Network


def sweep(sizes, training_data, epochs, mini_batch_size, eta, lmbda=0.0, seeds=0, *, cost=None,
          evaluation_data=None, regularization="l2", optimizer="sgd", eta_schedule=None, early_stopping=None,
          stack=None, comm=None, verbose=False, evaluation_name="evaluation", **network_options) -> list:
    """Train one network per configuration in ``itertools.product(seeds, eta,
    lmbda)`` (each argument a value or a list) and return the trained
    Networks in that order.

    Network i is ``Network(sizes, cost, seed=seeds_i, **network_options)``
    trained by ``SGD(training_data, epochs, mini_batch_size, eta_i, lmbda_i,
    evaluation_data, regularization=, optimizer=, eta_schedule=,
    early_stopping=)``, with its own initial weights and shuffle order, and
    ends where that run ends.  Its ``history`` holds its EpochReports
    (evaluation accuracy per epoch when ``evaluation_data`` is given) and
    ``sweep`` its settings: ``{"seed", "eta", "lmbda", "diverged_in"}``;
    ``diverged_in`` is the epoch in which its weights became NaN or inf (its
    parameters are then those of the last finite epoch), else None.

    ``stack`` caps how many networks train as one stack (default: all of
    them; a stack of K holds K copies of the parameters, gradients and
    optimizer state).  ``comm`` (an mpi4py communicator) splits the
    configurations across its ranks.  ``verbose`` prints a line per epoch
    (rank 0 only), naming evaluation_data ``evaluation_name``.
    """
    stack = None if stack is None else arguments.integer("stack", stack, low=1)
    check_grid(sizes, (seeds, eta, lmbda), stack, network_options)  # before any list or network is built
    seeds = _values("seeds", seeds, lambda v: arguments.integer("seed", v, low=0))
    etas = _values("eta", eta, lambda v: arguments.real("eta", v, low=0.0, low_open=True))
    lmbdas = _values("lmbda", lmbda, lambda v: arguments.real("lmbda", v, low=0.0))
    settings = list(itertools.product(seeds, etas, lmbdas))
    monitors = frozenset(() if evaluation_data is None else ("evaluation_accuracy",))  # every epoch's, as SGD's
    configs = [TrainConfig(epochs, mini_batch_size, e, l, regularization, optimizer, True if eta_schedule is True
                           else eta_schedule, early_stopping, monitors) for _, e, l in settings]
    nets = [Network(sizes, cost, seed=s, **network_options) for s, _, _ in settings]
    for net, (s, e, l) in zip(nets, settings):
        net.sweep = {"seed": s, "eta": e, "lmbda": l, "diverged_in": None}
    first = nets[0]
    train = first.to_device(training_data, name="training_data")
    evaluation = None if evaluation_data is None else first.to_device(evaluation_data, name="evaluation_data")
    rank, size = (0, 1) if comm is None else (comm.Get_rank(), comm.Get_size())
    mine = np.array_split(np.arange(len(nets)), size)[rank].tolist()
    per_stack = stack or max(len(mine), 1)
    groups = [mine[i : i + per_stack] for i in range(0, len(mine), per_stack)]
    say = _printer(settings, verbose and rank == 0, evaluation_name)

    def train_all():
        for number, group in enumerate(groups, 1):
            label = f"[stack {number}/{len(groups)}] " if len(groups) > 1 else ""
            _train_stack([nets[i] for i in group], [configs[i] for i in group], group, train, evaluation,
                         lambda *a: say(label, *a))

    if comm is None:
        train_all()
        return nets
    from ..distributed import run_guarded, share_cores

    with run_guarded(comm), share_cores(size):  # each rank's BLAS on its share of the cores
        train_all()
        _share(nets, mine, comm)
    return nets


def _share(nets, mine, comm) -> None:
    """Every rank gets every network: host arrays and reports, sent by mpi4py between our own ranks."""
    results = [(i, _host_parameters(nets[i]), nets[i].history, nets[i].sweep["diverged_in"]) for i in mine]
    for rank_results in comm.allgather(results):
        for i, (weights, biases), history, diverged_in in rank_results:  # the book's lists: Network's public setters
            if i not in mine:
                nets[i].weights, nets[i].biases = weights, biases
                nets[i].history, nets[i].sweep["diverged_in"] = history, diverged_in


# Bytes of Python objects per network of a sweep beyond its arrays (its
# Network, Model, lists, array headers, TrainConfig, settings): measured
# ~3.7 KB for sizes [2, 2].
NETWORK_OVERHEAD = 4096


def _count(value) -> int:
    """How many values ``value`` holds (a list, a range, any sequence), without listing them."""
    return len(value) if isinstance(value, (Sequence, np.ndarray)) and not isinstance(value, (str, bytes)) else 1


def check_grid(sizes, grid, stack=None, network_options=None) -> None:
    """Refuse, with the figure, a sweep that cannot fit in memory, before
    anything is built: ``grid`` is ``(seeds, eta, lmbda)`` (values or
    sequences, counted by their length: ``range(10**10)`` is never listed).
    Every network holds its parameters and ~4 KiB of objects; each of the
    ``stack`` (default: all) trained at once holds 6 more copies (gradients,
    updates, optimizer moments).  Raises TooLargeError (a MemoryError)."""
    options = network_options or {}
    n = math.prod(_count(value) for value in grid)
    layers, input_shape, what = _shape_of(sizes, options.get("input_shape"))
    if input_shape is None:
        return  # the Networks refuse it, saying what is missing
    backend = get_backend(options.get("backend", "numpy"), options.get("device"), options.get("dtype"))
    count = chain.parameter_count(layers, input_shape)  # weights and biases
    per_network = count * (8 if backend.dtype_name == "float64" else 4)
    at_once = min(n, stack or n)
    short = shortfall(n * NETWORK_OVERHEAD, (n + 6 * at_once) * per_network, backend)
    if short is not None:
        need, free, where = short
        raise TooLargeError(
            f"a sweep of {n:,} networks of {what} ({count:,} parameters each, "
            f"{backend.dtype_name}) needs about {_size(need)}: every network's parameters, and 6 copies for each of the "
            f"{at_once:,} trained at once; this machine has {_size(free)} of {where} available: sweep fewer seeds, "
            "etas or lmbdas, or train fewer at once (stack)"
        )


def _shape_of(sizes, input_shape):
    """``(layers, input_shape, words)`` of a sweep's networks: the book's
    layer widths or a list of layers (as :class:`anynet.Network` takes them)."""
    if is_layer_list(sizes):
        return list(sizes), input_shape or chain.input_shape_of(sizes), f"{len(sizes)} layers"
    sizes = arguments.sizes(sizes)
    return [Dense(x, y) for x, y in zip(sizes[:-1], sizes[1:])], (sizes[0],), f"sizes {sizes}"


def _size(n: int) -> str:
    return f"{n / 2**40:,.1f} TiB" if n >= 2**40 else f"{n / 2**30:,.1f} GiB" if n >= 2**30 else f"{n / 2**20:,.1f} MiB"


def _values(name, value, check) -> list:
    """A value or a list of values, each checked; a list must not be empty."""
    if isinstance(value, (str, bytes, dict, set)):
        raise ArgumentTypeError(f"{name} must be a number or a list of numbers, not {value!r}")
    values = list(value) if isinstance(value, (Sequence, np.ndarray)) else [value]
    if not values:
        raise ArgumentError(f"{name} is an empty list; give at least one value")
    return [check(v) for v in values]


def _host_parameters(net):
    return [net.backend.to_numpy(w) for w in net.weights], [net.backend.to_numpy(b) for b in net.biases]


def _train_stack(nets, configs, indices, train, evaluation, say) -> None:
    """Train ``nets`` (one per config) as one stack and install each one's
    final parameters and history."""
    first = nets[0]
    check_memory(first.model.layers, first.model.input_shape, first.backend, copies=6 * len(nets))
    model = StackedModel([net.model for net in nets])
    states = fit(model, train, configs, shuffler=[Shuffler(train.n, net.rng) for net in nets], evaluation=evaluation,
                 callbacks=[_EpochLines(say, indices)], mask_rng=[net.mask_rng for net in nets])
    for k, (net, state, config) in enumerate(zip(nets, states, configs)):
        net.weights, net.biases = book_lists(model.member_parameters(k))  # checked copies, off the stack
        net.regularization = config.regularization
        net.history = state.history
        net.sweep["diverged_in"] = state.diverged_in


class _EpochLines(Callback):
    """``say(epoch, indices, states, seconds)`` after each epoch of a stack."""

    def __init__(self, say, indices):
        self.say, self.indices = say, indices

    def on_epoch_end(self, reports, states):
        report = next(r for r in reports if r is not None)  # a network trained in every epoch fit runs
        self.say(report.epoch, self.indices, states, report.seconds)


def _printer(settings, verbose, evaluation_name):
    """``say(label, epoch, indices, states, seconds)``: one line per epoch of a stack."""

    def say(label, epoch, indices, states, seconds):
        if not verbose:
            return
        active = sum(not state.ended for state in states)
        scored = [(state.history[-1].evaluation_accuracy, i, state.history[-1].n_evaluation)
                  for i, state in zip(indices, states)
                  if state.history and state.history[-1].epoch == epoch
                  and state.history[-1].evaluation_accuracy is not None]
        best = ""
        if scored:
            accuracy, i, n = max(scored, key=lambda score: (score[0], -score[1]))  # the first of equals
            s, e, l = settings[i]
            best = f", best {evaluation_name} accuracy {accuracy / n:.2%} (seed {s}, eta {e:g}, lmbda {l:g})"
        networks = f"{len(states)} network{'s' if len(states) > 1 else ''}"
        print(f"{label}Epoch {epoch}: {networks} ({active} still training){best}, {seconds:.2f} s", flush=True)

    return say

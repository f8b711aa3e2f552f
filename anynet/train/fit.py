"""THE training loop.  Every front (anynet.Network, the book's network,
network2 and network3 modules, the command line, the scikit-learn estimator,
sweeps) calls :func:`fit`, which trains a stack of K >= 1 networks: a
single Model is K = 1, a :class:`~anynet.model.stacked.StackedModel` (a
sweep's K networks of one shape) trains each network as its own run.

``fit`` owns the order of the samples, the mini-batches (through
:mod:`anynet.train.engine`), the optimizer state, L1/L2, the eta schedule, early
stopping, the monitors, callbacks, the progress bar and the divergence check,
each per network.  Everything that decides the next step lives in
:class:`~anynet.train.state.TrainState`, so a run saved after any epoch
resumes bit for bit (:mod:`anynet.train.runstate`).
"""

from __future__ import annotations

import time

import numpy as np

from .config import MONITORS, EpochReport, TrainConfig, check_stack_configs  # noqa: F401  (re-exported: the loop's public types)
from .dropout import DropoutMasks
from .engine import run_epoch
from .engines import engine_of
from .state import Callback, Shuffler, TrainState  # noqa: F401  (re-exported: the loop's public types)
from .step import LocalReducer, rank_threads
from ..errors import ArgumentError, TrainingDiverged
from ..model.stacked import PerModel, StackedModel


def fit(model, train, config, *, state=None, shuffler=None, evaluation=None,
        callbacks=(), progress=False, reducer=None, mask_rng=None):
    """Train ``model`` on ``train`` (a DeviceData) as ``config`` says, from
    ``state`` (a resumed run) or from the start with ``shuffler``'s order;
    measure ``evaluation`` (a DeviceData) after each epoch.  A model with
    Dropout layers draws its masks from ``mask_rng`` (a NumPy Generator,
    continued across calls) on the host, one array per layer and step, sent
    to the device (:class:`anynet.train.dropout.DropoutMasks`); such a run
    goes to the loop engine (a compiled epoch takes no host draws).  Returns the final
    TrainState, whose ``history`` holds one EpochReport per epoch.  With a
    reducer of several ranks, each rank's BLAS and OpenMP threads are limited
    to its share of the machine's cores while it trains, then restored.

    Raises TrainingDiverged, with the parameters of the last finite epoch
    restored, when the weights or a monitored cost become NaN or inf.

    A :class:`~anynet.model.stacked.StackedModel` of K networks is K runs at
    once, each network's as fit trains it alone: ``config``, ``shuffler``
    and ``mask_rng`` are then lists, one per network (configurations that
    differ only in eta, lmbda, schedule, early stopping and monitors, else
    refused; each network's dropout
    masks from its own generator), callbacks get lists of reports and states,
    and fit returns the list of TrainStates.  A network whose run ends
    (stopped; or diverged: ``diverged_in`` records the epoch, nothing is
    raised) rides along without effect on the others until all have ended;
    at the end the stack holds each network's final parameters (the best
    epoch's under early stopping, the last finite epoch's after a divergence).
    """
    stacked = isinstance(model, StackedModel)
    reducer = LocalReducer() if reducer is None else reducer
    configs, states = _start(model, train, config, state, shuffler, mask_rng, stacked)
    masks = DropoutMasks.for_run(model, [s.mask_rng for s in states] if stacked else states[0].mask_rng, reducer)
    if configs[0].selects_epochs and evaluation is None:
        raise ArgumentError("eta_schedule and early_stopping need evaluation_data to measure accuracy on")
    for data in (train, evaluation):
        if data is not None and data.pending is not None:
            data.pending.verify(model.xp)  # device-side checks: one transfer per run
    for callback in callbacks:
        callback.on_train_begin(train)
    reg = _regularizer(configs, train.n, stacked)
    state = states[0]
    if state.resume_parameters is not None and state.epoch < configs[0].epochs and not state.stopped:
        model.set_parameters(state.resume_parameters)  # a finished single run, resumed for more epochs
        state.resume_parameters = None
    opt_state = configs[0].optimizer.init(model.parameters(), xp=model.xp) if stacked else states[0].optimizer_state
    finals = [None] * len(states)  # the parameters of a stacked network whose run has ended
    with rank_threads(reducer):
        while any(not s.ended and s.epoch < c.epochs for s, c in zip(states, configs)):
            reports, opt_state = _epoch(model, train, configs, states, reg, opt_state, evaluation,
                                        progress and reducer.is_root, reducer, masks, finals)
            for k, report in enumerate(reports):
                if report is not None and states[k].diverged_in is None:
                    _close_epoch(model, k, configs[k], states[k], report, reducer, finals)
            _notify(callbacks, "on_epoch_end", *((reports, states) if stacked else (reports[0], states[0])))
    _finish(model, configs, states, finals)
    _notify(callbacks, "on_train_end", states if stacked else states[0])
    return states if stacked else states[0]


def _start(model, train, config, state, shuffler, mask_rng, stacked):
    """``(configs, states)``: one per network.  A single model's run starts
    from ``state`` (resumed) or afresh; a stack's runs start afresh, each
    from its own shuffler and mask generator."""
    if not stacked:
        if state is None:
            state = TrainState.start(model, config, shuffler or Shuffler(train.n), mask_rng)
        return [config], [state]
    configs, shufflers = list(config), list(shuffler)
    mask_rngs = [None] * model.k if mask_rng is None else list(mask_rng)
    if not len(configs) == len(shufflers) == len(mask_rngs) == model.k:
        raise ArgumentError(f"a stack of {model.k} networks needs {model.k} configs, shufflers and mask generators, "
                            f"got {len(configs)}, {len(shufflers)} and {len(mask_rngs)}")
    check_stack_configs(configs)
    return configs, [TrainState.begin(c, s, {}, r) for c, s, r in zip(configs, shufflers, mask_rngs)]


def _regularizer(configs, n, stacked):
    """The run's weight penalty: a stack's lmbda is one per network (PerModel)."""
    if not stacked:
        return configs[0].regularizer(n)
    lmbdas = [c.lmbda for c in configs]
    return configs[0].regularizer(n, PerModel(lmbdas)) if any(lmbdas) else None


def _notify(callbacks, method, *args) -> None:
    """Call ``method`` of every callback, in order, even after one of them
    has raised: a log line that cannot be written must not keep the
    checkpoint from holding the epoch.  The first error is raised once all
    have run (an interrupt at once)."""
    error = None
    for callback in callbacks:
        try:
            getattr(callback, method)(*args)
        except Exception as exc:
            error = exc if error is None else error
    if error is not None:
        raise error


def _order(state, config, n, reducer) -> np.ndarray:
    """This epoch's sample order of one network."""
    order = state.shuffler.next_epoch() if config.shuffle else np.arange(n)
    if reducer.size > 1:
        order = reducer.agree(order)  # the global `random` of an unseeded run differs between processes
    if config.drop_last:
        order = order[: config.steps_per_epoch(n) * config.mini_batch_size]
    return order


def _epoch(model, train, configs, states, reg, opt_state, evaluation, progress, reducer, masks, finals):
    """One epoch of steps for every network, then ``(reports, opt_state)``:
    the report of each network that trained (None for one whose run had
    ended; a stacked network that diverged now has one, and ``diverged_in``)."""
    start = time.perf_counter()
    stacked, first = isinstance(model, StackedModel), states[0]
    orders = [_order(s, c, train.n, reducer) for s, c in zip(states, configs)]  # ended runs' own streams only
    last_good = model.parameters()
    bar = _progress_bar(train.n, max(s.epoch for s in states)) if progress else None
    try:
        opt_state = run_epoch(
            model, train, np.stack(orders) if stacked else orders[0],
            engine=engine_of(model, reducer, compile=configs[0].compile, host_draws=masks is not None),
            mini_batch_size=configs[0].mini_batch_size, eta=PerModel([s.eta for s in states]) if stacked else first.eta,
            reg=reg, optimizer=configs[0].optimizer, opt_state=opt_state, reducer=reducer, bar=bar, masks=masks,
        )
    finally:
        if bar is not None:
            bar.close()
    if not stacked:
        first.optimizer_state = opt_state
    reports = [None if s.ended else EpochReport(epoch=s.epoch, eta=s.eta, seconds=0.0, n_training=train.n)
               for s in states]
    for k, report in enumerate(reports):
        if report is not None:
            _measure(model.member(k) if stacked else model, configs[k], report, train, evaluation)
    flags = model.all_finite()  # read once per epoch, never per step
    finite = model.backend.to_numpy(flags).reshape(-1) if stacked else [bool(flags)]
    for k, report in enumerate(reports):
        if report is not None and not _finite(finite[k], report, reducer, stacked):
            _diverged(model, k, states[k], last_good, finals)
    seconds = time.perf_counter() - start
    for report in reports:
        if report is not None:
            report.seconds = seconds
    return reports, opt_state


def _finite(flag, report, reducer, stacked) -> bool:
    """The network's parameters and monitored costs are finite (a single
    run's ranks agree on rank 0's answer)."""
    costs = [c for c in (report.training_cost, report.evaluation_cost) if c is not None]
    finite = bool(flag) and all(np.isfinite(costs))
    return finite if stacked else reducer.agree(finite)


def _diverged(model, k, state, last_good, finals) -> None:
    """A network diverged: a single run restores its last finite epoch's
    parameters and raises; a stacked network's run ends there, keeping them."""
    if not isinstance(model, StackedModel):
        model.set_parameters(last_good)
        raise TrainingDiverged(
            f"training diverged in epoch {state.epoch}: the weights or the cost became NaN or inf at eta {state.eta:g}; "
            f"try a smaller eta (the parameters of the last finite epoch are kept)"
        )
    state.diverged_in, finals[k] = state.epoch, model.member_parameters(k, last_good)


def _close_epoch(model, k, config, state, report, reducer, finals) -> None:
    """Network k's epoch selection after its report: early stopping and the
    schedule, the epoch counted and recorded; a stacked network that stops
    keeps its parameters of now."""
    stacked = isinstance(model, StackedModel)
    select_epoch(model.member(k) if stacked else model, config, state, report)
    # Ranks of a multi-process run take rank 0's decisions, so none can
    # leave the loop while the others wait in a collective.
    state.eta, state.stopped = reducer.agree((state.eta, state.stopped))
    state.epoch += 1
    state.history.append(report)
    if stacked and state.stopped:
        finals[k] = model.member_parameters(k)


def _finish(model, configs, states, finals) -> None:
    """Each network's final parameters into the model: the best epoch's under
    early stopping (the last epoch's kept to resume from), else those its run
    ended with."""
    stacked = isinstance(model, StackedModel)
    for k, (config, state) in enumerate(zip(configs, states)):
        current = finals[k] if finals[k] is not None else (model.member_parameters(k) if stacked else model.parameters())
        finals[k] = current
        if config.early_stopping is not None and state.best_parameters is not None and state.diverged_in is None:
            state.resume_parameters, finals[k] = current, state.best_parameters
            if not stacked:
                model.set_parameters(state.best_parameters)
    if stacked:
        model.set_members(finals)


def _measure(model, config, report, train, evaluation) -> None:
    monitors = config.monitors
    penalty = _penalty(model, config)
    if "training_cost" in monitors:
        report.training_cost = total_cost(model, train, penalty)
    if "training_accuracy" in monitors:
        report.training_accuracy = int(model.correct(train))
    if evaluation is not None:
        report.n_evaluation = evaluation.n
        if "evaluation_cost" in monitors:
            report.evaluation_cost = total_cost(model, evaluation, penalty)
        if "evaluation_accuracy" in monitors:
            report.evaluation_accuracy = int(model.correct(evaluation))


def _penalty(model, config):
    """``penalty(n)``: the run's regulariser for a dataset of n samples (network2.py's
    total_cost divides lmbda by the size of the data it measures)."""
    if not config.lmbda:
        return None
    return lambda n: config.regularizer(n).penalty(model.parameters(), xp=model.xp)


def total_cost(model, data, penalty=None) -> float:
    """network2.py's total cost: the mean cost over ``data`` plus, with a
    ``penalty(n)`` function, the regularisation term once."""
    cost = model.cost_sum(data) / data.n
    if penalty is not None:
        cost = cost + penalty(data.n)
    return float(cost)


def select_epoch(model, config, state, report) -> None:
    """Early stopping and the eta schedule, from this epoch's evaluation accuracy."""
    accuracy = report.evaluation_accuracy
    if config.early_stopping is not None:
        if accuracy > state.best_accuracy:
            state.best_accuracy, state.best_epoch = accuracy, report.epoch
            state.best_parameters = model.parameters()  # references: updates never write into them
            state.since_best = 0
        else:
            state.since_best += 1
            state.stopped = state.since_best >= config.early_stopping
    if state.schedule is not None:
        state.eta, schedule_stop = state.schedule.update(accuracy)
        state.stopped = state.stopped or schedule_stop


def _progress_bar(n: int, epoch: int):
    from tqdm.auto import tqdm

    return tqdm(total=n, desc=f"epoch {epoch}", unit="sample", unit_scale=True, leave=False, dynamic_ncols=True)



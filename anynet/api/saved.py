"""Networks and training runs read back from their files: :func:`load`,
:func:`load_run` and :func:`resume` (the file format: :mod:`anynet.io.checkpoint`;
the run inside it: :mod:`anynet.train.runstate`)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..io import checkpoint
from ..train import runstate
from ..xp.backend import get_backend
from ..errors import ArgumentError, CheckpointError
from .network_api import Network
from .printing import BookLines


def load(filename, *, backend="numpy", device=None, dtype=None) -> Network:
    """Load a network saved by ``Network.save`` (a checkpoint, or safetensors
    weights; or by network2.py's ``save``) onto ``backend``/``device`` in
    ``dtype`` (None: the file's), with the ``classes`` and ``class_names`` it
    recorded; see :func:`anynet.io.checkpoint.read` for what is checked.  The file's kind is
    told by its content, not its name."""
    found = checkpoint.read(filename, backend=backend, device=device, dtype=dtype)
    net = Network.from_model(found.model, seed=found.seed)
    net.classes, net.class_names = found.classes, found.class_names
    return net


class Run:
    """A training run read back from its file: the network, the run's
    TrainConfig and TrainState, what was recorded with it, and the digest of
    its training data."""

    def __init__(self, net, config, state, extra, data_sha256):
        self.net, self.config, self.state, self.extra, self.data_sha256 = net, config, state, extra, data_sha256


def load_run(filename, *, backend=None, device=None) -> Run:
    """Read a run saved with ``SGD(checkpoint=FILE)`` or ``anynet train
    --save FILE``; its network goes to ``backend``/``device`` (default: the
    backend the run recorded, else NumPy).  A float64 run on JAX needs JAX's
    64-bit mode, which a library call does not switch on for the whole
    process: set ``JAX_ENABLE_X64=1`` or call
    ``jax.config.update("jax_enable_x64", True)`` first (else the error says
    so).  An unseeded run (the book's shuffling by the global ``random``)
    continues with a ``random.Random`` of its own in the state the run
    recorded; the process's ``random`` is not touched."""
    found = checkpoint.read(filename)
    if found.run is None:
        raise CheckpointError(f"{filename}: holds a network but no training run to resume (saved with Network.save?)")
    extra = found.run.get("extra") or {}
    recorded = extra.get("cli", {})
    target = backend or recorded.get("backend") or "numpy"
    if device is None and backend is None:
        device = recorded.get("device")
    model = found.model.moved(get_backend(target, device, found.model.backend.dtype_name))
    config, state = runstate.decode(found.run, found.run_arrays, model.backend)
    net = Network.from_model(model, seed=found.seed)
    net.classes, net.class_names = found.classes, found.class_names
    if isinstance(state.shuffler.rng, np.random.Generator):  # a seeded run's generator
        net._rng = state.shuffler.rng
    return Run(net, config, state, extra, found.run["data_sha256"])


def resume(filename, training_data, *, epochs=None, evaluation_data=None, backend=None, device=None,
           verbose=True, progress=False, callback=None):
    """Continue the run saved in ``filename`` (by ``SGD(..., checkpoint=filename)``)
    to ``epochs`` epochs in all (default: the run's own), on the same
    ``training_data`` (checked against the run's digest) and
    ``evaluation_data``, writing ``filename`` after every epoch.  On the same
    backend the final weights are bit-identical to those of the uninterrupted
    run.  Returns the trained Network; its ``history`` holds every epoch.
    A run without epochs left (``epochs`` fewer than or as many as it has
    done, or a run that stopped itself) is refused with ArgumentError, the
    file untouched, as ``anynet train --resume`` refuses it."""
    run = load_run(filename, backend=backend, device=device)
    net, config = run.net, run.config
    if epochs is not None:
        config = replace(config, epochs=epochs)
    check_epochs_left(filename, run.state, config.epochs, lambda n: f"epochs={n}")
    train = net.to_device(training_data)
    if runstate.data_digest(train) != run.data_sha256:
        raise ArgumentError(f"{filename}: training_data is not the data this run was trained on")
    seed_style = run.extra.get("seed_style", True)
    callbacks = [
        BookLines(seed_style, verbose, callback),
        runstate.RunCheckpoint(filename, config, net, extra={"seed_style": seed_style}, data_sha256=run.data_sha256),
    ]
    net.train(train, config, evaluation_data=evaluation_data, callbacks=callbacks, progress=progress, state=run.state)
    return net


def check_epochs_left(path, state, epochs, spell) -> None:
    """Refuse (ArgumentError naming ``path``) a resume of a run ``state`` to
    ``epochs`` epochs in all that has nothing to train: fewer epochs than done
    would rewrite its length, as many trains nothing, and a run that stopped
    itself is over.  ``spell(n)`` writes the epochs argument as the caller's
    user gives it (``--epochs 5``, ``epochs=5``)."""
    done = state.epoch
    if epochs < done:
        raise ArgumentError(f"{path} has {done} epochs done; {spell(epochs)} would shorten the run: "
                            f"give {spell('N')} with N > {done} to train more")
    if state.stopped:
        raise ArgumentError(f"{path}: the run stopped itself after {done} epochs (early stopping or the eta "
                            "schedule); there is nothing left to train")
    if epochs == done:
        raise ArgumentError(f"{path} already has all {done} of its epochs; nothing to train: give {spell('N')} with "
                            f"N > {done} to train more")

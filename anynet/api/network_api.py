"""``anynet.Network``: the keyword API over the model and the training loop.

It keeps the seed's surface (``sizes``, ``weights``, ``biases``,
``feedforward``, ``backprop``, ``update_mini_batch``, ``SGD``, ``evaluate``)
and network2.py's (``cost``, ``accuracy``, ``total_cost``, ``save``), adds
backends, seeds and the modern kit as keywords, and inference on arrays
(``predict``, ``predict_proba``, ``score``; :mod:`anynet.api.inference`) and
files other programs read (``save`` to safetensors, ``to_onnx``;
:mod:`anynet.api.saving`).  The book's own modules are
:mod:`anynet.network` and :mod:`anynet.network2`.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace

import numpy as np

from ..io import checkpoint
from .. import arguments
from ..model import model as _model
from ..model.params import book_lists, from_book
from ..train import runstate
from ..train.engines import check_compile
from ..xp.backend import get_backend
from ..train.fit import Shuffler, TrainConfig, fit
from ..datasets.devicedata import Deferred, DeviceData
from . import construction
from .columns import BookColumns
from .inference import Predicting
from .saving import Saving
from ..datasets.boundary import prepare
from .printing import BookLines, book_run, history_lists


class Network(BookColumns, Predicting, Saving):
    """A feedforward network trained by backpropagation and mini-batch
    stochastic gradient descent, as in the book.

    ``Network(sizes)`` is network.py's: sigmoid layers, quadratic cost, weights
    and biases N(0, 1).  ``Network(sizes, cost=CrossEntropyCost)`` is
    network2.py's, with its N(0, 1/n_in) weights.  ``Network([Reshape((1,
    28, 28)), Conv2D(1, 20, 5), ...], "log-likelihood")`` is any list of
    :mod:`anynet.model.layers` (its activations and initializers its own;
    ``input_shape`` where the first layer does not say).  Keyword-only extras:

    backend, device, dtype
        where the arrays live: "numpy" (default), "cupy", "torch", "jax",
        "array_api_strict", a namespace module or an array; what that library
        calls a device; "float64" (the default, unless a Backend object with
        its own dtype is given) or "float32".
    seed
        an int seeds a NumPy Generator on the host for initial weights and
        shuffling, so every backend gets bit-identical weights and batches.
        None uses the global ``numpy.random`` and ``random`` states, as the
        book's code does.
    activation, output_activation
        hidden-layer activation ("sigmoid", "tanh", "relu"; or a list with one
        per hidden layer) and the output layer's ("sigmoid", "tanh", "relu",
        "linear" for regression, "softmax"); the output's default is softmax
        for the log-likelihood cost, else sigmoid.
    initializer
        "large" (network.py's), "default" (network2.py's), "he", "glorot";
        None picks the book's: "large" without a ``cost``, "default" with one.
    compile
        the default of its runs' training option ``TrainConfig.compile``
        (:func:`anynet.train.engines.engine_for`): None compiles an epoch on
        JAX, True on torch too, False nowhere.
    """

    def __init__(self, sizes, cost=None, *, backend="numpy", device=None, dtype=None, seed=None,
                 activation="sigmoid", output_activation=None, initializer=None, compile=None, input_shape=None):
        self._seed = None if seed is None else arguments.integer("seed", seed, low=0)
        self._rng = np.random.default_rng(self._seed) if self._seed is not None else None
        resolved = get_backend(backend, device, dtype)
        check_compile(compile, resolved.name)  # before anything is drawn
        self._adopt(construction.build(sizes, cost, backend=resolved, rng=self._rng, activation=activation,
                                       output_activation=output_activation, initializer=initializer,
                                       input_shape=input_shape))
        self.compile = compile

    def _adopt(self, model):
        self._model = model
        self._book_of, self._book_lists = None, None  # see _book
        self._pending = Deferred()  # device-side input checks not yet read back (update_mini_batch, feedforward)
        self.regularization = "l2"  # the last run's; total_cost measures with it
        self.classes = None  # the original labels of the output units, when they are not 0..n-1
        self.class_names = None  # their names, where the data has names its labels are not (Fashion-MNIST's)
        self.history = []  # the EpochReports of the last run
        self.compile = None  # its runs' default TrainConfig.compile
        self.mask_rng = construction.mask_generator(model, self._seed)  # dropout masks across runs (None without)

    @classmethod
    def from_model(cls, model, *, seed=None):
        """A Network around an existing :class:`anynet.model.model.Model` (no random
        draws); ``seed`` seeds its generator for later shuffling."""
        net = cls.__new__(cls)
        net._seed = None if seed is None else arguments.integer("seed", seed, low=0)
        net._rng = np.random.default_rng(net._seed) if net._seed is not None else None
        net._adopt(model)
        return net

    # -- what the network is ----------------------------------------------------

    @property
    def model(self):
        """The :class:`anynet.model.model.Model` (parameters on the device, batched math)."""
        return self._model

    @property
    def backend(self):
        """The :class:`~anynet.xp.backend.Backend` (namespace, device, dtype) this network runs on."""
        return self._model.backend

    @property
    def seed(self):
        """The int seed of the host random generator, or None for the global state."""
        return self._seed

    @property
    def rng(self):
        """The seeded NumPy Generator that draws this network's shuffles, or
        None when they come from the global ``random`` (``seed=None``)."""
        return self._rng

    @property
    def sizes(self):
        return self._model.sizes

    @property
    def num_layers(self):
        return self._model.num_layers

    @property
    def cost(self):
        return self._model.cost

    @property
    def activations(self):
        return list(self._model.activations)

    @property
    def weights(self):
        """List of weight matrices, one ``(sizes[l+1], sizes[l])`` array per layer."""
        return self._book()[0]

    @weights.setter
    def weights(self, values):
        shapes = book_lists(self._model.parameter_shapes())[0]
        weights = _model.accept(self.backend, values, shapes, "weights")
        self._install(from_book(weights, book_lists(self._model.parameters())[1]))

    @property
    def biases(self):
        """List of bias columns, one ``(sizes[l+1], 1)`` array per layer."""
        return self._book()[1]

    @biases.setter
    def biases(self, values):
        shapes = book_lists(self._model.parameter_shapes())[1]
        biases = _model.accept(self.backend, values, shapes, "biases")
        self._install(from_book(book_lists(self._model.parameters())[0], biases))

    def _book(self):
        """The book's ``(weights, biases)`` lists of the model's parameter
        list (one list of Params inside the library): the one place the
        Network converts between the two.  Made once per parameter list, so
        an item a caller assigns into ``net.weights`` stays there until
        :meth:`_params` checks and installs it."""
        params = self._model.parameters()
        if self._book_of is not params:
            self._book_of, self._book_lists = params, book_lists(params)
        return self._book_lists

    def _install(self, params):
        self._model.set_parameters(params)

    def _params(self, verify=True):
        """Re-validate the parameters if a user replaced an item of the lists, and
        (``verify``) read back pending device-side input checks: the calls that
        read a result do; update_mini_batch and feedforward, which must not
        wait for the device, do not."""
        weights, biases = self._book()
        params = self._model.parameters()
        if (len(weights) != len(params) or len(biases) != len(params)
                or any(w is not p.weight or b is not p.bias for w, b, p in zip(weights, biases, params))):
            self.weights = list(weights)
            self.biases = list(biases)
        if verify:
            self._pending.verify(self.backend.xp)
        return self._model

    def SGD(self, training_data, epochs, mini_batch_size, eta, lmbda=0.0, evaluation_data=None,
            monitor_evaluation_cost=False, monitor_evaluation_accuracy=False,
            monitor_training_cost=False, monitor_training_accuracy=False, *,
            test_data=None, regularization="l2", optimizer="sgd", eta_schedule=None,
            early_stopping=None, verbose=True, progress=False, callback=None, checkpoint=None,
            comm=None, reduce="exact", block_size=None):
        """Train with mini-batch stochastic gradient descent.

        The seed's call ``SGD(training_data, epochs, mini_batch_size, eta,
        test_data=None)`` prints ``Epoch j : correct / n`` after each epoch.
        network2.py's call adds ``lmbda`` (regularisation), ``evaluation_data``
        and the four ``monitor_*`` flags, and returns the four per-epoch lists
        ``(evaluation_cost, evaluation_accuracy, training_cost,
        training_accuracy)`` of plain Python numbers.

        Keyword-only: ``regularization`` "l2" or "l1"; ``optimizer`` "sgd",
        "momentum", "adam" or an Optimizer; ``eta_schedule`` a
        :class:`DivideOnPlateau` (or True for the book's: halve after 10
        epochs without improvement, stop at eta/128) or a :class:`DivideAt`
        (divide at fixed epochs; needs no evaluation data); ``early_stopping=n``
        stops after ``n`` epochs without a better evaluation accuracy and
        restores the best weights; ``verbose`` prints the book's lines;
        ``progress`` shows a progress bar (samples/s, time left) within each
        epoch; ``callback`` is called with an :class:`EpochReport` after each
        epoch; ``checkpoint=FILE`` writes the whole run to FILE after every
        epoch (atomically), so that :func:`anynet.resume` can continue it.
        ``comm`` (an mpi4py communicator, e.g. ``MPI.COMM_WORLD``) trains
        data-parallel across its ranks with :class:`anynet.distributed.MPIReducer`
        (``reduce="exact"``: bit-identical weights for any number of ranks;
        ``"fast"``: one Allreduce; ``block_size`` rows per exact block, by
        default a quarter of the mini-batch); rank 0 alone prints and writes
        the checkpoint, and an exception on one rank ends the whole job.
        """
        flags = (monitor_evaluation_cost, monitor_evaluation_accuracy, monitor_training_cost, monitor_training_accuracy)
        config, evaluation_data, seed_style = book_run(
            epochs, mini_batch_size, eta, lmbda, evaluation_data, test_data, flags,
            regularization=regularization, optimizer=optimizer, eta_schedule=eta_schedule, early_stopping=early_stopping,
        )
        reducer, guard = _distributed(comm, reduce, block_size)
        root = reducer is None or reducer.is_root
        callbacks = [BookLines(seed_style, verbose and root, callback)]
        if checkpoint is not None and root:
            callbacks.append(runstate.RunCheckpoint(checkpoint, config, self, extra={"seed_style": seed_style}))
        with guard:
            state = self.train(training_data, config, evaluation_data=evaluation_data, callbacks=callbacks,
                               progress=progress, reducer=reducer)
        return history_lists(state.history, flags, seed_style)

    def train(self, training_data, config: TrainConfig, *, evaluation_data=None, callbacks=(), progress=False,
              reducer=None, state=None):
        """Run :func:`anynet.train.fit.fit` on this network's model and return its
        TrainState; ``SGD`` is this with the book's arguments."""
        model = self._params()
        train = self._prepare(training_data, "training_data", defer=True)
        evaluation = self._prepare(evaluation_data, "evaluation_data", defer=True) if evaluation_data is not None else None
        self.regularization = config.regularization
        config = replace(config, compile=self.compile) if config.compile is None else config
        shuffler = Shuffler(train.n, self._rng) if state is None else None
        state = fit(model, train, config, state=state, shuffler=shuffler, evaluation=evaluation,
                    callbacks=callbacks, progress=progress, reducer=reducer, mask_rng=self.mask_rng)
        self.history = state.history
        return state

    def save_run(self, filename, record, arrays):
        """Save the network with a training run's ``record`` and ``arrays``
        (from :func:`anynet.train.runstate.encode`); ``anynet.load`` still reads the
        network from it, :func:`anynet.resume` the run."""
        checkpoint.save(self._params(), filename, seed=self.seed, classes=self.classes, class_names=self.class_names,
                        run=(record, arrays))

    def to_device(self, data, *, name="data") -> DeviceData:
        """Validate ``data`` (either form) and move it to this network's device
        once; the result can be passed to ``SGD``, ``evaluate``, ``accuracy``
        and ``total_cost`` in place of the data, with no further transfer.
        Errors call the data ``name``."""
        return self._prepare(data, name)

    def evaluate(self, test_data):
        """Return the number of inputs in ``test_data`` for which the network's
        most active output neuron is the correct label."""
        model = self._params()
        return int(model.correct(self._prepare(test_data, "test_data")))

    def _prepare(self, data, what, defer=False):
        return prepare(data, backend=self.backend, n_in=self._model.n_in, n_out=self._model.n_out, what=what, defer=defer)

    def __repr__(self) -> str:
        if not self._model.is_dense:
            layers = ", ".join(type(layer).__name__ for layer in self._model.layers)
            return f"{type(self).__name__}(layers=[{layers}], cost={self.cost.__name__}, backend={self.backend})"
        acts = ",".join(a.name for a in self.activations)
        return f"{type(self).__name__}({self.sizes}, cost={self.cost.__name__}, activations=[{acts}], backend={self.backend})"


def _distributed(comm, reduce, block_size):
    """``(reducer, guard)`` of a run across ``comm``'s ranks (None and a null
    context without a communicator)."""
    if comm is None:
        return None, contextlib.nullcontext()
    from ..distributed import MPIReducer, run_guarded

    reducer = MPIReducer(comm, reduce=reduce, block_size=block_size)
    return reducer, run_guarded(reducer)

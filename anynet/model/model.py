"""The model: a sequence of layers (:mod:`anynet.model.layers`), a cost and
the parameters on a backend's device, with the batched computations on them.

Nothing here prints, shuffles, loops over epochs or moves a result to the
host: every method returns arrays of the backend (a count or a cost is a 0-d
array), so a caller decides when to pay for a device-to-host transfer.  The
math itself is in :mod:`anynet.model.layers`; this class binds it to parameters.
"""

from __future__ import annotations

import numpy as np

from .. import arguments
from .layers import chain
from .activations import HIDDEN_ACTIVATIONS, get_activation
from ..xp.backend import Backend, get_backend
from .costs import QuadraticCost, get_cost
from ..errors import ArgumentError, ArgumentTypeError
from .initializers import get_initializer
from .memory import check_memory
from .params import Params, book_lists, from_book

# Datasets are evaluated in chunks of rows (memory bounded by the chunk): EVAL_CHUNK
# on a GPU, HOST_EVAL_CHUNK on the CPU, where 10,000 rows' activations were fresh pages
# every time (1.6x the time on 1,797 digits at 100 hidden units, 1.2x on 60,000 x 784).
EVAL_CHUNK = 10_000
HOST_EVAL_CHUNK = 1_024


class Model:
    """A feedforward network: a sequence of layers, the last one the output
    layer whose error the cost gives.

    ``params[l]`` is the :class:`~anynet.model.params.Params` (weight, bias)
    of the l-th layer that has any; for the book's network, a chain of Dense
    layers (:func:`anynet.model.layers.chain.dense_layers`), its weight has
    the book's shape ``(sizes[l+1], sizes[l])`` and its bias
    ``(sizes[l+1], 1)``.  Batches have samples as rows.  The parameter list
    is replaced, never written into, by training.
    """

    def __init__(self, layers, *, cost, backend: Backend, params=(), input_shape=None):
        self.layers = tuple(layers)
        self.cost = cost
        self.backend = backend
        self.params = list(params)
        shape = chain.input_shape_of(self.layers) if input_shape is None else input_shape
        if shape is None:
            raise ArgumentError(f"a model whose first layer is {self.layers[0]!r} needs its input_shape "
                                "(each sample's shape, such as (1, 28, 28))")
        self.input_shape = tuple(arguments.integer("an input_shape entry", n, low=1) for n in shape)

    @classmethod
    def dense(cls, sizes, *, cost, activations, backend: Backend, params=()) -> "Model":
        """The book's network of layer widths ``sizes``: one Dense layer per
        pair of widths, with one Activation each."""
        return cls(chain.dense_layers(sizes, activations), cost=cost, backend=backend, params=params)

    @property
    def sizes(self) -> list:
        """The layer widths of a chain of Dense layers: ``[n_in, ..., n_out]``."""
        if not self.is_dense:
            raise ArgumentError(f"a model of {', '.join(type(l).__name__ for l in self.layers)} layers has no sizes "
                                "(the widths of a chain of Dense layers); see its layers")
        return [self.layers[0].n_in, *(layer.n_out for layer in self.layers)]

    @property
    def is_dense(self) -> bool:
        """True for the book's network: a chain of Dense layers only."""
        return all(isinstance(layer, chain.Dense) for layer in self.layers)

    @property
    def n_in(self) -> int:
        """The number of features of each input row (a model whose input is one vector per sample)."""
        if len(self.input_shape) != 1:
            raise ArgumentError(f"this model takes samples of shape {self.input_shape}, not rows of features")
        return self.input_shape[0]

    @property
    def n_out(self) -> int:
        """The number of outputs (the output layer's units)."""
        return self.layers[-1].n_out

    def parameter_shapes(self) -> list:
        """One :class:`~anynet.model.layers.Params` of shape tuples per entry
        of the parameter list (see :func:`anynet.model.layers.chain.param_shapes`)."""
        return chain.param_shapes(self.layers, self.input_shape)

    def parameter_count(self) -> int:
        """How many numbers the parameters hold."""
        return chain.parameter_count(self.layers, self.input_shape)

    @property
    def num_layers(self) -> int:
        return len(self.layers) + 1

    @property
    def activations(self) -> tuple:
        """Each Dense layer's Activation (the last: the output layer's)."""
        return tuple(layer.act for layer in self.layers if isinstance(layer, chain.Dense))

    @property
    def xp(self):
        return self.backend.xp

    def parameters(self) -> list:
        """The current parameter list (one Params per layer that has any)."""
        return self.params

    def set_parameters(self, params) -> None:
        """Install a new parameter list (arrays of this backend, already checked)."""
        self.params = list(params)

    def moved(self, backend: Backend) -> "Model":
        """This model with its parameters copied to ``backend`` (its device and dtype)."""
        shapes = [Params(tuple(p.weight.shape), tuple(p.bias.shape)) for p in self.params]
        return Model(self.layers, cost=self.cost, backend=backend, params=accept_parameters(backend, shapes, self.params),
                     input_shape=self.input_shape)

    # -- batched computations ------------------------------------------------

    def output_layer(self, x, params=None, *, activate=True):
        """``(z, a)`` of the output layer for the rows ``x`` (``a`` None
        without ``activate``: see :func:`anynet.model.layers.chain.output_layer`)."""
        params = chain.per_layer(self.layers, self.params if params is None else params)
        with self.backend.errstate():
            return chain.output_layer(self.layers, params, x, xp=self.xp, fuse=self.backend.fuse, activate=activate)

    def feedforward(self, x):
        """Output activations for the rows ``x``."""
        return self.output_layer(x)[1]

    def gradients(self, x, targets, params=None):
        """The cost's gradient summed over the rows of ``(x, targets)``: one
        Params per entry of the parameter list."""
        with self.backend.errstate():
            return chain.gradients(self.layers, self.params if params is None else params, x, targets,
                                   cost=self.cost, xp=self.xp, fuse=self.backend.fuse)

    def _chunks(self, x, *others):
        cpu = self.backend.name in ("numpy", "array_api_strict") or self.backend.device_name.lower().startswith("cpu")
        n, rows = x.shape[0], HOST_EVAL_CHUNK if cpu else EVAL_CHUNK
        for k in range(0, n, rows):
            stop = min(k + rows, n)
            yield (x[k:stop, ...], *(o[k:stop, ...] for o in others))

    def correct(self, data):
        """How many rows of ``data`` (a DeviceData) the network classifies
        correctly, as a 0-d integer array on the device."""
        xp = self.xp
        total = xp.zeros((), dtype=self.backend.index_dtype, device=self.backend.device)
        for x, labels in self._chunks(data.x, data.labels):
            hits = xp.argmax(self.feedforward(x), axis=-1) == labels
            total = total + xp.sum(xp.astype(hits, self.backend.index_dtype))
        return total

    def cost_sum(self, data):
        """The cost summed over the rows of ``data`` (no regularisation), as a 0-d array."""
        xp = self.xp
        total = xp.zeros((), dtype=self.backend.dtype, device=self.backend.device)
        with self.backend.errstate():
            for x, targets in self._chunks(data.x, data.targets):
                z, a = self.output_layer(x, activate=self.cost.total_needs_output)
                total = total + self.cost.total(z, a, targets, xp=xp)
        return total

    def all_finite(self, params=None):
        """A 0-d boolean array: no parameter holds NaN or inf."""
        xp = self.xp
        arrays = [a for p in (self.params if params is None else params) for a in p]
        ok = xp.all(xp.isfinite(arrays[0]))
        for a in arrays[1:]:
            ok = xp.logical_and(ok, xp.all(xp.isfinite(a)))
        return ok


# -- building a model -----------------------------------------------------------


def build_activations(sizes, cost, activation="sigmoid", output_activation=None):
    """One Activation per layer after the input, checked against the cost."""
    hidden_count = len(sizes) - 2
    if isinstance(activation, (list, tuple)):
        if len(activation) != hidden_count:
            raise ArgumentError(
                f"activation lists one activation per hidden layer: {hidden_count} expected, got {len(activation)}"
            )
        hidden = [get_activation(a) for a in activation]
    else:
        hidden = [get_activation(activation) for _ in range(hidden_count)]
    for act in hidden:
        if act.name not in HIDDEN_ACTIVATIONS:
            raise ArgumentError(f"hidden layers cannot use {act.name}; choose one of {', '.join(HIDDEN_ACTIVATIONS)}")
    if output_activation is None:
        output_activation = "softmax" if cost.output_activations == ("softmax",) else "sigmoid"
    output = get_activation(output_activation)
    cost.check_output(output)
    return hidden + [output]


def build(
    sizes,
    cost=None,
    *,
    backend="numpy",
    device=None,
    dtype=None,
    activation="sigmoid",
    output_activation=None,
    initializer=None,
    rng=None,
) -> Model:
    """A Model with freshly drawn parameters.

    ``cost=None`` is network.py's network (quadratic cost, N(0, 1) weights);
    a cost class or name is network2.py's (N(0, 1/n_in) weights unless
    ``initializer`` says otherwise).  ``rng`` is a NumPy Generator, or None
    for the global ``numpy.random`` state the book draws from.
    """
    sizes = arguments.sizes(sizes)
    cost_class = get_cost(QuadraticCost if cost is None else cost)
    activations = build_activations(sizes, cost_class, activation, output_activation)
    init = get_initializer(("large" if cost is None else "default") if initializer is None else initializer)
    resolved = get_backend(backend, device, dtype)
    model = Model.dense(sizes, cost=cost_class, activations=activations, backend=resolved)
    check_memory(model.layers, model.input_shape, resolved)
    drawn = draw(init, sizes, np.random if rng is None else rng)
    model.set_parameters(accept_parameters(resolved, model.parameter_shapes(), drawn))
    return model


def accept_parameters(backend: Backend, shapes, params) -> list:
    """``params`` (one Params per entry) through :func:`accept`, for
    ``shapes`` (one :class:`~anynet.model.params.Params` of shapes per entry:
    ``Model.parameter_shapes()``)."""
    params = list(params)
    if len(params) != len(shapes):
        raise ArgumentError(f"the parameters need {len(shapes)} (weight, bias) pairs (one per layer), got {len(params)}")
    weight_shapes, bias_shapes = book_lists(shapes)
    weights = accept(backend, [p[0] for p in params], weight_shapes, "weights")
    biases = accept(backend, [p[1] for p in params], bias_shapes, "biases")
    return from_book(weights, biases)


def draw(init, sizes, rng) -> list:
    """Call an initializer and check it returned one (weight, bias) pair per layer."""
    drawn = init(sizes, rng)
    if not (isinstance(drawn, (tuple, list)) and all(isinstance(p, (tuple, list)) and len(p) == 2 for p in drawn)):
        raise ArgumentTypeError("an initializer must return a list of Params(weight, bias), one per layer, "
                                f"not {type(drawn).__name__}")
    return [Params(*p) for p in drawn]


def accept(backend: Backend, values, shapes, what: str) -> list:
    """Parameters given by a user or an initializer, as arrays of ``backend``:
    one per shape, each a copy (later writes to the user's array cannot reach
    the network), on the right device, finite."""
    from ..xp.backend import is_array, to_numpy

    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ArgumentTypeError(f"{what} must be a list of arrays, not {type(values).__name__}")
    values = list(values)
    if len(values) != len(shapes):
        raise ArgumentError(f"{what} needs {len(shapes)} arrays (one per layer), got {len(values)}")
    accepted = []
    xp = backend.xp
    for i, (value, shape) in enumerate(zip(values, shapes)):
        host = to_numpy(value) if is_array(value) and not backend.owns(value) else value
        if backend.owns(host):
            backend.check_device(host, f"{what}[{i}]")
        try:
            array = backend.asarray(host, copy=True)
        except (TypeError, ValueError) as exc:
            raise ArgumentTypeError(f"{what}[{i}] is not an array of numbers: {exc}") from None
        if tuple(array.shape) != shape:
            raise ArgumentError(f"{what}[{i}] must have shape {shape}, got {tuple(array.shape)}")
        if not bool(xp.all(xp.isfinite(array))):
            raise ArgumentError(f"{what}[{i}] contains NaN or inf")
        accepted.append(array)
    return accepted

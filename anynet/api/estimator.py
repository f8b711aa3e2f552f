"""What :mod:`anynet.sklearn`'s two estimators share: the parameters' checks,
training through :meth:`anynet.Network.train`, keeping the previous fit when
a fit fails, and pickling a fitted network as NumPy arrays and names.

It imports scikit-learn; :mod:`anynet.sklearn` is the public module, and the
only one that imports this one.
"""

from __future__ import annotations

import math
import numbers
from pathlib import Path

import numpy as np

from .. import arguments
from ..errors import ArgumentError, ArgumentTypeError, BackendUnavailable
from ..io import layerlist
from ..model.activations import HIDDEN_ACTIVATIONS, get_activation
from ..model.costs import get_cost
from ..model.layers import Dense
from ..model.model import Model, accept_parameters, build_activations
from ..model.params import from_book
from ..train.fit import TrainConfig
from ..xp.backend import get_backend, to_numpy
from .layerspec import parse
from .network_api import Network

try:
    from sklearn.base import BaseEstimator
    from sklearn.utils import check_random_state
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as exc:  # absent, or older than 1.6 (no validate_data)
    raise BackendUnavailable(
        "anynet.sklearn needs scikit-learn >= 1.6: pip install scikit-learn (or pip install 'anynet-nndl[sklearn]')"
    ) from exc

_SEED_RANGE = 2**31 - 1  # seeds drawn from a RandomState or the global state
FLOATS = (np.float64, np.float32)  # what validate_data converts X to


class NetworkEstimator(BaseEstimator):
    """The shared part of NetworkClassifier and NetworkRegressor: a subclass
    defines ``__init__`` (its parameters) and ``_fit(X, y)``."""

    def fit(self, X, y):
        """Train a new network on ``X`` (n_samples, n_features) and ``y``;
        returns self.  If it fails (bad arguments or data, diverged training,
        Ctrl-C), the estimator keeps its previous fit."""
        before = dict(vars(self))
        try:
            self._fit(X, y)
        except BaseException:
            vars(self).clear()
            vars(self).update(before)
            raise
        return self

    def _train(self, X, targets, n_out, cost, output_activation=None) -> None:
        """Train ``[n_features, *hidden, n_out]`` (or ``layers`` and an output
        layer of ``n_out`` units) on ``(X, targets)`` (labels or target rows)
        and set ``network_``, ``loss_curve_`` and ``n_iter_``."""
        config = TrainConfig(
            epochs=arguments.integer("epochs", self.epochs, low=1),
            mini_batch_size=arguments.integer("batch_size", self.batch_size, low=1),
            eta=self.eta, lmbda=self.lmbda, optimizer=self.optimizer, monitors=frozenset({"training_cost"}),
        )
        where = dict(backend=self.backend, device=self.device, dtype=self.dtype, seed=_seed(self.random_state))
        if self.layers is None:
            if self.input_shape is not None:
                raise ArgumentError(f"input_shape={self.input_shape!r} is for layers=; the network of "
                                    "hidden_layer_sizes takes each row of X as it is")
            hidden = _hidden_sizes(self.hidden_layer_sizes)
            network = Network([X.shape[1], *hidden, n_out], cost, activation=self.activation,
                              output_activation=output_activation, initializer=_initializer(self.activation), **where)
        else:
            output = output_activation or ("softmax" if get_cost(cost).name == "log-likelihood" else "sigmoid")
            network = Network(layer_network(self.layers, self.input_shape, X.shape[1], n_out, output), cost, **where)
        state = network.train((X, targets), config)
        self.network_ = network
        self.loss_curve_ = [report.training_cost for report in state.history]
        self.n_iter_ = len(state.history)

    def _outputs(self, X):
        """The output layer's activations for ``X``, a NumPy array (n_samples, n_outputs)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=FLOATS, reset=False)
        return self.network_.predict_proba(X)

    # A fitted network holds its backend's namespace (a module), which pickle
    # cannot store: the network travels as NumPy parameters and names instead.
    def __getstate__(self):
        state = dict(super().__getstate__())  # object.__getstate__ returns __dict__ itself
        if "network_" in state:
            state["network_"] = _portable(state["network_"])
        return state

    def __setstate__(self, state):
        state = dict(state)
        if "network_" in state:
            state["network_"] = _restore(state["network_"])
        super().__setstate__(state)


def layer_network(spec, input_shape, n_features, n_out, output) -> list:
    """The layers of an estimator's ``layers=spec`` (its hidden layers, in
    :mod:`anynet.api.layerspec`'s items) for rows of ``n_features`` values,
    each reshaped to ``input_shape`` (or the spec's ``image:C:H:W``; by
    default kept flat), and an output layer of ``n_out`` units with the
    activation ``output``; what does not fit is refused naming it."""
    if not isinstance(spec, str):
        raise ArgumentTypeError(f"layers must be a string of hidden-layer items such as 'conv:8:3,pool:2,relu', "
                                f"not {type(spec).__name__}")
    if not spec.strip(" ,"):
        raise ArgumentError("layers is empty; give hidden-layer items such as 'conv:8:3,pool:2,relu' "
                            "(or layers=None for hidden_layer_sizes)")
    shape = _input_shape(input_shape, n_features)
    try:
        layers = parse(f"{spec},dense:{n_out}:{output}", image=shape or (n_features,), name="layers")
    except ArgumentError as exc:
        flat = shape is None and not spec.lstrip().startswith("image:")
        hint = "" if not flat or "per sample, but its input has shape" not in str(exc) else (
            "; give input_shape=(C, H, W) (or start layers with image:C:H:W) to reshape each row to an image")
        raise ArgumentError(f"{exc}{hint}") from None
    image = layers[0].shape
    if shape is not None and image != shape:
        raise ArgumentError(f"layers starts with image:{':'.join(map(str, image))}, but input_shape is {shape}")
    if math.prod(image) != n_features:
        raise ArgumentError(f"layers' image:{':'.join(map(str, image))} holds {math.prod(image)} values per sample, "
                            f"but X has {n_features} features")
    for layer in layers[:-1]:
        if isinstance(layer, Dense) and layer.activation not in HIDDEN_ACTIVATIONS:
            raise ArgumentError(f"layers gives the hidden layers only, and dense:{layer.n_out}:{layer.activation} "
                                f"is an output layer; the estimator adds the output layer ({n_out} units) from the data")
    return layers


def _input_shape(value, n_features):
    """input_shape as a tuple of positive ints whose product is ``n_features`` (None stays None)."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ArgumentTypeError(f"input_shape must be a tuple such as (1, 8, 8), not {value!r}")
    shape = tuple(arguments.integer(f"input_shape[{i}]", n, low=1) for i, n in enumerate(value))
    if not shape:
        raise ArgumentError(f"input_shape is empty; give the shape of one sample, such as (1, 8, 8), whose "
                            f"product is X's {n_features} features")
    if math.prod(shape) != n_features:
        raise ArgumentError(f"input_shape {shape} holds {math.prod(shape)} values per sample, "
                            f"but X has {n_features} features")
    return shape


def _hidden_sizes(value) -> list[int]:
    """hidden_layer_sizes as a list of positive ints (one int is one layer)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value,)
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ArgumentTypeError(f"hidden_layer_sizes must be a tuple of layer widths such as (30,), not {value!r}")
    return [arguments.integer(f"hidden_layer_sizes[{i}]", size, low=1) for i, size in enumerate(value)]


def _seed(random_state) -> int:
    """The int seed for anynet.Network: random_state itself if it is an int,
    else one drawn from it (None: numpy's global state)."""
    if isinstance(random_state, numbers.Integral):  # bool too, which arguments.integer refuses
        return arguments.integer("random_state", random_state, low=0, high=2**32 - 1)
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(_SEED_RANGE))
    if random_state is not None and not isinstance(random_state, np.random.RandomState):
        raise ArgumentTypeError(
            f"random_state must be None, an int, a numpy RandomState or Generator, not {random_state!r}"
        )
    return int(check_random_state(random_state).randint(_SEED_RANGE))


def _initializer(activation) -> str:
    """He initial weights for ReLU networks, network2.py's N(0, 1/n_in) otherwise."""
    names = activation if isinstance(activation, (list, tuple)) else [activation]
    try:
        relu = all(get_activation(name).name == "relu" for name in names)
    except ValueError:
        return "default"  # an unknown name: Network refuses it with the list of valid ones
    return "he" if relu else "default"


def _portable(network: Network) -> dict:
    """A trained network as picklable values: names, NumPy arrays, strings
    (a network of layers: each layer's configuration, as a checkpoint records it)."""
    backend = network.backend
    model = network.model
    return {
        "sizes": network.sizes if model.is_dense else None,
        "layers": None if model.is_dense else layerlist.configs(model),
        "cost": network.cost.name,
        "activations": [a.name for a in network.activations],
        "weights": [to_numpy(w) for w in network.weights],
        "biases": [to_numpy(b) for b in network.biases],
        "backend": (backend.name, backend.device_name, backend.dtype_name),
        "seed": network.seed,
    }


def _restore(portable: dict) -> Network:
    """The Network that :func:`_portable` describes, on its backend and device."""
    sizes, cost = portable["sizes"], get_cost(portable["cost"])
    backend = get_backend(*portable["backend"])
    if portable.get("layers") is not None:
        layers, input_shape = layerlist.parse(Path("the pickled estimator"), *portable["layers"], cost)
        model = Model(layers, cost=cost, backend=backend, input_shape=input_shape)
    else:
        *hidden, output = portable["activations"]
        model = Model.dense(sizes, cost=cost, activations=build_activations(sizes, cost, hidden, output),
                            backend=backend)
    model.set_parameters(accept_parameters(backend, model.parameter_shapes(),
                                           from_book(portable["weights"], portable["biases"])))
    return Network.from_model(model, seed=portable["seed"])

"""What :mod:`anynet.sklearn`'s two estimators share: the parameters' checks,
training through :meth:`anynet.Network.train`, keeping the previous fit when
a fit fails, and pickling a fitted network as NumPy arrays and names.

It imports scikit-learn; :mod:`anynet.sklearn` is the public module, and the
only one that imports this one.
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import arguments
from ..errors import ArgumentTypeError, BackendUnavailable
from ..model.activations import get_activation
from ..model.costs import get_cost
from ..model.model import Model, accept_parameters, build_activations
from ..train.fit import TrainConfig
from ..xp.backend import get_backend, to_numpy
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
        """Train ``[n_features, *hidden, n_out]`` on ``(X, targets)`` (labels
        or target rows) and set ``network_``, ``loss_curve_`` and ``n_iter_``."""
        hidden = _hidden_sizes(self.hidden_layer_sizes)
        config = TrainConfig(
            epochs=arguments.integer("epochs", self.epochs, low=1),
            mini_batch_size=arguments.integer("batch_size", self.batch_size, low=1),
            eta=self.eta, lmbda=self.lmbda, optimizer=self.optimizer, monitors=frozenset({"training_cost"}),
        )
        network = Network(
            [X.shape[1], *hidden, n_out], cost, backend=self.backend, device=self.device, dtype=self.dtype,
            seed=_seed(self.random_state), activation=self.activation, output_activation=output_activation,
            initializer=_initializer(self.activation),
        )
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
    """A trained network as picklable values: names, NumPy arrays, strings."""
    backend = network.backend
    return {
        "sizes": network.sizes,
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
    *hidden, output = portable["activations"]
    model = Model.dense(sizes, cost=cost, activations=build_activations(sizes, cost, hidden, output), backend=backend,
                        weights=[], biases=[])
    model.set_parameters(*accept_parameters(backend, model.parameter_shapes(), portable["weights"], portable["biases"]))
    return Network.from_model(model, seed=portable["seed"])

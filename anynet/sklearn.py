"""``NetworkClassifier``: anynet's network as a scikit-learn classifier.

scikit-learn is an optional extra (``pip install scikit-learn``); ``import
anynet`` never imports it, and importing this module without it raises
:class:`anynet.errors.BackendUnavailable` (an ImportError) that says so.

The estimator follows scikit-learn's contract: ``__init__`` only stores its
arguments, ``fit`` checks them and the data, and it works in ``Pipeline``,
``GridSearchCV``, ``cross_val_score`` and ``clone``.  It trains through
anynet's one training loop (:meth:`anynet.Network.train`), on any backend::

    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from anynet.sklearn import NetworkClassifier

    model = make_pipeline(StandardScaler(), NetworkClassifier((100,), random_state=0))
    model.fit(X_train, y_train).score(X_test, y_test)
"""

from __future__ import annotations

import numbers

import numpy as np

from . import arguments
from .model.activations import get_activation
from .xp.backend import get_backend, to_numpy
from .model.costs import get_cost
from .errors import ArgumentTypeError, BackendUnavailable, DataError
from .train.fit import TrainConfig
from .model.model import Model, accept, build_activations
from .api.network_api import Network

try:
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as exc:  # absent, or older than 1.6 (no validate_data)
    raise BackendUnavailable(
        "anynet.sklearn needs scikit-learn >= 1.6: pip install scikit-learn (or pip install 'anynet-nndl[sklearn]')"
    ) from exc

# Checks of sklearn.utils.estimator_checks that NetworkClassifier does not
# pass, with the reason; handed to check_estimator / parametrize_with_checks.
EXPECTED_FAILED_CHECKS: dict[str, str] = {}

_SEED_RANGE = 2**31 - 1  # seeds drawn from a RandomState or the global state


class NetworkClassifier(ClassifierMixin, BaseEstimator):
    """A feedforward network classifier (anynet.Network) with scikit-learn's API.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default (30,)
        Widths of the hidden layers (the book's one layer of 30); ``()`` is
        multinomial logistic regression.  The input and output layers are
        taken from the data: ``[n_features, *hidden_layer_sizes, n_classes]``.
    epochs : int, default 30
        Passes over the training data.
    batch_size : int, default 16
        Mini-batch size (the last batch of an epoch may be smaller).
    eta : float, default 3e-3
        Learning rate (scikit-learn's ``learning_rate_init``).
    cost : str, default "log-likelihood"
        "log-likelihood" (a softmax output layer), "cross-entropy" or
        "quadratic" (sigmoid output layers).
    activation : str or list of str, default "relu"
        Hidden-layer activation: "relu", "sigmoid" (the book's) or "tanh", or
        one per hidden layer.  ReLU layers get He initial weights, the others
        network2.py's N(0, 1/n_in).
    optimizer : str or anynet Optimizer, default "adam"
        "adam", "momentum" or "sgd" (the book's plain SGD).
    lmbda : float, default 0.0
        network2.py's L2 regularisation: the cost gains lmbda/(2n) times the
        sum of the squared weights (n: the number of training samples).
    random_state : None, int, numpy RandomState or Generator, default None
        Seeds the initial weights and the shuffles; an int gives the same
        network as ``anynet.Network(..., seed=random_state)``.  None or a
        generator draws a fresh int seed at each fit.
    backend, device, dtype : default "numpy", None, "float64"
        Where the network lives, as in :class:`anynet.Network`; give the
        backend by name, so the estimator can be cloned and pickled.

    Attributes
    ----------
    classes_ : the class labels (any type, sorted), as ``numpy.unique`` gives them.
    n_features_in_, feature_names_in_ : as every scikit-learn estimator has them.
    network_ : the trained :class:`anynet.Network`.
    loss_curve_ : the training cost (with its L2 term) after each epoch.
    n_iter_ : the number of epochs run.

    Defaults are those of a modern small MLP (scikit-learn's MLPClassifier
    uses ReLU and Adam too) rather than the book's sigmoid/quadratic/SGD
    network, which needs a tuned eta per dataset; eta 3e-3 and batches of 16
    came within about a point of the best of the settings tried on iris,
    wine, breast cancer, digits and 4,000 Fashion-MNIST images.  Integer
    inputs are numbers, as everywhere in scikit-learn (uint8 is not taken
    for pixels and scaled, as anynet.Network does).  With the default softmax
    output, ``predict_proba`` rows sum to 1 (to the dtype's rounding); with a
    sigmoid output the activations are divided by their row sum.
    """

    def __init__(self, hidden_layer_sizes=(30,), *, epochs=30, batch_size=16, eta=3e-3, cost="log-likelihood",
                 activation="relu", optimizer="adam", lmbda=0.0, random_state=None, backend="numpy",
                 device=None, dtype="float64"):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.epochs = epochs
        self.batch_size = batch_size
        self.eta = eta
        self.cost = cost
        self.activation = activation
        self.optimizer = optimizer
        self.lmbda = lmbda
        self.random_state = random_state
        self.backend = backend
        self.device = device
        self.dtype = dtype

    def fit(self, X, y):
        """Train a new network on ``X`` (n_samples, n_features) and labels ``y``
        (n_samples,) of any type; returns self.  If it fails (bad arguments or
        data, diverged training, Ctrl-C), the estimator keeps its previous fit."""
        before = {k: v for k, v in vars(self).items() if _is_fitted(k)}
        try:
            self._fit(X, y)
        except BaseException:
            for key in [k for k in vars(self) if _is_fitted(k)]:
                delattr(self, key)
            vars(self).update(before)
            raise
        return self

    def _fit(self, X, y):
        hidden = _hidden_sizes(self.hidden_layer_sizes)
        config = TrainConfig(
            epochs=arguments.integer("epochs", self.epochs, low=1),
            mini_batch_size=arguments.integer("batch_size", self.batch_size, low=1),
            eta=self.eta, lmbda=self.lmbda, optimizer=self.optimizer, monitors=frozenset({"training_cost"}),
        )
        seed = _seed(self.random_state)
        X, y = validate_data(self, X, y, dtype=(np.float64, np.float32))
        check_classification_targets(y)
        self.classes_, labels = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            only = self.classes_.tolist()[0]
            raise DataError(f"y holds one class only ({only!r}); a classifier needs at least 2 classes")
        network = Network(
            [X.shape[1], *hidden, len(self.classes_)], self.cost, backend=self.backend, device=self.device,
            dtype=self.dtype, seed=seed, activation=self.activation, initializer=_initializer(self.activation),
        )
        state = network.train((X, labels), config)
        self.network_ = network
        self.loss_curve_ = [report.training_cost for report in state.history]
        self.n_iter_ = len(state.history)

    def predict_proba(self, X):
        """Class probabilities, an (n_samples, n_classes) NumPy array in the
        network's dtype whose rows sum to 1; columns follow ``classes_``."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=(np.float64, np.float32), reset=False)
        proba = self.network_.predict_proba(X)
        if self.network_.activations[-1].name != "softmax":
            # Sigmoid outputs are independent; a row that underflowed to all
            # zeros says nothing, so it becomes uniform rather than NaN.
            total = np.sum(proba, axis=1, keepdims=True)
            uniform = np.full_like(proba, 1 / proba.shape[1])
            proba = np.divide(proba, total, out=uniform, where=total > 0)
        return proba

    def predict(self, X):
        """The most probable class of each row of ``X``, as labels of ``classes_``."""
        proba = self.predict_proba(X)  # first: it says so if the estimator is not fitted
        return self.classes_[np.argmax(proba, axis=1)]

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


def _is_fitted(name: str) -> bool:
    """scikit-learn's convention: what fit learns ends with an underscore."""
    return name.endswith("_") and not name.startswith("_")


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
    model = Model(
        sizes, cost=cost, activations=build_activations(sizes, cost, hidden, output), backend=backend,
        weights=accept(backend, portable["weights"], [(y, x) for x, y in zip(sizes[:-1], sizes[1:])], "weights"),
        biases=accept(backend, portable["biases"], [(y, 1) for y in sizes[1:]], "biases"),
    )
    return Network.from_model(model, seed=portable["seed"])

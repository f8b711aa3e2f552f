"""anynet's network as scikit-learn estimators: ``NetworkClassifier`` and
``NetworkRegressor``.

scikit-learn is an optional extra (``pip install scikit-learn``); ``import
anynet`` never imports it, and importing this module without it raises
:class:`anynet.errors.BackendUnavailable` (an ImportError) that says so.

The estimators follow scikit-learn's contract: ``__init__`` only stores its
arguments, ``fit`` checks them and the data, and they work in ``Pipeline``,
``GridSearchCV``, ``cross_val_score`` and ``clone``.  They train through
anynet's one training loop (:meth:`anynet.Network.train`), on any backend.
``X`` may be a NumPy array or a pandas or polars DataFrame (its column names
become ``feature_names_in_``); the classifier's labels may be of any type,
strings and pandas categoricals included::

    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from anynet.sklearn import NetworkClassifier, NetworkRegressor

    model = make_pipeline(StandardScaler(), NetworkClassifier((100,), random_state=0))
    model.fit(X_train, y_train).score(X_test, y_test)

A conv net takes ``layers`` (the hidden layers in ``anynet train
--layers``'s syntax) and ``input_shape`` (rows of ``X`` stay 2-D)::

    NetworkClassifier(layers="conv:8:3,pool:2,relu,dropout:0.2", input_shape=(1, 8, 8))
"""

from __future__ import annotations

import numpy as np

from .api.estimator import FLOATS, NetworkEstimator
from .errors import DataError

from sklearn.base import ClassifierMixin, RegressorMixin  # after api.estimator: its ImportError says what to install
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data

# Checks of sklearn.utils.estimator_checks that the estimators do not pass,
# with the reason; handed to check_estimator / parametrize_with_checks.
EXPECTED_FAILED_CHECKS: dict[str, str] = {}


class NetworkClassifier(ClassifierMixin, NetworkEstimator):
    """A feedforward network classifier (anynet.Network) with scikit-learn's API.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default (30,)
        Widths of the hidden layers (the book's one layer of 30); ``()`` is
        multinomial logistic regression.  The input and output layers are
        taken from the data: ``[n_features, *hidden_layer_sizes, n_classes]``.
    layers : str or None, default None
        Hidden layers of any kind instead of ``hidden_layer_sizes`` and
        ``activation``: a layer spec as ``anynet train --layers`` takes it,
        less the output layer (:mod:`anynet.api.layerspec`: ``conv:F:K``,
        ``pool:P``, ``relu``/``sigmoid``/``tanh``, ``dropout:P``,
        ``dense:N[:ACTIVATION]``), e.g. ``"conv:8:3,pool:2,relu,dropout:0.2"``.
        The output layer comes from the data and ``cost``, as with
        ``hidden_layer_sizes``; each layer keeps its own initial weights.
        A string, not a list of layer objects, so that the estimator
        clones, compares in ``get_params``, prints and grid-searches as a
        plain value (``GridSearchCV(..., {"layers": [...]})``) and pickles as
        text.
    input_shape : tuple of int or None, default None
        The shape each row of ``X`` is reshaped to for ``layers``, e.g.
        ``(1, 8, 8)`` for scikit-learn's digits (``X`` stays 2-D, as
        scikit-learn requires); its product must be ``n_features``.  None
        keeps rows flat, unless ``layers`` starts with ``image:C:H:W``;
        convolutions and pooling need an image.
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
    loss_curve_ : the training cost after each epoch: the mean cost over the
        whole training set at the epoch's final weights, plus the L2 term
        (network2.py's ``total_cost``; an extra pass over the data each
        epoch).  scikit-learn's MLP estimators report instead the mean of
        the mini-batch losses met during the epoch, each at the weights
        before its update, so the two curves differ most in early epochs.
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

    def __init__(self, hidden_layer_sizes=(30,), *, layers=None, input_shape=None, epochs=30, batch_size=16, eta=3e-3,
                 cost="log-likelihood", activation="relu", optimizer="adam", lmbda=0.0, random_state=None,
                 backend="numpy", device=None, dtype="float64"):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.layers = layers
        self.input_shape = input_shape
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

    def _fit(self, X, y):
        X, y = validate_data(self, X, y, dtype=FLOATS)
        check_classification_targets(y)
        self.classes_, labels = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            only = self.classes_.tolist()[0]
            raise DataError(f"y holds one class only ({only!r}); a classifier needs at least 2 classes")
        self._train(X, labels, len(self.classes_), self.cost)

    def predict_proba(self, X):
        """Class probabilities, an (n_samples, n_classes) NumPy array in the
        network's dtype whose rows sum to 1; columns follow ``classes_``."""
        proba = self._outputs(X)
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


class NetworkRegressor(RegressorMixin, NetworkEstimator):
    """A feedforward network regressor (anynet.Network) with scikit-learn's API:
    least squares through a linear output layer.

    The network is ``[n_features, *hidden_layer_sizes, n_outputs]`` with the
    quadratic cost C = 0.5 * ||a - y||^2 (per sample; its mean over the
    samples is what MLPRegressor minimises, half the mean squared error
    summed over the outputs) and a linear output layer, a = z.  ``y`` is
    ``(n_samples,)`` or ``(n_samples, n_outputs)`` of numbers; ``predict``
    returns the same shape, as floats in the network's dtype (float64 by
    default).  ``score`` is R^2 (scikit-learn's ``r2_score``).

    Parameters are NetworkClassifier's, less ``cost`` (always the quadratic
    cost here); with ``layers``, the output layer is a linear one of
    ``n_outputs`` units after the given hidden layers.  Targets are taken as they are: scale them (for example with
    ``sklearn.compose.TransformedTargetRegressor`` and a ``StandardScaler``)
    when they are far from unit size, as for any network trained with a
    fixed learning rate.

    Attributes
    ----------
    n_features_in_, feature_names_in_ : as every scikit-learn estimator has them.
    n_outputs_ : the number of targets per sample.
    network_ : the trained :class:`anynet.Network`.
    loss_curve_ : the training cost (quadratic, with the L2 term) after each
        epoch, defined as :class:`NetworkClassifier`'s.
    n_iter_ : the number of epochs run.
    """

    def __init__(self, hidden_layer_sizes=(30,), *, layers=None, input_shape=None, epochs=30, batch_size=16, eta=3e-3,
                 activation="relu", optimizer="adam", lmbda=0.0, random_state=None, backend="numpy", device=None,
                 dtype="float64"):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.layers = layers
        self.input_shape = input_shape
        self.epochs = epochs
        self.batch_size = batch_size
        self.eta = eta
        self.activation = activation
        self.optimizer = optimizer
        self.lmbda = lmbda
        self.random_state = random_state
        self.backend = backend
        self.device = device
        self.dtype = dtype

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _fit(self, X, y):
        X, y = validate_data(self, X, y, dtype=FLOATS, y_numeric=True, multi_output=True)
        self._one_column = y.ndim == 1  # predict returns y's own shape
        targets = y.reshape(-1, 1) if y.ndim == 1 else y
        self.n_outputs_ = targets.shape[1]
        self._train(X, targets, self.n_outputs_, "quadratic", "linear")

    def predict(self, X):
        """Predicted targets for the rows of ``X``: ``(n_samples,)`` when the
        estimator was fitted on one column of targets, else ``(n_samples,
        n_outputs_)``; a NumPy array in the network's dtype."""
        outputs = self._outputs(X)
        return outputs[:, 0] if self._one_column else outputs

"""The scikit-learn estimators with networks of layers (issue 18 item 2):
``layers=`` (the hidden layers as a layer spec) and ``input_shape=`` (X stays
2-D and is reshaped to images inside).  A conv NetworkClassifier on
scikit-learn's digits trains the network anynet.Network trains, bit for bit;
it clones, pickles and grid-searches; bad specs and shapes are refused at fit
naming the problem; and scikit-learn's own checks pass on a layer network."""

from __future__ import annotations

import pickle
import re

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.utils.estimator_checks import parametrize_with_checks

import anynet
from anynet.api.layerspec import parse
from anynet.errors import ArgumentError, ArgumentTypeError
from anynet.model.layers import Conv2D, Dense, Dropout, MaxPool2D
from anynet.sklearn import EXPECTED_FAILED_CHECKS, NetworkClassifier, NetworkRegressor
from anynet.train.fit import TrainConfig

DIGITS_X, DIGITS_Y = load_digits(return_X_y=True)
DIGITS_X = DIGITS_X / 16  # pixels 0..16 to [0, 1]
X_TRAIN, X_TEST, Y_TRAIN, Y_TEST = train_test_split(DIGITS_X, DIGITS_Y, test_size=0.25, random_state=0)
CONV = "conv:8:3,pool:2,relu,dropout:0.2"


def test_a_conv_classifier_on_digits_trains_the_network_anynet_trains():
    """Oracle for the numbers: anynet.Network of the same layers (the spec
    with the output layer the estimator adds), the same seed and
    TrainConfig, trained directly: bit-identical weights, loss curve and
    probabilities.  Accuracy: 0.92 measured after 5 epochs (chance: 0.1)."""
    clf = NetworkClassifier(layers=CONV, input_shape=(1, 8, 8), epochs=5, random_state=0).fit(X_TRAIN, Y_TRAIN)
    kinds = [type(layer) for layer in clf.network_.model.layers]
    assert kinds[1:4] == [Conv2D, MaxPool2D, anynet.model.layers.Activate] and Dropout in kinds
    assert clf.network_.model.layers[-1] == Dense(72, 10, "softmax")
    net = anynet.Network(parse(f"image:1:8:8,{CONV},dense:10:softmax"), "log-likelihood", seed=0)
    state = net.train((X_TRAIN, Y_TRAIN), TrainConfig(5, 16, 3e-3, optimizer="adam", monitors={"training_cost"}))
    for ours, theirs in zip(clf.network_.weights + clf.network_.biases, net.weights + net.biases):
        np.testing.assert_array_equal(ours, theirs)
    assert clf.loss_curve_ == [report.training_cost for report in state.history] and clf.n_iter_ == 5
    np.testing.assert_array_equal(clf.predict_proba(X_TEST), net.predict_proba(X_TEST))
    assert clf.predict(X_TEST).shape == (len(X_TEST),) and set(clf.predict(X_TEST)) <= set(range(10))
    assert clf.score(X_TEST, Y_TEST) >= 0.85


def test_clone_get_params_set_params_pickle_and_grid_search():
    est = NetworkClassifier(layers=CONV, input_shape=(1, 8, 8), epochs=1, random_state=3)
    params = est.get_params()
    assert params["layers"] == CONV and params["input_shape"] == (1, 8, 8)
    copy = clone(est)
    assert copy.get_params() == params and not hasattr(copy, "network_")
    assert copy.set_params(layers="conv:4:3,relu") is copy and copy.layers == "conv:4:3,relu" and est.layers == CONV
    est.fit(X_TRAIN[:200], Y_TRAIN[:200])
    back = pickle.loads(pickle.dumps(est))  # the network travels as layer configurations and NumPy arrays
    assert back.network_.model.layers == est.network_.model.layers
    np.testing.assert_array_equal(back.predict_proba(X_TEST), est.predict_proba(X_TEST))
    grid = GridSearchCV(clone(est), {"layers": [CONV, "conv:4:5,relu"]}, cv=2).fit(X_TRAIN[:200], Y_TRAIN[:200])
    assert grid.best_params_["layers"] in (CONV, "conv:4:5,relu") and len(grid.cv_results_["params"]) == 2


def test_a_conv_regressor_has_a_linear_output_of_the_targets():
    y = np.stack([DIGITS_Y / 9, (DIGITS_Y % 2).astype(float)], axis=1)
    reg = NetworkRegressor(layers="image:1:8:8,conv:4:3,pool:2,tanh", epochs=3, random_state=1).fit(DIGITS_X, y)
    assert reg.network_.model.layers[-1] == Dense(36, 2, "linear") and reg.predict(DIGITS_X[:5]).shape == (5, 2)
    net = anynet.Network(parse("image:1:8:8,conv:4:3,pool:2,tanh,dense:2:linear"), "quadratic", seed=1)
    net.train((DIGITS_X, y), TrainConfig(3, 16, 3e-3, optimizer="adam", monitors={"training_cost"}))
    np.testing.assert_array_equal(reg.predict(DIGITS_X), net.predict_proba(DIGITS_X))


@pytest.mark.parametrize(
    "params, error, words",
    [
        (dict(layers="conv:8:3,pool:2"), ArgumentError, "give input_shape=(C, H, W)"),
        (dict(layers="conv:8:3", input_shape=(1, 8, 9)), ArgumentError, "input_shape (1, 8, 9) holds 72 values"),
        (dict(layers="image:1:7:7,conv:8:3"), ArgumentError, "layers' image:1:7:7 holds 49 values"),
        (dict(layers="image:1:8:8,relu", input_shape=(4, 4, 4)), ArgumentError, "but input_shape is (4, 4, 4)"),
        (dict(layers="conv:8:9", input_shape=(1, 8, 8)), ArgumentError, "layers item 'conv:8:9'"),
        (dict(layers="conv:8:3,pool:7", input_shape=(1, 8, 8)), ArgumentError, "layers item 'pool:7'"),
        (dict(layers="conv:8", input_shape=(1, 8, 8)), ArgumentError, "layers item 'conv:8' needs 2"),
        (dict(layers="convolve:8:3", input_shape=(1, 8, 8)), ArgumentError, "layers: unknown item 'convolve:8:3'"),
        (dict(layers="dropout:1.5"), ArgumentError,
         "layers item 'dropout:1.5': a dropout probability p must be in [0, 1)"),
        (dict(layers="dense:10:softmax"), ArgumentError, "hidden layers only, and dense:10:softmax"),
        (dict(layers=" , "), ArgumentError, "layers is empty"),
        (dict(layers=[Dense(64, 10)]), ArgumentTypeError, "layers must be a string"),
        (dict(input_shape=(1, 8, 8)), ArgumentError, "input_shape=(1, 8, 8) is for layers="),
        (dict(layers="relu", input_shape="1x8x8"), ArgumentTypeError, "input_shape must be a tuple"),
        (dict(layers="relu", input_shape=(1, 0, 8)), ArgumentError, "input_shape[1]"),
        (dict(layers="relu", input_shape=()), ArgumentError, "input_shape is empty; give the shape of one sample"),
    ],
)
def test_bad_layer_specs_and_shapes_are_refused_at_fit(params, error, words):
    clf = NetworkClassifier(epochs=1, **params)  # scikit-learn's contract: __init__ only stores
    with pytest.raises(error, match=re.escape(words)):
        clf.fit(X_TRAIN[:50], Y_TRAIN[:50])
    with pytest.raises(NotFittedError):
        clf.predict(X_TEST)


# scikit-learn's checks fit data of 1 to 20-odd features, which a conv net's
# fixed input_shape cannot take (each such fit is refused, naming the shape):
# they run on a network of layers without an image, dropout included.
@parametrize_with_checks([NetworkClassifier(layers="dropout:0.1,dense:30:relu"),
                          NetworkRegressor(layers="dropout:0.1,dense:30:relu")],
                         expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS)
def test_sklearn_estimator_checks_on_a_layer_network(estimator, check):
    check(estimator)

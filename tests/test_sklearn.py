"""anynet.sklearn.NetworkClassifier: scikit-learn's own estimator checks, the
meta-estimators on real data (sklearn's bundled iris and digits), and the
estimator against anynet.Network trained directly (the oracle for "it trains
through anynet's loop")."""

from __future__ import annotations

import pickle
import re
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone
from sklearn.datasets import load_digits, load_iris
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import anynet
from conftest import make_backend, rel_diff
from anynet.errors import (
    ArgumentError,
    ArgumentTypeError,
    BackendUnavailable,
    DataError,
)
from anynet.train.fit import TrainConfig
from anynet.sklearn import EXPECTED_FAILED_CHECKS, NetworkClassifier, NetworkRegressor

IRIS_X, IRIS_Y = load_iris(return_X_y=True)
IRIS_SCALED = StandardScaler().fit_transform(IRIS_X)
IRIS_NAMES = np.array(["setosa", "versicolor", "virginica"])


# -- scikit-learn's contract ----------------------------------------------------------


@parametrize_with_checks([NetworkClassifier(), NetworkRegressor()], expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS)
def test_sklearn_estimator_checks(estimator, check):
    """Every check of check_estimator, each as its own test, on the defaults
    (so the defaults reach the checks' accuracy and R^2 floors on their data),
    with no expected failure for either estimator."""
    check(estimator)


def test_import_anynet_does_not_import_sklearn():
    code = "import sys, anynet; assert not [m for m in sys.modules if m.split('.')[0] == 'sklearn'], 'sklearn imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_sklearn_says_what_to_install():
    code = (
        "import sys; sys.modules['sklearn'] = None\n"  # makes `import sklearn...` fail as if absent
        "from anynet.errors import BackendUnavailable\n"
        "try:\n    import anynet.sklearn\nexcept BackendUnavailable as exc:\n    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert "pip install scikit-learn" in out
    assert issubclass(BackendUnavailable, ImportError)


def test_clone_get_params_set_params():
    est = NetworkClassifier((5, 4), epochs=3, eta=0.1, activation="tanh", random_state=3)
    params = est.get_params()
    assert params["hidden_layer_sizes"] == (5, 4) and params["eta"] == 0.1 and params["random_state"] == 3
    assert set(params) == {"hidden_layer_sizes", "layers", "input_shape", "epochs", "batch_size", "eta", "cost",
                           "activation", "optimizer", "lmbda", "random_state", "backend", "device", "dtype"}
    est.fit(IRIS_SCALED, IRIS_Y)
    copy = clone(est)
    assert copy.get_params() == params
    assert not hasattr(copy, "network_")  # a clone is unfitted
    assert copy.set_params(eta=0.2) is copy and copy.eta == 0.2 and est.eta == 0.1


# -- real data through scikit-learn's meta-estimators --------------------------------


def test_pipeline_on_digits():
    """Digits (8x8 images, 10 classes) behind a StandardScaler: the defaults
    score 0.967-0.980 on this held-out quarter over random states 0-3;
    chance, an untrained network (eta 1e-9) or scrambled classes_ score about
    0.1, one epoch 0.90 and two 0.94, so 0.95 catches a broken estimator."""
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    model = make_pipeline(StandardScaler(), NetworkClassifier(random_state=0)).fit(X_train, y_train)
    assert model.score(X_test, y_test) >= 0.95
    clf = model[-1]
    assert clf.n_features_in_ == 64 and list(clf.classes_) == list(range(10))
    assert len(clf.loss_curve_) == clf.n_iter_ == clf.epochs
    assert clf.loss_curve_[-1] < clf.loss_curve_[0] / 10  # measured: 0.46 after epoch 1, 0.002 after 30


def test_cross_val_score_on_iris():
    """5-fold mean accuracy 0.93-0.95 over random states 0-3; chance is 1/3."""
    model = make_pipeline(StandardScaler(), NetworkClassifier(random_state=0))
    assert cross_val_score(model, IRIS_X, IRIS_Y, cv=5).mean() >= 0.9


def test_grid_search_over_eta():
    """eta=1e-5 barely moves the initial weights in 30 epochs (mean 0.0-0.43
    over random states 0-2); 3e-3 reaches 0.90-0.92, so the search must pick it
    (proving set_params reaches fit through the pipeline)."""
    model = make_pipeline(StandardScaler(), NetworkClassifier(random_state=0))
    search = GridSearchCV(model, {"networkclassifier__eta": [1e-5, 3e-3]}, cv=3, n_jobs=1).fit(IRIS_X, IRIS_Y)
    assert search.best_params_ == {"networkclassifier__eta": 3e-3}
    assert search.best_score_ >= 0.85
    assert search.best_estimator_.score(IRIS_X, IRIS_Y) >= 0.9


def test_string_labels_round_trip():
    """String labels train the same network as their integer codes."""
    by_code = NetworkClassifier(random_state=1).fit(IRIS_SCALED, IRIS_Y)
    by_name = NetworkClassifier(random_state=1).fit(IRIS_SCALED, IRIS_NAMES[IRIS_Y])
    assert list(by_name.classes_) == list(IRIS_NAMES)
    np.testing.assert_array_equal(by_name.predict(IRIS_SCALED), IRIS_NAMES[by_code.predict(IRIS_SCALED)])
    assert by_name.score(IRIS_SCALED, IRIS_NAMES[IRIS_Y]) == by_code.score(IRIS_SCALED, IRIS_Y) >= 0.9


def test_dataframe_feature_names():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(IRIS_SCALED, columns=["sl", "sw", "pl", "pw"])
    clf = NetworkClassifier(epochs=2, random_state=0).fit(frame, IRIS_Y)
    assert list(clf.feature_names_in_) == ["sl", "sw", "pl", "pw"]
    with pytest.warns(UserWarning, match="feature names"):  # scikit-learn's own check, through validate_data
        np.testing.assert_array_equal(clf.predict(frame), clf.predict(IRIS_SCALED))
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(frame.rename(columns={"sl": "x"}))


# -- what the estimator computes ------------------------------------------------------


def test_trains_the_network_anynet_trains():
    """Oracle: anynet.Network with the same seed and TrainConfig, trained
    directly on the integer codes, ends with bit-identical weights."""
    clf = NetworkClassifier((8,), epochs=3, random_state=5).fit(IRIS_SCALED, IRIS_NAMES[IRIS_Y])
    net = anynet.Network([4, 8, 3], "log-likelihood", activation="relu", initializer="he", seed=5)
    state = net.train((IRIS_SCALED, IRIS_Y), TrainConfig(3, 16, 3e-3, optimizer="adam", monitors={"training_cost"}))
    for ours, theirs in zip(clf.network_.weights + clf.network_.biases, net.weights + net.biases):
        np.testing.assert_array_equal(ours, theirs)
    assert clf.loss_curve_ == [report.training_cost for report in state.history]
    np.testing.assert_array_equal(clf.predict_proba(IRIS_SCALED), net.predict_proba(IRIS_SCALED))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("cost", ["log-likelihood", "cross-entropy", "quadratic"])
def test_predict_proba_rows_sum_to_one(cost, dtype):
    """Softmax rows (or sigmoid rows divided by their sum) sum to 1 within
    4 * n_classes * eps: each of the k quotients and the k-term sums (the
    network's and this test's) round by at most k eps."""
    clf = NetworkClassifier(epochs=5, cost=cost, dtype=dtype, random_state=0).fit(IRIS_SCALED, IRIS_Y)
    proba = clf.predict_proba(IRIS_SCALED)
    assert proba.shape == (150, 3) and proba.dtype == np.dtype(dtype)
    assert np.all((proba >= 0) & (proba <= 1))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=4 * 3 * np.finfo(dtype).eps)
    np.testing.assert_array_equal(clf.predict(IRIS_SCALED), clf.classes_[np.argmax(proba, axis=1)])


def test_sigmoid_rows_that_underflow_become_uniform():
    clf = NetworkClassifier((), epochs=1, cost="cross-entropy", random_state=0).fit(IRIS_SCALED, IRIS_Y)
    net = clf.network_
    net.weights = [np.zeros_like(w) for w in net.weights]
    net.biases = [np.full_like(b, -1e4) for b in net.biases]  # sigmoid(-1e4) is exactly 0 in float64
    np.testing.assert_array_equal(clf.predict_proba(IRIS_SCALED[:2]), np.full((2, 3), 1 / 3))


def test_random_state_reproducible():
    def proba(random_state):
        return NetworkClassifier(epochs=3, random_state=random_state).fit(IRIS_SCALED, IRIS_Y).predict_proba(IRIS_SCALED)

    np.testing.assert_array_equal(proba(7), proba(7))
    assert not np.array_equal(proba(7), proba(8))
    np.testing.assert_array_equal(proba(np.random.RandomState(0)), proba(np.random.RandomState(0)))
    np.testing.assert_array_equal(proba(np.random.default_rng(0)), proba(np.random.default_rng(0)))


def test_uint8_inputs_are_numbers_not_pixels():
    """scikit-learn's convention: integers are values (anynet.Network would
    scale uint8 to [0, 1] and warn, which pytest -W error would turn into a failure)."""
    X = np.round(IRIS_X * 10).astype(np.uint8)
    a = NetworkClassifier(epochs=2, random_state=0).fit(X, IRIS_Y).predict_proba(X)
    b = NetworkClassifier(epochs=2, random_state=0).fit(X.astype(np.float64), IRIS_Y).predict_proba(X.astype(np.float64))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "name, device, dtype",
    [("array_api_strict", "device1", "float64"), ("array_api_strict", "device1", "float32"),
     ("torch", "cpu", "float64"), ("torch", "cpu", "float32")],
)
def test_other_backends_match_numpy(name, device, dtype):
    """The same random_state on another backend gives NumPy's probabilities
    to ~100x the worst difference measured here, and a
    pickled estimator comes back on that backend and device."""
    make_backend((name, device, dtype))  # skips only where the library is really absent
    clf = NetworkClassifier(backend=name, device=device, dtype=dtype, random_state=0).fit(IRIS_SCALED, IRIS_Y)
    ref = NetworkClassifier(dtype=dtype, random_state=0).fit(IRIS_SCALED, IRIS_Y)
    proba = clf.predict_proba(IRIS_SCALED)
    assert isinstance(proba, np.ndarray) and proba.dtype == np.dtype(dtype)
    # measured worst 4.4e-16 (array_api_strict) / 1.8e-07 (torch) after the whole fit
    assert rel_diff(proba, ref.predict_proba(IRIS_SCALED)) <= {"float64": 4e-14, "float32": 2e-5}[dtype]
    assert clf.score(IRIS_SCALED, IRIS_Y) >= 0.9
    back = pickle.loads(pickle.dumps(clf))
    assert back.network_.backend.name == name and back.network_.backend.device_name == device
    np.testing.assert_array_equal(back.predict_proba(IRIS_SCALED), proba)


# -- mistakes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params, error, words",
    [
        (dict(eta=-1.0), ArgumentError, "eta"),
        (dict(eta="fast"), ArgumentTypeError, "eta"),
        (dict(epochs=0), ArgumentError, "epochs"),
        (dict(epochs=2.5), ArgumentTypeError, "epochs"),
        (dict(batch_size=0), ArgumentError, "batch_size"),
        (dict(lmbda=-0.1), ArgumentError, "lmbda"),
        (dict(hidden_layer_sizes="30"), ArgumentTypeError, "hidden_layer_sizes"),
        (dict(hidden_layer_sizes=(30, 0)), ArgumentError, "hidden_layer_sizes[1]"),
        (dict(optimizer="rmsprop"), ArgumentError, "optimizer"),
        (dict(cost="hinge"), ArgumentError, "cost"),
        (dict(activation="swish"), ArgumentError, "activation"),
        (dict(activation="softmax"), ArgumentError, "softmax"),
        (dict(random_state=-1), ArgumentError, "random_state"),
        (dict(random_state=True), ArgumentTypeError, "random_state"),
        (dict(random_state="seed"), ArgumentTypeError, "random_state"),
        (dict(backend="tensorflow"), ArgumentError, "backend"),
        (dict(dtype="float16"), ArgumentError, "dtype"),
    ],
)
def test_bad_hyperparameters_are_refused_at_fit(params, error, words):
    clf = NetworkClassifier(**params)  # scikit-learn's contract: __init__ only stores
    with pytest.raises(error, match=re.escape(words)):
        clf.fit(IRIS_SCALED, IRIS_Y)
    with pytest.raises(NotFittedError):
        clf.predict(IRIS_SCALED)


def test_one_class_is_refused():
    with pytest.raises(DataError, match="one class"):
        NetworkClassifier().fit(IRIS_SCALED[:50], IRIS_NAMES[IRIS_Y[:50]])


def test_failed_fit_keeps_the_previous_fit():
    clf = NetworkClassifier(epochs=2, random_state=0).fit(IRIS_SCALED, IRIS_Y)
    before = clf.predict_proba(IRIS_SCALED)
    with pytest.raises(DataError):
        clf.fit(IRIS_SCALED[:50, :2], IRIS_Y[:50])  # fails after validate_data set n_features_in_ = 2
    assert clf.n_features_in_ == 4
    np.testing.assert_array_equal(clf.predict_proba(IRIS_SCALED), before)

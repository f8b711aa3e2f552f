"""anynet.sklearn.NetworkRegressor (least squares through a linear output
layer) against anynet.Network trained directly, on real data, and both
estimators on pandas and polars DataFrames (feature names, string and
categorical labels, DataFrame targets)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import load_iris, make_friedman1
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import anynet
from anynet.train.fit import TrainConfig
from anynet.sklearn import NetworkClassifier, NetworkRegressor

FRIEDMAN_X, FRIEDMAN_Y = make_friedman1(n_samples=600, noise=0.0, random_state=0)
SCALED_X = StandardScaler().fit_transform(FRIEDMAN_X)
SCALED_Y = (FRIEDMAN_Y - FRIEDMAN_Y.mean()) / FRIEDMAN_Y.std()
IRIS_X, IRIS_Y = load_iris(return_X_y=True)
IRIS_SCALED = StandardScaler().fit_transform(IRIS_X)
IRIS_NAMES = np.array(["setosa", "versicolor", "virginica"])
IRIS_COLUMNS = ["sl", "sw", "pl", "pw"]


# -- the regressor ----------------------------------------------------------------------


@pytest.mark.parametrize("outputs", [1, 2])
def test_regressor_trains_the_network_anynet_trains(outputs):
    """Oracle: anynet.Network with a linear output and the quadratic cost,
    the same seed and TrainConfig, trained directly on the target rows, ends
    with bit-identical weights; predict has y's own shape (1-d for 1-d y)."""
    y = SCALED_Y if outputs == 1 else np.c_[SCALED_Y, -2 * SCALED_Y + 1]
    reg = NetworkRegressor((8,), epochs=3, random_state=5).fit(SCALED_X, y)
    net = anynet.Network([10, 8, outputs], "quadratic", output_activation="linear", activation="relu",
                         initializer="he", seed=5)
    state = net.train((SCALED_X, y.reshape(len(y), -1)),
                      TrainConfig(3, 16, 3e-3, optimizer="adam", monitors={"training_cost"}))
    for ours, theirs in zip(reg.network_.weights + reg.network_.biases, net.weights + net.biases):
        np.testing.assert_array_equal(ours, theirs)
    assert reg.loss_curve_ == [report.training_cost for report in state.history]
    assert [a.name for a in reg.network_.activations] == ["relu", "linear"]
    predicted = reg.predict(SCALED_X)
    assert predicted.shape == y.shape and predicted.dtype == np.float64 and reg.n_outputs_ == outputs
    np.testing.assert_array_equal(predicted, net.predict_proba(SCALED_X).reshape(y.shape))


def test_regressor_learns_a_nonlinear_function():
    """Friedman #1 (y = 10 sin(pi x1 x2) + 20 (x3 - 0.5)^2 + 10 x4 + 5 x5):
    the defaults reach held-out R^2 0.88-0.90 over random states 0-3, where
    least squares on the raw features reaches 0.78 and an untrained network
    (eta 1e-9) or one epoch stays below 0.26; so 0.85 shows a network that
    learned the curvature."""
    X_train, X_test, y_train, y_test = train_test_split(FRIEDMAN_X, FRIEDMAN_Y, test_size=0.25, random_state=0)
    assert LinearRegression().fit(X_train, y_train).score(X_test, y_test) < 0.8
    model = TransformedTargetRegressor(make_pipeline(StandardScaler(), NetworkRegressor(random_state=0)),
                                       transformer=StandardScaler())
    assert model.fit(X_train, y_train).score(X_test, y_test) >= 0.85
    regressor = model.regressor_[-1]
    assert regressor.loss_curve_[-1] < regressor.loss_curve_[0] / 4


def test_regressor_pickles_and_keeps_its_fit_on_failure():
    reg = NetworkRegressor((5,), epochs=2, random_state=1).fit(SCALED_X, SCALED_Y)
    copy = pickle.loads(pickle.dumps(reg))
    np.testing.assert_array_equal(copy.predict(SCALED_X), reg.predict(SCALED_X))
    before = reg.predict(SCALED_X)
    with pytest.raises(ValueError):
        reg.fit(SCALED_X, np.full(len(SCALED_Y), np.nan))
    np.testing.assert_array_equal(reg.predict(SCALED_X), before)


def test_a_regression_network_checkpoints_and_loads(tmp_path):
    reg = NetworkRegressor((5,), epochs=2, random_state=1).fit(SCALED_X, SCALED_Y)
    reg.network_.save(tmp_path / "reg.npz")
    loaded = anynet.load(tmp_path / "reg.npz")
    assert [a.name for a in loaded.activations] == ["relu", "linear"] and loaded.cost.name == "quadratic"
    np.testing.assert_array_equal(loaded.predict_proba(SCALED_X)[:, 0], reg.predict(SCALED_X))


def test_linear_is_an_output_activation_only():
    with pytest.raises(ValueError, match="hidden layers cannot use linear"):
        anynet.Network([3, 4, 1], "quadratic", activation="linear")
    with pytest.raises(ValueError, match="cannot follow a linear output"):
        anynet.Network([3, 4, 2], "log-likelihood", output_activation="linear")
    assert anynet.Network([3, 1], "quadratic", output_activation="identity").activations[-1].name == "linear"


# -- DataFrames ---------------------------------------------------------------------------


def _frames():
    """(library name, DataFrame constructor, Series constructor) for pandas and polars, where installed."""
    found = []
    try:
        import pandas as pd
    except ImportError:
        pass
    else:
        found.append(("pandas", lambda a, cols: pd.DataFrame(a, columns=cols),
                      lambda v, categorical: pd.Series(v, dtype="category" if categorical else None)))
    try:
        import polars as pl
    except ImportError:
        pass
    else:
        found.append(("polars", lambda a, cols: pl.DataFrame(a, schema=cols),
                      lambda v, categorical: pl.Series(v, dtype=pl.Categorical if categorical else None)))
    return found


FRAMES = _frames() or [pytest.param(None, None, None, marks=pytest.mark.skip("neither pandas nor polars"))]


@pytest.mark.parametrize("library, frame, series", FRAMES, ids=lambda v: v if isinstance(v, str) else "")
@pytest.mark.parametrize("categorical", [False, True], ids=["strings", "categorical"])
def test_classifier_on_dataframes(library, frame, series, categorical):
    """A DataFrame with string or categorical labels trains the network the
    NumPy arrays train, bit for bit; its column names become feature_names_in_."""
    X, y = frame(IRIS_SCALED, IRIS_COLUMNS), series(IRIS_NAMES[IRIS_Y], categorical)
    clf = NetworkClassifier(epochs=3, random_state=2).fit(X, y)
    ref = NetworkClassifier(epochs=3, random_state=2).fit(IRIS_SCALED, IRIS_NAMES[IRIS_Y])
    assert list(clf.feature_names_in_) == IRIS_COLUMNS and list(clf.classes_) == list(IRIS_NAMES)
    np.testing.assert_array_equal(clf.predict_proba(X), ref.predict_proba(IRIS_SCALED))
    assert list(clf.predict(X)) == list(ref.predict(IRIS_SCALED))
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(frame(IRIS_SCALED, ["x", *IRIS_COLUMNS[1:]]))


@pytest.mark.parametrize("library, frame, series", FRAMES, ids=lambda v: v if isinstance(v, str) else "")
def test_regressor_on_dataframes(library, frame, series):
    """X as a DataFrame, y as a Series (one output) or a DataFrame (two):
    the same network as from NumPy arrays, predictions of y's shape."""
    columns = [f"x{i}" for i in range(10)]
    two = np.c_[SCALED_Y, 1 - SCALED_Y]
    for y, y_frame in ((SCALED_Y, series(SCALED_Y, False)), (two, frame(two, ["a", "b"]))):
        reg = NetworkRegressor((6,), epochs=2, random_state=4).fit(frame(SCALED_X, columns), y_frame)
        ref = NetworkRegressor((6,), epochs=2, random_state=4).fit(SCALED_X, y)
        assert list(reg.feature_names_in_) == columns
        predicted = reg.predict(frame(SCALED_X, columns))
        assert predicted.shape == y.shape
        np.testing.assert_array_equal(predicted, ref.predict(SCALED_X))

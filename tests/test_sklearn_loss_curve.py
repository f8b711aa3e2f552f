"""The estimators' ``loss_curve_`` is what their docstrings say: after each
epoch, the mean cost over the whole training set at that epoch's weights plus
the L2 term lmbda/(2n) * sum(w**2), computed here in NumPy from the
network's own predictions and weights (float64)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")
from anynet.sklearn import NetworkClassifier, NetworkRegressor  # noqa: E402

# Rounding only: the library sums the same float64 numbers in another order
# (measured: 1.7e-16 classifier, 0 regressor, relative); bound 1e-13.
RTOL = 1e-13


def l2(net, lmbda, n):
    return 0.5 * lmbda / n * sum(float(np.sum(np.asarray(w) ** 2)) for w in net.weights)


def test_a_classifiers_last_loss_is_its_log_likelihood_on_the_training_set():
    rng = np.random.default_rng(0)
    X, y = rng.random((60, 4)), rng.choice(["a", "b", "c"], 60)
    clf = NetworkClassifier((5,), epochs=3, lmbda=0.3, random_state=0).fit(X, y)
    p = clf.predict_proba(X)[np.arange(60), np.searchsorted(clf.classes_, y)]
    expected = -np.mean(np.log(p)) + l2(clf.network_, 0.3, 60)
    assert len(clf.loss_curve_) == 3
    assert clf.loss_curve_[-1] == pytest.approx(expected, rel=RTOL, abs=0)


def test_a_regressors_last_loss_is_its_half_mean_squared_error_on_the_training_set():
    rng = np.random.default_rng(1)
    X, y = rng.random((50, 3)), rng.random((50, 2))
    reg = NetworkRegressor((4,), epochs=2, lmbda=0.2, random_state=0).fit(X, y)
    expected = 0.5 * np.mean(np.sum((reg.predict(X) - y) ** 2, axis=1)) + l2(reg.network_, 0.2, 50)
    assert reg.loss_curve_[-1] == pytest.approx(expected, rel=RTOL, abs=0)

"""network2's costs and the modern kit, on every backend: every cost x
activation x regulariser x optimiser combination.

* The gradient the optimiser consumes, nabla/m + d(penalty)/dw, against
  central finite differences of the full objective (float64 legs, 1e-7 as in
  test_matrix) -- L1's |w| is differentiable away from w = 0, which random
  weights never hit within h.
* Three optimiser steps on each backend against NumPy (the dtype's tolerance,
  times 10 for three compounding steps).
* On NumPy, gradients against PyTorch autograd of the same function, and each
  optimiser's steps against torch.optim on the same gradients.
"""

import itertools

import numpy as np
import pytest

import anynet
from anynet import backprop as math_
from anynet.costs import COSTS
from anynet.optimizers import Adam, Momentum, Regularizer, SGD, get_optimizer
from conftest import RTOL, rel_diff

SIZES = [5, 4, 3]
N_TRAIN = 50  # the "n" of the regularisation term lmbda/n
OUTPUTS = {"quadratic": ("sigmoid", "tanh", "relu"), "cross-entropy": ("sigmoid",), "log-likelihood": ("softmax",)}
MODELS = [
    (cost, hidden, output)
    for cost, outputs in OUTPUTS.items()
    for hidden in ("sigmoid", "tanh", "relu")
    for output in outputs
]
REGULARIZERS = [(None, 0.0), ("l2", 2.0), ("l1", 2.0)]
OPTIMIZERS = ["sgd", "momentum", "adam"]


def model_id(model):
    return "-".join(model)


def make_net(backend, model, seed=0):
    cost, hidden, output = model
    return anynet.Network(SIZES, cost, backend=backend, seed=seed, activation=hidden, output_activation=output, initializer="default")


def batch(seed=1, n=6):
    rng = np.random.default_rng(seed)
    x = rng.random((n, SIZES[0]))
    return x, np.eye(SIZES[-1])[rng.integers(0, SIZES[-1], size=n)]


@pytest.mark.parametrize("regularizer", REGULARIZERS, ids=lambda r: r[0] or "none")
@pytest.mark.parametrize("model", MODELS, ids=model_id)
def test_gradient_of_the_objective_matches_finite_differences(backend64, model, regularizer):
    kind, lmbda = regularizer
    backend = backend64
    xp = backend.xp
    net = make_net(backend, model)
    x, y = batch()
    m = x.shape[0]
    X, Y = backend.asarray(x), backend.asarray(y)
    reg = Regularizer(kind, lmbda, N_TRAIN) if kind else None
    nabla_b, nabla_w = math_.backprop(net.weights, net.biases, X, Y, activations=net.activations, cost=net.cost, xp=xp)
    grad_w = [nw / m + (reg.grad(w, xp=xp) if reg else 0.0) for nw, w in zip(nabla_w, net.weights)]
    grad_b = [nb / m for nb in nabla_b]
    host = [backend.to_numpy(p) for p in net.weights + net.biases]

    def objective(params):
        ws = [backend.asarray(p) for p in params[:2]]
        bs = [backend.asarray(p) for p in params[2:]]
        out = math_.feedforward(ws, bs, X, activations=net.activations, xp=xp)
        value = net.cost._fn(out, Y, xp=xp) / m
        if reg:
            value = value + reg.penalty(ws, xp=xp)
        return float(value)

    h = 1e-6
    for i, analytic in enumerate(grad_w + grad_b):
        numeric = np.zeros_like(host[i])
        for index in np.ndindex(host[i].shape):
            plus, minus = [p.copy() for p in host], [p.copy() for p in host]
            plus[i][index] += h
            minus[i][index] -= h
            numeric[index] = (objective(plus) - objective(minus)) / (2 * h)
        assert rel_diff(analytic, numeric) <= 1e-7, f"parameter {i}"


def train_steps(backend, model, kind, lmbda, optimizer, steps=3):
    net = make_net(backend, model, seed=4)
    x, y = batch(seed=2, n=12)
    opt = get_optimizer(optimizer)
    reg = Regularizer(kind, lmbda, N_TRAIN) if kind else None
    xp = backend.xp
    state = opt.init(net.weights, net.biases, xp=xp)
    with backend.errstate():
        for k in range(steps):
            sl = slice(4 * k, 4 * k + 4)
            state = net._step(backend.asarray(x[sl]), backend.asarray(y[sl]), 0.05, reg, opt, state)
    return net.weights + net.biases


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("regularizer", REGULARIZERS, ids=lambda r: r[0] or "none")
@pytest.mark.parametrize("model", MODELS, ids=model_id)
def test_optimizer_steps_match_numpy(backend, model, regularizer, optimizer):
    kind, lmbda = regularizer
    reference = anynet.get_backend("numpy", None, backend.dtype_name)
    ours = train_steps(backend, model, kind, lmbda, optimizer)
    theirs = train_steps(reference, model, kind, lmbda, optimizer)
    for a, b in zip(ours, theirs):
        assert rel_diff(a, b) <= 10 * RTOL[backend.dtype_name]


@pytest.mark.parametrize("model", MODELS, ids=model_id)
def test_gradients_match_pytorch_autograd(model):
    torch = pytest.importorskip("torch")
    net = make_net("numpy", model)
    x, y = batch()
    nabla_b, nabla_w = net.backprop(x.T, y.T)
    params = [torch.tensor(p, requires_grad=True) for p in net.weights + net.biases]
    functions = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu, "softmax": lambda z: torch.softmax(z, dim=1)}
    a = torch.tensor(x)
    for w, b, act in zip(params[:2], params[2:], net.activations):
        a = functions[act.name](a @ w.T + b.T)
    t = torch.tensor(y)
    cost = {
        "quadratic": lambda: 0.5 * ((a - t) ** 2).sum(),
        "cross-entropy": lambda: torch.nn.functional.binary_cross_entropy(a, t, reduction="sum"),
        "log-likelihood": lambda: -(t * torch.log(a)).sum(),
    }[model[0]]()
    cost.backward()
    for ours, p in zip(nabla_w + nabla_b, params):
        assert rel_diff(ours, p.grad.numpy()) <= 1e-12


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_optimizers_match_torch_optim(optimizer):
    """Same gradient sequence in, same parameters out as torch.optim (plain,
    momentum in torch's v = mu v + g form, which is the book's v scaled by -eta,
    and Adam)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    w = rng.normal(size=(3, 4))
    grads = [rng.normal(size=(3, 4)) for _ in range(5)]
    eta, m = 0.1, 1
    ours = {"sgd": SGD(), "momentum": Momentum(0.9), "adam": Adam()}[optimizer]
    p = torch.tensor(w, requires_grad=True)
    theirs = {
        "sgd": lambda: torch.optim.SGD([p], lr=eta),
        "momentum": lambda: torch.optim.SGD([p], lr=eta, momentum=0.9),
        "adam": lambda: torch.optim.Adam([p], lr=eta),
    }[optimizer]()
    xp = anynet.get_backend("numpy").xp
    weights, biases = [w], [np.zeros((3, 1))]
    state = ours.init(weights, biases, xp=xp)
    for g in grads:
        weights, biases, state = ours.step(weights, biases, [g], [np.zeros((3, 1))], state, eta=eta, m=m, reg=None, xp=xp)
        p.grad = torch.tensor(g)
        theirs.step()
    assert rel_diff(weights[0], p.detach().numpy()) <= 1e-12


def test_cross_entropy_is_nan_free_at_saturation():
    a = np.array([[0.0, 1.0, 0.5]])
    y = np.array([[0.0, 1.0, 1.0]])
    value = anynet.CrossEntropyCost.fn(a, y)
    assert np.isfinite(value) and value == pytest.approx(-np.log(0.5))
    assert anynet.LogLikelihoodCost.fn(np.array([[0.0, 1.0]]), np.array([[0.0, 1.0]])) == 0.0


def test_every_named_choice_is_in_the_matrix():
    assert set(OUTPUTS) == set(COSTS)
    assert set(OPTIMIZERS) == set(anynet.optimizers.OPTIMIZERS)
    assert len(list(itertools.product(MODELS, REGULARIZERS, OPTIMIZERS))) == 135


@pytest.mark.parametrize("model", MODELS, ids=model_id)
def test_total_cost_from_z_equals_the_books_fn(backend, model):
    """Where a has not saturated, the cost computed from z equals network2's fn(a, y)."""
    net = make_net(backend, model)
    x, y = batch()
    z, a = math_.output_layer(net.weights, net.biases, backend.asarray(x), activations=net.activations, xp=backend.xp)
    Y = backend.asarray(y)
    assert rel_diff(net.cost.total(z, a, Y, xp=backend.xp), net.cost._fn(a, Y, xp=backend.xp)) <= 10 * RTOL[backend.dtype_name]


@pytest.mark.parametrize("cost, output", [("cross-entropy", "sigmoid"), ("log-likelihood", "softmax")])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_total_cost_stays_finite_when_outputs_saturate(cost, output, dtype):
    """z = 40 rounds sigmoid(z) to exactly 1 (and softmax to one-hot); the true
    cost of the wrong label is about 40, not inf."""
    net = anynet.Network([2, 2], cost, output_activation=output, dtype=dtype, seed=0)
    net.weights = [np.array([[40.0, 0.0], [0.0, 0.0]])]
    net.biases = [np.zeros((2, 1))]
    value = net.total_cost((np.array([[1.0, 0.0]]), np.array([1])), 0.0)
    expected = 40.0 + np.log1p(np.exp(-40.0)) + (np.log(2.0) if cost == "cross-entropy" else 0.0)
    assert np.isfinite(value) and value == pytest.approx(expected, rel=1e-6)


def test_divide_on_plateau_stops_when_eta_reaches_the_floor():
    state = anynet.DivideOnPlateau(patience=2, factor=2.0, min_ratio=1 / 4).start(1.0)
    seen = [state.update(a) for a in (5, 6, 6, 6, 7, 7, 7)]
    assert seen == [(1.0, False), (1.0, False), (1.0, False), (0.5, False), (0.5, False), (0.5, False), (0.25, True)]


@pytest.mark.parametrize("kind", ["l2", "l1"])
def test_monitored_cost_uses_the_runs_regularizer(kind):
    net = make_net("numpy", ("quadratic", "sigmoid", "sigmoid"))
    x, y = batch(n=20)
    history = net.SGD((x, y), 1, 5, 0.1, 2.0, regularization=kind, monitor_training_cost=True, verbose=False)
    xp = net.backend.xp
    out = net.feedforward(x.T).T
    expected = float(net.cost.fn(out, y)) / 20 + float(Regularizer(kind, 2.0, 20).penalty(net.weights, xp=xp))
    assert history[2][-1] == pytest.approx(expected, rel=1e-12)

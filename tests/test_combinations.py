"""network2's costs and the modern kit, on every backend: every cost x
activation x regulariser x optimiser combination.

* The gradient the optimiser consumes, nabla/m + d(penalty)/dw, against
  central finite differences of the full objective (float64 legs, 1e-7 as in
  test_matrix) -- L1's |w| is differentiable away from w = 0, which random
  weights never hit within h.
* Two epochs of anynet's training loop on each backend against torch.optim
  (SGD, momentum, Nesterov, Adam; no penalty, L2, L1) on the same weights and
  batches.
* On NumPy, gradients against PyTorch autograd of the same function.
"""

import itertools

import numpy as np
import pytest

import anynet
from anynet.model.layers import chain
from anynet.model.params import book_lists, from_book
from anynet.model.costs import COSTS
from anynet.model.optimizers import Adam, Momentum, Regularizer, SGD, get_optimizer
from conftest import ORDER_RTOL, RTOL, RUN_RTOL, on_gpu, rel_diff

SIZES = [5, 4, 3]
N_TRAIN = 50  # the "n" of the regularisation term lmbda/n
OUTPUTS = {"quadratic": ("sigmoid", "tanh", "relu", "linear"), "cross-entropy": ("sigmoid",), "log-likelihood": ("softmax",)}
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
    nabla_w, nabla_b = book_lists(chain.mlp_gradients(net.model.params, X, Y, activations=net.activations,
                                                      cost=net.cost, xp=xp))
    grad_w = [nw / m + (reg.grad(w, xp=xp) if reg else 0.0) for nw, w in zip(nabla_w, net.weights)]
    grad_b = [nb / m for nb in nabla_b]
    host = [backend.to_numpy(p) for p in net.weights + net.biases]

    def objective(params):
        ws = [backend.asarray(p) for p in params[:2]]
        bs = [backend.asarray(p) for p in params[2:]]
        out = chain.mlp_output(from_book(ws, bs), X, activations=net.activations, xp=xp)[1]
        value = net.cost._fn(out, Y, xp=xp) / m
        if reg:
            value = value + reg.penalty(from_book(ws, bs), xp=xp)
        return float(value)

    h = 1e-6
    for i, analytic in enumerate(grad_w + grad_b):
        numeric = np.zeros_like(host[i])
        for index in np.ndindex(host[i].shape):
            plus, minus = [p.copy() for p in host], [p.copy() for p in host]
            plus[i][index] += h
            minus[i][index] -= h
            numeric[index] = (objective(plus) - objective(minus)) / (2 * h)
        assert rel_diff(analytic, numeric) <= 1e-7, f"parameter {i}"  # h^2 and eps/h; measured worst 2.2e-8


def torch_run(model, kind, lmbda, optimizer, weights, biases, x, y, orders, m, eta):
    """The same training in PyTorch: autograd of the mean cost plus the
    penalty (lmbda/n) R(w), and torch.optim's update, on the same batches."""
    torch = pytest.importorskip("torch")
    params = [torch.tensor(p, requires_grad=True) for p in weights + biases]
    ws, bs = params[: len(weights)], params[len(weights):]
    functions = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu, "softmax": lambda z: torch.softmax(z, dim=1)}
    acts = [model[1]] * (len(weights) - 1) + [model[2]]
    opt = {
        "sgd": lambda: torch.optim.SGD(params, lr=eta),
        "momentum": lambda: torch.optim.SGD(params, lr=eta, momentum=0.9),
        "nesterov": lambda: torch.optim.SGD(params, lr=eta, momentum=0.9, nesterov=True),
        "adam": lambda: torch.optim.Adam(params, lr=eta),
    }[optimizer]()
    X, Y = torch.tensor(x), torch.tensor(y)
    n = len(x)
    batches = [order[k : k + m] for order in orders for k in range(0, n, m)]
    for batch_rows in batches:
        idx = torch.tensor(batch_rows)
        a, t = X[idx], Y[idx]
        for w, b, act in zip(ws, bs, acts):
            a = functions[act](a @ w.T + b.T)
        cost = {
            "quadratic": lambda: 0.5 * ((a - t) ** 2).sum(),
            "cross-entropy": lambda: torch.nn.functional.binary_cross_entropy(a, t, reduction="sum"),
            "log-likelihood": lambda: -(t * torch.log(a)).sum(),
        }[model[0]]() / len(idx)
        if kind == "l2":
            cost = cost + lmbda / n * 0.5 * sum((w * w).sum() for w in ws)
        elif kind == "l1":
            cost = cost + lmbda / n * sum(w.abs().sum() for w in ws)
        opt.zero_grad()
        cost.backward()
        opt.step()
    return [p.detach().numpy() for p in params]


TORCH_RUNS = {}  # torch_run's results by (penalty, optimizer, start bits, batch orders)
TORCH_OPTIMIZERS = {"sgd": "sgd", "momentum": Momentum(0.9), "nesterov": Momentum(0.9, nesterov=True), "adam": Adam()}


@pytest.mark.parametrize("optimizer", TORCH_OPTIMIZERS)
@pytest.mark.parametrize("regularizer", REGULARIZERS, ids=lambda r: r[0] or "none")
def test_training_matches_torch_optim(backend, regularizer, optimizer):
    """Two epochs through anynet's training loop (fit) against torch.optim on
    the same weights and batches: SGD, momentum, Nesterov and Adam, with L2
    and L1.  torch runs in float64 from the same (float32-rounded, on float32
    legs) start; the bound is conftest.RUN_RTOL for 16 compounding steps
    (measured worst: float64 2.0e-15, float32 1.3e-6, while the weights move
    by 0.1 to 11 relative to where they started)."""
    from anynet.train.fit import Shuffler, TrainConfig, fit
    from anynet.datasets.boundary import prepare

    model = ("quadratic", "sigmoid", "sigmoid")
    kind, lmbda = regularizer
    eta = 0.01 if optimizer == "adam" else 0.5
    net = make_net(backend, model, seed=3)
    start = [backend.to_numpy(p).astype(np.float64) for p in net.weights + net.biases]
    x, y = batch(seed=4, n=N_TRAIN)
    config = TrainConfig(2, 7, eta, lmbda, kind or "l2", TORCH_OPTIMIZERS[optimizer])
    data = prepare((x, y), backend=backend, n_in=SIZES[0], n_out=SIZES[-1], what="data")
    fit(net.model, data, config, shuffler=Shuffler(len(x), np.random.default_rng(11)))
    replay = Shuffler(len(x), np.random.default_rng(11))
    orders = [replay.next_epoch().copy() for _ in range(2)]
    key = (kind, optimizer, b"".join(p.tobytes() for p in start), b"".join(o.tobytes() for o in orders))
    if key not in TORCH_RUNS:  # the same start and batches on every leg of a dtype: torch runs once for them
        TORCH_RUNS[key] = torch_run(model, kind, lmbda, optimizer, start[:2], start[2:], x, y, orders, 7, eta)
    theirs = TORCH_RUNS[key]
    for ours, expected in zip(net.weights + net.biases, theirs):
        assert rel_diff(ours, expected) <= (10 * RTOL if on_gpu(backend) else RUN_RTOL)[backend.dtype_name]


def test_cross_entropy_is_nan_free_at_saturation():
    a = np.array([[0.0, 1.0, 0.5]])
    y = np.array([[0.0, 1.0, 1.0]])
    value = anynet.CrossEntropyCost.fn(a, y)
    assert np.isfinite(value) and value == pytest.approx(-np.log(0.5))
    assert anynet.LogLikelihoodCost.fn(np.array([[0.0, 1.0]]), np.array([[0.0, 1.0]])) == 0.0


def test_every_named_choice_is_in_the_matrix():
    assert set(OUTPUTS) == set(COSTS)
    assert set(OPTIMIZERS) == set(anynet.model.optimizers.OPTIMIZERS)
    assert set(OUTPUTS["quadratic"]) | {"softmax"} == set(anynet.model.activations.ACTIVATIONS)
    assert len(list(itertools.product(MODELS, REGULARIZERS, OPTIMIZERS))) == 162


@pytest.mark.parametrize("hidden", ["sigmoid", "tanh", "relu"])
def test_regression_gradients_match_pytorch_autograd(backend64, hidden):
    """A linear output layer and the quadratic cost (least squares) against
    PyTorch autograd of 0.5 * sum((a - y)^2), on real-valued targets of two
    outputs (regression), in float64: within conftest.ORDER_RTOL, as test_matrix's
    autograd check (the only difference is the order of float operations)."""
    torch = pytest.importorskip("torch")
    net = anynet.Network([5, 4, 2], "quadratic", backend=backend64, seed=2, activation=hidden,
                         output_activation="linear", initializer="default")
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((6, 5)), 10 * rng.standard_normal((6, 2))
    nabla_w, nabla_b = book_lists(chain.mlp_gradients(net.model.params, backend64.asarray(x), backend64.asarray(y),
                                                      activations=net.activations, cost=net.cost, xp=backend64.xp))
    ws = [torch.tensor(backend64.to_numpy(w), requires_grad=True) for w in net.weights]
    bs = [torch.tensor(backend64.to_numpy(b), requires_grad=True) for b in net.biases]
    hidden_fn = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}[hidden]
    a = hidden_fn(torch.tensor(x) @ ws[0].T + bs[0].T)
    out = a @ ws[1].T + bs[1].T  # linear: no activation
    (0.5 * ((out - torch.tensor(y)) ** 2).sum()).backward()
    for ours, param in zip(nabla_w + nabla_b, ws + bs):
        assert rel_diff(ours, param.grad.numpy()) <= ORDER_RTOL["float64"]  # measured worst 8.5e-16 (jax)


@pytest.mark.parametrize("model", MODELS, ids=model_id)
def test_total_cost_from_z_equals_the_books_fn(backend, model):
    """Where a has not saturated, the cost computed from z equals network2's fn(a, y)."""
    net = make_net(backend, model)
    x, y = batch()
    z, a = chain.mlp_output(net.model.params, backend.asarray(x), activations=net.activations, xp=backend.xp)
    Y = backend.asarray(y)
    bound = 10 * RTOL[backend.dtype_name] if on_gpu(backend) else {"float64": 2e-14, "float32": 1e-5}[backend.dtype_name]
    # ^ measured worst 2.0e-16 / 1.1e-7
    assert rel_diff(net.cost.total(z, a, Y, xp=backend.xp), net.cost._fn(a, Y, xp=backend.xp)) <= bound


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
    # NumPy's own log1p and exp on both sides: measured worst 0 (float64) and 3.5e-08 (float32 rounding)
    assert np.isfinite(value) and rel_diff(value, expected) <= {"float64": 0.0, "float32": 4e-6}[dtype]


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
    expected = float(net.cost.fn(out, y)) / 20 + float(Regularizer(kind, 2.0, 20).penalty(net.model.params, xp=xp))
    # measured 0; a few ulps allowed: the two sides are different BLAS calls (x and x.T), not the same operations
    assert rel_diff(history[2][-1], expected) <= 1e-15

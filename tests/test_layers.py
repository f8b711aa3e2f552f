"""The layers (anynet.model.layers) against oracles nobody here wrote.

* PyTorch autograd (conv2d, max_pool2d, dropout with the same mask, linear,
  log_softmax) for each layer's output and gradients (float64, NumPy) and
  for a small conv net's gradients on every float64 backend: measured worst
  6e-16 relative (a few ulps: the same sums in another order); the bound
  1e-13 is ~100x that and far below the issue's 1e-9;
* central finite differences (float64, h = 1e-6) for a small conv net's
  gradients: 1e-7 relative, as in test_matrix.py;
* every backend x device x dtype against NumPy in the same dtype (the
  matrix's tolerances: 1e-12 float64, 1e-5 float32); measured: NumPy's
  namespaces and array-api-strict (NumPy underneath) exactly 0, which is
  asserted; torch and JAX float64 <= 9e-16, float32 <= 8e-7;
* K stacked networks against each network alone (exact on NumPy, whose
  stacked matmul runs the same BLAS call per network);
* an MLP of Dense layers against the matrix backprop anynet had before layers: bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest

from anynet.errors import ArgumentError
from anynet.model.activations import get_activation
from anynet.model.costs import LogLikelihoodCost, QuadraticCost
from anynet.model.initializers import get_initializer
from anynet.model.layers import (
    LAYERS, Activate, Conv2D, Dense, Dropout, Flatten, MaxPool2D, Params, Reshape, chain,
)
from anynet.xp.backend import get_backend
from conftest import RTOL, rel_diff

TORCH_RTOL = 1e-13  # measured worst 6e-16 (see the module docstring)

# name -> (layer, per-sample input shape); a batch of 5 samples
CASES = {
    "dense": (Dense(6, 4, "tanh"), (6,)),
    "dense-softmax": (Dense(6, 4, "softmax"), (6,)),
    "conv": (Conv2D(3, 4, (3, 2), "sigmoid"), (3, 7, 6)),
    "conv-flip": (Conv2D(2, 3, (2, 3), flip=True), (2, 6, 5)),
    "pool": (MaxPool2D((2, 3)), (3, 7, 8)),  # the border dropped: 7 rows -> 3, 8 columns -> 2
    "activate": (Activate("relu"), (3, 4, 4)),
    "dropout": (Dropout(0.3), (7,)),
    "dropout-book": (Dropout(0.3, inverted=False), (3, 4, 4)),
    "flatten": (Flatten(), (3, 4, 2)),
    "reshape": (Reshape((2, 3, 2)), (12,)),
}
N = 5


def problem(name, seed=0, lead=(N,)):
    """Host float64 ``(layer, params, x, g, mask)`` for a case; ``x`` of shape ``lead + input``."""
    layer, shape = CASES[name]
    rng = np.random.default_rng(seed)
    params = layer.init(rng, shape)
    x = rng.standard_normal((*lead, *shape))
    if name == "pool":
        x[..., 0, :2, :3] = 0.25  # a window of ties: the gradient goes to its first position, as torch's
    out = layer.output_shape(shape)
    g = rng.standard_normal((*lead, *out))
    mask = layer.draw_mask(rng, x.shape) if isinstance(layer, Dropout) else None
    return layer, params, x, g, mask


def run(layer, params, x, g, mask, backend):
    """``(y, g_in, grads)`` of one forward (training) and backward on ``backend``, as host arrays."""
    xp = backend.xp
    on = (lambda a: backend.asarray(a))
    p = None if params is None else Params(*map(on, params))
    m = None if mask is None else xp.asarray(mask, device=backend.device)
    y, saved = layer.forward(p, on(x), xp=xp, train=True, mask=m, fuse=backend.fuse)
    if isinstance(layer, Dense) and layer.activation == "softmax":
        g_in, grads = layer.backward_delta(p, saved, on(g), xp=xp)  # softmax: g stands for dC/dz
    else:
        g_in, grads = layer.backward(p, saved, on(g), xp=xp, fuse=backend.fuse)
    host = backend.to_numpy
    return host(y), host(g_in), None if grads is None else Params(*map(host, grads))


def torch_reference(name, layer, params, x, g, mask):
    """The same computation in torch, differentiated by autograd."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    tx = torch.tensor(x, requires_grad=True)
    tp = None if params is None else [torch.tensor(a, requires_grad=True) for a in params]
    if isinstance(layer, Dense):
        z = F.linear(tx, tp[0], tp[1][:, 0])
        y = torch.softmax(z, -1) if layer.activation == "softmax" else torch.tanh(z)
        (z if layer.activation == "softmax" else y).backward(torch.tensor(g))
    else:
        if isinstance(layer, Conv2D):
            weight = tp[0].flip((-2, -1)) if layer.flip else tp[0]  # a true convolution is a flipped correlation
            y = F.conv2d(tx, weight, tp[1])
            y = torch.sigmoid(y) if layer.activation else y
        elif isinstance(layer, MaxPool2D):
            y = F.max_pool2d(tx, layer.pool)
        elif isinstance(layer, Activate):
            y = torch.relu(tx)
        elif isinstance(layer, Dropout) and layer.inverted:
            y = F.dropout(tx, layer.p, training=True) if mask is None else tx * torch.tensor(mask) / (1 - layer.p)
        elif isinstance(layer, Dropout):
            y = tx * torch.tensor(mask, dtype=tx.dtype)
        else:
            y = tx.reshape(N, *layer.output_shape(x.shape[1:]))
        y.backward(torch.tensor(g))
    grads = None if tp is None else [t.grad.numpy() for t in tp]
    return y.detach().numpy(), tx.grad.numpy(), grads


@pytest.mark.parametrize("name", CASES)
def test_layer_matches_torch_autograd(name):
    """NumPy against torch here; every other backend against NumPy below, and
    a whole conv net against torch on every float64 backend."""
    layer, params, x, g, mask = problem(name)
    y, g_in, grads = run(layer, params, x, g, mask, get_backend("numpy", None, "float64"))
    ty, tg_in, tgrads = torch_reference(name, layer, params, x, g, mask)
    assert rel_diff(y, ty) <= TORCH_RTOL
    assert rel_diff(g_in, tg_in) <= TORCH_RTOL
    if params is not None:
        assert rel_diff(grads.weight, tgrads[0]) <= TORCH_RTOL
        assert rel_diff(grads.bias, tgrads[1]) <= TORCH_RTOL


def test_dropout_matches_torch_dropout_with_its_own_mask():
    """torch's F.dropout draws its mask; the layer given that mask gives torch's output and gradient."""
    torch = pytest.importorskip("torch")
    layer = Dropout(0.4)
    rng = np.random.default_rng(1)
    x = rng.random((6, 9)) + 0.5  # no zeros, so the mask is where torch's output is nonzero
    g = rng.standard_normal(x.shape)
    torch.manual_seed(0)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.dropout(tx, layer.p, training=True)
    ty.backward(torch.tensor(g))
    y, g_in, _ = run(layer, None, x, g, ty.detach().numpy() != 0, get_backend("numpy", None, "float64"))
    assert rel_diff(y, ty.detach().numpy()) <= TORCH_RTOL
    assert rel_diff(g_in, tx.grad.numpy()) <= TORCH_RTOL


@pytest.mark.parametrize("name", CASES)
def test_layer_on_every_backend_matches_numpy(name, backend):
    layer, params, x, g, mask = problem(name)
    cast = (lambda a: a.astype(backend.dtype_name))
    args = (None if params is None else Params(*map(cast, params)), cast(x), cast(g), mask)
    ours = run(layer, *args, backend)
    ref = run(layer, *args, get_backend("numpy", None, backend.dtype_name))
    for a, b in zip(_arrays(ours), _arrays(ref)):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert rel_diff(a, b) <= (0.0 if _numpy_underneath(backend) else RTOL[backend.dtype_name])


@pytest.mark.parametrize("name", CASES)
def test_stacked_networks_equal_each_network_alone(name, backend):
    k = 3
    layer, _, _, _, _ = problem(name)
    members = [problem(name, seed=s) for s in range(k)]
    cast = (lambda a: a.astype(backend.dtype_name))
    stack = (lambda arrays: cast(np.stack(arrays)))
    params = None if members[0][1] is None else Params(*(stack([m[1][i] for m in members]) for i in range(2)))
    x, g = stack([m[2] for m in members]), stack([m[3] for m in members])
    mask = None if members[0][4] is None else np.stack([m[4] for m in members])
    stacked = run(layer, params, x, g, mask, backend)
    exact = _numpy_underneath(backend)
    for j, (_, p, xj, gj, mj) in enumerate(members):
        alone = run(layer, None if p is None else Params(*map(cast, p)), cast(xj), cast(gj), mj, backend)
        for a, b in zip(_arrays(stacked), _arrays(alone)):
            diff = rel_diff(a[j], b)
            assert diff == 0.0 if exact else diff <= RTOL[backend.dtype_name]


@pytest.mark.parametrize("name", ["dense", "conv", "conv-flip"])
def test_stacked_parameters_may_share_one_batch(name):
    """A stack of K parameter sets over one batch x without the K axis (as
    backprop.py allows): network k's output and gradients are its own."""
    k = 3
    backend = get_backend("numpy", None, "float64")
    members = [problem(name, seed=s) for s in range(k)]
    layer, _, x, _, _ = members[0]
    params = Params(*(np.stack([m[1][i] for m in members]) for i in range(2)))
    g = np.stack([m[3] for m in members])
    y, saved = layer.forward(params, x, xp=backend.xp)
    _, grads = layer.backward(params, saved, g, xp=backend.xp, input_grad=False)
    for j, member in enumerate(members):
        yj, savedj = layer.forward(member[1], x, xp=backend.xp)
        _, gradsj = layer.backward(member[1], savedj, member[3], xp=backend.xp, input_grad=False)
        np.testing.assert_array_equal(y[j], yj)
        np.testing.assert_array_equal(grads.weight[j], gradsj.weight)
        np.testing.assert_array_equal(grads.bias[j], gradsj.bias)


def _numpy_underneath(backend):
    """NumPy's namespaces and array-api-strict (a wrapper of NumPy) run the same operations: the same bits."""
    return backend.name in ("numpy", "array_api_strict")


def _arrays(result):
    y, g_in, grads = result
    return [y, g_in] + ([] if grads is None else list(grads))


# -- chains ---------------------------------------------------------------------------------------

CONV_NET = [Conv2D(2, 3, (3, 3)), MaxPool2D((2, 2)), Activate("sigmoid"), Flatten(), Dropout(0.25),
            Dense(3 * 4 * 4, 7, "tanh"), Dense(7, 10, "softmax")]
IMAGE = (2, 10, 10)


def conv_problem(seed=0, n=6):
    rng = np.random.default_rng(seed)
    params = chain.init_params(CONV_NET, rng, IMAGE)
    x = rng.random((n, *IMAGE))
    labels = rng.integers(0, 10, n)
    masks = [None] * len(CONV_NET)
    masks[4] = CONV_NET[4].draw_mask(rng, (n, 48))
    return params, x, labels, masks


def conv_gradients(backend, params, x, labels, masks):
    xp = backend.xp
    on = backend.asarray
    device_params = [None if p is None else Params(on(p.weight), on(p.bias)) for p in params]
    device_masks = [None if m is None else xp.asarray(m, device=backend.device) for m in masks]
    grads = chain.backprop(CONV_NET, device_params, on(x), on(np.eye(10)[labels]), cost=LogLikelihoodCost,
                           xp=xp, masks=device_masks, fuse=backend.fuse)
    return [None if g is None else Params(*map(backend.to_numpy, g)) for g in grads]


def test_conv_net_gradients_match_torch_autograd(backend64):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    params, x, labels, masks = conv_problem()
    ours = conv_gradients(backend64, params, x, labels, masks)
    t = [None if p is None else [torch.tensor(a, requires_grad=True) for a in p] for p in params]
    a = torch.sigmoid(F.max_pool2d(F.conv2d(torch.tensor(x), t[0][0], t[0][1]), 2)).reshape(len(x), -1)
    a = a * torch.tensor(masks[4]) / (1 - CONV_NET[4].p)
    a = torch.tanh(F.linear(a, t[5][0], t[5][1][:, 0]))
    z = F.linear(a, t[6][0], t[6][1][:, 0])
    F.nll_loss(F.log_softmax(z, -1), torch.tensor(labels), reduction="sum").backward()
    for i in (0, 5, 6):
        assert rel_diff(ours[i].weight, t[i][0].grad.numpy()) <= TORCH_RTOL
        assert rel_diff(ours[i].bias, t[i][1].grad.numpy()) <= TORCH_RTOL


def test_conv_net_finite_differences():
    backend = get_backend("numpy", None, "float64")
    params, x, labels, masks = conv_problem(n=3)
    grads = conv_gradients(backend, params, x, labels, masks)
    xp, y = backend.xp, np.eye(10)[labels]

    def cost(ps):
        out, saved = chain.forward(CONV_NET, ps, x, xp=xp, train=True, masks=masks)
        return float(LogLikelihoodCost.total(saved[-1].z, out, y, xp=xp))

    h = 1e-6
    rng = np.random.default_rng(7)
    for i in (0, 5, 6):
        for field in (0, 1):
            value = params[i][field]
            picked = rng.choice(value.size, size=min(value.size, 12), replace=False)  # a sample of entries
            numeric = []
            for index in picked:
                shifted = []
                for sign in (1, -1):
                    moved = value.copy()
                    moved.reshape(-1)[index] += sign * h
                    ps = list(params)
                    ps[i] = params[i]._replace(**{params[i]._fields[field]: moved})
                    shifted.append(cost(ps))
                numeric.append((shifted[0] - shifted[1]) / (2 * h))
            assert rel_diff(grads[i][field].reshape(-1)[picked], np.array(numeric)) <= 1e-7


def test_conv_net_on_every_backend_matches_numpy(backend):
    params, x, labels, masks = conv_problem()
    cast = (lambda a: a.astype(backend.dtype_name))
    params = [None if p is None else Params(*map(cast, p)) for p in params]
    ours = conv_gradients(backend, params, cast(x), labels, masks)
    ref = conv_gradients(get_backend("numpy", None, backend.dtype_name), params, cast(x), labels, masks)
    tolerance = 0.0 if _numpy_underneath(backend) else RTOL[backend.dtype_name]
    for a, b in zip(ours, ref):
        if b is not None:
            assert rel_diff(a.weight, b.weight) <= tolerance
            assert rel_diff(a.bias, b.bias) <= tolerance


def test_an_mlp_of_dense_layers_is_backprop_bit_for_bit(backend):
    sizes = [7, 6, 5, 4]
    layers = [Dense(7, 6, "sigmoid", "large"), Dense(6, 5, "relu", "large"), Dense(5, 4, "sigmoid", "large")]
    params = chain.init_params(layers, np.random.default_rng(3), (7,))
    book = np.random.default_rng(3)  # network.py's draws: every bias, then every weight, N(0, 1)
    biases = [book.standard_normal((y, 1)) for y in sizes[1:]]
    weights = [book.standard_normal((y, x)) for x, y in zip(sizes[:-1], sizes[1:])]
    assert all(isinstance(p, Params) for p in get_initializer("large")(sizes, np.random.default_rng(3)))
    for p, w, b in zip(params, weights, biases):
        np.testing.assert_array_equal(p.weight, w)
        np.testing.assert_array_equal(p.bias, b)
    rng = np.random.default_rng(4)
    x, y = rng.random((9, 7)), np.eye(4)[rng.integers(0, 4, 9)]
    on = (lambda a: backend.asarray(a))
    ws, bs = [on(w) for w in weights], [on(b) for b in biases]
    nabla_b, nabla_w = _matrix_backprop(ws, bs, on(x), on(y), [l.act for l in layers], QuadraticCost, backend.xp)
    grads = chain.backprop(layers, [Params(w, b) for w, b in zip(ws, bs)], on(x), on(y), cost=QuadraticCost,
                           xp=backend.xp, fuse=backend.fuse)
    for g, nw, nb in zip(grads, nabla_w, nabla_b):
        np.testing.assert_array_equal(backend.to_numpy(g.weight), backend.to_numpy(nw))
        np.testing.assert_array_equal(backend.to_numpy(g.bias), backend.to_numpy(nb))
    z, a = chain.output_layer(layers, [Params(w, b) for w, b in zip(ws, bs)], on(x), xp=backend.xp)
    np.testing.assert_array_equal(backend.to_numpy(a), backend.to_numpy(_matrix_feedforward(
        ws, bs, on(x), [l.act for l in layers], backend.xp)))


# The book's matrix-based backprop as anynet computed it before the model was
# made of layers (anynet 0.2.0's backprop.py, without fusion), kept here as
# the oracle that the numbers of an MLP did not move.

def _matrix_feedforward(weights, biases, a, activations, xp):
    for w, b, act in zip(weights, biases, activations):
        a = act.fn(a @ xp.matrix_transpose(w) + xp.matrix_transpose(b), xp=xp)
    return a


def _matrix_backprop(weights, biases, x, y, activations, cost, xp):
    activation, acts, zs = x, [x], []
    for w, b, act in zip(weights, biases, activations):
        z = activation @ xp.matrix_transpose(w) + xp.matrix_transpose(b)
        activation = act.fn(z, xp=xp)
        zs.append(z)
        acts.append(activation)
    nabla_b, nabla_w = [None] * len(biases), [None] * len(weights)
    delta = cost.output_delta(zs[-1], acts[-1], y, activations[-1], xp=xp)
    nabla_b[-1] = xp.expand_dims(xp.sum(delta, axis=-2), axis=-1)
    nabla_w[-1] = xp.matrix_transpose(delta) @ acts[-2]
    for l in range(2, len(weights) + 1):
        delta = (delta @ weights[-l + 1]) * activations[-l].prime(zs[-l], acts[-l], xp=xp)
        nabla_b[-l] = xp.expand_dims(xp.sum(delta, axis=-2), axis=-1)
        nabla_w[-l] = xp.matrix_transpose(delta) @ acts[-l - 1]
    return nabla_b, nabla_w


# -- configuration and refusals ------------------------------------------------------------------

def test_shapes_through_the_books_first_conv_net():
    layers = [Conv2D(1, 20, (5, 5)), MaxPool2D((2, 2)), Activate("sigmoid"), Flatten(),
              Dense(2880, 100), Dense(100, 10, "softmax")]
    assert chain.output_shapes(layers, (1, 28, 28)) == [(20, 24, 24), (20, 12, 12), (20, 12, 12), (2880,), (100,), (10,)]


@pytest.mark.parametrize("layer, shape, words", [
    (Conv2D(1, 4, (5, 5)), (1, 4, 6), "5x5 filter is larger than the 4x6 image"),
    (Conv2D(3, 4, (2, 2)), (1, 8, 8), "takes 3 channels, but its input has 1"),
    (Conv2D(1, 4, (2, 2)), (64,), "images (channels, height, width) per sample, but its input has shape (64,)"),
    (MaxPool2D((3, 3)), (2, 2, 5), "3x3 pool is larger than the 2x5 image"),
    (Dense(100, 10), (2880,), "takes 100 inputs, but the layer before it gives 2880"),
    (Dense(100, 10), (20, 12, 12), "a vector per sample, but its input has shape (20, 12, 12)"),
    (Flatten(), (784,), "flattens 3-axis samples, but its input has shape (784,)"),
    (Reshape((1, 28, 28)), (780,), "784 values, but its input has shape (780,)"),
])
def test_a_layer_that_does_not_fit_its_input_names_both_sides(layer, shape, words):
    with pytest.raises(ArgumentError) as raised:
        layer.output_shape(shape)
    assert words in str(raised.value)
    with pytest.raises(ArgumentError):
        layer.init(np.random.default_rng(0), shape)


def test_a_chain_names_the_layer_that_does_not_fit():
    with pytest.raises(ArgumentError, match="takes 2880 inputs, but the layer before it gives 3380"):
        chain.output_shapes([Conv2D(1, 20, (3, 3)), MaxPool2D(), Flatten(), Dense(2880, 10)], (1, 28, 28))


@pytest.mark.parametrize("make, words", [
    (lambda: Dense(0, 3), "n_in must be >= 1"),
    (lambda: Dense(3, 2, "softplus"), "unknown activation"),
    (lambda: Dense(3, 2, initializer="zeros"), "unknown initializer"),
    (lambda: Conv2D(1, 2, (5,)), "kernel must be a pair"),
    (lambda: Conv2D(1, 2, (5, 0)), "kernel's width must be >= 1"),
    (lambda: MaxPool2D((2, 2.0)), "pool's width must be an integer"),
    (lambda: Dropout(1.0), "in [0, 1)"),
    (lambda: Dropout(-0.1), "in [0, 1)"),
    (lambda: Activate("softmax"), "elementwise activation"),
])
def test_bad_configurations_are_refused(make, words):
    with pytest.raises((ArgumentError, TypeError)) as raised:
        make()
    assert words in str(raised.value)


def test_dropout_p_zero_is_exactly_the_identity_and_training_needs_a_mask():
    xp = get_backend("numpy", None, "float64").xp
    x = np.random.default_rng(0).standard_normal((4, 5))
    for inverted in (True, False):
        layer = Dropout(0.0, inverted=inverted)
        for train in (True, False):
            y, saved = layer.forward(None, x, xp=xp, train=train)
            assert y is x and layer.backward(None, saved, x, xp=xp)[0] is x
    with pytest.raises(ArgumentError, match="needs a mask"):
        Dropout(0.5).forward(None, x, xp=xp, train=True)
    with pytest.raises(ArgumentError, match="the mask has shape"):
        Dropout(0.5).forward(None, x, xp=xp, train=True, mask=np.ones((4, 4), bool))
    y, _ = Dropout(0.5, inverted=False).forward(None, x, xp=xp)
    np.testing.assert_array_equal(y, x * 0.5)  # the book's evaluation: scaled by 1 - p


def test_dropout_masks_come_from_the_seed():
    layer = Dropout(0.3)
    a, b = (layer.draw_mask(np.random.default_rng(5), (200, 50)) for _ in range(2))
    np.testing.assert_array_equal(a, b)
    assert abs(a.mean() - 0.7) < 0.02


def test_a_layer_is_rebuilt_from_its_config():
    for layer, _ in CASES.values():
        config = layer.config()
        assert LAYERS[config.pop("type")](**config) == layer



def test_a_conv_net_traces_under_jax_jit():
    """JAX compiles an epoch with jit: the layers trace (their index arrays
    become constants of each trace, never cached tracers, which a later
    trace would trip on) and give the eager gradients.  The shapes are this
    test's own, so the trace comes before any eager call builds them."""
    jax = pytest.importorskip("jax")
    backend = get_backend("jax", "cpu", "float64")
    xp = backend.xp
    net = [Conv2D(1, 2, (2, 3), flip=True), MaxPool2D((2, 2)), Activate("tanh"), Flatten(), Dense(18, 10, "softmax")]
    rng = np.random.default_rng(11)
    params = [None if p is None else Params(backend.asarray(p.weight), backend.asarray(p.bias))
              for p in chain.init_params(net, rng, (1, 7, 9))]
    x, y = backend.asarray(rng.random((4, 1, 7, 9))), backend.asarray(np.eye(10)[rng.integers(0, 10, 4)])

    def gradients(ps, x, y):
        return chain.backprop(net, ps, x, y, cost=LogLikelihoodCost, xp=xp)

    # two traces (a fresh function each time): the second must not meet the first's tracers
    traced = [jax.jit(lambda *args: gradients(*args))(params, x, y) for _ in range(2)]
    eager = gradients(params, x, y)
    for run in traced:
        for ours, theirs in zip(run, eager):
            if theirs is not None:
                assert rel_diff(ours.weight, theirs.weight) <= RTOL["float64"]
                assert rel_diff(ours.bias, theirs.bias) <= RTOL["float64"]

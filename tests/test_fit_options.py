"""The training loop's options for the book's network3.py (TrainConfig's
shuffle, drop_last and lmbda_divisor; dropout masks drawn per step from the
run's seeded host generator), against a plain loop written here from
network3.py's description: mini-batches in stored order, a last partial one
left out, ``w -= eta * (grad / m + lmbda / num_batches * w)``, masks drawn in
layer order per step.  The gradients themselves are chain.gradients' (checked
against torch autograd in test_layers.py).  Defaults leave every existing
path as it was (test_fit, test_engines, test_sweep, test_seed, test_book)."""

from __future__ import annotations

import numpy as np
import pytest

from anynet.datasets.boundary import prepare
from anynet.errors import ArgumentError
from anynet.model.costs import LogLikelihoodCost
from anynet.model.layers import Dense, Dropout, chain
from anynet.model.model import Model
from anynet.model.params import Params, book_lists, from_book
from anynet.train.fit import Shuffler, TrainConfig, fit
from anynet.train.runstate import decode, encode
from anynet.xp.backend import get_backend
from conftest import RTOL, rel_diff

LAYERS = (Dropout(0.3, inverted=False), Dense(6, 5, "sigmoid"), Dropout(0.5, inverted=False), Dense(5, 3, "softmax"))


def problem(n=25, seed=0):
    rng = np.random.default_rng(seed)
    params = chain.init_params(LAYERS, rng, (6,))
    x, labels = rng.random((n, 6)), rng.integers(0, 3, n)
    return params, x, labels


def model_on(backend, params):
    params = [Params(backend.asarray(p.weight), backend.asarray(p.bias)) for p in params if p is not None]
    return Model(LAYERS, cost=LogLikelihoodCost, backend=backend, params=params, input_shape=(6,))


def train(backend, config, seed=5, n=25):
    params, x, labels = problem(n)
    model = model_on(backend, params)
    data = prepare((x.astype(backend.dtype_name), labels), backend=backend, n_in=6, n_out=3, what="data")
    state = fit(model, data, config, shuffler=Shuffler(n, np.random.default_rng(0)), mask_rng=np.random.default_rng(seed))
    weights, biases = book_lists(model.params)
    return [backend.to_numpy(a) for a in weights + biases], state


def plain_loop(epochs, m, eta, lmbda, seed=5, n=25):
    """network3.py's training as described, step by step, in float64 NumPy."""
    params, x, labels = problem(n)
    weights = [p.weight for p in params if p is not None]
    biases = [p.bias for p in params if p is not None]
    rng, y, batches = np.random.default_rng(seed), np.eye(3)[labels], n // m
    for _ in range(epochs):
        for k in range(0, batches * m, m):
            masks = [layer.draw_mask(rng, (m, 6 if i == 0 else 5)) if isinstance(layer, Dropout) else None
                     for i, layer in enumerate(LAYERS)]
            grads = chain.gradients(LAYERS, from_book(weights, biases), x[k:k + m], y[k:k + m], cost=LogLikelihoodCost,
                                    xp=get_backend("numpy", None, "float64").xp, masks=masks)
            nw, nb = book_lists(grads)
            weights = [w - eta * ((lmbda / batches) * w) - (eta / m) * g for w, g in zip(weights, nw)]
            biases = [b - (eta / m) * g for b, g in zip(biases, nb)]
    return weights + biases


NETWORK3 = dict(shuffle=False, drop_last=True, lmbda_divisor="mini_batches")


def test_network3_options_equal_the_plain_loop():
    ours, state = train(get_backend("numpy", None, "float64"), TrainConfig(3, 10, 0.5, lmbda=0.4, **NETWORK3))
    expected = plain_loop(3, 10, 0.5, 0.4)
    # the same float64 operations in the same order: bit for bit up to the last rounding
    assert max(rel_diff(a, b) for a, b in zip(ours, expected)) <= 1e-14
    # 25 rows, mini-batches of 10: two steps an epoch, the last five rows never seen
    assert config_steps(25, 10) == 2


def config_steps(n, m):
    return TrainConfig(1, m, 0.1, drop_last=True).steps_per_epoch(n)


def test_the_options_change_what_they_say():
    backend = get_backend("numpy", None, "float64")
    base, _ = train(backend, TrainConfig(2, 10, 0.5, lmbda=0.4, **NETWORK3))
    for change in ({"shuffle": True}, {"drop_last": False}, {"lmbda_divisor": "samples"}):
        other, _ = train(backend, TrainConfig(2, 10, 0.5, lmbda=0.4, **{**NETWORK3, **change}))
        assert max(rel_diff(a, b) for a, b in zip(other, base)) > 1e-6, change
    other_masks, _ = train(backend, TrainConfig(2, 10, 0.5, lmbda=0.4, **NETWORK3), seed=6)
    assert max(rel_diff(a, b) for a, b in zip(other_masks, base)) > 1e-6
    again, _ = train(backend, TrainConfig(2, 10, 0.5, lmbda=0.4, **NETWORK3))
    assert all(np.array_equal(a, b) for a, b in zip(again, base))


def test_a_dropout_run_on_every_backend_equals_numpy(backend):
    """Masks are host draws, the same bits everywhere; JAX's compiled scan
    and torch.compile cannot take them, so these runs go to the loop engine."""
    config = TrainConfig(2, 5, 0.5, lmbda=0.1, **NETWORK3)
    ours, _ = train(backend, config)
    ref, _ = train(get_backend("numpy", None, backend.dtype_name), config)
    # 10 steps: a step's rounding differences compound, as in DESIGN.md's 200-step bound (1e-9 / 1e-4)
    tolerance = {"float64": 1e-9, "float32": 1e-4}[backend.dtype_name]
    assert max(rel_diff(a, b) for a, b in zip(ours, ref)) <= tolerance


def test_dropout_needs_a_generator_and_bad_options_are_refused():
    backend = get_backend("numpy", None, "float64")
    params, x, labels = problem()
    data = prepare((x, labels), backend=backend, n_in=6, n_out=3, what="data")
    with pytest.raises(ArgumentError, match="mask_rng"):
        fit(model_on(backend, params), data, TrainConfig(1, 10, 0.5))
    with pytest.raises(ArgumentError, match="lmbda_divisor"):
        TrainConfig(1, 10, 0.5, lmbda_divisor="batches")
    with pytest.raises(TypeError, match="shuffle"):
        TrainConfig(1, 10, 0.5, shuffle="no")
    with pytest.raises(ArgumentError, match="25 samples make none of 30"):
        fit(model_on(backend, params), data, TrainConfig(1, 30, 0.5, lmbda=1.0, **NETWORK3),
            mask_rng=np.random.default_rng(0))


def test_the_options_and_the_mask_generator_survive_a_saved_run():
    backend = get_backend("numpy", None, "float64")
    config = TrainConfig(2, 10, 0.5, lmbda=0.4, **NETWORK3)
    _, state = train(backend, config)
    run, arrays = encode(config, state, data_sha256="0" * 64)
    config2, state2 = decode(run, arrays, backend)
    assert (config2.shuffle, config2.drop_last, config2.lmbda_divisor) == (False, True, "mini_batches")
    assert np.array_equal(state2.mask_rng.random(5), state.mask_rng.random(5))
    # a record without the new fields (an earlier version's) reads as the defaults
    for key in ("shuffle", "drop_last", "lmbda_divisor"):
        del run["config"][key]
    del run["mask_rng"]
    config3, state3 = decode(run, arrays, backend)
    assert (config3.shuffle, config3.drop_last, config3.lmbda_divisor, state3.mask_rng) == (True, False, "samples", None)

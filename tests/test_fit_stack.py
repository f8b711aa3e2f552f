"""One loop (issue 17 item 2): anynet.train.fit trains a stack of K >= 1
networks.  Given a StackedModel, each network is the run fit gives it alone
(its own eta, lmbda, schedule, early stopping, shuffle), bit for bit on
NumPy; callbacks see every network's report and state after each epoch;
a diverging network ends without ending the others.  The oracle is fit
itself on one Model, whose numbers the seed and torch tests pin down."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from anynet.datasets.boundary import prepare
from anynet.errors import ArgumentError, TrainingDiverged
from anynet.model import model as model_module
from anynet.model.stacked import StackedModel
from anynet.train.fit import Callback, Shuffler, TrainConfig, fit
from anynet.train.schedules import DivideOnPlateau

SIZES = [5, 4, 3]
N = 30


def data(model, seed):
    rng = np.random.default_rng(seed)
    x, labels = rng.random((N, SIZES[0])), rng.integers(0, SIZES[-1], N)
    return prepare((x, labels), backend=model.backend, n_in=SIZES[0], n_out=SIZES[-1], what="data")


def model(seed):
    return model_module.build(SIZES, "cross-entropy", rng=np.random.default_rng(seed))


def configs():
    watch = frozenset({"evaluation_accuracy"})
    return [TrainConfig(6, 4, 0.5, 0.0, monitors=watch),
            TrainConfig(6, 4, 2.0, 3.0, early_stopping=1, monitors=watch),
            TrainConfig(6, 4, 4.0, 0.5, eta_schedule=DivideOnPlateau(patience=1), monitors=watch),
            TrainConfig(6, 4, 1e9, 5.0, monitors=watch)]  # diverges: every step multiplies w by about -1e8


class Seen(Callback):
    def __init__(self):
        self.epochs = []

    def on_epoch_end(self, reports, states):
        self.epochs.append(([None if r is None else r.epoch for r in reports], [s.ended for s in states]))


def bits(params):
    return [a.tobytes() for p in params for a in p]


def test_a_stack_is_each_networks_own_run_bit_for_bit():
    members = [model(k) for k in range(4)]
    train, evaluation = data(members[0], 10), data(members[0], 11)
    stack, seen = StackedModel(members), Seen()
    states = fit(stack, train, configs(), shuffler=[Shuffler(N, np.random.default_rng(20 + k)) for k in range(4)],
                 evaluation=evaluation, callbacks=[seen])
    for k, config in enumerate(configs()):
        alone = model(k)
        try:
            state = fit(alone, train, config, shuffler=Shuffler(N, np.random.default_rng(20 + k)), evaluation=evaluation)
        except TrainingDiverged:
            assert k == 3 and states[k].diverged_in is not None and states[k].diverged_in > 0
            assert len(states[k].history) == states[k].diverged_in  # the diverging epoch is not recorded
        else:
            assert states[k].diverged_in is None
            assert [vars(r) | {"seconds": 0} for r in state.history] == \
                   [vars(r) | {"seconds": 0} for r in states[k].history]
            assert (state.epoch, state.eta, state.best_epoch) == (states[k].epoch, states[k].eta, states[k].best_epoch)
        assert bits(stack.member_parameters(k)) == bits(alone.parameters())  # a diverged one: its last finite epoch
    assert states[3].diverged_in is not None  # the separate run raised: checked above
    assert states[2].eta < 4.0  # the plateau schedule divided it
    assert states[1].stopped and states[1].epoch < 6  # early stopping ended it, the others went on
    assert states[0].epoch == 6 and not states[0].ended
    # every epoch the loop ran reported each network that trained in it, None for one whose run had ended
    assert len(seen.epochs) == 6
    for epoch, (reported, _) in enumerate(seen.epochs):
        assert reported[0] == epoch
        assert reported[1] == (epoch if epoch < states[1].epoch else None)


def test_a_stack_needs_one_config_and_shuffler_per_network():
    stack = StackedModel([model(0), model(1)])
    train = data(stack, 10)
    with pytest.raises(ArgumentError, match="a stack of 2 networks needs 2 configs, shufflers and mask generators, got 1, 2 and 2"):
        fit(stack, train, configs()[:1], shuffler=[Shuffler(N), Shuffler(N)])


@pytest.mark.parametrize("field, value", [("epochs", 3), ("mini_batch_size", 5), ("optimizer", "adam"),
                                          ("regularization", "l1"), ("drop_last", True)])
def test_a_stack_refuses_configs_that_differ_in_a_shared_setting(field, value):
    """The stack trains with network 0's epochs, mini-batches, optimizer and regularisation: a
    network whose config says otherwise would not get its own run (before this check, a network
    given 3 epochs beside one of 6 trained 6, and one given Adam trained with SGD), so it is refused
    before training, naming the setting."""
    stack = StackedModel([model(0), model(1)])
    train = data(stack, 10)
    other = dataclasses.replace(configs()[0], **{field: value})
    before = bits(stack.parameters())
    with pytest.raises(ArgumentError, match=rf"network 1 has {field}=.*, network 0 {field}="):
        fit(stack, train, [configs()[0], other], shuffler=[Shuffler(N), Shuffler(N)])
    assert bits(stack.parameters()) == before


def test_a_stacks_networks_may_each_have_their_own_adam_and_selection():
    """Per network: eta, lmbda, schedule, early stopping, monitors; an optimizer given by name
    makes one instance per config (as anynet.sweep does), and equal ones are accepted."""
    stack = StackedModel([model(0), model(1)])
    train = data(stack, 10)
    adam = [TrainConfig(2, 4, 0.01, 0.0, optimizer="adam"),
            TrainConfig(2, 4, 0.02, 1.0, optimizer="adam", early_stopping=1)]
    states = fit(stack, train, adam, shuffler=[Shuffler(N), Shuffler(N)], evaluation=data(stack, 11))
    assert [len(s.history) for s in states] == [2, 2]  # accepted: each ran its 2 epochs

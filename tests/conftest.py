"""Fixtures shared by more than one test module."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session", autouse=True)
def _encoding_cache_in_the_test_session(tmp_path_factory):
    """Encoded sets that tests write without a ``cache_dir`` go to a folder of this test
    session, not to the user's cache (``sw.data.dataset.default_cache_dir`` reads
    ``XDG_CACHE_HOME``); a test that sets the variable itself still wins."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
        yield


@pytest.fixture
def model_and_data(tmp_path):
    """A small random ``.qnet`` and an ``.npz`` data set of 3 samples labelled with its own predictions.

    Labels are what the golden model predicts, so any back-end that is
    bit-exact with it must report accuracy 1.0 (``eavs eval`` tests).
    Returns ``(model path, data path)``. Imported here, not at the top: every
    test process loads this file, and ``sw.train`` brings in torch.
    """
    from sw import golden, qnet
    from sw.random_net import random_qnet, random_spikes
    from sw.train import TrainData, save_npz

    rng = np.random.default_rng(11)
    net = random_qnet(rng, max_inputs=12, max_neurons=6, max_hidden=1, timesteps=4, n_classes=3)
    x = random_spikes(rng, net, batch=3, rate=0.3)
    y = golden.run(net, x).prediction
    model = qnet.save(net, tmp_path / "m.qnet")
    data = save_npz(tmp_path / "d.npz", TrainData(x=x, y=y, actors=np.zeros(3, np.int64), classes=net.classes, inputs=net.inputs))
    return model, data


@pytest.fixture
def hand_exit_model():
    """The hand-worked early-exit network of tests/test_hw_core.py and
    tests/test_hw_expected.py (their docstrings work its figures out):
    inputs a[4] -> h (5 neurons, threshold 3) -> o (3 readout neurons; only
    o[0] gets h's spikes), T = 3, one sample of 3, 1 and 1 input events.
    Returns ``make(margin) -> (net, spikes)`` with the rule ``margin``, min_step 0."""
    from sw.qnet import ExitRule, InputGroup, Layer, QNet, Source

    h = Layer("h", 5, [Source("a", np.ones((4, 5), np.int8), 4)], 3, 1)
    w_o = np.zeros((5, 3), np.int8)
    w_o[:, 0] = 1
    o = Layer("o", 3, [Source("h", w_o, 4)], 3, 1, spiking=False)
    spikes = np.array([[[1, 1, 1, 0], [1, 0, 0, 0], [1, 0, 0, 0]]], bool)

    def make(margin: int = 5):
        net = QNet(["x", "y", "z"], 3, [InputGroup("a", 4)], [h, o], exit=ExitRule(margin=margin, min_step=0))
        return net.validate("hand"), spikes

    return make

"""Fixtures shared by more than one test module."""

from __future__ import annotations

import numpy as np
import pytest


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

"""The linear probe sees what each input group carries, speaker-independently."""

import numpy as np

from sw.data.probe import features, probe


def test_probe_finds_that_only_both_groups_name_every_class():
    rng = np.random.default_rng(0)
    n, t = 480, 8
    y = np.tile(np.arange(8), n // 8)
    actors = np.repeat(np.arange(1, 13), n // 12)
    x = (rng.random((n, t, 24)) < 0.1).astype(np.uint8)  # background noise
    for i, c in enumerate(y):
        x[i, :, (c // 2) * 3 : (c // 2) * 3 + 3] |= (rng.random((t, 3)) < 0.7).astype(np.uint8)  # "audio": 4 pairs
        x[i, :, 12 + (c % 2) * 6 : 12 + (c % 2) * 6 + 6] |= (rng.random((t, 6)) < 0.7).astype(np.uint8)  # "visual": 2 halves
    r = probe(x, y, actors, {"audio": slice(0, 12), "visual": slice(12, 24)}, k=4, lam=10.0)
    assert set(r.accuracy) == {"audio", "visual", "all"} and r.chance == 0.125
    assert 0.4 < r.accuracy["audio"] < 0.6  # caps at 4 of 8
    assert 0.2 < r.accuracy["visual"] < 0.3  # caps at 2 of 8
    assert r.accuracy["all"] > r.accuracy["audio"] + 0.25 > 0.75
    assert "visual" in r.table() and len(r.folds["all"]) == 4


def test_features_are_rates_per_time_slice():
    x = np.zeros((1, 4, 2), np.uint8)
    x[0, :2, 0] = 1
    x[0, 3, 1] = 1
    assert np.array_equal(features(x, chunks=2), [[1.0, 0.0, 0.0, 0.5]])

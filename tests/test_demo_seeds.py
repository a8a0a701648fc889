"""``eavs demo --seeds N``: the seeds step trains N - 1 more models on the same
split and records each one's golden test accuracy (small data, 1 epoch)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from eavs import steps
from eavs.demo_config import ConfigError, DemoConfig
from eavs.steps import Context
from tests.test_model_train import structured_data


def test_seeds_step_trains_more_seeds_on_the_same_split(tmp_path):
    from sw import golden, qnet
    from sw.export import select_inputs
    from sw.train import save_npz, split_data

    data = structured_data(n=96, seed=3)
    save_npz(steps.encoded_path(tmp_path), data)
    tr, va, te = split_data(data, 0)
    (tmp_path / "encode" / "split.json").write_text(json.dumps({"train": tr.tolist(), "val": va.tolist(), "test": te.tolist()}))
    cfg = DemoConfig(seeds=3, epochs=1, batch_size=16, audio_hidden=8, visual_hidden=8, fusion_hidden=8, timesteps=16)

    none = steps.step_seeds(Context(DemoConfig(seeds=1), tmp_path, {}, log=lambda m: None))
    assert none == {"seeds": [], "accuracy": []} and not (tmp_path / "seeds").exists()

    out = steps.step_seeds(Context(cfg, tmp_path, {}, log=lambda m: None))
    assert out["seeds"] == [1, 2] and len(out["accuracy"]) == 2
    weights = []
    for seed, acc in zip(out["seeds"], out["accuracy"]):
        net = qnet.load(tmp_path / "seeds" / f"seed{seed}" / "model.qnet")
        g = golden.run(net, select_inputs(data.x[te], data.inputs, net))
        assert acc == float((g.prediction == data.y[te]).mean())
        weights.append(np.concatenate([s.weight.ravel() for layer in net.layers for s in layer.sources]))
    assert not np.array_equal(weights[0], weights[1]), "two seeds gave the same model"


def test_demo_seeds_option_reaches_the_config(tmp_path):
    from typer.testing import CliRunner

    from eavs.cli import app

    r = CliRunner().invoke(app, ["demo", "--quick", "--seeds", "3", "--show-config", "--out", str(tmp_path / "run")])
    assert r.exit_code == 0 and '"seeds": 3' in r.stdout
    with pytest.raises(ConfigError, match="'seeds' must be a positive integer, not 0"):
        DemoConfig(seeds=0)

"""The cascade's heads trained jointly (``audio_head``: an auxiliary loss on
an audio-only readout) and exported as one ``.qnet`` whose first stage is
exact: torch eval = sw.golden for both stages, clip by clip."""

import numpy as np
import pytest
import torch

from sw import golden, qnet
from sw.cascade import run, stage_inputs
from sw.export import select_inputs, to_qnet
from sw.model import EAVSNet, ModelConfig, ModelConfigError
from sw.qnet import ExitRule
from sw.train import train
from tests.test_model_train import small_cfg, structured_data


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    data = structured_data(n=128, seed=2)
    train(small_cfg(out, epochs=2, model_overrides={"audio_head": True}), data=data)
    ck = torch.load(out / "best.pt", weights_only=True)
    model = EAVSNet(ModelConfig.from_dict(ck["config"]))
    model.load_state_dict(ck["model"])
    return model.eval(), data


def test_both_stages_export_exactly(trained, tmp_path):
    model, data = trained
    net = qnet.load(qnet.save(to_qnet(model, data.inputs), tmp_path / "c.qnet"))
    assert net.cascade is not None and [g.name for g in net.cascade.inputs] == ["audio"]
    assert [layer.name for layer in net.cascade.layers] == ["audio_lif", "audio_head"]
    assert "audio_head" not in [layer.name for layer in net.layers]
    x = select_inputs(data.x[:24], data.inputs, net)
    with torch.no_grad():
        out = model(torch.from_numpy(data.x[:24]))
    g2 = golden.run(net, x)
    g1 = golden.run(net.cascade, stage_inputs(net, net.cascade, x))
    np.testing.assert_array_equal(out["prediction"].numpy(), g2.prediction)
    np.testing.assert_array_equal(out["audio_head"]["prediction"].numpy(), g1.prediction)
    np.testing.assert_array_equal(out["audio_head"]["readout"].numpy().astype(np.int64), g1.readout)
    np.testing.assert_array_equal(out["spikes"]["audio_lif"].numpy().astype(bool), g1.spikes["audio_lif"])
    # a gate every clip clears: the cascade's prediction is the audio head's
    net.cascade.exit = ExitRule(0, net.timesteps - 1)
    np.testing.assert_array_equal(run(net, x).prediction, out["audio_head"]["prediction"].numpy())


def test_audio_head_needs_both_modalities():
    with pytest.raises(ModelConfigError, match=r"audio_head .* needs both modalities"):
        ModelConfig(inputs={"audio": 4, "visual": 4}, modalities=("audio",), audio_head=True)


def test_calibrate_and_eval_a_cascade_through_the_cli(trained, tmp_path):
    import json

    from sw.train import save_npz
    from tests.test_model_cli import run_cli

    model, data = trained
    net = to_qnet(model, data.inputs, {"split": {"seed": 0, "val_actors": [1, 2, 3, 4], "test_actors": [5, 6, 7, 8]}})
    path = qnet.save(net, tmp_path / "c.qnet")
    npz = save_npz(tmp_path / "d.npz", data)
    r = run_cli("calibrate", "--model", path, "--data", f"npz:{npz}", "--tolerance", "100", "--out", tmp_path / "a.qnet")
    assert r.returncode == 0 and "cascade:" in r.stdout and "both:" in r.stdout and "chosen (" in r.stdout
    cal = qnet.load(tmp_path / "a.qnet")
    assert cal.cascade.exit is not None or cal.exit is not None  # the cheapest point uses a rule
    r = run_cli("eval", "--model", tmp_path / "a.qnet", "--data", f"npz:{npz}", "--json", tmp_path / "on.json")
    assert r.returncode == 0 and "audio-first cascade: accuracy" in r.stdout
    r = run_cli("eval", "--model", tmp_path / "a.qnet", "--data", f"npz:{npz}", "--adaptive", "off", "--json", tmp_path / "off.json")
    r0 = run_cli("eval", "--model", path, "--data", f"npz:{npz}", "--adaptive", "off", "--json", tmp_path / "plain.json")
    off, plain = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("off", "plain"))
    assert "cascade" not in off and off == plain  # --adaptive off: the fixed-cost fused run, whatever was calibrated
    on = json.loads((tmp_path / "on.json").read_text())
    cas = run(cal, select_inputs(data.x, data.inputs, cal)[np.isin(data.actors, [5, 6, 7, 8])])
    assert on["cascade"]["camera_free"] == float(cas.camera_free.mean())

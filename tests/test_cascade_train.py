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

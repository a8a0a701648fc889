"""torch eval mode == sw.golden, exactly: every layer's spike train, the readout
membranes and the predictions, for the model configurations training can make.

The untrained cases use random weights (and random biases) so that every
code path (both resets, leak 0, 4-bit, unimodal, no recurrence, saturation)
is exercised; test_model_train.py does the same after a real training.
"""

import numpy as np
import pytest
import torch

from hw.spec.capacity import Capacity
from sw import golden
from sw.export import ExportError, select_inputs, to_qnet
from sw.model import EAVSNet, ModelConfig, ModelConfigError
from sw.qnet import InputGroup, load, save

SMALL = {"audio": 12, "visual": 20}


def _spikes(rng, n, T, n_in, rate=0.25):
    return (rng.random((n, T, n_in)) < rate).astype(np.uint8)


def assert_exact(model: EAVSNet, net, x_all: np.ndarray, all_inputs) -> None:
    """Compare torch eval with the golden model layer by layer, sample by sample."""
    model.eval()
    with torch.no_grad():
        out = model(torch.from_numpy(x_all))
    g = golden.run(net, select_inputs(x_all, all_inputs, net))
    assert set(out["spikes"]) == set(g.spikes)
    for name, s in out["spikes"].items():
        ts = s.numpy().astype(bool)
        bad = np.argwhere(ts != g.spikes[name])
        assert bad.size == 0, f"layer {name}: first mismatch at (sample, step, neuron) {bad[0]}"
    np.testing.assert_array_equal(out["readout"].numpy().astype(np.int64), g.readout)
    np.testing.assert_array_equal(out["prediction"].numpy(), g.prediction)


CASES = [
    dict(weight_bits=8, reset="subtract"),
    dict(weight_bits=4, reset="zero", bias=True),
    dict(weight_bits=6, leak_shift=0, fusion_leak_shift=1, readout_leak_shift=2, bias=True),
    dict(weight_bits=2, v_bits=8, threshold=0.3),  # narrow membrane: saturation happens
    dict(weight_bits=8, modalities=("audio",)),
    dict(weight_bits=8, modalities=("visual",), recurrent=False),
]


@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_eval_forward_equals_golden_random_weights(case, tmp_path):
    torch.manual_seed(1)
    cfg = ModelConfig(inputs=SMALL, timesteps=12, audio_hidden=10, visual_hidden=9, fusion_hidden=11, **case)
    model = EAVSNet(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(torch.empty_like(p).uniform_(0.5, 3.0))  # drive some layers hard
        for b in model.bias.values():
            b.uniform_(-1.0, 1.0)
    groups = [InputGroup("audio", 12, {"kind": "audio"}), InputGroup("visual", 20, {"kind": "visual"})]
    net = to_qnet(model, groups)
    assert [g.name for g in net.inputs] == list(cfg.modalities if len(cfg.modalities) == 1 else ("audio", "visual"))
    path = save(net, tmp_path / "m.qnet")
    net = load(path)  # through the file, as the hardware gets it
    x = _spikes(np.random.default_rng(2), 24, 12, 32)
    assert_exact(model, net, x, groups)
    # the network really does something: spikes in the hidden layers
    g = golden.run(net, select_inputs(x, groups, net))
    assert g.layer_spikes[:, :-1].sum() > 0


def test_default_model_fits_smallest_board_and_is_exact():
    torch.manual_seed(0)
    model = EAVSNet(ModelConfig())
    net = to_qnet(model)
    assert Capacity().problems(net) == []
    assert net.n_inputs == 576 and net.timesteps == 40 and len(net.classes) == 8
    assert [len(layer.sources) for layer in net.layers] == [1, 1, 3, 1]
    assert net.layer_index("fusion") == 2 and net.layers[2].sources[2].delay == 1
    x = _spikes(np.random.default_rng(0), 8, 40, 576, 0.08)
    assert_exact(model, net, x, {"audio": 64, "visual": 512})


def test_exact_when_weights_hit_the_rails():
    """Weights at +-(2^(b-1)-1) and large currents: the clamp is exercised in both."""
    cfg = ModelConfig(inputs=SMALL, timesteps=8, audio_hidden=4, visual_hidden=4, fusion_hidden=4, weight_bits=4, v_bits=6)
    model = EAVSNet(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.sign(torch.randn_like(p)) * 0.875)  # 7 x 2^-3: the 4-bit rails
    net = to_qnet(model)
    for layer in net.layers:
        assert np.abs(np.concatenate([s.weight for s in layer.sources])).max() == 7
    x = np.ones((3, 8, 32), np.uint8)
    assert_exact(model, net, x, SMALL)


def test_float_model_cannot_be_exported():
    model = EAVSNet(ModelConfig(inputs=SMALL, timesteps=4, weight_bits=0))
    with pytest.raises(ModelConfigError, match="float model"):
        to_qnet(model)


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(weight_bits=9), "weight_bits"),
        (dict(modalities=("audio", "smell")), "modalities"),
        (dict(reset="hard"), "reset"),
        (dict(leak_shift=16), "leak_shift"),
        (dict(fusion_hidden=0), "fusion_hidden"),
        (dict(threshold=0.0), "threshold"),
    ],
)
def test_model_config_errors_name_the_field(bad, match):
    with pytest.raises(ModelConfigError, match=match):
        ModelConfig(**bad)


def test_forward_rejects_wrong_input_shape():
    model = EAVSNet(ModelConfig(inputs=SMALL, timesteps=4))
    with pytest.raises(ValueError, match=r"\[B, 4, 32\]"):
        model(torch.zeros(2, 5, 32))


def test_select_inputs_errors():
    model = EAVSNet(ModelConfig(inputs=SMALL, timesteps=4, modalities=("visual",)))
    net = to_qnet(model)
    x = np.zeros((1, 4, 32), np.uint8)
    assert select_inputs(x, SMALL, net).shape == (1, 4, 20)
    with pytest.raises(ExportError, match="not in the data"):
        select_inputs(np.zeros((1, 4, 12), np.uint8), {"audio": 12}, net)


def test_training_mode_has_surrogate_gradients_everywhere():
    torch.manual_seed(0)
    model = EAVSNet(ModelConfig(inputs=SMALL, timesteps=10, weight_bits=4, bias=True))
    model.train()
    x = torch.from_numpy(_spikes(np.random.default_rng(0), 16, 10, 32, 0.3))
    loss = torch.nn.functional.cross_entropy(model(x)["logits"], torch.arange(16) % 8)
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


# -- general decay, spike-count readout, and the rounding pins (issues 14, 16) ---


def test_decay_from_beta_literal_table():
    from sw.model import decay_from_beta

    table = {0.9: 410, 0.95: 205, 0.8: 819, 0.5: 2048, 0.875: 512, 1.0: 0, 0.0: 4096, 0.99: 41}
    assert {b: decay_from_beta(b) for b in table} == table


BETA_CASES = [
    dict(weight_bits=8, beta=0.9, reset="subtract"),
    dict(weight_bits=6, beta=0.95, reset="zero", bias=True, readout="spikes"),
    dict(weight_bits=8, learn_beta=True, readout="spikes"),
    dict(weight_bits=4, learn_beta=True, beta=0.8, v_bits=10, bias=True),
]


@pytest.mark.parametrize("case", BETA_CASES, ids=[str(i) for i in range(len(BETA_CASES))])
def test_eval_forward_equals_golden_with_general_decay(case, tmp_path):
    torch.manual_seed(3)
    cfg = ModelConfig(inputs=SMALL, timesteps=12, audio_hidden=10, visual_hidden=9, fusion_hidden=11, threshold=0.7, **case)
    model = EAVSNet(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if not name.startswith("beta."):
                p.mul_(torch.empty_like(p).uniform_(0.5, 3.0))
        for b in model.bias.values():
            b.uniform_(-1.0, 1.0)
        for b in model.beta.values():
            b.uniform_(0.6, 1.0)  # per-neuron betas
    groups = [InputGroup("audio", 12, {}), InputGroup("visual", 20, {})]
    net = load(save(to_qnet(model, groups), tmp_path / "m.qnet"))
    spiking = [layer for layer in net.layers if layer.spiking]
    if cfg.learn_beta:
        assert any(len(set(layer.decay.tolist())) > 1 for layer in spiking)  # really per neuron
    elif cfg.beta is not None:
        assert all(layer.decay.tolist() == [round((1 - cfg.beta) * 4096)] * layer.n for layer in spiking)
    assert net.layers[-1].readout == cfg.readout and net.layers[-1].spiking == (cfg.readout == "spikes")
    x = _spikes(np.random.default_rng(2), 24, 12, 32)
    assert_exact(model, net, x, groups)
    g = golden.run(net, select_inputs(x, groups, net))
    if cfg.readout == "spikes":
        with torch.no_grad():
            out = model.eval()(torch.from_numpy(x))
        np.testing.assert_array_equal(out["counts"].numpy().astype(np.int64), g.counts)
        assert g.counts.sum() > 0


def _pinned_model(threshold, bias_values):
    cfg = ModelConfig(inputs=SMALL, timesteps=4, audio_hidden=len(bias_values), visual_hidden=4, fusion_hidden=4,
                      weight_bits=4, threshold=threshold, bias=True)
    model = EAVSNet(cfg)
    with torch.no_grad():
        for p in model.fc.parameters():
            p.copy_(torch.sign(torch.randn_like(p)) * 0.875)  # max |w| = 0.875: 4-bit scale 2^-3
        model.bias["audio_lif"].copy_(torch.tensor(bias_values))
    return model


def test_threshold_is_round_theta_over_scale():
    # scale s = 0.125 (4 bits, max |w| = 0.875 = 7 s). theta 1.3 -> 10.4 -> 10 (ceil would give 11);
    # theta 1.45 -> 11.6 -> 12 (floor would give 11); theta 0.01 -> 0.08 -> clamped to 1.
    for theta, expected in [(1.3, 10), (1.45, 12), (0.01, 1)]:
        p = _pinned_model(theta, [0.0] * 4).integer_layers()
        assert [q["scale"] for q in p] == [0.125] * 4
        assert [q["threshold"] for q in p] == [expected] * 4, theta


def test_bias_is_round_b_over_scale_half_to_even():
    # b / 0.125: 1.52 -> 2, -1.52 -> -2, 0.48 -> 0, -0.56 -> -1, 2.5 -> 2, 1.5 -> 2 (torch.round: half to even)
    p = _pinned_model(1.0, [0.19, -0.19, 0.06, -0.07, 0.3125, 0.1875]).integer_layers()
    assert p[0]["bias"].tolist() == [2, -2, 0, -1, 2, 2]

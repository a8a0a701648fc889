"""NIR export/import: exact round trip of our own models, snnTorch graphs
(feed-forward and recurrent RLeaky) with the approximations reported, errors."""

import numpy as np
import pytest
import torch

from sw import golden
from sw.export import to_qnet
from sw.model import EAVSNet, ModelConfig
from sw.nir_io import NIRError, export_nir, from_nir, import_nir, to_nir

nir = pytest.importorskip("nir")


def small_model(reset="zero", bits=6, bias=True):
    torch.manual_seed(3)
    m = EAVSNet(ModelConfig(inputs={"audio": 8, "visual": 12}, timesteps=10, audio_hidden=5, visual_hidden=6,
                            fusion_hidden=7, reset=reset, bias=bias, weight_bits=bits, readout_leak_shift=2))
    with torch.no_grad():
        for b in m.bias.values():
            b.uniform_(-0.5, 0.5)
    return m


def test_round_trip_is_exact(tmp_path):
    q0 = to_qnet(small_model())
    path = export_nir(q0, tmp_path / "m.nir")
    g = nir.read(str(path))
    types = {k: type(v).__name__ for k, v in g.nodes.items()}
    assert types["audio_lif"] == "LIF" and types["readout"] == "LI" and types["fusion.fusion"] == "Linear"
    assert ("fusion", "fusion.fusion") in g.edges and ("fusion.fusion", "fusion") in g.edges  # recurrence
    lif = g.nodes["audio_lif"]
    np.testing.assert_allclose(lif.tau, 1e-4 * 2**3)  # tau = dt * 2^k
    q1, rep = import_nir(path, tmp_path / "m1.qnet", bits=6)
    assert rep.notes == []
    x = (np.random.default_rng(0).random((16, 10, 20)) < 0.3).astype(np.uint8)
    a, b = golden.run(q0, x), golden.run(q1, x)
    for k in a.spikes:
        np.testing.assert_array_equal(a.spikes[k], b.spikes[k])
    np.testing.assert_array_equal(a.readout, b.readout)
    for l0, l1 in zip(q0.layers, q1.layers):
        assert (l0.name, l0.decay.tolist(), [s.delay for s in l0.sources]) == (l1.name, l1.decay.tolist(), [s.delay for s in l1.sources])
    assert q1.inputs[0].encoder == q0.inputs[0].encoder
    assert q1.classes == q0.classes  # not "b'neutral'"


def test_subtract_reset_is_refused():
    with pytest.raises(NIRError, match="subtraction"):
        to_nir(to_qnet(small_model(reset="subtract")))


def _snntorch_graph(recurrent: bool):
    snn = pytest.importorskip("snntorch")
    pytest.importorskip("nirtorch")
    from snntorch.export_nir import export_to_nir

    torch.manual_seed(0)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(10, 6)
            if recurrent:
                self.lif = snn.RLeaky(beta=torch.full((6,), 0.5), linear_features=6, init_hidden=True)
            else:
                self.lif = snn.Leaky(beta=torch.full((6,), 0.875), threshold=torch.ones(6), init_hidden=True)
            self.fc2 = torch.nn.Linear(6, 3)
            self.out = snn.Leaky(beta=torch.full((3,), 0.9), threshold=torch.ones(3), init_hidden=True, output=True)

        def forward(self, x):
            return self.out(self.fc2(self.lif(self.fc(x))))

    net = Net()
    return net, export_to_nir(net, torch.zeros(10))  # 1-D sample: shared/FACTS.md


def test_snntorch_feedforward_import_reports_approximations():
    net, g = _snntorch_graph(recurrent=False)
    q, rep = from_nir(g, bits=8, timesteps=5)
    text = "\n".join(rep.lines())
    assert "no 'dt'" in text and "'>'" in text and "spikes in the source model" in text
    assert "node 'out': 3 of 3 decays dt/tau are not multiples of 1/4096" in text and "beta 0.9 -> 0.899902 (d = 410)" in text
    assert "looks like snnTorch's export_to_nir" in text and "--reset subtract" in text
    hidden, out = q.layers
    assert hidden.decay.tolist() == [512] * 6 and out.decay.tolist() == [410] * 3  # 0.875 exact; 0.9 -> 410/4096
    s = 2.0 ** rep.errors[hidden.name]["log2_scale"]
    assert hidden.threshold == round(1.0 / s) + 1  # '>' made exact on integers
    w = net.fc.weight.detach().numpy().T
    np.testing.assert_array_equal(hidden.sources[0].weight, np.clip(np.round(w / s), -127, 127))
    np.testing.assert_array_equal(hidden.bias, np.round(net.fc.bias.detach().numpy() / s))
    assert out.spiking and out.readout == "spikes" and rep.errors[hidden.name]["weight_rel"] < 0.01
    assert hidden.reset == "zero" and out.reset == "zero"  # not declared: zero, with the warning above


def test_snntorch_recurrent_import_gives_delay_one_source():
    _, g = _snntorch_graph(recurrent=True)
    q, rep = from_nir(g, bits=6, timesteps=5)
    lif = q.layers[0]
    assert sorted((s.name == lif.name, s.delay) for s in lif.sources) == [(False, 0), (True, 1)]
    assert lif.leak_shift == 1 and lif.decay.tolist() == [2048] * 6
    assert any("look like snnTorch's RLeaky" in n and "discards the input" in n for n in rep.notes)
    q, rep = from_nir(g, bits=16, v_bits=24, timesteps=5, reset="subtract")
    assert not any("RLeaky" in n or "cannot say which" in n for n in rep.notes)
    assert all(layer.reset == "subtract" for layer in q.layers)


def test_unsupported_node_is_named():
    g = nir.NIRGraph(
        nodes={"input": nir.Input(np.array([4])), "conv": nir.Flatten(input_type={"input": np.array([4])}),
               "output": nir.Output(np.array([4]))},
        edges=[("input", "conv"), ("conv", "output")], type_check=False,
    )
    with pytest.raises(NIRError, match="node 'conv' is a Flatten"):
        from_nir(g)


def test_import_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such NIR file"):
        import_nir(tmp_path / "none.nir", tmp_path / "o.qnet")
    (tmp_path / "bad.nir").write_bytes(b"not hdf5")
    with pytest.raises(NIRError, match="not a readable NIR file"):
        import_nir(tmp_path / "bad.nir", tmp_path / "o.qnet")
    q0 = to_qnet(small_model())
    with pytest.raises(NIRError, match="--bits"):
        from_nir(to_nir(q0), bits=1)


def test_zero_d_parameters_and_ge_comparison_norse_sinabs_style():
    """Norse/Sinabs write shared 0-d neuron parameters; Sinabs' IAF fires on >=."""
    rng = np.random.default_rng(0)
    w1 = rng.normal(0, 0.3, (5, 4))
    w2 = rng.normal(0, 0.3, (3, 5))
    g = nir.NIRGraph(
        nodes={
            "input": nir.Input(np.array([4])),
            "fc1": nir.Linear(weight=w1),
            "if1": nir.IF(r=np.array(1.0), v_threshold=np.array(0.5), v_reset=np.array(0.0)),
            "fc2": nir.Linear(weight=w2),
            "li": nir.LI(tau=np.array(1e-3 * 4), r=np.array(1.0), v_leak=np.array(0.0)),
            "output": nir.Output(np.array([3])),
        },
        edges=[("input", "fc1"), ("fc1", "if1"), ("if1", "fc2"), ("fc2", "li"), ("li", "output")],
        metadata={"dt": 1e-3},
        type_check=False,
    )
    q, rep = from_nir(g, bits=8, timesteps=6, comparison=">=")
    assert [layer.n for layer in q.layers] == [5, 3]
    if1, li = q.layers
    assert if1.leak_shift == 0 and li.leak_shift == 2 and not li.spiking
    s = 2.0 ** rep.errors["if1"]["log2_scale"]
    assert if1.threshold == round(0.5 / s)  # '>=' kept as is
    # LI gain dt*r/tau = 1/4 is folded into the readout weights
    s2 = 2.0 ** rep.errors["li"]["log2_scale"]
    np.testing.assert_array_equal(li.sources[0].weight, np.round(w2.T * 0.25 / s2))
    assert not any("'>'" in n for n in rep.notes)


def _lif_graph(tau, thr=1.0, v_reset=0.0, out_spiking=True, shape1=False, **meta):
    rng = np.random.default_rng(1)
    n = len(tau)
    p = (lambda x: np.array([x])) if shape1 else (lambda x: np.full(3, x))
    hidden = nir.LIF(tau=np.asarray(tau, float), r=np.asarray(tau, float) / 1e-4, v_leak=np.zeros(n),
                     v_threshold=np.full(n, thr), v_reset=np.full(n, v_reset))
    out = (nir.LIF(tau=p(1e-3), r=p(10.0), v_leak=p(0.0), v_threshold=p(1.0), v_reset=p(0.0)) if out_spiking
           else nir.LI(tau=p(1e-3), r=p(10.0), v_leak=p(0.0)))
    return nir.NIRGraph(
        nodes={"input": nir.Input(np.array([4])), "fc1": nir.Linear(weight=rng.normal(0, 0.5, (n, 4))), "lif": hidden,
               "fc2": nir.Linear(weight=rng.normal(0, 0.5, (3, n))), "out": out, "output": nir.Output(np.array([3]))},
        edges=[("input", "fc1"), ("fc1", "lif"), ("lif", "fc2"), ("fc2", "out"), ("out", "output")],
        metadata={"dt": 1e-4, **meta}, type_check=False,
    )


def test_per_neuron_betas_become_per_neuron_decays():
    betas = np.array([0.8, 0.85, 0.9, 0.95, 0.875, 0.5])
    q, rep = from_nir(_lif_graph(1e-4 / (1 - betas)), bits=16, v_bits=24, timesteps=4)
    # literal: round(4096 (1 - beta)) = 819.2, 614.4, 409.6, 204.8, 512, 2048
    assert q.layers[0].decay.tolist() == [819, 614, 410, 205, 512, 2048]
    assert q.layers[1].decay.tolist() == [410] * 3 and q.layers[1].readout == "spikes"
    assert any("5 of 6 decays" in n for n in rep.notes) is False and any("4 of 6 decays" in n for n in rep.notes)


def test_membrane_readout_can_be_chosen_and_li_output_stays_membrane():
    q, rep = from_nir(_lif_graph([1e-3] * 3), timesteps=4, readout="membrane")
    assert not q.readout.spiking and q.readout.readout == "membrane"
    assert any("not of its spike count" in n for n in rep.notes)
    q, rep = from_nir(_lif_graph([1e-3] * 3, out_spiking=False), timesteps=4)
    assert not q.readout.spiking and q.readout.readout == "membrane"
    with pytest.raises(NIRError, match="--readout spikes: the output node 'out' is a LI"):
        from_nir(_lif_graph([1e-3] * 3, out_spiking=False), timesteps=4, readout="spikes")


def test_still_refused_cubalif_and_nonzero_reset():
    with pytest.raises(NIRError, match="v_reset 0.2 != 0 is not supported"):
        from_nir(_lif_graph([1e-3] * 3, v_reset=0.2), timesteps=4)
    g = _lif_graph([1e-3] * 3)
    g.nodes["lif"] = nir.CubaLIF(tau_syn=np.full(3, 1e-3), tau_mem=np.full(3, 1e-3), r=np.full(3, 10.0),
                                 v_leak=np.zeros(3), v_threshold=np.ones(3), v_reset=np.zeros(3))
    with pytest.raises(NIRError, match="node 'lif' is a CubaLIF, which EAVS-TF cannot import"):
        from_nir(g, timesteps=4)
    with pytest.raises(NIRError, match="--reset must be"):
        from_nir(_lif_graph([1e-3] * 3), reset="hard")


def test_general_decay_and_spike_readout_round_trip_exactly(tmp_path):
    from sw.random_net import random_qnet, random_spikes

    rng = np.random.default_rng(5)
    q0 = random_qnet(rng, general_decay=True, readout="spikes", recurrence=True, max_hidden=2, v_bits=16, weight_bits=8)
    for layer in q0.layers:  # NIR: zero reset only, and one neuron type per node
        layer.reset = "zero"
        layer.decay = np.maximum(layer.decay, 1).astype(np.int32)
    q0.classes = [f"class {c}" for c in range(len(q0.classes))]
    path = export_nir(q0, tmp_path / "m.nir")
    q1, rep = import_nir(path, tmp_path / "m1.qnet", bits=8, v_bits=16)
    for l0, l1 in zip(q0.layers, q1.layers):
        np.testing.assert_array_equal(l0.decay, l1.decay)
    assert q1.readout.readout == "spikes" and q1.classes == q0.classes
    x = random_spikes(rng, q0, batch=8)
    a, b = golden.run(q0, x), golden.run(q1, x)
    np.testing.assert_array_equal(a.prediction, b.prediction)
    np.testing.assert_array_equal(a.counts, b.counts)


def test_cli_imports_shape_one_parameters_and_declared_reset(tmp_path):
    """nir.read's type check rejects shape-(1,) neuron parameters; the command line must not."""
    from typer.testing import CliRunner

    from eavs.cli import app

    path = tmp_path / "g.nir"
    nir.write(str(path), _lif_graph([1e-3] * 3, shape1=True, classes=["calm", "happy", "sad"]))
    with pytest.raises(ValueError, match="Type inference error"):
        nir.read(str(path))  # what `eavs nir import` hit before
    r = CliRunner().invoke(app, ["nir", "import", str(path), "--out", str(tmp_path / "m.qnet"), "--bits", "16",
                                 "--v-bits", "24", "--timesteps", "5", "--reset", "subtract"])
    assert r.exit_code == 0, r.output
    assert "reset subtract, readout spikes" in r.output
    from sw.qnet import load

    q = load(tmp_path / "m.qnet")
    assert q.classes == ["calm", "happy", "sad"] and q.layers[1].decay.tolist() == [410] * 3


def test_cli_imports_zero_d_parameters(tmp_path):
    """0-d (scalar) neuron parameters, as other writers store them; nir.write cannot make them, so edit the HDF5."""
    h5py = pytest.importorskip("h5py")
    from typer.testing import CliRunner

    from eavs.cli import app

    path = tmp_path / "g.nir"
    nir.write(str(path), _lif_graph([1e-3] * 3, shape1=True))
    with h5py.File(path, "r+") as f:
        grp = f["node/nodes/out"]
        for k in ("tau", "r", "v_leak", "v_threshold", "v_reset"):
            v = float(grp[k][0])
            del grp[k]
            grp.create_dataset(k, data=v)
    assert np.asarray(nir.read(str(path), type_check=False).nodes["out"].tau).shape == ()
    r = CliRunner().invoke(app, ["nir", "import", str(path), "--out", str(tmp_path / "m.qnet"), "--timesteps", "5"])
    assert r.exit_code == 0, r.output
    assert "looks like snnTorch's export_to_nir" in r.output and "readout spikes" in r.output

"""A real (small) QAT training, then export, then torch eval == sw.golden sample
by sample on the held-out actors; resume; DDP with gloo under torchrun."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sw import golden
from sw.export import export_checkpoint, load_checkpoint, select_inputs
from sw.qnet import InputGroup, load
from sw.train import TrainConfig, TrainData, TrainError, save_npz, split_data, train

ROOT = Path(__file__).resolve().parents[1]
A, V, T, C = 16, 48, 16, 4


def structured_data(n=192, seed=0) -> TrainData:
    """Class-dependent spike rates: learnable, with speakers (actors) as a nuisance."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, C, n)
    actors = rng.integers(1, 9, n)
    pa = rng.random((C, A)) * 0.4
    pv = rng.random((C, V)) * 0.3
    jitter = rng.random((9, A + V)) * 0.1
    p = np.concatenate([pa[y], pv[y]], 1) + jitter[actors]
    x = (rng.random((n, T, A + V)) < p[:, None, :]).astype(np.uint8)
    groups = [InputGroup("audio", A, {"kind": "audio", "note": "test"}), InputGroup("visual", V, {"kind": "visual"})]
    return TrainData(x, y, actors, [f"class{i}" for i in range(C)], groups)


def small_cfg(out, **kw) -> TrainConfig:
    base = dict(data="npz:unused", out=str(out), epochs=3, batch_size=16, lr=1e-2, audio_hidden=12, visual_hidden=12,
                fusion_hidden=12, progress=False, device="cpu", threads=1)
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    data = structured_data()
    summary = train(small_cfg(out, epochs=4), data=data)
    return out, data, summary


def test_training_learns_and_export_is_exact_on_test_actors(trained, tmp_path):
    out, data, summary = trained
    assert summary["best_val_acc"] > 0.6, summary  # chance is 0.25
    net = export_checkpoint(out / "best.pt", tmp_path / "m.qnet")
    net = load(tmp_path / "m.qnet")
    assert net.inputs[0].encoder == {"kind": "audio", "note": "test"}
    assert net.metadata["split"]["test_actors"]
    model, _ = load_checkpoint(out / "best.pt")
    _, _, test_idx = split_data(data)
    assert set(data.actors[test_idx]) == set(net.metadata["split"]["test_actors"])
    x = data.x[test_idx]
    with torch.no_grad():
        t_out = model(torch.from_numpy(x))
    g = golden.run(net, select_inputs(x, data.inputs, net))
    for name in g.spikes:
        ts = t_out["spikes"][name].numpy().astype(bool)
        for i in range(len(x)):  # sample by sample, layer by layer
            assert (ts[i] == g.spikes[name][i]).all(), f"sample {i} layer {name}"
        if name != "readout":
            assert g.spikes[name].any(), f"layer {name} never spiked"
    np.testing.assert_array_equal(t_out["readout"].numpy().astype(np.int64), g.readout)
    np.testing.assert_array_equal(t_out["prediction"].numpy(), g.prediction)
    assert float((g.prediction == data.y[test_idx]).mean()) == pytest.approx(summary["test_acc"])
    hist = json.loads((out / "history.json").read_text())
    assert len(hist["history"]) == 4 and hist["history"][-1]["loss"] < hist["history"][0]["loss"]


def test_resume_continues_to_the_same_weights(tmp_path):
    data = structured_data(n=96, seed=3)
    full = tmp_path / "full"
    part = tmp_path / "part"
    train(small_cfg(full, epochs=2), data=data)
    train(small_cfg(part, epochs=2, stop_after=1), data=data)  # interrupted after epoch 1
    s = train(small_cfg(part, epochs=2, resume=True), data=data)
    a = torch.load(full / "last.pt", weights_only=True)
    b = torch.load(part / "last.pt", weights_only=True)
    assert b["epoch"] == 1 and s["best_val_acc"] == a["best_val_acc"]
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k


def test_resume_refuses_another_config(tmp_path):
    data = structured_data(n=64, seed=4)
    train(small_cfg(tmp_path, epochs=1), data=data)
    with pytest.raises(TrainError, match="another model config"):
        train(small_cfg(tmp_path, epochs=2, resume=True, bits=4), data=data)


def test_unimodal_training_reads_only_its_group(tmp_path):
    data = structured_data(n=64, seed=5)
    train(small_cfg(tmp_path, epochs=1, modalities=("visual",), bits=4), data=data)
    net = export_checkpoint(tmp_path / "best.pt", tmp_path / "v.qnet")
    assert [g.name for g in net.inputs] == ["visual"] and net.n_inputs == V
    assert [layer.name for layer in net.layers] == ["visual_lif", "fusion", "readout"]
    assert all(s.weight_bits == 4 for layer in net.layers for s in layer.sources)


@pytest.mark.parametrize(
    "kw, match", [(dict(epochs=0), "epochs"), (dict(lr=-1.0), "lr"), (dict(device="tpu"), "device")]
)
def test_train_config_errors(kw, match, tmp_path):
    with pytest.raises(TrainError, match=match):
        small_cfg(tmp_path, **kw)


def test_bad_data_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such encoded data file"):
        train(small_cfg(tmp_path, data=f"npz:{tmp_path / 'missing.npz'}"))
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(TrainError, match="not a readable encoded data file"):
        train(small_cfg(tmp_path, data=f"npz:{tmp_path / 'bad.npz'}"))
    d = structured_data(n=8)
    with pytest.raises(TrainError, match="labels must be in"):
        TrainData(d.x, d.y + 10, d.actors, d.classes, d.inputs)


@pytest.mark.slow
def test_ddp_two_processes_gloo(tmp_path):
    """torchrun, 2 CPU processes, gloo: trains, ranks stay in sync, rank 0 writes the checkpoint."""
    data_file = save_npz(tmp_path / "d.npz", structured_data(n=96, seed=6))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "sw.train",
           "--data", f"npz:{data_file}", "--out", str(tmp_path / "ddp"), "--epochs", "2", "--batch-size", "16",
           "--device", "cpu", "--no-progress", "--hidden", "12,12,12"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=240)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "world=2" in r.stdout and "ranks in sync: 2 parameter digests equal" in r.stdout
    ck = torch.load(tmp_path / "ddp" / "best.pt", weights_only=True)
    assert ck["epoch"] in (0, 1)


def _train_vs_eval_spikes(model, x):
    """Spikes of the training-mode forward (float32, STEs) and of the eval-mode integer forward."""
    with torch.no_grad():
        model.train()
        tr = model(torch.from_numpy(x))
        model.eval()
        ev = model(torch.from_numpy(x))
    return tr, ev


def test_training_forward_agrees_with_integer_eval_on_a_trained_model(trained):
    """Locks training to export: the forward that gradients see computes the integers that ship."""
    out, data, _ = trained
    model, _ = load_checkpoint(out / "best.pt")
    _, _, test_idx = split_data(data)
    x = data.x[test_idx]
    tr, ev = _train_vs_eval_spikes(model, x)
    for name in ev["spikes"]:
        np.testing.assert_array_equal(tr["spikes"][name].numpy().astype(bool), ev["spikes"][name].numpy().astype(bool), err_msg=name)
    np.testing.assert_array_equal(tr["readout"].numpy(), ev["readout"].numpy())
    assert sum(int(s.sum()) for s in ev["spikes"].values()) > 0


def test_learned_beta_and_spike_count_readout_train_and_export_exactly(tmp_path):
    data = structured_data(n=128, seed=8)
    s = train(small_cfg(tmp_path, epochs=3, model_overrides={"learn_beta": True, "beta": 0.9, "readout": "spikes", "threshold": 0.7}), data=data)
    assert s["best_val_acc"] > 0.4, s  # chance 0.25
    model, _ = load_checkpoint(tmp_path / "best.pt")
    net = export_checkpoint(tmp_path / "best.pt", tmp_path / "m.qnet")
    net = load(tmp_path / "m.qnet")
    assert net.layers[-1].readout == "spikes" and net.layers[-1].spiking
    # theta / s is not an integer (0.7 / 2^-k), so a threshold rounded differently in training would show
    assert all(layer.threshold != 0.7 / net.metadata["weight_scales"][layer.name] for layer in net.layers)
    decays = np.concatenate([layer.decay for layer in net.layers])
    assert len(set(decays.tolist())) > 1 and set(decays.tolist()) != {410}  # learned, per neuron
    _, _, test_idx = split_data(data)
    x = data.x[test_idx]
    tr, ev = _train_vs_eval_spikes(model, x)
    g = golden.run(net, select_inputs(x, data.inputs, net))
    for name in g.spikes:
        np.testing.assert_array_equal(ev["spikes"][name].numpy().astype(bool), g.spikes[name], err_msg=name)
        np.testing.assert_array_equal(tr["spikes"][name].numpy().astype(bool), g.spikes[name], err_msg=name)
    np.testing.assert_array_equal(ev["counts"].numpy().astype(np.int64), g.counts)
    np.testing.assert_array_equal(ev["prediction"].numpy(), g.prediction)

"""The audio-first cascade (issue 20): its place in the ``.qnet``, the one
run logic every back-end uses (sw.cascade), and its calibration
(sw.adaptive.calibrate_cascade), each against an independent source."""

import copy
import json

import numpy as np
import pytest

from sw import cascade, golden, qnet
from sw.adaptive import calibrate_cascade
from sw.energy import estimate
from sw.qnet import ExitRule, InputGroup, QNet, QNetError
from sw.random_net import random_qnet, random_spikes
from tests.reference import reference_exit


def cascade_pair(seed, gate=None, rule=None):
    """A random two-group model and a first stage reading only its group
    ``in0``: one leaky membrane readout (or a spiking one, by seed) with
    random weights, so its margin varies from clip to clip."""
    from sw.qnet import Layer, Source

    rng = np.random.default_rng(seed)
    while True:
        net = random_qnet(rng, readout="random", timesteps=int(rng.integers(3, 7)), n_classes=3)
        if len(net.inputs) == 2:
            break
    n0 = net.inputs[0].size
    w = rng.integers(-8, 9, size=(n0, 3)).astype(np.int16)
    spiking = bool(seed % 3 == 0)
    out = Layer("out", 3, [Source("in0", w, 8)], 12, int(rng.integers(0, 4)), "subtract", 12, spiking,
                readout="spikes" if spiking else "membrane")
    first = QNet(list(net.classes), net.timesteps, [InputGroup("in0", n0)], [out], exit=gate)
    net.exit = rule
    net.cascade = first
    return rng, net.validate()


def test_cascade_round_trips_and_is_validated(tmp_path):
    _, net = cascade_pair(1, gate=ExitRule(3, 1))
    back = qnet.load(qnet.save(net, tmp_path / "c.qnet"))
    assert back.cascade is not None and back.cascade.exit == ExitRule(3, 1)
    assert [g.name for g in back.cascade.inputs] == ["in0"]
    for a, b in zip(back.cascade.layers, net.cascade.layers):
        for sa, sb in zip(a.sources, b.sources):
            np.testing.assert_array_equal(sa.weight, sb.weight)
    bad = copy.copy(net)
    bad.cascade = copy.copy(net.cascade)
    bad.cascade.classes = ["x", "y", "z"]
    with pytest.raises(QNetError, match=r"field 'cascade': the first stage's classes"):
        bad.validate()
    bad.cascade = copy.copy(net.cascade)
    bad.cascade.inputs = [InputGroup("in0", net.inputs[0].size + 1)]
    with pytest.raises(QNetError, match=r"first stage: layer .*|first-stage input group 'in0'"):
        bad.validate()


def test_cascade_in_an_older_version_is_refused(tmp_path):
    _, net = cascade_pair(2)
    path = qnet.save(net, tmp_path / "c.qnet")
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    h = json.loads(arrays["header"].tobytes().decode())
    h["version"] = 2
    arrays["header"] = np.frombuffer(json.dumps(h).encode(), np.uint8)
    with open(tmp_path / "old.qnet", "wb") as f:
        np.savez(f, **arrays)
    with pytest.raises(QNetError, match=r"field 'cascade' needs version 3"):
        qnet.load(tmp_path / "old.qnet")


@pytest.mark.parametrize("seed", range(10))
def test_run_matches_the_rule_worked_from_the_scalar_reference(seed):
    rng = np.random.default_rng(100 + seed)
    gate = ExitRule(int(rng.choice([0, 1, 2, 5, 50])), int(rng.integers(0, 2)))
    rule = None if seed % 2 else ExitRule(int(rng.choice([1, 3, 30])), 0)
    rng, net = cascade_pair(seed, gate, rule)
    x = random_spikes(rng, net, batch=5)
    res = cascade.run(net, x)
    n0 = net.inputs[0].size
    for b in range(5):
        r1 = reference_exit(net.cascade, x[b][:, :n0])
        q = sorted(r1["q"][r1["exit_step"]], reverse=True)
        sure = q[0] - q[1] >= gate.margin
        assert bool(res.camera_free[b]) == sure
        want = r1["prediction"] if sure else reference_exit(net, x[b])["prediction"]
        assert int(res.prediction[b]) == want
    assert res.escalated.tolist() == np.flatnonzero(~res.camera_free).tolist()
    fixed = cascade.run(cascade.fixed(net), x)
    np.testing.assert_array_equal(fixed.prediction, golden.run(cascade.fixed(net), x).prediction)
    assert not fixed.camera_free.any()


def test_first_stage_without_a_gate_never_decides_and_is_not_run():
    rng, net = cascade_pair(5, gate=None)
    x = random_spikes(rng, net, batch=4)
    res = cascade.run(net, x)
    assert not res.camera_free.any() and res.first is None
    np.testing.assert_array_equal(res.prediction, golden.run(net, x).prediction)


@pytest.mark.parametrize("seed", range(3))
def test_calibrated_point_equals_the_cascade_run_priced_by_sw_energy(seed):
    rng, net = cascade_pair(20 + seed)
    x = random_spikes(rng, net, batch=24)
    y = rng.integers(0, 3, 24)
    cal = calibrate_cascade(net, x, y, lanes=4, tolerance=100.0, count=6)  # any accuracy: the cheapest point
    assert {p.family for p in cal.points} == {"fixed", "exit", "cascade", "both"}
    assert all(p.energy_pj >= cal.chosen.energy_pj for p in cal.points)
    mixed = [p for p in cal.points if 0 < p.camera_free < 1]  # some clips escalate, some do not
    assert mixed
    picks = [mixed[i] for i in np.linspace(0, len(mixed) - 1, 4).astype(int)]
    for p in (cal.chosen, cal.fixed, *cal.front("cascade")[:2], *picks):
        m = copy.copy(net)
        m.exit = None if p.margin is None else ExitRule(p.margin, p.min_step)
        if p.gate_margin is None:
            m.cascade = None
        else:
            m.cascade = copy.copy(net.cascade)
            m.cascade.exit = ExitRule(p.gate_margin, p.gate_min_step)
        res = cascade.run(m, x)
        assert float(np.mean(res.prediction == y)) == p.accuracy
        fixed_ok = golden.run(cascade.fixed(net), x).prediction == y
        assert float(np.mean(fixed_ok & (res.prediction != y))) == p.lost
        assert float(res.camera_free.mean()) == p.camera_free
        total = 0.0
        for stage in (res.first, res.second):
            if stage is not None:
                g = stage.golden
                model = m.cascade if stage is res.first else m
                total += estimate(model, g.synaptic_ops, g.neuron_updates, g.layer_events, 4).snn_energy_pj * len(g.prediction)
        assert total / len(y) == pytest.approx(p.energy_pj, rel=1e-9)


def test_gate_worked_by_hand():
    """First stage: IF membrane readout, +6/+9/+4 per step (margins 3, 6, 9,
    12 after steps 0..3). Gate M=6: sure after step 1, camera-free, predicts
    class 1. Gate M=13: never sure, escalates to the fused network (which
    says class 2 here: +1/+1/+5 per step from the second group)."""
    from tests.test_golden_exit import _membrane_net
    from sw.qnet import Layer, Source

    first = _membrane_net([[6, 9, 4]])
    first.inputs = [InputGroup("a", 1)]
    first.layers[0].sources[0].name = "a"
    out = Layer("out", 3, [Source("a", np.array([[6, 9, 4]], np.int16), 8), Source("v", np.array([[-5, -8, 1]], np.int16), 8)],
                100, 0, "subtract", 16, False)
    x = np.ones((1, 4, 2), np.uint8)
    for margin, free, pred in ((6, True, 1), (12, True, 1), (13, False, 2)):
        first.exit = ExitRule(margin, 0)
        net = QNet(["a", "b", "c"], 4, [InputGroup("a", 1), InputGroup("v", 1)], [out], cascade=first).validate()
        res = cascade.run(net, x)
        assert res.camera_free.tolist() == [free] and res.prediction.tolist() == [pred]
        assert res.exit_step.tolist() == [{6: 1, 12: 3, 13: 3}[margin]]


@pytest.mark.parametrize("seed", range(4))
def test_driver_runs_the_cascade_through_the_same_code_path(seed):
    """host's golden back-end (the core's report: prediction and readout
    words) through Backend.infer_cascade gives sw.cascade's golden run."""
    import host
    from hw.spec.capacity import Capacity

    rng, net = cascade_pair(40 + seed, gate=ExitRule(int(np.random.default_rng(seed).integers(0, 6)), 0))
    x = random_spikes(rng, net, batch=6)
    want = cascade.run(net, x)
    with host.open_backend("golden", capacity=Capacity(lanes=4, max_neurons=64, max_layers=4, max_inputs=256)) as be:
        got = be.infer_cascade(net, x)
    np.testing.assert_array_equal(got.prediction, want.prediction)
    np.testing.assert_array_equal(got.camera_free, want.camera_free)


def test_demo_adaptive_step_on_a_hand_made_run(tmp_path):
    """The demo's adaptive step end to end on a tiny run directory (encoded
    spikes, split, a cascade model): rules written, test figures reported,
    and the fixed-cost figures equal the fused network's plain golden run."""
    from eavs import figures, steps
    from eavs.demo_config import AV, DemoConfig
    from sw.train import TrainData, save_npz

    rng, net = cascade_pair(7)
    net.inputs = [InputGroup("audio", net.inputs[0].size), InputGroup("visual", net.inputs[1].size)]
    for m in (net, net.cascade):
        for layer in m.layers:
            for s in layer.sources:
                s.name = {"in0": "audio", "in1": "visual"}.get(s.name, s.name)
    net.cascade.inputs = [InputGroup("audio", net.inputs[0].size)]
    net.classes = net.cascade.classes = ["neutral", "calm", "happy"]
    net.validate()
    x = random_spikes(rng, net, batch=30)
    y = rng.integers(0, 3, 30)
    (tmp_path / "encode").mkdir()
    save_npz(tmp_path / "encode" / "encoded.npz", TrainData(x, y, np.repeat(np.arange(1, 7), 5), list(net.classes), list(net.inputs)))
    (tmp_path / "encode" / "split.json").write_text(json.dumps({"train": list(range(10)), "val": list(range(10, 20)), "test": list(range(20, 30))}))
    (tmp_path / "encode" / "intensity.json").write_text(json.dumps([1, 2] * 15))
    path = qnet.save(net, tmp_path / "m.qnet")
    ctx = steps.Context(DemoConfig.quick_preset(), tmp_path, {"export": {"models": {AV: {"qnet": str(path)}}}}, log=lambda s: None)
    out = steps.step_adaptive(ctx)
    adaptive = qnet.load(out["qnet"])
    family = out["chosen"]["family"]
    assert (adaptive.cascade.exit is not None) == (family in ("cascade", "both"))
    assert (adaptive.exit is not None) == (family in ("exit", "both"))
    fixed = golden.run(cascade.fixed(net), x[20:])
    assert out["test"]["fixed_accuracy"] == float(np.mean(fixed.prediction == y[20:]))
    assert out["test"]["clips"] == 10 and "camera_free_strong" in out["test"]
    assert out["test"]["accuracy"] == float(np.mean(cascade.run(adaptive, x[20:]).prediction == y[20:]))
    png = figures.adaptive_pareto(out["fronts"], tuple(out["fixed"]), (out["chosen"]["energy_nj"], out["chosen"]["accuracy"]),
                                  tmp_path / "p.png")
    assert png.stat().st_size > 1000

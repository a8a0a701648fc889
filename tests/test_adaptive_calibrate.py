"""Early-exit calibration (sw.adaptive, ``eavs calibrate``) and ``eavs eval --adaptive``.

The curve's figures are checked against another stage: for a rule, the
golden model run with that rule in the model, priced by ``sw.energy.estimate``
(which knows nothing of the curve's per-step prefix sums).
"""

import json

import numpy as np
import pytest

from sw import golden, qnet
from sw.adaptive import ExitPoint, calibrate, exit_curve, pareto
from sw.energy import estimate
from sw.qnet import ExitRule, InputGroup, Layer, QNet, Source
from sw.random_net import random_qnet, random_spikes
from tests.test_model_cli import eavs, run_cli
from tests.test_model_train import A, C, T, V, structured_data


@pytest.mark.parametrize("seed", range(12))
def test_curve_point_equals_golden_with_the_rule_priced_by_sw_energy(seed):
    rng = np.random.default_rng(seed)
    net = random_qnet(rng, readout="random", early_exit=True, timesteps=int(rng.integers(2, 9)))
    rule, net.exit = net.exit, None
    x = random_spikes(rng, net, batch=7)
    y = rng.integers(0, len(net.classes), 7)
    lanes = int(rng.choice([1, 2, 4, 16]))
    full = golden.run(net, x)
    (pt,), full_pt = exit_curve(net, full.readout_steps, full.layer_events_all, y, lanes, [rule.margin], [rule.min_step])
    net.exit = rule
    g = golden.run(net, x)
    e = estimate(net, g.synaptic_ops, g.neuron_updates, g.layer_events, lanes)
    assert pt.energy_pj == pytest.approx(e.snn_energy_pj, rel=1e-12)
    assert pt.accuracy == float(np.mean(g.prediction == y))
    assert pt.mean_exit_step == float(g.exit_step.mean())
    net.exit = None
    e_full = estimate(net, full.synaptic_ops, full.neuron_updates, full.layer_events, lanes)
    assert full_pt.energy_pj == pytest.approx(e_full.snn_energy_pj, rel=1e-12)
    assert full_pt.mean_exit_step == net.timesteps - 1


def test_pareto_keeps_only_unbeaten_points():
    p = lambda acc, e: ExitPoint(1, 0, acc, e, 0.0)  # noqa: E731
    pts = [p(0.5, 10), p(0.6, 20), p(0.55, 25), p(0.6, 15), p(0.9, 40), p(0.4, 5)]
    assert [(q.accuracy, q.energy_pj) for q in pareto(pts)] == [(0.4, 5), (0.5, 10), (0.6, 15), (0.9, 40)]


def linear_net(data, timesteps=T) -> QNet:
    """One IF membrane readout with weights from the class-wise spike rates
    of ``data``: a fair linear classifier whose margin grows with time."""
    x = data.x.astype(np.float64).mean(axis=1)
    means = np.stack([x[data.y == c].mean(axis=0) for c in range(C)])
    w = np.clip(np.round(40 * (means - means.mean(axis=0))), -127, 127).astype(np.int16).T  # [inputs, classes]
    out = Layer("out", C, [Source("audio", w[:A], 8), Source("visual", w[A:], 8)], 1000, 0, "subtract", 16, False)
    split = {"seed": 0, "val_actors": [1, 2, 3, 4], "test_actors": [5, 6, 7, 8]}
    return QNet(list(data.classes), timesteps, list(data.inputs), [out], metadata={"split": split}).validate()


def test_calibration_meets_its_budget_at_the_lowest_energy():
    data = structured_data(n=160, seed=3)
    net = linear_net(data)
    val = np.isin(data.actors, [1, 2, 3, 4])
    cal = calibrate(net, data.x[val], data.y[val], lanes=4, tolerance=0.5)
    floor = cal.full.accuracy - 0.005
    assert cal.chosen.accuracy >= floor - 1e-12 and cal.chosen.lost <= 0.005
    assert all(p.energy_pj >= cal.chosen.energy_pj for p in cal.points if p.lost <= 0.005)
    assert cal.chosen.energy_pj < cal.full.energy_pj  # this classifier is sure long before T
    # the chosen rule, put in the model and run by golden, gives the same figures
    net.exit = cal.rule
    g = golden.run(net, data.x[val])
    assert float(np.mean(g.prediction == data.y[val])) == cal.chosen.accuracy
    assert float(g.exit_step.mean()) == cal.chosen.mean_exit_step
    full = golden.run(qnet.QNet(net.classes, net.timesteps, net.inputs, net.layers), data.x[val])
    lost = np.mean((full.prediction == data.y[val]) & (g.prediction != data.y[val]))
    assert float(lost) == cal.chosen.lost  # clips the full run gets right and the rule does not
    text = "\n".join(cal.lines())
    assert "validation split" in text and "estimated" in text and "<- chosen" in text


def test_calibrate_and_eval_cli(tmp_path):
    from sw.train import save_npz

    data = structured_data(n=160, seed=3)
    npz = save_npz(tmp_path / "d.npz", data)
    model = qnet.save(linear_net(data), tmp_path / "m.qnet")
    r = run_cli("eval", "--model", model, "--data", f"npz:{npz}", "--json", tmp_path / "fixed.json")
    assert r.returncode == 0 and "early exit" not in r.stdout
    r = run_cli("calibrate", "--model", model, "--data", f"npz:{npz}", "--out", tmp_path / "a.qnet", "--json", tmp_path / "c.json")
    assert r.returncode == 0, r.stdout
    assert "Pareto front" in r.stdout and "<- chosen" in r.stdout and "wrote" in r.stdout
    adaptive = qnet.load(tmp_path / "a.qnet")
    curve = json.loads((tmp_path / "c.json").read_text())
    assert adaptive.exit == ExitRule(curve["chosen"]["margin"], curve["chosen"]["min_step"])
    r = run_cli("eval", "--model", tmp_path / "a.qnet", "--data", f"npz:{npz}", "--json", tmp_path / "adaptive.json")
    assert r.returncode == 0 and "early exit: mean steps run" in r.stdout
    r = run_cli("eval", "--model", tmp_path / "a.qnet", "--data", f"npz:{npz}", "--adaptive", "off", "--json", tmp_path / "off.json")
    assert r.returncode == 0
    fixed, off, adapt = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("fixed", "off", "adaptive"))
    assert off == fixed  # --adaptive off: today's fixed-cost run, every figure
    assert adapt["synaptic_ops"] < fixed["synaptic_ops"] and adapt["mean_exit_step"] < T - 1


def test_adaptive_on_without_rule_is_a_one_line_error(tmp_path):
    from sw.train import save_npz

    data = structured_data(n=32, seed=1)
    npz = save_npz(tmp_path / "d.npz", data)
    model = qnet.save(linear_net(data), tmp_path / "m.qnet")
    r = eavs("eval", "--model", model, "--data", f"npz:{npz}", "--adaptive", "on")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"{model}: --adaptive on, but the model has no early-exit rule (field 'exit')" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1

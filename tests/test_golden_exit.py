"""Early exit (issue 20) in the golden model and the ``.qnet`` header.

The vectorised rule in ``sw.golden`` is checked against the plain scalar
reference (``tests.reference.reference_exit``, written from the rule's words
on top of the scalar network reference) on random networks with random exit
rules, and against hand-worked literals. A model without the rule must give
exactly what it gave before.
"""

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sw import golden, qnet
from sw.qnet import ExitRule, InputGroup, Layer, QNet, QNetError, Source
from sw.random_net import random_qnet, random_spikes
from tests.reference import reference_exit, reference_run


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**63 - 1))
def test_random_exit_rules_match_scalar_reference(seed):
    rng = np.random.default_rng(seed)
    net = random_qnet(rng, general_decay=bool(rng.integers(0, 2)), readout="random", early_exit=True)
    x = random_spikes(rng, net, batch=2)
    res = golden.run(net, x)
    for b in range(x.shape[0]):
        ref = reference_exit(net, x[b])
        assert int(res.exit_step[b]) == ref["exit_step"]
        assert res.readout_steps[b].tolist() == ref["q"]
        assert int(res.prediction[b]) == ref["prediction"]
        assert res.readout[b].tolist() == ref["readout"]
        assert res.counts[b].tolist() == ref["counts"]
        assert int(res.synaptic_ops[b]) == ref["synaptic_ops"]
        assert res.layer_spikes[b].tolist() == ref["layer_spikes"]
        assert int(res.input_spikes[b]) == ref["input_spikes"]
        assert int(res.neuron_updates[b]) == ref["neuron_updates"]
    # the trains and the all-steps events are those of the full run
    full = golden.run(_without_exit(net), x)
    for layer in net.layers:
        np.testing.assert_array_equal(res.spikes[layer.name], full.spikes[layer.name])
    np.testing.assert_array_equal(res.layer_events_all, full.layer_events)


def _without_exit(net):
    import copy

    plain = copy.copy(net)
    plain.exit = None
    return plain


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**63 - 1))
def test_no_rule_runs_all_steps_as_before(seed):
    rng = np.random.default_rng(seed)
    net = random_qnet(rng, readout="random")
    x = random_spikes(rng, net, batch=2)
    res = golden.run(net, x)
    T = net.timesteps
    assert res.exit_step.tolist() == [T - 1, T - 1]
    np.testing.assert_array_equal(res.layer_events, res.layer_events_all)
    for b in range(2):
        trains, readout, pred = reference_run(net, x[b])
        assert res.readout[b].tolist() == readout and int(res.prediction[b]) == pred
        assert int(res.neuron_updates[b]) == T * sum(layer.n for layer in net.layers)
        assert int(res.input_spikes[b]) == int(x[b].sum())


def _membrane_net(w, margin=None, min_step=0, T=4):
    out = Layer("out", 3, [Source("in", np.array(w, np.int16), 8)], 100, 0, "subtract", 16, False)
    rule = None if margin is None else ExitRule(margin, min_step)
    return QNet(["a", "b", "c"], T, [InputGroup("in", 1)], [out], exit=rule).validate()


@pytest.mark.parametrize(
    "margin, min_step, exit_step, readout, prediction",
    [
        # IF membrane readout, input on every step: membranes 6t+6, 9t+9, 4t+4;
        # margins (9 - 6)(t + 1) = 3, 6, 9, 12 after steps 0..3.
        (6, 0, 1, [12, 18, 8], 1),
        (3, 0, 0, [6, 9, 4], 1),
        (0, 0, 0, [6, 9, 4], 1),
        (6, 2, 2, [18, 27, 12], 1),
        (13, 0, 3, [24, 36, 16], 1),  # never reached: T-1
        (12, 3, 3, [24, 36, 16], 1),
    ],
)
def test_membrane_exit_worked_by_hand(margin, min_step, exit_step, readout, prediction):
    res = golden.run(_membrane_net([[6, 9, 4]], margin, min_step), np.ones((1, 4, 1), np.uint8))
    assert res.exit_step.tolist() == [exit_step]
    assert res.readout.tolist() == [readout]
    assert res.prediction.tolist() == [prediction]
    assert res.readout_steps.tolist() == [[[6, 9, 4], [12, 18, 8], [18, 27, 12], [24, 36, 16]]]
    # one input event per step, fan-out 3, steps 0..exit_step
    assert res.synaptic_ops.tolist() == [3 * (exit_step + 1)]
    assert res.neuron_updates.tolist() == [3 * (exit_step + 1)]
    assert res.input_spikes.tolist() == [exit_step + 1]
    assert res.layer_events[0, :, 0].tolist() == [1 if t <= exit_step else 0 for t in range(4)]
    assert res.layer_events_all[0, :, 0].tolist() == [1, 1, 1, 1]


def test_tie_has_margin_zero():
    # 5, 5, 1 per step: top-1 equals top-2, margin 0 at every step
    never = golden.run(_membrane_net([[5, 5, 1]], 1, 0), np.ones((1, 4, 1), np.uint8))
    assert never.exit_step.tolist() == [3] and never.prediction.tolist() == [0]
    at_once = golden.run(_membrane_net([[5, 5, 1]], 0, 2), np.ones((1, 4, 1), np.uint8))
    assert at_once.exit_step.tolist() == [2] and at_once.readout.tolist() == [[15, 15, 3]]


def test_spike_count_exit_worked_by_hand():
    # Spiking readout, threshold 10, zero reset, no leak, input always on:
    #  out0 +6: membranes 6, 12->spike->0, 6, 12->0: counts 0, 1, 1, 2
    #  out1 +11: spikes every step: counts 1, 2, 3, 4; membrane 0
    #  out2 +4: 4, 8, 12->0, 4: counts 0, 0, 1, 1
    # margins 1, 1, 2, 2: M = 2 exits at step 2 with counts [1, 3, 1], membranes [6, 0, 0]
    w = np.array([[6, 11, 4]], np.int16)
    out = Layer("out", 3, [Source("in", w, 8)], 10, 0, "zero", 16, True, readout="spikes")
    net = QNet(["a", "b", "c"], 4, [InputGroup("in", 1)], [out], exit=ExitRule(2, 0)).validate()
    res = golden.run(net, np.ones((1, 4, 1), np.uint8))
    assert res.readout_steps.tolist() == [[[0, 1, 0], [1, 2, 0], [1, 3, 1], [2, 4, 1]]]
    assert res.exit_step.tolist() == [2]
    assert res.counts.tolist() == [[1, 3, 1]]
    assert res.readout.tolist() == [[6, 0, 0]]
    assert res.prediction.tolist() == [1]
    assert res.layer_spikes.tolist() == [[5]]  # 1 + 3 + 1 spikes in steps 0..2


def test_exit_rule_round_trips_and_older_files_load(tmp_path):
    net = _membrane_net([[6, 9, 4]], 6, 1)
    back = qnet.load(qnet.save(net, tmp_path / "m.qnet"))
    assert back.exit == ExitRule(6, 1) and back.version == qnet.VERSION == 3
    plain = qnet.load(qnet.save(_membrane_net([[6, 9, 4]]), tmp_path / "p.qnet"))
    assert plain.exit is None
    # a version 2 file (no exit object) loads with no rule
    v2 = _edit_header(tmp_path / "p.qnet", tmp_path / "v2.qnet", lambda h: h.update(version=2))
    assert qnet.load(v2).exit is None


def _edit_header(src, dst, edit):
    with np.load(src, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    h = json.loads(arrays["header"].tobytes().decode())
    edit(h)
    arrays["header"] = np.frombuffer(json.dumps(h).encode(), np.uint8)
    with open(dst, "wb") as f:
        np.savez(f, **arrays)
    return dst


@pytest.mark.parametrize(
    "exit_obj, message",
    [
        ({"margin": -1, "min_step": 0}, r"field 'exit.margin' must be an integer >= 0, not -1"),
        ({"margin": 2.5, "min_step": 0}, r"field 'exit.margin' must be an integer >= 0, not 2.5"),
        ({"margin": 2, "min_step": 4}, r"field 'exit.min_step' must be an integer in 0..3 \(T-1\), not 4"),
        ({"margin": 2, "min_step": -1}, r"field 'exit.min_step' must be an integer in 0..3 \(T-1\), not -1"),
        ({"margin": 2}, r"field 'exit' must be an object"),
        ([2, 0], r"field 'exit' must be an object"),
    ],
)
def test_bad_exit_fields_are_one_line_errors(tmp_path, exit_obj, message):
    good = qnet.save(_membrane_net([[6, 9, 4]]), tmp_path / "m.qnet")
    bad = _edit_header(good, tmp_path / "bad.qnet", lambda h: h.update(exit=exit_obj))
    with pytest.raises(QNetError, match=message) as e:
        qnet.load(bad)
    assert str(bad) in str(e.value) and "\n" not in str(e.value)


def test_exit_in_an_older_version_is_refused(tmp_path):
    good = qnet.save(_membrane_net([[6, 9, 4]], 2, 0), tmp_path / "m.qnet")
    bad = _edit_header(good, tmp_path / "bad.qnet", lambda h: h.update(version=2))
    with pytest.raises(QNetError, match=r"field 'exit' needs version 3, but the file says version 2"):
        qnet.load(bad)

"""hw.spec.expected: what the core reports for a golden run, against
hand-worked literals (a golden result written out by hand, not computed by
sw.golden), and on a real golden run of the hand net of tests/test_hw_core.py."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from hw.spec.capacity import sample_cycles
from hw.spec.expected import computed_steps, expected_results
from sw import golden
from sw.qnet import ExitRule, InputGroup, Layer, QNet, Source


def _net(rule=True):
    """a[3] -> h (2) -> o (2, membrane readout), T = 4: stages h 0, o 1."""
    h = Layer("h", 2, [Source("a", np.ones((3, 2), np.int8), 4)], 3, 1)
    o = Layer("o", 2, [Source("h", np.ones((2, 2), np.int8), 4)], 3, 1, spiking=False)
    return QNet(["p", "q"], 4, [InputGroup("a", 3)], [h, o], exit=ExitRule(1, 0) if rule else None).validate("hand")


def _hand_golden():
    """Two samples. h's spikes per step: [1,0] [1,1] [0,1] [1,1]; the events
    each layer consumed per step: h 2, 1, 3, 0 (input), o 1, 2, 1, 2 (h's
    spikes of the same step); the readout after each step:
    [3,1] [2,7] [4,4] [0,9]. Sample 0 exits at step 1, sample 1 runs to 3."""
    h = np.array([[1, 0], [1, 1], [0, 1], [1, 1]], bool)
    ev = np.array([[2, 1], [1, 2], [3, 1], [0, 2]], np.int64)
    q = np.array([[3, 1], [2, 7], [4, 4], [0, 9]], np.int64)
    return SimpleNamespace(
        spikes={"h": np.stack([h, h]), "o": np.zeros((2, 4, 2), bool)},
        layer_events=np.stack([ev * (np.arange(4) <= 1)[:, None], ev]),  # golden's ideal: zero past the exit
        layer_events_all=np.stack([ev, ev]),
        readout_steps=np.stack([q, q]),
        exit_step=np.array([1, 3], np.int64),
    )


def test_computed_steps_literals():
    """Stages 0, 1: exiting at step 1 (wave 2), h has computed step 2 too."""
    assert computed_steps(_net(), np.array([1, 3, 0])).tolist() == [[2, 1], [3, 3], [1, 0]]


def test_computed_steps_wave_net():
    """Stages 0, 0, 1, 2 (a, b -> c -> o), T = 5: an exit at step 1 is wave 3,
    where a, b computed step 3 and c step 2; at step 3 (wave 5), a, b are
    capped at T-1 = 4; no exit (4): all steps."""
    one = np.ones((1, 1), np.int8)
    a = Layer("a", 1, [Source("x", one, 4)], 1, 1)
    b = Layer("b", 1, [Source("x", one, 4)], 1, 1)
    c = Layer("c", 1, [Source("a", one, 4), Source("b", one, 4)], 1, 1)
    o = Layer("o", 1, [Source("c", one, 4)], 1, 1, spiking=False)
    net = QNet(["p"], 5, [InputGroup("x", 1)], [a, b, c, o], exit=ExitRule(0, 0)).validate("wave net")
    assert computed_steps(net, np.array([1, 3, 4])).tolist() == [[3, 3, 2, 1], [4, 4, 4, 3], [4, 4, 4, 4]]


def test_expected_results_hand_worked():
    """Sample 0 (exit 1): h computed steps 0..2: spikes 1 + 2 + 1 = 4, synaptic
    ops h (2 + 1 + 3) * 2 + o (1 + 2) * 2 = 18; readout [2, 7] -> class 1.
    Sample 1 (no exit): spikes 6, ops (2+1+3+0) * 2 + (1+2+1+2) * 2 = 24,
    readout [0, 9] -> 1. in_events: every input event of the sample (6 and 3)."""
    x = np.zeros((2, 4, 3), bool)
    x[0, 0, :2] = x[0, 1, 0] = x[0, 2, :] = True  # 2, 1, 3, 0 events
    x[1, 2, :] = True
    r = expected_results(_net(), _hand_golden(), x, lanes=4)
    assert r.exit_step.tolist() == [1, 3]
    assert r.readout.tolist() == [[2, 7], [0, 9]] and r.prediction.tolist() == [1, 1]
    assert r.spikes.tolist() == [4, 6] and r.synaptic_ops.tolist() == [18, 24]
    assert r.in_events.tolist() == [6, 3] and r.errors.tolist() == [0, 0]
    ev = _hand_golden().layer_events_all
    assert r.cycles.tolist() == sample_cycles(_net(), ev, 4, np.array([1, 3])).tolist()


def test_ties_predict_the_lowest_index():
    g = _hand_golden()
    g.exit_step = np.array([2, 2])  # q = [4, 4]
    r = expected_results(_net(), g, np.zeros((2, 4, 3), bool), lanes=1)
    assert r.prediction.tolist() == [0, 0] and r.readout.tolist() == [[4, 4], [4, 4]]


def test_without_the_exit_fields_only_for_a_model_without_a_rule():
    g = _hand_golden()
    g.readout_steps = g.exit_step = None
    with pytest.raises(ValueError, match="no readout_steps/exit_step"):
        expected_results(_net(), g, np.zeros((2, 4, 3), bool), lanes=1)


def test_hand_net_golden_run_with_overrun(hand_exit_model):
    """The hand net of tests/test_hw_core.py (exit at step 0 with margin 5):
    golden's own counters are the ideal (steps 0..0: ops 3*5 + 5*3 = 30), the
    core's include h's step 1 (+ 1*5 = 35); cycles 45 at P = 4 (worked there)."""
    net, spikes = hand_exit_model(margin=5)
    g = golden.run(net, spikes)
    r = expected_results(net, g, spikes, lanes=4)
    assert (r.exit_step.tolist(), r.prediction.tolist(), r.readout.tolist()) == ([0], [0], [[5, 0, 0]])
    assert (r.in_events.tolist(), r.spikes.tolist(), r.synaptic_ops.tolist(), r.cycles.tolist()) == ([5], [5], [35], [45])
    assert g.synaptic_ops.tolist() == [30]

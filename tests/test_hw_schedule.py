"""The wave schedule (hw.spec.schedule): every layer reads the step the model says.

The check is a symbolic run of the core's order, written plainly here: waves
``w = 0 .. T - 1 + max(stage)``, layers in order, layer ``l`` computing step
``w - stage[l]``; each layer has two queue buffers that hold a step *label*;
a run writes its label into buffer ``t % 2``; a source with delay ``d``
must find label ``t - d`` in buffer ``(t - d) % 2`` when its reader runs
(step -1 reads the empty buffer the sample starts with).
"""

import numpy as np
import pytest

from bench.rtl_cycles import demo_model
from hw.spec.schedule import MAX_STAGE, layer_stages, stage_problems, waves
from sw.qnet import InputGroup, Layer, QNet, Source
from sw.random_net import random_qnet


def _reads_right_steps(net, stages) -> bool:
    pos = {layer.name: i for i, layer in enumerate(net.layers)}
    T = net.timesteps
    buffers = {(i, b): -2 + b for i in range(len(net.layers)) for b in (0, 1)}  # -1 in buffer 1: "empty step -1"
    for w in range(T + max(stages)):
        for c, layer in enumerate(net.layers):
            t = w - stages[c]
            if not 0 <= t < T:
                continue
            for s in layer.sources:
                if s.name in pos and buffers[(pos[s.name], (t - s.delay) % 2)] != t - s.delay:
                    return False
            buffers[(c, t % 2)] = t
    return True


def _layer(name, n, sources, spiking=True):
    return Layer(name, n, [Source(s, np.ones((k, n), np.int8), 4, d) for s, k, d in sources], 3, 1, spiking=spiking)


def test_default_network_runs_fusion_and_readout_in_later_waves():
    net = demo_model()
    assert layer_stages(net) == [0, 0, 1, 2]
    assert waves(net) == net.timesteps + 2
    assert _reads_right_steps(net, [0, 0, 1, 2])


def test_skip_connection_two_stages_back_falls_back_to_a_safe_stage():
    """c reads a (stage 0) and b (stage 1) in the same step: stage 2 would read
    a's step after a overwrote it, so c runs in b's wave (stage 1)."""
    a = _layer("a", 2, [("x", 2, 0)])
    b = _layer("b", 2, [("a", 2, 0)])
    c = _layer("c", 2, [("a", 2, 0), ("b", 2, 0)], spiking=False)
    net = QNet(["p", "q"], 3, [InputGroup("x", 2)], [a, b, c]).validate("skip net")
    assert stage_problems(net, [0, 1, 2]) == ["layer 'c' would read 'a' (delay 0) after it is overwritten"]
    assert layer_stages(net) == [0, 1, 1]
    assert _reads_right_steps(net, [0, 1, 1]) and not _reads_right_steps(net, [0, 1, 2])


def test_input_reading_layers_stay_at_stage_zero():
    a = _layer("a", 2, [("x", 2, 0)])
    b = _layer("b", 2, [("a", 2, 0), ("x", 2, 0)], spiking=False)
    net = QNet(["p", "q"], 2, [InputGroup("x", 2)], [a, b]).validate("input net")
    assert "must run at stage 0" in stage_problems(net, [0, 1])[0]
    assert layer_stages(net) == [0, 0]


def test_feedback_to_an_earlier_layer_keeps_the_plain_order_where_needed():
    """a reads c's previous step: with c two waves late, a would read it
    before it is written; the schedule must not allow that."""
    a = _layer("a", 2, [("x", 2, 0), ("r", 2, 1)])
    b = _layer("b", 2, [("a", 2, 0)])
    r = _layer("r", 2, [("b", 2, 0)])
    o = _layer("o", 2, [("r", 2, 0)], spiking=False)
    net = QNet(["p", "q"], 3, [InputGroup("x", 2)], [a, b, r, o]).validate("feedback net")
    assert not _reads_right_steps(net, [0, 1, 2, 3])
    assert stage_problems(net, [0, 1, 2, 3])
    st = layer_stages(net)
    assert _reads_right_steps(net, st) and not stage_problems(net, st)


def test_stage_out_of_field_is_a_problem():
    net = demo_model()
    assert stage_problems(net, [0, 0, 1, MAX_STAGE + 1])[0].startswith("layer 'readout': stage 16 outside 0..15")


@pytest.mark.parametrize("seed", range(40))
def test_random_networks_read_the_right_steps(seed):
    rng = np.random.default_rng(seed)
    net = random_qnet(rng, max_hidden=4, timesteps=int(rng.integers(1, 6)))
    st = layer_stages(net)
    assert _reads_right_steps(net, st), (st, [(l.name, [(s.name, s.delay) for s in l.sources]) for l in net.layers])
    assert not stage_problems(net, st)

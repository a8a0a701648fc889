"""Capacity validation and the cycle model (the specification the RTL meets)."""

import math

import numpy as np
import pytest

from hw.spec.capacity import (
    Capacity,
    CapacityError,
    ideal_utilisation,
    sample_cycles,
    weight_words,
)
from sw import golden
from sw.random_net import random_qnet, random_spikes


def test_capacity_rejects_bad_values_with_the_value():
    with pytest.raises(CapacityError, match=r"'lanes' must be a positive integer, not 0"):
        Capacity(lanes=0)
    with pytest.raises(CapacityError, match=r"'weight_bits' must be in 2..16, not 20"):
        Capacity(weight_bits=20)
    with pytest.raises(CapacityError, match=r"unknown capacity field\(s\) \['lane'\]"):
        Capacity.from_dict({"lane": 4})


def test_model_over_capacity_lists_every_excess():
    net = random_qnet(np.random.default_rng(0), max_neurons=12, max_hidden=2)
    big = max(layer.n for layer in net.layers)
    cap = Capacity(lanes=4, max_neurons=max(1, big - 1), max_layers=2, weight_depth=1)
    problems = cap.problems(net)
    assert any("max_neurons" in p for p in problems)
    assert any("weight_depth" in p for p in problems)
    with pytest.raises(CapacityError, match="does not fit"):
        cap.require_fits(net)
    Capacity(lanes=4).require_fits(net)


def test_weight_words_counts_rows_per_chunk():
    net = random_qnet(np.random.default_rng(1))
    expected = sum(net.source_size(s.name) * math.ceil(layer.n / 3) for layer in net.layers for s in layer.sources)
    assert weight_words(net, 3) == expected


def _plain_cycles(net, events, P, stages):
    """The cycle model written plainly for one sample, from hw/rtl/core.py's
    documented timing with its numbers as literals: R_INIT is cycle 0; a
    skipped layer takes 1 cycle; a run latches (1), enters (1) and takes
    max(events, 1) cycles per chunk, after waiting until every queue it
    reads and its own layer are drained, 10 cycles after the last issue of
    the run that wrote them; the flush waits for the last drain, +1."""
    T, L = net.timesteps, len(net.layers)
    pos = {layer.name: i for i, layer in enumerate(net.layers)}
    cursor, ready = 1, {}
    for w in range(T + max(stages)):
        for c, layer in enumerate(net.layers):
            t = w - stages[c]
            if t < 0 or t >= T:
                cursor += 1
                continue
            waits = [ready.get((c, 0), 0), ready.get((c, 1), 0)]
            waits += [ready.get((pos[s.name], (t - s.delay) % 2), 0) for s in layer.sources if s.name in pos]
            start = max([cursor] + waits)
            cursor = start + 2 + math.ceil(layer.n / P) * max(int(events[t][c]), 1)
            ready[(c, t % 2)] = cursor - 1 + 10
    return max([cursor] + list(ready.values())) + 1


def test_cycle_model_equals_a_plain_reference():
    from hw.spec.schedule import layer_stages

    rng = np.random.default_rng(5)
    for _ in range(6):
        net = random_qnet(rng, max_hidden=3)
        x = random_spikes(rng, net, batch=3)
        res = golden.run(net, x)
        stages = layer_stages(net)
        for P in (1, 4):
            batch = sample_cycles(net, res.layer_events, P)
            assert batch.shape == (3,)
            for b in range(3):
                assert int(batch[b]) == _plain_cycles(net, res.layer_events[b], P, stages)
            util = ideal_utilisation(res.synaptic_ops, batch, P)
            assert ((util >= 0) & (util <= 1)).all()


def test_cycle_model_rejects_wrong_shape():
    net = random_qnet(np.random.default_rng(2))
    with pytest.raises(ValueError, match="layer_events must be"):
        sample_cycles(net, np.zeros((net.timesteps + 1, len(net.layers))), 4)


def test_input_groups_count_against_max_sources():
    """The core keeps one event list per input group, bounded by max_sources."""
    rng = np.random.default_rng(0)
    net = next(n for n in (random_qnet(rng) for _ in range(50)) if len(n.inputs) == 2)
    problems = Capacity(max_sources=1).problems(net)
    assert "2 input groups > max_sources 1 (the core keeps one event list per group)" in problems
    assert not any("input groups" in p for p in Capacity(max_sources=2).problems(net))


# -- hand-worked samples: literal numbers, not the module's constants ----------


def _hand_net():
    """inputs a[4] -> hidden h (5 neurons) -> readout o (3 neurons), T = 2."""
    from sw.qnet import InputGroup, Layer, QNet, Source

    h = Layer("h", 5, [Source("a", np.ones((4, 5), np.int8), 4)], 3, 1)
    o = Layer("o", 3, [Source("h", np.ones((5, 3), np.int8), 4)], 3, 1, spiking=False)
    return QNet(["x", "y", "z"], 2, [InputGroup("a", 4)], [h, o])


# Worked by hand from hw/rtl/core.py's documented timing (not the module's constants):
# h reads the input, o reads h in the same step, so hw.spec.schedule puts o one wave
# later (stages h 0, o 1; T = 2 -> 3 waves). Cycle 0 is R_INIT; a run is latch +
# enter + max(events, 1) per chunk; a set-up that reads a queue, or re-runs its
# layer, waits until 10 cycles after the last issue of the run that wrote it;
# a skipped layer costs 1; the flush waits for the last drain, and counts +1.
# With ch, co the chunks of h and o, and c1..c4 the cycle after each run:
#   wave 0: h(0) latches at 1: c1 = 1 + 2 + ch*max(e_h0, 1); o skips (c1 + 1)
#   wave 1: h(1) waits for h(0)'s drain, latches at c1 + 9:
#           c2 = c1 + 9 + 2 + ch*max(e_h1, 1); o(0) reads h(0) (drained): c3 = c2 + 2 + co*max(e_o0, 1)
#   wave 2: h skips; o(1) waits for o(0)'s drain (c3 + 9): c4 = c3 + 9 + 2 + co*max(e_o1, 1)
#   total = c4 + 9 (o(1)'s drain) + 1
#   events [[3, 2], [0, 1]]:
#     P = 4 (ch 2, co 1): c1 = 9,  c2 = 22, c3 = 26, c4 = 38 -> 48
#     P = 8 (ch 1, co 1): c1 = 6,  c2 = 18, c3 = 22, c4 = 34 -> 44
#     P = 1 (ch 5, co 3): c1 = 18, c2 = 34, c3 = 42, c4 = 56 -> 66
#   events [[0, 0], [0, 0]], P = 4: c1 = 5, c2 = 18, c3 = 21, c4 = 33 -> 43
HAND_CYCLES = [
    ([[3, 2], [0, 1]], 4, 48),
    ([[3, 2], [0, 1]], 8, 44),
    ([[3, 2], [0, 1]], 1, 66),
    ([[0, 0], [0, 0]], 4, 43),
]


@pytest.mark.parametrize("events,lanes,cycles", HAND_CYCLES)
def test_cycle_model_hand_worked_samples(events, lanes, cycles):
    assert int(sample_cycles(_hand_net(), np.array(events), lanes)) == cycles


def test_cycle_model_hand_worked_batch():
    ev = np.array([e for e, p, _ in HAND_CYCLES if p == 4])
    assert sample_cycles(_hand_net(), ev, 4).tolist() == [48, 43]


def test_cycle_model_hand_worked_wave_overlap():
    """a, b read the input; c reads a and b; o reads c (stages 0, 0, 1, 2,
    T = 2, 4 waves), one neuron each, P = 1, 20 events for every layer-step.
    A run is 2 + 20 = 22 cycles; worked by hand (latch cycle -> next cycle):
      wave 0: a(0) 1 -> 23 (drained at 32), b(0) 23 -> 45 (54), c, o skip -> 47
      wave 1: a(1) 47 -> 69 (78), b(1) 69 -> 91 (100), c(0) 91 -> 113 (122), o skips -> 114
      wave 2: a, b skip -> 116; c(1) waits for c(0)'s drain: 122 -> 144 (153); o(0) 144 -> 166 (175)
      wave 3: a, b, c skip -> 169; o(1) waits for o(0): 175 -> 197 (206); flush: 206 + 1 = 207
    (here the skipped layers' cycles move every later run)."""
    from sw.qnet import InputGroup, Layer, QNet, Source

    one = np.ones((1, 1), np.int8)
    a = Layer("a", 1, [Source("x", one, 4)], 1, 1)
    b = Layer("b", 1, [Source("x", one, 4)], 1, 1)
    c = Layer("c", 1, [Source("a", one, 4), Source("b", one, 4)], 1, 1)
    o = Layer("o", 1, [Source("c", one, 4)], 1, 1, spiking=False)
    net = QNet(["p"], 2, [InputGroup("x", 1)], [a, b, c, o]).validate("wave net")
    assert int(sample_cycles(net, np.full((2, 4), 20), 1)) == 207


# -- early exit: hand-worked from hw/rtl/core.py's R_EXIT / R_DRAIN and the exit monitor --


def _hand_net_exit(rule=True):
    """_hand_net with T = 3 and an exit rule (min_step 0): stages h 0, o 1, 4 waves."""
    import dataclasses

    from sw.qnet import ExitRule

    return dataclasses.replace(_hand_net(), timesteps=3, exit=ExitRule(margin=1, min_step=0) if rule else None)


# events [[3, 2], [0, 1], [1, 1]] (layer h, o per step). The wait after the
# readout's run of a step t in min_step..T-2: its last write-back is 9 cycles
# after its last issue, the monitor registers it (1), decides ceil(log2 P) + 2
# cycles after that, and R_EXIT leaves in that cycle: 9 + 1 + 2 + 2 = 14
# cycles at P = 4, 9 + 1 + 0 + 2 = 12 at P = 1. An exit in wave w flushes (its
# last cycle counted), then discards the input steps w + 1 .. T-1, one counted
# cycle each.
#   P = 4 (ch 2, co 1):
#     wave 0: h(0) 1 -> 9 (drained 18); o skips -> 10
#     wave 1: h(1) waits to 18 -> 22 (31); o(0) 22 -> 26 (35); o's step 0 may
#             exit: R_EXIT 26..39 -> 40
#       exit at 0: flush at 40 (nothing left in flight), discard step 2 at 41 -> 42
#     wave 2: h(2) 40 -> 44 (53); o(1) 44 -> 47 (56); R_EXIT -> 61
#       exit at 1: flush at 61, no step left to discard -> 62
#     wave 3: h skips -> 62; o(2) 62 -> 65 (74); T-1: no wait
#       no exit: flush to 74 -> 75
#   without a rule (no waits): h(2) 31 -> 35 (44), o(1) 35 -> 38 (47), h skips
#     -> 39, o(2) 47 -> 50 (59) -> 60
#   P = 1 (ch 5, co 3), exit at 0: h(0) 1 -> 18 (27); o skips -> 19; h(1) 27 ->
#     34 (43); o(0) 34 -> 42 (51); R_EXIT 42..53 -> 54; flush 54, discard 55 -> 56
#   P = 32 (ch 1, co 1; the monitor's tree compares 16 lanes, EXIT_LANES, so
#     R_EXIT is 9 + 1 + 4 + 2 = 16 cycles, not 17), exit at 0: h(0) 1 -> 6
#     (15); o skips -> 7; h(1) waits to 15 -> 18 (27); o(0) 18 -> 22 (31);
#     R_EXIT 22..37 -> 38; flush 38, discard 39 -> 40
EXIT_EVENTS = [[3, 2], [0, 1], [1, 1]]


@pytest.mark.parametrize("exit_step,lanes,cycles", [(0, 4, 42), (1, 4, 62), (2, 4, 75), (0, 1, 56), (0, 32, 40)])
def test_cycle_model_hand_worked_early_exit(exit_step, lanes, cycles):
    assert int(sample_cycles(_hand_net_exit(), np.array(EXIT_EVENTS), lanes, exit_step)) == cycles


def test_cycle_model_hand_worked_exit_batch_and_no_rule():
    ev = np.array([EXIT_EVENTS] * 3)
    assert sample_cycles(_hand_net_exit(), ev, 4, np.array([2, 0, 1])).tolist() == [75, 42, 62]
    assert int(sample_cycles(_hand_net_exit(rule=False), np.array(EXIT_EVENTS), 4)) == 60


def test_wide_core_takes_exit_rules_on_readouts_the_monitor_compares():
    """P = 32 > EXIT_LANES = 16: a readout of 20 with an exit rule is refused,
    naming the readout and the limit; without the rule, or on a core of P = 8
    (its chunks merge in turn), the same readout fits."""
    import dataclasses

    from sw.qnet import ExitRule, InputGroup, Layer, QNet, Source

    h = Layer("h", 5, [Source("a", np.ones((4, 5), np.int8), 4)], 3, 1)
    wide = Layer("o", 20, [Source("h", np.ones((5, 20), np.int8), 4)], 3, 1, spiking=False)
    net = QNet([f"c{i}" for i in range(20)], 3, [InputGroup("a", 4)], [h, wide])
    ruled = dataclasses.replace(net, exit=ExitRule(margin=3, min_step=0))
    (p,) = [p for p in Capacity(lanes=32).problems(ruled) if "early-exit" in p]
    assert "20 neurons > the 16 lanes" in p and repr(wide.name) in p
    assert not [p for p in Capacity(lanes=32).problems(net) if "early-exit" in p]
    assert not [p for p in Capacity(lanes=8).problems(ruled) if "early-exit" in p]


def test_cycle_model_exit_needs_the_exit_step():
    with pytest.raises(ValueError, match="pass exit_step"):
        sample_cycles(_hand_net_exit(), np.array(EXIT_EVENTS), 4)
    with pytest.raises(ValueError, match="without an early-exit rule"):
        sample_cycles(_hand_net_exit(rule=False), np.array(EXIT_EVENTS), 4, 0)
    with pytest.raises(ValueError, match="exit_step must be in 0..2"):
        sample_cycles(_hand_net_exit(), np.array(EXIT_EVENTS), 4, 3)

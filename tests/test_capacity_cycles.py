"""Capacity validation and the cycle model (the specification the RTL meets)."""

import math

import numpy as np
import pytest

from hw.capacity import (
    LAYER_OVERHEAD,
    PIPELINE_DEPTH,
    SAMPLE_OVERHEAD,
    STEP_OVERHEAD,
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


def test_cycle_model_formula_by_hand():
    rng = np.random.default_rng(5)
    net = random_qnet(rng, max_hidden=2)
    x = random_spikes(rng, net, batch=3)
    res = golden.run(net, x)
    P = 4
    for b in range(3):
        total = SAMPLE_OVERHEAD + net.timesteps * STEP_OVERHEAD
        for t in range(net.timesteps):
            for li, layer in enumerate(net.layers):
                total += math.ceil(layer.n / P) * (int(res.layer_events[b, t, li]) + PIPELINE_DEPTH) + LAYER_OVERHEAD
        assert sample_cycles(net, res.layer_events[b], P) == total
    batch = sample_cycles(net, res.layer_events, P)
    assert batch.shape == (3,)
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


# Worked by hand from DESIGN.md's form, with D = 1, O_layer = 9, O_step = 0,
# O_sample = 1 (hw/core.py's documented pipeline: 4-cycle issue-to-accumulate, membrane
# read, 4 lane stages, queue/latch cycle (R_LEND: 8) + R_SETUP per layer-step):
#   events [[3, 2], [0, 1]] (step 0: 3 input spikes into h, 2 h spikes into o)
#   P = 4: h 2 chunks, o 1: 2*(3+1)+9 + 1*(2+1)+9 + 2*(0+1)+9 + 1*(1+1)+9 + 1 = 17+12+11+11+1 = 52
#   P = 8: 1*(3+1)+9 + (2+1)+9 + (0+1)+9 + (1+1)+9 + 1 = 13+12+10+11+1 = 47
#   P = 1: 5*(3+1)+9 + 3*(2+1)+9 + 5*(0+1)+9 + 3*(1+1)+9 + 1 = 29+18+14+15+1 = 77
#   events [[0, 0], [0, 0]], P = 4: 2*1+9 + 1*1+9 + 2*1+9 + 1*1+9 + 1 = 11+10+11+10+1 = 43
HAND_CYCLES = [
    ([[3, 2], [0, 1]], 4, 52),
    ([[3, 2], [0, 1]], 8, 47),
    ([[3, 2], [0, 1]], 1, 77),
    ([[0, 0], [0, 0]], 4, 43),
]


@pytest.mark.parametrize("events,lanes,cycles", HAND_CYCLES)
def test_cycle_model_hand_worked_samples(events, lanes, cycles):
    assert int(sample_cycles(_hand_net(), np.array(events), lanes)) == cycles


def test_cycle_model_hand_worked_batch():
    ev = np.array([e for e, p, _ in HAND_CYCLES if p == 4])
    assert sample_cycles(_hand_net(), ev, 4).tolist() == [52, 43]

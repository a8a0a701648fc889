"""The vectorised golden model against the plain scalar reference.

Property-based: hypothesis draws random networks (sw.random_net covers both
resets, every exact leak shift, general per-neuron decays, both readouts,
recurrence, skip connections, several widths) and random inputs; every
layer's spike train, the final membrane and the prediction must be
identical, sample by sample. Literal, hand-worked trajectories pin the
decay's floor on positive and negative products.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sw import golden
from sw.qnet import InputGroup, Layer, QNet, Source
from sw.random_net import random_qnet, random_spikes
from tests.reference import reference_run


def assert_matches_reference(net, x):
    res = golden.run(net, x)
    for b in range(x.shape[0]):
        trains, readout, pred = reference_run(net, x[b])
        for layer in net.layers:
            np.testing.assert_array_equal(res.spikes[layer.name][b], np.array(trains[layer.name], bool))
        assert res.readout[b].tolist() == readout
        assert int(res.prediction[b]) == pred
    return res


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**63 - 1))
def test_random_networks_match_scalar_reference(seed):
    rng = np.random.default_rng(seed)
    net = random_qnet(rng)
    assert_matches_reference(net, random_spikes(rng, net, batch=2))


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**63 - 1))
def test_general_decays_and_spike_readout_match_scalar_reference(seed):
    rng = np.random.default_rng(seed)
    net = random_qnet(rng, general_decay=True, readout="random")
    res = assert_matches_reference(net, random_spikes(rng, net, batch=2))
    if net.layers[-1].readout == "spikes":
        np.testing.assert_array_equal(res.counts, res.spikes[net.layers[-1].name].sum(axis=1))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**63 - 1))
def test_shift_models_keep_their_version1_integers(seed):
    """d = 4096 >> k gives exactly the old v - (v >> k): spikes and membranes of every shift model."""
    rng = np.random.default_rng(seed)
    net = random_qnet(rng)
    x = random_spikes(rng, net, batch=2)
    res = golden.run(net, x)
    for b in range(x.shape[0]):
        trains, readout, pred = reference_run(net, x[b], shift_form=True)
        for layer in net.layers:
            np.testing.assert_array_equal(res.spikes[layer.name][b], np.array(trains[layer.name], bool))
        assert res.readout[b].tolist() == readout and int(res.prediction[b]) == pred


def _decay_layer(weight, decay, threshold=30000, T=4, reset="subtract", v_bits=16, bias=None):
    w = np.array(weight, np.int16)
    hidden = Layer("h", w.shape[1], [Source("in", w, 16)], threshold, reset=reset, v_bits=v_bits, bias=bias,
                   decay=np.array(decay, np.int32))
    out = Layer("out", 2, [Source("h", np.ones((w.shape[1], 2), np.int16), 8)], 1, 0, "zero", 16, False)
    return QNet(["a", "b"], T, [InputGroup("in", w.shape[0])], [hidden, out]).validate()


def test_decay_worked_by_hand_positive_and_negative():
    # d = 410 (beta ~ 0.9), input +100 / -100 every step, no spikes (threshold 30000).
    #  +: 100; 100*410=41000, floor(/4096)=10 -> 190; 190*410=77900 -> 19 -> 271; 271*410=111110 -> 27 -> 344
    #  -: -100; -41000/4096=-10.01, floor -11 -> -100+11-100=-189; -77490 -> -19 -> -270; -110700 -> -28 -> -342
    net = _decay_layer([[100, -100]], [410, 410])
    m = golden.run(net, np.ones((1, 4, 1), np.uint8), record_membranes=True).membranes["h"][0]
    assert m[:, 0].tolist() == [100, 190, 271, 344]
    assert m[:, 1].tolist() == [-100, -189, -270, -342]


def test_decay_floor_on_small_products():
    # One input at t0, then only the decay. d = 410:
    #  v = 5: 5*410 = 2050 < 4096, floor 0: a small positive membrane never decays (5, 5, 5, ...)
    #  v = -5: -2050/4096 = -0.5, floor -1: -5 -> -4 -> -3 -> -2 -> -1 -> 0 (Lava's truncation agrees here)
    # d = 4096 forgets everything (7 -> 0); d = 1 takes one unit off 5000 (5000*1 >> 12 = 1).
    net = _decay_layer([[5, -5, 7, 5000]], [410, 410, 4096, 1], T=6)
    x = np.zeros((1, 6, 1), np.uint8)
    x[0, 0, 0] = 1
    m = golden.run(net, x, record_membranes=True).membranes["h"][0]
    assert m[:, 0].tolist() == [5, 5, 5, 5, 5, 5]
    assert m[:, 1].tolist() == [-5, -4, -3, -2, -1, 0]
    assert m[:, 2].tolist() == [7, 0, 0, 0, 0, 0]
    assert m[:, 3].tolist() == [5000, 4999, 4998, 4997, 4996, 4995]


def test_decay_of_large_membranes_is_exact():
    # 32-bit membranes, d = 4095, bias only (no input spikes), so v * d reaches ~2**42:
    #  +: v0 = 2**30; v0*4095/4096 = 2**18*4095 = 1073479680 exactly -> v1 = 2**30 - 1073479680 + 2**30 = 1074003968
    #     v1 = 2**30 + 2**18: v1*4095/4096 = 1073479680 + 262080 = 1073741760 -> v2 = 1074003968 - 1073741760 + 2**30 = 1074004032
    #  -: v0 = -2**30 - 1; v0*4095 = -4396972773375, /4096 = -1073479680.9998, floor -1073479681
    #     -> v1 = -1073741825 + 1073479681 - 1073741825 = -1074003969
    bias = np.array([2**30, -(2**30) - 1], np.int32)
    out = Layer("out", 2, [Source("in", np.zeros((1, 2), np.int16), 2)], 1, reset="zero", v_bits=32, spiking=False,
                bias=bias, decay=np.array([4095, 4095], np.int32))
    net = QNet(["a", "b"], 3, [InputGroup("in", 1)], [out]).validate()
    m = golden.run(net, np.zeros((1, 3, 1), np.uint8), record_membranes=True).membranes["out"][0]
    assert m[:, 0].tolist() == [2**30, 1074003968, 1074004032]
    assert m[:2, 1].tolist() == [-(2**30) - 1, -1074003969]


def test_per_neuron_decay_in_one_layer():
    # Same input 64 each step; d = 0 (IF), 2048 (half), 4096 (none kept):
    #  IF: 64, 128, 192; half: 64, 64-32+64=96, 96-48+64=112; full: 64, 64, 64
    net = _decay_layer([[64, 64, 64]], [0, 2048, 4096], T=3)
    m = golden.run(net, np.ones((1, 3, 1), np.uint8), record_membranes=True).membranes["h"][0]
    assert m.T.tolist() == [[64, 128, 192], [64, 96, 112], [64, 64, 64]]


def test_spike_count_readout_worked_by_hand():
    # Last layer spikes (readout='spikes'), threshold 10, zero reset, no leak, T = 4, input always on.
    #  out0: +6 per step -> 6, 12 (spike, 0), 6, 12 (spike, 0): 2 spikes, final membrane 0
    #  out1: +9 per step -> 9, 18 (spike), 9, 18 (spike): 2 spikes, final 0 -> tie with out0: lowest index
    #  out2: +4 per step -> 4, 8, 12 (spike), 4: 1 spike, final membrane 4 (largest membrane)
    w = np.array([[6, 9, 4]], np.int16)
    out = Layer("out", 3, [Source("in", w, 8)], 10, 0, "zero", 16, True, readout="spikes")
    net = QNet(["a", "b", "c"], 4, [InputGroup("in", 1)], [out]).validate()
    res = golden.run(net, np.ones((1, 4, 1), np.uint8))
    assert res.counts.tolist() == [[2, 2, 1]]
    assert res.readout.tolist() == [[0, 0, 4]]
    assert res.prediction.tolist() == [0]  # tie 2 = 2: lowest index; the membrane would say 2
    assert reference_run(net, np.ones((4, 1), np.uint8))[2] == 0
    w2 = np.array([[6, 11, 4]], np.int16)  # out1: 11 each step spikes 4 times
    net2 = QNet(["a", "b", "c"], 4, [InputGroup("in", 1)],
                [Layer("out", 3, [Source("in", w2, 8)], 10, 0, "zero", 16, True, readout="spikes")]).validate()
    assert golden.run(net2, np.ones((1, 4, 1), np.uint8)).prediction.tolist() == [1]


def _one_layer(weight, threshold=10, leak_shift=0, reset="subtract", v_bits=8, bias=None, spiking=True, T=4):
    w = np.array(weight, np.int16)
    hidden = Layer("h", w.shape[1], [Source("in", w, 8)], threshold, leak_shift, reset, v_bits, spiking, bias)
    out = Layer("out", 2, [Source("h", np.ones((w.shape[1], 2), np.int16), 8)], 1, 0, "zero", 16, False)
    return QNet(["a", "b"], T, [InputGroup("in", w.shape[0])], [hidden, out]).validate()


def test_saturates_at_top_and_bottom():
    net = _one_layer([[127, -128]], threshold=127, v_bits=8, T=3)
    res = golden.run(net, np.ones((1, 3, 1), np.uint8), record_membranes=True)
    m = res.membranes["h"][0]
    # Neuron 0: 127 each step hits the threshold exactly; subtract-reset brings it back to 0.
    assert m[:, 0].tolist() == [0, 0, 0]
    assert res.spikes["h"][0, :, 0].tolist() == [True, True, True]
    # Neuron 1: -128 per step saturates at -128 and stays there.
    assert m[:, 1].tolist() == [-128, -128, -128]


def test_leak_shift_zero_is_integrate_and_fire_and_12_leaks_little():
    for k, expected in [(0, [3, 6, 9, 12]), (12, [3, 6, 9, 12])]:
        net = _one_layer([[3]], threshold=100, leak_shift=k, v_bits=16)
        res = golden.run(net, np.ones((1, 4, 1), np.uint8), record_membranes=True)
        assert res.membranes["h"][0, :, 0].tolist() == expected
    # k = 1 halves the membrane each step (floor): 3, 3-1+3=5, 5-2+3=6, 6-3+3=6.
    net = _one_layer([[3]], threshold=100, leak_shift=1, v_bits=16)
    res = golden.run(net, np.ones((1, 4, 1), np.uint8), record_membranes=True)
    assert res.membranes["h"][0, :, 0].tolist() == [3, 5, 6, 6]


def test_negative_leak_floors_toward_minus_infinity():
    # v = -3, k = 1: -3 >> 1 = -2, so v' = -3 + 2 + 0 = -1 (not -2 as truncation would give).
    net = _one_layer([[-3]], threshold=100, leak_shift=1, v_bits=16, T=2)
    x = np.array([[[1], [0]]], np.uint8)
    res = golden.run(net, x, record_membranes=True)
    assert res.membranes["h"][0, :, 0].tolist() == [-3, -1]


def test_reset_modes():
    for reset, expected in [("zero", [0, 0]), ("subtract", [2, 4])]:
        net = _one_layer([[12]], threshold=10, reset=reset, v_bits=16, T=2)
        res = golden.run(net, np.ones((1, 2, 1), np.uint8), record_membranes=True)
        assert res.membranes["h"][0, :, 0].tolist() == expected
        assert res.spikes["h"][0, :, 0].tolist() == [True, True]


def test_recurrence_reads_previous_step():
    w_in = np.array([[20]], np.int16)
    w_rec = np.array([[5]], np.int16)
    h = Layer("h", 1, [Source("in", w_in, 8), Source("h", w_rec, 8, delay=1)], 10, 0, "zero", 16, True)
    out = Layer("out", 2, [Source("h", np.array([[1, 0]], np.int16), 8)], 1, 0, "zero", 16, False)
    net = QNet(["a", "b"], 3, [InputGroup("in", 1)], [h, out]).validate()
    x = np.array([[[1], [0], [0]]], np.uint8)
    res = golden.run(net, x, record_membranes=True)
    # t0: 20 -> spike, reset 0. t1: recurrent 5 -> 5. t2: 5 + nothing -> 5.
    assert res.membranes["h"][0, :, 0].tolist() == [0, 5, 5]
    assert res.layer_events[0, :, 0].tolist() == [1, 1, 0]
    assert_matches_reference(net, x)


def test_empty_timesteps_only_leak_and_bias():
    bias = np.array([4], np.int32)
    net = _one_layer([[1]], threshold=100, leak_shift=2, v_bits=16, bias=bias, T=3)
    res = golden.run(net, np.zeros((1, 3, 1), np.uint8), record_membranes=True)
    # 4; 4-1+4 = 7; 7-1+4 = 10.
    assert res.membranes["h"][0, :, 0].tolist() == [4, 7, 10]
    assert res.synaptic_ops[0] == 0 + 2 * res.layer_spikes[0, 0]


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_order_of_inputs_does_not_matter(seed):
    """Permuting the input index space (and the weight rows with it) changes nothing."""
    rng = np.random.default_rng(seed)
    net = random_qnet(rng, max_hidden=1)
    x = random_spikes(rng, net, batch=2)
    perm = rng.permutation(net.n_inputs)
    offsets = net.input_offsets()
    # Permute within one merged group: rebuild as a single-group network.
    import copy

    merged = copy.deepcopy(net)
    merged.inputs = [InputGroup("all", net.n_inputs)]
    for layer in merged.layers:
        new_sources, rows = [], []
        for s in layer.sources:
            if s.name in offsets:
                rows.append((offsets[s.name], s))
            else:
                new_sources.append(s)
        if rows:
            w = np.zeros((net.n_inputs, layer.n), np.int16)
            for off, s in rows:
                w[off : off + s.weight.shape[0]] = s.weight
            bits = max(s.weight_bits for _, s in rows)
            new_sources.insert(0, Source("all", w, bits))
        layer.sources = new_sources
    merged.validate()
    a = golden.run(merged, x)
    w_perm = copy.deepcopy(merged)
    for layer in w_perm.layers:
        for s in layer.sources:
            if s.name == "all":
                s.weight = s.weight[perm]
    b = golden.run(w_perm, x[:, :, perm])
    c = golden.run(net, x)
    np.testing.assert_array_equal(a.readout, b.readout)
    np.testing.assert_array_equal(a.readout, c.readout)
    for layer in net.layers:
        np.testing.assert_array_equal(a.spikes[layer.name], b.spikes[layer.name])


def test_counts_are_consistent():
    rng = np.random.default_rng(7)
    net = random_qnet(rng, max_hidden=2)
    x = random_spikes(rng, net, batch=4, rate=0.3)
    res = golden.run(net, x)
    assert res.input_spikes.tolist() == x.sum(axis=(1, 2)).tolist()
    sops = (res.layer_events * np.array([layer.n for layer in net.layers])).sum(axis=(1, 2))
    assert res.synaptic_ops.tolist() == sops.tolist()
    assert (res.neuron_updates == net.timesteps * sum(layer.n for layer in net.layers)).all()
    assert res.layer_spikes[:, -1].sum() == 0  # the readout never spikes


def test_float_fast_path_is_exact_for_wide_weights():
    """Weights wide enough to push partial sums past 2**24 take the float64 path."""
    n_in = 600
    w = np.full((n_in, 1), 2**15 - 1, np.int32)
    h = Layer("h", 1, [Source("in", w.astype(np.int16), 16)], 2**31 - 1, 0, "subtract", 32, True)
    out = Layer("out", 2, [Source("h", np.ones((1, 2), np.int16), 8)], 1, 0, "zero", 16, False)
    net = QNet(["a", "b"], 1, [InputGroup("in", n_in)], [h, out]).validate()
    res = golden.run(net, np.ones((1, 1, n_in), np.uint8), record_membranes=True)
    assert res.membranes["h"][0, 0, 0] == n_in * (2**15 - 1)


def test_bad_spike_arrays_are_rejected():
    net = _one_layer([[1]])
    with pytest.raises(ValueError, match="expected"):
        golden.run(net, np.zeros((1, 3, 1)))
    with pytest.raises(ValueError, match="0 or 1"):
        golden.run(net, np.full((1, 4, 1), 2, np.int8))
    with pytest.raises(ValueError, match="integers or bools"):
        golden.run(net, np.zeros((1, 4, 1), np.float32))

"""The whole core in the Amaranth simulator against sw.golden, sample by sample.

Every sample's prediction, readout membranes, counters and compute cycles must
equal the golden model and hw.spec.capacity.sample_cycles exactly. The harness
drives the core through its AXI4-Lite and AXI4-Stream ports with random idle
cycles on the input stream and random backpressure on the output stream.
Several models share one simulation (which also loads a new model between
samples), because elaborating the core dominates the run time.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hw.spec import regmap
from hw.flow.amaranth_sim import Job, run_amaranth, run_amaranth_jobs
from hw.spec.capacity import Capacity, sample_cycles
from hw.spec.expected import expected_results
from sw import golden
from sw.random_net import random_qnet, random_spikes

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=False)


def _models(seed: int, cap: Capacity, n: int, **kw):
    """``n`` random (net, spikes) pairs that fit ``cap``."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        net = random_qnet(
            rng,
            max_inputs=min(cap.max_inputs, 20),
            max_neurons=min(cap.max_neurons, 10),
            max_hidden=min(cap.max_layers - 1, 2),
            max_sources=cap.max_sources,
            timesteps=int(rng.integers(1, 5)),
            **kw,
        )
        if cap.problems(net) or len(net.inputs) > cap.max_sources:
            continue
        out.append((net, random_spikes(rng, net, int(rng.integers(1, 3)))))
    return out


def check_exact(net, spikes, res, lanes):
    """Everything the core reports equals the golden model, exactly (for a
    model with an early-exit rule, what hw.spec.expected derives from it)."""
    g = golden.run(net, spikes)
    r = res.results
    assert res.model_valid, regmap.decode_errors(res.load_errors)
    assert r.errors.tolist() == [0] * len(spikes)
    exp = expected_results(net, g, spikes, lanes)
    for name in ("prediction", "readout", "cycles", "synaptic_ops", "spikes", "in_events", "exit_step"):
        assert getattr(r, name).tolist() == getattr(exp, name).tolist(), name
    if net.exit is None:  # without a rule: golden's own fields, as before
        assert r.readout.tolist() == g.readout.tolist()
        assert r.prediction.tolist() == g.prediction.tolist()
        assert r.cycles.tolist() == sample_cycles(net, g.layer_events, lanes).tolist()
        assert r.synaptic_ops.tolist() == g.synaptic_ops.tolist()
        assert r.spikes.tolist() == g.layer_spikes.sum(axis=1).tolist()
        assert r.in_events.tolist() == g.input_spikes.tolist()
        assert r.exit_step.tolist() == [net.timesteps - 1] * len(spikes)
    # registers and the READOUT window hold the last sample
    regs = res.registers
    assert regs["CYCLES"] == r.cycles[-1] and regs["SOPS"] == r.synaptic_ops[-1]
    assert regs["SPIKES"] == r.spikes[-1] and regs["IN_EVENTS"] == r.in_events[-1]
    assert regs["PREDICTION"] == r.prediction[-1] and regs["ERROR"] == 0
    assert (regs["MODEL_INPUTS"], regs["MODEL_TIMESTEPS"]) == (net.n_inputs, net.timesteps)
    assert (regs["MODEL_LAYERS"], regs["MODEL_OUTPUTS"]) == (len(net.layers), net.readout.n)
    assert res.readout_window.tolist() == exp.readout[-1].tolist()


def _run_and_check(cap, pairs, seed):
    results = run_amaranth_jobs(cap, [Job(net, sp) for net, sp in pairs], seed=seed)
    for (net, sp), res in zip(pairs, results):
        check_exact(net, sp, res, cap.lanes)


SMALL = dict(max_layers=3, max_neurons=10, max_sources=3, max_inputs=20, weight_depth=256, max_timesteps=4)


@settings(max_examples=3, **SETTINGS)
@given(seed=st.integers(0, 2**31 - 1))
def test_core_matches_golden_p4(seed):
    _run_and_check(Capacity(lanes=4, **SMALL), _models(seed, Capacity(lanes=4, **SMALL), 3), seed)


@settings(max_examples=2, **SETTINGS)
@given(seed=st.integers(0, 2**31 - 1))
def test_core_matches_golden_p1(seed):
    cap = Capacity(lanes=1, **{**SMALL, "weight_depth": 1024})
    _run_and_check(cap, _models(seed, cap, 2), seed)


@pytest.mark.slow
@settings(max_examples=2, **SETTINGS)
@given(seed=st.integers(0, 2**31 - 1))
def test_core_matches_golden_p32(seed):
    cap = Capacity(lanes=32, **SMALL)
    _run_and_check(cap, _models(seed, cap, 2), seed)


@settings(max_examples=2, **SETTINGS)
@given(seed=st.integers(0, 2**31 - 1), narrow=st.booleans())
def test_core_widths(seed, narrow):
    """Narrow datapath (4-bit weights, 8-bit membranes: saturation is common)
    and a wide one (16-bit weights, 32-bit membranes) holding narrower models."""
    if narrow:
        cap = Capacity(lanes=3, weight_bits=4, v_bits=8, **SMALL)
        pairs = _models(seed, cap, 2, weight_bits=4, v_bits=8)
    else:
        cap = Capacity(lanes=5, weight_bits=16, v_bits=32, **SMALL)
        pairs = _models(seed, cap, 2)
    _run_and_check(cap, pairs, seed)


def test_core_both_resets_recurrence_and_batch():
    """A fixed case: recurrent hidden layer, subtract and zero resets, four samples in one batch."""
    cap = Capacity(lanes=4, **SMALL)
    rng = np.random.default_rng(7)
    pairs = []
    for reset in ("zero", "subtract"):
        while True:
            net = random_qnet(rng, max_inputs=16, max_neurons=9, max_hidden=2, timesteps=4)
            net.layers[0].reset = reset
            if any(s.delay for layer in net.layers for s in layer.sources) and not cap.problems(net) and len(net.inputs) <= 3:
                break
        pairs.append((net, random_spikes(rng, net, 4, rate=0.4)))
    _run_and_check(cap, pairs, seed=11)


def test_run_amaranth_entry_point_without_backpressure():
    net, sp = _models(3, Capacity(lanes=8, **SMALL), 1)[0]
    res = run_amaranth(net, sp, seed=None)
    g = golden.run(net, sp)
    assert res.prediction.tolist() == g.prediction.tolist() and res.readout.tolist() == g.readout.tolist()


def test_core_cycles_equal_hand_worked_literals():
    """The RTL's cycle counter against numbers worked by hand (not the model's
    constants): inputs a[4] -> h (5 neurons, weights 1, threshold 3) -> o (3).
    Step 0: inputs 0, 1, 2 spike, so every h neuron gets I = 3 and spikes
    (5 events into o); step 1: no input, nothing spikes. Events [[3, 5], [0, 0]].
    o runs one wave after h (hw.spec.schedule); worked as in
    tests/test_capacity_cycles.py (c1 = 1 + 2 + ch*3, c2 = c1 + 9 + 2 + ch,
    c3 = c2 + 2 + 5, c4 = c3 + 9 + 2 + 1, total c4 + 10):
      P = 4 (ch 2): c1 = 9, c2 = 22, c3 = 29, c4 = 41 -> 51
      P = 8 (ch 1): c1 = 6, c2 = 18, c3 = 25, c4 = 37 -> 47"""
    from sw.qnet import InputGroup, Layer, QNet, Source

    h = Layer("h", 5, [Source("a", np.ones((4, 5), np.int8), 4)], 3, 1, "subtract")
    o = Layer("o", 3, [Source("h", np.ones((5, 3), np.int8), 4)], 3, 1, spiking=False)
    net = QNet(["x", "y", "z"], 2, [InputGroup("a", 4)], [h, o]).validate("hand net")
    spikes = np.array([[[1, 1, 1, 0], [0, 0, 0, 0]]], bool)
    assert golden.run(net, spikes).layer_events[0].tolist() == [[3, 5], [0, 0]]
    for lanes, cycles in ((4, 51), (8, 47)):
        (res,) = run_amaranth_jobs(Capacity(lanes=lanes, **SMALL), [Job(net, spikes)], seed=1)
        assert res.results.cycles.tolist() == [cycles], lanes


def _reference_with_decay(net, spikes, return_counts=False):
    """A plain reference of the v2 contract (per-neuron ``decay`` arrays where a
    layer has one, else 4096 >> leak_shift), written from docs/design.md's equations
    for this test: readout membranes [B, n_out] and spike totals [B]."""
    offs = net.input_offsets()
    B, T = spikes.shape[:2]
    readout, totals, counts = [], [], []
    for b in range(B):
        count = [0] * net.layers[-1].n
        v = {layer.name: [0] * layer.n for layer in net.layers}
        prev = {layer.name: [0] * layer.n for layer in net.layers}
        total = 0
        for t in range(T):
            now = {}
            for layer in net.layers:
                if getattr(layer, "decay", None) is not None:
                    dec = [(int(x), 0) for x in layer.decay]
                else:  # v1 shift leak: v >> k, i.e. (v * 1) >> k for every k
                    dec = [(1, layer.leak_shift)] * layer.n if layer.leak_shift else [(0, 0)] * layer.n
                cur = [int(layer.bias[j]) if layer.bias is not None else 0 for j in range(layer.n)]
                for s in layer.sources:
                    if s.name in offs:
                        src = [int(x) for x in spikes[b, t, offs[s.name] : offs[s.name] + s.weight.shape[0]]]
                    else:
                        src = prev[s.name] if s.delay else now[s.name]
                    for i, on in enumerate(src):
                        if on:
                            for j in range(layer.n):
                                cur[j] += int(s.weight[i, j])
                lo, hi = -(1 << (layer.v_bits - 1)), (1 << (layer.v_bits - 1)) - 1
                out = []
                for j in range(layer.n):
                    vv = v[layer.name][j]
                    d, k = dec[j]
                    leak = (vv * d) >> (12 if getattr(layer, "decay", None) is not None else k)
                    x = min(hi, max(lo, vv - leak + cur[j]))
                    sp = bool(layer.spiking) and x >= layer.threshold
                    v[layer.name][j] = ((x - layer.threshold) if layer.reset == "subtract" else 0) if sp else x
                    out.append(int(sp))
                now[layer.name] = out
                total += sum(out)
                if layer is net.layers[-1]:
                    count = [c + o for c, o in zip(count, out)]
            prev = now
        readout.append(v[net.layers[-1].name])
        totals.append(total)
        counts.append(count)
    if return_counts:
        return np.array(readout), np.array(totals), np.array(counts)
    return np.array(readout), np.array(totals)


def test_core_per_neuron_decay_matches_reference():
    """Hand-made per-neuron decays (0, 4096, 410 ~ beta 0.9, ...) on random
    models: the RTL equals the plain v2 reference; the reference equals golden
    on the v1 (shift) models it also covers."""
    cap = Capacity(lanes=4, **SMALL)
    pairs = _models(21, cap, 3)
    for net, sp in pairs:  # the reference agrees with golden where golden applies
        g = golden.run(net, sp)
        ro, tot = _reference_with_decay(net, sp)
        assert ro.tolist() == g.readout.tolist() and tot.tolist() == g.layer_spikes.sum(axis=1).tolist()
    rng = np.random.default_rng(5)
    for net, _ in pairs:
        for layer in net.layers:
            layer.decay = rng.choice([0, 1, 410, 2048, 3686, 4095, 4096], size=layer.n)
    results = run_amaranth_jobs(cap, [Job(net, sp) for net, sp in pairs], seed=5)
    for (net, sp), res in zip(pairs, results):
        ro, tot = _reference_with_decay(net, sp)
        assert res.results.readout.tolist() == ro.tolist()
        assert res.results.prediction.tolist() == ro.argmax(axis=1).tolist()
        assert res.results.spikes.tolist() == tot.tolist()


def test_core_spike_count_readout_matches_reference():
    """readout = "spikes" on a spiking last layer: the result record carries
    its spike counts over the sample and the prediction is their argmax
    (lowest index wins ties), against the plain reference."""
    cap = Capacity(lanes=4, **SMALL)
    pairs = _models(33, cap, 3)
    for net, _ in pairs:
        last = net.layers[-1]
        last.spiking = True
        last.threshold = max(1, int(last.threshold) // 4 or 1)
        last.readout = "spikes"
    results = run_amaranth_jobs(cap, [Job(net, sp) for net, sp in pairs], seed=3)
    seen_spikes = 0
    for (net, sp), res in zip(pairs, results):
        _, tot, counts = _reference_with_decay(net, sp, return_counts=True)
        seen_spikes += int(counts.sum())
        assert res.results.readout.tolist() == counts.tolist()
        assert res.results.prediction.tolist() == counts.argmax(axis=1).tolist()
        assert res.results.spikes.tolist() == tot.tolist()
    assert seen_spikes > 0  # the readout layer did spike somewhere


def _exit_models(seed: int, cap: Capacity, n: int):
    """``n`` random models with an early-exit rule (membrane and spike-count
    readouts) and their spikes, T up to 8 so that samples exit mid-way."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        net = random_qnet(rng, max_inputs=20, max_neurons=10, max_hidden=min(cap.max_layers - 1, 2), max_sources=cap.max_sources,
                          timesteps=int(rng.integers(3, 9)), early_exit=True,
                          readout=str(rng.choice(["membrane", "spikes"])))  # fmt: skip
        if cap.problems(net) or len(net.inputs) > cap.max_sources:
            continue
        out.append((net, random_spikes(rng, net, int(rng.integers(2, 4)), rate=0.3)))
    return out


@pytest.mark.parametrize("lanes", [1, 4, 5, pytest.param(32, marks=pytest.mark.slow)])
def test_core_early_exit_matches_expected(lanes):
    """Models with an exit rule: exit step, prediction, readout, counters
    (with the wave overrun) and cycles (with the R_EXIT waits and the
    discard) equal hw.spec.expected's, sample by sample; some samples exit
    before T-1 and some do not, so both paths run."""
    cap = Capacity(lanes=lanes, **{**SMALL, "max_timesteps": 8, "weight_depth": 1024})
    pairs = _exit_models({1: 101, 4: 102, 5: 108, 32: 102}[lanes], cap, 6)
    early = sum(int((golden.run(n, s).exit_step < n.timesteps - 1).sum()) for n, s in pairs)
    full = sum(int((golden.run(n, s).exit_step == n.timesteps - 1).sum()) for n, s in pairs)
    assert early >= 2 and full >= 1, (early, full)
    _run_and_check(cap, pairs, seed=lanes)


def test_core_early_exit_hand_worked_literals(hand_exit_model):
    """inputs a[4] -> h (5, threshold 3) -> o (3; only o[0] gets h's spikes),
    T = 3, rule margin 5, min_step 0. Step 0: 3 input events, every h neuron
    reaches 3 and spikes, o = [5, 0, 0]: margin 5, the sample exits at step 0.
    In that wave (1) h already ran step 1 (1 event: 5 synaptic ops, no spike),
    the overrun. Counters: in_events 3 + 1 + 1 = 5 (every word is taken, step
    2's discarded); spikes 5; synaptic ops 3*5 + 1*5 + 5*3 = 35. Cycles,
    worked as in tests/test_capacity_cycles.py: P = 4: h(0) 1 -> 9 (18), o
    skips -> 10, h(1) 18 -> 22, o(0) 22 -> 29 (5 events), R_EXIT 14 cycles ->
    43, flush 43, discard step 2 at 44 -> 45; P = 8 (tree of 3 levels,
    R_EXIT 15 cycles): h(0) 1 -> 6 (15), o skips -> 7, h(1) 15 -> 18, o(0) 18
    -> 25, R_EXIT -> 40, flush, discard -> 42."""
    net, spikes = hand_exit_model(margin=5)
    for lanes, cycles in ((4, 45), (8, 42)):
        (res,) = run_amaranth_jobs(Capacity(lanes=lanes, **{**SMALL, "max_timesteps": 4}), [Job(net, spikes)], seed=2)
        r = res.results
        assert (r.exit_step.tolist(), r.prediction.tolist(), r.readout.tolist()) == ([0], [0], [[5, 0, 0]]), lanes
        assert (r.in_events.tolist(), r.spikes.tolist(), r.synaptic_ops.tolist()) == ([5], [5], [35]), lanes
        assert r.cycles.tolist() == [cycles], lanes
    # one unit more of margin: no step reaches it, all T steps run (exit step 2)
    strict, _ = hand_exit_model(margin=6)
    (res,) = run_amaranth_jobs(Capacity(lanes=4, **{**SMALL, "max_timesteps": 4}), [Job(strict, spikes)], seed=2)
    assert res.results.exit_step.tolist() == [2]

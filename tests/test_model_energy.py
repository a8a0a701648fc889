"""Estimated energy from golden counts, golden-based evaluation figures, and
NeuroBench metrics through the neurobench package on an exact plain-torch copy."""

import numpy as np
import pytest

from sw import golden
from sw.energy import E_AC_PJ, E_MAC_PJ, ann_macs, estimate
from sw.metrics import evaluate, neurobench_metrics
from sw.qnet import InputGroup, Layer, QNet, Source


def tiny_net():
    w1 = np.array([[2, -1, 1], [1, 3, -2]], np.int8)  # 2 inputs -> 3
    wr = np.eye(3, dtype=np.int8)
    w2 = np.array([[1, 0], [0, 1], [1, 1]], np.int8)  # 3 -> 2
    h = Layer("h", 3, [Source("in", w1, 4), Source("h", wr, 4, delay=1)], threshold=2, leak_shift=1, reset="zero")
    o = Layer("o", 2, [Source("h", w2, 4)], threshold=1, leak_shift=0, spiking=False)
    return QNet(["a", "b"], 4, [InputGroup("in", 2)], [h, o], metadata={"weight_scales": {"h": 0.25, "o": 0.5}}).validate()


def test_per_operation_energies_are_the_cited_table():
    """Horowitz, ISSCC 2014, 45 nm, typed by hand: int add 0.1 pJ, 8-bit int
    multiply 0.2 pJ, 64-bit read of a 32 KB SRAM 20 pJ."""
    from sw.energy import E_ACTIVATION_PJ, E_NEURON_PJ, E_SRAM_BIT_PJ

    assert (E_AC_PJ, E_MAC_PJ, E_NEURON_PJ, E_ACTIVATION_PJ) == pytest.approx((0.1, 0.3, 0.4, 0.1))
    assert E_SRAM_BIT_PJ == pytest.approx(20 / 64)


def test_ann_macs_and_energy_by_hand():
    from sw.energy import ann_activations, ann_weight_bits

    net = tiny_net()
    assert ann_macs(net) == 4 * (2 * 3 + 3 * 3 + 3 * 2) == 84
    assert ann_activations(net) == 4 * (3 + 2) == 20
    assert ann_weight_bits(net) == 84 * 4 == 336
    x = np.array([[[1, 1], [0, 1], [1, 0], [0, 0]]], np.uint8)
    r = golden.run(net, x)
    sops = float(r.synaptic_ops[0])
    e = estimate(net, r.synaptic_ops, r.neuron_updates)
    assert e.kind == "estimated" and "Horowitz" in e.source
    # SNN: accumulates at 0.1 pJ + 20 neuron updates at 4 adds; ANN: 84 MACs at 0.3 pJ + 20 activations at 0.1 pJ
    assert e.snn_energy_pj == pytest.approx(sops * 0.1 + 20 * 0.4)
    assert e.ann_energy_pj == pytest.approx(84 * 0.3 + 20 * 0.1)
    assert e.ratio == pytest.approx((84 * 0.3 + 20 * 0.1) / (sops * 0.1 + 20 * 0.4))
    assert e.snn_memory_pj is None and "no memory reads" in e.terms
    assert any("estimated" in line for line in e.lines())
    # With the core's lanes (P = 2): a row of h is ceil(3/2) * 2 weights of 4 bits = 16 bits, of o 8 bits.
    em = estimate(net, r.synaptic_ops, r.neuron_updates, r.layer_events, lanes=2)
    ev = r.layer_events[0]
    bits = int(ev[:, 0].sum()) * 16 + int(ev[:, 1].sum()) * 8
    assert em.snn_weight_bits == bits and em.ann_weight_bits == 336
    assert em.snn_energy_pj == pytest.approx(sops * 0.1 + 20 * 0.4 + bits * 20 / 64)
    assert em.ann_energy_pj == pytest.approx(84 * 0.3 + 20 * 0.1 + 336 * 20 / 64)
    assert "weight-memory reads" in em.terms and "neuron updates costed" in em.terms
    with pytest.raises(ValueError, match="no samples"):
        estimate(net, np.zeros(0), np.zeros(0))
    with pytest.raises(ValueError, match="without the core's lanes"):
        estimate(net, r.synaptic_ops, r.neuron_updates, r.layer_events)


def test_evaluate_figures_are_consistent():
    net = tiny_net()
    rng = np.random.default_rng(0)
    x = (rng.random((40, 4, 2)) < 0.5).astype(np.uint8)
    y = rng.integers(0, 2, 40)
    ev = evaluate(net, x, y, batch=7)
    g = golden.run(net, x)
    assert ev.accuracy == pytest.approx(float((g.prediction == y).mean()))
    assert ev.confusion.sum() == 40 and np.trace(ev.confusion) == int((g.prediction == y).sum())
    assert ev.spike_rate["h"] == pytest.approx(g.spikes["h"].mean())
    assert ev.synaptic_ops == pytest.approx(g.synaptic_ops.mean())
    for i, c in enumerate(net.classes):
        assert ev.recall[c] == pytest.approx(ev.confusion[i, i] / ev.confusion[i].sum())
    assert "accuracy" in ev.lines()[0] and ev.to_dict()["energy"]["kind"] == "estimated"


def test_neurobench_metrics_through_the_package():
    pytest.importorskip("neurobench")
    net = tiny_net()
    rng = np.random.default_rng(1)
    x = (rng.random((24, 4, 2)) < 0.5).astype(np.uint8)
    y = rng.integers(0, 2, 24)
    g = golden.run(net, x)
    nb = neurobench_metrics(net, x, y, batch=8)
    assert nb["ClassificationAccuracy"] == pytest.approx(float((g.prediction == y).mean()))
    assert nb["ParameterCount"] == 6 + 9 + 6
    # quantized zeros are counted as zeros (dequantized weights, not re-trained floats)
    zeros = sum(int((s.weight == 0).sum()) for layer in net.layers for s in layer.sources)
    assert nb["ConnectionSparsity"] == pytest.approx(zeros / 21, abs=1e-4)
    assert nb["SynapticOperations"]["Dense"] == pytest.approx(ann_macs(net))
    # activation sparsity: the neuron modules emit exactly the golden spikes (readout: none)
    assert nb["ActivationSparsity"] == pytest.approx(1 - g.spikes["h"].sum() / (24 * 4 * (3 + 2)))


@pytest.mark.parametrize("module", ["sw.energy", "sw.metrics"])
def test_energy_and_metrics_import_no_torch(module):
    """The board's host code uses these: numpy only at import (neurobench is imported on demand)."""
    import subprocess
    import sys

    code = f"import sys, {module}; print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'brevitas', 'amaranth'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""

"""The NIR import's passes (``sw.nir_io``), each on its own, on small hand-built graphs.

The expected values are worked by hand from the equations in the module's
docstring (``d = round(4096 dt / tau)``, gain ``dt R / tau``, ``>`` as
``>= threshold + 1``); tests/test_model_nir.py and
tests/test_nir_snntorch_exact.py check the whole import.
"""

from __future__ import annotations

import nir
import numpy as np
import pytest

from sw import nir_io
from sw.nir_io import ImportReport, NIRError
from sw.qnet import Source


def _graph(edges, out="LIF", **meta):
    """Input(2) -> fa -> a -> fb -> b -> output, plus any extra ``edges`` (recurrence)."""
    w = np.array([[1.0, -0.5], [0.25, 0.5]])
    lif = lambda: nir.LIF(tau=np.full(2, 1e-3), r=np.full(2, 10.0), v_leak=np.zeros(2), v_threshold=np.ones(2), v_reset=np.zeros(2))  # noqa: E731
    nodes = {"input": nir.Input(np.array([2])), "fa": nir.Linear(weight=w), "a": lif(), "fb": nir.Linear(weight=w),
             "b": lif() if out == "LIF" else nir.LI(tau=np.full(2, 1e-3), r=np.full(2, 10.0), v_leak=np.zeros(2)),
             "output": nir.Output(np.array([2]))}  # fmt: skip
    base = [("input", "fa"), ("fa", "a"), ("a", "fb"), ("fb", "b"), ("b", "output")]
    return nir.NIRGraph(nodes=nodes, edges=base + edges, metadata=meta, type_check=False)


def test_check_options_names_the_option():
    nir_io.check_options(8, 16, None, None)
    for args, msg in [((1, 16, None, None), "--bits must be in 2..16, not 1"), ((8, 33, None, None), "--v-bits must be in 2..32, not 33"),
                      ((8, 16, "hard", None), "--reset must be 'zero' or 'subtract', not 'hard'"),
                      ((8, 16, None, "rate"), "--readout must be 'membrane' or 'spikes', not 'rate'")]:  # fmt: skip
        with pytest.raises(NIRError, match=msg):
            nir_io.check_options(*args)


def test_step_dt_from_metadata_or_assumed_and_said():
    rep = ImportReport()
    assert nir_io.step_dt({"dt": np.array(2e-3)}, rep) == 2e-3 and rep.notes == []
    assert nir_io.step_dt({}, rep) == 1e-4
    assert rep.notes == ["graph metadata has no 'dt': assumed 0.0001 s (snnTorch's export step); set it with --dt SECONDS"]
    assert rep.dt_source == "assumed: the graph has no 'dt'"
    assert nir_io.step_dt({"dt": np.array(2e-3)}, rep, dt=5e-4) == 5e-4 and rep.dt_source == "given"
    with pytest.raises(nir_io.NIRError, match="--dt must be"):
        nir_io.step_dt({}, ImportReport(), dt=-1.0)


def test_read_graph_classifies_and_indexes():
    g = nir_io.read_graph(_graph([("b", "fa")]))
    assert g.kinds == {"input": "input", "fa": "linear", "a": "neuron", "fb": "linear", "b": "neuron", "output": "output"}
    assert g.incoming["fa"] == ["input", "b"] and g.neurons == ["a", "b"]
    bad = _graph([])
    bad.nodes["fb"] = nir.Delay(np.ones(2))
    with pytest.raises(NIRError, match="node 'fb' is a Delay, which EAVS-TF cannot import"):
        nir_io.read_graph(bad)
    with pytest.raises(NIRError, match="edge 'a' -> 'nowhere' names a node that is not in the graph"):
        nir_io.incoming_edges({"a": 1}, [("a", "nowhere")])


def test_sources_output_and_order_with_a_cycle():
    # b feeds a back through fr: a reads input (feed-forward) and b (recurrent); b reads a.
    graph = _graph([("b", "fr"), ("fr", "a")])
    graph.nodes["fr"] = nir.Linear(weight=np.eye(2))
    g = nir_io.read_graph(graph)
    src = nir_io.neuron_sources(g)
    assert [s for s, _, _ in src["a"]] == ["input", "b"] and [s for s, _, _ in src["b"]] == ["a"]
    np.testing.assert_array_equal(src["b"][0][1], [[1.0, 0.25], [-0.5, 0.5]])  # NIR's [n, n_src] transposed
    assert nir_io.output_neuron(g) == "b"
    order = nir_io.layer_order(g, src, "b")
    assert order == ["a", "b"]
    assert nir_io.source_delays(g, order, "a", src["a"]) == {"input": 0, "b": 1}
    assert nir_io.source_delays(g, order, "b", src["b"]) == {"a": 0}


def test_comparison_and_readout_inference():
    assert nir_io.threshold_comparison(None, {}) == ">"
    assert nir_io.threshold_comparison(None, {"threshold_comparison": ">="}) == ">="
    with pytest.raises(NIRError, match="threshold comparison must be '>' or '>=', not '<'"):
        nir_io.threshold_comparison("<", {})
    g = nir_io.read_graph(_graph([], out="LI"))
    assert nir_io.readout_mode(g, "b", None) == "membrane"
    with pytest.raises(NIRError, match="--readout spikes: the output node 'b' is a LI, which does not spike"):
        nir_io.readout_mode(g, "b", "spikes")
    assert nir_io.readout_mode(nir_io.read_graph(_graph([])), "b", None) == "spikes"


def test_neuron_dynamics_worked_by_hand():
    rep = ImportReport()
    # dt/tau = 1e-4 / 1e-3 = 0.1: d = round(409.6) = 410, not exact (noted); gain dt r / tau = 0.1 * 10 = 1.
    lif = nir.LIF(tau=np.full(2, 1e-3), r=np.full(2, 10.0), v_leak=np.array([0.0, 2.0]), v_threshold=np.ones(2), v_reset=np.zeros(2))
    decay, gain, drive = nir_io.neuron_dynamics("a", lif, 2, 1e-4, rep)
    assert decay.tolist() == [410, 410] and gain.tolist() == pytest.approx([1.0, 1.0]) and drive.tolist() == pytest.approx([0.0, 0.2])
    assert rep.notes == ["node 'a': 2 of 2 decays dt/tau are not multiples of 1/4096; used d = round(4096 dt/tau), e.g. beta 0.9 -> 0.899902 (d = 410)"]
    # dt/tau = 1/8 exactly: d = 512, nothing to say.
    rep = ImportReport()
    decay, _, _ = nir_io.neuron_dynamics("a", nir.LIF(tau=np.full(2, 8e-4), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2)), 2, 1e-4, rep)
    assert decay.tolist() == [512, 512] and rep.notes == []
    decay, gain, drive = nir_io.neuron_dynamics("i", nir.IF(r=np.array([3.0, 4.0]), v_threshold=np.ones(2)), 2, 1e-4, rep)
    assert decay.tolist() == [0, 0] and gain.tolist() == [3.0, 4.0] and drive.tolist() == [0.0, 0.0]
    with pytest.raises(NIRError, match=r"node 'a': dt/tau = 2 > 1 is unstable"):
        nir_io.neuron_dynamics("a", nir.LI(tau=np.full(2, 5e-5), r=np.ones(2), v_leak=np.zeros(2)), 2, 1e-4, rep)


def test_thresholds_fold_and_scale_worked_by_hand():
    lif = nir.LIF(tau=np.ones(2), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.array([1.0, 2.0]), v_reset=np.zeros(2))
    thr = nir_io.neuron_thresholds("a", lif, 2, spiking=True)
    assert thr.tolist() == [1.0, 2.0] and nir_io.neuron_thresholds("a", lif, 2, spiking=False).tolist() == [1.0, 1.0]
    # Equalise to threshold 2: neuron 0's input doubles (c = [2, 1]); gain 1, bias 0.5 on an Affine.
    c = 2.0 / thr
    blocks, bias, any_bias = nir_io.fold_inputs([("input", np.array([[1.0, 1.0]]), np.array([0.5, 0.5]))], np.ones(2), c, np.zeros(2))
    assert blocks[0][1].tolist() == [[2.0, 1.0]] and bias.tolist() == [1.0, 0.5] and any_bias
    q = nir_io._Quant(bits=4, v_bits=8, comparison=">", reset="zero")  # qmax 7, vmax 127
    # weights: ceil(log2(2 / 7)) = -1; threshold 2 * 16 / 127 -> ceil(log2(0.252)) = -1 as well.
    assert nir_io.layer_scale("a", blocks, 2.0, True, None, q) == -1
    # threshold 2 at s = 1/2 is 4 units; '>' makes it 5.
    assert nir_io.integer_threshold("a", 2.0, 0.5, True, q) == 5
    with pytest.raises(NIRError, match="threshold 100 is 201 weight units, beyond the 8-bit membrane"):
        nir_io.integer_threshold("a", 100.0, 0.5, True, q)


def test_subtract_correction_fits_or_coarsens():
    q = nir_io._Quant(bits=4, v_bits=8, comparison=">=", reset="subtract")
    qsrc = [Source("a", np.array([[1, 0], [0, 6]], np.int8), 4, 1)]
    assert nir_io.subtract_correction("a", 2, qsrc, np.array([2, 1]), q)
    assert qsrc[0].weight.tolist() == [[3, 0], [0, 7]]
    assert not nir_io.subtract_correction("a", 2, qsrc, np.array([0, 1]), q)  # 7 + 1 > qmax 7
    fresh = [Source("input", np.ones((1, 2), np.int8), 4, 0)]
    assert nir_io.subtract_correction("a", 2, fresh, np.array([3, 0]), q)
    assert fresh[1].name == "a" and fresh[1].delay == 1 and fresh[1].weight.tolist() == [[3, 0], [0, 0]]
    # quantize_weights: threshold 8 with decay 4096 (beta 0) at s = 1: comp = 8 - 8 - 8 = -8 > qmax, so s = 2:
    # threshold 4, comp = 4 - 4 - 4 = -4 fits.
    log2s, srcs, err, thr = nir_io.quantize_weights("a", [("input", np.array([[2.0, 2.0]]))], {"input": 0}, 0, 8.0, True,
                                                    np.full(2, 4096), q)  # fmt: skip
    assert (log2s, thr) == (1, 4) and srcs[1].weight.tolist() == [[-4, 0], [0, -4]] and srcs[0].weight.tolist() == [[1, 1]]


def test_readout_notes_and_class_names():
    rep = ImportReport()
    g = nir_io.read_graph(_graph([]))
    nir_io.readout_notes(g, "b", "membrane", ">=", rep)
    assert rep.notes == ["output node 'b' spikes in the source model; here it is the non-spiking readout "
                         "(class = argmax of its membrane after the last step, not of its spike count)"]  # fmt: skip
    assert nir_io.class_names_and_T({"timesteps": 7}, 3, None, None, rep) == (["class0", "class1", "class2"], 7)
    assert nir_io.class_names_and_T({"classes": [b"x", b"y"]}, 2, None, 5, rep) == (["x", "y"], 5)
    assert nir_io.class_names_and_T({}, 1, ["only"], None, rep) == (["only"], 40)
    assert rep.notes[-1] == "graph metadata has no 'timesteps': used T = 40 (pass --timesteps)"
    with pytest.raises(NIRError, match="3 class names for an output of 2 neurons"):
        nir_io.class_names_and_T({}, 2, ["a", "b", "c"], 4, rep)

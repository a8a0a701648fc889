"""The default network's shape (audio 64 + visual 512 inputs, two branch layers,
recurrent fusion, 8-class readout, T = 40) on encoded built-in clips: the
simulated core equals the golden model and the cycle model exactly.

Random 4-bit weights stand in for a trained model (training belongs to the
model tests); the inputs are real encoder output of the built-in corpus.
"""

from __future__ import annotations

import numpy as np
import pytest

from bench.rtl_cycles import demo_model
from hw.flow.amaranth_sim import run_amaranth
from hw.spec.capacity import Capacity, sample_cycles, weight_words
from sw import golden
from sw.data.dataset import load_encoded
from sw.encode import AudioEncoder, VisualEncoder, input_groups


@pytest.mark.slow
def test_default_shape_model_on_builtin_clips(tmp_path):
    enc = [AudioEncoder(), VisualEncoder()]
    data = load_encoded(f"builtin:{tmp_path}/corpus?clips=2", enc, cache_dir=tmp_path / "cache", progress=False, synthesize=True)
    net = demo_model(seed=3, rate=0.05)
    net.inputs = input_groups(enc)
    net.validate()
    spikes = data.x[:1]
    assert spikes.any()
    cap = Capacity(lanes=16, max_layers=4, max_neurons=64, max_sources=3, max_inputs=576,
                   weight_depth=weight_words(net, 16), weight_bits=4, v_bits=16, max_timesteps=40)
    res = run_amaranth(net, spikes, cap, seed=None)
    g = golden.run(net, spikes)
    assert g.layer_spikes[:, :3].sum() > 0  # the hidden layers do spike
    assert res.readout.tolist() == g.readout.tolist()
    assert res.prediction.tolist() == g.prediction.tolist()
    assert res.cycles.tolist() == sample_cycles(net, g.layer_events, cap.lanes).tolist()
    assert res.results.synaptic_ops.tolist() == g.synaptic_ops.tolist()

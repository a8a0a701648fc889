"""snnTorch networks imported through NIR run bit-exact on the RTL.

Issue 14's last link: a network built and exported by snnTorch (per-neuron
betas 0.8..0.95, subtract reset with its self-recurrent correction, an output
layer classified by spike count) is imported at 16-bit weights and runs on
the Verilated core through the bulk harness; every sample's prediction,
readout (spike counts), counters and cycles equal sw.golden, whose agreement
with snnTorch's own forward tests/test_nir_snntorch_exact.py measures.
"""

from __future__ import annotations

import numpy as np
import pytest

from hw.spec.capacity import Capacity
from sim.build import tool_problem

pytestmark = [pytest.mark.verilator, pytest.mark.slow]

# The imported network: 20 inputs, 24 + 4 neurons, a 24-bit membrane, 16-bit
# weights, T = 25; the self-recurrent correction is a third source.
CAP = Capacity(lanes=8, max_layers=2, max_neurons=32, max_sources=3, max_inputs=32, weight_depth=512,
               weight_bits=16, v_bits=24, max_timesteps=32)  # fmt: skip


def test_imported_snntorch_network_is_bit_exact_on_the_core(tmp_path):
    if tool_problem("verilator"):
        pytest.skip(tool_problem("verilator"))
    from snntorch.export_nir import export_to_nir
    import torch

    from sim.verilator_raw import Job, raw_build, verify
    from sw.nir_io import from_nir
    from tests.test_nir_snntorch_exact import N_IN, NETWORKS, T, _net, _snntorch_forward

    name = "perneuron0.8-0.95_subtract"
    net = _net(*NETWORKS[name])
    q, _ = from_nir(export_to_nir(net, torch.zeros(N_IN)), bits=16, v_bits=24, timesteps=T, reset="subtract")
    assert q.layers[-1].readout == "spikes" and len(set(q.layers[0].decay.tolist())) > 1
    assert not CAP.problems(q), CAP.problems(q)
    x = (np.random.default_rng(5).random((48, T, N_IN)) < 0.3).astype(np.uint8)
    exe = raw_build(CAP, tmp_path / "build")
    results, _ = verify(exe, CAP, [Job(q, x, name)], batch=16)
    r = results[0]
    assert r.ok, (r.agreement.mismatches[:5], r.mismatches[:5])
    assert r.agreement.exact == 48
    _, _, pred = _snntorch_forward(net, torch.from_numpy(x).float())
    agree = float((r.results.prediction == pred).mean())
    print(f"{name}: RTL = golden on 48/48 samples; RTL prediction = snnTorch on {agree:.1%}")
    assert agree >= 0.95

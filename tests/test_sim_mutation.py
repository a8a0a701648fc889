"""The verification catches a real RTL bug: a leak shift off by one.

The core is generated with a mutant LIF lane (``v >> (k + 1)`` instead of
``v >> k``; monkeypatched for this test only, never committed), built on
Icarus in a temporary directory and run through the same random-model
scenario as tests/test_sim_core.py. The scenario must report mismatches in
the readout membranes: a verification that passes a broken core is a
defect.
"""

from __future__ import annotations

import pytest
from amaranth import Module, Mux

from sim.build import build_verilog, run_cocotb, tool_problem
from sim.scenarios import Scenario, models_back_to_back, random_models, test_capacity

pytestmark = [pytest.mark.icarus, pytest.mark.xdist_group("sim_mutation")]


def _mutant_elaborate(self, platform):
    m = Module()
    v = Mux(self.zero_v, 0, self.v_in)
    leak = Mux(self.leak_shift == 0, 0, v >> (self.leak_shift + 1))  # the injected bug
    total = v - leak + self.acc
    clamped = Mux(total > self.hi, self.hi, Mux(total < self.lo, self.lo, total))
    spike = self.spiking & (clamped >= self.threshold)
    m.d.comb += [
        self.spike.eq(spike),
        self.v_out.eq(Mux(spike, Mux(self.subtract, clamped - self.threshold, 0), clamped)),
    ]
    return m


def test_sim_leak_off_by_one_is_caught(tmp_path, monkeypatch):
    if tool_problem("icarus"):
        pytest.skip(tool_problem("icarus"))
    import hw.lif
    from hw.generate import verilog_source

    cap = test_capacity(8)
    monkeypatch.setattr(hw.lif.LIFLane, "elaborate", _mutant_elaborate)
    src = tmp_path / "eavs_core.v"
    src.write_text(verilog_source(cap))  # what `python -m hw.generate` writes, with the mutant lane
    monkeypatch.undo()
    build = build_verilog([src], "eavs_core", "icarus", tmp_path / "icarus")
    scn = Scenario(cap, seed=8)
    models_back_to_back(scn, random_models(108, cap, 3), seed=8, batch=2)
    mismatches = scn.verify(run_cocotb(build, "sim.cocotb_core", scn.plan.to_json(), name="mutant"))
    print("\n".join(mismatches))
    assert any("readout membranes differ" in m for m in mismatches), mismatches

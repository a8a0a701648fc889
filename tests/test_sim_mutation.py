"""The verification catches a real RTL bug: a leak off by one bit.

The core is generated with a mutant LIF lane (``hw.rtl.lif_pipe.DECAY_BITS``
13 instead of 12, so the lane computes ``(v * d) >> 13``: half the leak;
monkeypatched for this test only, never committed), built on Icarus in a
temporary directory and run through the same random-model scenario as
tests/test_sim_core.py. The scenario must report mismatches in the readout
membranes: a verification that passes a broken core is a defect.
"""

from __future__ import annotations

import pytest

from sim.build import build_verilog, run_cocotb, tool_problem
from sim.scenarios import Scenario, models_back_to_back, random_models, test_capacity

pytestmark = [pytest.mark.icarus, pytest.mark.xdist_group("sim_mutation")]


def test_sim_leak_off_by_one_is_caught(tmp_path, monkeypatch):
    if tool_problem("icarus"):
        pytest.skip(tool_problem("icarus"))
    import hw.rtl.lif_pipe
    from hw.flow.generate import verilog_source

    cap = test_capacity(8)
    monkeypatch.setattr(hw.rtl.lif_pipe, "DECAY_BITS", 13)  # the injected bug
    src = tmp_path / "eavs_core.v"
    src.write_text(verilog_source(cap))  # what `python -m hw.generate` writes, with the mutant lane
    monkeypatch.undo()
    build = build_verilog([src], "eavs_core", "icarus", tmp_path / "icarus")
    scn = Scenario(cap, seed=8)
    models_back_to_back(scn, random_models(108, cap, 3), seed=8, batch=2)
    mismatches = scn.verify(run_cocotb(build, "sim.cocotb_core", scn.plan.to_json(), name="mutant"))
    print("\n".join(mismatches))
    assert any("readout membranes differ" in m for m in mismatches), mismatches

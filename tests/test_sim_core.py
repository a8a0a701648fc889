"""eavs_core through its AXI interfaces on Verilator and Icarus, against sw.golden.

Every sample's prediction, readout membranes, counters (input events,
spikes, synaptic operations) and compute cycles are compared exactly with the
golden model and hw.spec.capacity.sample_cycles; registers read after each batch
(CYCLES, SPIKES, SOPS, PREDICTION, SAMPLES, ERROR, READOUT window...) too.

Builds are shared per (simulator, lanes) through module-scoped fixtures and
xdist groups; each test runs one plan (one simulator process) holding many
loads and batches, with random idles on the input stream and random
backpressure on the output. Set EAVS_WAVES=1 to dump FST waveforms into
the build directory (see sim.build).
"""

from __future__ import annotations

import pytest

from sim.build import build_core, run_cocotb, tool_problem
from sim.scenarios import Scenario, exit_pairs, faults, models_back_to_back, random_models, test_capacity

_BUILDS: dict = {}


def _build(simulator: str, lanes: int, tmp_path_factory):
    problem = tool_problem(simulator)
    if problem:
        pytest.skip(problem)
    key = (simulator, lanes)
    if key not in _BUILDS:
        root = tmp_path_factory.getbasetemp() / f"core_{simulator}_P{lanes}"
        _BUILDS[key] = build_core(test_capacity(lanes), simulator, root)
    return _BUILDS[key]


def _verify(build, scn: Scenario, name: str) -> None:
    rec = run_cocotb(build, "sim.cocotb_core", scn.plan.to_json(), name=name)
    mismatches = scn.verify(rec)
    assert not mismatches, f"{len(mismatches)} mismatch(es) on {build.simulator}:\n" + "\n".join(mismatches[:40])
    assert scn.n_checked > 0


# (simulator, lanes, models, samples per model): every P on some simulator,
# P=8 on both. Verilator's C++ for P=32 is ~5 MB and compiles for minutes on
# two cores, so P=1 and P=32 run on Icarus (same Verilog, cheap to build);
# Icarus is slow per cycle, so it gets fewer samples.
RANDOM = [
    pytest.param("verilator", 8, 6, 3, marks=[pytest.mark.verilator, pytest.mark.xdist_group("core_verilator_P8")]),
    pytest.param("icarus", 1, 3, 2, marks=[pytest.mark.icarus, pytest.mark.xdist_group("core_icarus_P1")]),
    pytest.param("icarus", 8, 3, 2, marks=[pytest.mark.icarus, pytest.mark.xdist_group("core_icarus_P8")]),
    pytest.param("icarus", 32, 3, 1, marks=[pytest.mark.icarus, pytest.mark.xdist_group("core_icarus_P32")]),
]


@pytest.mark.parametrize("simulator,lanes,n_models,batch", RANDOM)
def test_sim_random_models_back_to_back(simulator, lanes, n_models, batch, tmp_path_factory):
    """Random models (4/8-bit weights, both resets, recurrence), each loaded
    over the previous one and run on several samples back to back."""
    build = _build(simulator, lanes, tmp_path_factory)
    cap = test_capacity(lanes)
    scn = Scenario(cap, seed=lanes)
    models = random_models(100 + lanes, cap, n_models)
    models_back_to_back(scn, models, seed=lanes, batch=batch)
    _verify(build, scn, "random")
    assert scn.n_checked == n_models * batch


EXIT = [
    pytest.param("verilator", 8, marks=[pytest.mark.verilator, pytest.mark.xdist_group("core_verilator_P8")]),
    pytest.param("icarus", 1, marks=[pytest.mark.icarus, pytest.mark.xdist_group("core_icarus_P1")]),
]


@pytest.mark.parametrize("simulator,lanes", EXIT)
def test_sim_early_exit_models(simulator, lanes, tmp_path_factory):
    """Models with an early-exit rule (membrane and spike-count readouts),
    loaded back to back: exit step, prediction, readout, counters with the
    wave overrun and cycles equal hw.spec.expected's, sample by sample; some
    samples exit before T-1 and some run to it."""
    build = _build(simulator, lanes, tmp_path_factory)
    cap = test_capacity(lanes)
    scn = Scenario(cap, seed=lanes + 7)
    pairs = exit_pairs(200 + lanes, cap, 4 if simulator == "verilator" else 2)
    for k, (net, spikes) in enumerate(pairs):
        scn.load(net, f"exit model {k} load")
        scn.run(net, spikes, f"exit model {k} run")
    _verify(build, scn, "exit")
    assert scn.n_checked == sum(len(sp) for _, sp in pairs)


FAULTS = [
    pytest.param("verilator", 8, marks=[pytest.mark.verilator, pytest.mark.xdist_group("core_verilator_P8")]),
    pytest.param("icarus", 8, marks=[pytest.mark.icarus, pytest.mark.xdist_group("core_icarus_P8")]),
]


@pytest.mark.parametrize("simulator,lanes", FAULTS)
def test_sim_faults_and_recovery(simulator, lanes, tmp_path_factory):
    """Bad index, extra events, over capacity, no model, start while busy,
    soft and hard reset mid-sample, total backpressure: error bits, recovery,
    and every following sample exact."""
    build = _build(simulator, lanes, tmp_path_factory)
    scn = Scenario(test_capacity(lanes), seed=9)
    faults(scn, seed=4)
    _verify(build, scn, "faults")

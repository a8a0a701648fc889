"""The RTL back-end: the board driver's own code driving the simulated core
(Verilator and Icarus).

The same calls run on the simulated RTL and on the golden back-end and must
give identical results (prediction, readout membranes, cycles, every
counter, no error bits), across random models with both resets, leak
shifts, recurrence and several input groups, loaded one after another into
the same running core. Each simulator's build is made once
(``build/host-rtl/``) and shared by every test here and by the notebook run
(on Icarus, whose build takes seconds; Verilator's C++ build takes minutes
on two cores, so its variant is also marked slow).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

import host
from hw.spec import regmap
from hw.spec.capacity import Capacity, CapacityError
from sw.random_net import random_qnet, random_spikes

#: Small enough to build quickly, big enough for 2..3-layer random models and the notebook's model;
#: the same as the cocotb suite's P=8 capacity (sim.scenarios.test_capacity(8)), so a shared
#: build cache (host.rtl.default_build_dir) can serve both.
CAP = Capacity(lanes=8, max_layers=4, max_neurons=32, max_sources=3, max_inputs=64, weight_depth=1024, weight_bits=8, v_bits=16, max_timesteps=16)
CAP_SPEC = ",".join(f"{k}={v}" for k, v in CAP.to_dict().items())


ICARUS = pytest.param("icarus", marks=[pytest.mark.icarus, pytest.mark.xdist_group("host_rtl_icarus")])
VERILATOR = pytest.param("verilator", marks=[pytest.mark.verilator, pytest.mark.slow, pytest.mark.xdist_group("host_rtl_verilator")])
#: The equality test runs on both simulators; the others on Icarus, whose build takes seconds
#: (Verilator's C++ build of the core takes minutes on two cores).
SIMULATORS = [ICARUS, VERILATOR]
icarus_only = pytest.mark.parametrize("rtl", [ICARUS], indirect=True)


@pytest.fixture(scope="session")
def rtl_pool():
    """Running simulations by simulator, shared by every test of the session."""
    pool: dict[str, host.Backend] = {}
    yield pool
    for be in pool.values():
        be.close()


@pytest.fixture(params=SIMULATORS)
def rtl(request, rtl_pool):
    """The core for CAP in one simulator (built once, cached in build/host-rtl/, started once)."""
    from sim.build import tool_problem

    sim = request.param
    if importlib.util.find_spec("hw.flow.generate") is None:
        pytest.skip("hw.flow.generate (the core's Verilog generator) is not in the tree")
    problem = tool_problem(sim)
    if problem:
        pytest.skip(problem)
    if sim not in rtl_pool:
        rtl_pool[sim] = host.open_backend("rtl", capacity=CAP, simulator=sim, timeout_s=60.0, source_pause=0.2, sink_pause=0.2)
    return rtl_pool[sim]


def test_rtl_equals_golden_on_random_models(rtl):
    rng = np.random.default_rng(2024)
    gold = host.open_backend("golden", capacity=CAP)
    assert rtl.capacity == CAP  # read back from the simulated core's registers
    # Icarus is slow per simulated cycle: fewer models there.
    n_models, batch = (6, 3) if rtl.simulator == "verilator" else (4, 2)
    for k in range(n_models):
        net = random_qnet(rng, max_inputs=24, max_neurons=12, max_hidden=2, weight_bits=int(rng.choice([4, 8])), v_bits=int(rng.choice([8, 12, 16])))
        rtl.load_model(net)
        gold.load_model(net)
        x = random_spikes(rng, net, batch=batch)
        got, want = rtl.infer_batch(x), gold.infer_batch(x)
        assert got.backend == "rtl"
        assert got.differences(want) == [], f"model {k}"
        one = rtl.infer(x[1])
        assert (one.prediction, one.cycles, one.counters) == (want[1].prediction, want[1].cycles, want[1].counters)


def test_rtl_equals_golden_on_early_exit_models(rtl):
    """Models with an early-exit rule: the driver over the simulated core and
    the golden back-end (hw.spec.expected) agree on exit step, prediction,
    readout, counters and cycles; some samples exit early, some do not."""
    from sim.scenarios import exit_pairs

    gold = host.open_backend("golden", capacity=CAP)
    pairs = exit_pairs(31, CAP, 3 if rtl.simulator == "verilator" else 2, batch=2)
    steps = []
    for k, (net, x) in enumerate(pairs):
        rtl.load_model(net)
        gold.load_model(net)
        got, want = rtl.infer_batch(x), gold.infer_batch(x)
        assert got.differences(want) == [], f"exit model {k}"
        steps += got.counters["exit_step"].tolist()
    steps = np.array(steps)
    assert (steps < 5).any() and (steps == 5).any(), steps.tolist()


@icarus_only
def test_rtl_refuses_model_over_capacity(rtl):
    net = random_qnet(np.random.default_rng(5), max_inputs=8, max_neurons=8, timesteps=CAP.max_timesteps)
    net.timesteps = CAP.max_timesteps + 1
    with pytest.raises(CapacityError, match="max_timesteps 16"):
        rtl.load_model(net)


@icarus_only
def test_rtl_core_that_never_finishes_times_out_and_recovers(rtl):
    rng = np.random.default_rng(9)
    net = random_qnet(rng, max_inputs=10, max_neurons=6)
    rtl.load_model(net)
    drv = rtl.driver
    old, drv.timeout_s = drv.timeout_s, 0.5
    try:
        drv.write("BATCH", 1)
        drv._start(regmap.MODE_RUN)  # a run start, then no events: the core waits forever
        with pytest.raises(host.HostError, match=r"did not finish within 0.5 s; core registers: .*STATUS=\{'busy': 1") as e:
            drv._wait_status("a run without events", lambda st: st["done"])
        assert "core soft-reset" in str(e.value)
    finally:
        drv.timeout_s = old
    gold = host.open_backend("golden", capacity=CAP)
    gold.load_model(net)
    x = random_spikes(rng, net, batch=2)
    assert rtl.infer_batch(x).differences(gold.infer_batch(x)) == []


@icarus_only
def test_notebook_on_rtl(tmp_path, rtl):
    from tests.test_host_notebook import outputs_text, run_notebook, small_av_model
    from sw.data.synth import synthesize

    clips = synthesize(tmp_path / "clips", clips=3, seed=5, actors=2, workers=1)
    model = small_av_model(tmp_path / "model.qnet")
    nb = run_notebook(tmp_path, {"EAVS_BACKEND": "rtl", "EAVS_SIMULATOR": rtl.simulator, "EAVS_BOARD": "pynq-z2", "EAVS_CAPACITY": CAP_SPEC, "EAVS_MODEL": str(model),
                                 "EAVS_CLIPS": str(clips), "EAVS_MAX_CLIPS": "3", "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
    text = outputs_text(nb)
    assert "rtl back-end; capacity (read back from the core)" in text
    assert "identical to the golden model" in text
    assert "energy per inference (estimated)" in text


@icarus_only
def test_rtl_error_bits_from_the_core_are_decoded(rtl):
    """Events past the model's inputs (the driver never sends them; sent here on
    purpose below the driver's shape check): the core flags the sample, the
    driver raises with the decoded cause, and the next batch runs clean."""
    from host.driver import CoreError

    rng = np.random.default_rng(21)
    net = random_qnet(rng, max_inputs=10, max_neurons=6, timesteps=4)
    rtl.load_model(net)
    x = random_spikes(rng, net, batch=2, rate=0.3)
    wide = np.concatenate([x, np.zeros((2, net.timesteps, 3), np.uint8)], axis=2)
    wide[1, 0, net.n_inputs + 1] = 1  # index n_inputs + 1 at step 0 of sample 1
    with pytest.raises(CoreError, match=r"flagged 1 of 2 samples \(sample 1: \['event_index'\]") as e:
        rtl.driver.run(wide)
    assert e.value.result.errors.tolist() == [0, regmap.field("ERROR", "event_index").mask]
    gold = host.open_backend("golden", capacity=CAP)
    gold.load_model(net)
    assert rtl.infer_batch(x).differences(gold.infer_batch(x)) == []


@icarus_only
def test_eavs_live_on_the_rtl_back_end_decides_as_golden(rtl):
    """host.live through the rtl back-end (the driver on the simulated core): the same
    decisions, margins and exit steps as on golden, window by window (issue 24)."""
    from host.live import LiveRunner
    from host.live_sources import FakeClock
    from tests.test_live import ListAudio, am_tone, band_model, blocks

    x = np.concatenate([am_tone(1, 1.5, 0), am_tone(3, 1.5, 1)])
    rows = {}
    for kind, be in (("golden", host.open_backend("golden", capacity=CAP)), ("rtl", rtl)):
        be.load_model(band_model())
        ds = LiveRunner(be, ListAudio(blocks(x)), window_s=1.0, hop_s=0.5, clock=FakeClock()).run()
        rows[kind] = [(d.t_end_s, d.prediction, d.margin, d.exit_step, d.fault) for d in ds]
    assert len(rows["golden"]) == 5 and rows["rtl"] == rows["golden"]
    assert rows["golden"][0][1] == "g1" and rows["golden"][-1][1] == "g3"  # windows inside the first and the second tone

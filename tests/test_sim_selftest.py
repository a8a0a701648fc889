"""The verification stack on a tiny component (sim.selftest), on both simulators.

If these fail, the core's cocotb tests cannot be trusted either: Amaranth ->
Verilog, the runner helpers of sim.build (timescale, Verilator flags, the
runtime object cache), cocotbext-axi bound through ``bus_separator="__"``,
random pause generators on both streams, and the plan/record JSON hand-off.
"""

from __future__ import annotations

import random

import pytest

from sim.build import SimError, build_verilog, run_cocotb, tool_problem

pytestmark = pytest.mark.xdist_group("sim_selftest")


@pytest.fixture(scope="module")
def loopback_v(tmp_path_factory):
    from sim.build import _yosys_env
    from sim.selftest import write_loopback_verilog

    _yosys_env()
    return write_loopback_verilog(tmp_path_factory.mktemp("loopback"))


def _builds(loopback_v, simulator):
    problem = tool_problem(simulator)
    if problem:
        pytest.skip(problem)
    return build_verilog([loopback_v], "loopback", simulator, loopback_v.parent / simulator)


@pytest.mark.parametrize(
    "simulator", [pytest.param("verilator", marks=pytest.mark.verilator), pytest.param("icarus", marks=pytest.mark.icarus)]
)
def test_sim_loopback_streams_and_registers(loopback_v, simulator):
    build = _builds(loopback_v, simulator)
    rng = random.Random(7)
    frames = [[rng.randrange(1 << 32) for _ in range(rng.randrange(1, 30))] for _ in range(6)]
    scratch = rng.randrange(1 << 32)
    plan = {"seed": 3, "frames": frames, "scratch": scratch, "source_pause": 0.3, "sink_pause": 0.4}
    rec = run_cocotb(build, "sim.cocotb_selftest", plan)
    assert rec["scratch"] == scratch
    assert rec["frames"] == [[(w + scratch) & 0xFFFFFFFF for w in f] for f in frames]
    assert rec["count"] == sum(len(f) for f in frames)
    # Pauses on both sides: more cycles than words, and the run is reproducible by its seed.
    assert rec["cycles"] > rec["count"]
    assert run_cocotb(build, "sim.cocotb_selftest", plan, name="again")["cycles"] == rec["cycles"]


@pytest.mark.verilator
def test_sim_failing_cocotb_test_raises_with_log(loopback_v):
    """A cocotb test that fails must surface as SimError, never as a silent pass."""
    build = _builds(loopback_v, "verilator")
    with pytest.raises(SimError, match="failed"):
        run_cocotb(build, "sim.cocotb_selftest", {"seed": 1, "frames": [[1]], "scratch": 0}, name="bad")


def test_sim_missing_source_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.v"):
        build_verilog([tmp_path / "nope.v"], "x", "icarus" if not tool_problem("icarus") else "verilator", tmp_path)


def test_sim_unknown_simulator(tmp_path):
    assert "unknown simulator" in tool_problem("modelsim")


@pytest.mark.verilator
def test_raw_harness_drives_the_loopback(loopback_v):
    """The bulk path's C++ harness (sim/raw_main.cpp) on the self-test component:
    AXI4-Lite writes and reads, a stream frame, result words and a poll, with
    values worked by hand (SCRATCH = 7 is added to every word)."""
    from sim.build import SimError
    from sim.selftest import COUNT, SCRATCH
    from sim.verilator_raw import Script, build_harness, execute

    if tool_problem("verilator"):
        pytest.skip(tool_problem("verilator"))
    exe = build_harness(loopback_v, "loopback", loopback_v.parent / "raw")
    s = Script().reset()
    s.write(SCRATCH, 7)
    at_scratch = s.read(SCRATCH)
    s.send([1, 2, 0xFFFFFFFF])
    s.wait_results(3, 100)
    at_count = s.read(COUNT)
    at_poll = s.poll(COUNT, 0xFF, 3, limit=4)
    out = execute(exe, s)
    assert out.words.tolist() == [8, 9, 6]  # 0xFFFFFFFF + 7 wraps to 6
    assert int(out.reads[at_scratch]) == 7 and int(out.reads[at_count]) == 3 and int(out.reads[at_poll]) == 3
    assert out.cycles > 0 and out.seconds > 0
    bad = Script().reset()
    bad.poll(COUNT, 0xFF, 5, limit=3)  # nothing was sent: COUNT stays 0
    with pytest.raises(SimError, match="register poll did not reach its value"):
        execute(exe, bad)

"""One comparison run for users: a model and samples on a chosen simulator.

:func:`simulate` loads ``net`` into a core of ``capacity``, runs ``spikes``
as one batch on Verilator, Icarus (both through cocotb) or the Amaranth
simulator (``hw.flow.amaranth_sim``), and compares every sample with the golden
model and the cycle model. ``eavs sim`` and ``bench/sim_speed.py`` call it.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hw.spec.capacity import Capacity
from sim.compare import Agreement, compare_load, compare_registers, compare_results, expected
from sim.plan import Record
from sim.scenarios import Scenario
from sw.golden import check_spikes
from sw.qnet import QNet

__all__ = ["SIMULATORS", "SimRun", "simulate", "default_build_dir"]

SIMULATORS = ("verilator", "icarus", "amaranth")


@dataclass
class SimRun:
    """Outcome of :func:`simulate`.

    Attributes
    ----------
    agreement : Agreement
        Samples, exact samples, equal predictions, mismatch lines.
    core_cycles : int
        Compute cycles the core reported over all samples (its CYCLES).
    sim_cycles : int
        Clock cycles simulated, loading and host traffic included.
    build_s : float
        Wall time of the build (0 when reused).
    run_s : float
        Wall time of the simulation itself (simulator start-up excluded).
    """

    simulator: str
    agreement: Agreement
    core_cycles: int
    sim_cycles: int
    build_s: float
    run_s: float

    @property
    def cycles_per_s(self) -> float:
        return self.sim_cycles / self.run_s if self.run_s > 0 else float("nan")


def default_build_dir(capacity: Capacity, simulator: str, root: str | Path = "build/sim") -> Path:
    """A build directory per capacity, so a second run reuses the build."""
    key = hashlib.sha1(json.dumps(capacity.to_dict(), sort_keys=True).encode()).hexdigest()[:10]
    return Path(root) / f"core_{key}"


def simulate(
    net: QNet,
    spikes: np.ndarray,
    capacity: Capacity,
    simulator: str,
    *,
    build_dir: str | Path | None = None,
    seed: int = 0,
    pauses: float = 0.0,
    waves: bool | None = None,
) -> SimRun:
    """Run ``spikes [B, T, N_in]`` on ``net`` in ``simulator`` and compare with sw.golden.

    ``pauses`` is the probability of an idle input cycle and of output
    backpressure per cycle (0: the host streams as fast as the core takes).
    """
    if simulator not in SIMULATORS:
        raise ValueError(f"--simulator must be one of {SIMULATORS}, not {simulator!r}")
    capacity.require_fits(net)
    x = check_spikes(net, spikes)
    if simulator == "amaranth":
        return _simulate_amaranth(net, x, capacity, seed, pauses)
    from sim.build import build_core, run_cocotb

    bdir = Path(build_dir) if build_dir is not None else default_build_dir(capacity, simulator)
    t0 = time.perf_counter()
    build = build_core(capacity, simulator, bdir, waves=waves)
    build_s = time.perf_counter() - t0
    scn = Scenario(capacity, seed=seed, source_pause=pauses, sink_pause=pauses)
    scn.load(net, "load")
    scn.run(net, x, "batch")
    t0 = time.perf_counter()
    raw = run_cocotb(build, "sim.cocotb_core", scn.plan.to_json(), name="eavs_sim")
    run_s = time.perf_counter() - t0
    rec = Record.from_json(raw)
    mismatches = scn.verify(rec)
    exp = expected(net, x, capacity).results
    run_handle_recv = next(i for i, op in enumerate(scn.plan.ops) if op["op"] == "recv")
    words = [w for f in rec[run_handle_recv].get("frames", []) for w in f]
    from hw.spec import protocol

    try:
        got = protocol.decode_results(np.array(words, np.uint32), net.readout.n)
    except protocol.ProtocolError:
        got = protocol.Results(*(np.zeros(0, np.int64) for _ in range(6)), readout=np.zeros((0, net.readout.n), np.int64),
                                   exit_step=np.zeros(0, np.int64))
    return SimRun(simulator, Agreement.of(got, exp, mismatches), int(got.cycles.sum()), rec.sim_cycles, build_s,
                  rec.wall_s or run_s)


def _simulate_amaranth(net: QNet, x: np.ndarray, capacity: Capacity, seed: int, pauses: float) -> SimRun:
    from hw.flow.amaranth_sim import Job, run_amaranth_jobs

    t0 = time.perf_counter()
    (res,) = run_amaranth_jobs(capacity, [Job(net, x)], seed=seed if pauses > 0 else None)
    run_s = time.perf_counter() - t0
    exp = expected(net, x, capacity).results
    regs = dict(res.registers)
    mismatches = compare_load({"STATUS": regs.get("STATUS", 0) if res.model_valid else 0, "ERROR": res.load_errors}, None, "load") \
        if not res.model_valid else []
    if res.results is None:
        mismatches.append("no results: the core rejected the model or did not run")
        got = None
    else:
        got = res.results
        mismatches += compare_results(got, exp, "batch")
        readout = None if res.readout_window is None else [int(v) for v in res.readout_window]
        mismatches += compare_registers(regs, exp, 0, "batch", readout)
    if got is None:
        from hw.spec import protocol

        got = protocol.Results(*(np.zeros(0, np.int64) for _ in range(6)), readout=np.zeros((0, net.readout.n), np.int64),
                                   exit_step=np.zeros(0, np.int64))
    return SimRun("amaranth", Agreement.of(got, exp, mismatches), int(got.cycles.sum()), int(res.sim_cycles), 0.0, run_s)

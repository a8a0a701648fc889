"""Simulated cycles per second of ``eavs_core`` on Verilator, Icarus and the Amaranth simulator.

The same workload on each: the default capacity (``hw.spec.capacity.Capacity()``,
P = 8), a demo-size model (``bench.rtl_cycles.demo_model``: 576 inputs,
three 64-neuron hidden layers with recurrence, 8 outputs, ~10% input rate;
T = 10 by default so the Python simulators finish in minutes), loaded over the stream and run sample by sample, every sample
checked bit-exact against ``sw.golden`` and the cycle model (a benchmark of
a wrong simulation is worthless). Verilator and Icarus are driven by cocotb
(``sim.cocotb_core``), so their figure includes cocotb's per-cycle Python
work (the AXI models wake on every clock edge); the Amaranth figure is its
Python simulator through ``hw.flow.amaranth_sim``. ``verilator-raw`` drives the
same Verilated model from a C++ harness (``sim/raw_main.cpp``, the demo's
bulk path), the speed of the model itself: at the demo model's own T = 40,
at the default capacity (P = 8) and at the pynq-z2 board's (P = 16, the
demo's default board), per wall second and per CPU second of the harness
(the machine's load average is printed beside it: on a shared machine the
wall figure is lower). Build time is reported apart.

``python -m bench.sim_speed [--samples N] [--simulators verilator-raw,verilator,icarus,amaranth]
[--raw-capacities default,pynq-z2]``
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np

from bench.common import Row

GOAL = 1_000_000  # cycles/s for Verilator at the default capacity (issue 6)


def main(argv: list[str] | None = None) -> list[Row]:
    ap = argparse.ArgumentParser(prog="python -m bench.sim_speed", description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=2, help="samples for Verilator (Icarus and Amaranth run 1)")
    ap.add_argument("--timesteps", type=int, default=10, help="T of the workload (the demo model has 40; fewer keep Icarus/Amaranth short)")
    ap.add_argument("--simulators", default="verilator-raw,verilator,icarus,amaranth")
    ap.add_argument("--raw-capacities", default="default,pynq-z2",
                    help="capacities of the C++-harness run: 'default' (hw.spec.capacity.Capacity(), P=8) and/or board names")
    ap.add_argument("--raw-samples", type=int, default=40, help="samples of the C++-harness run (T = 40)")
    ap.add_argument("--build-dir", default=None, help="reuse builds across runs (default: a temporary directory)")
    args = ap.parse_args(argv or [])

    from bench.rtl_cycles import demo_model
    from hw.spec.boards import get_board
    from hw.spec.capacity import Capacity
    from sim.build import tool_problem
    from sim.compare_run import simulate
    from sw.random_net import random_spikes

    cap = Capacity()
    net = demo_model(seed=0, rate=0.1)
    net.timesteps = args.timesteps  # weights do not depend on T
    net.validate()
    rng = np.random.default_rng(1)
    spikes = random_spikes(rng, net, args.samples, rate=0.1)
    rows: list[Row] = []
    root = args.build_dir or tempfile.mkdtemp(prefix="eavs_sim_speed_")
    for simulator in [s.strip() for s in args.simulators.split(",") if s.strip()]:
        if simulator == "verilator-raw":
            full = demo_model(seed=0, rate=0.1)  # T = 40, as in the demo: this path is fast enough
            x = random_spikes(np.random.default_rng(1), full, args.raw_samples, rate=0.1)
            for name in [c.strip() for c in args.raw_capacities.split(",") if c.strip()]:
                c = cap if name == "default" else get_board(name).capacity
                label = "default capacity" if name == "default" else f"{name} board capacity"
                rows += _raw(full, x, c, f"{root}/raw-{name}", label)
            continue
        if simulator != "amaranth" and tool_problem(simulator):
            print(f"{simulator}: skipped ({tool_problem(simulator)})")
            continue
        x = spikes if simulator == "verilator" else spikes[:1]
        r = simulate(net, x, cap, simulator, build_dir=f"{root}/{simulator}")
        a = r.agreement
        status = "bit-exact" if a.ok else f"MISMATCH ({len(a.mismatches)}): " + "; ".join(a.mismatches[:3])
        print(
            f"{simulator:9s} P={cap.lanes}: {a.exact}/{a.samples} samples {status}; core cycles/sample "
            f"{r.core_cycles / max(1, a.samples):,.0f}; simulated {r.sim_cycles:,} cycles in {r.run_s:.1f} s "
            f"= {r.cycles_per_s:,.0f} cycles/s" + (f"; build {r.build_s:.0f} s" if r.build_s > 0.5 else ""),
            flush=True,
        )
        rows.append(Row("sim_speed", f"{simulator} simulated cycles/s (default capacity, demo model)",
                        r.cycles_per_s, "cycles/s", goal=f">= {GOAL:,} (Verilator)" if simulator == "verilator" else ""))
        if not a.ok:
            raise RuntimeError(f"{simulator} disagrees with sw.golden: {a.mismatches[:5]}")
    return rows


def _raw(net, spikes, cap, build_dir, label: str = "default capacity") -> list[Row]:
    """Verilator's model driven from C++ (sim/raw_main.cpp): no cocotb in the clock loop.

    Runs the demo model at its own T (40) on ``cap``, every sample checked
    against sw.golden (``sim.verilator_raw.verify``); best of three runs.
    Reports cycles per wall second and per CPU second of the harness process
    (the second is what other load on the machine does not change).
    """
    import os
    import time

    from sim.verilator_raw import CXX_OPT, VERILATOR_FLAGS, Job, raw_build, verify

    t0 = time.perf_counter()
    exe = raw_build(cap, build_dir)
    build_s = time.perf_counter() - t0
    best = None
    for _ in range(3):
        results, out = verify(exe, cap, [Job(net, spikes, "demo model")])
        bad = [m for r in results for m in r.agreement.mismatches + r.mismatches]
        if bad or not all(r.ok for r in results):
            raise RuntimeError(f"raw Verilator disagrees with sw.golden: {bad[:5]}")
        if best is None or out.seconds < best.seconds:
            best = out
    wall, cpu = best.cycles / best.seconds, best.cycles / max(best.cpu_seconds, 1e-9)
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"verilator (C++ harness; Verilator {' '.join(VERILATOR_FLAGS)}, C++ {CXX_OPT}) {label} P={cap.lanes}: "
          f"{len(spikes)}/{len(spikes)} samples bit-exact (T={net.timesteps}); simulated {best.cycles:,} cycles in "
          f"{best.seconds:.3f} s = {wall:,.0f} cycles/s wall, {cpu:,.0f} cycles per CPU second; "
          f"load average {load} on {os.cpu_count()} CPUs; build {build_s:.0f} s", flush=True)
    return [
        Row("sim_speed", f"verilator (C++ harness) simulated cycles/s, wall ({label}, P={cap.lanes}, demo model)",
            wall, "cycles/s", goal=f">= {GOAL:,}"),
        Row("sim_speed", f"verilator (C++ harness) simulated cycles per CPU second ({label}, P={cap.lanes}, demo model)",
            cpu, "cycles/s", goal=f">= {GOAL:,}"),
    ]


if __name__ == "__main__":
    main(__import__("sys").argv[1:])

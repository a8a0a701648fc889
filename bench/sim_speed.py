"""Simulated cycles per second of ``eavs_core`` on Verilator, Icarus and the Amaranth simulator.

The same workload on each: the default capacity (``hw.capacity.Capacity()``,
P = 8), a demo-size model (``bench.rtl_cycles.demo_model``: 576 inputs,
three 64-neuron hidden layers with recurrence, 8 outputs, ~10% input rate;
T = 10 by default so the Python simulators finish in minutes), loaded over the stream and run sample by sample, every sample
checked bit-exact against ``sw.golden`` and the cycle model (a benchmark of
a wrong simulation is worthless). Verilator and Icarus are driven by cocotb
(``sim.cocotb_core``), so their figure includes cocotb's per-cycle Python
work (the AXI models wake on every clock edge); the Amaranth figure is its
Python simulator through ``hw.amaranth_sim``. ``verilator-raw`` drives the
same Verilated model from a C++ harness (``sim/raw_main.cpp``), the speed of
the model itself. Build time is reported apart.

``python -m bench.sim_speed [--samples N] [--simulators verilator,icarus,amaranth]``
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
    ap.add_argument("--build-dir", default=None, help="reuse builds across runs (default: a temporary directory)")
    args = ap.parse_args(argv or [])

    from bench.rtl_cycles import demo_model
    from hw.capacity import Capacity
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
            rows.append(_raw(net, spikes, cap, f"{root}/raw"))
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


def _raw(net, spikes, cap, build_dir) -> Row:
    """Verilator's model driven from C++ (sim/raw_main.cpp): no cocotb in the clock loop."""
    import time

    from sim.compare import Agreement, compare_results, expected
    from sim.verilator_raw import raw_build, raw_run

    t0 = time.perf_counter()
    exe = raw_build(cap, build_dir)
    build_s = time.perf_counter() - t0
    x = np.concatenate([spikes] * max(1, 20 // len(spikes)))  # enough cycles to time
    got, cycles, secs = raw_run(exe, net, x, cap)
    exp = expected(net, x, cap).results
    a = Agreement.of(got, exp, compare_results(got, exp, "raw"))
    if not a.ok:
        raise RuntimeError(f"raw Verilator disagrees with sw.golden: {a.mismatches[:5]}")
    print(f"verilator (C++ harness, -O2) P={cap.lanes}: {a.exact}/{a.samples} samples bit-exact; simulated {cycles:,} "
          f"cycles in {secs:.3f} s = {cycles / secs:,.0f} cycles/s; build {build_s:.0f} s", flush=True)
    return Row("sim_speed", "verilator (C++ harness) simulated cycles/s (default capacity, demo model)",
               cycles / secs, "cycles/s", goal=f">= {GOAL:,}")


if __name__ == "__main__":
    main(__import__("sys").argv[1:])

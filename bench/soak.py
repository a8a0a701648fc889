"""Soak: many random samples over random models and capacities, every one bit-exact on Verilator.

A long run of the bulk Verilator path (``sim.verilator_raw``: the C++
harness, no Python in the clock loop) against ``sw.golden`` and the cycle
model ``hw.spec.capacity.sample_cycles``. For each of ``--capacities`` random
capacities (lanes 1..16, memories, widths, T limit) it builds the core,
then runs random models (``sim.scenarios.random_models``: both reset modes,
recurrence, 4- and 8-bit weights, several membrane widths; plus
``sw.random_net.random_qnet`` models with every leak shift) back to back on
the same core, loading each over the last, in batches. Every result record
(prediction, readout membranes, counters, cycles) and the registers after
every batch must equal the golden model's; the run exits 1 otherwise.

Prints the sample count, how many were exact, and the rates: samples/s and
simulated cycles/s of the simulation itself, and samples/s over the whole
run (builds and golden model included). Simulated, on random (synthetic)
models and spikes.

``python -m bench.soak [--samples 10000] [--capacities 3] [--seed 0] [--build-dir DIR]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import Row

__all__ = ["random_capacity", "soak", "main"]


def random_capacity(rng: np.random.Generator):
    """A random but small capacity (small memories keep each Verilator build short)."""
    from hw.spec.capacity import Capacity

    lanes = int(rng.choice([1, 2, 3, 4, 8, 16]))
    return Capacity(
        lanes=lanes,
        max_layers=int(rng.choice([3, 4])),
        max_neurons=int(rng.choice([16, 32])),
        max_sources=3,
        max_inputs=int(rng.choice([32, 64])),
        weight_depth=int(rng.choice([512, 1024])) * max(1, 8 // lanes),
        weight_bits=8,
        v_bits=int(rng.choice([12, 16])),
        max_timesteps=16,
    )


def _models(seed: int, cap, count: int) -> list:
    """``count`` random models that fit ``cap``: covering ones, then free random ones."""
    from sim.scenarios import random_models
    from sw.random_net import random_qnet

    rng = np.random.default_rng(seed + 1)
    models = random_models(seed, cap, min(count, 6), timesteps=int(rng.integers(2, cap.max_timesteps + 1)))
    tries = 0
    while len(models) < count and tries < 50 * count:
        tries += 1
        net = random_qnet(rng, max_inputs=min(cap.max_inputs, 32), max_neurons=min(cap.max_neurons, 24),
                          max_hidden=cap.max_layers - 1, max_sources=cap.max_sources,
                          v_bits=int(rng.choice([8, 12, cap.v_bits])), timesteps=int(rng.integers(1, cap.max_timesteps + 1)))
        if not cap.problems(net) and len(net.inputs) <= cap.max_sources:
            models.append(net)
    return models


def soak(samples: int, capacities: int, seed: int, build_dir: str | Path, *, models_per_capacity: int = 12,
         batch: int = 64, log=print, fixed: list | None = None) -> dict:
    """Run about ``samples`` random samples; return counts, mismatches and timings.

    ``fixed``: use these capacities instead of random ones (a test reuses its build).
    """
    from sim.verilator_raw import Job, raw_build, verify
    from sw.random_net import random_spikes

    rng = np.random.default_rng(seed)
    per_cap = -(-samples // capacities)
    total = exact = cycles = 0
    sim_s = build_s = 0.0
    bad: list[str] = []
    t0 = time.perf_counter()
    if fixed:
        capacities = len(fixed)
        per_cap = -(-samples // capacities)
    for c in range(capacities):
        cap = fixed[c] if fixed else random_capacity(rng)
        tb = time.perf_counter()
        exe = raw_build(cap, Path(build_dir) / f"cap{c}")
        build_s += time.perf_counter() - tb
        nets = _models(seed * 1000 + c, cap, models_per_capacity)
        per_model = -(-per_cap // len(nets))
        jobs = []
        for k, net in enumerate(nets):
            n = min(per_model, per_cap - k * per_model)
            if n <= 0:
                break
            rate = float(rng.choice([0.05, 0.2, 0.5]))
            jobs.append(Job(net, random_spikes(rng, net, n, rate=rate), f"capacity {c} model {k}"))
        results, out = verify(exe, cap, jobs, batch=batch)
        n_cap = sum(len(j.spikes) for j in jobs)
        ok_cap = sum(r.agreement.exact for r in results)
        for r in results:
            bad += r.agreement.mismatches[:5] + r.mismatches[:5]
        total += n_cap
        exact += ok_cap
        cycles += out.cycles
        sim_s += out.seconds
        log(f"capacity {c} ({', '.join(f'{k}={v}' for k, v in cap.to_dict().items())}): {len(jobs)} models, "
            f"{ok_cap}/{n_cap} samples bit-exact; {out.cycles:,} cycles in {out.seconds:.2f} s "
            f"= {out.cycles / max(out.seconds, 1e-9):,.0f} cycles/s")
    return {"samples": total, "exact": exact, "mismatches": bad, "cycles": cycles, "sim_s": sim_s,
            "build_s": build_s, "wall_s": time.perf_counter() - t0}


def main(argv: list[str] | None = None) -> list[Row]:
    ap = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=10_000, help="random samples in all (default 10000)")
    ap.add_argument("--capacities", type=int, default=3, help="random capacities, one Verilator build each")
    ap.add_argument("--models", type=int, default=12, help="random models per capacity")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--build-dir", default=None, help="reuse builds across runs (default: a temporary directory)")
    args = ap.parse_args(argv or [])
    if args.samples < 1 or args.capacities < 1 or args.models < 1:
        ap.error("--samples, --capacities and --models must be positive")
    root = args.build_dir or tempfile.mkdtemp(prefix="eavs_soak_")
    r = soak(args.samples, args.capacities, args.seed, root, models_per_capacity=args.models)
    print(f"soak [simulated, Verilator C++ harness, random models and spikes]: {r['exact']}/{r['samples']} samples "
          f"bit-exact vs sw.golden and the cycle model; simulation {r['samples'] / max(r['sim_s'], 1e-9):,.0f} samples/s, "
          f"{r['cycles'] / max(r['sim_s'], 1e-9):,.0f} cycles/s ({r['cycles']:,} cycles in {r['sim_s']:.1f} s); "
          f"whole run {r['samples'] / r['wall_s']:,.1f} samples/s ({r['wall_s']:.0f} s, of which builds {r['build_s']:.0f} s)",
          flush=True)
    if r["mismatches"] or r["exact"] != r["samples"]:
        for line in r["mismatches"][:20]:
            print(f"  MISMATCH {line}")
        raise SystemExit(1)
    return [
        Row("soak", "random samples bit-exact on Verilator (C++ harness)", r["exact"], "samples", goal=">= 10,000"),
        Row("soak", "soak simulation rate", r["samples"] / max(r["sim_s"], 1e-9), "samples/s"),
    ]


if __name__ == "__main__":
    main(__import__("sys").argv[1:])

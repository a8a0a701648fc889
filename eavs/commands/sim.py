"""``eavs sim``: run a model on the simulated RTL and compare it with the golden model.

The same comparison the verification tests make, for a user's own model and
data: every sample's prediction, readout membranes, counters and cycle count
from Verilator, Icarus or the Amaranth simulator against ``sw.golden`` and
the cycle model; it prints agreement, cycles and simulation speed, and exits
with 1 when anything differs.

``--simulator verilator-bulk`` runs the same Verilated core from the C++
harness (``sim.verilator_raw``: no Python in the clock loop, ~1000x faster
than cocotb) for many samples; it has no random stream pauses or waveforms
(use ``verilator`` for those).
"""

from __future__ import annotations

from pathlib import Path

import typer


def _parse_capacity(spec: str | None, net, lanes: int):
    from hw.flow.amaranth_sim import fitting_capacity
    from hw.spec.capacity import Capacity, CapacityError

    if spec is None:
        return fitting_capacity(net, lanes)
    fields = {}
    for part in [p for p in spec.split(",") if p.strip()]:
        if "=" not in part:
            raise CapacityError(f"--capacity: {part!r} is not NAME=VALUE (e.g. lanes=8,max_neurons=256)")
        k, v = part.split("=", 1)
        try:
            fields[k.strip()] = int(v)
        except ValueError:
            raise CapacityError(f"--capacity: {k.strip()}={v!r} is not an integer") from None
    return Capacity.from_dict(fields, "--capacity")


def _load_spikes(data: str, net, clips: int, cache_dir: Path | None):
    """Spikes ``[N, T, N_in]`` for ``net`` from a data spec or an .npz of spikes."""
    import numpy as np

    path = Path(data[4:] if data.startswith("npz:") else data)
    if data.startswith("npz:") or path.suffix == ".npz":
        if not path.is_file():
            raise FileNotFoundError(f"--data {data}: no such file")
        with np.load(path, allow_pickle=False) as z:
            key = next((k for k in ("spikes", "x") if k in z.files), None)
            if key is None:
                raise ValueError(f"--data {path}: no 'spikes' or 'x' array (it has {z.files})")
            x = z[key]
        if x.ndim == 2:
            x = x[None]
        if x.ndim != 3 or x.shape[1:] != (net.timesteps, net.n_inputs):
            raise ValueError(
                f"--data {path}: array {key!r} has shape {list(x.shape)}, the model needs [N, {net.timesteps}, {net.n_inputs}]"
            )
        return x[:clips]
    from sw.data import load_encoded
    from sw.encode import encoders_from_inputs

    es = load_encoded(data, encoders_from_inputs(net.inputs), cache_dir=None if cache_dir is None else str(cache_dir))
    have = [(g.name, g.size) for g in es.inputs]
    want = [(g.name, g.size) for g in net.inputs]
    if have != want:
        raise ValueError(f"--data {data}: encoded input groups {have} differ from the model's {want}")
    if len(es.x) == 0:
        raise ValueError(f"--data {data}: no usable clips")
    return es.x[:clips]


def _run_bulk(label: str, net, x, cap, build_dir: Path | None) -> bool:
    """``--simulator verilator-bulk``: every sample through the C++ harness; prints the verdict."""
    from sim.build import ROOT
    from sim.verilator_raw import BulkSim

    tag = "-".join(str(v) for v in cap.to_dict().values())
    bdir = Path(build_dir) / f"bulk-{tag}" if build_dir else ROOT / "build" / "sim-bulk" / tag
    sim = BulkSim.build(cap, bdir)
    res, out = sim.run(net, x, label=label)
    a = res.agreement
    typer.echo(
        f"{label} on verilator-bulk (P={cap.lanes}): {a.exact}/{a.samples} samples bit-exact, "
        f"{a.predictions_equal}/{a.samples} predictions equal; registers after each batch "
        f"{'equal' if not res.mismatches else 'DIFFER'}; core cycles {a.cycles} ({a.cycles / max(1, a.samples):.0f}/sample); "
        f"simulated {out.cycles} cycles in {out.seconds:.2f} s = {out.cycles / max(out.seconds, 1e-9):,.0f} cycles/s"
        + (f" (build {sim.build_s:.1f} s)" if sim.build_s > 0.5 else "")
    )
    lines = a.mismatches + res.mismatches
    for line in lines[:30]:
        typer.echo(f"  MISMATCH {line}")
    if len(lines) > 30:
        typer.echo(f"  ... {len(lines) - 30} more")
    return res.ok


def register(app: typer.Typer) -> None:
    @app.command("sim")
    def sim_cmd(
        model: Path = typer.Option(None, "--model", help="An integer model (.qnet)."),
        data: str = typer.Option(None, "--data", help="builtin:DIR | ravdess:DIR | cremad:DIR, or an .npz with 'spikes' [N, T, N_in]."),
        simulator: str = typer.Option("verilator", "--simulator", help="verilator | verilator-bulk | icarus | amaranth"),
        clips: int = typer.Option(4, "--clips", min=1, help="How many samples to run."),
        random: bool = typer.Option(False, "--random", help="Use random models and spikes instead of --model/--data."),
        models: int = typer.Option(3, "--models", min=1, help="With --random: how many random models."),
        lanes: int = typer.Option(8, "--lanes", min=1, help="P, when --capacity is not given."),
        capacity: str = typer.Option(None, "--capacity", help="Core capacity NAME=VALUE,... (default: the smallest that fits)."),
        seed: int = typer.Option(0, "--seed"),
        pauses: float = typer.Option(0.0, "--pauses", min=0.0, max=0.95, help="Random stream idles/backpressure per cycle."),
        build_dir: Path = typer.Option(None, "--build-dir", help="Where to build (reused across runs)."),
        cache_dir: Path = typer.Option(None, "--cache-dir", help="Encoded-data cache."),
        waves: bool = typer.Option(False, "--waves", help="Dump FST waveforms into the build directory."),
    ) -> None:
        """Run samples through the simulated core and compare every one with sw.golden."""
        import numpy as np

        from sim.compare_run import SIMULATORS, simulate

        bulk = simulator == "verilator-bulk"
        if simulator not in SIMULATORS and not bulk:
            raise ValueError(f"--simulator must be one of {', '.join(SIMULATORS)}, verilator-bulk, not {simulator!r}")
        if bulk and (pauses or waves):
            raise ValueError("--simulator verilator-bulk has no --pauses or --waves (use --simulator verilator)")
        jobs = []
        if random:
            from sim.scenarios import random_models, test_capacity
            from sw.random_net import random_spikes

            cap = _parse_capacity(capacity, None, lanes) if capacity else test_capacity(lanes)
            rng = np.random.default_rng(seed)
            for k, net in enumerate(random_models(seed, cap, models)):
                jobs.append((f"random model {k}", net, random_spikes(rng, net, clips), cap))
        else:
            if model is None or data is None:
                raise ValueError("give --model and --data, or --random")
            from sw.qnet import load

            net = load(model)
            x = _load_spikes(data, net, clips, cache_dir)
            jobs.append((str(model), net, x, _parse_capacity(capacity, net, lanes)))

        failed = False
        if bulk:
            for label, net, x, cap in jobs:
                failed |= not _run_bulk(label, net, x, cap, build_dir)
            if failed:
                raise typer.Exit(1)
            return
        for label, net, x, cap in jobs:
            r = simulate(net, x, cap, simulator, build_dir=build_dir, seed=seed, pauses=pauses, waves=waves or None)
            a = r.agreement
            typer.echo(
                f"{label} on {simulator} (P={cap.lanes}): {a.exact}/{a.samples} samples bit-exact, "
                f"{a.predictions_equal}/{a.samples} predictions equal; core cycles {r.core_cycles} "
                f"({r.core_cycles / max(1, a.samples):.0f}/sample; cycle model {'matched' if a.ok else 'see below'}); "
                f"simulated {r.sim_cycles} cycles in {r.run_s:.1f} s = {r.cycles_per_s:,.0f} cycles/s"
                + (f" (build {r.build_s:.1f} s)" if r.build_s > 0.5 else "")
            )
            for line in a.mismatches[:30]:
                typer.echo(f"  MISMATCH {line}")
            if len(a.mismatches) > 30:
                typer.echo(f"  ... {len(a.mismatches) - 30} more")
            failed |= not a.ok
        if failed:
            raise typer.Exit(1)

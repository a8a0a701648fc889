"""The demo's steps: what each stage of ``eavs demo`` computes, in order (:data:`STEPS`).

Each step is a function of a :class:`Context` (the config, the run
directory, earlier steps' results) that reads the files earlier steps wrote
into the run directory, writes its own into ``RUN_DIR/<step>/`` and returns
its result as plain JSON numbers. A :class:`Step` names the config fields,
upstream steps and source files its result depends on, which is all
:mod:`eavs.pipeline` (the runner) needs to plan, cache and run it.

The steps call the project's stage APIs (``sw.data``, ``sw.train``,
``sw.export``, ``sw.golden``, ``sim``, ``hw.flow.estimate``, ``sw.energy``);
nothing here re-implements a stage. A step that cannot run here raises
:class:`NotAvailable` with the reason (the report shows it instead of a
figure). Adding a step: write ``step_<name>``, add it to :data:`STEPS`, and
add ``section_<name>`` to :data:`eavs.report.SECTIONS`.
"""

from __future__ import annotations

import fcntl
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from tqdm import tqdm

from eavs import report
from eavs.demo_config import AV, VARIANTS, DemoConfig
from host import open_backend
from host.driver import COUNTER_FIELDS
from host.rtl import default_build_dir
from hw.flow.build import build
from hw.flow.estimate import analytic_estimate
from hw.spec.boards import get_board, parse_capacity_overrides
from hw.spec.capacity import ideal_utilisation
from hw.spec.expected import expected_results
from hw.spec.protocol import result_words
from sim.build import build_core
from sim.verilator_raw import BulkSim
from sw import golden, qnet
from sw.data import load_encoded
from sw.data.synth import GENERATOR_VERSION, synthesize
from sw.encode import AudioEncoder, VisualEncoder
from sw.energy import estimate
from sw.export import export_checkpoint, load_checkpoint, select_inputs
from sw.model import CASCADE, ModelConfig
from sw.qnet import describe_decay
from sw.train import TrainConfig, TrainData, load_data, save_npz, split_data, train

__all__ = ["Context", "NotAvailable", "Step", "STEPS", "STEP_NAMES", "encoded_path", "load_encoded_run"]


class NotAvailable(Exception):
    """A stage cannot run here (switched off, tool missing); the reason is shown."""


@dataclass
class Context:
    """What a step sees: the config, the run directory and earlier results."""

    cfg: DemoConfig
    run_dir: Path
    results: dict[str, dict]
    log: Callable[[str], None] = print
    futures: dict[str, Any] = field(default_factory=dict)

    def prepared(self, step: str) -> Any:
        """What the step's ``prepare`` returned (waiting for it); runs it now if it was not started."""
        fut = self.futures.get(step)
        if fut is None:
            step_obj = next(s for s in STEPS if s.name == step)
            return step_obj.prepare(self)
        return fut.result()

    def dir(self, step: str) -> Path:
        d = self.run_dir / step
        d.mkdir(parents=True, exist_ok=True)
        return d

    @property
    def cache(self) -> Path:
        c = Path(self.cfg.cache_dir) if self.cfg.cache_dir else self.run_dir / "cache"
        c.mkdir(parents=True, exist_ok=True)
        return c


@dataclass(frozen=True)
class Step:
    """One named stage: what it depends on and the function that runs it.

    ``params`` lists the config fields the step's result depends on;
    ``after`` the steps whose outputs it reads (their keys enter its key, and
    it is skipped when one of them did not produce results); ``code`` the
    source files (globs relative to the repository) of the stage it runs, so
    a changed stage implementation invalidates its cached result too.

    ``background`` steps (they read no other step's files) run in a thread
    from the start of the run, beside the others; ``prepare`` starts a
    step's slow set-up (building the simulated core) in a thread at the start
    so that it overlaps the steps before it.
    """

    name: str
    title: str
    params: tuple[str, ...]
    after: tuple[str, ...]
    fn: Callable[[Context], dict]
    always: bool = False
    code: tuple[str, ...] = ()
    background: bool = False
    prepare: Callable[[Context], Any] | None = None


# 1. data ------------------------------------------------------------------------------


def step_data(ctx: Context) -> dict:
    cfg = ctx.cfg
    if cfg.data != "builtin":
        kind, _, where = cfg.data.partition(":")
        if not Path(where).is_dir():
            raise FileNotFoundError(f"data spec {cfg.data!r}: {where} is not a directory")
        return {"spec": cfg.data, "synthetic": False}
    corpus = ctx.cache / f"corpus-v{GENERATOR_VERSION}-c{cfg.clips}-a{cfg.actors}-s{cfg.seed}"
    t0 = time.perf_counter()
    ctx.log(f"synthesising {cfg.clips} clips of {cfg.actors} actors into {corpus} (reused when present)")
    synthesize(corpus, clips=cfg.clips, seed=cfg.seed, actors=cfg.actors, workers=cfg.workers, progress=True)
    return {"spec": f"builtin:{corpus}", "synthetic": True, "corpus": str(corpus), "synth_s": round(time.perf_counter() - t0, 1)}


# 2. encode ----------------------------------------------------------------------------


def _encoders(cfg: DemoConfig) -> list:
    return [AudioEncoder(**{"timesteps": cfg.timesteps, **cfg.audio}), VisualEncoder(**{"timesteps": cfg.timesteps, **cfg.visual})]


def encoded_path(run_dir: Path) -> Path:
    return Path(run_dir) / "encode" / "encoded.npz"


def step_encode(ctx: Context) -> dict:
    spec = ctx.results["data"]["spec"]
    es = load_encoded(spec, _encoders(ctx.cfg), cache_dir=str(ctx.cache / "encoded"), progress=True)
    data = TrainData(x=np.asarray(es.x, np.uint8), y=np.asarray(es.y, np.int64), actors=np.asarray(es.actors, np.int64),
                     classes=list(es.classes), inputs=list(es.inputs))  # fmt: skip
    if len(data.x) == 0:
        raise ValueError(f"data spec {spec!r}: no usable clips ({len(es.skipped)} skipped)")
    save_npz(encoded_path(ctx.run_dir), data)
    tr, va, te = split_data(data, ctx.cfg.seed)
    split = {"train": [int(i) for i in tr], "val": [int(i) for i in va], "test": [int(i) for i in te]}
    (ctx.dir("encode") / "split.json").write_text(json.dumps(split))
    (ctx.dir("encode") / "intensity.json").write_text(json.dumps([int(i) for i in np.asarray(es.intensity)]))
    skipped = [[str(p), str(r)] for p, r in getattr(es, "skipped", [])]
    if skipped:
        (ctx.dir("encode") / "skipped.json").write_text(json.dumps(skipped, indent=1))
    inputs = {g.name: int(g.size) for g in data.inputs}
    return {
        "spec": spec,
        "clips": int(len(data.x)),
        "actors": int(len(np.unique(data.actors))),
        "classes": list(data.classes),
        "class_counts": {c: int((data.y == i).sum()) for i, c in enumerate(data.classes)},
        "skipped": len(skipped),
        "split": {k: len(v) for k, v in split.items()},
        "split_actors": {k: sorted(int(a) for a in np.unique(data.actors[np.asarray(v, np.int64)])) for k, v in split.items()},
        "inputs": inputs,
        "timesteps": int(data.x.shape[1]),
        "input_rate": float(data.x.mean()),
    }


def load_encoded_run(run_dir: Path):
    """The run's encoded data set and its split (``sw.train.TrainData``, dict of index arrays)."""
    data = load_data(f"npz:{encoded_path(run_dir)}")
    split = json.loads((Path(run_dir) / "encode" / "split.json").read_text())
    return data, {k: np.asarray(v, np.int64) for k, v in split.items()}


def load_encoded_intensity(run_dir: Path) -> np.ndarray | None:
    """Each encoded clip's intensity (RAVDESS 1 normal / 2 strong), when the encode step recorded it."""
    path = Path(run_dir) / "encode" / "intensity.json"
    return np.asarray(json.loads(path.read_text()), np.int64) if path.is_file() else None


# 3. train -----------------------------------------------------------------------------


def step_train(ctx: Context) -> dict:
    cfg = ctx.cfg
    data, split = load_encoded_run(ctx.run_dir)
    out = {}
    for name, mods in cfg.variants().items():
        ctx.log(f"training {name} ({cfg.epochs} epochs, {cfg.bits}-bit weights)")
        tcfg = TrainConfig(
            data=f"npz:{encoded_path(ctx.run_dir)}", out=str(ctx.dir("train") / name.replace("+", "_")),
            epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, bits=cfg.bits, modalities=mods,
            seed=cfg.seed, split_seed=cfg.seed, audio_hidden=cfg.audio_hidden, visual_hidden=cfg.visual_hidden,
            fusion_hidden=cfg.fusion_hidden, device="cpu", progress=True,
            model_overrides=dict(CASCADE) if cfg.adaptive and name == AV else {},
            # One thread: torch's per-op threading costs more than it gains on these small
            # tensors, and collapses when other processes share the cores.
            threads=1,
        )  # fmt: skip
        summary = train(tcfg, data=data, log=ctx.log)
        out[name] = {
            "checkpoint": str(summary["best"]),
            "best_val_acc": float(summary["best_val_acc"]),
            "test_acc_torch": float(summary.get("test_acc", float("nan"))),
            "seconds": round(float(summary["seconds"]), 1),
        }
    return {"variants": out, "epochs": cfg.epochs, "bits": cfg.bits}


# 4. export ----------------------------------------------------------------------------


def step_export(ctx: Context) -> dict:
    out = {}
    for name, v in ctx.results["train"]["variants"].items():
        path = ctx.dir("export") / f"{name.replace('+', '_')}.qnet"
        net = export_checkpoint(v["checkpoint"], path)
        out[name] = {
            "qnet": str(path),
            "layers": [{"name": layer.name, "n": layer.n, "threshold": int(layer.threshold), "decay": describe_decay(layer),
                        "sources": [s.name for s in layer.sources]} for layer in net.layers],  # fmt: skip
            "weights": int(sum(s.weight.size for layer in net.layers for s in layer.sources)),
            "bytes": path.stat().st_size,
        }
    return {"models": out}


# 5. evaluate --------------------------------------------------------------------------


def board_capacity(cfg: DemoConfig):
    """The board and the capacity the demo targets (board default + overrides)."""
    board = get_board(cfg.board)
    return board, parse_capacity_overrides(cfg.capacity, board.capacity)


def _golden_on_test(run_dir: Path, qnet_path: str):
    data, split = load_encoded_run(run_dir)
    net = qnet.load(qnet_path)
    te = split["test"]
    x = select_inputs(data.x[te], data.inputs, net)
    return net, data, te, x, golden.run(net, x)


def step_evaluate(ctx: Context) -> dict:
    models = ctx.results["export"]["models"]
    net, data, te, x, g = _golden_on_test(ctx.run_dir, models[AV]["qnet"])
    y = data.y[te]
    classes = list(net.classes)
    n = len(classes)
    cm = np.zeros((n, n), np.int64)
    np.add.at(cm, (y, g.prediction), 1)
    support = cm.sum(axis=1)
    recall = {c: (float(cm[i, i] / support[i]) if support[i] else None) for i, c in enumerate(classes)}
    acc = float((g.prediction == y).mean())
    np.savez_compressed(ctx.dir("evaluate") / "golden_test.npz", prediction=g.prediction, readout=g.readout,
                        layer_events=g.layer_events, synaptic_ops=g.synaptic_ops, test_index=te)  # fmt: skip

    # torch (integer-exact eval mode) against golden, clip by clip
    torch_agree = _torch_vs_golden(ctx.results["train"]["variants"][AV]["checkpoint"], net, x, g)

    mod_acc = {AV: acc}
    for name, m in models.items():
        if name != AV:
            _, _, _, _, gm = _golden_on_test(ctx.run_dir, m["qnet"])
            mod_acc[name] = float((gm.prediction == y).mean())

    T = net.timesteps
    rates = {"input": float(g.input_spikes.mean() / (T * net.n_inputs))}
    for li, layer in enumerate(net.layers):
        if layer.spiking:
            rates[layer.name] = float(g.layer_spikes[:, li].mean() / (T * layer.n))
    counts = {
        "input_spikes": float(g.input_spikes.mean()),
        **{f"{layer.name}_spikes": float(g.layer_spikes[:, li].mean()) for li, layer in enumerate(net.layers) if layer.spiking},
        "synaptic_ops": float(g.synaptic_ops.mean()),
        "neuron_updates": int(g.neuron_updates[0]),
    }

    # one clip's raster: the first correctly classified test clip (else the first)
    right = np.flatnonzero(g.prediction == y)
    k = int(right[0]) if right.size else 0
    layers = [{"name": "input", "n": net.n_inputs, "events": np.argwhere(x[k]).tolist()}]
    for layer in net.layers:
        if layer.spiking:
            layers.append({"name": layer.name, "n": layer.n, "events": np.argwhere(g.spikes[layer.name][k]).tolist()})
    raster = {"clip": int(te[k]), "label": classes[int(y[k])], "prediction": classes[int(g.prediction[k])], "timesteps": T, "layers": layers}

    board, cap = board_capacity(ctx.cfg)
    problems = cap.problems(net)
    cyc = expected_results(net, g, x, cap.lanes).cycles  # the cycle model, with any early exit
    util = ideal_utilisation(g.synaptic_ops, cyc, cap.lanes)
    clock = board.clock_hz
    # Stream words per inference: every input event and T end-of-step markers in, one result record out.
    io_words = g.input_spikes.astype(np.float64) + T + result_words(net.readout.n)
    cycles = {
        "board": board.name, "lanes": cap.lanes, "clock_mhz": board.clock_mhz,
        "clock_source": "assumed: the board's target clock in boards.toml, not timed",
        "mean": float(cyc.mean()), "min": int(cyc.min()), "max": int(cyc.max()),
        "latency_s_mean": float(cyc.mean() / clock), "latency_s_max": float(cyc.max() / clock),
        "throughput_per_s": float(clock / cyc.mean()), "utilisation_mean": float(np.mean(util)),
        "io_words_mean": float(io_words.mean()), "with_io_mean": float((cyc + io_words).mean()),
        "fits": not problems, "problems": problems,
    }  # fmt: skip
    return {
        "kind": "measured", "n_test": int(len(te)), "accuracy": acc, "chance": 1.0 / n, "classes": classes,
        "confusion": cm.tolist(), "recall": recall, "support": {c: int(s) for c, s in zip(classes, support)},
        "torch_agree": torch_agree, "modality_accuracy": mod_acc if len(mod_acc) > 1 else {},
        "spike_rates": rates, "counts": counts, "raster": raster, "cycles": cycles,
    }  # fmt: skip


def _torch_vs_golden(checkpoint: str, net, x: np.ndarray, g) -> dict:
    """Clips on which torch eval predicts the golden class, and on which every layer's spikes are equal.

    A model trained with the cascade's audio head (``net.cascade``) is checked
    on both stages: the head's layers against golden on the first stage."""
    from sw.cascade import stage_inputs

    model, _ = load_checkpoint(checkpoint)
    first = golden.run(net.cascade, stage_inputs(net, net.cascade, x)) if net.cascade is not None else None
    equal = spikes_equal = 0
    with torch.no_grad():
        for a in range(0, len(x), 128):
            out = model(torch.from_numpy(x[a : a + 128].astype(np.uint8)))
            pred = out["prediction"].numpy()
            equal += int((pred == g.prediction[a : a + 128]).sum())
            same = np.ones(len(pred), bool)
            for name, s in out["spikes"].items():
                ref = g.spikes[name] if name in g.spikes else first.spikes[name]
                same &= (s.numpy().astype(bool) == ref[a : a + 128]).all(axis=(1, 2))
            same &= (out["readout"].numpy().astype(np.int64) == g.readout[a : a + 128]).all(axis=1)
            if first is not None:
                same &= (out["audio_head"]["readout"].numpy().astype(np.int64) == first.readout[a : a + 128]).all(axis=1)
            spikes_equal += int(same.sum())
    return {"clips": int(len(x)), "equal": equal, "spikes_equal": spikes_equal}


# 6. simulate --------------------------------------------------------------------------


def simulated_capacity(cfg: DemoConfig):
    """The capacity the RTL simulation is built for (see ``DemoConfig.sim_capacity``).

    ``model``: the board's capacity with every limit except lanes and widths
    lowered to the next power of two above what the configured network needs
    (its shape follows from the config alone, so the core can be built
    before training ends). Never above the board's own limits.
    """

    _, cap = board_capacity(cfg)
    if cfg.sim_capacity == "board":
        return cap
    inputs = {e.kind: e.size for e in _encoders(cfg)}
    mc = ModelConfig(inputs=inputs, timesteps=cfg.timesteps, audio_hidden=cfg.audio_hidden,
                     visual_hidden=cfg.visual_hidden, fusion_hidden=cfg.fusion_hidden)  # fmt: skip
    specs = mc.layer_specs()
    sizes = {**inputs, **{s.name: s.n for s in specs}}
    words = sum(sizes[src] * math.ceil(s.n / cap.lanes) for s in specs for src, _ in s.sources)

    def p2(n: int) -> int:
        return 1 << max(0, int(n) - 1).bit_length()

    want = {
        "max_layers": len(specs),
        "max_neurons": p2(max(max(s.n for s in specs), 8)),
        "max_sources": max(len(s.sources) for s in specs),
        "max_inputs": p2(sum(inputs.values())),
        "weight_depth": p2(words),
        "max_timesteps": p2(cfg.timesteps),
    }
    return cap.replace(**{k: min(v, getattr(cap, k)) for k, v in want.items()})


def prepare_simulate(ctx: Context) -> Any:
    """Build the core for the board's capacity and start its simulation (while training runs).

    Verilator: the bulk C++ harness (``sim.verilator_raw.BulkSim``) that runs
    every test clip with no Python in the clock loop. Icarus: the open RTL
    back-end (``host.open_backend("rtl")``: the board driver's own code on
    the simulated core, through cocotb), for ``sim_clips`` clips.
    """
    cfg = ctx.cfg
    if cfg.sim_clips == 0:
        raise NotAvailable("sim_clips is 0: RTL simulation switched off")
    cap = simulated_capacity(cfg)
    t0 = time.perf_counter()

    if cfg.simulator == "verilator":
        ctx.log(f"(background) building the core's C++ Verilator harness at P = {cap.lanes}")
        bdir = Path(default_build_dir(cap, "verilator-bulk"))
        bdir.mkdir(parents=True, exist_ok=True)
        with open(bdir / ".build.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            sim = BulkSim.build(cap, bdir)
        ctx.log(f"(background) Verilator harness ready after {time.perf_counter() - t0:.0f} s ({bdir})")
        return sim
    ctx.log(f"(background) building the core for {cfg.simulator} at P = {cap.lanes} and starting its simulation")
    # Build first, with no deadline (a loaded machine can take many minutes), into the
    # back-end's own build folder, under the same lock its server takes; opening the
    # back-end then finds the build up to date.
    bdir = Path(default_build_dir(cap, cfg.simulator))
    bdir.mkdir(parents=True, exist_ok=True)
    with open(bdir / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        build_core(cap, cfg.simulator, bdir)
    ctx.log(f"(background) core built for {cfg.simulator} in {time.perf_counter() - t0:.0f} s ({bdir})")
    be = open_backend("rtl", capacity=cap, simulator=cfg.simulator)
    ctx.log(f"(background) RTL simulation of the core ready after {time.perf_counter() - t0:.0f} s")
    return be


def step_simulate(ctx: Context) -> dict:
    """Run test clips through the simulated core; compare every field with golden and the cycle model.

    Verilator runs EVERY test clip (the C++ harness, ``sim.verilator_raw``;
    the registers after each batch are checked too); Icarus, through cocotb,
    the first ``sim_clips``. ``verdict`` says "bit-exact on N/M held-out
    clips" (N clips run and equal in every field, M = the test split).
    """

    cfg = ctx.cfg
    net, data, te, x, g = _golden_on_test(ctx.run_dir, ctx.results["export"]["models"][AV]["qnet"])
    board, board_cap = board_capacity(cfg)
    cap = simulated_capacity(cfg)
    t0 = time.perf_counter()
    be = ctx.prepared("simulate")
    extra: list[str] = []
    speed: dict = {}
    if getattr(be, "bulk", False):
        k = len(te)
        ctx.log(f"RTL ({cfg.simulator}, C++ harness): all {k} test clips")
        job, out = be.run(net, np.ascontiguousarray(x))
        got = job.results
        if len(got.prediction) != k:
            raise RuntimeError(f"RTL simulation returned {len(got.prediction)} result records for {k} test clips")
        rtl = {"prediction": got.prediction, "readout": got.readout, "cycles": got.cycles, "errors": got.errors,
               "counters": {c: getattr(got, c) for c in COUNTER_FIELDS}}  # fmt: skip
        extra = list(job.mismatches)  # model load and registers after each batch
        speed = {"sim_cycles": int(out.cycles), "sim_s": round(out.seconds, 3), "sim_cycles_per_s": round(out.cycles / max(out.seconds, 1e-9)),
                 "path": "Verilator, C++ harness (sim/raw_main.cpp)"}  # fmt: skip
    else:

        k = min(cfg.sim_clips, len(te))
        rows = []
        be.load_model(net)
        for i in tqdm(range(k), desc=f"RTL ({cfg.simulator})", unit="clip"):
            rows.append(be.infer_batch(np.ascontiguousarray(x[i : i + 1]).astype(np.uint8)))
        speed = {"path": f"{cfg.simulator}, cocotb (host RTL back-end)"}
        rtl = {
            "prediction": np.concatenate([r.prediction for r in rows]),
            "readout": np.concatenate([r.readout for r in rows]),
            "cycles": np.concatenate([r.cycles for r in rows]),
            "errors": np.concatenate([r.errors for r in rows]),
            "counters": {c: np.concatenate([r.counters[c] for r in rows]) for c in rows[0].counters},
        }
    wall = time.perf_counter() - t0
    # what the core must report: hw.spec.expected (the one definition)
    exp = expected_results(net, g, x, cap.lanes)
    model_cycles = exp.cycles[:k]
    gold_counters = {c: getattr(exp, c) for c in COUNTER_FIELDS}
    mismatches = []
    cycles_equal = exact = 0
    for i in range(k):
        before = len(mismatches)
        clip = int(te[i])
        checks = [
            ("prediction", int(exp.prediction[i]), int(rtl["prediction"][i])),
            ("readout", exp.readout[i].tolist(), np.asarray(rtl["readout"][i]).astype(np.int64).tolist()),
            ("cycles", int(model_cycles[i]), int(rtl["cycles"][i])),
            ("errors", 0, int(rtl["errors"][i])),
        ]
        for name, gold in gold_counters.items():
            if name in rtl["counters"]:
                checks.append((name, int(gold[i]), int(rtl["counters"][name][i])))
        for name, gold, got in checks:
            if gold != got:
                mismatches.append({"clip": clip, "field": name, "golden": gold, "rtl": got})
        cycles_equal += int(model_cycles[i]) == int(rtl["cycles"][i])
        exact += len(mismatches) == before
    mismatches += [{"clip": None, "field": "registers", "golden": None, "rtl": m} for m in extra]
    compared = ["prediction", "readout", "cycles", "errors"] + sorted(set(rtl["counters"]) & set(gold_counters))
    n_test = int(len(te))
    ok = not mismatches and exact == k
    verdict = (f"bit-exact on {exact}/{n_test} held-out clips" if ok
               else f"NOT bit-exact: {exact} of {k} simulated clips equal ({n_test} held out)")  # fmt: skip
    return {
        "kind": "simulated", "simulator": cfg.simulator, "clips": k, "lanes": cap.lanes, "board": board.name,
        "capacity": cap.to_dict(), "capacity_is_board": cap == board_cap,
        "bit_exact": ok, "mismatches": mismatches, "cycles_equal": cycles_equal,
        "n_test": n_test, "exact_clips": exact, "all_clips": k == n_test, "verdict": verdict,
        "compared": compared + (["registers"] if getattr(be, "bulk", False) else []), "wall_s": round(wall, 1),
        "rtl_cycles": [int(c) for c in rtl["cycles"]], **speed,
    }  # fmt: skip


# 7. resources -------------------------------------------------------------------------


def step_resources(ctx: Context) -> dict:
    """``hw.flow.build.build`` for the board: Vivado when on PATH, else the Yosys ``synth_xilinx`` estimate
    (ECP5 boards: the open flow's real place and route)."""
    cfg = ctx.cfg
    if cfg.resources == "none":
        raise NotAvailable("resource estimate switched off (resources = none)")
    board, cap = board_capacity(cfg)
    budget = {k: v for k, v in board.resources.to_dict().items() if k != "bram_kbits"}
    if cfg.resources == "analytic":
        est, per_memory = analytic_estimate(cap, board.resources.bram_kbits)
        used = {k: v for k, v in est.to_dict().items() if k in budget}
        return {
            "kind": "estimated", "tool": "hw.flow.estimate analytic model", "board": board.name, "part": board.part,
            "lanes": cap.lanes, "used": used, "budget": budget,
            "note": "Analytic estimate (no synthesis; `--set resources=synth` runs Yosys or Vivado): block RAM is "
                    "the exact count of the core's memories (" + ", ".join(f"{k} {v:g}" for k, v in per_memory.items() if v)
                    + "), LUT/FF a per-lane model fitted to Yosys runs of the core.",
        }  # fmt: skip
    rep = build(board.name, out_dir=ctx.dir("resources"), capacity=cfg.capacity or None, progress=ctx.log)
    out = {"board": board.name, "part": board.part, "lanes": cap.lanes, "budget": budget}
    viv = rep.get("vivado") or {}
    if viv.get("ran") and viv.get("used"):
        out.update(kind="measured", tool="Vivado (post-implementation utilisation)", used=viv["used"])
        out["note"] = f"Vivado ran: bitstream in {viv.get('bitstream', viv.get('project'))}."
    elif rep.get("yosys"):
        y = rep["yosys"]
        out.update(kind="estimated", tool=y.get("tool", "yosys synth_xilinx"), used=y["used"], seconds=y.get("seconds"))
        out["note"] = (
            f"Yosys synth_xilinx -family {board.family} estimate of the core alone (out of context; Vivado maps "
            f"differently, typically by tens of percent in LUTs). {viv.get('note', '')}"
        )
    elif rep.get("ecp5"):
        e = rep["ecp5"]
        out.update(kind="measured", tool="yosys + nextpnr-ecp5 (placed and routed)", used=e["used"], fmax_mhz=e.get("fmax_mhz"))
        out["note"] = f"ECP5 bitstream built; nextpnr Fmax {e.get('fmax_mhz')} MHz."
    else:
        raise NotAvailable(f"hw.flow.build produced no utilisation for {board.name} (report keys: {sorted(rep)})")
    out["used"] = {k: v for k, v in out["used"].items() if k in out["budget"] and k != "bram_kbits"}
    return out


# 8. energy ----------------------------------------------------------------------------


def step_energy(ctx: Context) -> dict:
    net, data, te, x, g = _golden_on_test(ctx.run_dir, ctx.results["export"]["models"][AV]["qnet"])
    _, cap = board_capacity(ctx.cfg)
    rep = estimate(net, g.synaptic_ops, g.neuron_updates, g.layer_events, lanes=cap.lanes)
    d = rep.to_dict()
    snn_j, ann_j = float(d["snn_energy_pj"]) * 1e-12, float(d["ann_energy_pj"]) * 1e-12
    return {
        "kind": str(d.get("kind", "estimated")), "snn_j": snn_j, "ann_j": ann_j, "ratio": ann_j / snn_j if snn_j else None,
        "synaptic_ops": float(d["synaptic_ops"]), "ann_macs": int(d["ann_macs"]), "neuron_updates": float(d["neuron_updates"]),
        "source": str(d.get("source", "sw.energy")), "clips": int(len(te)), "lanes": cap.lanes,
        "terms": d.get("terms"), "details": {k: v for k, v in d.items() if k.endswith(("_pj", "_bits", "activations"))},
    }  # fmt: skip


# 8b. adaptive inference -----------------------------------------------------------------


def step_adaptive(ctx: Context) -> dict:
    """Calibrate the cascade's gate and early exit on the validation split,
    then measure them on the test clips against the fixed-cost run (eavs.adaptive)."""
    from eavs.adaptive import measure
    from sw.adaptive import calibrate_cascade

    net = qnet.load(ctx.results["export"]["models"][AV]["qnet"])
    if not ctx.cfg.adaptive or net.cascade is None:
        return {"skipped": "the demo config says adaptive = false: no audio head was trained"}
    data, split = load_encoded_run(ctx.run_dir)
    _, cap = board_capacity(ctx.cfg)
    x = select_inputs(data.x, data.inputs, net)
    va, te = split["val"], split["test"]
    cal = calibrate_cascade(net, x[va], data.y[va], cap.lanes, 0.5)
    for line in cal.lines():
        ctx.log(line)
    net.cascade.exit, net.exit = cal.rules()
    path = qnet.save(net, ctx.dir("adaptive") / "av8_adaptive.qnet")
    strong = load_encoded_intensity(ctx.run_dir)
    m = measure(net, x[te], data.y[te], cap.lanes, strong=None if strong is None else strong[te] == 2)
    fronts = {fam: [[p.energy_pj / 1e3, p.accuracy] for p in cal.front(fam)] for fam in ("exit", "cascade", "both")}
    c = cal.chosen
    return {
        "kind": "estimated energy (sw.energy); validation split for the curves, test split for the figures",
        "qnet": str(path), "fronts": fronts, "fixed": [cal.fixed.energy_pj / 1e3, cal.fixed.accuracy],
        "chosen": {"family": c.family, "label": c.label(), "energy_nj": c.energy_pj / 1e3, "accuracy": c.accuracy,
                   "camera_free": c.camera_free, "mean_steps": c.mean_exit_step + 1},
        "val_clips": int(len(va)), "test": m, "classes": list(net.classes),
    }  # fmt: skip


# 9. seeds ------------------------------------------------------------------------------


def step_seeds(ctx: Context) -> dict:
    """Train, export and evaluate the audio+visual model with more seeds on the same split.

    The test accuracy over seeds shows how much of a difference between two
    runs is noise of the initialisation and batch order.
    """
    cfg = ctx.cfg
    if cfg.seeds <= 1:
        return {"seeds": [], "accuracy": []}
    data, split = load_encoded_run(ctx.run_dir)
    seeds, accs = [], []
    for i in range(1, cfg.seeds):
        seed = cfg.seed + i
        ctx.log(f"training audio+visual with seed {seed} ({i} of {cfg.seeds - 1} extra seeds)")
        tdir = ctx.dir("seeds") / f"seed{seed}"
        tcfg = TrainConfig(
            data=f"npz:{encoded_path(ctx.run_dir)}", out=str(tdir), epochs=cfg.epochs, batch_size=cfg.batch_size,
            lr=cfg.lr, bits=cfg.bits, modalities=VARIANTS[AV], seed=seed, split_seed=cfg.seed,
            audio_hidden=cfg.audio_hidden, visual_hidden=cfg.visual_hidden, fusion_hidden=cfg.fusion_hidden,
            device="cpu", progress=True, threads=1,
        )  # fmt: skip
        summary = train(tcfg, data=data, log=ctx.log)
        qnet_path = tdir / "model.qnet"
        export_checkpoint(summary["best"], qnet_path)
        _, d, te, _, g = _golden_on_test(ctx.run_dir, str(qnet_path))
        seeds.append(seed)
        accs.append(float((g.prediction == d.y[te]).mean()))
    return {"seeds": seeds, "accuracy": accs}


# 10. report ----------------------------------------------------------------------------


def step_report(ctx: Context) -> dict:
    """Render the report from the run's ``results.json`` as it stands (the runner renders it again at the end)."""
    path = ctx.run_dir / report.RESULTS_FILE
    htm, md = report.render(ctx.run_dir, json.loads(path.read_text()) if path.is_file() else {})
    return {"html": str(htm), "markdown": str(md)}


STEPS: tuple[Step, ...] = (
    Step("data", "synthesize the corpus", ("data", "clips", "actors", "seed", "cache_dir"), (), step_data,
         code=("sw/data/synth.py",)),
    Step("encode", "encode clips to spikes", ("timesteps", "audio", "visual", "seed"), ("data",), step_encode,
         code=("sw/encode.py", "sw/data/*.py")),
    Step("train", "train the QAT model", ("epochs", "batch_size", "lr", "bits", "audio_hidden", "visual_hidden", "fusion_hidden", "ablations", "adaptive", "seed"),
         ("encode",), step_train, code=("sw/model.py", "sw/train.py")),
    Step("export", "export .qnet", (), ("train",), step_export, code=("sw/export.py", "sw/qnet.py")),
    Step("evaluate", "evaluate with the golden model", ("board", "capacity"), ("export",), step_evaluate,
         code=("sw/golden.py", "hw/spec/capacity.py", "hw/spec/expected.py", "boards.toml")),
    Step("simulate", "RTL simulation (bit-exactness, cycles)", ("sim_clips", "simulator", "sim_capacity", "board", "capacity"), ("export",), step_simulate,
         code=("hw/**/*.py", "sim/*.py", "sim/*.cpp", "sw/events.py", "sw/qnet.py", "host/*.py", "boards.toml"), prepare=prepare_simulate),
    Step("resources", "resource estimate", ("board", "capacity", "resources"), (), step_resources,
         code=("hw/**/*.py", "boards.toml"), background=True),
    Step("energy", "energy per inference", ("board", "capacity"), ("export",), step_energy, code=("sw/energy.py", "sw/golden.py")),
    Step("adaptive", "adaptive inference (early exit, cascade)", ("board", "capacity", "adaptive"), ("export",), step_adaptive,
         code=("sw/adaptive.py", "sw/cascade.py", "sw/golden.py", "eavs/adaptive.py")),
    Step("seeds", "accuracy over training seeds", ("seeds", "epochs", "batch_size", "lr", "bits", "audio_hidden", "visual_hidden", "fusion_hidden", "seed"),
         ("encode",), step_seeds, code=("sw/model.py", "sw/train.py", "sw/export.py", "sw/golden.py")),
    Step("report", "write the report", (), (), step_report, always=True),
)  # fmt: skip
STEP_NAMES = tuple(s.name for s in STEPS)

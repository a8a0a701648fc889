"""Adaptive inference (issue 20): early exit and the audio-first cascade,
against the fixed-cost run of the same model.

``python -m bench.adaptive [--data SPEC] [--seed S] [--epochs N]``

Trains (or reuses, from ``build/bench-adaptive/``) a cascade model
(``audio_head``: the audio head trained jointly with the fused network),
calibrates the first stage's gate and the fused network's exit rule on the
VALIDATION split (``sw.adaptive.calibrate_cascade``: the lowest energy
losing at most 0.5 % of the clips the fixed run gets right, clip by clip),
then measures on the TEST split, per clip and in total:

* accuracy, and per class the camera-free share and accuracy;
* estimated energy (``sw.energy``'s terms, both stages, golden counts up to
  each stage's exit);
* cycles (the cycle model ``hw.spec.capacity.sample_cycles`` with the exit
  step: what the core's counter reads, the wave schedule's overrun and the
  exit decision included);
* link bytes (counted: 4-byte DMA words of the events up to the exit, one
  end-of-step marker per step and the result record, per stage run, for a
  host that stops streaming once the result arrives; today's core writes
  the record after the sample's last marker, so the link does not yet see
  this saving);
* the visual encoder's host CPU time (measured: ``encode_one`` of the
  visual encoder, i.e. video read, face tracking and encoding, on a sample
  of test clips; mean per clip times the clips that needed it);
* what escalated clips pay twice (the first stage's energy on them).

"RTL exact" runs EVERY test clip on the Verilated core (the driver's rtl
back-end on the board's capacity, through ``sw.cascade.run``: the same
gating code path) and counts the clips whose gate decision and, for each
stage the clip ran, prediction, readout, exit step, counters and cycles
equal golden and the cycle model (``hw.spec.expected.expected_results``).
Without Verilator on PATH (or with ``--no-rtl``) the last line says
``RTL exact NOT RUN (why)`` instead of a count.

All figures are on the data given (default: the built-in SYNTHETIC corpus,
960 clips, 24 actors). The last line is exactly::

    adaptive: accuracy A% (fixed F%), energy E nJ (fixed G nJ, ratio R), camera-free C%, mean exit step S of T, RTL exact N/N

with S the mean number of steps the deciding stage ran (exit step + 1).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

from bench.common import Row

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = f"builtin:{ROOT / 'build' / 'bench-adaptive' / 'corpus'}?clips=960&actors=24"


def _train(spec: str, seed: int, epochs: int, out: Path, data) -> Path:
    """The run directory's best checkpoint, trained now unless already there."""
    best = out / "best.pt"
    if best.is_file():
        print(f"reusing {best}")
        return best
    from sw.model import CASCADE  # the audio head, integrating with the branches' leak
    from sw.train import TrainConfig, train

    cfg = TrainConfig(data=spec, out=str(out), epochs=epochs, seed=seed, progress=False,
                      model_overrides=dict(CASCADE))
    train(cfg, data=data, log=print)
    return best


def visual_seconds(data_set, idx: np.ndarray, encoder, sample: int) -> float:
    """Measured host CPU seconds of the visual encoder per clip (mean over a sample of clips)."""
    from sw.data.dataset import encode_one, scan_spec

    _, clips, _, _ = scan_spec(data_set.source, [encoder])
    by_name = {os.path.basename(c.path): c for c in clips}
    chosen = [by_name[os.path.basename(data_set.paths[i])] for i in idx[:sample] if os.path.basename(data_set.paths[i]) in by_name]
    if not chosen:
        return float("nan")
    t0 = time.process_time()
    for c in chosen:
        encode_one(c, [encoder])
    return (time.process_time() - t0) / len(chosen)


RTL_FIELDS = ("prediction", "readout", "exit_step", "in_events", "spikes", "synaptic_ops", "cycles", "errors")


def _stage_exact(stage, xs: np.ndarray, got, lanes: int) -> np.ndarray:
    """Per clip of one stage run on the core (a driver BatchResult ``got``):
    do its error bits, prediction, readout, exit step, counters and cycles
    all equal what golden and the cycle model give
    (``hw.spec.expected.expected_results``, an independent stage)?
    ``sim.compare.exact_samples`` is the one definition of "exact"."""
    from hw.spec.expected import expected_results
    from hw.spec.protocol import Results
    from sim.compare import exact_samples
    from sw import golden

    want = expected_results(stage, golden.run(stage, xs), xs, lanes)
    have = Results(errors=got.errors, prediction=got.prediction, cycles=got.cycles, readout=got.readout, **got.counters)
    return exact_samples(have, want)


def rtl_exact(net, x: np.ndarray, golden_res, capacity) -> tuple[int, int, str]:
    """Run the cascade on every clip ``x`` on the Verilated core (the
    driver's rtl back-end, through ``sw.cascade.run``: the one gating code
    path) and count the clips whose gate decision and every stage's
    prediction, readout, exit step, counters and cycles equal golden and
    the cycle model. Returns ``(exact, run, how)``; when Verilator is not
    on PATH, ``run`` is 0 and ``how`` says so."""
    import shutil

    if shutil.which("verilator") is None:
        return 0, 0, "NOT RUN: verilator is not on PATH (put <site-packages>/verilator/bin on PATH)"
    import host  # noqa: PLC0415
    from sw import cascade  # noqa: PLC0415

    ok = np.ones(len(x), bool)
    with host.open_backend("rtl", capacity=capacity, simulator="verilator") as be:
        def infer(stage, xs):
            if be.net is not stage:
                be.load_model(stage)
            r = be.infer_batch(xs)
            clip_ok = _stage_exact(stage, xs, r, capacity.lanes)
            rows = np.arange(len(x)) if stage is net.cascade or net.cascade is None or net.cascade.exit is None else None
            infer.checks.append((rows, clip_ok))
            return cascade.StageReport(r.prediction, r.readout, r.counters["exit_step"])

        infer.checks = []
        got = cascade.run(net, x, infer)
    for rows, clip_ok in infer.checks:
        ok[got.escalated if rows is None else rows] &= clip_ok
    ok &= (got.prediction == golden_res.prediction) & (got.camera_free == golden_res.camera_free)
    return int(ok.sum()), len(x), (f"verilator, lanes={capacity.lanes}: gate, prediction, readout, exit step, counters "
                                    "and cycles per stage against golden and the cycle model")


def main(argv=None) -> list[Row]:
    ap = argparse.ArgumentParser(prog="python -m bench.adaptive", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=DEFAULT_DATA, help="data spec (default: the built-in synthetic corpus, 960 clips)")
    ap.add_argument("--seed", type=int, default=0, help="training seed (the actor split keeps seed 0)")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--tolerance", type=float, default=0.5, help="percent of validation clips the fixed run gets right that the chosen point may lose")
    ap.add_argument("--board", default="pynq-z2")
    ap.add_argument("--visual-sample", type=int, default=24, help="test clips whose visual encoding is timed")
    ap.add_argument("--rtl", action=argparse.BooleanOptionalAction, default=True,
                    help="run every test clip on the Verilated core (when this tree's core has the exit)")
    args = ap.parse_args(argv)

    from eavs.adaptive import lines, measure
    from hw.spec.boards import get_board
    from sw import cascade, qnet
    from sw.adaptive import calibrate_cascade
    from sw.data import load_encoded
    from sw.encode import AudioEncoder, VisualEncoder
    from sw.export import export_checkpoint, select_inputs
    from sw.model import CASCADE
    from sw.train import TrainData, split_data

    lanes = get_board(args.board).capacity.lanes
    spec = args.data
    if spec.startswith("builtin:"):
        Path(spec[8:].split("?")[0]).mkdir(parents=True, exist_ok=True)
    es = load_encoded(spec, [AudioEncoder(), VisualEncoder()], progress=False, synthesize=spec.startswith("builtin:"))
    data = TrainData(es.x, np.asarray(es.y, np.int64), np.asarray(es.actors, np.int64), list(es.classes), list(es.inputs))
    key = hashlib.sha256(json.dumps([spec, args.seed, args.epochs, CASCADE]).encode()).hexdigest()[:12]
    out = ROOT / "build" / "bench-adaptive" / f"run-{key}"
    net = export_checkpoint(_train(spec, args.seed, args.epochs, out, data), out / "model.qnet")
    _, va, te = split_data(data, 0)
    x = select_inputs(data.x, data.inputs, net)
    y = data.y
    cal = calibrate_cascade(net, x[va], y[va], lanes, args.tolerance)
    for line in cal.lines():
        print(line)
    net.cascade.exit, net.exit = cal.rules()
    qnet.save(net, out / "adaptive.qnet")

    vis = visual_seconds(es, te, VisualEncoder(), args.visual_sample)
    m = measure(net, x[te], y[te], lanes, strong=es.intensity[te] == 2, visual_s=vis)
    print(f"test split: {len(te)} clips (SYNTHETIC corpus {spec}); chosen on validation: {cal.chosen.family}, "
          f"{cal.chosen.label()}; visual encoder timed on {min(args.visual_sample, len(te))} test clips")
    for line in lines(m, list(data.classes)):
        print(line)
    res = cascade.run(net, x[te])
    acc, facc, E, G = m["accuracy"], m["fixed_accuracy"], m["energy_nj"], m["fixed_energy_nj"]
    C, S, T = m["camera_free"], m["mean_steps"], net.timesteps
    n_ok, n_all, why = rtl_exact(net, x[te], res, get_board(args.board).capacity) if args.rtl else (0, 0, "NOT RUN (--no-rtl)")
    print(f"  RTL: {n_ok}/{n_all} exact ({why})")
    print(f"adaptive: accuracy {100 * acc:.2f}% (fixed {100 * facc:.2f}%), energy {E:.2f} nJ (fixed {G:.2f} nJ, ratio {E / G:.3f}), "
          f"camera-free {100 * C:.1f}%, mean exit step {S:.1f} of {T}, RTL exact {f'{n_ok}/{n_all}' if n_all else why}")
    return [
        Row("adaptive", "accuracy (test, synthetic)", 100 * acc, "%", 100 * facc, "fixed-cost run", ">= fixed - 1.0"),
        Row("adaptive", "energy per inference (estimated)", E, "nJ", G, "fixed-cost run", "ratio <= 0.5"),
        Row("adaptive", "camera-free clips", 100 * C, "%", goal="~26-31 (3/4 of strong)"),
        Row("adaptive", "camera-free strong-intensity clips", 100 * (m.get("camera_free_strong") or 0.0), "%", goal=">= 75"),
        Row("adaptive", "mean steps run", S, "steps", float(T), "T"),
        Row("adaptive", "RTL exact (Verilator, every test clip)" if n_all else f"RTL exact {why}", float(n_ok), "clips",
            float(n_all) if n_all else None, "test clips run" if n_all else "", "all"),
    ]


if __name__ == "__main__":
    main()

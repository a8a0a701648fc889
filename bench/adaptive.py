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

"RTL exact" counts test clips run on the Verilated core through the
driver's rtl back-end with the same cascade code path; it runs only when
this tree's core implements the early exit (``hw.spec.expected`` present),
since the gate is the first stage's exit rule; otherwise it prints why and
counts 0/0.

All figures are on the data given (default: the built-in SYNTHETIC corpus,
960 clips, 24 actors). The last line is exactly::

    adaptive: accuracy A% (fixed F%), energy E nJ (fixed G nJ, ratio R), camera-free C%, mean exit step S of T, RTL exact N/N

with S the mean number of steps the deciding stage ran (exit step + 1).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
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
    from sw.train import TrainConfig, train

    cfg = TrainConfig(data=spec, out=str(out), epochs=epochs, seed=seed, progress=False,
                      model_overrides={"audio_head": True})
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


def _rtl_exact(net, x: np.ndarray, golden_res) -> tuple[int, int, str]:
    """Run the cascade on the Verilated core (the driver's rtl back-end, the same sw.cascade code path)."""
    if importlib.util.find_spec("hw.spec.expected") is None:
        return 0, 0, "the core's early exit (hw.spec.expected) is not in this tree: the gate cannot run on the RTL yet"
    import host  # noqa: PLC0415

    with host.open_backend("rtl", simulator="verilator") as be:
        got = be.infer_cascade(net, x)
    same = int(np.sum((got.prediction == golden_res.prediction) & (got.camera_free == golden_res.camera_free)))
    return same, len(x), "prediction and gate per clip, verilator"


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
    from sw.train import TrainData, split_data

    lanes = get_board(args.board).capacity.lanes
    spec = args.data
    if spec.startswith("builtin:"):
        Path(spec[8:].split("?")[0]).mkdir(parents=True, exist_ok=True)
    es = load_encoded(spec, [AudioEncoder(), VisualEncoder()], progress=False, synthesize=spec.startswith("builtin:"))
    data = TrainData(es.x, np.asarray(es.y, np.int64), np.asarray(es.actors, np.int64), list(es.classes), list(es.inputs))
    key = hashlib.sha256(json.dumps([spec, args.seed, args.epochs]).encode()).hexdigest()[:12]
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
    n_ok, n_all, why = _rtl_exact(net, x[te], res) if args.rtl else (0, 0, "not run (--no-rtl)")
    print(f"  RTL: {n_ok}/{n_all} exact ({why})")
    print(f"adaptive: accuracy {100 * acc:.2f}% (fixed {100 * facc:.2f}%), energy {E:.2f} nJ (fixed {G:.2f} nJ, ratio {E / G:.3f}), "
          f"camera-free {100 * C:.1f}%, mean exit step {S:.1f} of {T}, RTL exact {n_ok}/{n_all}")
    return [
        Row("adaptive", "accuracy (test, synthetic)", 100 * acc, "%", 100 * facc, "fixed-cost run", ">= fixed - 1.0"),
        Row("adaptive", "energy per inference (estimated)", E, "nJ", G, "fixed-cost run", "ratio <= 0.5"),
        Row("adaptive", "camera-free clips", 100 * C, "%"),
        Row("adaptive", "mean steps run", S, "steps", float(T), "T"),
    ]


if __name__ == "__main__":
    main()

"""Accuracy targets on the built-in corpus, speaker-independent split (issue 4).

Trains, with the same code and the same actor split:

* ``av8``    audio + visual, 8-bit weights (the default model),
* ``audio``  audio only, 8-bit,  ``visual``  visual only, 8-bit,
* ``float``  audio + visual, float weights (no quantization),
* ``av4``    audio + visual, 4-bit weights,

then exports ``av8`` and checks that the golden model gives the same test
accuracy as torch eval (the integer arithmetic is exact). Figures are
printed with their targets, never asserted: AV >= 90 %; each modality
>= 5 points below AV; 4-bit within 1.5 points of float; the default model
trains in < 10 minutes on 2 CPU cores.

Environment: ``EAVS_ACC_DATA`` (default ``runs/bench-corpus``, synthesized
on first use), ``EAVS_ACC_EPOCHS`` (default 30), ``EAVS_ACC_ONLY``
(comma-separated subset of the names above), ``EAVS_ACC_OUT``,
``EAVS_ACC_CACHE`` (encoded-spike cache folder), ``EAVS_ACC_SPLITS``
(comma-separated actor-split seeds, default ``0``; each split also seeds the
training, and the mean over splits is printed), ``EAVS_ACC_LEGACY=1`` (the
encoders as a model header from before issue 15 rebuilds them: no level
normalisation, one face box per clip, grey onset; the baseline).

The built-in corpus is SYNTHETIC: every figure here is on synthetic clips.
"""

from __future__ import annotations

import os
from pathlib import Path

from bench.common import Row, print_table

RUNS = {
    "av8": dict(bits=8, modalities=("audio", "visual")),
    "audio": dict(bits=8, modalities=("audio",)),
    "visual": dict(bits=8, modalities=("visual",)),
    "float": dict(bits=0, modalities=("audio", "visual")),
    "av4": dict(bits=4, modalities=("audio", "visual")),
}
COMMON = dict(input_dropout=0.2, weight_decay=1e-4, progress=False, threads=1)


def main() -> list[Row]:
    from sw.train import TrainConfig, load_data, train

    data_dir = os.environ.get("EAVS_ACC_DATA", "runs/bench-corpus")
    epochs = int(os.environ.get("EAVS_ACC_EPOCHS", "30"))
    out = Path(os.environ.get("EAVS_ACC_OUT", "runs/bench-accuracy"))
    only = [n for n in os.environ.get("EAVS_ACC_ONLY", ",".join(RUNS)).split(",") if n]
    spec = f"builtin:{data_dir}"
    from sw.data.synth import MANIFEST, synthesize

    if not (Path(data_dir) / MANIFEST).is_file():  # the bench makes its own corpus, explicitly
        synthesize(data_dir, clips=1000, seed=0, actors=24, progress=True)
    encoders = None
    if os.environ.get("EAVS_ACC_LEGACY") == "1":
        from sw.encode import encoder_from_dict

        encoders = [encoder_from_dict({"kind": "audio"}), encoder_from_dict({"kind": "visual"})]
    splits = [int(v) for v in os.environ.get("EAVS_ACC_SPLITS", "0").split(",") if v]
    data = load_data(spec, cache_dir=os.environ.get("EAVS_ACC_CACHE"), progress=True, encoders=encoders)
    for name in only:
        if name not in RUNS:
            raise ValueError(f"EAVS_ACC_ONLY: unknown run {name!r} (known: {list(RUNS)})")
    res, per_split = {}, {}
    for k in splits:
        for name in only:
            where = out / name if k == splits[0] else out / f"{name}-split{k}"
            cfg = TrainConfig(data=spec, out=str(where), epochs=epochs, seed=k, split_seed=k, **RUNS[name], **COMMON)
            r = train(cfg, data=data)
            res.setdefault(name, r)  # the first split's run is the one exported below
            per_split.setdefault(name, []).append(100 * r["test_acc"])
    rows = []
    for name, s in res.items():
        rows.append(Row("accuracy", f"{name}: test accuracy ({epochs} epochs, split {splits[0]}, synthetic)", 100 * s["test_acc"], "%", goal=">= 90" if name == "av8" else ""))
        if len(splits) > 1:
            accs = per_split[name]
            print(f"{name}: test accuracy per split {splits}: " + ", ".join(f"{a:.1f}" for a in accs) + f" % (mean {sum(accs) / len(accs):.1f} %)")
            rows.append(Row("accuracy", f"{name}: mean test accuracy over splits {splits} (synthetic)", sum(accs) / len(accs), "%"))
    if "av8" in res:
        av = 100 * res["av8"]["test_acc"]
        rows.append(Row("accuracy", "av8: training time", res["av8"]["seconds"] / 60, "min", goal="< 10"))
        for m in ("audio", "visual"):
            if m in res:
                rows.append(Row("accuracy", f"av8 - {m} only", av - 100 * res[m]["test_acc"], "points", goal=">= 5"))
        rows += _exactness(out / "av8", data, splits[0])
    if "float" in res and "av4" in res:
        rows.append(Row("accuracy", "float - av4", 100 * (res["float"]["test_acc"] - res["av4"]["test_acc"]), "points", goal="<= 1.5"))
    return rows


def _exactness(run: Path, data, split: int = 0) -> list[Row]:
    """Export av8 and evaluate its test split with the golden model."""
    from sw.export import export_checkpoint, select_inputs
    from sw.metrics import evaluate
    from sw.train import split_data

    import numpy as np

    net = export_checkpoint(run / "best.pt", run / "model.qnet")
    _, _, test = split_data(data, split)
    ev = evaluate(net, select_inputs(data.x[test], data.inputs, net), data.y[test])
    import json

    torch_acc = json.loads((run / "history.json").read_text())["summary"]["test_acc"]
    for line in ev.lines():
        print(line)
    return [
        Row("accuracy", "av8 golden (.qnet) test accuracy", 100 * ev.accuracy, "%", 100 * torch_acc, "torch eval", "equal"),
        Row("accuracy", "av8 estimated energy ANN/SNN", ev.energy.ratio, "x", goal="report (estimated)"),
        Row("accuracy", "av8 synaptic ops per inference (golden, test clips)", ev.synaptic_ops, "ops", goal="report"),
        Row("accuracy", "av8 input spikes per inference (test clips)", ev.input_spikes, "spikes", goal="report"),
    ] + ([] if np.isclose(ev.accuracy, torch_acc) else [Row("accuracy", "MISMATCH golden vs torch", 1, "flag")])


if __name__ == "__main__":
    print_table(main())

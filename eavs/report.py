"""The demo report: ``report.html`` + ``report.md`` + PNG figures, from a run's JSON.

:mod:`eavs.pipeline` (the runner of :mod:`eavs.steps`) writes everything a report needs into
``RUN_DIR/results.json`` (plain numbers, no arrays of clips); this module only
reads that file, so ``eavs report RUN_DIR`` re-renders a finished run (after a
change of layout, or on another machine) without re-running any stage.

The document is built once as a list of blocks (headings, paragraphs,
tables, figures), section by section (:data:`SECTIONS`: one
``section_<step>(results, fig_dir)`` per pipeline step whose results it
shows, each testable alone), and written twice, as Markdown and as
self-contained HTML (figures are PNG files beside it, referenced relatively). Every figure and
every number says how it was obtained: **measured** (computed by running a
model on the held-out test clips of the run's data set, which the report
names: the built-in corpus is synthetic, and the report says so on its
first screen and beside every accuracy), **simulated** (RTL simulation) or
**estimated** (models of cycles, energy or resources); a stage that could
not run says "not available" with its reason, never a made-up figure.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from eavs import figures

__all__ = [
    "ReportError",
    "RESULTS_FILE",
    "accuracy_interval",
    "SECTIONS",
    "build_blocks",
    "clock_figures",
    "data_label",
    "is_synthetic",
    "load_results",
    "render",
    "seed_spread",
    "summary_lines",
]

RESULTS_FILE = "results.json"
FIG_DIR = "figures"


class ReportError(ValueError):
    """A run directory without usable results (names the file and what is wrong)."""


# -- reading ------------------------------------------------------------------------


def load_results(run_dir: str | Path) -> dict[str, Any]:
    """Read ``RUN_DIR/results.json``; raise :class:`ReportError` naming what is wrong."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: no such run directory")
    path = run_dir / RESULTS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found; run `eavs demo --out {run_dir}` first")
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ReportError(f"{path}: not valid JSON: {e}") from None
    if not isinstance(results, dict) or not isinstance(results.get("stages"), dict):
        raise ReportError(f"{path}: expected an object with a 'stages' table (written by eavs.pipeline)")
    return results


# -- formatting helpers -------------------------------------------------------------


def _si(x: float | None, unit: str) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k"), (1, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"), (1e-12, "p")):
        if abs(x) >= scale:
            return f"{x / scale:.3g} {prefix}{unit}"
    return f"{x / 1e-15:.3g} f{unit}"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f} %"


def _num(x: Any) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)


# -- the document -------------------------------------------------------------------


@dataclass
class Doc:
    """Blocks of the report, in order; rendered to Markdown and to HTML."""

    blocks: list[tuple] = field(default_factory=list)

    def h(self, level: int, text: str) -> None:
        self.blocks.append(("h", level, text))

    def p(self, text: str) -> None:
        self.blocks.append(("p", text))

    def table(self, header: list[str], rows: list[list[Any]]) -> None:
        self.blocks.append(("table", header, [[_num(c) for c in r] for r in rows]))

    def fig(self, path: str, caption: str) -> None:
        self.blocks.append(("fig", path, caption))

    def markdown(self) -> str:
        out = []
        for b in self.blocks:
            if b[0] == "h":
                out.append("#" * b[1] + " " + b[2])
            elif b[0] == "p":
                out.append(b[1])
            elif b[0] == "table":
                out.append("| " + " | ".join(b[1]) + " |")
                out.append("|" + "---|" * len(b[1]))
                out.extend("| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |" for r in b[2])
            elif b[0] == "fig":
                out.append(f"![{b[2]}]({b[1]})\n\n*{b[2]}*")
            out.append("")
        return "\n".join(out)

    def html(self, title: str) -> str:
        body = []
        for b in self.blocks:
            if b[0] == "h":
                body.append(f"<h{b[1]}>{html.escape(b[2])}</h{b[1]}>")
            elif b[0] == "p":
                body.append(f"<p>{_inline_html(b[1])}</p>")
            elif b[0] == "table":
                head = "".join(f"<th>{html.escape(c)}</th>" for c in b[1])
                rows = "".join("<tr>" + "".join(f"<td>{_inline_html(str(c))}</td>" for c in r) + "</tr>" for r in b[2])
                body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
            elif b[0] == "fig":
                body.append(
                    f'<figure><img src="{html.escape(b[1])}" alt="{html.escape(b[2])}">'
                    f"<figcaption>{html.escape(b[2])}</figcaption></figure>"
                )
        style = (
            "body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222}"
            "table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}"
            "th{background:#f0f0f0}figure{margin:1em 0}img{max-width:100%}figcaption{font-size:90%;color:#555}"
            ".kind{font-weight:bold}"
        )
        return (
            f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
        )


def _inline_html(text: str) -> str:
    """Escape, then turn Markdown ``**bold**`` and ``code`` spans into HTML."""
    import re

    t = html.escape(text)
    t = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", t)
    t = re.sub(r"`(.+?)`", r"<code>\1</code>", t)
    return t


def _stage(results: dict, name: str) -> dict:
    return results.get("stages", {}).get(name, {}) or {}


def _available(results: dict, name: str) -> tuple[bool, str]:
    """Whether a stage produced results; else the honest reason."""
    st = _stage(results, name)
    status = st.get("status")
    if status in ("done", "cached"):
        return True, ""
    if status is None:
        return False, "not available: the stage did not run"
    reason = st.get("reason") or status
    return False, f"{status}: {reason}" if not reason.startswith(status) else reason


def _figure(doc: Doc, fig_dir: Path, name: str, caption: str, draw) -> None:
    """Draw one figure into ``fig_dir`` and add it; a drawing error becomes a line of text."""
    try:
        draw(fig_dir / name)
    except figures.FigureError as e:
        doc.p(f"Figure not drawn: {e}")
        return
    doc.fig(f"{FIG_DIR}/{name}", caption)


def is_synthetic(results: dict) -> bool:
    """Whether the run's clips come from the built-in synthetic corpus."""
    data = results.get("data", {})
    if "synthetic" in data:
        return bool(data["synthetic"])
    spec = str(results.get("data", {}).get("spec") or results.get("encode", {}).get("spec") or results.get("config", {}).get("data", "builtin"))
    return spec == "builtin" or spec.startswith("builtin:")


def data_label(results: dict) -> str:
    """What every accuracy is measured on, in words ("synthetic data" or the data set's kind)."""
    if is_synthetic(results):
        return "synthetic data"
    spec = str(results.get("data", {}).get("spec") or results.get("encode", {}).get("spec") or results.get("config", {}).get("data", ""))
    kind = spec.split(":", 1)[0]
    return {"ravdess": "RAVDESS recordings", "cremad": "CREMA-D recordings"}.get(kind, f"data set {spec}")


def accuracy_interval(ev: dict) -> tuple[float, float] | None:
    """95 % Wilson interval of the test accuracy over the test clips (``sw.metrics.wilson_interval``)."""
    from sw.metrics import wilson_interval

    acc, n = ev.get("accuracy"), ev.get("n_test")
    if acc is None or not n:
        return None
    return wilson_interval(int(round(acc * n)), int(n))


def _acc_with_ci(ev: dict) -> str:
    ci = accuracy_interval(ev)
    if ci is None:
        return _pct(ev.get("accuracy"))
    return f"{_pct(ev.get('accuracy'))} (95 % CI {100 * ci[0]:.1f}-{100 * ci[1]:.1f} %)"


def seed_spread(results: dict) -> dict | None:
    """Test accuracy of the audio+visual model over training seeds: the main run's and the extra ones."""
    ev, sd = results.get("evaluate", {}), results.get("seeds", {})
    extra = list(sd.get("accuracy") or [])
    if ev.get("accuracy") is None or not extra:
        return None
    accs = [float(ev["accuracy"])] + [float(a) for a in extra]
    n = len(accs)
    mean = sum(accs) / n
    std = math.sqrt(sum((a - mean) ** 2 for a in accs) / (n - 1)) if n > 1 else 0.0
    return {"n": n, "mean": mean, "std": std, "min": min(accs), "max": max(accs), "accuracies": accs}


def clock_figures(results: dict) -> dict | None:
    """Latency and throughput at the clock a build achieved, else at the board's assumed clock.

    Includes the stream I/O: one cycle per event word in (events and T
    markers) and per result word out, not overlapped with compute (an upper
    bound on the cycles per inference).
    """
    cyc = results.get("evaluate", {}).get("cycles", {})
    if not cyc.get("mean"):
        return None
    res = results.get("resources", {})
    fmax = res.get("fmax_mhz") if res.get("kind") == "measured" else None
    if fmax:
        mhz, how = float(fmax), f"{float(fmax):.1f} MHz, achieved by the {res.get('board')} build (timed: {res.get('tool')})"
    else:
        mhz = float(cyc.get("clock_mhz") or 0)
        how = f"{mhz:g} MHz, assumed (the {cyc.get('board')} target clock in boards.toml), not timed"
    if not mhz:
        return None
    hz = mhz * 1e6
    with_io = cyc.get("with_io_mean")
    return {
        "mhz": mhz, "how": how, "timed": bool(fmax),
        "latency_s": cyc["mean"] / hz,
        "io_words": cyc.get("io_words_mean"),
        "with_io_cycles": with_io,
        "latency_io_s": with_io / hz if with_io else None,
        "throughput_io": hz / with_io if with_io else None,
        "throughput": hz / cyc["mean"],
    }  # fmt: skip


# -- the sections, in report order ----------------------------------------------------------
#
# One function per part of the report, each named after the pipeline step whose
# results it shows: ``section_<step>(results, fig_dir) -> Doc``. A section reads
# only ``results`` (and draws its figures into ``fig_dir``), so it can be tested
# alone; :data:`SECTIONS` lists them in report order.


def section_title(results: dict, fig_dir: Path) -> Doc:
    """Title, the synthetic-data warning (first screen) and what measured / simulated / estimated mean."""
    doc = Doc()
    cfg = results.get("config", {})
    doc.h(1, results.get("title", "EAVS-TF demo report"))
    if is_synthetic(results):
        doc.p(
            "**Data: the built-in synthetic corpus.** Every clip was generated by `sw.data.synth` (synthetic actors, "
            "voices and faces), not recorded from people: the accuracies below show that the flow learns and runs "
            "bit-exactly, not how well it recognises real emotions."
        )
    doc.p(
        f"Labels: **measured** = computed by running a model (torch or the golden model) on the held-out test clips "
        f"of this run's data ({data_label(results)}); **simulated** = RTL simulation of the core; "
        "**estimated** = from a model (cycle model, operation-energy table, synthesis estimate). "
        f"Run: `{results.get('command', 'eavs demo')}`, {results.get('created', '')}, "
        f"{'quick' if cfg.get('quick') else 'full'} configuration."
    )
    return doc


def section_summary(results: dict, fig_dir: Path) -> Doc:
    """The headline figures (accuracy, bit-exactness, latency, energy), each with its kind and how."""
    doc = Doc()
    ev, sim, en = (results.get(k, {}) for k in ("evaluate", "simulate", "energy"))
    on = data_label(results)
    clk = clock_figures(results)
    headline = []
    if ev.get("accuracy") is not None:
        headline.append(["test accuracy (audio + visual)", _acc_with_ci(ev), "measured",
                         f"{ev.get('n_test')} held-out clips of {on}, golden model; Wilson interval over clips"])  # fmt: skip
    if sim.get("bit_exact") is not None:
        verdict = "bit-exact" if sim["bit_exact"] else "NOT bit-exact"
        headline.append(["RTL vs golden model", f"{verdict} on {sim.get('clips')}/{ev.get('n_test', '?')} held-out clips",
                         "simulated", f"{sim.get('simulator')}; clips of the test split"])  # fmt: skip
    if clk:
        lat = clk["latency_io_s"] if clk["latency_io_s"] else clk["latency_s"]
        io = "compute + stream I/O" if clk["latency_io_s"] else "compute only, I/O not counted"
        headline.append(["latency per inference", _si(lat, "s"), "estimated", f"cycle model, {io}, at {clk['how']}"])
    if en.get("snn_j") is not None:
        ratio = f"; {en['ratio']:.1f}x less than the same network as an 8-bit integer ANN" if en.get("ratio") else ""
        headline.append(["energy per inference (SNN)", _si(en["snn_j"], "J"), "estimated", f"operation counts x 45 nm energies{ratio}"])
    if headline:
        doc.h(2, "Summary")
        doc.table(["figure", "value", "kind", "how"], headline)
    return doc


def section_stages(results: dict, fig_dir: Path) -> Doc:
    """Every step's status, time and when it was computed (a cached step keeps its original time)."""
    doc = Doc()
    doc.h(2, "Stages")
    rows = []
    for name, st in results.get("stages", {}).items():
        secs = f"{st.get('seconds', 0.0):.1f} s"
        if st.get("status") == "cached":
            secs += " (when computed)"
        when = st.get("computed") or ("not recorded (an older run)" if st.get("status") == "cached" else "")
        rows.append([name, st.get("status", "?"), secs, when, st.get("reason", "") or st.get("note", "")])
    doc.table(["stage", "status", "time", "computed at", "note"], rows)
    doc.p("A cached stage was reused from an earlier run with the same inputs; its time and date are those of the run that computed it.")
    return doc


def section_data(results: dict, fig_dir: Path) -> Doc:
    """The data and encode steps: the corpus, its speaker-independent split and the spike inputs."""
    doc = Doc()
    data = {**results.get("data", {}), **results.get("encode", {})}
    if data.get("clips"):
        doc.h(2, "Data")
        split = data.get("split", {})
        what = "the built-in **synthetic** corpus" if is_synthetic(results) else f"`{data.get('spec')}`"
        doc.p(
            f"Data set: {what} (`{data.get('spec')}`): {_num(data.get('clips'))} clips, {_num(data.get('actors'))} actors, "
            f"{len(data.get('classes', []))} classes; {_num(data.get('skipped', 0))} clips skipped. "
            f"Speaker-independent split (no actor in two splits): train {_num(split.get('train'))}, "
            f"validation {_num(split.get('val'))}, test {_num(split.get('test'))} clips. "
            f"Inputs: {', '.join(f'{g} {n}' for g, n in data.get('inputs', {}).items())} spike channels, "
            f"T = {data.get('timesteps')}."
        )
    return doc


def section_train(results: dict, fig_dir: Path) -> Doc:
    """The train step: validation and torch test accuracy of every trained variant."""
    doc = Doc()
    on = data_label(results)
    tr = results.get("train", {}).get("variants", {})
    if tr:
        doc.h(2, "Training")
        doc.p(
            f"Quantization-aware training (Brevitas, {results.get('train', {}).get('bits')}-bit power-of-two weights), "
            f"{results.get('train', {}).get('epochs')} epochs on CPU; the checkpoint with the best validation accuracy is exported."
        )
        doc.table(
            ["model", f"best validation accuracy ({on})", f"test accuracy, torch eval ({on})", "training time"],
            [[k, _pct(v.get("best_val_acc")), _pct(v.get("test_acc_torch")), f"{v.get('seconds', 0):.0f} s"] for k, v in tr.items()],
        )
    return doc


def section_evaluate(results: dict, fig_dir: Path) -> Doc:
    """The evaluate step (and the seeds step's spread): golden test accuracy, confusion, recall, modalities."""
    doc = Doc()
    doc.h(2, "Accuracy")
    ok, why = _available(results, "evaluate")
    if not ok:
        doc.p(f"Evaluation {why}")
        return doc
    ev = results.get("evaluate", {})
    on = data_label(results)
    classes = ev.get("classes", [])
    doc.p(
        f"**measured** on {on}: accuracy {_acc_with_ci(ev)} on {ev.get('n_test')} held-out clips "
        f"(chance {_pct(ev.get('chance'))}), computed by the golden model on the exported `.qnet`. "
        "The interval is the 95 % Wilson score interval over clips; it treats clips as independent, "
        "which clips of the same actor are not, so it understates the spread between speakers."
    )
    doc.blocks += section_seeds(results, fig_dir).blocks
    agree = ev.get("torch_agree")
    if agree:
        doc.p(
            f"Torch (integer-exact eval mode) and the golden model predict the same class on "
            f"{agree.get('equal')} of {agree.get('clips')} test clips, with identical spike trains in every layer "
            f"on {agree.get('spikes_equal', 'n/a')} of them."
        )
    if "confusion" in ev and classes:
        _figure(doc, fig_dir, "confusion.png", f"Confusion matrix of the test set [measured, {on}]",
                lambda p: figures.confusion_matrix(ev["confusion"], classes, p, "measured", on))  # fmt: skip
    recall = ev.get("recall", {})
    if recall:
        doc.table(["class", f"recall ({on})", "clips"],
                  [[c, _recall(recall.get(c)), ev.get("support", {}).get(c)] for c in classes])  # fmt: skip
    doc.blocks += _modalities(ev, on, fig_dir).blocks
    return doc


def section_seeds(results: dict, fig_dir: Path) -> Doc:
    """The seeds step: the spread of the test accuracy over training seeds (shown under Accuracy)."""
    doc = Doc()
    spread = seed_spread(results)
    if spread:
        doc.p(
            f"**measured** on {data_label(results)}: over {spread['n']} training seeds (same split), test accuracy "
            f"{_pct(spread['mean'])} mean, {100 * spread['std']:.1f} points standard deviation, "
            f"range {_pct(spread['min'])}-{_pct(spread['max'])} ("
            + ", ".join(_pct(a) for a in spread["accuracies"]) + ")."
        )
    else:
        doc.p("One training seed: `eavs demo --seeds N` trains N seeds and reports the spread of the accuracy over them.")
    return doc


def _modalities(ev: dict, on: str, fig_dir: Path) -> Doc:
    """Accuracy by modality (the unimodal ablations), or why it is not shown."""
    doc = Doc()
    mod = ev.get("modality_accuracy") or {}
    if len(mod) <= 1:
        doc.p("Accuracy by modality: unimodal ablations run in the full demo only (`eavs demo` without `--quick`).")
        return doc
    gain = None
    if "audio+visual" in mod:
        uni = [v for k, v in mod.items() if k != "audio+visual"]
        gain = mod["audio+visual"] - max(uni) if uni else None
    _figure(doc, fig_dir, "modality.png", f"Accuracy by modality [measured, {on}]",
            lambda p: figures.accuracy_by_modality(mod, ev.get("chance", 0.0), p, "measured", on))  # fmt: skip
    doc.p(
        f"Unimodal ablations (same network, one branch, trained alone; {on}): "
        + ", ".join(f"{k} {_pct(v)}" for k, v in mod.items())
        + (f"; fusion gain over the best single modality {100 * gain:+.1f} points." if gain is not None else ".")
    )
    return doc


def section_spikes(results: dict, fig_dir: Path) -> Doc:
    """The evaluate step's spike figures: one clip's raster, rates per layer, operation counts."""
    doc = Doc()
    doc.h(2, "Spikes and operations")
    if not _available(results, "evaluate")[0]:
        return doc
    ev = results.get("evaluate", {})
    raster = ev.get("raster")
    if raster:
        title = f"test clip {raster.get('clip', '')}: true {raster.get('label')}, predicted {raster.get('prediction')}"
        _figure(doc, fig_dir, "raster.png", f"Spike raster of one test clip, per layer [measured, golden model]: {title}",
                lambda p: figures.spike_raster(raster["layers"], int(raster["timesteps"]), p, "measured", title))  # fmt: skip
    rates = ev.get("spike_rates")
    if rates:
        _figure(doc, fig_dir, "rates.png", "Mean spike rate per layer over the test set [measured]",
                lambda p: figures.spike_rates(rates, p, "measured"))  # fmt: skip
    counts = ev.get("counts", {})
    if counts:
        doc.table(
            ["count per inference (test-set mean)", "value", "kind"],
            [[k.replace("_", " "), _count(v), "measured (golden model counts)"] for k, v in counts.items()],
        )
    return doc


def section_energy(results: dict, fig_dir: Path) -> Doc:
    """The energy step: SNN against the same network as an integer ANN (see :func:`_energy`)."""
    doc = Doc()
    doc.h(2, "Energy")
    ok, why = _available(results, "energy")
    if not ok:
        doc.p(f"Energy estimate {why}")
    else:
        _energy(doc, fig_dir, results.get("energy", {}))
    return doc


def section_adaptive(results: dict, fig_dir: Path) -> Doc:
    """The adaptive step: early exit and the audio-first cascade against the fixed-cost run (issue 20)."""
    doc = Doc()
    doc.h(2, "Adaptive inference")
    ok, why = _available(results, "adaptive")
    ad = results.get("adaptive", {})
    if not ok or "skipped" in ad or "test" not in ad:
        doc.p(f"Adaptive inference {why if not ok else 'not run: ' + str(ad.get('skipped', 'no figures'))}")
        return doc
    m, c, synth = ad["test"], ad["chosen"], " (synthetic corpus)" if is_synthetic(results) else ""
    doc.p(
        f"The audio stage (audio layer + audio head, trained jointly by an auxiliary loss) decides alone when its margin "
        f"clears the gate; the others run the fused network, which may stop early. Gate and exit rule were chosen on the "
        f"**validation** split ({ad['val_clips']} clips): the lowest **estimated** energy losing at most 0.5 % of the "
        f"clips the fixed-cost run gets right. Chosen: {c['family']}, {c['label']}. Figures below are on the **test** split{synth}."
    )
    _figure(doc, fig_dir, "adaptive_pareto.png", f"Accuracy against energy per inference on the validation split [measured accuracy, estimated energy{synth}]",
            lambda p: figures.adaptive_pareto(ad["fronts"], tuple(ad["fixed"]), (c["energy_nj"], c["accuracy"]), p,
                                              note="validation" + synth))
    rows = [
        ["accuracy (measured, golden)", _pct(m["accuracy"]), _pct(m["fixed_accuracy"])],
        ["energy per inference (estimated, sw.energy)", f"{m['energy_nj']:.2f} nJ", f"{m['fixed_energy_nj']:.2f} nJ"],
        ["compute cycles per inference (cycle model, ideal exit)", _count(m["cycles"]), _count(m["fixed_cycles"])],
        ["link bytes per inference (counted)", _count(m["link_bytes"]), _count(m["fixed_link_bytes"])],
        ["clips decided without the camera", _pct(m["camera_free"]), "0%"],
        ["mean steps run (exit step + 1)", f"{m['mean_steps']:.2f}", str(m["timesteps"])],
    ]
    if m.get("camera_free_strong") is not None:
        rows.append(["camera-free strong / normal-intensity clips", f"{_pct(m['camera_free_strong'])} / {_pct(m['camera_free_normal'])}", "0% / 0%"])
    doc.table(["figure (test split)", "adaptive", "fixed-cost run"], rows)
    classes = ad.get("classes", [])
    doc.table(["class", "clips", "camera-free", "accuracy", "fixed accuracy", "mean steps"],
              [[classes[int(k)] if int(k) < len(classes) else k, str(p["clips"]), _pct(p["camera_free"]), _pct(p["accuracy"]),
                _pct(p["fixed_accuracy"]), f"{p['mean_steps']:.1f}"] for k, p in m["per_class"].items()])
    if m.get("cascade_ran", True):
        doc.p(f"Escalated clips ({m['escalated']}) pay the audio stage twice: {m['paid_twice_nj']:.2f} nJ each (estimated).")
    else:
        doc.p("The audio stage did not run: the chosen operating point has no gate (early exit alone).")
    return doc


def section_cycles(results: dict, fig_dir: Path) -> Doc:
    """The evaluate step's cycle-model figures: cycles, latency, throughput, at the achieved or assumed clock."""
    doc = Doc()
    doc.h(2, "Cycles, latency and throughput")
    cyc = results.get("evaluate", {}).get("cycles", {})
    clk = clock_figures(results)
    if not (cyc and clk):
        doc.p("Cycle figures not available: the evaluation stage did not run.")
        return doc
    doc.p(
        f"**estimated** with the cycle model (`hw.spec.capacity.sample_cycles`) from the golden model's event counts "
        f"of every test clip, at P = {cyc.get('lanes')} lanes; clock {clk['how']}. "
        "The RTL simulation below checks that the hardware's cycle counter equals this model exactly."
    )
    rows = [
        ["compute cycles per inference (mean)", _count(cyc.get("mean"))],
        ["compute cycles per inference (min / max)", f"{_count(cyc.get('min'))} / {_count(cyc.get('max'))}"],
    ]
    if clk["with_io_cycles"]:
        rows += [
            ["stream words per inference (events + T markers in, result record out)", _count(clk["io_words"])],
            ["cycles per inference with stream I/O (no overlap assumed: an upper bound)", _count(clk["with_io_cycles"])],
        ]
    rows += [["latency per inference, compute only", _si(clk["latency_s"], "s")]]
    if clk["latency_io_s"]:
        rows += [
            ["latency per inference, with stream I/O", _si(clk["latency_io_s"], "s")],
            ["throughput, with stream I/O", f"{_count(clk['throughput_io'])} inferences/s"],
        ]
    else:
        rows += [["throughput, compute only (I/O not counted)", f"{_count(clk['throughput'])} inferences/s"]]
    rows += [["lane utilisation (synaptic ops / (P x compute cycles))", _pct(cyc.get("utilisation_mean"))]]
    doc.table(["figure (estimated)", "value"], rows)
    if not clk["timed"]:
        doc.p(f"The clock is **assumed, not timed**: no build of this run reported an achieved clock for {cyc.get('board')}.")
    return doc


def section_simulate(results: dict, fig_dir: Path) -> Doc:
    """The simulate step: the RTL's verdict against the golden model, the simulated capacity, any mismatches."""
    doc = Doc()
    doc.h(2, "RTL bit-exactness")
    ok, why = _available(results, "simulate")
    if not ok:
        doc.p(f"RTL simulation {why}")
        return doc
    sim = results.get("simulate", {})
    verdict = "**bit-exact**" if sim.get("bit_exact") else "**NOT bit-exact**"
    n_test = results.get("evaluate", {}).get("n_test")
    doc.p(
        f"**simulated** on {sim.get('simulator')}: {verdict} on {sim.get('clips')} test clips "
        f"({sim.get('clips')}/{n_test if n_test is not None else '?'} of the held-out test split; "
        f"compared per clip: {', '.join(sim.get('compared', []))}). "
        f"Cycle counter equal to the cycle model on {sim.get('cycles_equal')} of {sim.get('clips')} clips. "
        f"Simulation took {sim.get('wall_s', 0):.1f} s."
    )
    cap = sim.get("capacity") or {}
    if cap:
        which = (
            f"exactly the {sim.get('board')} bitstream's capacity"
            if sim.get("capacity_is_board")
            else f"the {sim.get('board')} bitstream's lanes and widths, with memories and limits sized to the model"
        )
        doc.p(f"Simulated core: {which}: " + ", ".join(f"{k}={v}" for k, v in cap.items()) + ".")
    mism = sim.get("mismatches") or []
    if mism:
        doc.table(["clip", "field", "golden", "rtl"], [[m.get("clip"), m.get("field"), m.get("golden"), m.get("rtl")] for m in mism[:20]])
    return doc


def section_resources(results: dict, fig_dir: Path) -> Doc:
    """The resources step: use against the board's budget, with the tool that measured or estimated it."""
    doc = Doc()
    doc.h(2, "Resources")
    ok, why = _available(results, "resources")
    if not ok:
        doc.p(f"Resource estimate {why}")
        return doc
    res = results.get("resources", {})
    kind = res.get("kind", "estimated")
    used, budget = res.get("used", {}), res.get("budget", {})
    _figure(doc, fig_dir, "resources.png", f"Resource use on {res.get('board')} ({res.get('part')}) [{kind}, {res.get('tool')}]",
            lambda p: figures.resource_use(used, budget, p, kind if kind in figures.KINDS else "estimated"))  # fmt: skip
    doc.table(["resource", "used", "budget", "share"],
              [[_RESOURCE_LABELS.get(k, k), _count(used[k]), _count(budget.get(k)), _pct(used[k] / budget[k]) if budget.get(k) else "n/a"]
               for k in used])  # fmt: skip
    if res.get("note"):
        doc.p(res["note"])
    return doc


#: The report's sections in order. A new pipeline step adds its ``section_<step>`` here.
SECTIONS: tuple[Callable[[dict, Path], Doc], ...] = (
    section_title,
    section_summary,
    section_stages,
    section_data,
    section_train,
    section_evaluate,
    section_spikes,
    section_energy,
    section_adaptive,
    section_cycles,
    section_simulate,
    section_resources,
)


def build_blocks(results: dict, fig_dir: Path) -> Doc:
    """The report's content: every section of :data:`SECTIONS` in order, figures drawn into ``fig_dir``."""
    doc = Doc()
    for section in SECTIONS:
        doc.blocks += section(results, fig_dir).blocks
    return doc


_RESOURCE_LABELS = {"lut": "LUTs", "ff": "flip-flops", "bram": "block RAMs (36 kbit)", "dsp": "DSP slices"}


def _recall(r: float | None) -> str:
    return "n/a (no samples)" if r is None else _pct(r)


def _count(x: Any) -> str:
    """A count or a mean count: thousands separated, no more digits than it has meaning."""
    if x is None:
        return "n/a"
    x = float(x)
    if abs(x) >= 100 or x == int(x):
        return f"{x:,.0f}"
    return f"{x:,.1f}"


def _energy(doc: Doc, fig_dir: Path, en: dict) -> None:
    """The SNN / ANN energy comparison with the terms of both sides, in one table."""
    from sw import energy as swe

    vals = {k: v for k, v in (("SNN (this core)", en.get("snn_j")), ("ANN, 8-bit integer", en.get("ann_j"))) if v}
    if vals:
        _figure(doc, fig_dir, "energy.png", "Energy per inference, SNN vs the same network as an 8-bit integer ANN [estimated]",
                lambda p: figures.energy_comparison(vals, p, "estimated"))  # fmt: skip
    d = en.get("details") or {}
    pj = lambda v: _si(v * 1e-12, "J") if v is not None else "not costed"  # noqa: E731
    rows = [
        ["arithmetic",
         f"{_count(en.get('synaptic_ops'))} accumulates x {swe.E_AC_PJ:g} pJ = {pj(d.get('snn_ops_pj'))}",
         f"{_count(en.get('ann_macs'))} MACs x {swe.E_MAC_PJ:g} pJ = {pj(d.get('ann_ops_pj'))}"],
        ["neuron updates",
         f"{_count(en.get('neuron_updates'))} updates x {swe.E_NEURON_PJ:g} pJ = {pj(d.get('snn_neuron_pj'))}",
         f"{_count(d.get('ann_activations'))} activations x {swe.E_ACTIVATION_PJ:g} pJ = {pj(d.get('ann_activation_pj'))}"],
    ]  # fmt: skip
    if d.get("snn_memory_pj") is not None:
        rows.append(["weight-memory reads",
                     f"{_count(d.get('snn_weight_bits'))} bits x {swe.E_SRAM_BIT_PJ:.4g} pJ = {pj(d.get('snn_memory_pj'))}",
                     f"{_count(d.get('ann_weight_bits'))} bits x {swe.E_SRAM_BIT_PJ:.4g} pJ = {pj(d.get('ann_memory_pj'))}"])  # fmt: skip
    rows.append(["**total per inference**", f"**{_si(en.get('snn_j'), 'J')}**", f"**{_si(en.get('ann_j'), 'J')}**"])
    doc.table(["term (estimated, test-set mean)", "SNN: this network on the core",
               "ANN: same layers, dense, T steps, 8-bit integer"], rows)  # fmt: skip
    if en.get("ratio"):
        doc.p(
            f"**estimated**: the SNN needs {en['ratio']:.1f}x less energy than the ANN on these terms: "
            f"{en.get('terms') or 'synaptic accumulates vs MACs'}. SNN accumulates are 32-bit integer adds, one per "
            f"synaptic event; ANN MACs are 8-bit integer multiplies with 32-bit adds (the weights are 8-bit integers, "
            f"so a float ANN would not be a like-for-like baseline); a neuron update is 4 adds, an activation 1; "
            f"weight reads are P-weight rows (P = {en.get('lanes', '?')}) per input event and chunk for the SNN, "
            f"every weight every step for the ANN. Not costed on either side: control, membrane and activation "
            f"storage, stream I/O. Per-operation energies: {en.get('source', '')}."
        )


def render(run_dir: str | Path, results: dict | None = None) -> tuple[Path, Path]:
    """Write ``report.md``, ``report.html`` and ``figures/*.png`` into ``run_dir``."""
    run_dir = Path(run_dir)
    if results is None:
        results = load_results(run_dir)
    fig_dir = run_dir / FIG_DIR
    fig_dir.mkdir(parents=True, exist_ok=True)
    doc = build_blocks(results, fig_dir)
    md = run_dir / "report.md"
    htm = run_dir / "report.html"
    md.write_text(doc.markdown(), encoding="utf-8")
    htm.write_text(doc.html(results.get("title", "EAVS-TF demo report")), encoding="utf-8")
    return htm, md


def summary_lines(results: dict) -> list[str]:
    """The concise summary printed at the end of a demo run."""
    ev, sim, en, res = (results.get(k, {}) for k in ("evaluate", "simulate", "energy", "resources"))
    lines = []
    on = data_label(results)
    if is_synthetic(results):
        lines.append("data: the built-in SYNTHETIC corpus (generated clips, not recordings of people)")
    if ev.get("accuracy") is not None:
        lines.append(f"accuracy [measured, {on}]: {_acc_with_ci(ev)} on {ev.get('n_test')} test clips (chance {_pct(ev.get('chance'))})")
        spread = seed_spread(results)
        if spread:
            lines.append(f"over {spread['n']} seeds [measured, {on}]: mean {_pct(spread['mean'])}, std {100 * spread['std']:.1f} points")
        mod = ev.get("modality_accuracy") or {}
        if len(mod) > 1:
            lines.append(f"by modality [measured, {on}]: " + ", ".join(f"{k} {_pct(v)}" for k, v in mod.items()))
    cyc = ev.get("cycles", {})
    clk = clock_figures(results)
    if cyc and clk:
        io = f"; with stream I/O {_si(clk['latency_io_s'], 's')}" if clk["latency_io_s"] else " (I/O not counted)"
        lines.append(
            f"cycles [estimated, cycle model]: {_count(cyc.get('mean'))} per inference at P = {cyc.get('lanes')}; "
            f"latency {_si(clk['latency_s'], 's')}{io}; clock {clk['how']}"
        )
    if sim.get("bit_exact") is not None:
        lines.append(
            f"RTL [simulated, {sim.get('simulator')}]: {'bit-exact' if sim['bit_exact'] else 'NOT bit-exact'} on "
            f"{sim.get('clips')}/{ev.get('n_test', '?')} held-out clips, cycles equal to the model on {sim.get('cycles_equal')}"
        )
    if en.get("snn_j") is not None:
        ratio = f" ({en['ann_j'] / en['snn_j']:.1f}x less than the same network as an 8-bit integer ANN)" if en.get("ann_j") else ""
        lines.append(f"energy [estimated]: {_si(en['snn_j'], 'J')} per inference{ratio}")
    if res.get("used"):
        lines.append(
            f"resources [{res.get('kind', 'estimated')}, {res.get('board')}]: "
            + ", ".join(f"{k} {_num(v)}" + (f" ({_pct(v / res['budget'][k])})" if res.get("budget", {}).get(k) else "") for k, v in res["used"].items())
        )
    for name, st in results.get("stages", {}).items():
        if st.get("status") not in ("done", "cached", "pending"):
            lines.append(f"{name}: {st.get('status')}: {st.get('reason', '')}")
    return lines

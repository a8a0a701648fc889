"""Rendering of the demo report from a run's JSON, on small fabricated results.

These check the rendering only (layout, labels, honesty about missing stages,
errors); the real figures are checked by the quick-demo test
(tests/test_demo_quick.py) on a real run.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from eavs import figures, report

CLASSES = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"]


def fabricated(sim_available: bool = True) -> dict:
    cm = [[5 if i == j else (1 if j == (i + 1) % 8 else 0) for j in range(8)] for i in range(8)]
    res = {
        "title": "EAVS-TF demo report (test)",
        "created": "2026-01-01T00:00:00Z",
        "command": "eavs demo --quick --out X",
        "config": {"quick": True},
        "stages": {
            "data": {"status": "cached", "seconds": 81.5, "computed": "2026-01-01 09:00:00 UTC"},
            "evaluate": {"status": "done", "seconds": 1.0},
            "energy": {"status": "done", "seconds": 0.1},
            "resources": {"status": "done", "seconds": 3.0},
        },
        "data": {"spec": "builtin:x", "synthetic": True, "clips": 96, "actors": 6, "classes": CLASSES, "skipped": 0,
                 "split": {"train": 64, "val": 16, "test": 16}, "inputs": {"audio": 64, "visual": 512}, "timesteps": 40},
        "evaluate": {
            "n_test": 48, "accuracy": 40 / 48, "chance": 0.125, "classes": CLASSES, "confusion": cm,
            "recall": {c: 5 / 6 for c in CLASSES}, "support": {c: 6 for c in CLASSES},
            "torch_agree": {"clips": 48, "equal": 48, "spikes_equal": 48},
            "modality_accuracy": {"audio+visual": 0.83, "audio": 0.5, "visual": 0.6},
            "spike_rates": {"input": 0.05, "audio_lif": 0.1, "visual_lif": 0.08, "fusion": 0.12},
            "counts": {"synaptic_ops": 12345.0, "neuron_updates": 8000, "input_spikes": 900.5},
            "raster": {"clip": 3, "label": "happy", "prediction": "happy", "timesteps": 40,
                       "layers": [{"name": "input", "n": 576, "events": [[0, 1], [3, 500]]},
                                  {"name": "fusion", "n": 64, "events": [[1, 2], [39, 63]]}]},
            "cycles": {"lanes": 16, "board": "pynq-z2", "clock_mhz": 100.0, "mean": 5000.0, "min": 4000, "max": 6000,
                       "latency_s_mean": 5e-5, "throughput_per_s": 20000.0, "utilisation_mean": 0.7,
                       "io_words_mean": 1000.0, "with_io_mean": 6000.0},
        },
        "train": {"bits": 8, "epochs": 20, "variants": {"audio+visual": {"best_val_acc": 0.8, "test_acc_torch": 40 / 48, "seconds": 60}}},
        "energy": {"kind": "estimated", "snn_j": 2e-8, "ann_j": 3e-7, "source": "Horowitz 2014", "ratio": 15.0,
                   "synaptic_ops": 12345.0, "ann_macs": 500000, "neuron_updates": 8000.0, "lanes": 16,
                   "terms": "both as integer hardware: SNN 32-bit accumulates vs ANN 8-bit integer MACs; neuron updates costed on both sides; weight-memory reads",
                   "details": {"snn_ops_pj": 1234.5, "snn_neuron_pj": 3200.0, "snn_memory_pj": 15565.5, "snn_weight_bits": 49809.6,
                               "ann_ops_pj": 150000.0, "ann_activations": 8000, "ann_activation_pj": 800.0,
                               "ann_memory_pj": 149200.0, "ann_weight_bits": 477440}},
        "resources": {"kind": "estimated", "tool": "yosys synth_xilinx", "board": "pynq-z2", "part": "xc7z020",
                      "used": {"lut": 5000, "ff": 4000, "bram": 20, "dsp": 0}, "budget": {"lut": 53200, "ff": 106400, "bram": 140, "dsp": 220}},
    }
    if sim_available:
        res["stages"]["simulate"] = {"status": "done", "seconds": 30.0}
        res["simulate"] = {"kind": "simulated", "simulator": "verilator", "clips": 4, "bit_exact": True, "cycles_equal": 4,
                           "compared": ["prediction", "readout", "cycles"], "wall_s": 12.0, "mismatches": []}
    else:
        res["stages"]["simulate"] = {"status": "not available", "reason": "sim.run_core is missing", "seconds": 0.0}
    return res


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def test_render_writes_html_md_and_labelled_figures(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps(fabricated()))
    htm, md = report.render(tmp_path)
    text = md.read_text()
    for name in ("confusion", "modality", "raster", "rates", "energy", "resources"):
        png = tmp_path / "figures" / f"{name}.png"
        w, h = _png_size(png)
        assert w > 200 and h > 100
        assert f"figures/{name}.png" in text
        assert f"figures/{name}.png" in htm.read_text()
    assert "83.3 %" in text  # 40/48
    assert "**bit-exact** on 4 test clips (4/48 of the held-out test split" in text
    assert "<b>bit-exact</b>" in htm.read_text()
    # every figure caption carries its kind
    for line in text.splitlines():
        if line.startswith("!["):
            assert any(f"[{k}" in line for k in figures.KINDS), line
    assert "fusion gain over the best single modality +23.0 points" in text


def test_missing_stage_is_reported_not_faked(tmp_path):
    res = fabricated(sim_available=False)
    report.render(tmp_path, res)
    text = (tmp_path / "report.md").read_text()
    assert "RTL simulation not available: sim.run_core is missing" in text
    assert "bit-exact with golden" not in text
    lines = report.summary_lines(res)
    assert any(line.startswith("simulate: not available") for line in lines)
    assert not any("RTL [simulated" in line for line in lines)


def test_summary_lines_give_the_headline_figures():
    lines = report.summary_lines(fabricated())
    joined = "\n".join(lines)
    assert "accuracy [measured, synthetic data]: 83.3 % (95 % CI 70.4-91.3 %) on 48 test clips (chance 12.5 %)" in joined
    assert "bit-exact on 4/48 held-out clips" in joined
    assert "15.0x less than the same network as an 8-bit integer ANN" in joined
    assert lines[0].startswith("data: the built-in SYNTHETIC corpus")
    assert "lut 5,000 (9.4 %)" in joined


def test_bad_figure_data_is_a_clear_error(tmp_path):
    with pytest.raises(figures.FigureError, match="8x8 matrix"):
        figures.confusion_matrix([[1, 2], [3, 4]], CLASSES, tmp_path / "c.png")
    with pytest.raises(figures.FigureError, match="kind must be one of"):
        figures.spike_rates({"a": 0.1}, tmp_path / "r.png", kind="guessed")
    with pytest.raises(figures.FigureError, match="outside"):
        figures.spike_raster([{"name": "x", "n": 4, "events": [[0, 9]]}], 10, tmp_path / "s.png")


def test_a_bad_figure_becomes_a_line_not_a_crash(tmp_path):
    res = fabricated()
    res["evaluate"]["confusion"] = [[1]]
    report.render(tmp_path, res)
    assert "Figure not drawn: figure 'confusion matrix'" in (tmp_path / "report.md").read_text()


def test_load_results_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="results.json: not found"):
        report.load_results(tmp_path)
    (tmp_path / "results.json").write_text("{nope")
    with pytest.raises(report.ReportError, match="results.json: not valid JSON"):
        report.load_results(tmp_path)


def test_eavs_report_command(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps(fabricated()))
    r = subprocess.run([sys.executable, "-m", "eavs", "report", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "report.html").is_file()
    assert "accuracy [measured, synthetic data]" in r.stdout
    r = subprocess.run([sys.executable, "-m", "eavs", "report", str(tmp_path / "nothing")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "no such run directory" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.fixture
def no_drawing(monkeypatch):
    """Text checks need the captions, not the PNGs: skip matplotlib (about 2 s a render)."""
    monkeypatch.setattr(report, "_figure", lambda doc, fig_dir, name, caption, draw: doc.fig(f"{report.FIG_DIR}/{name}", caption))


def _md(tmp_path, res) -> str:
    report.render(tmp_path, res)
    return (tmp_path / "report.md").read_text()


def test_synthetic_data_is_said_on_the_first_screen_and_beside_every_accuracy(tmp_path, no_drawing):
    text = _md(tmp_path, fabricated())
    assert "**Data: the built-in synthetic corpus.**" in text[:700]
    assert "on real held-out clips" not in text
    acc_lines = [ln for ln in text.splitlines() if ("accuracy" in ln.lower() or "ablations" in ln) and "%" in ln]
    acc_lines.append(next(ln for ln in text.splitlines() if ln.startswith("| model | best validation accuracy")))
    assert len(acc_lines) >= 4
    for ln in acc_lines:
        assert "synthetic data" in ln, ln
    for line in report.summary_lines(fabricated()):
        if "accuracy" in line or "modality" in line:
            assert "synthetic" in line, line
    # a real data set is named instead, and nothing claims it is synthetic
    res = fabricated()
    res["data"].update(spec="ravdess:/data/ravdess", synthetic=False)
    text = _md(tmp_path, res)
    assert "synthetic" not in text.lower() and "on RAVDESS recordings" in text


def test_raster_of_the_golden_model_is_labelled_measured(tmp_path, no_drawing):
    text = _md(tmp_path, fabricated())
    line = next(ln for ln in text.splitlines() if ln.startswith("![Spike raster"))
    assert "[measured, golden model]" in line and "simulated" not in line


def test_accuracy_interval_and_seed_spread_worked_by_hand(tmp_path, no_drawing):
    # Wilson 95 % for 40/48 by hand: centre 0.8086, half-width 0.1044.
    lo, hi = report.accuracy_interval({"accuracy": 40 / 48, "n_test": 48})
    assert (round(lo, 3), round(hi, 3)) == (0.704, 0.913)
    from sw.metrics import wilson_interval

    assert tuple(round(v, 4) for v in wilson_interval(80, 100)) == (0.7112, 0.8666)  # the textbook example
    assert wilson_interval(0, 10)[0] == 0.0 and round(wilson_interval(0, 10)[1], 4) == 0.2775
    res = fabricated()
    text = _md(tmp_path, res)
    assert "One training seed: `eavs demo --seeds N`" in text
    res["seeds"] = {"seeds": [1, 2], "accuracy": [0.75, 0.80]}
    res["stages"]["seeds"] = {"status": "done", "seconds": 100.0}
    # seeds 0, 1, 2: 83.3, 75.0, 80.0 %: mean 79.4 %, sample standard deviation 4.2 points
    text = _md(tmp_path, res)
    assert "over 3 training seeds (same split), test accuracy 79.4 % mean, 4.2 points standard deviation, range 75.0 %-83.3 %" in text


def test_energy_table_has_labels_and_the_baseline_terms(tmp_path, no_drawing):
    text = _md(tmp_path, fabricated())
    section = text[text.index("## Energy"):text.index("## Cycles")]
    for raw in ("snn_j", "ann_j", "ann_macs", "synaptic_ops", "neuron_updates"):
        assert raw not in section, raw
    assert "| arithmetic | 12,345 accumulates x 0.1 pJ = 1.23 nJ | 500,000 MACs x 0.3 pJ = 150 nJ |" in section
    assert "| neuron updates | 8,000 updates x 0.4 pJ = 3.2 nJ | 8,000 activations x 0.1 pJ = 800 pJ |" in section
    assert "| weight-memory reads |" in section
    assert "15.0x less energy than the ANN on these terms" in section
    assert "8-bit integer MACs" in section and "neuron updates costed on both sides" in section


def test_clock_is_assumed_unless_a_build_timed_it_and_io_is_included(tmp_path, no_drawing):
    res = fabricated()
    text = _md(tmp_path, res)
    section = text[text.index("## Cycles"):text.index("## RTL")]
    # 5,000 compute cycles + 1,000 stream words = 6,000 cycles at 100 MHz = 60 µs; compute only 50 µs
    assert "100 MHz, assumed (the pynq-z2 target clock in boards.toml), not timed" in section
    assert "**assumed, not timed**" in section
    assert "| latency per inference, with stream I/O | 60 µs |" in section
    assert "| latency per inference, compute only | 50 µs |" in section
    assert "| throughput, with stream I/O | 16,667 inferences/s |" in section
    res["resources"].update(kind="measured", fmax_mhz=50.0, tool="yosys + nextpnr-ecp5 (placed and routed)")
    text = _md(tmp_path, res)
    section = text[text.index("## Cycles"):text.index("## RTL")]
    assert "50.0 MHz, achieved by the pynq-z2 build (timed" in section
    assert "| latency per inference, with stream I/O | 120 µs |" in section
    assert "not timed" not in section


def test_stage_table_keeps_the_original_time_of_cached_stages(tmp_path, no_drawing):
    text = _md(tmp_path, fabricated())
    assert "| data | cached | 81.5 s (when computed) | 2026-01-01 09:00:00 UTC |" in text


def test_recall_of_a_class_without_clips(tmp_path, no_drawing):
    res = fabricated()
    res["evaluate"]["recall"]["calm"] = None
    text = _md(tmp_path, res)
    assert "| calm | n/a (no samples) |" in text and "nan" not in text.lower()


# -- the sections, each alone ------------------------------------------------------------


def _headings(doc) -> list[str]:
    return [b[2] for b in doc.blocks if b[0] == "h"]


def test_each_section_alone_shows_its_steps_results_or_why_not(tmp_path, no_drawing):
    res = fabricated(sim_available=False)
    # A section reads only its own step's results: each renders from the fabricated run alone.
    assert _headings(report.section_simulate(res, tmp_path)) == ["RTL bit-exactness"]
    assert report.section_simulate(res, tmp_path).blocks[1] == ("p", "RTL simulation not available: sim.run_core is missing")
    assert _headings(report.section_data(res, tmp_path)) == ["Data"]
    assert "96 clips, 6 actors, 8 classes" in report.section_data(res, tmp_path).blocks[1][1]
    assert report.section_data({"stages": {}}, tmp_path).blocks == []  # no data step: no Data section
    stages = report.section_stages(res, tmp_path).blocks[1]
    assert stages[0] == "table" and ["data", "cached", "81.5 s (when computed)", "2026-01-01 09:00:00 UTC", ""] in stages[2]
    cycles = report.section_cycles(res, tmp_path)
    assert ["compute cycles per inference (min / max)", "4,000 / 6,000"] in cycles.blocks[2][2]
    failed = {"stages": {"energy": {"status": "failed", "reason": "failed: ValueError: no"}}}
    assert report.section_energy(failed, tmp_path).blocks[1] == ("p", "Energy estimate failed: ValueError: no")


def test_seed_section_worked_by_hand(tmp_path):
    # 0.5 (main run), 0.7 and 0.6 (extra seeds): mean 60 %, sample std 10 points.
    res = {"stages": {}, "evaluate": {"accuracy": 0.5}, "seeds": {"accuracy": [0.7, 0.6]}, "data": {"synthetic": True}}
    (kind, text), = report.section_seeds(res, tmp_path).blocks
    assert text.startswith("**measured** on synthetic data: over 3 training seeds (same split), test accuracy 60.0 % mean, 10.0 points")


def test_report_is_its_sections_in_order(tmp_path, no_drawing):
    res = fabricated()
    whole = report.build_blocks(res, tmp_path).blocks
    assert whole == [b for section in report.SECTIONS for b in section(res, tmp_path).blocks]
    top = [h for s in report.SECTIONS for h in _headings(s(res, tmp_path))]
    assert top == ["EAVS-TF demo report (test)", "Summary", "Stages", "Data", "Training", "Accuracy", "Spikes and operations",
                   "Energy", "Adaptive inference", "Cycles, latency and throughput", "RTL bit-exactness", "Resources"]


def test_adaptive_section_labels_every_figure(tmp_path, no_drawing):
    """The adaptive step's figures as the report shows them (literal values in, literal text out)."""
    res = {"stages": {"adaptive": {"status": "done"}}, "data": {"synthetic": True}, "adaptive": {
        "val_clips": 160, "fronts": {"exit": [[50.0, 0.9]], "cascade": [[40.0, 0.88]], "both": [[30.0, 0.9]]},
        "fixed": [100.0, 0.91], "classes": ["calm", "sad"],
        "chosen": {"family": "both", "label": "gate M=5 t_min=8; exit M=9 t_min=4", "energy_nj": 30.0, "accuracy": 0.9,
                   "camera_free": 0.3, "mean_steps": 20.0},
        "test": {"accuracy": 0.9, "fixed_accuracy": 0.91, "energy_nj": 31.25, "fixed_energy_nj": 100.0, "cycles": 5000.0,
                 "fixed_cycles": 9000.0, "link_bytes": 1200.0, "fixed_link_bytes": 4000.0, "camera_free": 0.3,
                 "mean_steps": 21.5, "timesteps": 40, "escalated": 7, "paid_twice_nj": 4.5, "camera_free_strong": 0.8,
                 "camera_free_normal": 0.05, "per_class": {"0": {"clips": 5, "camera_free": 0.4, "accuracy": 1.0,
                                                                  "fixed_accuracy": 1.0, "mean_steps": 18.0}}}}}
    doc = report.section_adaptive(res, tmp_path)
    text = str(doc.blocks)
    assert _headings(doc) == ["Adaptive inference"]
    assert "**validation** split (160 clips)" in text and "**estimated** energy" in text and "synthetic corpus" in text
    table = next(b for b in doc.blocks if b[0] == "table")
    assert ["energy per inference (estimated, sw.energy)", "31.25 nJ", "100.00 nJ"] in table[2]
    assert ["mean steps run (exit step + 1)", "21.50", "40"] in table[2]
    assert "pay the audio stage twice: 4.50 nJ each" in text
    skipped = {"stages": {"adaptive": {"status": "done"}}, "adaptive": {"skipped": "adaptive = false"}}
    assert report.section_adaptive(skipped, tmp_path).blocks[1] == ("p", "Adaptive inference not run: adaptive = false")

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
            "data": {"status": "cached", "seconds": 0.1},
            "evaluate": {"status": "done", "seconds": 1.0},
            "energy": {"status": "done", "seconds": 0.1},
            "resources": {"status": "done", "seconds": 3.0},
        },
        "data": {"spec": "builtin:x", "clips": 96, "actors": 6, "classes": CLASSES, "skipped": 0,
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
                       "latency_s_mean": 5e-5, "throughput_per_s": 20000.0, "utilisation_mean": 0.7},
        },
        "energy": {"kind": "estimated", "snn_j": 2e-8, "ann_j": 3e-7, "source": "Horowitz 2014", "ratio": 15.0},
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
    assert "**bit-exact** on 4 test clips" in text
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
    assert "accuracy [measured]: 83.3 % on 48 test clips (chance 12.5 %)" in joined
    assert "bit-exact on 4 clips" in joined
    assert "15.0x less than the ANN" in joined
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
    assert "accuracy [measured]" in r.stdout
    r = subprocess.run([sys.executable, "-m", "eavs", "report", str(tmp_path / "nothing")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "no such run directory" in r.stderr
    assert "Traceback" not in r.stderr

"""`eavs data synth / info / encode` from the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from eavs.cli import app

runner = CliRunner()


def test_synth_info_encode(tmp_path):
    out = tmp_path / "corpus"
    r = runner.invoke(app, ["data", "synth", "--out", str(out), "--clips", "4", "--seed", "2", "--actors", "2", "--workers", "1"])
    assert r.exit_code == 0, r.output
    assert "wrote 4 synthetic clips" in r.output and len(list(out.glob("Actor_*/*.wav"))) == 4
    r = runner.invoke(app, ["data", "info", f"builtin:{out}"])
    assert r.exit_code == 0, r.output
    assert "4 clips, 1 actors, 0 skipped" in r.output
    npz = tmp_path / "enc.npz"
    r = runner.invoke(app, ["data", "encode", f"builtin:{out}", "--modality", "audio", "--timesteps", "10", "--out", str(npz), "--workers", "1"])
    assert r.exit_code == 0, r.output
    with np.load(npz, allow_pickle=False) as z:
        assert z["x"].shape == (4, 10, 64) and list(z["y"]) == [0, 1, 2, 3]
        header = json.loads(bytes(z["meta"]).decode())
    assert header["inputs"][0]["encoder"]["kind"] == "audio" and header["classes"][0] == "neutral"
    params = tmp_path / "enc.json"
    params.write_text(json.dumps([{"kind": "visual", "side": 8, "timesteps": 6}]))
    r = runner.invoke(app, ["data", "encode", f"builtin:{out}", "--params", str(params), "--out", str(npz), "--workers", "1"])
    assert r.exit_code == 0, r.output
    with np.load(npz, allow_pickle=False) as z:
        assert z["x"].shape == (4, 6, 128)


def test_user_errors_are_one_line_with_exit_code_2(tmp_path):
    eavs = Path(sys.executable).parent / "eavs"
    r = subprocess.run([str(eavs), "data", "info", f"imagenet:{tmp_path}"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [f"error: data set spec 'imagenet:{tmp_path}': unknown kind 'imagenet' (one of ['builtin', 'ravdess', 'cremad'])"]
    r = subprocess.run([str(eavs), "data", "synth", "--out", str(tmp_path / "x"), "--clips", "0"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "clips must be an integer >= 1, not 0" in r.stderr

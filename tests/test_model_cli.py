"""The model commands end to end: eavs train -> export -> eval -> nir, and
their one-line errors (exit code 2)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_model_train import structured_data

ROOT = Path(__file__).resolve().parents[1]


def eavs(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "eavs", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300)


def run_cli(*args):
    """In-process (one torch import for the whole chain); errors propagate as exceptions."""
    from typer.testing import CliRunner

    from eavs.cli import app

    r = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    return subprocess.CompletedProcess(args, r.exit_code, r.stdout, "")


def test_train_export_eval_nir_chain(tmp_path):
    from sw.train import save_npz

    data = save_npz(tmp_path / "d.npz", structured_data(n=96, seed=8))
    r = run_cli("train", "--data", f"npz:{data}", "--out", tmp_path / "run", "--epochs", "2", "--batch-size", "16",
             "--hidden", "8,8,8", "--no-progress", "--threads", "1", "--reset", "zero", "--bits", "6")
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / "run" / "best.pt").is_file() and "test_acc" in r.stdout
    r = run_cli("export", tmp_path / "run" / "best.pt", "--out", tmp_path / "m.qnet")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "fits the default capacity" in r.stdout
    r = run_cli("eval", "--model", tmp_path / "m.qnet", "--data", f"npz:{data}", "--json", tmp_path / "e.json", "--neurobench")
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads((tmp_path / "e.json").read_text())
    assert res["energy"]["kind"] == "estimated" and 0 <= res["accuracy"] <= 1 and "neurobench" in res
    assert "confusion" in r.stdout and "per-class recall" in r.stdout and "(estimated" in r.stdout
    r = run_cli("nir", "export", tmp_path / "m.qnet", "--out", tmp_path / "m.nir")
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / "m.nir").stat().st_size > 0  # import is covered in test_model_nir.py


def test_cli_errors_are_one_line(tmp_path):
    r = eavs("export", tmp_path / "missing.pt", "--out", tmp_path / "m.qnet")
    assert r.returncode == 2 and "no such checkpoint" in r.stderr and "Traceback" not in r.stderr

"""Every path a user takes round-trips, and their data folder stays theirs (issue 23).

- ``eavs data encode --out F.npz`` -> ``eavs train --data npz:F`` ->
  ``eavs export`` -> ``eavs eval --data npz:F`` and ``--data builtin:DIR``,
  through the CLI, on exactly the files each command writes;
- the data tree (names, sizes, mtimes) is the same before and after ``info``,
  ``encode``, ``train`` and ``eval``: the encode cache goes to the user's
  cache folder, and its first line says where, how big and how to clear it;
- a take whose 01 video is 0 bytes uses its intact 02 video.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from eavs.cli import app
from sw.data.dataset import default_cache_dir, load_encoded, scan_spec
from sw.encode import AudioEncoder, VisualEncoder
from tests.test_data_odd_files import mp4, name, wav

runner = CliRunner()


def tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``root``: relative path -> (size, mtime_ns)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = Path(dirpath) / n
            st = p.lstat()
            out[str(p.relative_to(root))] = (st.st_size if p.is_file() else 0, st.st_mtime_ns)
    return out


def cli(*args) -> str:
    r = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert r.exit_code == 0, r.output[-3000:]
    return r.output


def test_encode_train_export_eval_round_trip_and_the_data_tree_is_untouched(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    data = tmp_path / "corpus"
    cli("data", "synth", "--out", data, "--clips", "24", "--actors", "3", "--seed", "1", "--workers", "1")
    before = tree(data)
    assert before  # the corpus is there

    cli("data", "info", f"builtin:{data}")
    npz = tmp_path / "enc.npz"
    out = cli("data", "encode", f"builtin:{data}", "--modality", "audio", "--timesteps", "10", "--out", npz, "--workers", "1")
    first = out.splitlines()[0]
    assert first.startswith(f"cache: {tmp_path / 'xdg' / 'eavs'} (0 encoded sets, 0.0 MB); clear it with `eavs data cache --clear`"), first
    assert f"wrote {npz} (read it with --data npz:{npz})" in out
    assert len(list((tmp_path / "xdg" / "eavs").glob("builtin-*.npz"))) == 1

    cli("train", "--data", f"npz:{npz}", "--out", tmp_path / "run", "--epochs", "1", "--batch-size", "4",
        "--hidden", "8,8,8", "--modalities", "audio", "--no-progress", "--threads", "1")  # fmt: skip
    cli("export", tmp_path / "run" / "best.pt", "--out", tmp_path / "m.qnet")
    cli("eval", "--model", tmp_path / "m.qnet", "--data", f"npz:{npz}", "--split", "all", "--json", tmp_path / "e1.json")
    cli("eval", "--model", tmp_path / "m.qnet", "--data", f"builtin:{data}", "--split", "all", "--json", tmp_path / "e2.json")
    e1, e2 = (json.loads((tmp_path / f"e{i}.json").read_text()) for i in (1, 2))
    assert e1["accuracy"] == e2["accuracy"]  # the npz file and the folder are the same samples

    assert tree(data) == before  # nothing written, touched or removed inside the data folder
    out = cli("data", "cache")
    assert out.strip().startswith(f"cache: {tmp_path / 'xdg' / 'eavs'} (1 encoded sets,")
    out = cli("data", "cache", "--clear")
    assert out.startswith("cleared 1 encoded sets") and not list((tmp_path / "xdg" / "eavs").glob("*.npz"))


def test_the_cache_lives_in_the_users_cache_folder_and_says_so(tmp_path, monkeypatch, capsys):
    wav(tmp_path / "data" / "Actor_01" / name(3))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "eavs"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == Path.home() / ".cache" / "eavs"
    (tmp_path / "xdg-file").write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-file"))
    s = load_encoded(f"ravdess:{tmp_path / 'data'}", [AudioEncoder(timesteps=10)], progress=False, workers=1)
    assert len(s) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[0] == (f"cache: none (no writable cache folder at {tmp_path / 'xdg-file' / 'eavs'}; "
                                   "give --cache-dir DIR), encoding uncached")  # fmt: skip
    assert sorted(p.name for p in (tmp_path / "data").rglob("*")) == sorted(["Actor_01", name(3)])  # no cache inside


def test_npz_files_written_by_older_encode_still_read(tmp_path):
    """Before this fix `eavs data encode --out` stored the header as 'header'."""
    from sw.train import load_data

    meta = {"classes": ["a", "b"], "inputs": [{"name": "audio", "size": 3, "encoder": {}}]}
    np.savez_compressed(tmp_path / "old.npz", x=np.zeros((2, 4, 3), np.uint8), y=np.array([0, 1]), actors=np.array([1, 2]),
                        header=np.frombuffer(json.dumps(meta).encode(), np.uint8))  # fmt: skip
    d = load_data(f"npz:{tmp_path / 'old.npz'}")
    assert d.classes == ["a", "b"] and d.x.shape == (2, 4, 3) and d.inputs[0].size == 3


def test_a_take_whose_01_video_is_empty_uses_its_02_video(tmp_path):
    a = tmp_path / "Actor_01"
    wav(a / name(3))
    (a / name(3, modality=1, ext=".mp4")).write_bytes(b"")
    mp4(a / name(3, modality=2, ext=".mp4"), 20)
    classes, clips, skipped, _ = scan_spec(f"ravdess:{tmp_path}", [AudioEncoder(timesteps=10), VisualEncoder(timesteps=10)])
    assert [Path(c.video).name for c in clips] == [name(3, modality=2, ext=".mp4")]
    assert [(Path(s.path).name, s.reason) for s in skipped] == [
        (name(3, modality=1, ext=".mp4"), f"0 bytes (this take uses {name(3, modality=2, ext='.mp4')} instead)")
    ]


def test_info_says_how_many_clips_it_did_not_check_for_a_face_and_checks_them_on_request(tmp_path):
    cli("data", "synth", "--out", tmp_path, "--clips", "2", "--actors", "2", "--seed", "0", "--workers", "1")
    a = tmp_path / "Actor_01"
    wav(a / name(3))
    mp4(a / name(3, modality=1, ext=".mp4"), 40)  # flat grey frames: no face
    spec = f"ravdess:{tmp_path}"
    out = cli("data", "info", spec)
    assert f"{spec}: 3 clips, 1 actors, 0 skipped" in out
    assert "3 clips not checked for a face: `encode` may still skip some (--check-faces checks them now)" in out
    out = cli("data", "info", spec, "--check-faces")
    assert f"{spec}: 2 clips, 1 actors, 1 skipped" in out and "not checked" not in out
    assert f"skipped {a / name(3, modality=1, ext='.mp4')}: no face found by the Haar cascade in 7 sampled frames" in out  # 40 frames, a probe every 6th: 0, 6, ..., 36


def test_info_on_10000_empty_files_prints_a_summary_by_reason(tmp_path):
    a = tmp_path / "Actor_01"
    a.mkdir()
    valid = [f"03-01-{e:02d}-{i:02d}-{s:02d}-{r:02d}-01.wav" for e in range(1, 9) for i in (1, 2) for s in (1, 2) for r in (1, 2)
             if not (e == 1 and i == 2)]  # fmt: skip
    for n in valid:
        (a / n).write_bytes(b"")
    for k in range(10000 - len(valid)):
        (a / f"take{k:05d}.wav").write_bytes(b"")
    spec = f"ravdess:{tmp_path}"
    r = runner.invoke(app, ["data", "info", spec, "--modality", "audio", "--skipped", str(tmp_path / "s.csv")])
    lines = r.output.splitlines()
    assert lines[0] == f"{spec}: 0 clips, 0 actors, 10000 skipped, 0 warnings"
    assert len(lines) == 8, r.output
    assert lines[4] == (f"    {10000 - len(valid)}x FILE: not a RAVDESS name (want seven 2-digit fields MM-VV-EE-II-SS-RR-AA): "
                        f"e.g. {a / 'take00000.wav'}, {a / 'take00001.wav'}, {a / 'take00002.wav'}, ...")  # fmt: skip
    assert lines[5] == f"    60x 0 bytes: e.g. {a / valid[0]}, {a / valid[1]}, {a / valid[2]}, ..."
    assert lines[6] == f"  wrote 10000 skipped files to {tmp_path / 's.csv'}"
    rows = (tmp_path / "s.csv").read_text().splitlines()
    assert rows[0] == "path,reason" and len(rows) == 10001 and f"{a / valid[0]},0 bytes" in rows
    r = runner.invoke(app, ["data", "info", spec, "--modality", "audio", "--verbose"])
    assert sum(ln.startswith("  skipped /") for ln in r.output.splitlines()) == 10000


def test_a_truncated_mp4_is_skipped_without_ffmpegs_own_line(tmp_path):
    import subprocess
    import sys

    a = tmp_path / "Actor_01"
    wav(a / name(3))
    good = mp4(tmp_path / "whole.mp4", 30)
    data = good.read_bytes()
    (a / name(3, modality=1, ext=".mp4")).write_bytes(data[: len(data) // 2])
    r = subprocess.run([sys.executable, "-m", "eavs", "data", "info", f"ravdess:{tmp_path}"], capture_output=True, text=True,
                       cwd=Path(__file__).resolve().parents[1], timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "unreadable video (OpenCV cannot open it)" in r.stdout
    assert "moov atom" not in r.stderr and "moov atom" not in r.stdout, r.stderr

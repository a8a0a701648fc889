"""Loaders never pass off a broken clip (issue 15): each odd file the tests build
themselves (real wav / mp4 formats, small) is skipped or warned about with its
own reason, odd paths are read through a safe route, a dying worker is
reported with its clip, an empty data set stops with the top reasons, the
cache notices replaced content, and a misspelled or missing data spec fails
in one line before any work."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import soundfile
from typer.testing import CliRunner

from eavs.cli import app
from sw.data import DataSpecError, check_data_spec, dataset, load_encoded, media
from sw.data.dataset import scan_spec
from sw.data.synth import MANIFEST
from sw.encode import AudioEncoder

AUDIO = [AudioEncoder(timesteps=10)]
SR = 16000


def voice(seconds: float = 0.5, seed: int = 0, amp: float = 0.3) -> np.ndarray:
    """A short buzzy vowel-like sound (not silent, not a pure tone)."""
    t = np.arange(int(seconds * SR)) / SR
    rng = np.random.default_rng(seed)
    x = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 12)) * np.sin(np.pi * t / seconds) ** 2
    return amp * x / np.max(np.abs(x)) + 0.001 * rng.standard_normal(t.size)


def wav(path: Path, x: np.ndarray | None = None, sr: int = SR) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:  # a file object: the path may hold bytes libsndfile cannot take
        soundfile.write(f, voice() if x is None else x, sr, format="WAV")
    return path


def mp4(path: Path, n_frames: int, h: int = 48, w: int = 64) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    plain = Path(tempfile.mkdtemp()) / "plain.mp4" if not str(path).isascii() else path
    writer = cv2.VideoWriter(str(plain), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (w, h), True)
    assert writer.isOpened()
    for i in range(n_frames):
        writer.write(np.full((h, w, 3), 60 + i % 50, np.uint8))
    writer.release()
    if plain != path:
        os.rename(plain, path)  # OpenCV must never see the odd path string
    return path


def name(emotion: int, rep: int = 1, actor: int = 1, modality: int = 3, vocal: int = 1, ext: str = ".wav") -> str:
    return f"{modality:02d}-{vocal:02d}-{emotion:02d}-01-01-{rep:02d}-{actor:02d}{ext}"


def reasons(spec: str, encoders=AUDIO) -> dict[str, str]:
    _, _, skipped, _ = scan_spec(spec, encoders)
    return {os.fsencode(Path(s.path).name).decode("utf-8", "replace"): s.reason for s in skipped}


# -- one odd file per case, each with its reason --------------------------------


def test_zero_byte_file_is_skipped_as_0_bytes(tmp_path):
    wav(tmp_path / "Actor_01" / name(3))
    (tmp_path / "Actor_01" / name(4)).write_bytes(b"")
    assert reasons(f"ravdess:{tmp_path}") == {name(4): "0 bytes"}


def test_broken_symlink_is_skipped_as_broken_symlink(tmp_path):
    wav(tmp_path / "Actor_01" / name(3))
    (tmp_path / "Actor_01" / name(4)).symlink_to(tmp_path / "gone.wav")
    assert reasons(f"ravdess:{tmp_path}") == {name(4): "broken symlink"}


def test_unreadable_file_is_skipped_as_permission_denied(tmp_path):
    p = wav(tmp_path / "Actor_01" / name(4))
    if os.geteuid() == 0:
        pytest.skip("running as root: root reads a mode-000 file (the monkeypatched route below covers the reason)")
    p.chmod(0)
    try:
        assert reasons(f"ravdess:{tmp_path}") == {name(4): "permission denied"}
    finally:
        p.chmod(0o644)


def test_permission_denied_reason_through_a_failing_open(tmp_path, monkeypatch):
    """Root passes every permission check, so this route makes the read fail as it
    would for an ordinary user (the test suite runs as root here)."""
    p = wav(tmp_path / "Actor_01" / name(4))

    def denied(path, *a, **k):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(media, "open", denied, raising=False)
    assert media.file_problem(p) == "permission denied"
    assert reasons(f"ravdess:{tmp_path}") == {name(4): "permission denied"}


def test_song_takes_are_excluded_by_default_and_included_on_request(tmp_path):
    wav(tmp_path / "Actor_01" / name(3))
    wav(tmp_path / "Actor_01" / name(4, vocal=2))
    why = reasons(f"ravdess:{tmp_path}")
    assert list(why) == [name(4, vocal=2)] and "song take (vocal channel 02)" in why[name(4, vocal=2)]
    _, clips, _, _ = scan_spec(f"ravdess:{tmp_path}?vocal=both", AUDIO)
    assert [c.info["vocal"] for c in clips] == ["speech", "song"]
    _, clips, skipped, _ = scan_spec(f"ravdess:{tmp_path}?vocal=song", AUDIO)
    assert [c.info["vocal"] for c in clips] == ["song"] and "vocal=song" in skipped[0].reason
    r = CliRunner().invoke(app, ["data", "info", f"ravdess:{tmp_path}", "--modality", "audio", "--vocal", "both"])
    assert r.exit_code == 0, r.output
    assert "2 clips" in r.output and "no disgust, no surprised" in r.output


def test_warnings_are_counted_silent_short_video_and_length_mismatch(tmp_path):
    a = tmp_path / "Actor_01"
    wav(a / name(3), np.zeros(SR // 2))  # silent
    wav(a / name(4), voice(0.5))
    mp4(a / name(4, modality=1, ext=".mp4"), 3)  # 3 frames: too few, and 0.1 s against 0.5 s of audio
    wav(a / name(5), voice(0.5))
    _, clips, skipped, warnings = scan_spec(f"ravdess:{tmp_path}?vocal=speech", AUDIO)
    assert len(clips) == 3 and not skipped
    # The video checks need a visual encoder; audio-only warnings come from encoding.
    s = load_encoded(f"ravdess:{tmp_path}", AUDIO, cache_dir=tmp_path / "c", progress=False, workers=1)
    assert [(Path(p).name, w.split(" (")[0]) for p, w in s.warnings] == [(name(3), "silent audio")]
    assert "1 warnings" in s.summary()
    from sw.encode import VisualEncoder

    _, _, _, warnings = scan_spec(f"ravdess:{tmp_path}", [AudioEncoder(timesteps=10), VisualEncoder(timesteps=10)])
    (ws,) = warnings.values()
    assert ws[0] == "video of only 3 frames (fewer than 16)"
    assert ws[1] == "audio 0.50 s and video 0.10 s differ by more than 1.5x"


def test_info_counts_equal_what_encode_uses(tmp_path):
    a = tmp_path / "Actor_01"
    for e in (2, 3, 5):
        wav(a / name(e))
    (a / name(4)).write_bytes(b"")
    (a / name(6)).write_bytes(b"RIFF....WAVEfmt garbage")
    wav(a / name(7), voice()[::2], 8000)
    r = CliRunner().invoke(app, ["data", "info", f"ravdess:{tmp_path}", "--modality", "audio"])
    assert r.exit_code == 0, r.output
    assert "3 clips, 1 actors, 3 skipped" in r.output
    s = load_encoded(f"ravdess:{tmp_path}", AUDIO, cache_dir=tmp_path / "c", progress=False, workers=1)
    assert len(s) == 3 and len(s.skipped) == 3


# -- odd paths and worker crashes ------------------------------------------------


def test_paths_that_are_not_utf8_are_read_through_a_safe_route(tmp_path):
    """OpenCV's VideoCapture segfaults on such a path string; libsndfile cannot take it."""
    odd = Path(os.fsdecode(bytes(tmp_path) + b"/r\xffot"))  # the data set root itself holds the byte
    wav(odd / "Actor_01" / name(3))
    mp4(odd / "Actor_01" / name(3, modality=1, ext=".mp4"), 20)
    n, fps = media.video_info(odd / "Actor_01" / name(3, modality=1, ext=".mp4"))
    frames, fps2 = media.read_video(odd / "Actor_01" / name(3, modality=1, ext=".mp4"))
    assert (n, fps, frames.shape[0], fps2) == (20, 30.0, 20, 30.0)
    s = load_encoded(f"ravdess:{odd}", AUDIO, cache_dir=tmp_path / "c", progress=False, workers=1)
    assert len(s) == 1 and s.x.sum() > 0
    assert "\\xff" in s.summary()  # printable: the summary shows the byte escaped


def test_a_worker_that_dies_is_reported_with_its_clip(tmp_path, monkeypatch):
    for e in range(1, 9):
        wav(tmp_path / "Actor_01" / name(e, rep=1 if e != 1 else 2))
    killer = name(5)
    real = dataset._encode_checked

    def crash_on_one(clip, encoders):
        if clip.path.endswith(killer):
            os._exit(11)  # what a segfault in a media library does to a worker
        return real(clip, encoders)

    monkeypatch.setattr(dataset, "_encode_checked", crash_on_one)  # workers fork and inherit it
    s = load_encoded(f"ravdess:{tmp_path}", AUDIO, cache_dir=tmp_path / "c", progress=False, workers=2)
    assert len(s) == 7
    assert [(Path(p).name, r) for p, r in s.skipped] == [(killer, "the encoder process died on this clip (crash in a media library)")]


def test_empty_data_set_stops_with_top_reasons(tmp_path):
    (tmp_path / "Actor_01").mkdir()
    for e in (3, 4):
        (tmp_path / "Actor_01" / name(e)).write_bytes(b"")
    (tmp_path / "Actor_01" / name(5)).symlink_to(tmp_path / "gone.wav")
    with pytest.raises(DataSpecError) as err:
        load_encoded(f"ravdess:{tmp_path}", AUDIO, cache_dir=tmp_path / "c", progress=False, workers=1)
    assert str(err.value) == f"no usable clip in ravdess:{tmp_path}: 3 skipped (top reasons: 2x 0 bytes; 1x broken symlink)"


# -- cache ---------------------------------------------------------------------


def test_cache_sees_replaced_content_with_old_mtime_and_prunes_stale_files(tmp_path, monkeypatch):
    p = wav(tmp_path / "Actor_01" / name(3), voice(seed=1))
    calls = []
    real = dataset._encode_all
    monkeypatch.setattr(dataset, "_encode_all", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = load_encoded(f"ravdess:{tmp_path}", AUDIO, cache_dir=tmp_path / "c", progress=False, workers=1)
    st = p.stat()
    x = soundfile.read(str(p))[0]
    x[len(x) // 2 :] = 0.0
    soundfile.write(str(p), x, SR)  # same size, other content
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert p.stat().st_size == st.st_size and p.stat().st_mtime_ns == st.st_mtime_ns
    again = load_encoded(f"ravdess:{tmp_path}", AUDIO, cache_dir=tmp_path / "c", progress=False, workers=1)
    assert len(calls) == 2 and not np.array_equal(again.x, first.x)  # re-encoded, not served stale
    assert len(list((tmp_path / "c").glob("ravdess-*.npz"))) == 1  # the stale file was pruned


# -- data specs ------------------------------------------------------------------


def test_check_data_spec_catches_typos_and_missing_folders_cheaply(tmp_path):
    with pytest.raises(DataSpecError, match="unknown kind 'ravdes'.*did you mean 'ravdess'"):
        check_data_spec(f"ravdes:{tmp_path}")
    with pytest.raises(DataSpecError, match="did you mean 'npz'"):
        check_data_spec(f"npy:{tmp_path}/x.npz", allow_npz=True)
    with pytest.raises(DataSpecError, match=r"folder /nonexistent/dir does not exist \(make one with `eavs data synth"):
        check_data_spec("builtin:/nonexistent/dir")
    with pytest.raises(DataSpecError, match="holds no built-in corpus"):
        check_data_spec(f"builtin:{tmp_path}")
    with pytest.raises(DataSpecError, match="x.npz not found"):
        check_data_spec(f"npz:{tmp_path}/x.npz", allow_npz=True)
    (tmp_path / MANIFEST).write_text("{}")
    assert check_data_spec(f"builtin:{tmp_path}")[0] == "builtin"


def test_builtin_spec_of_a_missing_folder_is_never_synthesised(tmp_path):
    where = tmp_path / "nope"
    with pytest.raises(DataSpecError, match="does not exist"):
        load_encoded(f"builtin:{where}", AUDIO, progress=False)
    assert not where.exists()
    r = CliRunner().invoke(app, ["data", "encode", f"builtin:{where}", "--modality", "audio"])
    assert r.exit_code != 0 and not where.exists()


def test_train_on_a_missing_builtin_folder_names_it_and_creates_nothing(tmp_path):
    where = tmp_path / "nowhere" / "dir"
    r = CliRunner().invoke(app, ["train", "--data", f"builtin:{where}", "--out", str(tmp_path / "run")])
    assert r.exit_code != 0
    assert "does not exist (make one with `eavs data synth" in (r.output + str(r.exception))
    assert not (tmp_path / "nowhere").exists()

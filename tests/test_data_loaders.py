"""RAVDESS and CREMA-D loaders on tiny real files (wav via soundfile, mp4/flv via
OpenCV), broken ones included: every bad file is skipped with its name and
reason, good clips are encoded bit-exactly as the encoders do by hand, and
the on-disk cache is keyed by encoder parameters and file identity."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import soundfile

from sw.data import DataSpecError, load_encoded, parse_spec
from sw.data import cremad, dataset, ravdess
from sw.data.media import MediaError, read_audio, read_video, track_crops
from sw.data.synth import Actor, render_clip
from sw.encode import AudioEncoder, VisualEncoder, encode_clip
from sw.data.ravdess import RavdessName

ENCODERS = [AudioEncoder(timesteps=20), VisualEncoder(timesteps=20)]

# One worker builds the module data set tree once (under --dist loadgroup).
pytestmark = pytest.mark.xdist_group("data_loaders")


def write_video(path: Path, frames: np.ndarray, fps: float = 30.0, fourcc: str = "mp4v") -> None:
    h, w = frames.shape[1:]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h), True)
    assert writer.isOpened(), path
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_GRAY2BGR))
    writer.release()


def synthetic_take(emotion: int = 3, actor: int = 1, index: int = 0):
    name = RavdessName(3, 1, emotion, 1, 1, 1, actor)
    return render_clip(7, index, Actor.make(7, actor), name)


@pytest.fixture(scope="module")
def ravdess_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("ravdess")
    a1, a2 = root / "Actor_01", root / "Actor_02"
    a1.mkdir(), a2.mkdir()
    bad = {}
    # Two good takes (audio at 48 kHz like real RAVDESS, video 30 fps).
    for folder, actor, emo in ((a1, 1, 3), (a2, 2, 5)):
        audio, frames = synthetic_take(emo, actor)
        x48 = np.interp(np.arange(len(audio) * 3) / 3, np.arange(len(audio)), audio)
        soundfile.write(str(folder / f"03-01-{emo:02d}-01-01-01-{actor:02d}.wav"), x48, 48000)
        write_video(folder / f"01-01-{emo:02d}-01-01-01-{actor:02d}.mp4", frames)
        write_video(folder / f"02-01-{emo:02d}-01-01-01-{actor:02d}.mp4", frames)  # video-only twin of the 01
    audio, frames = synthetic_take(4, 1, index=1)
    good_wav = a1 / "03-01-03-01-01-01-01.wav"
    # Broken takes, each with the reason we expect to see.
    bad[a1 / "03-01-09-01-01-01-01.wav"] = "invalid emotion code 09"
    bad[a1 / "03-01-01-02-01-01-01.wav"] = "neutral (emotion 01) has no strong intensity"
    bad[a1 / "03-01-04-01-01-01.wav"] = "not a RAVDESS name"
    bad[a1 / "03-01-04-01-01-02-07.wav"] = "file is in Actor_01"
    for p in bad:
        p.write_bytes(good_wav.read_bytes())
    soundfile.write(str(a1 / "03-01-04-01-02-01-01.wav"), np.zeros(0), 16000)  # empty
    write_video(a1 / "01-01-04-01-02-01-01.mp4", frames)
    bad[a1 / "01-01-04-01-02-01-01.mp4"] = "no samples"
    (a1 / "03-01-04-01-02-02-01.wav").write_bytes(b"RIFF....WAVEfmt garbage")  # unreadable
    write_video(a1 / "01-01-04-01-02-02-01.mp4", frames)
    bad[a1 / "01-01-04-01-02-02-01.mp4"] = "unreadable audio"
    soundfile.write(str(a1 / "03-01-04-02-01-01-01.wav"), audio[::2], 8000)  # wrong sample rate
    write_video(a1 / "01-01-04-02-01-01-01.mp4", frames)
    bad[a1 / "01-01-04-02-01-01-01.mp4"] = "sample rate 8000 Hz is below the required 16000 Hz"
    soundfile.write(str(a1 / "03-01-04-02-01-02-01.wav"), audio, 16000)
    good_mp4 = a1 / "01-01-03-01-01-01-01.mp4"
    (a1 / "01-01-04-02-01-02-01.mp4").write_bytes(good_mp4.read_bytes()[:3000])  # truncated
    bad[a1 / "01-01-04-02-01-02-01.mp4"] = "unreadable video"
    soundfile.write(str(a1 / "03-01-04-02-02-01-01.wav"), audio, 16000)
    write_video(a1 / "01-01-04-02-02-01-01.mp4", np.full((40, 96, 128), 120, np.uint8))  # no face
    bad[a1 / "01-01-04-02-02-01-01.mp4"] = "no face found"
    soundfile.write(str(a1 / "03-01-04-02-02-02-01.wav"), audio, 16000)  # no video for this take
    bad[a1 / "03-01-04-02-02-02-01.wav"] = "no matching audio-video"
    return root, bad


def test_ravdess_names_parse_and_validate_every_field():
    n = ravdess.parse_name("x/01-01-06-02-01-02-12.mp4")
    assert (n.modality, n.vocal, n.emotion, n.intensity, n.statement, n.repetition, n.actor) == (1, 1, 6, 2, 1, 2, 12)
    for name, field in [
        ("04-01-06-02-01-02-12", "modality"),
        ("01-03-06-02-01-02-12", "vocal"),
        ("01-01-00-02-01-02-12", "emotion"),
        ("01-01-06-03-01-02-12", "intensity"),
        ("01-01-06-02-03-02-12", "statement"),
        ("01-01-06-02-01-00-12", "repetition"),
        ("01-01-06-02-01-02-00", "actor"),
    ]:
        with pytest.raises(ravdess.RavdessNameError, match=f"{name}.wav: invalid {field} code"):
            ravdess.parse_name(name + ".wav")
    with pytest.raises(ravdess.RavdessNameError, match="seven 2-digit fields"):
        ravdess.parse_name("01-01-06-02-01-02.wav")


def test_cremad_names_parse_and_validate_every_field():
    n = cremad.parse_name("AudioWAV/1001_DFA_ANG_XX.wav")
    assert (n.actor, n.sentence, n.emotion, n.level) == (1001, "DFA", "ANG", "XX")
    for name, what in [
        ("1000_DFA_ANG_XX", "actor"),
        ("1001_ABC_ANG_XX", "sentence"),
        ("1001_DFA_JOY_XX", "emotion"),
        ("1001_DFA_ANG_ZZ", "level"),
        ("1001-DFA-ANG-XX", "not a CREMA-D name"),
    ]:
        with pytest.raises(cremad.CremaNameError, match=what):
            cremad.parse_name(name + ".wav")
    assert len(cremad.CLASSES) == 6


def test_ravdess_load_skips_every_broken_file_with_its_reason(ravdess_tree, tmp_path, capsys):
    root, bad = ravdess_tree
    s = load_encoded(f"ravdess:{root}", ENCODERS, cache_dir=tmp_path, progress=False, workers=1)
    assert len(s) == 2 and s.x.shape == (2, 20, 576) and s.x.dtype == np.uint8
    assert s.classes == ravdess.CLASSES and list(s.y) == [2, 4] and list(s.actors) == [1, 2]
    assert all(p.endswith(".mp4") and "/01-01-" in p for p in s.paths)  # 01 preferred over its 02 twin
    reasons = {Path(p).name: r for p, r in s.skipped}
    for path, why in bad.items():
        assert path.name in reasons, f"{path.name} was not reported as skipped"
        assert why in reasons[path.name], (path.name, reasons[path.name])
    assert len(s.skipped) == len(bad)
    err = capsys.readouterr().err
    assert f"{len(bad)} skipped" in err and "no face found" in err


def test_loaded_clip_equals_encoding_by_hand(ravdess_tree, tmp_path):
    root, _ = ravdess_tree
    s = load_encoded(f"ravdess:{root}", ENCODERS, cache_dir=tmp_path, progress=False, workers=1)
    a, v = ENCODERS
    wav = root / "Actor_02" / "03-01-05-01-01-01-02.wav"
    audio = read_audio(wav, a.sample_rate)
    raw, fps = read_video(root / "Actor_02" / "01-01-05-01-01-01-02.mp4")
    frames, visible = track_crops(raw, fps, v.side)
    assert np.array_equal(s.x[1], encode_clip(ENCODERS, audio, a.sample_rate, frames, fps, visible))
    assert s.x[1, :, :64].sum() > 0 and s.x[1, 1:, 64:].sum() > 0  # both modalities speak after step 0


def test_unimodal_load_needs_only_its_files(ravdess_tree, tmp_path):
    root, _ = ravdess_tree
    s = load_encoded(f"ravdess:{root}", [AudioEncoder(timesteps=20)], cache_dir=tmp_path, progress=False, workers=1)
    names = {Path(p).name for p in s.paths}
    assert "03-01-04-02-02-02-01.wav" in names  # an audio-only take is fine without video
    assert "01-01-04-02-02-01-01.mp4" in names  # the faceless video does not matter to audio
    assert s.x.shape[2] == 64 and [g.name for g in s.inputs] == ["audio"]


def test_cache_is_reused_and_keyed_by_parameters_and_files(ravdess_tree, tmp_path, monkeypatch):
    root, _ = ravdess_tree
    first = load_encoded(f"ravdess:{root}", ENCODERS, cache_dir=tmp_path, progress=False, workers=1)
    assert len(list(tmp_path.glob("ravdess-*.npz"))) == 1

    def boom(*a, **k):
        raise AssertionError("re-encoded although the cache is valid")

    monkeypatch.setattr(dataset, "_encode_all", boom)
    again = load_encoded(f"ravdess:{root}", ENCODERS, cache_dir=tmp_path, progress=False, workers=1)
    assert np.array_equal(again.x, first.x) and again.paths == first.paths and again.skipped == first.skipped
    with pytest.raises(AssertionError, match="re-encoded"):  # another threshold: another key
        load_encoded(f"ravdess:{root}", [AudioEncoder(timesteps=20, threshold=4.0), ENCODERS[1]], cache_dir=tmp_path, progress=False)
    wav = root / "Actor_02" / "03-01-05-01-01-01-02.wav"
    st = wav.stat()
    os.utime(wav, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a touched file: another key (mtime is in it too)
    try:
        with pytest.raises(AssertionError, match="re-encoded"):
            load_encoded(f"ravdess:{root}", ENCODERS, cache_dir=tmp_path, progress=False)
    finally:
        os.utime(wav, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_corrupt_cache_is_ignored_and_rewritten(ravdess_tree, tmp_path):
    root, _ = ravdess_tree
    first = load_encoded(f"ravdess:{root}", [AudioEncoder(timesteps=20)], cache_dir=tmp_path, progress=False, workers=1)
    (cache,) = tmp_path.glob("ravdess-*.npz")
    cache.write_bytes(b"not a zip")
    again = load_encoded(f"ravdess:{root}", [AudioEncoder(timesteps=20)], cache_dir=tmp_path, progress=False, workers=1)
    assert np.array_equal(again.x, first.x)


def test_cremad_layout_with_flv_video(tmp_path):
    root = tmp_path / "crema"
    (root / "AudioWAV").mkdir(parents=True)
    (root / "VideoFlash").mkdir()
    audio, frames = synthetic_take(5, 1)
    soundfile.write(str(root / "AudioWAV" / "1001_DFA_ANG_XX.wav"), audio, 16000)
    write_video(root / "VideoFlash" / "1001_DFA_ANG_XX.flv", frames, fourcc="FLV1")
    soundfile.write(str(root / "AudioWAV" / "1002_IEO_HAP_HI.wav"), audio, 16000)
    (root / "VideoFlash" / "1002_IEO_HAP_HI.flv").write_bytes(b"FLV garbage")
    soundfile.write(str(root / "AudioWAV" / "1003_IEO_JOY_HI.wav"), audio, 16000)
    (root / "VideoFlash" / "notes.txt").write_text("x")
    s = load_encoded(f"cremad:{root}", ENCODERS, cache_dir=tmp_path / "c", progress=False, workers=1)
    assert len(s) == 1 and s.classes == cremad.CLASSES and s.classes[s.y[0]] == "angry" and s.actors[0] == 1001
    reasons = {Path(p).name: r for p, r in s.skipped}
    assert "unreadable video" in reasons["1002_IEO_HAP_HI.flv"]
    assert "invalid emotion code 'JOY'" in reasons["1003_IEO_JOY_HI.wav"]
    assert "unexpected file" in reasons["notes.txt"]
    only_audio = tmp_path / "crema_audio"
    (only_audio / "AudioWAV").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="no VideoFlash folder"):
        cremad.scan(only_audio)
    assert cremad.scan(only_audio, need_video=False) == ([], [])


@pytest.mark.parametrize(
    "spec, match",
    [
        ("ravdess", "KIND:DIR"),
        ("imagenet:/x", "unknown kind"),
        ("builtin:", "names no folder"),
        ("builtin:/x?clips=ten", "must be an integer"),
        ("builtin:/x?colour=3", "unknown option"),
        ("ravdess:/x?clips=3", "only for builtin"),
    ],
)
def test_bad_specs_are_refused(spec, match):
    with pytest.raises(DataSpecError, match=match):
        parse_spec(spec)


def test_missing_roots_and_media_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a directory"):
        load_encoded(f"ravdess:{tmp_path / 'nope'}", ENCODERS, progress=False)
    with pytest.raises(MediaError, match="nope.wav: audio file not found"):
        read_audio(tmp_path / "nope.wav", 16000)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(MediaError, match="empty.mp4: 0 bytes"):
        read_video(empty)


def test_a_models_input_groups_can_stand_for_the_encoders(ravdess_tree, tmp_path):
    from sw.encode import input_groups

    root, _ = ravdess_tree
    by_encoders = load_encoded(f"ravdess:{root}", ENCODERS, cache_dir=tmp_path, progress=False, workers=1)
    by_groups = load_encoded(f"ravdess:{root}", input_groups(ENCODERS), cache_dir=tmp_path, progress=False, workers=1)
    assert np.array_equal(by_groups.x, by_encoders.x) and by_groups.inputs == by_encoders.inputs


def test_subset_keeps_rows_aligned(ravdess_tree, tmp_path):
    root, _ = ravdess_tree
    s = load_encoded(f"ravdess:{root}", ENCODERS, cache_dir=tmp_path, progress=False, workers=1)
    one = s.subset(np.array([1]))
    assert len(one) == 1 and np.array_equal(one.x[0], s.x[1]) and one.paths == [s.paths[1]]
    assert one.y[0] == s.y[1] and one.actors[0] == s.actors[1] and one.intensity[0] == s.intensity[1]


def test_ravdess_names_round_trip():
    from itertools import product

    for m, v, e, i, a in product((1, 2, 3), (1, 2), range(1, 9), (1, 2), (1, 24)):
        if e == 1 and i == 2:
            continue
        name = f"{m:02d}-{v:02d}-{e:02d}-{i:02d}-02-01-{a:02d}.wav"
        assert ravdess.format_name(ravdess.parse_name(name), ".wav") == name

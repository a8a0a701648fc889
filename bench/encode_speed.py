"""Clips per second of the spike encoders (and of the whole file-to-spikes path).

One synthetic clip (about 2.5 s: 16 kHz audio, 30 fps 128 x 96 video) from
the built-in corpus generator, default encoders (32 mel bands, 16 x 16 face
crop, T = 40). Figures are clips per CPU-second (``time.process_time``, all
threads of this process, best of 3), so they mean the same on a shared,
loaded machine; one core runs that many clips per second when it is free:

- audio encode: log-mel + UP/DOWN send-on-delta + pooling (what the board runs);
- visual encode: DVS-like ON/OFF events on the 16 x 16 face crops + pooling;
- file to spikes: read the wav and the mp4, Haar face detection and crop,
  both encoders (what ``load_encoded`` does per clip);
- synth: generating and writing one clip of the built-in corpus.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import time
from typing import Callable

from bench.common import Row, print_table
from sw.data.dataset import encode_one
from sw.data.media import Clip, track_crops
from sw.data.ravdess import RavdessName
from sw.data.synth import SAMPLE_RATE, FPS, Actor, _write_clip, render_clip
from sw.encode import AudioEncoder, VisualEncoder


def best_time(fn: Callable[[], object], repeats: int = 3) -> float:
    """Best CPU time of ``repeats`` calls (after one warm-up call)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return max(best, 1e-9)


def main() -> list[Row]:
    audio_enc, visual_enc = AudioEncoder(), VisualEncoder()
    name = RavdessName(3, 1, 3, 2, 1, 1, 1)
    audio, frames = render_clip(0, 0, Actor.make(0, 1), name)
    crops, visible = track_crops(frames, FPS, visual_enc.side)
    rows = []
    t_audio = best_time(lambda: audio_enc.encode(audio, SAMPLE_RATE))
    rows.append(Row("encode_speed", "audio encode", 1.0 / t_audio, "clips/CPU-s", goal=f"{len(audio) / SAMPLE_RATE:.1f} s clip"))
    t_visual = best_time(lambda: visual_enc.encode(crops, FPS, visible))
    t_track = best_time(lambda: track_crops(frames, FPS, visual_enc.side))
    rows.append(Row("encode_speed", "visual encode", 1.0 / t_visual, "clips/CPU-s", goal=f"{len(frames)} frames"))
    t_old = best_time(lambda: track_crops(frames, FPS, visual_enc.side, tracker="causal", detect_step=3))
    rows.append(Row("encode_speed", "face tracking, causal2 (Haar on a shrunk frame every 6th frame + anchor phase correlation)",
                    1.0 / t_track, "clips/CPU-s", baseline=1.0 / t_old, baseline_name="causal tracker, every 3rd frame"))  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "Actor_01").mkdir()
        t_synth = best_time(lambda: _write_clip((tmp, 0, 0, name)), repeats=2)
        folder = Path(tmp) / "Actor_01"
        clip = Clip(str(folder / "03-01-03-02-01-01-01.wav"), str(folder / "01-01-03-02-01-01-01.mp4"), 2, 1)
        t_path = best_time(lambda: encode_one(clip, [audio_enc, visual_enc]))
    rows.append(Row("encode_speed", "file to spikes (read, tracked face crop, encode)", 1.0 / t_path, "clips/CPU-s"))
    rows.append(Row("encode_speed", "synth: generate + write one clip", 1.0 / t_synth, "clips/CPU-s", goal=">= 17/s per core (1000 in 60 s on 2)"))
    for r in rows:
        print(f"{r.figure}: {r.value:.1f} {r.unit}")
    return rows


if __name__ == "__main__":
    print_table(main())

"""sw.stream: streaming a whole clip in chunks of any size gives exactly the
clip-mode events (audio encoder version 2, the retina), and older headers
(no ``version`` field) still rebuild the version-1 clip encoder.

The clip-mode side is :meth:`AudioEncoder.events` / :meth:`VisualEncoder.events`;
the version-1 reference values are that encoder's own clip statistics, an
independent code path (whole-clip percentiles, batched FFT)."""

from __future__ import annotations

import numpy as np
import pytest

from sw import qnet
from sw.encode import AudioEncoder, EncoderError, VisualEncoder, encode_clip, encoders_from_inputs, input_groups, pool_events
from sw.qnet import Layer, QNet, Source
from sw.stream import AudioStream, VisualStream
from tests.speechlike import SR, speech_like


def _chunks(rng: np.random.Generator, n: int, most: int) -> list[int]:
    cuts, at = [], 0
    while at < n:
        step = int(rng.integers(0, most + 1))  # 0-sized chunks included
        cuts.append(min(step, n - at))
        at += cuts[-1]
    return cuts


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_audio_stream_in_random_chunks_equals_clip_mode_bit_for_bit(seed):
    rng = np.random.default_rng(seed)
    x = speech_like(seconds=1.3 + 0.37 * seed, seed=seed, peak=0.1) + 0.002 * rng.standard_normal(int((1.3 + 0.37 * seed) * SR))
    enc = AudioEncoder(history_s=0.5)  # a history shorter than the clip: the ring buffer turns over
    clip = enc.events(x, SR)
    s = AudioStream(enc)
    rows, at = [], 0
    for n in _chunks(rng, x.size, 3000 if seed else 7):
        rows.append(s.push(x[at:at + n]))
        at += n
        if seed == 0 and at > 2000:
            break
    if seed == 0:  # tiny chunks for the first 2000 samples, then the rest at once
        rows.append(s.push(x[at:]))
    rows.append(s.flush())
    streamed = np.concatenate(rows)
    assert streamed.dtype == np.int32 and streamed.shape == clip.shape == (1 + x.size // enc.hop_samples, 64)
    assert np.array_equal(streamed, clip)
    assert clip.sum() > 100  # the clip speaks: equality of two empty arrays would prove nothing
    assert np.array_equal(pool_events(streamed, enc.timesteps), enc.encode(x, SR))


def test_audio_stream_rows_come_as_soon_as_their_window_is_complete():
    """Frame k is centred on sample k*hop: with win 400, hop 160 it is complete once
    k*160 + 200 samples are in (hand-worked from the framing)."""
    s = AudioStream(AudioEncoder())
    assert s.push(np.zeros(199)).shape[0] == 0
    assert s.push(np.zeros(1)).shape[0] == 1  # frame 0 needs samples 0..199 (200 pad zeros before)
    assert s.push(np.zeros(159)).shape[0] == 0
    assert s.push(np.zeros(1)).shape[0] == 1  # frame 1 needs samples up to 359
    # 360 samples in total: clip mode has 1 + 360 // 160 = 3 frames; the third needs the end padding.
    assert s.flush().shape[0] == 1
    with pytest.raises(EncoderError, match="push after flush"):
        s.push(np.zeros(5))


def test_version_1_cannot_stream_and_bad_versions_are_refused():
    with pytest.raises(EncoderError, match="version 1 .*cannot stream"):
        AudioStream(AudioEncoder(version=1))
    with pytest.raises(EncoderError, match="'version' must be one of"):
        AudioEncoder(version=3)


def test_an_old_style_header_rebuilds_the_version_1_clip_encoder(tmp_path):
    """A .qnet written before the version field (its audio encoder dict has the
    level fields but no ``version``) loads as version 1 and encodes exactly as the
    version-1 clip code; a new file records version 2 and encodes differently."""
    old_params = {k: v for k, v in AudioEncoder(timesteps=12).to_dict().items() if k not in ("version", "history_s", "gate_db")}
    layer = Layer("out", 2, [Source("audio", np.ones((64, 2), np.int64), 4)], threshold=5, leak_shift=2, spiking=False)
    groups = input_groups([AudioEncoder(timesteps=12)])
    groups[0].encoder = old_params
    path = qnet.save(QNet(classes=["a", "b"], timesteps=12, inputs=groups, layers=[layer]), tmp_path / "old.qnet")
    (enc,) = encoders_from_inputs(qnet.load(path).inputs)
    assert enc.version == 1
    x = speech_like(seconds=1.0, seed=3, peak=0.05)
    # The version-1 encoding, written out from its clip statistics (gain from the whole clip).
    levels, floors = enc._levels(x, SR)
    ref = floors.copy()
    up = np.zeros(levels.shape, np.int32)
    down = np.zeros(levels.shape, np.int32)
    for f in range(levels.shape[0]):
        n = np.trunc((levels[f] - ref) / enc.threshold)
        ref += n * enc.threshold
        up[f], down[f] = np.maximum(n, 0), np.maximum(-n, 0)
    assert np.array_equal(encode_clip([enc], x, SR, None, None), pool_events(np.concatenate([up, down], 1), 12))
    new = qnet.save(QNet(classes=["a", "b"], timesteps=12, inputs=input_groups([AudioEncoder(timesteps=12)]), layers=[layer]), tmp_path / "new.qnet")
    (enc2,) = encoders_from_inputs(qnet.load(new).inputs)
    assert enc2.version == 2 and enc2.to_dict()["version"] == 2
    assert not np.array_equal(enc2.events(x, SR), enc.events(x, SR))


@pytest.mark.parametrize("fps_in", [30.0, 25.0, 60.0, 12.0])
def test_visual_stream_one_frame_at_a_time_equals_clip_mode(fps_in):
    rng = np.random.default_rng(int(fps_in))
    n = 47
    base = rng.integers(40, 200, (4, 4))
    frames = np.clip(base[None] + rng.integers(-30, 31, (n, 4, 4)).cumsum(axis=0) // 3, 0, 255).astype(np.uint8)
    visible = np.ones(n, bool)
    visible[10:14] = False  # a lost face: empty steps, then a silent re-adaptation
    for onset in ("first", "grey"):
        enc = VisualEncoder(side=4, onset=onset, timesteps=10)
        clip = enc.events(frames, fps_in, visible)
        s = VisualStream(enc, fps_in)
        streamed = np.concatenate([s.push(f, v) for f, v in zip(frames, visible)])
        assert streamed.shape == clip.shape and np.array_equal(streamed, clip), (fps_in, onset)
        assert clip.sum() > 20

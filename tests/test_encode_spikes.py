"""sw.encode: the spike encoders' properties, parameters and model-header round trip."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sw import qnet
from sw.encode import (
    AudioEncoder,
    EncoderError,
    VisualEncoder,
    _send_on_delta,
    encode_clip,
    encoder_from_dict,
    encoders_from_inputs,
    input_groups,
    pool_events,
    resample_audio,
    resample_frames,
)
from sw.qnet import InputGroup, Layer, QNet, Source

SR = 16000


def tone(freq: float, seconds: float, amp: float = 0.3, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return amp * np.sin(2 * np.pi * freq * t)


# -- defaults and API ---------------------------------------------------------


def test_defaults_give_576_inputs_and_40_steps():
    a, v = AudioEncoder(), VisualEncoder()
    assert (a.size, v.size, a.timesteps, v.timesteps) == (64, 512, 40, 40)
    groups = input_groups([a, v])
    assert [(g.name, g.size) for g in groups] == [("audio", 64), ("visual", 512)]
    assert encoders_from_inputs(groups) == [a, v]


def test_params_round_trip_through_a_qnet_file(tmp_path):
    encs = [AudioEncoder(n_mels=8, threshold=2.5, timesteps=12), VisualEncoder(side=4, threshold=0.2, timesteps=12)]
    groups = input_groups(encs)
    n_in = sum(g.size for g in groups)
    rng = np.random.default_rng(0)
    layer = Layer(
        "out", 3, [Source("audio", rng.integers(-3, 4, (16, 3)), 4), Source("visual", rng.integers(-3, 4, (32, 3)), 4)],
        threshold=5, leak_shift=2, spiking=False,
    )  # fmt: skip
    net = QNet(classes=["a", "b", "c"], timesteps=12, inputs=groups, layers=[layer])
    path = qnet.save(net, tmp_path / "m.qnet")
    back = qnet.load(path)
    assert encoders_from_inputs(back.inputs) == encs
    x = encode_clip(back.inputs, tone(500, 0.5), SR, np.full((15, 4, 4), 90, np.uint8), 30)
    assert x.shape == (12, n_in) and x.dtype == np.uint8


def test_encode_clip_concatenates_in_header_order_and_allows_unimodal():
    a, v = AudioEncoder(timesteps=10), VisualEncoder(side=4, timesteps=10)
    audio = tone(800, 1.0)
    frames = np.random.default_rng(1).integers(0, 256, (30, 4, 4)).astype(np.uint8)
    both = encode_clip(input_groups([a, v]), audio, SR, frames, 30)
    assert np.array_equal(both[:, :64], a.encode(audio, SR))
    assert np.array_equal(both[:, 64:], v.encode(frames, 30))
    flipped = encode_clip(input_groups([v, a]), audio, SR, frames, 30)
    assert np.array_equal(flipped, np.concatenate([both[:, 64:], both[:, :64]], axis=1))
    only_audio = encode_clip(input_groups([a]), audio, SR, None, None)
    assert np.array_equal(only_audio, both[:, :64])
    with pytest.raises(EncoderError, match="no video frames"):
        encode_clip(input_groups([a, v]), audio, SR, None, None)
    with pytest.raises(EncoderError, match="no audio"):
        encode_clip(input_groups([v, a]), None, None, frames, 30)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: AudioEncoder(threshold=0), "threshold"),
        (lambda: AudioEncoder(n_mels=0), "n_mels"),
        (lambda: AudioEncoder(timesteps=2.5), "timesteps"),
        (lambda: AudioEncoder(fmax=9000.0), "Nyquist"),
        (lambda: AudioEncoder(fmin=-1.0), "fmin"),
        (lambda: AudioEncoder(hop_ms=0.01), "shorter than one sample"),
        (lambda: VisualEncoder(side=-1), "side"),
        (lambda: VisualEncoder(fps=float("nan")), "fps"),
        (lambda: VisualEncoder(threshold=True), "threshold"),
        (lambda: encoder_from_dict({"kind": "audio", "n_mel": 3}), "unknown field"),
        (lambda: encoder_from_dict({"kind": "smell"}), "unknown encoder kind"),
        (lambda: encoder_from_dict({"n_mels": 3}), "kind"),
        (lambda: input_groups([AudioEncoder(timesteps=10), VisualEncoder(timesteps=20)]), "disagree on timesteps"),
        (lambda: encoders_from_inputs([InputGroup("audio", 10, AudioEncoder().to_dict())]), "size 10"),
        (lambda: encoders_from_inputs([InputGroup("audio", 64, {})]), "input group 'audio'"),
    ],
)
def test_bad_parameters_are_refused_with_the_field_named(make, match):
    with pytest.raises(EncoderError, match=match):
        make()


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: AudioEncoder().encode(np.zeros(100), 0), "sample rate"),
        (lambda: AudioEncoder().encode(np.array([0.0, np.nan] * 500), SR), "NaN"),
        (lambda: AudioEncoder().encode(np.zeros((2, 2, 2)), SR), "shape"),
        (lambda: AudioEncoder().encode(np.array(["a"]), SR), "numeric"),
        (lambda: VisualEncoder().encode(np.zeros((5, 8, 8), np.uint8), 30), r"\[F, 16, 16\]"),
        (lambda: VisualEncoder().encode(np.zeros((5, 16, 16), np.float32), 30), "uint8"),
        (lambda: VisualEncoder().encode(np.zeros((5, 16, 16), np.uint8), -3), "frame rate"),
    ],
)
def test_bad_input_data_is_refused(call, match):
    with pytest.raises(EncoderError, match=match):
        call()


# -- audio properties -----------------------------------------------------------


@pytest.mark.parametrize("signal", [np.zeros(2 * SR), np.random.default_rng(0).normal(0, 1e-5, 2 * SR)])
def test_silence_and_faint_noise_give_no_audio_spikes(signal):
    assert AudioEncoder().encode(signal, SR).sum() == 0


def test_tone_onset_gives_up_spikes_in_its_band_and_offset_gives_down():
    enc = AudioEncoder(timesteps=30)
    x = np.concatenate([np.zeros(SR), tone(1000, 1.0), np.zeros(SR)])
    s = enc.encode(x, SR)
    up, down = s[:, :32], s[:, 32:]
    # 301 centred 10 ms frames over 30 bins: the first frame whose 25 ms
    # window reaches the tone (frame 99) is in bin 9, the last (frame 200) in 19.
    assert up[:9].sum() == 0 and down[:9].sum() == 0  # silence first
    band = int(np.argmax(enc.log_mel(tone(1000, 0.5), SR).mean(axis=0)))
    assert up[9:11, band].any()  # onset
    assert down[19:21, band].any()  # offset
    assert up[11:19].sum() == 0 and down[11:19].sum() == 0  # steady tone: no changes
    assert up[21:].sum() == 0 and down[21:].sum() == 0


def test_without_level_normalisation_a_louder_sound_spikes_in_more_bands():
    enc = AudioEncoder(level_db=None, noise_margin_db=None)  # what a header from before the fields means
    rng = np.random.default_rng(3)
    noise = rng.normal(0, 1, SR)
    loud, faint = enc.encode(0.3 * noise, SR), enc.encode(0.02 * noise, SR)
    assert loud[:, :32].sum() > faint[:, :32].sum() > 0
    norm = AudioEncoder()  # level-normalised: the same sound 23 dB apart encodes the same
    assert np.array_equal(norm.encode(0.3 * noise, SR), norm.encode(0.02 * noise, SR))


def test_resampled_input_encodes_like_native_rate():
    enc = AudioEncoder()
    x16 = np.concatenate([np.zeros(8000), tone(700, 1.0), np.zeros(8000)])
    t48 = np.arange(3 * len(x16)) / 48000
    x48 = np.where((t48 >= 0.5) & (t48 < 1.5), 0.3 * np.sin(2 * np.pi * 700 * t48), 0.0)
    a, b = enc.encode(x16, SR), enc.encode(x48, 48000)
    assert a.sum() > 0
    assert np.abs(a.astype(int) - b).sum() <= 0.1 * a.sum()


def test_resample_audio_keeps_a_sine():
    x = tone(440, 1.0, amp=0.5, sr=48000)
    y = resample_audio(x, 48000, SR)
    assert y.shape == (SR,)
    ref = tone(440, 1.0, amp=0.5)
    assert np.max(np.abs(y[100:-100] - ref[100:-100])) < 0.02


def test_stereo_is_averaged_and_int16_scaled():
    enc = AudioEncoder()
    x = tone(300, 1.0)
    stereo = np.stack([x, x], axis=1)
    assert np.array_equal(enc.encode(stereo, SR), enc.encode(x, SR))
    pcm = np.round(x * 32767).astype(np.int16)
    assert np.array_equal(enc.encode(pcm, SR), enc.encode(pcm / 32767.0, SR))


# -- visual properties ----------------------------------------------------------


def face_like(side: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(30, 230, (side, side)).astype(np.uint8)


def test_static_face_gives_no_events_once_the_retina_is_adapted():
    frames = np.repeat(face_like()[None], 90, axis=0)
    assert VisualEncoder().encode(frames, 30).sum() == 0  # onset="first": no onset snapshot
    s = VisualEncoder(onset="grey").encode(frames, 30)  # older headers: a snapshot in step 0 only
    assert s[0].sum() > 0
    assert s[1:].sum() == 0


def test_frames_that_are_not_visible_emit_nothing_and_re_adapt_silently():
    enc = VisualEncoder(side=4, timesteps=6)
    frames = np.full((60, 4, 4), 100, np.uint8)
    frames[30:] = 200  # the scene changes while the face is lost (frames 20..39)
    visible = np.ones(60, dtype=bool)
    visible[20:40] = False
    assert enc.encode(frames, 30, visible).sum() == 0  # no burst when the face is found again
    s = enc.encode(frames, 30)  # all visible: the change at frame 30 is seen, ON in bin 3
    assert s[3, :16].all() and s.sum() == 16
    with pytest.raises(EncoderError, match="one flag per frame"):
        enc.encode(frames, 30, visible[:10])


def test_brightening_gives_on_and_darkening_gives_off():
    enc = VisualEncoder(side=8)
    ramp = np.linspace(40, 220, 60)
    bright = np.repeat(ramp[:, None, None], 8, axis=1).repeat(8, axis=2).round().astype(np.uint8)
    on, off = slice(0, 64), slice(64, 128)
    s = enc.encode(bright, 30)
    assert s[1:, on].sum() > 0 and s[1:, off].sum() == 0
    s = enc.encode(bright[::-1].copy(), 30)
    assert s[1:, off].sum() > 0 and s[1:, on].sum() == 0


def test_one_pixel_change_fires_that_pixel_only():
    enc = VisualEncoder(side=4, timesteps=10)
    frames = np.full((30, 4, 4), 128, np.uint8)
    frames[15:, 2, 1] = 200
    s = enc.encode(frames, 30)
    assert s.sum() == 1 and s[5, 2 * 4 + 1] == 1


def test_frame_rate_is_resampled_to_the_encoder_rate():
    enc = VisualEncoder(side=4, timesteps=8)
    rng = np.random.default_rng(5)
    frames30 = rng.integers(0, 256, (24, 4, 4)).astype(np.uint8)
    frames60 = np.repeat(frames30, 2, axis=0)
    assert np.array_equal(enc.encode(frames60, 60), enc.encode(frames30, 30))
    assert np.array_equal(resample_frames(frames60, 60, 30), frames30)


def test_same_input_same_spikes():
    rng = np.random.default_rng(7)
    audio = rng.normal(0, 0.1, SR)
    frames = rng.integers(0, 256, (40, 16, 16)).astype(np.uint8)
    encs = input_groups([AudioEncoder(), VisualEncoder()])
    a = encode_clip(encs, audio, SR, frames, 30)
    b = encode_clip(encs, audio.copy(), SR, frames.copy(), 30)
    assert np.array_equal(a, b) and a.sum() > 0


# -- the two building blocks against plain references ---------------------------


def send_on_delta_reference(levels, initial, threshold):
    up = np.zeros(levels.shape, int)
    down = np.zeros(levels.shape, int)
    for c in range(levels.shape[1]):
        ref = initial
        for f in range(levels.shape[0]):
            while levels[f, c] - ref >= threshold - 1e-12:
                ref += threshold
                up[f, c] += 1
            while ref - levels[f, c] >= threshold - 1e-12:
                ref -= threshold
                down[f, c] += 1
    return up, down


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 12),
    st.integers(1, 4),
    st.sampled_from([0.25, 0.5, 1.0, 3.0]),
    st.integers(0, 2**32 - 1),
)
def test_send_on_delta_matches_scalar_reference(frames, channels, threshold, seed):
    rng = np.random.default_rng(seed)
    levels = np.round(rng.normal(0, 2, (frames, channels)) * 8) / 8 + 0.01  # avoid exact ties
    up, down = _send_on_delta(levels, 0.0, threshold)
    ru, rd = send_on_delta_reference(levels, 0.0, threshold)
    assert np.array_equal(up, ru) and np.array_equal(down, rd)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 50), st.integers(1, 20), st.integers(0, 2**32 - 1))
def test_pool_events_is_any_event_in_the_bin(frames, timesteps, seed):
    rng = np.random.default_rng(seed)
    events = (rng.random((frames, 3)) < 0.2).astype(np.int32) * rng.integers(1, 4, (frames, 3))
    out = pool_events(events, timesteps)
    assert out.shape == (timesteps, 3) and out.dtype == np.uint8
    for t in range(timesteps):
        in_bin = [f for f in range(frames) if f * timesteps // frames == t] if frames else []
        want = (events[in_bin].sum(axis=0) > 0).astype(np.uint8) if in_bin else np.zeros(3, np.uint8)
        assert np.array_equal(out[t], want)

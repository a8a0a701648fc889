"""The built-in corpus: synthetic audio-visual emotion clips in RAVDESS's layout.

**This corpus is synthetic.** No real data set can be downloaded where the
project is built, so it ships this generator. The clips are not people;
they are a parametric voice and a drawn face, made to exercise the same code
paths as RAVDESS (real ``.wav`` and ``.mp4`` files, RAVDESS file names,
Haar face detection, resampling) and to be worth learning. A model's accuracy
on it says nothing about accuracy on human emotion.

Deterministic from a seed: clip ``i``'s audio and video come from
``default_rng([seed, i, 0])`` and ``default_rng([seed, i, 1])`` and actor ``a`` from ``default_rng([seed, 10_000 + a])``,
so the result does not depend on the number of workers.

Actors (``actors`` >= 24 by default, odd male, even female) have their own
voice (F0 level, formant scale, speaking rate, breathiness, loudness) and face
(face width/height, eye spacing and size, brow and mouth geometry, skin tone).

Audio (16 kHz): a sawtooth glottal source with jitter and aspiration noise,
shaped in the frequency domain by three vowel formant sets (mixed syllable
by syllable) and a spectral tilt, under a syllable-rate amplitude envelope;
0.2-0.5 s of near-silence before and after. Emotion shifts F0 level and
range, speaking rate, loudness, jitter, tilt and breathiness.

Video (30 fps, 128 x 96 grey, ``mp4v``): a shaded face (bright cheeks and
nose bridge, dark eye sockets, brows, nostrils and mouth; shaded so the Haar
cascade finds it) with action units that rise after a random onset, hold and
relax most of the way back (so a DVS-like encoder sees each expression form
and fade, in opposite polarities): mouth corners (smile), mouth opening, brow height, brow angle
(inner end), eye opening and nose wrinkle. A talking mouth moves at its own
random rate. Random head position, scale, slow sway, lighting gain and side
light per clip; sensor noise per frame.

Fusion matters by construction. Each emotion draws its voice from one of
four *voice profiles* and its face from one of five *face profiles*; two
emotions that share a profile have *identical* distributions in that
modality, so only the other modality can tell them apart:

=========  ==============  ==============  ===================================
emotion    voice profile   face profile    told apart from its twin by
=========  ==============  ==============  ===================================
neutral    plain           relaxed         voice (calm), face (disgust)
calm       soft            relaxed         voice (neutral), face (sad)
happy      bright          smile           face (surprised)
sad        soft            sad             face (calm)
angry      tense           frown           voice (disgust), face (fearful)
fearful    tense           wide            voice (surprised), face (angry)
disgust    plain           frown           voice (angry), face (neutral)
surprised  bright          wide            voice (fearful), face (happy)
=========  ==============  ==============  ===================================

Pairs separated *mainly by voice* (same face): neutral/calm, angry/disgust,
fearful/surprised. Pairs separated *mainly by face* (same voice):
neutral/disgust, calm/sad, happy/surprised, angry/fearful. Every (voice,
face) pair is unique, so both together can name all eight classes, while a
perfect voice-only model is capped at 4/8 = 50 % and a perfect face-only
model at 5/8 = 62.5 % on balanced classes. Profiles have overlapping
per-clip and per-actor spread, and normal intensity moves only 85 % of the
way from the plain profile, so the task is not trivially easy either.
One cross-modal cue is left in on purpose, as in real recordings: a clip's
video lasts as long as its utterance, so its length (and the timing of the
expression and of the talking mouth within the ``T`` bins) follows the
voice's speaking rate, and a face-only model can learn a little about the
voice from it (the measured visual-only figures sit slightly above 5/8).

**Strong intensity carries a voice cue of its own** (generator version 3,
issue 20). As in real recordings, where strong-intensity takes are much
easier to recognise by voice than normal ones, every emotion's strong takes
(RAVDESS intensity 02; every emotion but neutral has them) add that
emotion's own cue to its voice profile (:data:`STRONG_CUES`: rhythm and
pitch movement), so voice twins differ and a good audio model can name the
class from the voice alone. Normal-intensity takes keep the pair design
above exactly (their audio is bit for bit that of version 2), so on them
audio alone stays capped at 4 of 8 classes. Measured with the linear probe
on held-out actors (``tests/test_data_synth.py``, 12 actors, audio only):
normal takes 0.35 (the test's bound: <= 0.55), strong takes 0.83 (bound
>= 0.70; with the cues applied to normal takes too, normal rises to 0.70
and the test fails); on 336
strong takes of 12 actors the probe gives 0.41 without the cues and 0.81
with them. An audio-first cascade must earn its savings on the strong
clips through a calibrated gate. Version 3 figures, 960 clips, 24 actors,
seed 0 (the demo's corpus): ``eavs data probe builtin:DIR`` (6 folds) audio
0.557, visual 0.683, both 0.928 (chance 0.129). Measured again with the
causal face trackers on the same corpus: ``causal`` (every 3rd frame)
audio 0.558, visual 0.642, both 0.901; ``causal2`` (new models) audio
0.558, visual 0.639, both 0.890 (the per-fold spread is about +-0.03).

Measured with generator version 2 (no strong-intensity cue) on 1000 clips,
seed 0 (all figures on this SYNTHETIC corpus; not re-measured for version
3 except the probe above).
With the encoders of issue 15 (level-normalised cochlea, tracked face, no
onset snapshot): ``eavs data probe builtin:DIR`` (a ridge linear probe on
spike rates, 6 actor-disjoint folds): audio 0.436, visual 0.736, both 0.941
(chance 0.13). ``EAVS_ACC_SPLITS=0,1,2 EAVS_ACC_ONLY=av8,audio,visual python
-m bench.accuracy`` (the default QAT SNN, 30 epochs, speaker-independent
splits of 163-170 test clips): audio + visual 98.2 / 95.3 / 90.4 % (mean
94.6 %), audio only 47.2 / 51.8 / 43.6 % (47.5 %), visual only 64.4 / 71.8 /
67.3 % (67.8 %); split 0's exported ``.qnet`` gives the same accuracy in the
golden model, with 582 input spikes and 77,208 synaptic ops per inference.
The encoders before issue 15 (``EAVS_ACC_LEGACY=1``) gave on the same
splits: probe audio 0.49, visual 0.69, both 0.96; SNN audio + visual 98.2 /
97.1 / 94.9 %, audio 54.6 / 48.2 / 45.5 %, visual 73.6 / 68.2 / 62.8 %, and
951 input spikes, 103,176 synaptic ops per inference. The audio loses its
loudness cue (the voice profiles differ by up to 24 dB) to level
invariance. Every one of the 1000 videos had its face found and tracked.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import soundfile

from sw.data.ravdess import EMOTIONS, RavdessName, format_name

__all__ = ["synthesize", "VOICE_OF", "FACE_OF", "VOICES", "FACES", "STRONG_CUES", "voice_of", "render_audio", "MANIFEST", "SynthError", "render_clip"]

MANIFEST = "eavs_synth.json"
GENERATOR_VERSION = 3  # 3: strong-intensity voice cues (issue 20)
SAMPLE_RATE = 16000
FPS = 30
WIDTH, HEIGHT = 128, 96


class SynthError(ValueError):
    """Bad parameters for the synthetic corpus."""


#: Emotion name -> voice profile / face profile (the table in the module docstring).
VOICE_OF = {
    "neutral": "plain", "calm": "soft", "happy": "bright", "sad": "soft",
    "angry": "tense", "fearful": "tense", "disgust": "plain", "surprised": "bright",
}  # fmt: skip
FACE_OF = {
    "neutral": "relaxed", "calm": "relaxed", "happy": "smile", "sad": "sad",
    "angry": "frown", "fearful": "wide", "disgust": "frown", "surprised": "wide",
}  # fmt: skip

#: Voice profiles at strong intensity: F0 shift (semitones), F0 range
#: (semitones), syllable rate (Hz), loudness (dB), spectral tilt (dB/octave),
#: jitter (relative F0 s.d.), breathiness (noise / voice ratio).
VOICES: dict[str, dict[str, float]] = {
    "plain": dict(shift=0.0, range=1.5, rate=3.6, loud=0.0, tilt=-7.0, jitter=0.006, breath=0.03),
    "soft": dict(shift=-4.0, range=0.5, rate=2.5, loud=-14.0, tilt=-13.0, jitter=0.006, breath=0.25),
    "bright": dict(shift=8.0, range=12.0, rate=4.8, loud=5.0, tilt=-3.0, jitter=0.006, breath=0.02),
    "tense": dict(shift=3.0, range=2.5, rate=6.5, loud=10.0, tilt=0.0, jitter=0.04, breath=0.08),
}
#: Face profiles at strong intensity (action units, about -1..1).
FACES: dict[str, dict[str, float]] = {
    "relaxed": dict(smile=0.0, mouth=0.0, brow=0.0, angle=0.0, eye=0.0, wrinkle=0.0),
    "smile": dict(smile=1.2, mouth=0.45, brow=0.0, angle=0.0, eye=-0.35, wrinkle=0.0),
    "sad": dict(smile=-1.0, mouth=0.0, brow=-0.3, angle=1.3, eye=-0.25, wrinkle=0.0),
    "frown": dict(smile=-0.3, mouth=0.15, brow=-1.0, angle=-1.0, eye=-0.35, wrinkle=1.0),
    "wide": dict(smile=0.0, mouth=1.0, brow=1.0, angle=0.3, eye=0.6, wrinkle=0.0),
}
NORMAL_INTENSITY = 0.85
#: Strong intensity only (RAVDESS intensity 02; every emotion but neutral has
#: it): each emotion's own voice cue, added to its profile so that voice twins
#: differ and a good audio model can name the class from the voice alone.
#: Offsets of F0 shift (semitones), F0 range (semitones), syllable rate (Hz)
#: and jitter: mostly rhythm and pitch movement, which the send-on-delta
#: cochlea sees (a linear probe on 336 strong clips of 12 actors: 0.41 without
#: the cues, 0.81 with them); no loudness, which the level-normalised cochlea
#: removes anyway. Normal-intensity clips get
#: none: their pair design (and their audio, bit for bit) is unchanged.
STRONG_CUES: dict[str, dict[str, float]] = {
    "calm": dict(shift=4.0, range=6.0, rate=2.5),
    "sad": dict(shift=-6.0, range=-0.4, rate=-1.0),
    "happy": dict(range=-8.0, rate=-2.5),
    "surprised": dict(shift=4.0, range=10.0, rate=2.5),
    "angry": dict(range=-2.0, rate=-3.5),
    "fearful": dict(range=12.0, rate=2.5, jitter=0.04),
    "disgust": dict(shift=-4.0, range=8.0, rate=-2.0),
}

# Vowel formants (Hz, bandwidth Hz) for three vowels; scaled per actor.
_VOWELS = np.array(
    [
        [(730, 90), (1090, 110), (2440, 170), (3400, 250)],  # a
        [(270, 60), (2290, 100), (3010, 170), (3700, 250)],  # i
        [(300, 60), (870, 90), (2240, 170), (3300, 250)],  # u
    ],
    dtype=np.float64,
)
_STATEMENT_VOWELS = {1: [1, 0, 0, 1, 0, 2, 0], 2: [0, 0, 1, 1, 0, 2, 0]}
_STATEMENT_STRESS = {1: [1.0, 0.5, 1.0, 0.6, 0.7, 0.5, 1.0], 2: [1.0, 0.5, 1.0, 0.6, 0.7, 0.5, 1.0]}


@dataclass(frozen=True)
class Actor:
    """One synthetic speaker: voice and face geometry."""

    number: int
    f0: float
    formant: float
    rate: float
    loud: float
    tilt: float
    breath: float
    face_w: float
    face_h: float
    eye_dx: float
    eye_y: float
    eye_r: float
    brow_gap: float
    mouth_w: float
    mouth_y: float
    skin: float

    @classmethod
    def make(cls, seed: int, number: int) -> "Actor":
        r = np.random.default_rng([seed, 10_000 + number])
        female = number % 2 == 0
        return cls(
            number=number,
            f0=float(r.uniform(175, 240) if female else r.uniform(95, 145)),
            formant=float(r.uniform(1.05, 1.2) if female else r.uniform(0.88, 1.02)),
            rate=float(np.exp(r.normal(0, 0.1))),
            loud=float(r.normal(0, 1.5)),
            tilt=float(r.normal(0, 1.0)),
            breath=float(r.uniform(0.5, 1.5)),
            face_w=float(r.uniform(23, 29)),
            face_h=float(r.uniform(31, 37)),
            eye_dx=float(r.uniform(9.5, 12.5)),
            eye_y=float(r.uniform(-10, -6)),
            eye_r=float(r.uniform(5.5, 7.5)),
            brow_gap=float(r.uniform(6.5, 9.0)),
            mouth_w=float(r.uniform(8, 12)),
            mouth_y=float(r.uniform(17, 22)),
            skin=float(r.uniform(170, 215)),
        )


def _profile(table: dict[str, dict[str, float]], name: str, base: str, intensity: int) -> dict[str, float]:
    k = 1.0 if intensity == 2 else NORMAL_INTENSITY
    p, b = table[name], table[base]
    return {key: b[key] + k * (p[key] - b[key]) for key in p}


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average of ``width`` samples (a cumulative-sum box filter)."""
    width = max(1, int(width))
    c = np.concatenate([[0.0], np.cumsum(x)])
    lo = np.clip(np.arange(x.size) - width // 2, 0, x.size)
    hi = np.clip(lo + width, 0, x.size)
    return (c[hi] - c[lo]) / width


def _envelope(rng: np.random.Generator, n: int, sr: float, rate: float, stress: list[float], lead: float):
    """Syllable envelope (per sample) and the syllable index of each sample."""
    env = np.zeros(n)
    syl = np.full(n, -1, dtype=np.int64)
    t = lead
    for k, s in enumerate(stress):
        dur = (1.0 / rate) * float(np.exp(rng.normal(0, 0.2)))
        a, b = int(t * sr), min(n, int((t + 0.85 * dur) * sr))
        if b > a:
            env[a:b] = s * float(np.exp(rng.normal(0, 0.15))) * np.hanning(b - a + 2)[1:-1] ** 0.7
            syl[a:b] = k
        t += dur
        if k == 2 and rng.random() < 0.5:
            t += float(rng.uniform(0.05, 0.15))  # a short pause between words
    return env, syl, t


def render_audio(rng: np.random.Generator, actor: Actor, voice: dict[str, float], statement: int) -> np.ndarray:
    """One utterance at :data:`SAMPLE_RATE` (float32 in [-1, 1])."""
    sr = SAMPLE_RATE
    rate = voice["rate"] * actor.rate * float(np.exp(rng.normal(0, 0.1)))
    lead, tail = rng.uniform(0.2, 0.5), rng.uniform(0.2, 0.5)
    stress = _STATEMENT_STRESS[statement]
    total = lead + len(stress) * 1.25 / rate + 0.3 + tail
    n = int(total * sr)
    env, syl, end = _envelope(rng, n, sr, rate, stress, lead)
    n = min(n, int((end + tail) * sr))
    env, syl = env[:n], syl[:n]
    t = np.arange(n) / sr
    # F0 contour: declination, accents on stressed syllables, jitter.
    shift = voice["shift"] + rng.normal(0, 0.7)
    rng_st = voice["range"] * float(np.exp(rng.normal(0, 0.2)))
    accent = np.zeros(n)
    for k, s in enumerate(stress):
        m = syl == k
        if m.any():
            accent[m] = (s - 0.7) * 2.0 + rng.normal(0, 0.3)
    accent = _smooth(_smooth(accent, int(0.04 * sr)), int(0.04 * sr))
    st = shift + rng_st * (accent - 0.5 * (t - lead) / max(end - lead, 0.1))
    jitter = rng.normal(0, voice["jitter"], n)
    width = int(0.004 * sr)
    f0 = actor.f0 * 2.0 ** (st / 12.0) * (1.0 + _smooth(jitter, width) * math.sqrt(width))
    phase = np.cumsum(f0) / sr
    source = 2.0 * (phase - np.floor(phase)) - 1.0
    breath = voice["breath"] * actor.breath * float(np.exp(rng.normal(0, 0.3)))
    excitation = source * env + breath * 3.0 * rng.normal(0, 1, n) * env
    # Vocal tract: three vowel filters in the frequency domain, mixed per syllable.
    n_fft = 1 << (n - 1).bit_length()
    spec = np.fft.rfft(excitation, n_fft)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    tilt = voice["tilt"] + actor.tilt + rng.normal(0, 1.0)
    tilt_gain = 10.0 ** ((tilt + 6.0) * np.log2(np.maximum(freqs, 60.0) / 500.0) / 20.0)
    vowel_seq = _STATEMENT_VOWELS[statement]
    out = np.zeros(n)
    for v in range(len(_VOWELS)):
        weight = np.isin(syl, [k for k, vv in enumerate(vowel_seq) if vv == v]).astype(np.float64)
        if not weight.any():
            continue
        weight = _smooth(weight, 240)
        h = np.zeros_like(freqs)
        for fc, bw in _VOWELS[v]:
            fc = fc * actor.formant
            h += 1.0 / np.sqrt(1.0 + ((freqs - fc) / (bw / 2.0)) ** 2)
        out += np.fft.irfft(spec * h * tilt_gain, n_fft)[:n] * weight
    voiced = env > 0.05
    rms = float(np.sqrt(np.mean(out[voiced] ** 2))) if voiced.any() else 1.0
    loud = voice["loud"] + actor.loud + rng.normal(0, 1.5)
    out *= 10.0 ** ((loud - 24.0) / 20.0) / max(rms, 1e-9)
    out += rng.normal(0, 10.0 ** (-72.0 / 20.0), n)
    return np.clip(out, -0.99, 0.99).astype(np.float32)


def _time_course(rng: np.random.Generator, n: int, fps: float) -> np.ndarray:
    """Expression strength per frame: rise after an onset, hold, relax.

    The relax phase returns most of the way to neutral, so a DVS-like
    encoder sees the expression twice: ON/OFF events as it forms and the
    opposite polarities as it fades.
    """
    t = np.arange(n) / fps
    dur = n / fps
    onset = rng.uniform(0.1, 0.25) * dur
    rise = rng.uniform(0.25, 0.45)
    release = rng.uniform(0.6, 0.72) * dur
    up = np.clip((t - onset) / rise, 0, 1)
    fall = np.clip((t - release) / rng.uniform(0.3, 0.5), 0, 1)
    down = 1.0 - 0.8 * fall * fall * (3 - 2 * fall)
    return (up * up * (3 - 2 * up)) * down


def render_video(rng: np.random.Generator, actor: Actor, face: dict[str, float], n_frames: int) -> np.ndarray:
    """Grey frames ``uint8 [n_frames, HEIGHT, WIDTH]`` of one clip.

    The parts of the face that no action unit moves (head shape, nose) are
    drawn once per clip; per frame only the moving features are drawn, then
    the whole picture is shifted by the head sway (sub-pixel, bilinear) and
    lit. Sensor noise comes from a small bank of noise frames.
    """
    au = {k: v * float(np.exp(rng.normal(0, 0.2))) + rng.normal(0, 0.08) for k, v in face.items()}
    course = _time_course(rng, n_frames, FPS)
    scale = rng.uniform(0.85, 1.15)
    cx0 = rng.uniform(WIDTH / 2 - 22, WIDTH / 2 + 22)
    cy0 = rng.uniform(HEIGHT / 2 - 6, HEIGHT / 2 + 6)
    sway = rng.uniform(0.3, 1.2, 2)
    sway_f = rng.uniform(0.2, 0.6, 2)
    sway_p = rng.uniform(0, 2 * np.pi, 2)
    gain = rng.uniform(0.7, 1.25)
    side = rng.uniform(-0.25, 0.25)
    background = rng.uniform(25, 90)
    talk_rate = rng.uniform(3.0, 5.5)
    talk_phase = rng.uniform(0, 2 * np.pi)
    xs = np.arange(WIDTH, dtype=np.float32)
    light = (gain * (1.0 + side * (xs - WIDTH / 2) / (WIDTH / 2))).astype(np.float32)[None, :]
    noise = rng.standard_normal((8, HEIGHT, WIDTH), dtype=np.float32) * np.float32(2.0)
    pick = rng.integers(0, 8, n_frames)
    base = _draw_static(actor, scale, cx0, cy0, background)
    out = np.empty((n_frames, HEIGHT, WIDTH), dtype=np.uint8)
    shift = np.eye(2, 3, dtype=np.float32)
    upper: dict[int, np.ndarray] = {}
    for f in range(n_frames):
        tt = f / FPS
        q = int(round(course[f] * 64))  # expression strength, quantised so frames share upper-face masks
        c = q / 64
        talk = 0.12 * max(0.0, np.sin(2 * np.pi * talk_rate * tt + talk_phase)) if 0.15 < tt < n_frames / FPS - 0.3 else 0.0
        if q not in upper:
            mask = np.ones((HEIGHT, WIDTH), dtype=np.float32)
            _draw_upper(mask, actor, scale, cx0, cy0, brow=c * au["brow"], angle=c * au["angle"], eye=c * au["eye"], wrinkle=c * au["wrinkle"])
            upper[q] = base * mask
        img = upper[q].copy()
        _draw_mouth(img, actor, scale, cx0, cy0, smile=c * au["smile"], mouth=c * au["mouth"] + talk)
        shift[0, 2] = sway[0] * np.sin(2 * np.pi * sway_f[0] * tt + sway_p[0])
        shift[1, 2] = sway[1] * np.sin(2 * np.pi * sway_f[1] * tt + sway_p[1])
        img = cv2.warpAffine(img, shift, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        out[f] = np.clip(img * light + noise[pick[f]], 0, 255).astype(np.uint8)
    return out


def _blob(shape, x, y, rx, ry):
    """Soft elliptical Gaussian blob in its 2-sigma window (separable: an
    outer product of two 1-D profiles, which keeps rendering cheap)."""
    h, w = shape
    x0, x1 = max(0, int(x - 2 * rx)), min(w, int(x + 2 * rx) + 2)
    y0, y1 = max(0, int(y - 2 * ry)), min(h, int(y + 2 * ry) + 2)
    gx = np.exp(-2.0 * ((_RAMP[x0:x1] - x) / rx) ** 2)
    gy = np.exp(-2.0 * ((_RAMP[y0:y1] - y) / ry) ** 2)
    return (slice(y0, y1), slice(x0, x1)), np.outer(gy, gx)


_RAMP = np.arange(max(WIDTH, HEIGHT) + 2, dtype=np.float32)


def _darken(img, x, y, rx, ry, k):
    sl, w = _blob(img.shape, x, y, rx, ry)
    img[sl] *= 1.0 - k * w


def _draw_static(a: Actor, s, cx, cy, background) -> np.ndarray:
    """Background, shaded head (bright centre) and nose: what no action unit moves."""
    img = np.full((HEIGHT, WIDTH), background, dtype=np.float32)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    d = ((xx - cx) / (a.face_w * s)) ** 2 + ((yy - cy) / (a.face_h * s)) ** 2
    img = np.where(d < 1.0, a.skin - 45.0 * d, img).astype(np.float32)
    sl, w = _blob(img.shape, cx, cy + 1.0 * s, 3.0 * s, 9.0 * s)
    img[sl] += 28.0 * w
    _darken(img, cx, cy + 10.5 * s, 5.0 * s, 2.0 * s, 0.45)
    return img


def _draw_upper(img, a: Actor, s, cx, cy, brow, angle, eye, wrinkle) -> None:
    """Eyes, brows and nose wrinkle under the current action units (all
    features darken multiplicatively, so they can be drawn in any order)."""
    ey = cy + a.eye_y * s
    for sx in (-1.0, 1.0):
        ex = cx + sx * a.eye_dx * s
        _darken(img, ex, ey, a.eye_r * s, a.eye_r * 0.62 * s * (1.0 + 0.9 * eye), 0.75)
        by = ey - (a.brow_gap + 6.5 * brow) * s
        for frac in (-0.7, 0.0, 0.7):
            bx = ex + sx * frac * 0.9 * a.eye_r * s
            lift = angle * 5.0 * s * (-frac / 1.4)
            _darken(img, bx, by - lift, 3.2 * s, 2.1 * s, 0.75)
    if wrinkle > 0:
        _darken(img, cx, cy - 4.0 * s, 4.5 * s, 3.0 * s, 0.5 * float(min(wrinkle, 1.5)))


def _draw_mouth(img, a: Actor, s, cx, cy, smile, mouth) -> None:
    """Lips (corners follow ``smile``) and the open mouth."""
    my = cy + a.mouth_y * s
    mw = a.mouth_w * s
    for frac in (-0.9, 0.0, 0.9):
        _darken(img, cx + frac * mw, my - smile * 7.5 * s * frac * frac, 0.45 * mw, 2.1 * s, 0.75)
    open_ = float(np.clip(mouth, 0, 1.6))
    if open_ > 0:
        _darken(img, cx, my + 2.0 * open_ * s, 0.6 * mw, (1.0 + 5.0 * open_) * s, 0.85)


def voice_of(name: RavdessName) -> dict[str, float]:
    """The voice parameters of a take: its emotion's profile at its intensity,
    plus the emotion's own cue (:data:`STRONG_CUES`) at strong intensity."""
    emotion = EMOTIONS[name.emotion]
    voice = _profile(VOICES, VOICE_OF[emotion], "plain", name.intensity)
    if name.intensity == 2:
        voice = {k: v + STRONG_CUES.get(emotion, {}).get(k, 0.0) for k, v in voice.items()}
    return voice


def render_clip(seed: int, index: int, actor: Actor, name: RavdessName) -> tuple[np.ndarray, np.ndarray]:
    """Audio (float32, :data:`SAMPLE_RATE`) and frames (uint8 ``[F, H, W]``) of one clip."""
    emotion = EMOTIONS[name.emotion]
    voice = voice_of(name)
    face = _profile(FACES, FACE_OF[emotion], "relaxed", name.intensity)
    # Separate streams: a clip's voice does not depend on its face profile
    # (two emotions with the same voice profile get the very same audio).
    audio = render_audio(np.random.default_rng([seed, index, 0]), actor, voice, name.statement)
    n_frames = int(len(audio) / SAMPLE_RATE * FPS)
    frames = render_video(np.random.default_rng([seed, index, 1]), actor, face, n_frames)
    return audio, frames


def _takes(actors: int) -> list[RavdessName]:
    """The 60 speech takes of each actor, ordered so that any prefix of the
    list is nearly balanced over emotions, intensities and actors: round j
    gives every actor its j-th take of every emotion (neutral has only four
    takes, as in RAVDESS: it has no strong intensity), and the takes of an
    emotion alternate normal and strong."""
    per_emotion: dict[int, list[tuple[int, int, int]]] = {}
    for e in EMOTIONS:
        per_emotion[e] = [
            (i, s, r) for s in (1, 2) for r in (1, 2) for i in ((1,) if e == 1 else (1, 2))
        ]  # fmt: skip
    takes = []
    for j in range(max(len(v) for v in per_emotion.values())):
        for a in range(1, actors + 1):
            for e, options in per_emotion.items():
                if j < len(options):
                    i, s, r = options[j]
                    takes.append(RavdessName(3, 1, e, i, s, r, a))
    return takes


def _write_clip(job: tuple[str, int, int, RavdessName]) -> None:
    out, seed, index, name = job
    actor = Actor.make(seed, name.actor)
    audio, frames = render_clip(seed, index, actor, name)
    folder = Path(out) / f"Actor_{name.actor:02d}"
    soundfile.write(str(folder / format_name(name, ".wav")), audio, SAMPLE_RATE, subtype="PCM_16")
    video_name = format_name(RavdessName(1, *name.take), ".mp4")
    writer = cv2.VideoWriter(str(folder / video_name), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (WIDTH, HEIGHT), True)
    if not writer.isOpened():
        raise SynthError(f"OpenCV cannot write {folder / video_name} with fourcc mp4v")
    try:
        for f in frames:
            writer.write(cv2.cvtColor(f, cv2.COLOR_GRAY2BGR))
    finally:
        writer.release()


def _manifest(clips: int, seed: int, actors: int) -> dict[str, Any]:
    return {
        "generator": "eavs builtin synthetic corpus",
        "synthetic": True,
        "version": GENERATOR_VERSION,
        "clips": clips,
        "seed": seed,
        "actors": actors,
        "sample_rate": SAMPLE_RATE,
        "fps": FPS,
        "frame_size": [WIDTH, HEIGHT],
    }


def synthesize(
    out_dir: str | Path, clips: int = 1000, seed: int = 0, actors: int = 24, workers: int = 2, progress: bool = False
) -> Path:
    """Write ``clips`` synthetic clips into ``out_dir`` in RAVDESS layout.

    Files: ``Actor_NN/03-01-EE-II-SS-RR-NN.wav`` (16 kHz mono PCM) and
    ``Actor_NN/01-01-EE-II-SS-RR-NN.mp4`` (30 fps grey, no sound track: the
    loader takes sound from the wav, as for real RAVDESS), plus
    ``eavs_synth.json`` describing the generator. If ``out_dir`` already
    holds a finished corpus with the same parameters it is reused; a folder
    holding anything else is refused rather than overwritten.
    """
    for name, value, lo in (("clips", clips, 1), ("actors", actors, 2), ("workers", workers, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < lo:
            raise SynthError(f"synth: {name} must be an integer >= {lo}, not {value!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise SynthError(f"synth: seed must be a non-negative integer, not {seed!r}")
    if actors > 99:
        raise SynthError(f"synth: at most 99 actors (RAVDESS actor field has two digits), not {actors}")
    if clips > 60 * actors:
        raise SynthError(f"synth: {clips} clips need more than {actors} actors (60 speech takes each); use --actors")
    out = Path(out_dir)
    want = _manifest(clips, seed, actors)
    manifest = out / MANIFEST
    if manifest.is_file():
        have = _read_manifest(manifest)
        if have == want:
            return out
        raise SynthError(f"{out} already holds a different synthetic corpus ({manifest}); choose another folder")
    if out.exists() and any(p for p in out.iterdir() if not p.name.startswith(".")):
        raise SynthError(f"{out} exists and is not empty; refusing to write a corpus into it")
    tmp = out.with_name(out.name + f".partial-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    if tmp.exists():
        shutil.rmtree(tmp)
    takes = _takes(actors)[:clips]
    for a in sorted({t.actor for t in takes}):
        (tmp / f"Actor_{a:02d}").mkdir(parents=True, exist_ok=True)
    jobs = [(str(tmp), seed, i, t) for i, t in enumerate(takes)]
    try:
        if workers == 1:
            it = map(_write_clip, jobs)
            _drain(it, len(jobs), progress)
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                _drain(pool.map(_write_clip, jobs, chunksize=8), len(jobs), progress)
        (tmp / MANIFEST).write_text(json.dumps(want, indent=1) + "\n")
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(tmp, out)  # atomic: the corpus appears complete or not at all
        except OSError:
            if _read_manifest(manifest) == want:  # another process made the same corpus meanwhile
                shutil.rmtree(tmp, ignore_errors=True)
                return out
            if not out.is_dir() or any(not p.name.startswith(".") for p in out.iterdir()):
                raise SynthError(f"{out} was filled by someone else while the corpus was being written") from None
            for p in sorted(tmp.iterdir()):  # only hidden entries there (e.g. a cache): move in, manifest last
                if p.name != MANIFEST:
                    p.rename(out / p.name)
            (tmp / MANIFEST).rename(manifest)
            tmp.rmdir()
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _read_manifest(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _drain(it, total: int, progress: bool) -> None:
    if progress:
        from tqdm import tqdm

        for _ in tqdm(it, total=total, desc="synth", unit="clip"):
            pass
    else:
        for _ in it:
            pass

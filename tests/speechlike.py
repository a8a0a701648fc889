"""A speech-like test recording made from the equations (no data files):
a glottal source (harmonics of a wandering f0 with a -12 dB/octave tilt)
shaped by three formant resonances that move from syllable to syllable,
syllable envelopes with pauses between words, and a little noise.

Used by the level-invariance test of the cochlea; not a pure tone, so band
levels differ between bands and over time as they do in speech.
"""

from __future__ import annotations

import numpy as np

SR = 16000
#: (F1, F2, F3) in Hz of a few vowels (adult male averages, Peterson & Barney).
VOWELS = [(730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480), (570, 840, 2410)]


def _resonance(f: np.ndarray, fc: float, bw: float) -> np.ndarray:
    """Magnitude of a second-order resonator (unit gain at DC) at frequencies ``f``."""
    return fc**2 / np.sqrt((fc**2 - f**2) ** 2 + (bw * f) ** 2)


def speech_like(seconds: float = 2.0, seed: int = 0, peak: float = 0.1, noise_db: float = -45.0) -> np.ndarray:
    """Mono float64 at 16 kHz, peak ``peak``; noise ``noise_db`` below the peak."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    # Syllables of 120-250 ms, with 80-300 ms pauses after every 2-4 syllables.
    env = np.zeros(n)
    formants = np.zeros((n, 3))
    at, k = int(0.15 * SR), 0
    while at < n:
        length = int(rng.uniform(0.12, 0.25) * SR)
        seg = slice(at, min(n, at + length))
        m = seg.stop - seg.start
        env[seg] = np.sin(np.pi * np.arange(m) / m) ** 1.5 * rng.uniform(0.5, 1.0)
        a, b = VOWELS[rng.integers(len(VOWELS))], VOWELS[rng.integers(len(VOWELS))]
        w = np.linspace(0, 1, m)[:, None]
        formants[seg] = (1 - w) * np.array(a) + w * np.array(b)  # a diphthong glide
        at += length + int(rng.uniform(0.01, 0.04) * SR)
        k += 1
        if k % rng.integers(2, 5) == 0:
            at += int(rng.uniform(0.08, 0.3) * SR)
    f0 = 120 + 25 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6)) + 8 * np.sin(2 * np.pi * 4.3 * t)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    x = np.zeros(n)
    for h in range(1, int(4000 / 95)):
        fh = h * f0
        amp = (1.0 / h**2) * np.ones(n)  # glottal spectral tilt
        for j, bw in enumerate((80, 100, 120)):
            amp *= _resonance(fh, np.maximum(formants[:, j], 1.0), bw) if True else 1
        amp[fh > SR / 2 - 200] = 0
        x += amp * np.sin(h * phase)
    x *= env
    x /= np.max(np.abs(x))
    x += 10 ** (noise_db / 20) * rng.standard_normal(n)
    return peak * x / np.max(np.abs(x))

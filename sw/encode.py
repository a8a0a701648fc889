"""Bio-inspired spike encoders: raw audio and face video to binary spike trains.

Both encoders follow the same idea as the sensors they imitate: they do not
report a signal, they report *changes* of its logarithm that exceed a
threshold (send-on-delta), in two polarities.

- :class:`AudioEncoder` (cochlea-like): a numpy log-mel spectrogram (Hann
  window, power spectrum, HTK mel filterbank), a level normalisation (the
  loud frames moved to ``level_db``: the spike rate does not follow the
  recording gain), decibels with a floor that adapts per band to a steady
  background, then per band UP / DOWN spikes
  each time the band level moves a ``threshold`` (dB) away from its
  reference. Channels ``[0, n_mels)`` are UP, ``[n_mels, 2 n_mels)`` DOWN.
  Version 2 (default) is causal: its level and floors are running
  statistics of the past (:mod:`sw.stream`), so it streams; version 1
  (older headers) takes them from the whole clip.
- :class:`VisualEncoder` (DVS-like): per pixel of an ``S x S`` grey face crop,
  log intensity against a per-pixel reference, ON / OFF events for each
  ``threshold`` (natural-log contrast) crossed. Channels ``[0, S*S)`` are ON,
  ``[S*S, 2 S*S)`` OFF, pixels in row-major order.

The event streams (at the frame rate of the spectrogram or the video) are
pooled onto the model's ``timesteps`` bins: a channel spikes in bin ``t`` if
it had at least one event in the frames of that bin. Each clip is stretched
onto the same ``T`` bins whatever its duration.

References start at the encoder's *floor* (audio: each band's floor; video:
mid-grey), so the first frame reports the clip's onset: silence gives no
audio spikes at all, and a static face gives events in the first step only.

Fields added after models were first saved carry a ``legacy`` value: a
header that lacks them rebuilds the encoder it was trained with.

Encoder parameters are plain dataclass fields; ``to_dict()`` stores them (with
their ``kind``) in the model file's input groups (docs/design.md section 3) and
:func:`encoders_from_inputs` rebuilds the exact encoders from a model, so the
board encodes as training did.

numpy and the standard library only: this module runs on the board.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Union

import numpy as np

from sw.qnet import InputGroup

__all__ = [
    "EncoderError",
    "AudioEncoder",
    "VisualEncoder",
    "Encoder",
    "encoder_from_dict",
    "encoders_from_inputs",
    "input_groups",
    "encode_clip",
    "resample_audio",
    "resample_frames",
    "mel_filterbank",
    "pool_events",
]


class EncoderError(ValueError):
    """Bad encoder parameters or input data (the message names the field)."""


# -- shared helpers ----------------------------------------------------------


def _check_positive(name: str, value: Any, integer: bool = False) -> None:
    ok = isinstance(value, (int, np.integer)) if integer else isinstance(value, (int, float, np.integer, np.floating))
    if isinstance(value, bool) or not ok or not value > 0 or (not integer and not math.isfinite(float(value))):
        kind = "a positive integer" if integer else "a positive finite number"
        raise EncoderError(f"encoder field {name!r} must be {kind}, not {value!r}")


def pool_events(events: np.ndarray, timesteps: int) -> np.ndarray:
    """Pool a ``[F, C]`` event-count array onto ``timesteps`` binary bins.

    Frame ``f`` goes to bin ``floor(f * T / F)``, so every frame lands in
    exactly one bin and the bins cover the clip evenly (when ``F < T`` some
    bins stay empty). Returns ``uint8 [T, C]`` with values 0/1.
    """
    events = np.asarray(events)
    n_frames, channels = events.shape
    out = np.zeros((timesteps, channels), dtype=np.uint8)
    if n_frames == 0:
        return out
    bins = (np.arange(n_frames, dtype=np.int64) * timesteps) // n_frames
    rows, cols = np.nonzero(events)
    out[bins[rows], cols] = 1
    return out


def _send_on_delta(levels: np.ndarray, initial: float | np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """UP / DOWN event counts of a send-on-delta sampler over ``levels[F, C]``.

    Each channel keeps a reference (starting at ``initial``); at each frame
    it emits ``n = trunc((x - ref) / threshold)`` events of the sign of ``n``
    and moves its reference by ``n * threshold``, so the reference always
    stays on the lattice ``initial + k * threshold`` and small fluctuations
    below the threshold are never reported.
    """
    up, down, _ = _send_on_delta_ref(levels, initial, threshold)
    return up, down


def _send_on_delta_ref(levels: np.ndarray, initial: float | np.ndarray, threshold: float):
    """:func:`_send_on_delta` that also returns the final references."""
    n_frames, channels = levels.shape
    ref = np.array(np.broadcast_to(np.asarray(initial, dtype=np.float64), (channels,)))
    up = np.zeros((n_frames, channels), dtype=np.int32)
    down = np.zeros((n_frames, channels), dtype=np.int32)
    for f in range(n_frames):
        n = np.trunc((levels[f] - ref) / threshold)
        ref += n * threshold
        up[f] = np.maximum(n, 0)
        down[f] = np.maximum(-n, 0)
    return up, down, ref


def resample_audio(audio: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Band-limited resampling of a mono signal (FFT method, numpy only).

    The spectrum is truncated (down-sampling: an ideal anti-alias filter) or
    zero-padded (up-sampling); adequate for a spectrogram front end.
    """
    audio = np.asarray(audio, dtype=np.float64)
    if sr_in == sr_out or audio.size == 0:
        return audio.copy()
    n_out = int(round(audio.size * sr_out / sr_in))
    if n_out == 0:
        return np.zeros(0)
    spec = np.fft.rfft(audio)
    keep = n_out // 2 + 1
    if keep <= spec.size:
        spec = spec[:keep]
    else:
        spec = np.concatenate([spec, np.zeros(keep - spec.size, dtype=spec.dtype)])
    return np.fft.irfft(spec, n_out) * (n_out / audio.size)


def resample_frames(frames: np.ndarray, fps_in: float, fps_out: float) -> np.ndarray:
    """Resample a frame sequence to another rate by nearest earlier frame.

    Output frame ``k`` (time ``k / fps_out``) is the input frame shown at
    that time, i.e. index ``floor(k * fps_in / fps_out)``: what a camera
    running at ``fps_out`` would have seen of the same scene.
    """
    frames = np.asarray(frames)
    if fps_in == fps_out or frames.shape[0] == 0:
        return frames
    duration = frames.shape[0] / fps_in
    n_out = max(1, int(math.floor(duration * fps_out + 1e-9)))
    idx = np.minimum((np.arange(n_out) * fps_in / fps_out + 1e-9).astype(np.int64), frames.shape[0] - 1)
    return frames[idx]


def _hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def _mel_to_hz(m: np.ndarray | float) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """Triangular HTK-mel filterbank ``[n_mels, n_fft // 2 + 1]``.

    Each filter is normalised to unit sum so that a band's value is the mean
    power under it (levels comparable across bands of different width).
    Filters narrower than one FFT bin keep the nearest bin, so no band is
    ever empty.
    """
    freqs = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    edges = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    bank = np.zeros((n_mels, freqs.size))
    for m in range(n_mels):
        lo, mid, hi = edges[m], edges[m + 1], edges[m + 2]
        rise = (freqs - lo) / max(mid - lo, 1e-9)
        fall = (hi - freqs) / max(hi - mid, 1e-9)
        w = np.clip(np.minimum(rise, fall), 0.0, None)
        if w.sum() <= 0:
            w[int(np.argmin(np.abs(freqs - mid)))] = 1.0
        bank[m] = w / w.sum()
    return bank


# -- audio -------------------------------------------------------------------


@dataclass(frozen=True)
class AudioEncoder:
    """Log-mel spectrogram to UP/DOWN send-on-delta spikes (cochlea-like).

    Parameters
    ----------
    sample_rate : int
        Rate the spectrogram is computed at; other rates are resampled.
    n_mels : int
        Mel bands; the encoder has ``2 * n_mels`` channels (UP then DOWN).
    win_ms, hop_ms : float
        Analysis window and hop (Hann window, FFT size the next power of two).
    fmin, fmax : float
        Mel filterbank range in Hz (``fmax`` at most Nyquist).
    threshold : float
        Send-on-delta step in dB: a band spikes each time its level moves
        this far from its reference.
    floor_db : float
        Level floor in dB re. full scale (a full-scale sine's band power is
        about 0 dB); quieter sounds are clipped to it, so silence and faint
        noise produce no spikes. The references start at the floor. With
        ``level_db`` set, the floor applies after the clip's level is
        normalised, so it sits ``level_db - floor_db`` dB below the clip's
        loud frames whatever the recording gain.
    level_db : float or None
        Per-clip level normalisation (an automatic gain control fixed over
        the clip, as the cochlea's outer hair cells and the efferent system
        compress level): the clip's loud-frame level (the ``level_percentile``
        of each frame's loudest band) is moved to ``level_db`` before the
        floor, so the spike rate no longer follows the recording gain.
        Default -20 dB: about the median loud-frame level of the built-in
        synthetic corpus, so its spike rate stays where it was. ``None``
        (what a model header written before this field means) disables it.
    level_percentile : float
        Which frame level counts as "loud": the 95th percentile ignores a few
        clicks (unlike the maximum) and the share of pauses (unlike the mean).
    max_gain_db : float
        The most the normalisation amplifies (attenuation is unlimited). 50 dB
        lifts speech recorded 30 dB too quietly (-50 dBFS peaks) to the target
        but leaves digital silence and faint hiss below the floor.
    noise_margin_db : float or None
        Adaptation to a steady background, per band: a band's floor rises to
        its ``noise_percentile`` level plus this margin (never below
        ``floor_db``), so the recording's noise, lifted by the normalisation
        of a quiet clip, does not flicker across the threshold. 3 dB (half
        the send-on-delta step) removes noise flicker and keeps speech that
        rises above the background. ``None`` (older headers) disables it.
    noise_percentile : float
        The band level taken as its background: the 10th percentile is a
        pause level in speech with at least 10 % pauses.
    timesteps : int
        Bins T of the output.
    version : int
        2 (default): the causal cochlea (:class:`sw.stream.AudioStream`):
        the gain and the band floors are running statistics of the frames
        seen so far (at most ``history_s`` of them), each frame computed on
        its own, so streaming a clip in chunks gives exactly these events.
        1 (what a header without this field means): the clip-mode encoder
        that normalises by the whole clip's loud frames and background (a
        look-ahead: it cannot run live), kept so older models encode as
        they were trained.
    history_s : float
        Version 2: how far back (s) the running statistics reach. 4 s covers
        a whole acted utterance (so a clip's last frames see the statistics
        clip mode used to see) and lets a live input re-adapt within seconds.
    gate_db : float
        Version 2: the gain never lifts the background (the
        ``noise_percentile`` of the past frames' loudest band) above
        ``floor_db + gate_db``. Clip mode met the background together with
        the speech that set the gain; a causal cochlea that hears only
        background would otherwise lift it to ``level_db`` and spike on its
        flicker. The gain also never lifts the current frame's loudest band
        above ``level_db`` (a limiter: an onset after silence does not
        arrive at the full ``max_gain_db``).

    Level invariance (tests/test_encode_level.py, a speech-like recording
    the test makes itself): the spike rate moves by at most 15 % between
    gains 0.03 and 10 (measured: version 1 flat at 0.0660, version 2 from
    0.0746 to 0.0754); without normalisation it went from 0 to 0.125.
    Loudness is then no longer a cue: emotion must be read from spectral
    and temporal change, as a level-invariant listener does.
    """

    sample_rate: int = 16000
    n_mels: int = 32
    win_ms: float = 25.0
    hop_ms: float = 10.0
    fmin: float = 50.0
    fmax: float = 8000.0
    threshold: float = 6.0
    floor_db: float = -50.0
    level_db: Optional[float] = -20.0
    level_percentile: float = 95.0
    max_gain_db: float = 50.0
    noise_margin_db: Optional[float] = 3.0
    noise_percentile: float = 10.0
    timesteps: int = 40
    version: int = 2
    history_s: float = 4.0
    gate_db: float = 0.0

    kind = "audio"
    #: Values of fields a model header written before they existed means.
    legacy = {"level_db": None, "noise_margin_db": None, "version": 1}
    #: The encoder versions this code builds.
    versions = (1, 2)

    def __post_init__(self) -> None:
        _check_positive("sample_rate", self.sample_rate, integer=True)
        _check_positive("n_mels", self.n_mels, integer=True)
        _check_positive("timesteps", self.timesteps, integer=True)
        if isinstance(self.version, bool) or self.version not in self.versions:
            raise EncoderError(f"encoder field 'version' must be one of {list(self.versions)}, not {self.version!r}")
        for name in ("win_ms", "hop_ms", "threshold", "fmax", "history_s"):
            _check_positive(name, getattr(self, name))
        if not isinstance(self.fmin, (int, float)) or isinstance(self.fmin, bool) or not 0 <= self.fmin < self.fmax:
            raise EncoderError(f"encoder field 'fmin' must be in [0, fmax={self.fmax!r}), not {self.fmin!r}")
        if self.fmax > self.sample_rate / 2:
            raise EncoderError(
                f"encoder field 'fmax' ({self.fmax!r} Hz) is above Nyquist for sample_rate {self.sample_rate!r}"
            )
        if not isinstance(self.floor_db, (int, float)) or isinstance(self.floor_db, bool) or not math.isfinite(self.floor_db):
            raise EncoderError(f"encoder field 'floor_db' must be a finite number, not {self.floor_db!r}")
        if self.level_db is not None and (
            not isinstance(self.level_db, (int, float)) or isinstance(self.level_db, bool) or not math.isfinite(self.level_db)
        ):
            raise EncoderError(f"encoder field 'level_db' must be a finite number or None, not {self.level_db!r}")
        if self.noise_margin_db is not None and (
            not isinstance(self.noise_margin_db, (int, float))
            or isinstance(self.noise_margin_db, bool)
            or not (math.isfinite(self.noise_margin_db) and self.noise_margin_db >= 0)
        ):
            raise EncoderError(f"encoder field 'noise_margin_db' must be a finite number >= 0 or None, not {self.noise_margin_db!r}")
        for name in ("level_percentile", "noise_percentile"):
            p = getattr(self, name)
            if not isinstance(p, (int, float)) or isinstance(p, bool) or not 0 <= p <= 100:
                raise EncoderError(f"encoder field {name!r} must be in [0, 100], not {p!r}")
        g = self.max_gain_db
        if not isinstance(g, (int, float)) or isinstance(g, bool) or not (math.isfinite(g) and g >= 0):
            raise EncoderError(f"encoder field 'max_gain_db' must be a finite number >= 0, not {g!r}")
        if self.win_samples < 2 or self.hop_samples < 1:
            raise EncoderError(
                f"audio window {self.win_ms!r} ms / hop {self.hop_ms!r} ms is shorter than one sample at {self.sample_rate} Hz"
            )

    @property
    def size(self) -> int:
        """Channels: ``n_mels`` UP then ``n_mels`` DOWN."""
        return 2 * self.n_mels

    @property
    def win_samples(self) -> int:
        return int(round(self.win_ms * self.sample_rate / 1000.0))

    @property
    def hop_samples(self) -> int:
        return int(round(self.hop_ms * self.sample_rate / 1000.0))

    @property
    def n_fft(self) -> int:
        return 1 << max(1, (self.win_samples - 1).bit_length())

    def log_mel(self, audio: np.ndarray, sr: int) -> np.ndarray:
        """Log-mel spectrogram ``[frames, n_mels]`` in dB, floored at each band's floor
        (the version-1 clip statistics: for looking at a clip, not for encoding it)."""
        return self._levels(audio, sr)[0]

    def _levels(self, audio: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
        """Log-mel levels (floored) and the band floors ``[n_mels]``.

        Levels are normalised by :meth:`gain_db` (if ``level_db`` is set),
        floored at ``floor_db``, then at each band's :meth:`band_floors`.

        ``audio`` is mono float in [-1, 1] (or ``[n, channels]``, averaged);
        it is resampled to ``sample_rate`` if ``sr`` differs. Frames are
        centred on ``k * hop`` with zero padding of half a window.
        """
        x = self._prepare(audio, sr)
        win, hop, n_fft = self.win_samples, self.hop_samples, self.n_fft
        if x.size == 0:
            return np.full((0, self.n_mels), float(self.floor_db)), np.full(self.n_mels, float(self.floor_db))
        pad = win // 2
        xp = np.concatenate([np.zeros(pad), x, np.zeros(pad)])
        n_frames = 1 + (xp.size - win) // hop if xp.size >= win else 1
        if xp.size < win:
            xp = np.concatenate([xp, np.zeros(win - xp.size)])
        idx = np.arange(win)[None, :] + hop * np.arange(n_frames)[:, None]
        window = np.hanning(win + 2)[1:-1]
        frames = xp[idx] * window
        power = np.abs(np.fft.rfft(frames, n=n_fft, axis=1)) ** 2
        # Scale so a full-scale sine has about 0 dB in its band: |X|^2 of a
        # sine of amplitude 1 is (sum(window) / 2)^2, spread over ~3 bins.
        power *= 4.0 / (window.sum() ** 2)
        bank = _filterbank_cached(self.sample_rate, n_fft, self.n_mels, float(self.fmin), float(self.fmax))
        mel = power @ bank.T * 3.0
        if self.level_db is not None:
            mel = mel * 10.0 ** (self.gain_db(mel) / 10.0)
        floor = 10.0 ** (self.floor_db / 10.0)
        levels = 10.0 * np.log10(np.maximum(mel, floor))
        floors = self.band_floors(levels)
        return np.maximum(levels, floors), floors

    def band_floors(self, levels: np.ndarray) -> np.ndarray:
        """Each band's floor ``[n_mels]`` in dB: ``floor_db``, raised to the band's
        background plus ``noise_margin_db`` when that is set.

        ``levels`` are the mel levels floored at ``floor_db`` only."""
        floors = np.full(self.n_mels, float(self.floor_db))
        if self.noise_margin_db is not None and levels.shape[0]:
            floors = np.maximum(floors, np.percentile(levels, self.noise_percentile, axis=0) + self.noise_margin_db)
        return floors

    def gain_db(self, mel: np.ndarray) -> float:
        """The normalisation gain for a clip's mel powers ``[frames, n_mels]`` (0 when off)."""
        if self.level_db is None or mel.size == 0:
            return 0.0
        loudest = 10.0 * np.log10(np.maximum(mel.max(axis=1), 1e-30))
        level = float(np.percentile(loudest, self.level_percentile))
        return float(min(self.level_db - level, self.max_gain_db))

    def stream(self):
        """A :class:`sw.stream.AudioStream` of this encoder (version 2 only)."""
        from sw.stream import AudioStream  # sw.stream builds on this module

        return AudioStream(self)

    def events(self, audio: np.ndarray, sr: int) -> np.ndarray:
        """Unpooled UP/DOWN event counts ``int32 [frames, 2 * n_mels]``.

        Version 2 is the stream fed the whole clip at once (so a stream fed
        it in chunks gives the same rows); version 1 is the clip-mode code.
        """
        if self.version >= 2:
            s = self.stream()
            x = self._prepare(audio, sr)
            return np.concatenate([s.push(x), s.flush()], axis=0)
        levels, floors = self._levels(audio, sr)
        # References start at each band's floor: a steady background gives no onset spikes.
        up, down = _send_on_delta(levels, floors, self.threshold)
        return np.concatenate([up, down], axis=1)

    def encode(self, audio: np.ndarray, sr: int) -> np.ndarray:
        """Binary spikes ``uint8 [timesteps, 2 * n_mels]`` for one clip."""
        return pool_events(self.events(audio, sr), self.timesteps)

    def _prepare(self, audio: Any, sr: Any) -> np.ndarray:
        if isinstance(sr, bool) or not isinstance(sr, (int, np.integer)) or sr <= 0:
            raise EncoderError(f"audio sample rate must be a positive integer, not {sr!r}")
        x = np.asarray(audio)
        if x.dtype.kind not in "fiu":
            raise EncoderError(f"audio must be a numeric array, not dtype {x.dtype}")
        if x.ndim == 2:
            x = x.mean(axis=1)
        if x.ndim != 1:
            raise EncoderError(f"audio must have shape [samples] or [samples, channels], not {x.shape}")
        if x.dtype.kind in "iu":
            x = x.astype(np.float64) / float(np.iinfo(x.dtype).max)
        x = x.astype(np.float64)
        if not np.all(np.isfinite(x)):
            raise EncoderError("audio contains NaN or infinite samples")
        return resample_audio(x, int(sr), self.sample_rate)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "AudioEncoder":
        return _from_dict(cls, d)


# -- video -------------------------------------------------------------------


#: The face trackers a visual encoder can name (their settings live in ``sw.data.media``).
TRACKERS = ("causal2", "causal", "smoothed")


@dataclass(frozen=True)
class VisualEncoder:
    """Face-crop video to DVS-like ON/OFF events.

    Parameters
    ----------
    side : int
        Side S of the grey face crop (``S x S`` pixels). The encoder has
        ``size = 2 * S * S`` channels (ON then OFF, pixels row-major).
    fps : float
        Frame rate the events are computed at; other rates are resampled.
    threshold : float
        Contrast threshold in natural-log units (0.10 is about 10.5 %; sensor
        noise on a 16 x 16 crop stays well below it, facial action units
        of a few pixels cross it).
    offset : float
        Added to the 0..255 intensity before the log, so the sensor noise of
        dark pixels does not explode into events.
    onset : str
        Where the per-pixel references start. ``"first"`` (default): at the
        first visible frame, as a retina already adapted to the scene when
        the clip starts, so step 0 reports changes only, like every other
        step. ``"grey"`` (what a header from before this field means): at
        mid-grey, so the first frame emits the face's contrast against grey,
        an onset snapshot of up to every pixel in one step. The snapshot is
        an artefact of the recording's start, not of the expression (on
        real video it is as large for a neutral face as for an angry one),
        so the default does not produce it.
    track : str
        How the loader finds the face crop (sw.data.media): ``"tracked"``
        (default) follows the face frame by frame; ``"fixed"`` (what a header
        from before this field means) uses one box for the whole clip, so
        head motion reads as expression.
    tracker : str
        Which face tracker a ``"tracked"`` crop uses (sw.data.media):
        ``"causal2"`` (default) predicts each frame's box from the past only
        (phase correlation, corrected toward the detector), so a live camera
        gives the same crops as a clip, at about a third of the cost per
        frame of ``"causal"`` (the same tracker with a wider detector search
        on the full frame and always two float64 matching passes; models
        trained with it rebuild it exactly); ``"smoothed"`` (what a header from before this field
        means) is the older look-ahead tracker.
    detect_step : int
        The face detector runs on every ``detect_step``-th frame (6: 5 Hz at
        30 fps; the motion between detections is tracked, the detector only
        corrects its drift, and a face missed once is still held for
        ``hold_s``). Headers from before this field mean 3.
    smooth_s : float
        How much the detector's few-pixel jitter is averaged out (s): the
        time constant of the causal tracker's pull toward the detections
        (the motion itself is not smoothed); for ``"smoothed"``, the window
        of its centred local linear fit.
    hold_s : float
        How long (s) the last box is held when no face is found; after that
        the frames are not visible (their steps are empty).
    max_missing : float
        A clip whose face is missing (not even held) in more than this
        share of its frames is skipped with that reason.
    timesteps : int
        Bins T of the output.

    Frames may come with a ``visible`` mask (the face tracker's): a frame
    that is not visible emits nothing, and the first visible frame after a
    gap re-adapts the references silently, so a face that was lost and found
    again does not fire every pixel at once.
    """

    side: int = 16
    fps: float = 30.0
    threshold: float = 0.10
    offset: float = 8.0
    onset: str = "first"
    track: str = "tracked"
    tracker: str = "causal2"
    detect_step: int = 6
    smooth_s: float = 1.0
    hold_s: float = 0.5
    max_missing: float = 0.3
    timesteps: int = 40

    kind = "visual"
    #: Values of fields a model header written before they existed means.
    legacy = {"onset": "grey", "track": "fixed", "tracker": "smoothed", "detect_step": 3}

    def __post_init__(self) -> None:
        _check_positive("side", self.side, integer=True)
        _check_positive("fps", self.fps)
        _check_positive("threshold", self.threshold)
        _check_positive("offset", self.offset)
        _check_positive("timesteps", self.timesteps, integer=True)
        if self.onset not in ("first", "grey"):
            raise EncoderError(f"encoder field 'onset' must be 'first' or 'grey', not {self.onset!r}")
        if self.track not in ("tracked", "fixed"):
            raise EncoderError(f"encoder field 'track' must be 'tracked' or 'fixed', not {self.track!r}")
        if self.tracker not in TRACKERS:
            raise EncoderError(f"encoder field 'tracker' must be one of {', '.join(map(repr, TRACKERS))}, not {self.tracker!r}")
        _check_positive("detect_step", self.detect_step, integer=True)
        _check_positive("smooth_s", self.smooth_s)
        for name in ("hold_s", "max_missing"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v >= 0):
                raise EncoderError(f"encoder field {name!r} must be a finite number >= 0, not {v!r}")
        if self.max_missing > 1:
            raise EncoderError(f"encoder field 'max_missing' must be a share in [0, 1], not {self.max_missing!r}")

    @property
    def size(self) -> int:
        """Channels: ``S * S`` ON then ``S * S`` OFF."""
        return 2 * self.side * self.side

    def _frames(self, frames: Any, fps: Any) -> np.ndarray:
        if isinstance(fps, bool) or not isinstance(fps, (int, float, np.integer, np.floating)) or not fps > 0:
            raise EncoderError(f"video frame rate must be a positive number, not {fps!r}")
        f = np.asarray(frames)
        s = self.side
        if f.ndim != 3 or f.shape[1:] != (s, s):
            raise EncoderError(f"frames must be grey face crops of shape [F, {s}, {s}], not {f.shape}")
        if f.dtype != np.uint8:
            raise EncoderError(f"frames must be uint8 grey levels, not dtype {f.dtype}")
        return resample_frames(f, float(fps), float(self.fps))

    def events(self, frames: np.ndarray, fps: float, visible: np.ndarray | None = None) -> np.ndarray:
        """Unpooled ON/OFF event counts ``int32 [frames, 2 * S * S]``.

        ``visible`` (bool per input frame, default all) marks the frames
        where the face was found; the others emit nothing.
        """
        f = self._frames(frames, fps)
        if visible is None:
            vis = np.ones(f.shape[0], dtype=bool)
        else:
            vis = np.asarray(visible, dtype=bool)
            if vis.shape != (np.asarray(frames).shape[0],):
                raise EncoderError(f"visible must have one flag per frame ({np.asarray(frames).shape[0]}), not shape {vis.shape}")
            vis = resample_frames(vis, float(fps), float(self.fps))
        levels = np.log(f.reshape(f.shape[0], -1).astype(np.float64) + self.offset)
        n = f.shape[0]
        on = np.zeros((n, levels.shape[1]), dtype=np.int32)
        off = np.zeros_like(on)
        ref = np.full(levels.shape[1], math.log(128.0 + self.offset))
        fresh = self.onset == "first"  # the next visible frame sets the references silently
        start = 0
        while start < n:
            if not vis[start]:
                start += 1
                fresh = True  # after a gap the retina re-adapts
                continue
            end = start
            while end < n and vis[end]:
                end += 1
            if fresh:
                ref = levels[start].copy()  # adapted to this frame: it emits nothing
            on[start:end], off[start:end], ref = _send_on_delta_ref(levels[start:end], ref, self.threshold)
            fresh = False
            start = end
        return np.concatenate([on, off], axis=1)

    def encode(self, frames: np.ndarray, fps: float, visible: np.ndarray | None = None) -> np.ndarray:
        """Binary spikes ``uint8 [timesteps, 2 * S * S]`` for one clip."""
        return pool_events(self.events(frames, fps, visible), self.timesteps)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "VisualEncoder":
        return _from_dict(cls, d)


Encoder = Union[AudioEncoder, VisualEncoder]
_KINDS: dict[str, type] = {"audio": AudioEncoder, "visual": VisualEncoder}


def _from_dict(cls: type, d: dict[str, Any]) -> Any:
    if not isinstance(d, dict):
        raise EncoderError(f"{cls.__name__} parameters must be a mapping, not {type(d).__name__}")
    d = dict(d)
    kind = d.pop("kind", cls.kind)
    if kind != cls.kind:
        raise EncoderError(f"{cls.__name__} cannot be built from parameters of kind {kind!r}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise EncoderError(f"{kind} encoder: unknown field(s) {unknown}; known: {sorted(names)}")
    # A field missing from an older header takes the value that reproduces that
    # header's encoding (not today's default), so old models encode as trained.
    return cls(**{**getattr(cls, "legacy", {}), **d})


def encoder_from_dict(d: dict[str, Any]) -> Encoder:
    """Build an encoder from ``to_dict()`` output (dispatching on ``kind``)."""
    if not isinstance(d, dict) or "kind" not in d:
        raise EncoderError(f"encoder parameters need a 'kind' field ({sorted(_KINDS)}), got {d!r}")
    kind = d["kind"]
    if kind not in _KINDS:
        raise EncoderError(f"unknown encoder kind {kind!r}; known: {sorted(_KINDS)}")
    return _KINDS[kind].from_dict(d)


def encoders_from_inputs(inputs: Sequence[InputGroup]) -> list[Encoder]:
    """The encoders that produced a model's input groups, in header order.

    Raises :class:`EncoderError` naming the group if its parameters are
    missing or do not give the group's size, or if the groups disagree on T.
    """
    out: list[Encoder] = []
    for g in inputs:
        try:
            enc = encoder_from_dict(g.encoder)
        except EncoderError as e:
            raise EncoderError(f"input group {g.name!r}: {e}") from None
        if enc.size != g.size:
            raise EncoderError(f"input group {g.name!r}: size {g.size} but its encoder gives {enc.size} channels")
        out.append(enc)
    _common_timesteps(out)
    return out


def input_groups(encoders: Sequence[Encoder]) -> list[InputGroup]:
    """Model input groups for ``encoders`` (named by kind: ``audio``, ``visual``)."""
    names = [e.kind for e in encoders]
    if len(set(names)) != len(names):
        raise EncoderError(f"at most one encoder of each kind, got {names}")
    _common_timesteps(encoders)
    return [InputGroup(name=e.kind, size=e.size, encoder=e.to_dict()) for e in encoders]


def _common_timesteps(encoders: Sequence[Encoder]) -> int | None:
    ts = {e.timesteps for e in encoders}
    if len(ts) > 1:
        raise EncoderError(f"encoders disagree on timesteps: {[(e.kind, e.timesteps) for e in encoders]}")
    return ts.pop() if ts else None


def encode_clip(
    inputs: Sequence[InputGroup] | Sequence[Encoder],
    audio: np.ndarray | None,
    sr: int | None,
    frames: np.ndarray | None,
    fps: float | None,
    visible: np.ndarray | None = None,
) -> np.ndarray:
    """Encode one clip for a model: ``uint8 [T, N_in]``, groups in header order.

    ``inputs`` is the model's input groups (or the encoders themselves); a
    modality the model does not use may be ``None``. ``visible`` is the face
    tracker's per-frame flag (see :class:`VisualEncoder`).
    """
    encoders = list(inputs)
    if encoders and isinstance(encoders[0], InputGroup):
        encoders = encoders_from_inputs(encoders)  # type: ignore[arg-type]
    if not encoders:
        raise EncoderError("encode_clip needs at least one input group")
    parts = []
    for e in encoders:
        if isinstance(e, AudioEncoder):
            if audio is None or sr is None:
                raise EncoderError("the model has an 'audio' input but no audio was given")
            parts.append(e.encode(audio, sr))
        elif isinstance(e, VisualEncoder):
            if frames is None or fps is None:
                raise EncoderError("the model has a 'visual' input but no video frames were given")
            parts.append(e.encode(frames, fps, visible))
        else:
            raise EncoderError(f"not an encoder: {e!r}")
    return np.concatenate(parts, axis=1)


_BANKS: dict[tuple, np.ndarray] = {}


def _filterbank_cached(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    key = (sample_rate, n_fft, n_mels, fmin, fmax)
    if key not in _BANKS:
        _BANKS[key] = mel_filterbank(*key)
    return _BANKS[key]

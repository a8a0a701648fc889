"""Streaming encoders: samples and frames in, event rows out, never a look-ahead.

An encoder that runs live cannot wait for the end of the clip. These
objects take the input as it arrives (``push``) and return the event rows
that have become complete; ``flush()`` ends the input and returns the rest.
Clip mode is the same object fed the whole clip at once
(:meth:`sw.encode.AudioEncoder.events` for encoder version 2 calls
:class:`AudioStream`), so a whole clip streamed in chunks of any size gives
exactly the clip-mode events, bit for bit (tests/test_encode_stream.py).

:class:`AudioStream` (the causal cochlea, :class:`~sw.encode.AudioEncoder`
``version`` 2): each analysis frame is computed on its own (one FFT, one
filterbank product; a frame's numbers never depend on which other frames
were computed with it), and its level control and band floors use running
statistics over the frames seen so far (at most ``history_s`` of them):

- the gain moves the ``level_percentile`` of the past frames' loudest band
  to ``level_db`` (at most ``max_gain_db``), an automatic gain control
  that only knows the past;
- each band's floor is its ``noise_percentile`` level over the past plus
  ``noise_margin_db`` (never below ``floor_db``), in the same gain.

Send-on-delta references start at the first frame's floors, as in clip mode.

:class:`VisualStream`: the DVS-like retina on face crops that arrive one by
one (the retina itself was always causal; the face tracker that makes the
crops lives in ``sw.data.media``). Frames are resampled to the encoder's
rate as they arrive (nearest earlier frame, as :func:`sw.encode.resample_frames`).

numpy and the standard library only: this module runs on the board.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import numpy as np

from sw.encode import AudioEncoder, EncoderError, VisualEncoder, _filterbank_cached

__all__ = ["AudioStream", "VisualStream"]


def _percentiles(a: np.ndarray, ps: tuple[float, ...], axis: int = 0) -> list:
    """Percentiles along ``axis`` with linear interpolation between order statistics
    (numpy's default definition), by one partial sort: ``np.percentile`` costs
    several times more per call, and the cochlea calls this every 10 ms frame."""
    n = a.shape[axis]
    pos = [p / 100.0 * (n - 1) for p in ps]
    ks = sorted({int(math.floor(q)) for q in pos} | {min(int(math.floor(q)) + 1, n - 1) for q in pos})
    part = np.partition(a, ks, axis=axis)
    if axis != 0:
        part = np.moveaxis(part, axis, 0)
    out = []
    for q in pos:
        lo = int(math.floor(q))
        hi = min(lo + 1, n - 1)
        out.append(part[lo] + (part[hi] - part[lo]) * (q - lo))
    return out


class AudioStream:
    """The causal cochlea of one :class:`AudioEncoder` (``version`` 2), fed in chunks.

    Parameters
    ----------
    encoder : AudioEncoder
        Its fields; ``version`` must be 2 (version 1 normalises by the whole
        clip and cannot stream).

    ``push(samples)`` takes mono float samples at ``encoder.sample_rate``
    (resample before: a live source opens the device at that rate) and
    returns ``int32 [k, 2 * n_mels]`` UP/DOWN event rows for the frames that
    became complete; ``flush()`` returns the frames that needed the end of
    the input (the last half window is zero-padded, as in clip mode).
    ``frames_out`` counts the rows returned so far; frame ``k`` is centred on
    sample ``k * hop``.
    """

    #: The band backgrounds are re-estimated every this many frames (100 ms at
    #: the 10 ms hop), the loud level every frame: a partial sort of every
    #: band's history is most of a frame's cost, and a background moves slowly.
    NOISE_EVERY = 10

    def __init__(self, encoder: AudioEncoder):
        if not isinstance(encoder, AudioEncoder):
            raise EncoderError(f"AudioStream needs an AudioEncoder, not {type(encoder).__name__}")
        if encoder.version < 2:
            raise EncoderError(f"audio encoder version {encoder.version} normalises by the whole clip and cannot stream; version 2 can")
        self.enc = e = encoder
        self.win, self.hop, self.n_fft = e.win_samples, e.hop_samples, e.n_fft
        self.pad = self.win // 2
        self.window = np.hanning(self.win + 2)[1:-1]
        self.scale = 4.0 / (self.window.sum() ** 2)
        self.bank_t = np.ascontiguousarray(_filterbank_cached(e.sample_rate, self.n_fft, e.n_mels, float(e.fmin), float(e.fmax)).T)
        hist = max(1, int(round(e.history_s * 1000.0 / e.hop_ms)))
        # Ring buffers of the past frames' raw levels (order does not matter to a percentile).
        self._loud = np.zeros(hist)
        self._bands = np.zeros((e.n_mels, hist))  # band-major: each band's history contiguous
        self._seen = 0
        self._noise = np.zeros(e.n_mels)
        # The padded signal xp = [pad zeros, samples..., pad zeros]; _buf holds xp from index _base.
        self._buf = np.zeros(self.pad)
        self._base = 0
        self._n = 0  # samples pushed
        self.frames_out = 0
        self._ref: np.ndarray | None = None
        self._ended = False

    @property
    def samples_in(self) -> int:
        """Samples pushed so far."""
        return self._n

    def push(self, samples: Any) -> np.ndarray:
        """Add samples; return the event rows of the frames now complete."""
        if self._ended:
            raise EncoderError("AudioStream: push after flush (make a new stream per clip)")
        x = np.asarray(samples, dtype=np.float64).reshape(-1)
        if not np.all(np.isfinite(x)):
            raise EncoderError("audio contains NaN or infinite samples")
        self._buf = np.concatenate([self._buf, x])
        self._n += x.size
        # Frame k spans xp[k*hop, k*hop + win); during the stream it must not reach the end padding.
        return self._frames(self.pad + self._n)

    def flush(self) -> np.ndarray:
        """End the input; return the frames that needed its end (zero-padded)."""
        if self._ended:
            return np.zeros((0, 2 * self.enc.n_mels), np.int32)
        self._ended = True
        self._buf = np.concatenate([self._buf, np.zeros(self.pad)])
        total = 2 * self.pad + self._n
        if self._n and total < self.win and self.frames_out == 0:  # shorter than a window: one zero-padded frame
            self._buf = np.concatenate([self._buf, np.zeros(self.win - total)])
            total = self.win
        if self._n == 0:
            return np.zeros((0, 2 * self.enc.n_mels), np.int32)
        return self._frames(total)

    def _frames(self, avail: int) -> np.ndarray:
        rows = []
        while self.frames_out * self.hop + self.win <= avail:
            start = self.frames_out * self.hop - self._base
            rows.append(self._frame(self._buf[start:start + self.win]))
            self.frames_out += 1
        drop = self.frames_out * self.hop - self._base  # samples no later frame needs
        if drop > 0:
            self._buf = self._buf[drop:]
            self._base += drop
        if not rows:
            return np.zeros((0, 2 * self.enc.n_mels), np.int32)
        return np.stack(rows)

    def _frame(self, segment: np.ndarray) -> np.ndarray:
        """One frame's UP/DOWN event counts, from its samples and the past statistics."""
        e = self.enc
        spec = np.fft.rfft(segment * self.window, n=self.n_fft)
        power = (spec.real**2 + spec.imag**2) * self.scale
        mel = (power @ self.bank_t) * 3.0
        raw = 10.0 * np.log10(np.maximum(mel, 1e-30))
        hist = self._loud.size
        slot = self._seen % hist
        self._loud[slot] = loudest = float(raw.max())
        self._bands[:, slot] = raw
        self._seen += 1
        filled = min(self._seen, hist)
        gain = 0.0
        if e.level_db is not None:
            level, background = _percentiles(self._loud[:filled], (e.level_percentile, e.noise_percentile))
            level = max(float(level), loudest)  # a limiter: never lift this frame's loudest band above level_db
            gain = min(e.level_db - level, e.max_gain_db, e.floor_db + e.gate_db - float(background))
        floors = np.full(e.n_mels, float(e.floor_db))
        if e.noise_margin_db is not None:
            if (self._seen - 1) % self.NOISE_EVERY == 0:  # frames 0, 10, 20...: the background moves slowly
                (self._noise,) = _percentiles(self._bands[:, :filled], (e.noise_percentile,), axis=1)
            noise = self._noise
            floors = np.maximum(floors, noise + gain + e.noise_margin_db)
        levels = np.maximum(raw + gain, floors)
        if self._ref is None:
            self._ref = floors.copy()  # references start at the floors: a steady background gives no onset
        n = np.trunc((levels - self._ref) / e.threshold)
        self._ref += n * e.threshold
        return np.concatenate([np.maximum(n, 0), np.maximum(-n, 0)]).astype(np.int32)


class VisualStream:
    """The DVS-like retina of one :class:`VisualEncoder`, fed face crops one at a time.

    ``push(crop, visible=True)`` takes one ``uint8 [S, S]`` crop at the input
    rate ``fps`` and returns ``int32 [k, 2 * S * S]`` ON/OFF rows (k = 0, 1 or
    more: frames are resampled to ``encoder.fps`` by the nearest earlier
    frame). A frame that is not visible emits nothing and the next visible
    one re-adapts silently, as :meth:`VisualEncoder.events`.
    """

    def __init__(self, encoder: VisualEncoder, fps: float):
        if not isinstance(encoder, VisualEncoder):
            raise EncoderError(f"VisualStream needs a VisualEncoder, not {type(encoder).__name__}")
        if isinstance(fps, bool) or not isinstance(fps, (int, float, np.integer, np.floating)) or not fps > 0:
            raise EncoderError(f"video frame rate must be a positive number, not {fps!r}")
        self.enc = encoder
        self.fps = float(fps)
        self.frames_in = 0
        self.frames_out = 0
        self._ref = np.full(encoder.side * encoder.side, math.log(128.0 + encoder.offset))
        self._fresh = encoder.onset == "first"
        self._recent: deque = deque()  # (index, crop, visible) of input frames a later output may still show

    def push(self, crop: Any, visible: bool = True) -> np.ndarray:
        """Add one crop; return the event rows it produced (resampled to the encoder's rate)."""
        e, s = self.enc, self.enc.side
        f = np.asarray(crop)
        if f.shape != (s, s) or f.dtype != np.uint8:
            raise EncoderError(f"a face crop must be uint8 [{s}, {s}], not {f.dtype} {f.shape}")
        self._recent.append((self.frames_in, f.copy(), bool(visible)))
        self.frames_in += 1
        same = self.fps == float(e.fps)
        n_out = self.frames_in if same else max(1, int(math.floor(self.frames_in / self.fps * e.fps + 1e-9)))
        rows = []
        while self.frames_out < n_out:
            k = self.frames_out
            idx = k if same else min(int(k * self.fps / e.fps + 1e-9), self.frames_in - 1)
            while self._recent[0][0] < idx:
                self._recent.popleft()
            _, c, vis = self._recent[0]
            rows.append(self._row(c, vis))
            self.frames_out += 1
        if not rows:
            return np.zeros((0, 2 * s * s), np.int32)
        return np.stack(rows)

    def _row(self, crop: np.ndarray, visible: bool) -> np.ndarray:
        e = self.enc
        size = e.side * e.side
        if not visible:
            self._fresh = True
            return np.zeros(2 * size, np.int32)
        level = np.log(crop.reshape(-1).astype(np.float64) + e.offset)
        if self._fresh:
            self._ref = level.copy()
            self._fresh = False
            return np.zeros(2 * size, np.int32)
        n = np.trunc((level - self._ref) / e.threshold)
        self._ref += n * e.threshold
        return np.concatenate([np.maximum(n, 0), np.maximum(-n, 0)]).astype(np.int32)

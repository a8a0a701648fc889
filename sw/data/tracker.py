"""A causal face tracker: each frame's box from that frame and the past only.

Live use (a camera) cannot wait for the future of a clip, and the same
encoder must serve training, evaluation and live use, so the tracker is a
per-frame object: :meth:`FaceTracker.update` takes one grey frame and
returns its box and whether the face is visible. A whole clip is tracked by
feeding its frames in order (:func:`sw.data.media.track_faces` does exactly
that), so streaming and clip mode give the same boxes bit for bit.

How it follows a face (predict, then correct):

- **Predict.** The face's anchor patch (as it looked when the track started,
  or when its look last changed) is matched against this frame, at the
  position the last velocity predicts, by phase correlation of band-passed
  patches: it measures the translation to a fraction of a pixel with no lag,
  and matching the anchor rather than the previous frame keeps the small
  errors from adding up into a drift. When the match is not reliable (a
  blank frame, an occlusion) the last velocity is used, decaying
  (constant-velocity prediction that comes to rest).
- **Correct.** Every ``detect_step``-th frame the Haar cascade runs (after a
  probe that found nothing while the face is held, ``retry`` frames later). Of its
  faces, the one nearest the prediction is taken if it lies within
  :attr:`FaceTracker.gate` box sides of it (another face or a false hit
  farther away is ignored), and the track moves a share ``gain`` of the way
  to it: the cascade's few-pixel jitter is averaged out (an exponential
  smoother with time constant ``smooth_s``), while it still stops the
  integrated motion from drifting. The motion itself is never smoothed, so a
  face moving at 1-2 Hz is followed without lag.
- **Side.** The box side is the first detection's; it changes only when the
  median of the recent accepted sides departs from it by more than
  :attr:`FaceTracker.resize` (the face came closer), so the cascade's size
  jitter does not zoom the crop.
- **Lost and found.** With no accepted detection for ``hold_s`` the face is
  lost: frames are not visible until the cascade finds a face again, which
  then starts a new track on its surest face (the highest detector score).
  Frames before the first detection are not visible.

The tracker needs only numpy and OpenCV; the detector is a callable (the
Haar cascade in :mod:`sw.data.media`; tests pass a fake).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import cv2
import numpy as np

__all__ = ["FaceTracker", "Detector"]

#: ``detect(frame, side_or_None) -> [(cx, cy, side, score), ...]``: faces in one grey frame,
#: near ``side`` if given (else at any size); a new track starts on the highest score.
Detector = Callable[[np.ndarray, "float | None"], Sequence[tuple[float, float, float, float]]]


@dataclass
class FaceTracker:
    """Per-frame face tracker (see the module docstring).

    Parameters
    ----------
    fps : float
        Frame rate of the frames fed to :meth:`update`.
    detect : Detector
        Face detector.
    detect_step : int
        The detector runs on frames ``0, detect_step, 2 * detect_step, ...``.
    smooth_s : float
        Time constant (s) of the pull toward the detector's boxes.
    hold_s : float
        How long (s) the face stays visible without an accepted detection.
    """

    fps: float
    detect: Detector
    detect_step: int = 3
    smooth_s: float = 1.0
    hold_s: float = 0.5
    #: A detection farther than this many box sides from the prediction is not this face.
    gate: float = 0.35
    #: The gate while the motion is unsure (frames since the last match).
    gate_unsure: float = 1.0
    #: The side follows the detector only when their medians differ by more than this share.
    resize: float = 0.15
    #: Phase correlation below this response is not a match (the velocity is used instead).
    min_response: float = 0.1
    #: A match further than this many box sides is not trusted.
    max_shift: float = 0.4
    #: Detector offsets up to this many box sides are the cascade's jitter and are not
    #: corrected (only the part beyond it is), so a still face's box does not creep.
    deadband: float = 0.04
    #: Per-frame decay of the velocity used when there is no match.
    coast: float = 0.8
    #: Below this match response the face has changed its look: the frame becomes the anchor.
    reanchor: float = 0.5
    #: Phase-correlation passes per frame (each measures what the previous left).
    passes: int = 2
    #: After a probe that finds no face while a track is held, the next probe comes this many
    #: frames later instead of ``detect_step`` (0: probes stay on frames ``0, detect_step, ...``,
    #: tracker ``"causal"``), so that a rare detector still re-finds a face that was hidden
    #: briefly before ``hold_s`` runs out.
    retry: int = 0
    #: A pass that measures less than this many pixels ends the frame's matching: the
    #: prediction was already that close (0: always ``passes`` passes, tracker ``"causal"``).
    settled: float = 0.0
    #: Band-pass the patches in float32 (half the cost of float64; the ``"causal"`` tracker
    #: keeps float64, bit for bit).
    float32: bool = False

    frame_index: int = field(default=0, init=False)
    _next_probe: int = field(default=0, init=False, repr=False)
    _box: np.ndarray | None = field(default=None, init=False, repr=False)
    _vel: np.ndarray = field(default_factory=lambda: np.zeros(2), init=False, repr=False)
    _since: int = field(default=0, init=False, repr=False)
    _sides: list[float] = field(default_factory=list, init=False, repr=False)
    _lost: bool = field(default=True, init=False, repr=False)
    _unsure: int = field(default=0, init=False, repr=False)
    _anchor: np.ndarray | None = field(default=None, init=False, repr=False)
    detections: int = field(default=0, init=False)
    probes: int = field(default=0, init=False)

    @property
    def gain(self) -> float:
        """Share of a detection's offset taken: ``1 - exp(-detect interval / smooth_s)``."""
        return float(1.0 - np.exp(-self.detect_step / (self.fps * self.smooth_s)))

    @property
    def hold(self) -> int:
        """``hold_s`` in frames."""
        return int(round(self.hold_s * self.fps))

    def update(self, frame: np.ndarray) -> tuple[tuple[float, float, float], bool]:
        """Track one grey frame: its box ``(cx, cy, side)`` and whether the face is visible.

        Before the first detection the box is ``(nan, nan, nan)``.
        """
        frame = np.asarray(frame)
        i = self.frame_index
        self.frame_index += 1
        if self._box is not None:
            self._predict(frame)
        if i >= self._next_probe:
            held = self._box is not None and not self._lost
            took = self._correct(frame)
            self._next_probe = i + (self.retry if self.retry and held and not took else self.detect_step)
        elif self._box is not None:
            self._since += 1
        if self._box is None:
            return (float("nan"),) * 3, False
        if self._since > self.hold:
            self._lost = True
        return (float(self._box[0]), float(self._box[1]), float(self._box[2])), not self._lost

    def _predict(self, frame: np.ndarray) -> None:
        """Move the box by the face's motion: the anchor patch (the face as it looked
        when the anchor was taken) is matched against this frame at the position the
        velocity predicts, and again at the corrected one. Each match then measures
        only a small residual, where phase correlation is accurate to a fraction of a
        pixel, and matching the anchor instead of the previous frame keeps the small
        errors from adding up into a drift. When the face no longer looks like its
        anchor (response below :attr:`reanchor`), this frame becomes the anchor."""
        s = int(round(self._box[2]))
        move = self._vel.copy()
        response = 0.0
        for _ in range(self.passes):
            b = _patch(frame, self._box[:2] + move, s, self.float32)
            (dx, dy), response = cv2.phaseCorrelate(self._anchor_at(s), b, _window(s, b.dtype)) if b.std() > 0.5 else ((0.0, 0.0), 0.0)
            # (a flat patch, e.g. a blank frame, has no phase to correlate: OpenCV returns garbage)
            if not (response >= self.min_response and max(abs(dx), abs(dy)) <= self.max_shift * s):
                self._vel = self._vel * self.coast  # no reliable match: coast to a stop
                self._box[:2] += self._vel
                self._unsure += 1
                return
            move += (dx, dy)
            if max(abs(dx), abs(dy)) < self.settled:
                break
        self._vel = move
        self._box[:2] += move
        self._unsure = 0
        if response < self.reanchor:
            self._anchor = _patch(frame, self._box[:2], s, self.float32)

    def _anchor_at(self, s: int) -> np.ndarray:
        if self._anchor is None or self._anchor.shape[0] != s:
            raise AssertionError("anchor missing")  # set by _start and on every side change
        return self._anchor

    def _correct(self, frame: np.ndarray) -> bool:
        """Run the detector on this frame and correct the track; whether it took a detection."""
        self.probes += 1
        side = None if self._box is None else float(self._box[2])
        found = list(self.detect(frame, side))
        if not found and side is not None:
            found = list(self.detect(frame, None))  # the face may have changed size: look at every size once
        if self._box is not None:
            self._since += 1
        if not found:
            return False
        self.detections += 1
        if self._box is None or self._lost:
            self._start(frame, found)
            return True
        pred = self._box[:2]
        cx, cy, ds, _ = min(found, key=lambda d: float(np.hypot(d[0] - pred[0], d[1] - pred[1])))
        off = np.array([cx, cy]) - pred
        if self._unsure:
            # Frames without a match (motion beyond the patch, a blur): the prediction is a
            # guess, so a detection within a box side of it is taken whole, and the motion
            # it reveals becomes the velocity that centres the next match.
            if np.hypot(*off) > self.gate_unsure * self._box[2]:
                return False
            self._box[:2] += off
            self._vel = self._vel + off / self._unsure
            self._unsure = 0
        elif np.hypot(*off) > self.gate * self._box[2]:
            return False  # another face or a false hit: keep the track
        else:
            dead = self.deadband * self._box[2]
            self._box[:2] += self.gain * np.sign(off) * np.maximum(np.abs(off) - dead, 0.0)
        self._since = 0
        self._sides = (self._sides + [ds])[-9:]
        med = float(np.median(self._sides))
        if abs(med - self._box[2]) > self.resize * self._box[2]:
            self._box[2] = round(med)
            self._anchor = _patch(frame, self._box[:2], int(self._box[2]), self.float32)
        return True

    def _start(self, frame: np.ndarray, found: Sequence[tuple[float, float, float, float]]) -> None:
        cx, cy, ds, _ = max(found, key=lambda d: d[3])
        self._box = np.array([cx, cy, float(round(ds))])
        self._vel = np.zeros(2)
        self._sides = [ds]
        self._since = 0
        self._unsure = 0
        self._anchor = _patch(frame, self._box[:2], int(self._box[2]), self.float32)
        self._lost = False


def _patch(frame: np.ndarray, centre: np.ndarray, s: int, float32: bool = False) -> np.ndarray:
    """The ``s x s`` patch of ``frame`` around a sub-pixel centre (bilinear), band-passed
    (difference of Gaussians) as float64 (or float32): phase correlation of a smooth patch has a broad
    peak whose sub-pixel estimate is pulled toward zero; edges give a sharp one, and the
    band-pass also drops the sensor noise and the interpolation's pixel-scale blur."""
    p = cv2.getRectSubPix(frame, (s, s), (float(centre[0]) - 0.5, float(centre[1]) - 0.5)).astype(np.float32 if float32 else np.float64)
    return cv2.GaussianBlur(p, (0, 0), 1.0) - cv2.GaussianBlur(p, (0, 0), 4.0)


_WINDOWS: dict[tuple[int, bool], np.ndarray] = {}


def _window(s: int, dtype: np.dtype = np.dtype(np.float64)) -> np.ndarray:
    key = (s, dtype == np.float32)
    if key not in _WINDOWS:
        _WINDOWS[key] = cv2.createHanningWindow((s, s), cv2.CV_32F if key[1] else cv2.CV_64F)
    return _WINDOWS[key]

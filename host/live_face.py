"""Per-frame face crops for live video.

Models whose visual encoder names a causal tracker (``"causal2"``, new models,
or ``"causal"``) get the data set's own tracker (``sw.data.media.face_tracker``)
and crop, so live crops are their clip-mode crops bit for bit.

Models of the older look-ahead tracker (``"smoothed"``, which smooths the
face box over a second that has not yet happened when a frame arrives, so it
cannot run live) get :class:`CausalFaceAdapter`, a stand-in with the same
parts minus the look-ahead: the Haar cascade every ``detect_step`` frames
(near the face's size once found, any size when that fails), the box held for
``hold_s`` without a detection (then the frames are not visible), the side
the median of the detections so far, the centre pulled towards each
detection (see the class). Their live crops therefore differ from the data
set's crops of the same file, and such a model reads its visual input
slightly differently live than in training.

numpy and OpenCV (through ``sw.data.media``).
"""

from __future__ import annotations

import numpy as np

from sw.encode import VisualEncoder

__all__ = ["CausalFaceAdapter", "make_tracker"]


def make_tracker(encoder: VisualEncoder, fps: float):
    """The per-frame face tracker live video uses for ``encoder``.

    The data set's own causal tracker when ``sw.data.media`` has one (issue 23:
    ``face_tracker`` and ``crop_box``) and the model's encoder was trained with
    it (``tracker`` one of ``media.CAUSAL_TRACKERS``): then live crops are the
    clip-mode crops. Otherwise (``"smoothed"``) :class:`CausalFaceAdapter`.
    """
    from sw.data import media

    if getattr(encoder, "tracker", None) in media.CAUSAL_TRACKERS:
        return _MediaTracker(media.face_tracker(fps, encoder.detect_step, encoder.smooth_s, encoder.hold_s, encoder.tracker), encoder.side)
    return CausalFaceAdapter(encoder, fps)


class _MediaTracker:
    """``sw.data.media``'s causal tracker with the crop the data set takes at its box."""

    def __init__(self, tracker, side: int):
        self.tracker, self.side = tracker, side

    def update(self, frame: np.ndarray) -> tuple[np.ndarray, bool]:
        from sw.data.media import crop_box

        box, visible = self.tracker.update(frame)
        if not visible:
            return np.full((self.side, self.side), 128, np.uint8), False
        return crop_box(frame, box, self.side), True


class CausalFaceAdapter:
    """Per-frame face crops that use only the past (see the module docstring).

    Every ``detect_step`` frames a Haar detection pulls the centre towards
    the detected one by ``detect_step / (smooth_s * fps / 2)`` of the
    difference (a causal counterpart of the data set's local fit over
    ``smooth_s``: it averages the detector's jitter, and lags a moving head
    by about ``smooth_s / 2``); a difference over a quarter of the face
    re-acquires the face there (a new face, a cut). A velocity estimate
    (alpha-beta filter) made the crops noisier on the synthetic clips
    (live-vs-clip agreement 6/16 against 9/16 on whole clips), and
    frame-to-frame phase correlation, which the data set's tracker uses
    under its smoothing, made the crop jitter without that smoothing (9.6x
    the clip tracker's retina events on one synthetic clip): both are left out.
    """

    def __init__(self, encoder: VisualEncoder, fps: float):
        self.side = encoder.side
        self.step = encoder.detect_step
        self.hold = int(round(encoder.hold_s * fps))
        self.gain = min(1.0, encoder.detect_step / max(1.0, encoder.smooth_s * fps / 2.0))
        self._sizes: list[float] = []
        self._centre: np.ndarray | None = None
        self._last_hit = -(10**9)
        self._i = 0

    def _correct(self, hit: np.ndarray, size: float, i: int) -> None:
        """Pull the centre towards a detection; re-acquire on a jump."""
        lost = self._centre is None or i - self._last_hit > self.hold
        residual = None if lost else hit - self._centre
        if residual is None or np.abs(residual).max() > size / 4:  # a new face or a cut: start again there
            self._centre = hit
        else:
            self._centre = self._centre + self.gain * residual
        self._last_hit = i
        self._sizes.append(size)

    def update(self, frame: np.ndarray) -> tuple[np.ndarray, bool]:
        """The crop ``uint8 [side, side]`` of this frame and whether the face is visible."""
        import cv2

        from sw.data.media import _detect

        i = self._i
        self._i += 1
        if i % self.step == 0:
            size = float(np.median(self._sizes)) if self._sizes else None
            d = _detect(frame, size)
            if d is None and size is not None:
                d = _detect(frame, None)
            if d is not None:
                self._correct(np.array(d[:2], np.float64), d[2], i)
        visible = self._centre is not None and i - self._last_hit <= self.hold
        if not visible:
            return np.full((self.side, self.side), 128, np.uint8), False
        s = int(round(float(np.median(self._sizes))))
        patch = cv2.getRectSubPix(frame, (s, s), (float(self._centre[0]) - 0.5, float(self._centre[1]) - 0.5))
        return cv2.resize(patch, (self.side, self.side), interpolation=cv2.INTER_AREA), True

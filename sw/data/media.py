"""Reading clips: audio files, video files and face crops (numpy, soundfile, OpenCV).

Every failure raises :class:`MediaError` whose message names the file and
what is wrong with it; the data set loaders turn it into a skipped clip in
their summary. Nothing here guesses: a video with no detectable face is an
error, not a centre crop.

Face cropping uses OpenCV's Haar frontal-face cascade (shipped in the
opencv wheel under ``cv2.data.haarcascades``). :func:`track_faces` follows
the face through the clip, so a head that moves inside the frame does not
read as expression. The default tracker is causal (:mod:`sw.data.tracker`,
each frame's box from the past only, so live use gives the same crops as a
clip); :func:`track_faces` feeds it the clip's frames in order, and
:func:`crop_box` cuts the crop at each box (a Gaussian low-pass, then
sampling, so the crop barely depends on the box's sub-pixel phase). Models
from before it (encoder field ``tracker = "smoothed"``) keep the older
look-ahead tracker (interpolation between detections and a centred one-second
fit; it needs the future of the clip) and its area-averaged crop. Where the
cascade finds no face, the last box is held for :data:`HOLD_S`; after that
the frames are marked not visible (the visual encoder emits nothing for
them), and a clip whose face is missing in more than :data:`MAX_MISSING` of
its frames is skipped with that reason.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import cv2
import numpy as np
import soundfile

# FFmpeg (inside OpenCV) prints its own line for a broken file ("moov atom not found" for a
# truncated mp4); the skip reason already says it. Read once, at the first capture; a value
# the user set is kept.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

from sw.data.tracker import FaceTracker
from sw.encode import VisualEncoder, resample_audio

__all__ = [
    "Clip",
    "Skip",
    "MediaError",
    "read_audio",
    "read_video",
    "audio_info",
    "video_info",
    "file_problem",
    "safe_path",
    "show",
    "face_box",
    "crop_faces",
    "track_faces",
    "track_crops",
    "face_tracker",
    "crop_box",
    "MAX_SIDE",
]

#: Frames are stored at most this many pixels on their longer side (real
#: RAVDESS is 1280 x 720; a 16 x 16 face crop does not need more).
MAX_SIDE = 320
#: Frames of a clip the one-box detector (:func:`face_box`) looks at.
DETECT_FRAMES = 5
# Tracker defaults: the VisualEncoder's fields (one definition; a model's
# header carries the values it was trained with, see :class:`sw.encode.VisualEncoder`).
#: The tracker runs the cascade on every DETECT_STEP-th frame.
DETECT_STEP = VisualEncoder.detect_step
#: Window of the local linear fit that smooths the box centre, in seconds.
SMOOTH_S = VisualEncoder.smooth_s
#: How long the last box is held when the cascade loses the face, in seconds.
HOLD_S = VisualEncoder.hold_s
#: A clip whose face is missing (not even held) in more than this share of
#: frames is skipped.
MAX_MISSING = VisualEncoder.max_missing
#: The face tracker of new models: "causal2" (sw.data.tracker, settings in CAUSAL_TRACKERS).
TRACKER = VisualEncoder.tracker


class MediaError(ValueError):
    """A media file that cannot be used (message names the file and why)."""


def show(path: str | Path) -> str:
    """``path`` as printable text: bytes that are not UTF-8 appear as ``\\xNN``.

    Python keeps such bytes as lone surrogates, which ``print`` cannot
    encode; every message that names a file goes through this.
    """
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def file_problem(path: str | Path) -> str | None:
    """Why a media file cannot even be opened, or None: cheap (a stat and a 1-byte read).

    Reasons: "broken symlink", "file not found", "not a regular file",
    "0 bytes", "permission denied". Root passes every permission check, so
    a file that only root may read is usable here.
    """
    p = Path(path)
    if p.is_symlink() and not p.exists():
        return "broken symlink"
    try:
        st = p.stat()
    except FileNotFoundError:
        return "file not found"
    except PermissionError:
        return "permission denied"
    except OSError as e:
        return f"cannot stat ({e.strerror})"
    if not p.is_file():
        return "not a regular file"
    if st.st_size == 0:
        return "0 bytes"
    try:
        with open(p, "rb") as f:
            f.read(1)
    except PermissionError:
        return "permission denied"
    except OSError as e:
        return f"cannot read ({e.strerror})"
    return None


def _check_file(path: Path, what: str) -> None:
    problem = file_problem(path)
    if problem is not None:
        raise MediaError(f"{show(path)}: {what + ' file not found' if problem == 'file not found' else problem}")


@contextlib.contextmanager
def safe_path(path: str | Path) -> Iterator[str]:
    """A name for ``path`` that C libraries can take: the path itself if it is
    valid UTF-8, else a temporary ASCII symlink to it.

    OpenCV's ``VideoCapture`` segfaults on a path string holding bytes that
    are not UTF-8 (Python's lone surrogates), and libsndfile cannot encode
    it; the symlink reads the same file through a plain name.
    """
    text = str(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        with tempfile.TemporaryDirectory(prefix="eavs-path-") as d:
            link = os.path.join(d, "media" + "".join(c for c in Path(path).suffix if c.isascii() and c.isalnum() or c == "."))
            os.symlink(os.path.abspath(os.fsencode(path)), link)
            yield link
        return
    yield text


def audio_info(path: str | Path) -> tuple[int, int]:
    """``(frames, sample_rate)`` from the sound file's header (no samples read)."""
    path = Path(path)
    _check_file(path, "audio")
    try:
        with safe_path(path) as name:
            inf = soundfile.info(name)
    except Exception as e:  # libsndfile raises its own error types
        raise MediaError(f"{show(path)}: unreadable audio ({e})") from None
    return int(inf.frames), int(inf.samplerate)


def video_info(path: str | Path) -> tuple[int, float]:
    """``(frame_count, fps)`` from the container (OpenCV; no frame decoded)."""
    path = Path(path)
    _check_file(path, "video")
    with safe_path(path) as name:
        cap = cv2.VideoCapture(name)
        try:
            if not cap.isOpened():
                raise MediaError(f"{show(path)}: unreadable video (OpenCV cannot open it)")
            n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            fps = float(cap.get(cv2.CAP_PROP_FPS))
        finally:
            cap.release()
    if n <= 0:
        raise MediaError(f"{show(path)}: video has no frames")
    if not (fps > 0 and np.isfinite(fps)):
        raise MediaError(f"{show(path)}: video reports no frame rate ({fps!r})")
    return n, fps


@dataclass
class Clip:
    """One labelled take: its audio and video files (either may be None)."""

    audio: str | None
    video: str | None
    label: int
    actor: int
    intensity: int = 1
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> str:
        """The file that names the clip in summaries (video if any, else audio)."""
        return self.video or self.audio or "?"


@dataclass(frozen=True)
class Skip:
    """A file or clip left out, with the reason shown to the user."""

    path: str
    reason: str


def read_audio(path: str | Path, sample_rate: int, min_rate: int | None = None) -> np.ndarray:
    """Read a sound file as mono float64 at ``sample_rate`` Hz.

    Multi-channel files are averaged. Files recorded below ``min_rate``
    (default: ``sample_rate``) are refused: up-sampling would leave the top
    mel bands empty, a different input than the model was trained on.
    """
    path = Path(path)
    min_rate = sample_rate if min_rate is None else min_rate
    _check_file(path, "audio")
    try:
        with safe_path(path) as name:
            data, sr = soundfile.read(name, dtype="float64", always_2d=True)
    except Exception as e:  # libsndfile raises its own error types
        raise MediaError(f"{show(path)}: unreadable audio ({e})") from None
    if data.shape[0] == 0:
        raise MediaError(f"{show(path)}: audio file has no samples")
    if sr < min_rate:
        raise MediaError(f"{show(path)}: sample rate {sr} Hz is below the required {min_rate} Hz")
    x = data.mean(axis=1)
    if not np.all(np.isfinite(x)):
        raise MediaError(f"{show(path)}: audio contains NaN or infinite samples")
    return resample_audio(x, sr, sample_rate)


def read_video(path: str | Path, max_side: int = MAX_SIDE) -> tuple[np.ndarray, float]:
    """Read a video as grey frames ``uint8 [F, H, W]`` and its frame rate.

    Frames larger than ``max_side`` are shrunk (area interpolation). A file
    that does not open, has no frames or reports no frame rate raises
    :class:`MediaError` (OpenCV itself only returns an unopened capture).
    """
    path = Path(path)
    _check_file(path, "video")
    with safe_path(path) as name:
        return _read_video(path, name, max_side)


def _read_video(path: Path, name: str, max_side: int) -> tuple[np.ndarray, float]:
    cap = cv2.VideoCapture(name)
    try:
        if not cap.isOpened():
            raise MediaError(f"{show(path)}: unreadable video (OpenCV cannot open it)")
        fps = float(cap.get(cv2.CAP_PROP_FPS))
        frames = []
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            grey = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
            h, w = grey.shape
            if max(h, w) > max_side:
                k = max_side / max(h, w)
                grey = cv2.resize(grey, (max(1, round(w * k)), max(1, round(h * k))), interpolation=cv2.INTER_AREA)
            frames.append(grey)
    finally:
        cap.release()
    if not frames:
        raise MediaError(f"{show(path)}: video has no readable frames")
    if not (fps > 0 and np.isfinite(fps)):
        raise MediaError(f"{show(path)}: video reports no frame rate ({fps!r})")
    return np.stack(frames), fps


_CASCADE: list[Any] = []


def _cascade() -> Any:
    if not _CASCADE:
        xml = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
        c = cv2.CascadeClassifier(str(xml))
        if c.empty():
            raise MediaError(f"{xml}: OpenCV's Haar face cascade did not load")
        _CASCADE.append(c)
    return _CASCADE[0]


def face_box(frames: np.ndarray, where: str = "video", n_detect: int = DETECT_FRAMES) -> tuple[int, int, int]:
    """One square face box ``(x, y, side)`` for a clip.

    The Haar cascade runs on ``n_detect`` frames spread over the clip; the
    largest face of each frame votes and the per-coordinate median wins.
    Raises :class:`MediaError` naming ``where`` if no frame has a face.
    """
    n = frames.shape[0]
    h, w = frames.shape[1:]
    boxes = []
    for i in np.unique(np.linspace(0, n - 1, min(n, n_detect)).round().astype(int)):
        found = _cascade().detectMultiScale(
            frames[i], scaleFactor=1.1, minNeighbors=4, minSize=(max(16, min(h, w) // 6),) * 2
        )
        if len(found):
            x, y, bw, bh = max(found, key=lambda b: b[2] * b[3])
            boxes.append((x + bw / 2, y + bh / 2, max(bw, bh)))
    if not boxes:
        raise MediaError(f"{where}: no face found by the Haar cascade in {min(n, n_detect)} sampled frames")
    cx, cy, side = np.median(np.array(boxes), axis=0)
    side = int(round(side))
    return int(round(cx - side / 2)), int(round(cy - side / 2)), side


def crop_faces(frames: np.ndarray, side: int, where: str = "video") -> np.ndarray:
    """Crop the clip's face box from every frame and shrink it to ``side x side``.

    A box that reaches past the frame edge is padded by edge replication
    (the detector can place a box slightly outside near the border).
    """
    x, y, s = face_box(frames, where)
    h, w = frames.shape[1:]
    pad = max(0, -x, -y, x + s - w, y + s - h)
    src = np.pad(frames, ((0, 0), (pad, pad), (pad, pad)), mode="edge") if pad else frames
    x, y = x + pad, y + pad
    out = np.empty((frames.shape[0], side, side), dtype=np.uint8)
    for i in range(frames.shape[0]):
        out[i] = cv2.resize(src[i, y : y + s, x : x + s], (side, side), interpolation=cv2.INTER_AREA)
    return out


def _detect(frame: np.ndarray, size: float | None) -> tuple[float, float, float] | None:
    """The largest face ``(cx, cy, side)`` in one frame, or None; near ``size`` if given."""
    h, w = frame.shape
    if size is None:
        kw = dict(minSize=(max(16, min(h, w) // 6),) * 2)
    else:
        kw = dict(minSize=(max(16, int(size * 0.75)),) * 2, maxSize=(int(size * 1.35) + 1,) * 2)
    found = _cascade().detectMultiScale(frame, scaleFactor=1.1, minNeighbors=4, **kw)
    if not len(found):
        return None
    x, y, bw, bh = max(found, key=lambda b: b[2] * b[3])
    return x + bw / 2, y + bh / 2, float(max(bw, bh))


def _detect_all(frame: np.ndarray, size: float | None, near: tuple[float, float], shrink_to: int = 0
                ) -> list[tuple[float, float, float, float]]:
    """Every face ``(cx, cy, side, score)`` the cascade finds in one frame, at sides within
    ``near`` times ``size`` if given; the score is the number of overlapping raw detections
    behind it (a real face gathers many more than a face-like patch of clothing).

    ``shrink_to`` > 0 (with a ``size``): the cascade looks at the frame shrunk (area
    average) until the smallest side it looks for is ``shrink_to`` pixels, if that shrinks
    it: the cascade's cost grows with the pixels of the face it looks at, and a tracked
    face needs the detector only to correct the tracker's drift, not for its detail."""
    h, w = frame.shape
    k = 1.0
    if size is None:
        kw = dict(minSize=(max(16, min(h, w) // 6),) * 2)
    else:
        if shrink_to and size * near[0] > shrink_to:
            k = size * near[0] / shrink_to
            frame = cv2.resize(frame, (max(1, round(w / k)), max(1, round(h / k))), interpolation=cv2.INTER_AREA)
            k = w / frame.shape[1]
        kw = dict(minSize=(max(16, int(size * near[0] / k)),) * 2, maxSize=(int(size * near[1] / k) + 1,) * 2)
    found, score = _cascade().detectMultiScale2(frame, scaleFactor=1.1, minNeighbors=4, **kw)
    return [((x + bw / 2) * k, (y + bh / 2) * k, float(max(bw, bh)) * k, float(n)) for (x, y, bw, bh), n in zip(found, score)]


@dataclass(frozen=True)
class CausalTracker:
    """Settings of one causal tracker version (an encoder's ``tracker`` name).

    ``near``: the sides, times the tracked face's, at which the cascade looks for
    the face it follows; ``shrink_to``: the smallest of those sides, in pixels,
    the frame is shrunk to for that search (0: the frame as it is); ``tracker``:
    the other :class:`~sw.data.tracker.FaceTracker` fields.
    """

    near: tuple[float, float]
    shrink_to: int = 0
    tracker: dict[str, Any] = field(default_factory=dict)


#: The causal trackers by encoder name. ``"causal2"`` (new models; the same tracker at
#: about a third of the cost per frame on the synthetic corpus): looks within -15 % / +20 %
#: (four of the cascade's scales instead of seven: the box side follows only changes over
#: 15 %, and a face that changed more is found by the search at every size that follows a
#: miss) on the frame shrunk until the smallest side it wants is 32 px; probes again 2
#: frames after a miss, so that with new models' ``detect_step`` of 6 a face hidden for up
#: to 0.3 s is still held (``hold_s`` 0.5 s); stops matching the motion when the first pass
#: moved the box less than 0.25 pixel; and band-passes and matches the patches in float32.
#: Models of ``"causal"`` rebuild their tracker exactly.
CAUSAL_TRACKERS = {
    "causal": CausalTracker(near=(0.75, 1.35)),
    "causal2": CausalTracker(near=(0.85, 1.2), shrink_to=32, tracker={"settled": 0.25, "retry": 2, "float32": True}),
}


def face_tracker(
    fps: float, detect_step: int = DETECT_STEP, smooth_s: float = SMOOTH_S, hold_s: float = HOLD_S, tracker: str = TRACKER
) -> FaceTracker:
    """A causal :class:`~sw.data.tracker.FaceTracker` on OpenCV's Haar cascade, for
    frames fed one at a time (a live camera) or a clip (:func:`track_faces`);
    ``tracker`` names it (:data:`CAUSAL_TRACKERS`)."""
    if tracker not in CAUSAL_TRACKERS:
        raise MediaError(f"unknown causal face tracker {tracker!r} (known: {', '.join(map(repr, CAUSAL_TRACKERS))})")
    c = CAUSAL_TRACKERS[tracker]
    return FaceTracker(fps=float(fps), detect=functools.partial(_detect_all, near=c.near, shrink_to=c.shrink_to), detect_step=detect_step,
                       smooth_s=smooth_s, hold_s=hold_s, **c.tracker)  # fmt: skip


def track_faces(
    frames: np.ndarray,
    fps: float,
    where: str = "video",
    detect_step: int = DETECT_STEP,
    smooth_s: float = SMOOTH_S,
    hold_s: float = HOLD_S,
    max_missing: float = MAX_MISSING,
    tracker: str = TRACKER,
) -> tuple[np.ndarray, np.ndarray]:
    """Follow the face through a clip: boxes ``float [F, 3]`` (cx, cy, side) and ``visible bool [F]``.

    A causal ``tracker`` (``"causal2"``, the default, or ``"causal"``) feeds the frames in order to
    :func:`face_tracker`, exactly as a live source would; ``"smoothed"`` is the
    look-ahead tracker of older models. Raises :class:`MediaError` naming
    ``where`` when no frame has a face, or when the face is missing in more
    than ``max_missing`` of the frames.
    """
    if tracker == "smoothed":
        return _track_smoothed(frames, fps, where, detect_step, smooth_s, hold_s, max_missing)
    if tracker not in CAUSAL_TRACKERS:
        raise MediaError(f"{where}: unknown face tracker {tracker!r} (known: {', '.join(map(repr, [*CAUSAL_TRACKERS, 'smoothed']))})")
    t = face_tracker(fps, detect_step, smooth_s, hold_s, tracker)
    boxes = np.empty((frames.shape[0], 3))
    visible = np.zeros(frames.shape[0], dtype=bool)
    for i, frame in enumerate(frames):
        box, visible[i] = t.update(frame)
        boxes[i] = box
    if not t.detections:
        raise MediaError(f"{where}: no face found by the Haar cascade in {t.probes} sampled frames")
    missing = 1.0 - visible.mean()
    if missing > max_missing:
        raise MediaError(f"{where}: face missing in {100 * missing:.0f}% of the frames (more than {100 * max_missing:.0f}%)")
    return boxes, visible


def _track_smoothed(
    frames: np.ndarray,
    fps: float,
    where: str = "video",
    detect_step: int = DETECT_STEP,
    smooth_s: float = SMOOTH_S,
    hold_s: float = HOLD_S,
    max_missing: float = MAX_MISSING,
) -> tuple[np.ndarray, np.ndarray]:
    """The tracker of models from before the causal one (encoder field
    ``tracker = "smoothed"``), kept so they encode as trained: it looks ahead
    (interpolation between detections, a centred local linear fit over
    ``smooth_s``, a box side that is the clip's median detection), so it
    cannot run live."""
    n = frames.shape[0]
    probe = list(range(0, n, detect_step))
    if probe[-1] != n - 1:
        probe.append(n - 1)
    hits: dict[int, tuple[float, float, float]] = {}
    size = None
    for i in probe:
        d = _detect(frames[i], size)
        if d is None and size is not None:
            d = _detect(frames[i], None)  # the face may have changed size: look at every size once
        if d is not None:
            hits[i] = d
            size = float(np.median([h[2] for h in hits.values()]))
    if not hits:
        raise MediaError(f"{where}: no face found by the Haar cascade in {len(probe)} sampled frames")
    side = float(np.median([h[2] for h in hits.values()]))
    at = np.array(sorted(hits))
    cx = np.array([hits[i][0] for i in at])
    cy = np.array([hits[i][1] for i in at])
    f = np.arange(n)
    # Between two detections up to HOLD_S apart the box is interpolated; in a longer
    # gap the last box is held for HOLD_S, then the frames are not visible. Before the
    # first detection the first box is held (back in time) for HOLD_S.
    hold = int(round(hold_s * fps))
    prev = np.searchsorted(at, f, side="right") - 1  # last detection at or before f
    nxt = np.minimum(np.searchsorted(at, f, side="left"), len(at) - 1)  # first at or after f
    has_prev = prev >= 0
    p = at[np.maximum(prev, 0)]
    q = at[nxt]
    bridged = has_prev & (q >= f) & (q - p <= max(hold, detect_step))
    visible = np.where(has_prev, (f - p <= hold) | bridged, q - f <= hold)
    missing = 1.0 - visible.mean()
    if missing > max_missing:
        raise MediaError(f"{where}: face missing in {100 * missing:.0f}% of the frames (more than {100 * max_missing:.0f}%)")
    bx = np.where(bridged, np.interp(f, at, cx), cx[np.maximum(prev, 0)])
    by = np.where(bridged, np.interp(f, at, cy), cy[np.maximum(prev, 0)])
    bx, by = _refine(frames, bx, by, side, visible, max(1, int(round(smooth_s * fps / 2))))
    return np.stack([bx, by, np.full(n, side)], axis=1), visible


def _refine(frames, hx, hy, side, visible, half: int):
    """Sub-pixel centres: frame-to-frame motion of the face patch (phase
    correlation) integrated within each run of visible frames, pulled onto the
    cascade's boxes by a local linear fit of their difference over
    ``2 * half + 1`` frames (the cascade's few-pixel jitter is averaged out, its
    position keeps the integrated motion from drifting)."""
    s = int(round(side))
    win = cv2.createHanningWindow((s, s), cv2.CV_64F)
    px, py = hx.copy(), hy.copy()
    for i in range(1, len(hx)):
        if not (visible[i] and visible[i - 1]):
            continue
        c = (float(px[i - 1]) - 0.5, float(py[i - 1]) - 0.5)
        a = cv2.getRectSubPix(frames[i - 1], (s, s), c).astype(np.float64)
        b = cv2.getRectSubPix(frames[i], (s, s), c).astype(np.float64)
        (dx, dy), response = cv2.phaseCorrelate(a, b, win)
        if response < 0.1 or abs(dx) > s / 4 or abs(dy) > s / 4:  # no reliable match: follow the cascade
            dx, dy = hx[i] - hx[i - 1], hy[i] - hy[i - 1]
        px[i], py[i] = px[i - 1] + dx, py[i - 1] + dy
    return px + _smooth_runs(hx - px, visible, half), py + _smooth_runs(hy - py, visible, half)


def _smooth_runs(x: np.ndarray, visible: np.ndarray, half: int) -> np.ndarray:
    """Local linear fit over ``2 * half + 1`` frames centred on each frame, within each run
    of visible frames (the window is cut at a run's ends; a linear trend passes unchanged)."""
    out = x.copy()
    n = len(x)
    k = 0
    while k < n:
        if not visible[k]:
            k += 1
            continue
        end = k
        while end < n and visible[end]:
            end += 1
        for i in range(k, end):
            lo, hi = max(k, i - half), min(end, i + half + 1)
            if hi - lo >= 2:
                t = np.arange(lo, hi) - i
                out[i] = np.polyfit(t, x[lo:hi], 1)[-1]
        k = end
    return out


def track_crops(frames: np.ndarray, fps: float, side: int, where: str = "video", **track: Any) -> tuple[np.ndarray, np.ndarray]:
    """Tracked face crops ``uint8 [F, side, side]`` and ``visible bool [F]`` (see :func:`track_faces`,
    which gets the ``track`` keywords).

    Each crop is :func:`crop_box` at the tracked box (``tracker="smoothed"``:
    the box around the sub-pixel centre, bilinear, shrunk by area averaging,
    as older models were trained); frames that are not visible get a
    mid-grey crop that the encoder ignores.
    """
    boxes, visible = track_faces(frames, fps, where, **track)
    out = np.full((frames.shape[0], side, side), 128, dtype=np.uint8)
    crop = _crop_area if track.get("tracker", TRACKER) == "smoothed" else crop_box
    for i in np.nonzero(visible)[0]:
        out[i] = crop(frames[i], boxes[i], side)
    return out, visible


#: Gaussian low-pass of the causal tracker's crop, in units of the shrink factor k (box side /
#: crop side): 1 / (2 sqrt(pi)) gives the sensor noise the same attenuation as the k x k area
#: average it replaces (a Gaussian of sigma g passes noise power 1 / (4 pi g^2), a box 1 / k^2).
CROP_SIGMA = 1.0 / (2.0 * np.sqrt(np.pi))


def crop_box(frame: np.ndarray, box: Sequence[float], side: int) -> np.ndarray:
    """The face crop ``uint8 [side, side]`` of one frame at a tracked box ``(cx, cy, s)``.

    The frame is low-passed (Gaussian, sigma :data:`CROP_SIGMA` times the
    shrink factor) and then sampled at the crop's pixel centres (bilinear,
    edges replicated). Area averaging at a sub-pixel offset and a non-integer
    ratio aliases: the same face a fraction of a pixel further on gives other
    grey levels, which a moving face turns into events; after the low-pass
    the crop barely depends on the sub-pixel phase.
    """
    s = float(box[2])
    k = s / side
    x0, y0 = float(box[0]) - s / 2, float(box[1]) - s / 2
    m = int(np.ceil(3 * CROP_SIGMA * k)) + 2  # blur only the box and a margin
    ix, iy = int(np.floor(x0)) - m, int(np.floor(y0)) - m
    n = int(np.ceil(s)) + 2 * m + 1
    patch = cv2.getRectSubPix(frame, (n, n), (ix + (n - 1) / 2, iy + (n - 1) / 2)).astype(np.float32)
    patch = cv2.GaussianBlur(patch, (0, 0), CROP_SIGMA * k)
    warp = np.float64([[k, 0, x0 - ix + 0.5 * k - 0.5], [0, k, y0 - iy + 0.5 * k - 0.5]])
    out = cv2.warpAffine(patch, warp, (side, side), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _crop_area(frame: np.ndarray, box: Sequence[float], side: int) -> np.ndarray:
    """The crop of the ``"smoothed"`` tracker (older models): bilinear box, area-shrunk."""
    s = int(round(box[2]))
    patch = cv2.getRectSubPix(frame, (s, s), (float(box[0]) - 0.5, float(box[1]) - 0.5))
    return cv2.resize(patch, (side, side), interpolation=cv2.INTER_AREA)

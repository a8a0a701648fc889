"""Reading clips: audio files, video files and face crops (numpy, soundfile, OpenCV).

Every failure raises :class:`MediaError` whose message names the file and
what is wrong with it; the data set loaders turn it into a skipped clip in
their summary. Nothing here guesses: a video with no detectable face is an
error, not a centre crop.

Face cropping uses OpenCV's Haar frontal-face cascade (shipped in the
opencv wheel under ``cv2.data.haarcascades``). It runs on a few frames spread
over the clip; the median of the largest detection per frame gives one
square box for the whole clip, so detector jitter does not turn into
spurious DVS events.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import cv2
import numpy as np
import soundfile

from sw.encode import resample_audio

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
    "MAX_SIDE",
]

#: Frames are stored at most this many pixels on their longer side (real
#: RAVDESS is 1280 x 720; a 16 x 16 face crop does not need more).
MAX_SIDE = 320
#: Frames of a clip the face detector looks at.
DETECT_FRAMES = 5


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

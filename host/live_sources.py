"""Live inputs: files replayed as a stream, microphones and cameras, and the clock.

A source hands out its input in order, as it would arrive:

* an audio source's ``read()`` returns the next block of mono float samples
  at its ``sample_rate`` (the encoder's: a file is resampled when read, a
  microphone is opened at that rate), ``None`` when the input has ended, or
  raises :class:`SourceStalled` when nothing came within its ``stall_s``;
* a video source's ``read(decode)`` returns ``(frame, index)``: a grey
  ``uint8 [H, W]`` frame (``None`` when ``decode`` is False: camera on
  demand skips the decoding) and its frame index at ``fps``, or ``None``
  at the end. A camera's index comes from its clock, so dropped frames
  show as a jump of the index.

File sources replay at real pace when given a :class:`RealClock` (the
runner waits for each block's time, as a device would make it wait) and as
fast as they can be read when not paced; a :class:`FakeClock` makes real
pace instantaneous for tests.

Devices are an optional extra: ``sounddevice`` (PortAudio; Debian
``libportaudio2``) for microphones, OpenCV's ``VideoCapture`` for cameras.
A missing module or device raises :class:`SourceError` with one line that
says what to install or which device was not found.

numpy, soundfile and OpenCV (through ``sw.data.media``); no torch.
"""

from __future__ import annotations

import queue
import time
from pathlib import Path
from typing import Any

import numpy as np

from host.backend import HostError

__all__ = [
    "SourceError",
    "SourceStalled",
    "RealClock",
    "FakeClock",
    "FileAudio",
    "MicAudio",
    "FileVideo",
    "CamVideo",
    "open_audio",
    "open_video",
    "parse_source",
]


class SourceError(HostError):
    """A source that cannot be opened, or a device that went away (one line)."""


class SourceStalled(HostError):
    """A device delivered nothing within its stall time (it may come back)."""


class RealClock:
    """Wall-clock time (``time.perf_counter``) and real sleeps."""

    def now(self) -> float:
        return time.perf_counter()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class FakeClock:
    """A clock that advances only when slept on: real-pace replay in no time (tests)."""

    def __init__(self, start: float = 0.0):
        self.t = float(start)

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.t += seconds


def parse_source(spec: str) -> tuple[str, Any]:
    """``"mic"``, ``"mic:N"``, ``"cam"``, ``"cam:N"`` or a file path -> ``(kind, index or path)``."""
    if not isinstance(spec, str) or not spec:
        raise SourceError(f"a source must be a file, mic[:N] or cam[:N], not {spec!r}")
    head, _, tail = spec.partition(":")
    if head in ("mic", "cam"):
        if tail and not tail.isdigit():
            raise SourceError(f"source {spec!r}: the device number after '{head}:' must be an integer")
        return head, int(tail) if tail else 0
    return "file", Path(spec)


# -- audio ---------------------------------------------------------------------


class FileAudio:
    """An audio file (anything soundfile reads), resampled to ``sample_rate``, in blocks.

    Files are read whole and resampled once (``sw.data.media.read_audio``,
    as the data set loader does), then handed out block by block: the
    replay is causal, the file read is not (a file is not a live input).
    """

    paced = True

    def __init__(self, path: str | Path, sample_rate: int, block_s: float = 0.05):
        from sw.data.media import MediaError, read_audio

        try:
            self.samples = read_audio(path, sample_rate, min_rate=1)
        except MediaError as e:
            raise SourceError(str(e)) from None
        self.sample_rate = int(sample_rate)
        self.block = max(1, int(round(block_s * sample_rate)))
        self.name = str(path)
        self._at = 0

    def read(self) -> np.ndarray | None:
        if self._at >= self.samples.size:
            return None
        out = self.samples[self._at:self._at + self.block]
        self._at += out.size
        return out

    def close(self) -> None:
        pass


class MicAudio:
    """A microphone through ``sounddevice`` (PortAudio), opened at ``sample_rate`` mono."""

    paced = False

    def __init__(self, index: int, sample_rate: int, block_s: float = 0.05, stall_s: float = 1.0):
        try:
            import sounddevice  # optional extra
        except (ImportError, OSError) as e:
            raise SourceError(f"mic:{index}: microphone input needs the optional 'sounddevice' package and PortAudio "
                              f"(pip install sounddevice, or the project's [live] extra; Debian: apt install libportaudio2) ({e})") from None  # fmt: skip
        self.sample_rate = int(sample_rate)
        self.stall_s = float(stall_s)
        self.name = f"mic:{index}"
        self._q: queue.Queue = queue.Queue()
        try:
            self._stream = sounddevice.InputStream(
                device=index, channels=1, samplerate=self.sample_rate, blocksize=max(1, int(round(block_s * sample_rate))),
                dtype="float32", callback=lambda data, frames, t, status: self._q.put(data[:, 0].astype(np.float64)),
            )  # fmt: skip
            self._stream.start()
        except Exception as e:  # PortAudioError, ValueError for a bad device number
            raise SourceError(f"mic:{index}: no such microphone or it cannot record at {sample_rate} Hz ({e})") from None

    def read(self) -> np.ndarray | None:
        try:
            return self._q.get(timeout=self.stall_s)
        except queue.Empty:
            if not self._stream.active:
                raise SourceError(f"{self.name}: the microphone went away") from None
            raise SourceStalled(f"{self.name}: no audio for {self.stall_s} s") from None

    def close(self) -> None:
        try:
            self._stream.close()
        except Exception:  # closing a device that went away
            pass


def open_audio(spec: str, sample_rate: int, **kw: Any):
    """The audio source ``spec`` names (file or ``mic[:N]``)."""
    kind, what = parse_source(spec)
    if kind == "cam":
        raise SourceError(f"--audio {spec!r}: a camera is not an audio source (use mic[:N] or a file)")
    if kind == "mic":
        return MicAudio(what, sample_rate, **kw)
    if not Path(what).is_file():
        raise SourceError(f"--audio {spec}: no such file")
    return FileAudio(what, sample_rate, **{k: v for k, v in kw.items() if k == "block_s"})


# -- video ---------------------------------------------------------------------


def _grey(frame: np.ndarray, max_side: int) -> np.ndarray:
    """Grey and shrunk exactly as ``sw.data.media.read_video`` does, so crops match clip mode."""
    import cv2

    grey = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    h, w = grey.shape
    if max(h, w) > max_side:
        k = max_side / max(h, w)
        grey = cv2.resize(grey, (max(1, round(w * k)), max(1, round(h * k))), interpolation=cv2.INTER_AREA)
    return grey


class FileVideo:
    """A video file read frame by frame; skipped frames are grabbed, not decoded."""

    paced = True

    def __init__(self, path: str | Path):
        import cv2

        from sw.data.media import MAX_SIDE

        self.name = str(path)
        self.max_side = MAX_SIDE
        # One decoder thread: frames are read one at a time between other work, and a
        # threaded decoder made each read wait for its threads (2.5 ms against 0.1 ms a frame here).
        self._cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
        if not self._cap.isOpened():
            self._cap = cv2.VideoCapture(str(path))
        if not self._cap.isOpened():
            raise SourceError(f"--video {path}: unreadable video (OpenCV cannot open it)")
        self.fps = float(self._cap.get(cv2.CAP_PROP_FPS))
        if not (self.fps > 0 and np.isfinite(self.fps)):
            raise SourceError(f"--video {path}: the video reports no frame rate ({self.fps!r})")
        self._index = 0

    def read(self, decode: bool = True) -> tuple[np.ndarray | None, int] | None:
        if decode:
            ok, frame = self._cap.read()
        else:
            ok, frame = self._cap.grab(), None
        if not ok:
            return None
        self._index += 1
        return (_grey(frame, self.max_side) if decode else None), self._index - 1

    def close(self) -> None:
        self._cap.release()


class CamVideo:
    """A camera through ``cv2.VideoCapture(index)``; frame indices come from the clock."""

    paced = False

    def __init__(self, index: int, fps: float = 30.0, clock: Any = None):
        import cv2

        from sw.data.media import MAX_SIDE

        self.name = f"cam:{index}"
        self.max_side = MAX_SIDE
        self._cap = cv2.VideoCapture(index)
        if not self._cap.isOpened():
            raise SourceError(f"cam:{index}: no camera found (OpenCV cannot open device {index})")
        reported = float(self._cap.get(cv2.CAP_PROP_FPS))
        self.fps = reported if reported > 0 and np.isfinite(reported) else float(fps)
        self._clock = clock or RealClock()
        self._t0: float | None = None

    def read(self, decode: bool = True) -> tuple[np.ndarray | None, int] | None:
        ok, frame = self._cap.read()
        if not ok:
            raise SourceError(f"{self.name}: the camera went away")
        now = self._clock.now()
        if self._t0 is None:
            self._t0 = now
        index = int(round((now - self._t0) * self.fps))
        return (_grey(frame, self.max_side) if decode else None), index

    def close(self) -> None:
        self._cap.release()


def open_video(spec: str, clock: Any = None):
    """The video source ``spec`` names (file or ``cam[:N]``)."""
    kind, what = parse_source(spec)
    if kind == "mic":
        raise SourceError(f"--video {spec!r}: a microphone is not a video source (use cam[:N] or a file)")
    if kind == "cam":
        return CamVideo(what, clock=clock)
    if not Path(what).is_file():
        raise SourceError(f"--video {spec}: no such file")
    return FileVideo(what)

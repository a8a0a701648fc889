"""Live inference: emotion decisions from streaming audio and video, on any back-end.

**How decisions are made (and why).** The encoders run on without reset
over the whole input (:mod:`sw.stream`: the causal cochlea's level and
floors are running statistics, the retina's references carry over), and
every ``hop_s`` seconds the event rows of the last ``window_s`` seconds are
pooled onto the model's ``T`` steps and classified from rest, exactly as a
clip of that length is in training. We chose a fixed hop over the model's
window, not a network that runs on without reset, because the network was
trained (and its thresholds, exit rule and accuracy were measured) on
samples that start from rest and are stretched onto ``T`` steps: a network
that never resets would see membrane states and time scales it never saw.
The encoders, unlike the network, are made to run on (their statistics are
causal), so encoding costs one pass over the input whatever the hop.

Every decision goes through the back-end's ``infer`` (:mod:`host.backend`:
golden, the Verilated core, the serial board, the PYNQ board; the last
three run :class:`host.driver.CoreDriver` or its link), one sample at a time.

Latency is measured from the moment the runner received the block holding
the last sample a window needs (its last frame's analysis window ends
``win/2`` after the window) to the decision: encoding that block, pooling,
inference. The wait for the block to fill (at most one block, 50 ms for
files and microphones) is not in it. The real-time factor is input seconds over the seconds spent
working (waiting for a paced or live source is not work), so it says how
much faster than real time the whole chain runs.

Faults are marked, not hidden: a source that ends early, stalls or drops
frames puts ``audio_end``, ``video_end``, ``audio_stall``, ``video_drop:N``
in the ``fault`` column of the next decision (the last one at the end). A
device that goes away or a back-end that stops answering raises
:class:`LiveError` (one line); the decisions so far stay in
:attr:`LiveRunner.decisions` for the caller to save.

**Camera on demand.** ``camera(t)`` is asked before each video frame is
decoded; when it says no, the frame is skipped without decoding or tracking
and the retina sees a gap (the frame is not visible). The default keeps the
camera on whenever the model has a visual input.

**Cascade models** (``net.cascade`` with a gate, its first stage reading no
visual group): each window's audio stage runs first, through
``sw.cascade.first_stage`` and ``Backend.infer_stage`` (the gate and the
per-stage run of ``sw.cascade.run`` / ``Backend.infer_cascade``, not a
copy). Video frames are then read lazily, at the decision, up to the
window's end: while the audio stage is sure they are skipped (neither
decoded nor tracked; the timeline's ``camera`` is 0); when it is unsure the
camera is on, the frames not yet read are decoded, tracked and encoded, and
the fused network decides on the whole window (``camera`` 1). Frames an
earlier window already skipped stay gaps: the retina is not visible there,
so it restarts from the first frame decoded after the camera comes back
(that frame sets its reference and emits nothing), and the tracker resumes
from where it last saw the face. So a window escalated after camera-off
windows sees fewer visual events than clip mode gives for the same span;
with the camera on throughout (or no cascade) it is clip mode exactly.

numpy only besides the sources' own readers; no torch, no amaranth.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np

from host.backend import HostError
from host.live_sources import SourceStalled
from sw.cascade import first_stage
from sw.encode import AudioEncoder, VisualEncoder, encoders_from_inputs, pool_events

__all__ = ["COLUMNS", "Decision", "LiveError", "LiveRunner", "summarize", "summary_line"]

#: timeline.csv columns, in order.
COLUMNS = ("t_start_s", "t_end_s", "prediction", "margin", "exit_step", "camera", "latency_ms", "fault")


class LiveError(HostError):
    """The live run cannot go on (device gone, back-end silent): one line."""


@dataclass
class Decision:
    """One window's decision (a timeline row)."""

    t_start_s: float
    t_end_s: float
    prediction: str
    margin: int
    exit_step: int
    camera: int
    latency_ms: float
    fault: str = ""

    def row(self) -> dict[str, Any]:
        return asdict(self)


class _Rows:
    """Event rows by absolute frame index, forgetting those no window needs any more."""

    def __init__(self, channels: int):
        self.channels = channels
        self.base = 0
        self._parts: list[np.ndarray] = []
        self._data = np.zeros((0, channels), np.int32)

    @property
    def end(self) -> int:
        return self.base + self._data.shape[0] + sum(p.shape[0] for p in self._parts)

    def add(self, rows: np.ndarray) -> None:
        if rows.shape[0]:
            self._parts.append(rows)

    def get(self, k0: int, k1: int) -> np.ndarray:
        """Rows ``k0..k1-1``; frames never received (an ended or absent source) are empty rows."""
        if self._parts:
            self._data = np.concatenate([self._data, *self._parts])
            self._parts = []
        out = np.zeros((k1 - k0, self.channels), np.int32)
        lo, hi = max(k0, self.base), min(k1, self.base + self._data.shape[0])
        if hi > lo:
            out[lo - k0:hi - k0] = self._data[lo - self.base:hi - self.base]
        return out

    def forget_before(self, k: int) -> None:
        self.get(self.base, self.base)  # consolidate
        drop = min(max(0, k - self.base), self._data.shape[0])
        self._data = self._data[drop:]
        self.base += drop


class LiveRunner:
    """Stream sources through the encoders and a back-end; see the module docstring.

    Parameters
    ----------
    backend : host.backend.Backend
        With a model loaded.
    audio, video : sources (:mod:`host.live_sources`) or None
        The ones the model's input groups need.
    window_s, hop_s : float
        Window classified per decision, and the time between decisions.
    clock : RealClock or FakeClock
        Paces file sources (``pace=True``); devices pace themselves.
    camera : callable ``(t_s) -> bool`` or None
        Camera on demand (default: always on when the model sees).
    on_decision : callable ``(Decision) -> None`` or None
        Called after each decision (the live view).
    dead_s : float
        A device silent this long (stall after stall) is gone.
    """

    def __init__(self, backend, audio=None, video=None, *, window_s: float, hop_s: float, clock=None, pace: bool = True,
                 camera: Callable[[float], bool] | None = None, on_decision: Callable[[Decision], None] | None = None,
                 dead_s: float = 5.0):  # fmt: skip
        from host.live_sources import RealClock

        net = backend.net
        if net is None:
            raise LiveError(f"no model loaded on the {backend.kind} back-end")
        if not (window_s > 0 and hop_s > 0):
            raise LiveError(f"window ({window_s!r} s) and hop ({hop_s!r} s) must be positive")
        self.backend, self.net = backend, net
        self.encoders = encoders_from_inputs(net.inputs)
        self.aenc = next((e for e in self.encoders if isinstance(e, AudioEncoder)), None)
        self.venc = next((e for e in self.encoders if isinstance(e, VisualEncoder)), None)
        if self.aenc is not None and audio is None:
            raise LiveError("the model has an audio input: give --audio (a file or mic[:N])")
        if self.venc is not None and video is None:
            raise LiveError("the model has a visual input: give --video (a file or cam[:N])")
        if self.aenc is not None and self.aenc.version < 2:
            raise LiveError("the model's audio encoder is version 1 (whole-clip statistics) and cannot run live; retrain or re-export it")
        self.audio = audio if self.aenc is not None else None
        self.video = video if self.venc is not None else None
        self.window_s, self.hop_s = float(window_s), float(hop_s)
        self.clock = clock or RealClock()
        self.pace = pace
        self.camera = camera or (lambda t: True)
        self._cam_on = True  # the cascade's switch (lazy video): anded with ``camera``
        gated = net.cascade is not None and net.cascade.exit is not None
        first_reads = {g.name for g in net.cascade.inputs} if gated else set()
        vnames = {g.name for g, e in zip(net.inputs, self.encoders) if isinstance(e, VisualEncoder)}
        self._cascade = gated
        self._lazy = gated and self.venc is not None and self.aenc is not None and not (first_reads & vnames)
        self.on_decision = on_decision
        self.dead_s = float(dead_s)
        self.decisions: list[Decision] = []
        self.faults: list[str] = []  # not yet attached to a decision
        self.input_s = 0.0
        self.idle_s = 0.0
        self.frames_decoded = 0
        self.frames_skipped = 0
        #: Seconds spent per stage (wall clock): reading + tracking + encoding video,
        #: encoding audio, and deciding (pooling + the back-end), for the bench's breakdown.
        self.stage_s = {"video": 0.0, "audio": 0.0, "decide": 0.0}
        self._start_wall = None

    # -- the loop ---------------------------------------------------------------

    def run(self) -> list[Decision]:
        """Run until the input ends; return the decisions (also on :attr:`decisions`)."""
        self._start_wall = time.perf_counter()
        self._t0 = self.clock.now()
        self._setup_streams()
        while True:
            got = self._advance()
            received = time.perf_counter()
            if got is None:
                break
            self._decide_ready(received)
        self._finish()
        return self.decisions

    def _setup_streams(self) -> None:
        from host.live_face import make_tracker

        self._astream = self.aenc.stream() if self.aenc is not None else None
        self._arows = _Rows(self.aenc.size) if self.aenc is not None else None
        if self.venc is not None:
            from sw.stream import VisualStream

            self._vstream = VisualStream(self.venc, self.video.fps)
            self._vrows = _Rows(self.venc.size)
            self._tracker = make_tracker(self.venc, self.video.fps)
            self._vnext = 0  # next source frame index expected
        self._video_ended = self.video is None
        self._audio_ended = self.audio is None
        self._next_end = self.window_s
        self._stalled_s = 0.0
        self._cam_windows: list[tuple[float, bool]] = []  # (input time, decoded) per video frame

    def _advance(self):
        """Take the next block of input (audio drives time; video follows it). None at the end."""
        if self.audio is not None:
            block = self._read_audio()
            if block is None:
                self._audio_ended = True
                self.faults.append("audio_end")
                self._arows.add(self._astream.flush())
                return None
            if block.size:
                t = time.perf_counter()
                self._arows.add(self._astream.push(block))
                self.stage_s["audio"] += time.perf_counter() - t
            self.input_s = self._astream.samples_in / self.aenc.sample_rate
            self._pace(self.input_s)
            if not self._lazy:  # a cascade model reads its frames at the decision (_decide)
                self._feed_video(self.input_s)
            return block
        if self._video_ended:
            return None
        n = self._feed_video(self.input_s + 1.0 / self.video.fps)
        self._pace(self.input_s)
        return None if self._video_ended and not n else n

    def _read_audio(self) -> np.ndarray | None:
        while True:
            t = time.perf_counter()
            try:
                block = self.audio.read()
                self._stalled_s = 0.0
                return block
            except SourceStalled as e:
                self.idle_s += time.perf_counter() - t
                self._stalled_s += max(time.perf_counter() - t, float(getattr(self.audio, "stall_s", 0.0)))
                if "audio_stall" not in self.faults:
                    self.faults.append("audio_stall")
                if self._stalled_s >= self.dead_s:
                    raise LiveError(f"{e}; nothing for {self._stalled_s:.1f} s: the device is gone") from None

    def _pace(self, input_s: float) -> None:
        """Real-pace replay of a file: wait until the clock reaches the input's time."""
        src = self.audio if self.audio is not None else self.video
        if self.pace and getattr(src, "paced", False):
            wait = (self._t0 + input_s) - self.clock.now()
            if wait > 0:
                t = time.perf_counter()
                self.clock.sleep(wait)
                self.idle_s += time.perf_counter() - t

    def _feed_video(self, until_s: float) -> int:
        """Read video frames shown before ``until_s``; decode them only while the camera is wanted."""
        t = time.perf_counter()
        try:
            return self._feed_video_frames(until_s)
        finally:
            self.stage_s["video"] += time.perf_counter() - t

    def _feed_video_frames(self, until_s: float) -> int:
        n = 0
        fps = self.video.fps if self.video is not None else 1.0
        while not self._video_ended and self._vnext / fps < until_s:
            want = self._cam_on and bool(self.camera(self._vnext / fps))
            got = self.video.read(decode=want)
            if got is None:
                self._video_ended = True
                self.faults.append("video_end")
                break
            frame, index = got
            if index > self._vnext:  # frames the device dropped: not visible, so the retina re-adapts
                self.faults.append(f"video_drop:{index - self._vnext}")
                for _ in range(index - self._vnext):
                    self._vrows.add(self._vstream.push(np.full((self.venc.side,) * 2, 128, np.uint8), False))
            if frame is not None:
                crop, visible = self._tracker.update(frame)
                self.frames_decoded += 1
            else:
                crop, visible = np.full((self.venc.side,) * 2, 128, np.uint8), False
                self.frames_skipped += 1
            self._cam_windows.append((index / fps, frame is not None))
            self._vrows.add(self._vstream.push(crop, visible))
            self._vnext = index + 1
            n += 1
            if self.audio is None:
                self.input_s = self._vnext / fps
        return n

    # -- decisions ----------------------------------------------------------------

    def _frames(self, enc, t0: float, t1: float) -> tuple[int, int]:
        """Encoder frames whose times fall in ``[t0, t1)`` (audio: frame centres)."""
        rate = enc.sample_rate / enc.hop_samples if isinstance(enc, AudioEncoder) else float(enc.fps)
        return int(math.ceil(t0 * rate - 1e-9)), int(math.ceil(t1 * rate - 1e-9))

    def _ready(self) -> bool:
        """The window ending at the next decision time has all its input (or its sources ended)."""
        t1 = self._next_end
        if self.aenc is not None:  # audio: every frame centred before t1 is out (at the end: exists at all)
            if self._arows.end < self._frames(self.aenc, t1 - self.window_s, t1)[1]:
                return False
        elif t1 > self.input_s + 1e-9:
            return False
        for enc, rows, ended in ((self.aenc, self._arows, self._audio_ended), (self.venc, getattr(self, "_vrows", None), self._video_ended or self._lazy)):
            if enc is not None and not ended and rows.end < self._frames(enc, t1 - self.window_s, t1)[1]:
                return False
        return True

    def _decide_ready(self, received: float) -> None:
        while self._ready():
            self._decide(received)
            self._next_end += self.hop_s

    def _pooled(self, enc, t0: float, t1: float) -> np.ndarray:
        """One encoder's rows of window ``[t0, t1)`` pooled onto ``T`` steps."""
        k0, k1 = self._frames(enc, t0, t1)
        buf = self._arows if isinstance(enc, AudioEncoder) else self._vrows
        if self._video_ended and buf is getattr(self, "_vrows", None):
            # The video ended: pool the frames it had, as clip mode pools a clip's
            # frames (empty rows for frames that never came would move the bins).
            k1 = min(k1, buf.end)
            k0 = min(k0, k1)
        return pool_events(buf.get(k0, k1), self.net.timesteps)

    def _window(self, t0: float, t1: float, video: bool = True) -> np.ndarray:
        """The window's sample ``[T, N_in]``; ``video=False``: visual groups left zero (not read yet)."""
        T = self.net.timesteps
        return np.concatenate([self._pooled(e, t0, t1) if video or not isinstance(e, VisualEncoder)
                               else np.zeros((T, e.size), np.int32) for e in self.encoders], axis=1)  # fmt: skip

    def _infer(self, t0: float, t1: float) -> tuple[str, np.ndarray, int, int]:
        """Decide window ``[t0, t1)``: (label, readout, exit step or None, camera)."""
        decoded = int(any(dec for t, dec in self._cam_windows if t0 <= t < t1)) if self.venc is not None else 0
        if not self._cascade:
            res = self.backend.infer(self._window(t0, t1))
            return res.label, np.asarray(res.readout, np.int64), getattr(res, "exit_step", None), decoded
        x = self._window(t0, t1, video=not self._lazy)[None]
        r, free = first_stage(self.net, x, self.backend.infer_stage)
        if self._lazy:  # read the window's frames now: decoded only when the audio stage is unsure
            self._cam_on = not bool(free[0])
            self._feed_video(t1)
            self._cam_on = True
            if not free[0]:
                x = self._window(t0, t1)[None]
        if not free[0]:
            r = self.backend.infer_stage(self.net, x)
        camera = int(not free[0]) if self._lazy else decoded  # lazy: on exactly when the audio stage was unsure
        step = int(r.exit_step[0])
        return self.net.classes[int(r.prediction[0])], np.asarray(r.readout[0], np.int64), None if step < 0 else step, camera

    def _decide(self, received: float) -> None:
        t1 = self._next_end
        t0 = t1 - self.window_s
        t, video_before = time.perf_counter(), self.stage_s["video"]
        try:
            label, readout, exit_step, camera = self._infer(t0, t1)
        except HostError as e:
            raise LiveError(f"the {self.backend.kind} back-end stopped answering at {t1:.2f} s of input: {e}") from None
        self.stage_s["decide"] += time.perf_counter() - t - (self.stage_s["video"] - video_before)  # lazy video counts as video
        top = np.sort(readout)[::-1]
        margin = int(top[0] - top[1]) if top.size > 1 else 0
        # the step the sample ended at (docs/design.md, early exit)
        exit_step = self.net.timesteps - 1 if exit_step is None else int(exit_step)
        self._cam_windows = [(t, d) for t, d in self._cam_windows if t >= t0 + self.hop_s]
        fault, self.faults = ",".join(self.faults), []
        d = Decision(round(t0, 4), round(t1, 4), label, margin, exit_step, camera,
                     round((time.perf_counter() - received) * 1000.0, 3), fault)  # fmt: skip
        self.decisions.append(d)
        nxt = t1 + self.hop_s - self.window_s
        for enc in self.encoders:
            (self._arows if isinstance(enc, AudioEncoder) else self._vrows).forget_before(self._frames(enc, nxt, nxt)[0])
        if self.on_decision is not None:
            self.on_decision(d)

    def _finish(self) -> None:
        """The input ended: decide the windows it completed, mark the end on the last decision."""
        self._decide_ready(time.perf_counter())
        if self.faults and self.decisions:
            last = self.decisions[-1]
            last.fault = ",".join([f for f in [last.fault, *self.faults] if f])
            self.faults = []

    def summary(self) -> dict[str, Any]:
        """Figures of the run so far (see :func:`summarize`)."""
        wall = time.perf_counter() - self._start_wall if self._start_wall else 0.0
        s = summarize(self.decisions, self.input_s, wall, wall - self.idle_s, self.frames_decoded, self.frames_skipped, self.faults)
        s["stage_s"] = {k: round(v, 3) for k, v in self.stage_s.items()}
        return s


def summarize(decisions: list[Decision], input_s: float, wall_s: float, busy_s: float, decoded: int = 0, skipped: int = 0,
              faults: list[str] | None = None) -> dict[str, Any]:  # fmt: skip
    """``summary.json``: counts, real-time factor, latency percentiles, camera share, faults."""
    lat = np.array([d.latency_ms for d in decisions], np.float64)
    return {
        "decisions": len(decisions),
        "input_s": round(float(input_s), 3),
        "wall_s": round(float(wall_s), 3),
        "busy_s": round(float(busy_s), 3),
        "real_time_factor": round(float(input_s / busy_s), 2) if busy_s > 0 else None,
        "latency_ms_p50": round(float(np.percentile(lat, 50)), 2) if lat.size else None,
        "latency_ms_p95": round(float(np.percentile(lat, 95)), 2) if lat.size else None,
        "camera_on_pct": round(100.0 * sum(d.camera for d in decisions) / len(decisions), 1) if decisions else 0.0,
        "video_frames_decoded": int(decoded),
        "video_frames_skipped": int(skipped),
        "faults": [f for d in decisions for f in d.fault.split(",") if f] + list(faults or []),
        "figures": "measured on this machine (wall clock); real-time factor = input seconds / seconds spent working",
    }


def summary_line(s: dict[str, Any]) -> str:
    """The last line ``eavs live`` prints."""
    def num(v, fmt):
        return "n/a" if v is None else format(v, fmt)

    return (f"live: {s['decisions']} decisions over {s['input_s']:.1f} s of input in {s['wall_s']:.1f} s "
            f"(real-time factor {num(s['real_time_factor'], '.1f')}), latency p50 {num(s['latency_ms_p50'], '.1f')} ms "
            f"p95 {num(s['latency_ms_p95'], '.1f')} ms, camera on {s['camera_on_pct']:.0f}%")  # fmt: skip

"""The one interface every back-end presents: board, RTL simulation, golden.

A back-end loads a ``.qnet`` model, checks it against the hardware capacity
and runs spike trains through it. Everything that does not depend on *where*
the network runs lives here, once: reading the model file, the capacity
check, validating spike arrays (shape and dtype), encoding raw clips with the
encoder parameters stored in the model header, and turning a batch into
per-sample results. Sub-classes implement :meth:`Backend._run_batch` and,
where the hardware has state, :meth:`Backend._load`.

numpy only (plus the numpy-only ``sw`` and ``hw`` modules): it runs on the
board's ARM cores.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np

from host.results import BatchResult, SampleResult
from hw.spec.capacity import Capacity
from sw import qnet as qnet_mod
from sw.qnet import QNet

__all__ = ["Backend", "HostError", "SpikeShapeError", "NoModelError", "as_qnet"]


class HostError(RuntimeError):
    """The accelerator or its host side failed (core error, timeout, missing core)."""


class SpikeShapeError(ValueError):
    """A spike array whose shape or dtype does not match the loaded model."""


class NoModelError(ValueError):
    """Inference was asked for before any model was loaded."""


def as_qnet(model: str | Path | QNet) -> QNet:
    """A validated :class:`QNet` from a path or an object."""
    if isinstance(model, QNet):
        return model.validate("model")
    if isinstance(model, (str, Path)):
        return qnet_mod.load(model)
    raise TypeError(f"model must be a .qnet path or a sw.qnet.QNet, not {type(model).__name__}")


def check_spikes(spikes: Any, net: QNet, batched: bool) -> np.ndarray:
    """Validate a spike array against ``net``; return it as uint8 ``[B, T, N_in]``.

    Accepts bool and integer arrays holding only 0 and 1. Floats are refused
    rather than thresholded: a float array here almost always means raw
    features were passed where spikes were expected.
    """
    a = np.asarray(spikes)
    want = f"[B, T={net.timesteps}, N_in={net.n_inputs}]" if batched else f"[T={net.timesteps}, N_in={net.n_inputs}]"
    if a.ndim != (3 if batched else 2):
        raise SpikeShapeError(f"spikes must be {want}, not shape {list(a.shape)}")
    if a.dtype != np.bool_ and a.dtype.kind not in "iu":
        raise SpikeShapeError(f"spikes must be bool or integer 0/1, not dtype {a.dtype}")
    if tuple(a.shape[-2:]) != (net.timesteps, net.n_inputs):
        raise SpikeShapeError(f"spikes must be {want}, not shape {list(a.shape)}")
    if a.dtype != np.bool_ and a.size and (a.min() < 0 or a.max() > 1):
        bad = a[(a < 0) | (a > 1)].flat[0]
        raise SpikeShapeError(f"spikes must hold only 0 and 1, found {int(bad)}")
    a = a.astype(np.uint8)
    return a if batched else a[None]


class Backend(ABC):
    """Load a model, run spikes, return :class:`~host.results.BatchResult`.

    Parameters
    ----------
    capacity : Capacity
        What the hardware (or the hardware this back-end stands for) holds.
        Models are checked against it on load, so a model that would not
        fit the board is refused on every back-end alike.
    clock_hz : float or None
        Core clock, to report latency from cycles.
    """

    #: Short name used in results and on the command line.
    kind = "abstract"

    def __init__(self, capacity: Capacity | None = None, clock_hz: float | None = None):
        if capacity is not None and not isinstance(capacity, Capacity):
            raise TypeError(f"capacity must be a hw.spec.capacity.Capacity, not {type(capacity).__name__}")
        if clock_hz is not None and not (isinstance(clock_hz, (int, float)) and clock_hz > 0):
            raise ValueError(f"clock_hz must be a positive number, not {clock_hz!r}")
        self.capacity = capacity or Capacity()
        self.clock_hz = clock_hz
        self.net: QNet | None = None

    # -- the public interface ----------------------------------------------------

    def load_model(self, model: str | Path | QNet) -> QNet:
        """Load a model (path or object): validate it, check it fits, load it."""
        net = as_qnet(model)
        self.capacity.require_fits(net)
        self._load(net)
        self.net = net
        return net

    def infer(self, spikes: np.ndarray) -> SampleResult:
        """Classify one sample, spikes ``[T, N_in]`` (bool or 0/1 integers)."""
        net = self._need_model()
        return self._timed(check_spikes(spikes, net, batched=False))[0]

    def infer_batch(self, spikes: np.ndarray) -> BatchResult:
        """Classify a batch, spikes ``[B, T, N_in]``."""
        net = self._need_model()
        return self._timed(check_spikes(spikes, net, batched=True))

    def infer_cascade(self, model: str | Path | QNet, spikes: np.ndarray):
        """Run ``model`` with its audio-first cascade on spikes ``[B, T, N_in]``
        laid out as the model's inputs (``sw.cascade.run``: the one gating
        code path of every back-end). Each stage is loaded as its own model
        image; both must fit this back-end's capacity, checked before any
        clip runs. Returns a ``sw.cascade.CascadeResult``; a stage whose
        back-end reports no exit step gets -1 there."""
        from sw.cascade import run  # numpy-only

        net = as_qnet(model)
        for stage in (net.cascade, net):
            if stage is not None:
                self.capacity.require_fits(stage)

        return run(net, np.asarray(spikes), self.infer_stage)

    def infer_stage(self, stage: QNet, x: np.ndarray):
        """Run one cascade stage on spikes ``[B, T, n]`` (the ``infer`` of
        ``sw.cascade``): load it as the model unless it already is, and
        report its prediction, q at the exit and exit step (-1: none)."""
        from sw.cascade import StageReport  # numpy-only

        if self.net is not stage:
            self.load_model(stage)
        r = self.infer_batch(x)
        exit_step = getattr(r, "exit_step", None)
        return StageReport(r.prediction, r.readout, np.full(len(x), -1, np.int64) if exit_step is None else exit_step)

    def encode(self, audio: np.ndarray | None, sr: int | None, frames: np.ndarray | None, fps: float | None) -> np.ndarray:
        """Raw clip -> spikes ``[T, N_in]`` with the encoders in the model header."""
        from sw.encode import encode_clip  # numpy-only; imported late so host loads without it

        net = self._need_model()
        return encode_clip(net.inputs, audio, sr, frames, fps)

    def encode_and_infer(self, audio: np.ndarray | None, sr: int | None, frames: np.ndarray | None, fps: float | None) -> SampleResult:
        """Encode a raw clip (audio waveform and/or grey face frames) and classify it."""
        return self.infer(self.encode(audio, sr, frames, fps))

    def encode_files(self, audio: str | Path | None = None, video: str | Path | None = None) -> np.ndarray:
        """Read a clip from files (wav; mp4/flv/avi), crop the face, encode: ``[T, N_in]``.

        Uses ``sw.data`` (soundfile, OpenCV) exactly as the data set loader
        does, with the encoders of the model header.
        """
        from sw.data.dataset import encode_one
        from sw.data.media import Clip
        from sw.encode import encoders_from_inputs

        net = self._need_model()
        for p in (audio, video):
            if p is not None and not Path(p).is_file():
                raise FileNotFoundError(f"clip file {p} does not exist")
        clip = Clip(str(audio) if audio else None, str(video) if video else None, label=-1, actor=0)
        return encode_one(clip, encoders_from_inputs(net.inputs))

    def classify_files(self, audio: str | Path | None = None, video: str | Path | None = None) -> SampleResult:
        """Classify a clip from its files (see :meth:`encode_files`)."""
        return self.infer(self.encode_files(audio, video))

    def close(self) -> None:
        """Release what the back-end holds (simulator process, buffers)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- for sub-classes ---------------------------------------------------------

    def _load(self, net: QNet) -> None:
        """Push the model into the hardware (no-op for stateless back-ends)."""

    @abstractmethod
    def _run_batch(self, spikes: np.ndarray) -> dict[str, Any]:
        """Run uint8 ``[B, T, N_in]`` spikes; return the :class:`BatchResult`
        fields ``prediction, readout, cycles, counters, errors`` (and ``extra``)."""

    # -- helpers -------------------------------------------------------------------

    def _need_model(self) -> QNet:
        if self.net is None:
            raise NoModelError(f"no model loaded on the {self.kind} back-end: call load_model(path) first")
        return self.net

    def _timed(self, spikes: np.ndarray) -> BatchResult:
        t0 = time.perf_counter()
        fields = self._run_batch(spikes)
        wall = time.perf_counter() - t0
        return BatchResult(backend=self.kind, classes=list(self.net.classes), wall_s=wall, clock_hz=self.clock_hz, **fields)

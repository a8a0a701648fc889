"""What an inference returns, whichever back-end computed it.

The board, the RTL simulation and the golden model all fill the same
:class:`BatchResult`, so comparing two back-ends is one call
(:meth:`BatchResult.differences`) and user code never branches on where it
ran. Every integer field is exact and must agree between back-ends; only the
wall-clock fields (``wall_s``) legitimately differ.

numpy only: this module runs on the board's ARM cores.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["SampleResult", "BatchResult"]

#: Fields compared exactly between back-ends.
EXACT_FIELDS = ("prediction", "readout", "cycles", "errors")


@dataclass(frozen=True)
class SampleResult:
    """One sample's result.

    Attributes
    ----------
    prediction : int
        Index of the predicted class (argmax of ``readout``, lowest index on ties).
    label : str
        The class name from the model header.
    readout : int64 array ``[n_out]``
        Readout membranes after the last timestep.
    cycles : int
        Core compute cycles for the sample (docs/design.md section 5 cycle model).
    counters : dict of str -> int
        The core's event counters for the sample (spikes, synaptic ops...).
    errors : int
        Error bits the core flagged on this sample (0: none).
    latency_s : float or None
        Core latency at the back-end's clock (``cycles / clock_hz``), None
        when the back-end has no clock (golden without a board).
    """

    prediction: int
    label: str
    readout: np.ndarray
    cycles: int
    counters: dict[str, int]
    errors: int
    latency_s: float | None


@dataclass
class BatchResult:
    """A batch's results; index it for a :class:`SampleResult`.

    Attributes
    ----------
    backend : str
        ``"board"``, ``"rtl"`` or ``"golden"``.
    classes : list of str
        Class names, in readout order.
    prediction : int64 ``[B]``
    readout : int64 ``[B, n_out]``
    cycles : int64 ``[B]``
    counters : dict of str -> int64 ``[B]``
    errors : int64 ``[B]``
        Per-sample error bits (see ``hw.spec.regmap`` for their meaning).
    wall_s : float
        Host wall-clock time for the whole batch, transfers included.
    clock_hz : float or None
        The core clock, when known, to turn cycles into latency.
    """

    backend: str
    classes: list[str]
    prediction: np.ndarray
    readout: np.ndarray
    cycles: np.ndarray
    counters: dict[str, np.ndarray]
    errors: np.ndarray
    wall_s: float
    clock_hz: float | None = None
    extra: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.prediction.shape[0])

    def __getitem__(self, i: int) -> SampleResult:
        p = int(self.prediction[i])
        return SampleResult(
            prediction=p,
            label=self.classes[p],
            readout=self.readout[i].copy(),
            cycles=int(self.cycles[i]),
            counters={k: int(v[i]) for k, v in self.counters.items()},
            errors=int(self.errors[i]),
            latency_s=self.latency_s[i] if self.latency_s is not None else None,
        )

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    @property
    def labels(self) -> list[str]:
        return [self.classes[int(p)] for p in self.prediction]

    @property
    def latency_s(self) -> np.ndarray | None:
        """Core latency per sample, ``cycles / clock_hz`` (None without a clock)."""
        if not self.clock_hz:
            return None
        return self.cycles.astype(np.float64) / float(self.clock_hz)

    @property
    def inferences_per_s(self) -> float:
        """Samples per second of host wall-clock time (transfers included)."""
        return len(self) / self.wall_s if self.wall_s > 0 else float("inf")

    def differences(self, other: "BatchResult") -> list[str]:
        """Every exact field in which ``other`` differs, sample by sample.

        Counters are compared on the names both results carry; a counter
        only one side has is reported as a difference too, so a back-end
        that silently stops counting something cannot pass.
        """
        out = []
        if len(self) != len(other):
            return [f"batch size {len(self)} ({self.backend}) != {len(other)} ({other.backend})"]
        for name in EXACT_FIELDS:
            a, b = np.asarray(getattr(self, name)), np.asarray(getattr(other, name))
            if a.shape != b.shape:
                out.append(f"{name}: shape {a.shape} ({self.backend}) != {b.shape} ({other.backend})")
                continue
            bad = np.nonzero((a != b).reshape(len(self), -1).any(axis=1))[0]
            for i in bad[:5]:
                out.append(f"sample {i}: {name} {a[i].tolist()} ({self.backend}) != {b[i].tolist()} ({other.backend})")
        for name in sorted(set(self.counters) | set(other.counters)):
            if name not in self.counters or name not in other.counters:
                out.append(f"counter {name!r} only in {self.backend if name in self.counters else other.backend}")
                continue
            a, b = self.counters[name], other.counters[name]
            for i in np.nonzero(a != b)[0][:5]:
                out.append(f"sample {i}: counter {name} {int(a[i])} ({self.backend}) != {int(b[i])} ({other.backend})")
        return out

    def summary(self) -> str:
        """A short human-readable summary."""
        lines = [f"{len(self)} samples on {self.backend}: {self.inferences_per_s:.1f} inferences/s (wall clock)"]
        if len(self):
            lines.append(f"cycles per sample: mean {self.cycles.mean():.0f}, max {self.cycles.max()}")
            if self.latency_s is not None:
                lines.append(f"core latency: mean {1e6 * self.latency_s.mean():.1f} us at {self.clock_hz / 1e6:.0f} MHz")
            if self.errors.any():
                lines.append(f"{int((self.errors != 0).sum())} samples flagged with error bits")
        return "\n".join(lines)

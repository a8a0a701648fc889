"""Plans: the sequences of bus operations a core simulation executes.

A :class:`Plan` is built on the Python side out of high-level actions (load
a model image, run a batch of samples, reset in the middle of a sample...),
serialised to JSON, executed by the cocotb module :mod:`sim.cocotb_core`
inside Verilator or Icarus, and its record is read back into a
:class:`Record`. Each action returns a handle whose fields are indices of
primitive operations, so the comparison code can pick out "the result frames
of this batch" or "the ERROR register after that load" without knowing how
the plan was laid out.

Register names and CTRL fields come from :mod:`hw.spec.regmap`, stream formats
from :mod:`hw.spec.protocol` (numpy only; no cocotb here).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from hw.spec import protocol, regmap

__all__ = ["Plan", "Record", "LoadHandle", "RunHandle", "RUN_REGS", "LOAD_REGS"]

#: Registers read back after each batch (every counter of the last sample).
RUN_REGS = (
    "STATUS", "ERROR", "SAMPLES", "CYCLES", "IN_EVENTS", "SPIKES", "SOPS", "PREDICTION", "SAMPLE_ERRORS",
)
#: Registers read back after each model load.
LOAD_REGS = ("STATUS", "ERROR", "MODEL_INPUTS", "MODEL_TIMESTEPS", "MODEL_LAYERS", "MODEL_OUTPUTS")


@dataclass
class LoadHandle:
    """Operation indices of one model load."""

    wait: int
    regs: int


@dataclass
class RunHandle:
    """Operation indices of one batch run."""

    n_samples: int
    n_out: int
    wait: int
    recv: int
    regs: int
    readout: int | None


def _words(words: Any) -> list[int]:
    arr = np.asarray(words, dtype=np.int64).reshape(-1)
    if arr.size and (arr.min() < 0 or arr.max() >= 1 << 32):
        raise ValueError("stream words must be 32-bit unsigned values")
    return [int(w) for w in arr]


@dataclass
class Plan:
    """An ordered list of primitive operations plus the stream models' pauses.

    Parameters
    ----------
    seed : int
        Seed of the pause generators (a failure reproduces with it).
    source_pause, sink_pause : float
        Probabilities of an idle cycle on ``s_axis`` and of backpressure on
        ``m_axis``, per cycle.
    """

    seed: int = 0
    source_pause: float = 0.2
    sink_pause: float = 0.2
    ops: list[dict[str, Any]] = field(default_factory=list)

    def add(self, op: str, **args: Any) -> int:
        """Append one primitive operation; return its index."""
        self.ops.append({"op": op, **args})
        return len(self.ops) - 1

    def to_json(self) -> dict[str, Any]:
        return {"seed": self.seed, "source_pause": self.source_pause, "sink_pause": self.sink_pause, "ops": self.ops}

    # -- high-level actions ---------------------------------------------------

    def load(self, image: Sequence[int] | np.ndarray, timeout: int | None = None) -> LoadHandle:
        """Load a model image: clear errors, start in MODE_LOAD, stream it, wait."""
        words = _words(image)
        self.add("ctrl", clear_errors=1)
        self.add("ctrl", start=1, mode=regmap.MODE_LOAD)
        self.add("send", words=words, wait=False)
        wait = self.add("wait_done", timeout=timeout or 1000 + 20 * len(words))
        regs = self.add("read", regs=list(LOAD_REGS))
        return LoadHandle(wait, regs)

    def run(
        self,
        packets: Sequence[Sequence[int] | np.ndarray],
        n_out: int,
        *,
        batch: int | None = None,
        expect_frames: int | None = None,
        timeout: int = 200_000,
        read_readout: bool = True,
    ) -> RunHandle:
        """Run a batch: clear errors, BATCH, start in MODE_RUN, stream the
        packets back to back, wait for done, receive the result frames, read
        every counter and the readout window."""
        batch = len(packets) if batch is None else batch
        self.add("ctrl", clear_errors=1)
        self.add("write", reg="BATCH", value=batch)
        self.add("ctrl", start=1, mode=regmap.MODE_RUN)
        for p in packets:
            self.add("send", words=_words(p), wait=False)
        wait = self.add("wait_done", timeout=timeout)
        recv = self.add("recv", frames=batch if expect_frames is None else expect_frames, timeout=2000 + 50 * n_out)
        regs = self.add("read", regs=list(RUN_REGS))
        readout = self.add("readout", n=n_out) if read_readout else None
        return RunHandle(batch, n_out, wait, recv, regs, readout)

    def read(self, *regs: str) -> int:
        return self.add("read", regs=list(regs))


@dataclass
class Record:
    """What a plan's execution returned, addressed by the plan's handles."""

    ops: list[dict[str, Any]]
    sim_cycles: int = 0
    wall_s: float = 0.0

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Record":
        return cls(list(data["ops"]), int(data.get("sim_cycles", 0)), float(data.get("wall_s", 0.0)))

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.ops[index]

    def regs(self, index: int) -> dict[str, int]:
        return dict(self.ops[index]["values"])

    def timed_out(self, index: int) -> bool:
        return bool(self.ops[index].get("timeout"))

    def frames(self, handle: RunHandle) -> list[list[int]]:
        return list(self.ops[handle.recv].get("frames", []))

    def results(self, handle: RunHandle) -> protocol.Results:
        """The batch's result frames decoded by :func:`hw.spec.protocol.decode_results`."""
        words = [w for f in self.frames(handle) for w in f]
        return protocol.decode_results(np.array(words, np.uint32), handle.n_out)

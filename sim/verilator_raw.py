"""Bulk simulation of the core on Verilator, with no Python in the clock loop.

cocotb's AXI models wake up in Python on every clock edge (about 1.5 k
cycles/s); they stay the tool for protocol, backpressure and fault scenarios
(``sim.cocotb_core``). For many samples -- every held-out clip of the demo,
the soak benchmark -- this module drives the same Verilated core from a small
C++ harness (``sim/raw_main.cpp``) that runs a *script* of bus operations:
register writes and reads, stream frames, waits for result words, polls.

Python writes the script from :mod:`hw.spec.regmap` (offsets, field masks) and
:mod:`hw.spec.protocol` (model image, event words, result records), so nothing
about the core's map or formats lives in C++: a rewritten core with the same
ports runs unchanged. Python also does the verdict (:mod:`sim.compare`):
every sample's result record (prediction, readout membranes, counters,
cycles) against ``sw.golden`` and ``hw.spec.capacity.sample_cycles``, and the
registers read after each batch against its last sample.

Build: :func:`raw_build` (cached in its directory, keyed by the Verilog, the
harness and the flags). Speed: Verilator ``-O3 --x-assign fast --x-initial
fast``, no tracing, single-threaded (two cores shared by everyone here),
GCC ``-O2`` on the per-cycle code and ``-O0`` on the run-once construction
code (see ``sim.build._verilator_make_env``); the harness keeps all I/O out
of the clock loop and skips the falling-edge eval of every cycle whose
inputs did not change (``EAVS_RAW_FULL_EVAL=1`` turns that off, to compare).
``python -m bench.sim_speed --simulators verilator-raw`` measures it.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from hw.spec import protocol, regmap
from hw.spec.capacity import Capacity
from sim.build import SimError, _tool_path, _verilator_make_env, generate_core_verilog
from sim.compare import Agreement, compare_registers, compare_results, expected
from sw.qnet import QNet

__all__ = ["VERILATOR_FLAGS", "CXX_OPT", "Script", "RawOutput", "Job", "JobResult", "BulkSim", "build_harness", "raw_build", "execute",
           "verify", "raw_run"]

HARNESS = Path(__file__).with_name("raw_main.cpp")
#: Script header; must equal ``MAGIC`` / ``VERSION`` in raw_main.cpp.
MAGIC, VERSION = 0x57524145, 2
_END, _RESET, _WRITE, _READ, _SEND, _WAIT, _IDLE, _MARK, _POLL = range(9)

#: Verilator options of the bulk build (what made it fast; see bench.sim_speed).
VERILATOR_FLAGS = ("-O3", "--x-assign", "fast", "--x-initial", "fast", "--no-timing")
#: GCC optimisation of the model's per-cycle code.
CXX_OPT = "-O2"
#: Registers read after every batch and compared with its last sample.
AFTER_BATCH = ("STATUS", "ERROR", "SAMPLES", "CYCLES", "IN_EVENTS", "SPIKES", "SOPS", "PREDICTION", "SAMPLE_ERRORS")


def _bit(reg: str, name: str) -> int:
    return 1 << regmap.field(reg, name).lsb


class Script:
    """A list of bus operations for the harness (see the table in raw_main.cpp).

    Register arguments are names of :mod:`hw.spec.regmap` (or byte offsets).
    ``reads`` counts the values the run will return, in order, so callers
    can remember where theirs are.
    """

    def __init__(self) -> None:
        self.words: list[int] = [MAGIC, VERSION]
        self.reads = 0
        self.result_words = 0

    @staticmethod
    def _addr(reg: str | int) -> int:
        return reg if isinstance(reg, int) else regmap.offset(reg)

    def reset(self, cycles: int = 4) -> "Script":
        self.words += [_RESET, cycles]
        return self

    def write(self, reg: str | int, value: int) -> "Script":
        self.words += [_WRITE, self._addr(reg), int(value) & 0xFFFFFFFF]
        return self

    def read(self, reg: str | int) -> int:
        """Queue a read; returns its index in :attr:`RawOutput.reads`."""
        self.words += [_READ, self._addr(reg)]
        self.reads += 1
        return self.reads - 1

    def send(self, words: np.ndarray | Sequence[int], stall_limit: int = 1_000_000) -> "Script":
        w = np.asarray(words, np.uint32).reshape(-1)
        self.words += [_SEND, stall_limit, int(w.size)]
        self.words.extend(w.tolist())
        return self

    def wait_results(self, total_words: int, limit: int) -> "Script":
        """Clock until ``total_words`` result words (counted from the start) have arrived."""
        self.words += [_WAIT, total_words, min(int(limit), 0xFFFFFFFF)]
        return self

    def idle(self, cycles: int) -> "Script":
        self.words += [_IDLE, cycles]
        return self

    def mark(self) -> "Script":
        self.words += [_MARK]
        return self

    def poll(self, reg: str | int, mask: int, want: int, limit: int = 100_000) -> int:
        """Read ``reg`` until ``value & mask == want``; returns the index of the last value."""
        self.words += [_POLL, self._addr(reg), mask, want, limit]
        self.reads += 1
        return self.reads - 1

    # -- the core's operations, from hw.spec.regmap / hw.spec.protocol -------------------

    def load(self, net: QNet, capacity: Capacity) -> tuple[int, int]:
        """Load ``net`` (CTRL mode LOAD, the image over the stream); wait until not busy.

        Returns the read indices of STATUS and ERROR after the load.
        """
        mode = regmap.field("CTRL", "mode").lsb
        self.write("CTRL", _bit("CTRL", "start") | (regmap.MODE_LOAD << mode))
        self.send(protocol.pack_model(net, capacity))
        st = self.poll("STATUS", _bit("STATUS", "busy"), 0)
        return st, self.read("ERROR")

    def run_batch(self, net: QNet, spikes: np.ndarray) -> dict[str, int]:
        """Run ``spikes [B, T, N_in]`` as one batch (one frame per sample); wait for every
        result record; read :data:`AFTER_BATCH`. Returns their read indices by name."""
        mode = regmap.field("CTRL", "mode").lsb
        B = len(spikes)
        self.write("BATCH", B)
        self.write("CTRL", _bit("CTRL", "start") | (regmap.MODE_RUN << mode))
        packets = protocol.event_packets(spikes)
        for pkt in packets:
            self.send(pkt)
        self.result_words += B * protocol.result_words(net.readout.n)
        # A generous bound: every event and every neuron of every step, times 64.
        bound = 64 * (sum(len(p) for p in packets) + B * net.timesteps * sum(la.n for la in net.layers)) + 100_000
        self.wait_results(self.result_words, bound)
        at = {"STATUS": self.poll("STATUS", _bit("STATUS", "busy"), 0)}
        for name in AFTER_BATCH[1:]:
            at[name] = self.read(name)
        return at

    def to_bytes(self) -> bytes:
        return np.asarray(self.words + [_END], np.uint64).astype("<u4").tobytes()


@dataclass
class RawOutput:
    """What a harness run returned."""

    reads: np.ndarray  # uint32 register values, in script order
    words: np.ndarray  # uint32 result-stream words, as they arrived
    marks: list[tuple[int, float]]  # (cycles, seconds) at each MARK
    cycles: int  # clock cycles of the whole script
    seconds: float  # wall time of the whole script (construction excluded)
    cpu_seconds: float = 0.0  # CPU time of the same (what a loaded machine does not inflate)


def _harness_key(src: Path, top: str, opt: str, flags: Sequence[str]) -> str:
    h = hashlib.sha1()
    for part in (src.read_bytes(), HARNESS.read_bytes(), json.dumps([top, list(flags), opt]).encode()):
        h.update(hashlib.sha1(part).digest())
    return h.hexdigest()


def build_harness(src: str | Path, top: str, mdir: str | Path, opt: str = CXX_OPT,
                  flags: Sequence[str] = VERILATOR_FLAGS) -> Path:
    """Verilate ``src`` (top module ``top``, the core's ports) with the harness into ``mdir``.

    Reused when the Verilog, the harness and the flags are the same as last time.
    """
    src, mdir = Path(src).resolve(), Path(mdir).resolve()
    exe = mdir / "eavs_raw"
    stamp = mdir / "eavs_raw_stamp.txt"
    key = _harness_key(src, top, opt, flags)
    if exe.exists() and stamp.exists() and stamp.read_text() == key:
        return exe
    stamp.unlink(missing_ok=True)
    cmd = ["verilator", "--cc", "--exe", "--build", "-j", "2", "-Wno-fatal", "-Wno-lint", "-Wno-style",
           *flags, "--top-module", top, "--prefix", "Vtop", "-Mdir", str(mdir), "-o", "eavs_raw",
           str(src), str(HARNESS)]
    with _tool_path(), _verilator_make_env("verilator", opt):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ))
    if proc.returncode != 0 or not exe.exists():
        raise SimError(f"raw Verilator build of {src.name} failed ({proc.returncode}):\n{(proc.stdout + proc.stderr)[-3000:]}")
    stamp.write_text(key)
    return exe


def raw_build(capacity: Capacity, build_dir: str | Path, opt: str = CXX_OPT,
              flags: Sequence[str] = VERILATOR_FLAGS) -> Path:
    """Build the harness for the core at ``capacity`` in ``build_dir``; return the executable.

    Reuses an earlier build in the same directory when the generated Verilog
    (itself regenerated when any RTL source changed, see
    ``sim.build.generate_core_verilog``), the harness and the flags are the
    same. ``opt`` and ``flags`` exist for profiling.
    """
    build_dir = Path(build_dir).resolve()
    src = generate_core_verilog(capacity, build_dir / "rtl")
    return build_harness(src, "eavs_core", build_dir / "raw", opt, flags)


def execute(exe: str | Path, script: Script, work_dir: str | Path | None = None) -> RawOutput:
    """Run ``script`` on the harness ``exe``; raise :class:`SimError` if a step failed."""
    with tempfile.TemporaryDirectory(dir=work_dir, prefix="eavs_raw_") as d:
        inp, out = Path(d) / "script.bin", Path(d) / "out.bin"
        inp.write_bytes(script.to_bytes())
        proc = subprocess.run([str(exe), str(inp), str(out)], capture_output=True, text=True)
        raw = out.read_bytes() if out.exists() else b""
    if proc.returncode != 0 or not raw:
        raise SimError(f"raw Verilator run failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    u32 = np.frombuffer(raw, "<u4")
    p = 0
    n = int(u32[p])
    reads = u32[p + 1 : p + 1 + n].copy()
    p += 1 + n
    n = int(u32[p])
    words = u32[p + 1 : p + 1 + n].copy()
    p += 1 + n
    n = int(u32[p])
    p += 1
    marks = []
    for _ in range(n):
        c = int(np.frombuffer(raw, "<u8", 1, 4 * p)[0])
        s = float(np.frombuffer(raw, "<f8", 1, 4 * p + 8)[0])
        marks.append((c, s))
        p += 4
    cycles = int(np.frombuffer(raw, "<u8", 1, 4 * p)[0])
    seconds = float(np.frombuffer(raw, "<f8", 1, 4 * p + 8)[0])
    cpu = float(np.frombuffer(raw, "<f8", 1, 4 * p + 16)[0])
    return RawOutput(reads, words, marks, cycles, seconds, cpu)


@dataclass
class Job:
    """One model and its samples for :func:`verify`."""

    net: QNet
    spikes: np.ndarray  # [B, T, N_in]
    label: str = "model"


@dataclass
class JobResult:
    """A job's verdict: the decoded records, the agreement and every difference."""

    label: str
    results: protocol.Results
    agreement: Agreement
    mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.agreement.ok and not self.mismatches


def verify(exe: str | Path, capacity: Capacity, jobs: Sequence[Job], *, batch: int = 256,
           work_dir: str | Path | None = None) -> tuple[list[JobResult], RawOutput]:
    """Load each job's model, run its samples in batches of ``batch``, compare everything.

    All jobs run in one harness process (one script), back to back on the
    same core, so a model loaded over a used core is covered too. Returns a
    :class:`JobResult` per job and the raw output (cycles and seconds).
    """
    s = Script().reset()
    plan = []
    for job in jobs:
        x = np.ascontiguousarray(job.spikes).astype(np.uint8)
        st, er = s.load(job.net, capacity)
        batches = []
        for b0 in range(0, len(x), batch):
            w0 = s.result_words
            regs = s.run_batch(job.net, x[b0 : b0 + batch])
            batches.append((b0, min(len(x), b0 + batch), w0, s.result_words, regs))
        plan.append((job, x, st, er, batches))
    out = execute(exe, s, work_dir)
    done, samples = [], 0
    for job, x, st, er, batches in plan:
        where = job.label
        mism = []
        status = regmap.decode_fields("STATUS", int(out.reads[st]))
        if not status["model_valid"] or int(out.reads[er]):
            mism.append(f"{where}: model load: STATUS {status}, ERROR {regmap.decode_errors(int(out.reads[er]))}")
        exp = expected(job.net, x, capacity)
        got_parts = []
        for b0, b1, w0, w1, regs in batches:
            got = protocol.decode_results(out.words[w0:w1], job.net.readout.n)
            got_parts.append(got)
            part = _slice(exp.results, b0, b1)
            values = {name: int(out.reads[i]) for name, i in regs.items()}
            mism += compare_registers(values, part, samples, f"{where} samples {b0}..{b1 - 1}")
            samples += b1 - b0
        got = _concat(got_parts, job.net.readout.n)
        res_mism = compare_results(got, exp.results, where)
        done.append(JobResult(job.label, got, Agreement.of(got, exp.results, res_mism), mism))
    return done, out


def _slice(r: protocol.Results, a: int, b: int) -> protocol.Results:
    return protocol.Results(**{k: v[a:b] for k, v in vars(r).items()})


def _concat(parts: list[protocol.Results], n_out: int) -> protocol.Results:
    if not parts:
        return protocol.decode_results(np.zeros(0, np.uint32), n_out)
    return protocol.Results(**{k: np.concatenate([vars(p)[k] for p in parts]) for k in vars(parts[0])})


def raw_run(exe: Path, net: QNet, spikes: np.ndarray, capacity: Capacity) -> tuple[protocol.Results, int, float]:
    """Load ``net``, run ``spikes [B, T, N_in]`` as one batch; return (results, cycles, seconds).

    Only decodes (``bench.sim_speed`` compares); :func:`verify` is the checked path.
    """
    s = Script().reset()
    s.load(net, capacity)
    s.run_batch(net, np.ascontiguousarray(spikes).astype(np.uint8))
    out = execute(exe, s)
    return protocol.decode_results(out.words, net.readout.n), out.cycles, out.seconds


@dataclass
class BulkSim:
    """A built harness for one capacity, ready for many samples (the demo's simulate stage).

    ``bulk`` tells callers this runs every sample it is given (unlike the
    cocotb-driven RTL back-end, which is for a few samples).
    """

    capacity: Capacity
    exe: Path
    build_s: float = 0.0
    bulk: bool = True

    @classmethod
    def build(cls, capacity: Capacity, build_dir: str | Path) -> "BulkSim":
        import time

        t0 = time.perf_counter()
        exe = raw_build(capacity, build_dir)
        return cls(capacity, exe, time.perf_counter() - t0)

    def run(self, net: QNet, spikes: np.ndarray, *, batch: int = 64, label: str = "clips") -> tuple[JobResult, RawOutput]:
        """Load ``net``, run every sample of ``spikes`` in batches of ``batch``; the verdict and the raw output."""
        res, out = verify(self.exe, self.capacity, [Job(net, spikes, label)], batch=batch)
        return res[0], out

    def close(self) -> None:
        """Nothing to release (each run is its own process)."""

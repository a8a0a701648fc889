"""The RTL-simulation back-end: the board driver's own code on the Verilator model.

:class:`RtlBackend` runs :class:`host.driver.CoreDriver` — the code that
runs on the board — against ``eavs_core`` simulated by Verilator (or
Icarus). The simulation runs in a subprocess (:mod:`host.rtl_server`: it
generates the core's Verilog with ``hw.flow.generate``, builds it with
``sim.build`` and runs the cocotb module :mod:`host.rtl_bridge`), which
connects back over a Unix socket and serves the driver's calls:

* ``pynq.MMIO`` reads and writes -> cocotbext-axi ``AxiLiteMaster``;
* DMA ``sendchannel.transfer`` -> one ``AxiStreamSource`` frame (TLAST on
  its last word, as AXI DMA's MM2S does);
* DMA ``recvchannel.transfer`` -> the next ``AxiStreamSink`` frame (an
  S2MM transfer ends at TLAST);
* ``channel.idle`` polls advance simulated time while the answer is "no".

So the driver cannot tell the simulation from the board except by speed.
This module itself imports only the standard library and numpy; cocotb and
amaranth live in the subprocess. (This is our own bridge rather than
cocotbpynq, which is GPL and wants a Vivado ``.hwh``.)
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from host.backend import Backend, HostError
from host.driver import CoreDriver, results_fields
from hw.spec.capacity import Capacity

__all__ = ["SimBridge", "SimMMIO", "SimDMA", "RtlBackend", "BridgeError", "DEFAULT_BUILD_ROOT"]

ROOT = Path(__file__).resolve().parent.parent
#: Where simulator builds are kept between runs (one per capacity and simulator).
DEFAULT_BUILD_ROOT = ROOT / "build" / "host-rtl"
_HEAD = struct.Struct("<II")


class BridgeError(HostError):
    """The simulation subprocess failed to start, build, or answer."""


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise ConnectionError("simulation closed the connection")
        out += chunk
    return bytes(out)


def send_message(sock: socket.socket, header: dict[str, Any], payload: bytes = b"") -> None:
    """One message: two little-endian lengths, a JSON header, a binary payload."""
    h = json.dumps(header).encode()
    sock.sendall(_HEAD.pack(len(h), len(payload)) + h + payload)


def recv_message(sock: socket.socket) -> tuple[dict[str, Any], bytes]:
    hn, pn = _HEAD.unpack(_recv_exact(sock, _HEAD.size))
    header = json.loads(_recv_exact(sock, hn))
    return header, _recv_exact(sock, pn) if pn else b""


class SimBridge:
    """Start the simulation subprocess and talk to it.

    Parameters
    ----------
    design : dict
        ``{"core": capacity_dict}`` for ``eavs_core``, or
        ``{"verilog": [paths], "toplevel": name}`` for any design with the
        same bus ports (the bridge's own tests use a small one).
    simulator : {"verilator", "icarus"}
    build_dir : path
        Where the build is kept (reused when the design is unchanged).
    start_timeout_s : float
        Deadline for generating + compiling + connecting.
    source_pause, sink_pause : float
        Probability of idle / backpressure cycles on the streams.
    """

    def __init__(
        self,
        design: dict[str, Any],
        simulator: str = "verilator",
        build_dir: str | Path | None = None,
        *,
        start_timeout_s: float = 600.0,
        source_pause: float = 0.0,
        sink_pause: float = 0.0,
        seed: int = 0,
    ):
        if simulator not in ("verilator", "icarus"):
            raise ValueError(f"simulator must be 'verilator' or 'icarus', not {simulator!r}")
        self._tmp = tempfile.TemporaryDirectory(prefix="eavs-bridge-")
        path = os.path.join(self._tmp.name, "bridge.sock")
        self.build_dir = Path(build_dir) if build_dir else DEFAULT_BUILD_ROOT / "default"
        self.build_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.build_dir / f"bridge-{os.getpid()}-{id(self):x}.log"
        self.requests = 0
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        listener.listen(1)
        listener.settimeout(0.5)
        plan = {
            "design": design,
            "simulator": simulator,
            "build_dir": str(self.build_dir),
            "socket": path,
            "source_pause": source_pause,
            "sink_pause": sink_pause,
            "seed": seed,
        }
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        env.pop("PYTEST_CURRENT_TEST", None)
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "host.rtl_server", json.dumps(plan)],
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        deadline = time.monotonic() + start_timeout_s
        self.sock = None
        try:
            while self.sock is None:
                try:
                    self.sock, _ = listener.accept()
                except socket.timeout:
                    if self.proc.poll() is not None:
                        raise BridgeError(f"simulation exited ({self.proc.returncode}) before connecting:\n{self.log_tail()}")
                    if time.monotonic() > deadline:
                        self.close()
                        raise BridgeError(f"simulation did not connect within {start_timeout_s:g} s:\n{self.log_tail()}")
        finally:
            listener.close()
        self.sock.settimeout(None)
        hello, _ = recv_message(self.sock)
        self.info = hello

    def log_tail(self, n: int = 40) -> str:
        try:
            self._log.flush()
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except (OSError, ValueError):
            return "(no log)"

    def call(self, op: str, payload: bytes = b"", **args: Any) -> tuple[dict[str, Any], bytes]:
        if self.sock is None:
            raise BridgeError("simulation is closed")
        try:
            send_message(self.sock, {"op": op, **args}, payload)
            reply, data = recv_message(self.sock)
        except (ConnectionError, OSError) as e:
            raise BridgeError(f"simulation stopped answering ({e}):\n{self.log_tail()}") from None
        self.requests += 1
        if "error" in reply:
            raise BridgeError(f"simulation failed on {op}: {reply['error']}")
        return reply, data

    def step(self, cycles: int = 64) -> None:
        """Advance simulated time."""
        self.call("step", cycles=cycles)

    def close(self) -> None:
        if self.sock is not None:
            try:
                send_message(self.sock, {"op": "quit"})
                recv_message(self.sock)
            except (ConnectionError, OSError):
                pass
            self.sock.close()
            self.sock = None
        if getattr(self, "proc", None) is not None and self.proc.poll() is None:
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self._log.closed:
            self._log.close()
        self._tmp.cleanup()

    def __del__(self):  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass


class SimMMIO:
    """``pynq.MMIO``'s ``read``/``write`` over the bridge (AXI4-Lite in simulation)."""

    def __init__(self, bridge: SimBridge):
        self.bridge = bridge

    def read(self, offset: int = 0, length: int = 4) -> int:
        if length != 4:
            raise ValueError(f"only 32-bit register reads are simulated, not {length} bytes")
        return int(self.bridge.call("read", offset=int(offset))[0]["value"])

    def write(self, offset: int, data: int) -> None:
        self.bridge.call("write", offset=int(offset), value=int(data) & 0xFFFFFFFF)


class SimChannel:
    """One AXI DMA channel (simple mode) over the bridge, with PYNQ's API.

    ``idle`` asks the simulation to run until the channel is idle (send) or a
    frame is in (receive), at most ``poll_cycles`` cycles: the bridge returns
    at the edge where that happened, so a long limit costs no extra simulated
    time, only fewer round trips.
    """

    def __init__(self, bridge: SimBridge, direction: str, poll_cycles: int):
        self.bridge, self.direction, self.poll_cycles = bridge, direction, poll_cycles
        self._active = None
        self._data = None
        self.transferred = 0

    def transfer(self, array, start: int = 0, nbytes: int = 0) -> None:
        if self._active is not None:
            raise RuntimeError("DMA channel not idle")
        view = np.asarray(array).reshape(-1).view(np.uint8)
        nbytes = nbytes or view.size - start
        if start % 4 or nbytes % 4:
            raise ValueError(f"DMA transfers here are whole 32-bit words: start={start}, nbytes={nbytes}")
        self._active = (view, start, nbytes)
        self._data = None
        if self.direction == "send":
            self.bridge.call("send", view[start : start + nbytes].tobytes())
        else:
            self.bridge.call("recv_arm", nbytes=nbytes)

    @property
    def idle(self) -> bool:
        if self._active is None:
            return True
        if self.direction == "send":
            return bool(self.bridge.call("send_idle", cycles=self.poll_cycles)[0]["idle"])
        if self._data is None:
            reply, data = self.bridge.call("recv_poll", cycles=self.poll_cycles)
            if not reply["ready"]:
                return False
            self._data = data
        return True

    def wait(self) -> None:
        if not self.idle:
            raise RuntimeError("wait() on a busy simulated channel (the driver polls idle first)")
        view, start, nbytes = self._active
        if self.direction == "recv":
            got = self._data[:nbytes]
            view[start : start + len(got)] = np.frombuffer(got, np.uint8)
            self.transferred = len(got)
        else:
            self.transferred = nbytes
        self._active = None

    def stop(self) -> None:
        self._active = None
        self.bridge.call("flush")

    def start(self) -> None:
        self._active = None


class SimDMA:
    """``pynq.lib.dma.DMA``'s two channels over the bridge."""

    def __init__(self, bridge: SimBridge, buffer_max_size: int = (1 << 26) - 1, poll_cycles: int = 8192):
        self.buffer_max_size = buffer_max_size
        self.sendchannel = SimChannel(bridge, "send", poll_cycles)
        self.recvchannel = SimChannel(bridge, "recv", poll_cycles)


def hardware_digest() -> str:
    """Hash of every source the RTL depends on (:func:`sim.build.rtl_sources`:
    ``hw/*.py`` and the repository modules they import, such as
    ``sw/events.py``): a build made from other sources is stale."""
    from sim.build import rtl_sources  # standard library only: no amaranth here

    h = hashlib.sha1()
    for p in rtl_sources(ROOT):
        h.update(str(p.relative_to(ROOT)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def default_build_dir(capacity: Capacity, simulator: str) -> Path:
    """``build/host-rtl/<simulator>-<capacity>-<hw digest>``: rebuilt when the RTL's sources change."""
    tag = "-".join(f"{v}" for v in capacity.to_dict().values())
    path = DEFAULT_BUILD_ROOT / f"{simulator}-{tag}-{hardware_digest()}"
    _prune_stale(path)
    return path


def _prune_stale(current: Path, idle_s: float = 600.0) -> None:
    """Remove builds of the same simulator and capacity from older hardware
    sources (a Verilator build is ~150 MB), once untouched for ``idle_s``."""
    import shutil

    prefix = current.name.rsplit("-", 1)[0] + "-"
    if not current.parent.is_dir():
        return
    now = time.time()
    for d in current.parent.iterdir():
        if d.is_dir() and d != current and d.name.startswith(prefix) and len(d.name) == len(current.name):
            try:
                if now - d.stat().st_mtime > idle_s:
                    shutil.rmtree(d, ignore_errors=True)
            except OSError:
                pass


def _allocate(shape, dtype=np.uint32, **kw):
    return np.zeros(shape, dtype)


class RtlBackend(Backend):
    """``eavs_core`` in Verilator/Icarus, driven by the board's driver code.

    Parameters
    ----------
    capacity : Capacity
        The core to generate (default: ``hw.spec.capacity.Capacity()``).
    simulator : {"verilator", "icarus"}
    build_dir : path, optional
        Build cache; default :func:`default_build_dir` (keyed by simulator,
        capacity and a digest of the hardware sources, so an edited core is
        rebuilt rather than a stale one simulated).
    timeout_s : float
        The driver's deadline per wait (simulated cores are slow: generous).
    clock_hz : float, optional
        Clock to report latency at (e.g. the target board's).
    source_pause, sink_pause : float
        Random idle / backpressure probability on the streams.
    """

    kind = "rtl"

    def __init__(
        self,
        capacity: Capacity | None = None,
        *,
        simulator: str = "verilator",
        build_dir: str | Path | None = None,
        timeout_s: float = 120.0,
        clock_hz: float | None = None,
        source_pause: float = 0.0,
        sink_pause: float = 0.0,
        start_timeout_s: float = 900.0,
    ):
        capacity = capacity or Capacity()
        self.simulator = simulator
        if not isinstance(capacity, Capacity):
            raise TypeError(f"capacity must be a hw.spec.capacity.Capacity, not {type(capacity).__name__}")
        if build_dir is None:
            build_dir = default_build_dir(capacity, simulator)
        self.bridge = SimBridge(
            {"core": capacity.to_dict()},
            simulator,
            build_dir,
            start_timeout_s=start_timeout_s,
            source_pause=source_pause,
            sink_pause=sink_pause,
        )
        try:
            self.driver = CoreDriver(
                SimMMIO(self.bridge), SimDMA(self.bridge), _allocate, timeout_s=timeout_s, poll=self.bridge.step
            )
        except Exception:
            self.bridge.close()
            raise
        if self.driver.capacity != capacity:
            self.bridge.close()
            raise BridgeError(f"simulated core reports capacity {self.driver.capacity}, generated for {capacity}")
        super().__init__(capacity, clock_hz)

    def _load(self, net) -> None:
        self.driver.load_model(net)

    def _run_batch(self, spikes):
        return results_fields(self.driver.run(spikes))

    def close(self) -> None:
        self.bridge.close()

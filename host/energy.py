"""Energy per inference: measured on boards with power rails, estimated elsewhere.

Two figures, never confused (docs/design.md section 8), so every
:class:`EnergyReport` carries ``kind`` = ``"measured"`` or ``"estimated"`` and
prints it first.

Measured
    The rails a board's entry in ``boards.toml`` names (``hw.spec.boards``) are
    read with PYNQ's own sensor classes: ``pynq.get_rails()`` (PMBus /
    libsensors: ZCU104, ZCU102, Ultra96v2) or Linux hwmon sysfs files through
    ``pynq.pmbus.SysFSSensor`` (KV260). :func:`measure_energy` records them
    with ``pynq.DataRecorder``: first the idle board, then while the batch
    runs (repeated until the recording is long enough to hold several
    samples). Energy per inference is the integral of the summed rail power
    over the active interval divided by the inferences run; the integral is
    the mean sampled power times the exact wall-clock duration, which is the
    sample-and-hold integral without losing the partial intervals at the two
    ends. The idle power and the dynamic share (active minus idle) are
    reported separately.
Estimated
    Where there are no rails (PYNQ-Z1/Z2, no board), :func:`estimate_energy`
    uses ``sw.energy`` (counted operations times per-operation energies, with
    the source cited there).

numpy + pynq only (pandas comes with pynq's ``DataRecorder``).
"""

from __future__ import annotations

import glob
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

__all__ = [
    "EnergyError",
    "EnergyReport",
    "SimulatedPowerSensor",
    "board_rails",
    "rail_sensors",
    "hwmon_sensors",
    "measure_energy",
    "estimate_energy",
]


class EnergyError(ValueError):
    """Rails that cannot be found or read, or a measurement without samples."""


@dataclass
class EnergyReport:
    """One energy figure, labelled with how it was obtained.

    Attributes
    ----------
    kind : str
        ``"measured"`` (board power rails) or ``"estimated"`` (operation counts).
    energy_per_inference_j : float
        Total energy per inference (measured: all rails, idle share included).
    dynamic_per_inference_j : float or None
        Measured only: (active - idle power) x time / inferences.
    idle_power_w, active_power_w : float or None
        Mean summed rail power while idle and while inferring (measured only).
    inferences_per_s : float or None
        Inferences per second during the measured batch.
    inferences : int
        Inferences the figure is averaged over.
    rails : list of str
        Rails summed (measured), empty when estimated.
    source : str
        Where the figure comes from (rail source, or the estimate's citation).
    samples : dict
        Sensor samples taken idle and active (measured), for plots.
    """

    kind: str
    energy_per_inference_j: float
    inferences: int
    source: str
    dynamic_per_inference_j: float | None = None
    idle_power_w: float | None = None
    active_power_w: float | None = None
    inferences_per_s: float | None = None
    rails: list[str] = field(default_factory=list)
    samples: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in ("measured", "estimated"):
            raise ValueError(f"EnergyReport kind must be 'measured' or 'estimated', not {self.kind!r}")

    def __str__(self) -> str:
        lines = [f"energy per inference ({self.kind}): {_si(self.energy_per_inference_j, 'J')}"]
        if self.dynamic_per_inference_j is not None:
            lines.append(f"  dynamic share (measured, active - idle): {_si(self.dynamic_per_inference_j, 'J')}")
        if self.idle_power_w is not None:
            lines.append(f"  idle power (measured): {self.idle_power_w:.3f} W")
        if self.active_power_w is not None:
            lines.append(f"  active power (measured): {self.active_power_w:.3f} W")
        if self.inferences_per_s is not None:
            lines.append(f"  inferences/s: {self.inferences_per_s:.1f}")
        lines.append(f"  over {self.inferences} inferences; source: {self.source}")
        return "\n".join(lines)


def _si(x: float, unit: str) -> str:
    for scale, prefix in ((1, ""), (1e-3, "m"), (1e-6, "u"), (1e-9, "n"), (1e-12, "p")):
        if abs(x) >= scale:
            return f"{x / scale:.3f} {prefix}{unit}"
    return f"{x / 1e-15:.3f} f{unit}"


# -- which rails --------------------------------------------------------------------


def board_rails(board: str) -> tuple[tuple[str, ...], str]:
    """Rail names and rail source (``pynq``/``hwmon``/``none``) of a board in ``boards.toml``."""
    from hw.spec.boards import get_board

    b = get_board(board)
    return tuple(b.rails), b.rails_source


class SimulatedPowerSensor:
    """A power sensor with the interface ``pynq.DataRecorder`` samples.

    It reads ``active_w`` while ``busy()`` is true and ``idle_w`` otherwise,
    so a test (or a demo without a board) can check the whole measurement
    path against a known answer: energy per inference = ``active_w`` x busy
    time / inferences.
    """

    def __init__(self, name: str, idle_w: float, active_w: float, busy: Callable[[], bool]):
        if not (isinstance(idle_w, (int, float)) and isinstance(active_w, (int, float)) and 0 <= idle_w <= active_w):
            raise ValueError(f"need 0 <= idle_w <= active_w, not idle_w={idle_w!r} active_w={active_w!r}")
        self.name = name
        self.parents = ()
        self._idle, self._active, self._busy = float(idle_w), float(active_w), busy

    def get_value(self, parents=None) -> float:
        return self._active if self._busy() else self._idle

    @property
    def value(self) -> float:
        return self.get_value()

    def __repr__(self) -> str:
        return f"SimulatedPowerSensor({self.name!r}, idle_w={self._idle}, active_w={self._active})"


def hwmon_sensors(names: Sequence[str], root: str | Path = "/sys/class/hwmon") -> list:
    """Power sensors for ``names`` from Linux hwmon sysfs (the KV260's INA260).

    A name matches a ``powerN_label`` or, for single-channel chips, the
    chip's ``name`` file. ``powerN_input`` is in microwatts (Linux hwmon ABI).
    """
    from pynq.pmbus import SysFSSensor

    found: dict[str, Any] = {}
    available: list[str] = []
    for chip in sorted(glob.glob(os.path.join(str(root), "hwmon*"))):
        chip_name = _read_text(os.path.join(chip, "name"))
        inputs = sorted(glob.glob(os.path.join(chip, "power*_input")))
        for path in inputs:
            label = _read_text(path.replace("_input", "_label"))
            keys = [k for k in (label, chip_name if len(inputs) == 1 else None) if k]
            available.extend(keys)
            for key in keys:
                if key in names and key not in found:
                    found[key] = SysFSSensor(path, "W", f"{key}_power", 1e-6)
    missing = [n for n in names if n not in found]
    if missing:
        raise EnergyError(f"hwmon rails {missing} not found under {root}; available: {sorted(set(available))}")
    return [found[n] for n in names]


def _read_text(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def rail_sensors(names: Sequence[str], source: str, hwmon_root: str | Path = "/sys/class/hwmon") -> list:
    """Power sensors for the named rails, read the way ``source`` says."""
    if not names:
        raise EnergyError("no rails named: this board has no power monitor, energy can only be estimated")
    if source == "hwmon":
        return hwmon_sensors(names, hwmon_root)
    if source != "pynq":
        raise EnergyError(f"rail source must be 'pynq' or 'hwmon', not {source!r}")
    import pynq
    from pynq.pmbus import DerivedPowerSensor

    rails = pynq.get_rails()
    sensors = []
    for n in names:
        rail = rails.get(n)
        if rail is None:
            raise EnergyError(f"rail {n!r} not found by pynq.get_rails(); available: {sorted(rails)}")
        if rail.power is not None:
            sensors.append(rail.power)
        elif rail.voltage is not None and rail.current is not None:
            sensors.append(DerivedPowerSensor(f"{n}_power", rail.voltage, rail.current))
        else:
            raise EnergyError(f"rail {n!r} has neither a power sensor nor voltage and current sensors")
    return sensors


# -- measuring -----------------------------------------------------------------------


def measure_energy(
    run: Callable[[], Any],
    inferences: int,
    sensors: Sequence,
    *,
    idle_s: float = 1.0,
    interval: float = 0.02,
    min_active_s: float = 1.0,
    min_samples: int = 5,
    source: str = "pynq.DataRecorder",
) -> EnergyReport:
    """Record ``sensors`` idle, then while ``run()`` (one batch of
    ``inferences``) is repeated for at least ``min_active_s``.

    Returns a ``measured`` :class:`EnergyReport`. Raises :class:`EnergyError`
    if either phase holds fewer than ``min_samples`` sensor readings (a
    figure from one reading would be noise presented as a measurement).
    """
    from pynq import DataRecorder

    if not sensors:
        raise EnergyError("no sensors to record")
    if not isinstance(inferences, int) or inferences < 1:
        raise ValueError(f"inferences must be a positive integer, not {inferences!r}")
    for name, v in (("idle_s", idle_s), ("interval", interval), ("min_active_s", min_active_s)):
        if not v > 0:
            raise ValueError(f"{name} must be > 0, not {v!r}")
    names = [s.name for s in sensors]
    rec = DataRecorder(*sensors)
    rec.record(interval)  # mark 0: idle
    try:
        time.sleep(idle_s)
        rec.mark()  # mark 1: active
        repeats, t0 = 0, time.perf_counter()
        while True:
            run()
            repeats += 1
            active = time.perf_counter() - t0
            if active >= min_active_s:
                break
        rec.mark()  # mark 2: after (discarded)
    finally:
        rec.stop()
    frame = rec.frame
    per_rail = frame[names].to_numpy(np.float64)
    power = per_rail.sum(axis=1)
    mark = frame["Mark"].to_numpy()
    idle, busy = power[mark == 0], power[mark == 1]
    for phase, values in (("idle", idle), ("active", busy)):
        if values.size < min_samples:
            raise EnergyError(
                f"only {values.size} sensor readings while {phase} (need {min_samples}): "
                f"lower interval ({interval} s) or raise idle_s/min_active_s"
            )
    n = inferences * repeats
    p_idle, p_active = float(idle.mean()), float(busy.mean())
    return EnergyReport(
        kind="measured",
        energy_per_inference_j=p_active * active / n,
        dynamic_per_inference_j=(p_active - p_idle) * active / n,
        idle_power_w=p_idle,
        active_power_w=p_active,
        inferences_per_s=n / active,
        inferences=n,
        rails=names,
        source=f"{source} over rails {', '.join(names)} ({interval * 1e3:.0f} ms sampling)",
        samples={"idle_w": idle, "active_w": busy},
        details={
            "active_s": active,
            "repeats": repeats,
            "batch": inferences,
            # Per rail: a board's input rail (e.g. ZCU104 "12V") already contains the
            # FPGA rails, so check which rails boards.toml sums before comparing boards.
            "per_rail_idle_w": dict(zip(names, per_rail[mark == 0].mean(axis=0).tolist())),
            "per_rail_active_w": dict(zip(names, per_rail[mark == 1].mean(axis=0).tolist())),
            "per_rail_energy_per_inference_j": dict(zip(names, (per_rail[mark == 1].mean(axis=0) * active / n).tolist())),
        },
    )


def estimate_energy(net, synaptic_ops: np.ndarray) -> EnergyReport:
    """The ``estimated`` figure of ``sw.energy`` from per-sample synaptic-op counts.

    ``synaptic_ops`` is what any back-end counts (``result.counters["synaptic_ops"]``:
    the core's own counter on the board and in simulation), so the estimate
    for a board without rails uses the operations the hardware really did.
    """
    import sw.energy as swe

    sops = np.asarray(synaptic_ops, np.int64).reshape(-1)
    nups = np.full(sops.shape, net.timesteps * sum(layer.n for layer in net.layers), np.int64)
    est = swe.estimate(net, sops, nups)
    return EnergyReport(
        kind="estimated",
        energy_per_inference_j=est.snn_energy_pj * 1e-12,
        inferences=int(sops.size),
        source=est.source,
        details={"estimate": est, "ann_energy_per_inference_j": est.ann_energy_pj * 1e-12, "ratio_ann_snn": est.ratio},
    )

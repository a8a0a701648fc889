"""Energy measurement through pynq.DataRecorder over simulated sensor sources.

The measurement path is the one used on a board; only the sensors are
stand-ins with a known answer: a sensor that reads ``active_w`` while the
batch runs and ``idle_w`` otherwise, and a fake hwmon sysfs tree read by
PYNQ's own ``SysFSSensor``.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from host.energy import (
    EnergyError,
    EnergyReport,
    SimulatedPowerSensor,
    board_rails,
    hwmon_sensors,
    measure_energy,
    rail_sensors,
)


class Load:
    """A stand-in batch: busy for ``seconds`` each call, counted."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.busy = threading.Event()
        self.calls = 0
        self.busy_s = 0.0

    def __call__(self):
        t0 = time.perf_counter()
        self.busy.set()
        time.sleep(self.seconds)
        self.busy.clear()
        self.busy_s += time.perf_counter() - t0
        self.calls += 1


def test_measured_energy_matches_known_power():
    load = Load(0.05)
    sensors = [
        SimulatedPowerSensor("VCCINT", 0.5, 2.0, load.busy.is_set),
        SimulatedPowerSensor("VCCAUX", 0.25, 0.75, load.busy.is_set),
    ]
    rep = measure_energy(load, 10, sensors, idle_s=0.3, interval=0.005, min_active_s=0.5, min_samples=3)
    assert rep.kind == "measured"
    assert rep.rails == ["VCCINT", "VCCAUX"]
    assert rep.idle_power_w == pytest.approx(0.75)  # every idle reading is exactly idle_w summed
    # The load is busy nearly all of the active phase: mean power between idle and 2.75 W, near the top.
    assert 1.75 <= rep.active_power_w <= 2.75
    assert rep.inferences == 10 * load.calls
    expected = rep.active_power_w * rep.details["active_s"] / rep.inferences
    assert rep.energy_per_inference_j == pytest.approx(expected)
    # Physically: 2.75 W while busy, 0.75 W in the gaps between batches (times measured by the load itself).
    active_s = rep.details["active_s"]
    truth = (2.75 * load.busy_s + 0.75 * (active_s - load.busy_s)) / rep.inferences
    assert rep.energy_per_inference_j == pytest.approx(truth, rel=0.2)
    assert rep.dynamic_per_inference_j == pytest.approx((rep.active_power_w - 0.75) * rep.details["active_s"] / rep.inferences)
    assert rep.inferences_per_s == pytest.approx(rep.inferences / rep.details["active_s"])
    assert rep.details["per_rail_idle_w"] == pytest.approx({"VCCINT": 0.5, "VCCAUX": 0.25})
    assert sum(rep.details["per_rail_energy_per_inference_j"].values()) == pytest.approx(rep.energy_per_inference_j)
    text = str(rep)
    assert text.startswith("energy per inference (measured)")
    assert "idle power (measured)" in text


def test_too_few_samples_is_an_error_not_a_number():
    sensors = [SimulatedPowerSensor("VCCINT", 1.0, 2.0, lambda: False)]
    with pytest.raises(EnergyError, match="sensor readings while idle"):
        measure_energy(lambda: None, 1, sensors, idle_s=0.01, interval=0.5, min_active_s=0.01)


def test_hwmon_rails_read_through_sysfs(tmp_path):
    chip = tmp_path / "hwmon0"
    chip.mkdir()
    (chip / "name").write_text("ina260_u14\n")
    (chip / "power1_input").write_text("1500000\n")  # microwatts
    other = tmp_path / "hwmon1"
    other.mkdir()
    (other / "name").write_text("ina226\n")
    (other / "power1_input").write_text("250000\n")
    (other / "power1_label").write_text("VCCINT\n")
    (other / "power2_input").write_text("1000\n")
    (other / "power2_label").write_text("VCCBRAM\n")
    sensors = hwmon_sensors(["ina260_u14", "VCCINT"], tmp_path)
    assert [s.value for s in sensors] == pytest.approx([1.5, 0.25])
    assert rail_sensors(["VCCBRAM"], "hwmon", tmp_path)[0].value == pytest.approx(0.001)
    with pytest.raises(EnergyError, match=r"hwmon rails \['nope'\] not found.*available: \['VCCBRAM', 'VCCINT', 'ina260_u14'\]"):
        hwmon_sensors(["nope"], tmp_path)
    # A measurement over the sysfs sensors: constant power, so idle == active.
    rep = measure_energy(lambda: time.sleep(0.01), 4, sensors, idle_s=0.2, interval=0.01, min_active_s=0.2, min_samples=2)
    assert rep.idle_power_w == pytest.approx(1.75)
    assert rep.active_power_w == pytest.approx(1.75)
    assert rep.dynamic_per_inference_j == pytest.approx(0.0, abs=1e-12)


def test_rail_errors_name_the_problem():
    with pytest.raises(EnergyError, match="no rails named"):
        rail_sensors([], "pynq")
    with pytest.raises(EnergyError, match="rail source must be"):
        rail_sensors(["VCCINT"], "spi")
    # On x86 there is no libsensors PMBus chip: the rail is reported missing.
    with pytest.warns(UserWarning) if _no_libsensors() else _nullcontext():
        with pytest.raises(EnergyError, match=r"rail 'VCCINT' not found by pynq.get_rails\(\)"):
            rail_sensors(["VCCINT"], "pynq")


def _no_libsensors() -> bool:
    from pynq import pmbus

    return pmbus._lib is None


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def test_board_rails_from_boards_toml():
    pytest.importorskip("hw.spec.boards")
    from hw.spec.boards import load_boards

    boards = load_boards()
    for name, b in boards.items():
        rails, source = board_rails(name)
        assert rails == tuple(b.rails) and source == b.rails_source
    # PYNQ-Z2 has no monitor: energy there is only estimated.
    if "pynq-z2" in boards:
        assert board_rails("pynq-z2")[0] == ()


def test_report_kind_is_checked():
    with pytest.raises(ValueError, match="kind must be"):
        EnergyReport(kind="guessed", energy_per_inference_j=1.0, inferences=1, source="x")
    est = EnergyReport(kind="estimated", energy_per_inference_j=2e-6, inferences=3, source="sw.energy")
    assert str(est).startswith("energy per inference (estimated): 2.000 uJ")
    assert np.isfinite(est.energy_per_inference_j)


def test_estimated_energy_from_counted_operations():
    import host
    from sw.random_net import random_qnet, random_spikes

    rng = np.random.default_rng(3)
    net = random_qnet(rng, max_inputs=12, max_neurons=8)
    be = host.open_backend("golden")
    be.load_model(net)
    res = be.infer_batch(random_spikes(rng, net, batch=4, rate=0.3))
    from host.energy import estimate_energy

    rep = estimate_energy(net, res.counters["synaptic_ops"])
    assert rep.kind == "estimated" and rep.inferences == 4
    # 0.1 pJ per accumulate, 0.4 pJ per neuron update (sw.energy's cited table), every neuron every step
    nups = net.timesteps * sum(layer.n for layer in net.layers)
    assert rep.energy_per_inference_j == pytest.approx((res.counters["synaptic_ops"].mean() * 0.1 + nups * 0.4) * 1e-12)
    assert "Horowitz" in rep.source
    assert str(rep).startswith("energy per inference (estimated)")

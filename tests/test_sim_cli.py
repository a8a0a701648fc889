"""``eavs sim``: a user's model and spikes on the simulated core, and its errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from sim.build import tool_problem
from sw.qnet import save
from sw.random_net import random_spikes


def _eavs(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "eavs", *args], capture_output=True, text=True, cwd=cwd, timeout=600)


@pytest.mark.icarus
@pytest.mark.xdist_group("sim_cli")
def test_sim_cli_model_and_npz_on_icarus(tmp_path):
    if tool_problem("icarus"):
        pytest.skip(tool_problem("icarus"))
    from sim.scenarios import random_models, test_capacity

    net = random_models(5, test_capacity(4), 1, timesteps=4)[0]
    save(net, tmp_path / "m.qnet")
    np.savez(tmp_path / "s.npz", spikes=random_spikes(np.random.default_rng(0), net, 3))
    r = _eavs("sim", "--model", str(tmp_path / "m.qnet"), "--data", str(tmp_path / "s.npz"), "--simulator", "icarus",
              "--clips", "2", "--lanes", "4", "--build-dir", str(tmp_path / "b"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2/2 samples bit-exact, 2/2 predictions equal" in r.stdout
    assert "cycles/s" in r.stdout


def test_sim_cli_errors_name_the_problem(tmp_path):
    r = _eavs("sim", "--model", str(tmp_path / "none.qnet"), "--data", "x.npz", "--simulator", "icarus")
    assert r.returncode == 2 and "none.qnet" in r.stderr
    r = _eavs("sim", "--random", "--simulator", "modelsim")
    assert r.returncode == 2 and "modelsim" in r.stderr
    from sim.scenarios import random_models, test_capacity

    net = random_models(5, test_capacity(4), 1, timesteps=4)[0]
    save(net, tmp_path / "m.qnet")
    np.savez(tmp_path / "bad.npz", spikes=np.zeros((2, 3, 1), np.uint8))
    r = _eavs("sim", "--model", str(tmp_path / "m.qnet"), "--data", str(tmp_path / "bad.npz"), "--simulator", "icarus")
    assert r.returncode == 2 and "bad.npz" in r.stderr and "shape" in r.stderr


def test_sim_amaranth_backend_agrees():
    """The Amaranth-simulator back-end of `eavs sim` reports the same comparison."""
    from sim.compare_run import simulate
    from sim.scenarios import random_models, test_capacity

    cap = test_capacity(4)
    net = random_models(6, cap, 1, timesteps=3)[0]
    r = simulate(net, random_spikes(np.random.default_rng(1), net, 2), cap, "amaranth", pauses=0.2)
    assert r.agreement.ok, r.agreement.mismatches
    assert r.agreement.exact == 2 and r.core_cycles > 0 and r.sim_cycles > r.core_cycles


@pytest.mark.slow
@pytest.mark.verilator
@pytest.mark.xdist_group("sim_cli")
def test_sim_cli_bulk_verilator_runs_many_clips(tmp_path):
    """`eavs sim --simulator verilator-bulk`: the C++ harness, every sample compared."""
    if tool_problem("verilator"):
        pytest.skip(tool_problem("verilator"))
    r = _eavs("sim", "--random", "--simulator", "verilator-bulk", "--models", "3", "--clips", "40", "--lanes", "8",
              "--build-dir", str(tmp_path / "b"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("40/40 samples bit-exact, 40/40 predictions equal; registers after each batch equal") == 3
    r = _eavs("sim", "--random", "--simulator", "verilator-bulk", "--pauses", "0.2")
    assert r.returncode == 2 and "--pauses" in r.stderr

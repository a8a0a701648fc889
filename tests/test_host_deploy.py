"""Deployment: the bundle holds what the board needs and runs from its own folder."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from host.deploy import DeployError, copy_commands, make_bundle
from hw.spec.capacity import CapacityError
from sw import qnet
from sw.random_net import random_qnet, random_spikes

ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent


@pytest.fixture
def model(tmp_path):
    rng = np.random.default_rng(11)
    net = random_qnet(rng, max_inputs=16, max_neurons=8, weight_bits=8, v_bits=12)
    path = qnet.save(net, tmp_path / "m.qnet")
    x = random_spikes(rng, net, batch=6, rate=0.3)
    np.savez(tmp_path / "s.npz", x=x, y=np.zeros(6, np.int64))
    return path


@pytest.fixture
def overlay(tmp_path):
    d = tmp_path / "build" / "overlay"
    d.mkdir(parents=True)
    (d / "eavs.bit").write_bytes(b"\x00bit")
    (d / "eavs.hwh").write_text("<hwh/>")
    return d.parent


def test_bundle_contents_and_it_runs_from_its_own_folder(tmp_path, model, overlay):
    b = make_bundle(tmp_path / "bundle", "pynq-z2", [model], overlay)
    out = b.path
    for rel in ("overlay/eavs.bit", "overlay/eavs.hwh", "models/m.qnet", "host/driver.py", "host/board.py", "sw/golden.py",
                "hw/spec/regmap.py", "hw/spec/protocol.py", "boards.toml", "notebooks/eavs_on_pynq.ipynb", "RUN.txt"):
        assert (out / rel).is_file(), rel
    for absent in ("sw/model.py", "sw/train.py", "hw/rtl/core.py", "sim", "eavs"):
        assert not (out / absent).exists(), absent
    assert "python3 -m host --backend board --board pynq-z2" in (out / "RUN.txt").read_text()
    # Run the board-side entry point with only the bundle on the path.
    code = (
        "import sys\n"
        "from host.__main__ import run\n"
        f"rc = run(['--backend', 'golden', '--board', 'pynq-z2', '--model', 'models/m.qnet', '--spikes', {str(tmp_path / 's.npz')!r}, '--energy'])\n"
        "import sw.data.media  # the board encodes raw clips too (with the face tracker)\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'amaranth', 'brevitas', 'typer'))\n"
        "ours = {m: getattr(sys.modules[m], '__file__', '') or '' for m in sys.modules if m.split('.')[0] in ('host', 'sw', 'hw')}\n"
        f"outside = sorted(m for m, f in ours.items() if f and not f.startswith({str(out)!r}))\n"
        "print('HEAVY', heavy, 'OUTSIDE', outside, 'RC', rc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=out, capture_output=True, text=True, env={"PYTHONPATH": str(out), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY [] OUTSIDE [] RC 0" in proc.stdout
    assert "accuracy:" in proc.stdout and "energy per inference (estimated)" in proc.stdout


def test_bundle_errors(tmp_path, model, overlay):
    (overlay / "overlay" / "eavs.hwh").unlink()
    with pytest.raises(DeployError, match="no hardware handoff eavs.hwh"):
        make_bundle(tmp_path / "b1", "pynq-z2", [model], overlay)
    with pytest.raises(DeployError, match="no bitstream at"):
        make_bundle(tmp_path / "b2", "pynq-z2", [model], tmp_path / "nowhere")
    (tmp_path / "b3").mkdir()
    (tmp_path / "b3" / "x").write_text("")
    with pytest.raises(DeployError, match="not empty"):
        make_bundle(tmp_path / "b3", "pynq-z2", [model], None)
    from hw.spec.boards import get_board

    cap = get_board("pynq-z2").capacity
    net = random_qnet(np.random.default_rng(0), max_inputs=8, max_neurons=4, timesteps=cap.max_timesteps)
    net.timesteps = cap.max_timesteps + 1
    qnet.save(net, tmp_path / "long.qnet")
    with pytest.raises(CapacityError, match="timesteps"):
        make_bundle(tmp_path / "b4", "pynq-z2", [tmp_path / "long.qnet"], None)
    with pytest.raises(DeployError, match="board address"):
        copy_commands(tmp_path, "bad host")


def test_eavs_deploy_command_dry_run(tmp_path, model, overlay):
    from eavs.cli import app

    res = CliRunner().invoke(app, ["deploy", "--board", "zcu104", "--model", str(model), "--bitstream", str(overlay),
                                   "--host", "192.168.2.99", "--out", str(tmp_path / "bundle"), "--dry-run"])
    assert res.exit_code == 0, res.output
    assert "$ ssh xilinx@192.168.2.99 mkdir -p /home/xilinx/eavs" in res.output
    assert "$ scp -r " in res.output and "xilinx@192.168.2.99:/home/xilinx/eavs/" in res.output
    assert "sudo -E python3 -m host --backend board --board zcu104" in res.output
    proc = subprocess.run([sys.executable, "-m", "eavs", "deploy", "--board", "nope", "--model", str(model)], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2
    assert "error: unknown board 'nope'" in proc.stderr

"""NIR import with a given time step (issue 23): a graph with 0-d (scalar) neuron
parameters and no ``dt``, written as the ``nir`` package writes it, fails with a
message naming the dt assumed and how to set it, and imports exactly once dt is
known (``eavs nir import --dt SECONDS`` or ``from_nir(..., dt=)``).

The graph is Norse 1.1's export of a LIF box (FACTS.md): 0-d parameters and
``tau = dt_norse / tau_mem_inv`` with ``dt_norse = 1e-3`` and ``tau_mem_inv =
125``, so ``tau = 8e-6`` s. Norse's per-step leak is ``dt_norse * tau_mem_inv =
0.125``; the import's leak is ``dt / tau``, so the step that reproduces it is
``dt = 0.125 * 8e-6 = 1e-6`` s, giving d = 4096 * 0.125 = 512 exactly.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from eavs.cli import app
from sw.nir_io import NIRError, from_nir

nir = pytest.importorskip("nir")

TAU = 1e-3 / 125.0  # Norse: dt / tau_mem_inv


def norse_graph():
    w1 = np.array([[1.0, -0.5, 0.25, 0.0], [0.5, 0.5, -1.0, 0.75]])
    w2 = np.array([[1.0, -1.0], [0.5, 0.25], [-0.25, 1.0]])
    scalar = lambda x: np.array(x, dtype=np.float64)  # noqa: E731  (0-d)
    lif = lambda: nir.LIF(tau=scalar(TAU), r=scalar(TAU / 1e-6), v_leak=scalar(0.0), v_threshold=scalar(1.0),  # noqa: E731
                          v_reset=scalar(0.0))  # fmt: skip
    return nir.NIRGraph(
        nodes={"input": nir.Input(np.array([4])), "0": nir.Linear(weight=w1), "1": lif(), "2": nir.Linear(weight=w2),
               "3": lif(), "output": nir.Output(np.array([3]))},
        edges=[("input", "0"), ("0", "1"), ("1", "2"), ("2", "3"), ("3", "output")],
        type_check=False,
    )


def test_a_0d_graph_without_dt_says_which_dt_was_assumed_and_imports_once_dt_is_given(tmp_path):
    path = tmp_path / "norse.nir"
    nir.write(str(path), norse_graph(), compression=None)  # 0-d datasets refuse gzip
    assert np.asarray(nir.read(str(path), type_check=False).nodes["1"].tau).shape == ()
    r = subprocess.run([sys.executable, "-m", "eavs", "nir", "import", str(path), "--out", str(tmp_path / "m.qnet"), "--timesteps", "5"],
                       capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1], timeout=120)  # fmt: skip
    assert r.returncode == 2 and not (tmp_path / "m.qnet").exists()
    assert r.stderr.strip().splitlines() == [
        "error: node '1': dt/tau = 12.5 > 1 is unstable in discrete time (dt = 0.0001 s, assumed: the graph has no 'dt'; "
        "give the source's step with `eavs nir import --dt SECONDS`)"
    ]
    r = CliRunner().invoke(app, ["nir", "import", str(path), "--out", str(tmp_path / "m.qnet"), "--timesteps", "5", "--dt", "1e-6"])
    assert r.exit_code == 0, r.output
    from sw.qnet import load

    q = load(tmp_path / "m.qnet")
    assert [layer.decay.tolist() for layer in q.layers] == [[512, 512], [512, 512, 512]]


def test_the_api_takes_dt_and_it_overrides_the_metadata():
    g = norse_graph()
    with pytest.raises(NIRError, match=r"dt = 0\.0001 s, assumed"):
        from_nir(g, timesteps=5)
    g.metadata = {"dt": 1e-4}
    with pytest.raises(NIRError, match=r"dt = 0\.0001 s, from the graph's metadata"):
        from_nir(g, timesteps=5)
    q, _ = from_nir(g, timesteps=5, dt=1e-6)
    assert q.layers[0].decay.tolist() == [512, 512]
    with pytest.raises(NIRError, match=r"--dt must be a time step in seconds > 0, not -1\.0"):
        from_nir(g, dt=-1.0)

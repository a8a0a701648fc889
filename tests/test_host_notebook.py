"""The board notebook, executed end to end on x86 with nbclient (so it cannot rot).

It runs against the golden back-end here (and against the RTL back-end in
tests/test_host_rtl.py when the simulated core is available), on a small
model whose input groups carry real encoder parameters, classifying clips
written to disk by the synthetic corpus generator.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

from sw import qnet
from sw.data import ravdess
from sw.encode import AudioEncoder, VisualEncoder, input_groups
from sw.qnet import Layer, QNet, Source

NOTEBOOK = Path(__file__).resolve().parent.parent / "host" / "notebooks" / "eavs_on_pynq.ipynb"


def small_av_model(path: Path, timesteps: int = 8, hidden: int = 12, seed: int = 0) -> Path:
    """A small random integer model with real audio + visual encoder parameters."""
    rng = np.random.default_rng(seed)
    groups = input_groups([AudioEncoder(n_mels=4, timesteps=timesteps), VisualEncoder(side=4, timesteps=timesteps)])
    w = lambda n_src, n: rng.integers(-7, 8, size=(n_src, n)).astype(np.int8)  # noqa: E731
    n_out = len(ravdess.CLASSES)
    layers = [
        Layer("fusion", hidden, [Source(g.name, w(g.size, hidden), 4) for g in groups] + [Source("fusion", w(hidden, hidden), 4, delay=1)],
              threshold=6, leak_shift=3, reset="subtract", v_bits=12),
        Layer("out", n_out, [Source("fusion", w(hidden, n_out), 4)], threshold=1, leak_shift=0, v_bits=16, spiking=False),
    ]
    net = QNet(list(ravdess.CLASSES), timesteps, groups, layers)
    return qnet.save(net, path)


@pytest.fixture(scope="module")
def clips_dir(tmp_path_factory):
    from sw.data.synth import synthesize

    return synthesize(tmp_path_factory.mktemp("clips") / "corpus", clips=4, seed=3, actors=2, workers=1)


def run_notebook(tmp_path: Path, env: dict[str, str]) -> nbformat.NotebookNode:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    nbformat.write(nb, tmp_path / "executed.ipynb")
    return nb


def outputs_text(nb) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", "") if out.get("output_type") == "stream" else str(out.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


def test_notebook_runs_end_to_end_on_golden(tmp_path, clips_dir):
    model = small_av_model(tmp_path / "model.qnet")
    nb = run_notebook(
        tmp_path,
        {"EAVS_BACKEND": "golden", "EAVS_BOARD": "pynq-z2", "EAVS_MODEL": str(model), "EAVS_CLIPS": str(clips_dir), "EAVS_MAX_CLIPS": "4", "PYTHONPATH": str(NOTEBOOK.parent.parent.parent)},
    )
    text = outputs_text(nb)
    assert "golden back-end; capacity (from boards.toml)" in text
    assert "/4 correct" in text
    assert "identical to the golden model" in text
    assert "energy per inference (estimated)" in text
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 1, "the spike raster figure"


def test_encode_and_infer_uses_the_header_encoders(tmp_path, clips_dir):
    import host
    from sw.data import ravdess as rv
    from sw.encode import encode_clip

    model = small_av_model(tmp_path / "model.qnet")
    be = host.open_backend("golden", board="pynq-z2")
    net = be.load_model(model)
    rng = np.random.default_rng(1)
    audio = (0.3 * np.sin(np.linspace(0, 2000, 16000)) * rng.random(16000)).astype(np.float32)
    frames = rng.integers(0, 256, size=(30, 4, 4)).astype(np.uint8)
    r = be.encode_and_infer(audio, 16000, frames, 30.0)
    ref = be.infer(encode_clip(net.inputs, audio, 16000, frames, 30.0))
    assert (r.prediction, r.cycles, r.counters) == (ref.prediction, ref.cycles, ref.counters)
    assert r.latency_s == pytest.approx(r.cycles / 100e6)  # pynq-z2 clock from boards.toml
    clips, _ = rv.scan(clips_dir)
    x = be.encode_files(clips[0].audio, clips[0].video)
    assert x.shape == (net.timesteps, net.n_inputs) and x.dtype == np.uint8
    assert be.classify_files(clips[0].audio, clips[0].video).prediction == be.infer(x).prediction
    with pytest.raises(FileNotFoundError, match="clip file nope.wav does not exist"):
        be.classify_files("nope.wav", clips[0].video)

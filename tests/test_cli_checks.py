"""The CLI stops a mistake before it costs minutes (issue 16, section 4).

Each mistake gets one line on stderr, exit code 2, and no stage runs: the
run directory is never created, no corpus is synthesised, torch never gets
to print its own essay.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import click
import numpy as np
import pytest
import typer

from eavs.checks import CheckError
from eavs.cli import app

ROOT = Path(__file__).resolve().parents[1]


def eavs(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "eavs", *map(str, args)], capture_output=True, text=True, cwd=ROOT, timeout=timeout)


def invoke(*args):
    from typer.testing import CliRunner

    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def one_line_error(r, *needles):
    assert r.returncode == 2, (r.returncode, r.stdout[-500:], r.stderr[-2000:])
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def test_demo_board_typo_fails_at_once_in_one_line(tmp_path):
    out = tmp_path / "run"
    r = eavs("demo", "--quick", "--board", "TYPO", "--out", out)
    one_line_error(r, "--board 'TYPO'", "unknown board 'TYPO'", "pynq-z2")
    assert not out.exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--data", "ravdes:/x"], r"--data: .*unknown kind 'ravdes'"),
        (["--data", "ravdess:/nonexistent/eavs"], r"--data: data set spec 'ravdess:/nonexistent/eavs': folder /nonexistent/eavs does not exist"),
        (["--data", "builtin:{tmp}/missing"], r"folder {tmp}/missing does not exist \(make one with `eavs data synth --out {tmp}/missing`\)"),
        (["--set", "bits=12"], r"demo config field 'bits': weight_bits must be in 2..8 .*not 12"),
        (["--set", "capacity=lanes=7x"], r"capacity overrides 'lanes=7x' for board 'pynq-z2'"),
        (["--board", "TYPO"], r"unknown board 'TYPO'"),
    ],
)
def test_demo_checks_the_whole_config_before_any_stage(tmp_path, args, message):
    out = tmp_path / "run"
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    with pytest.raises(CheckError, match=message.replace("{tmp}", re.escape(str(tmp_path)))):
        invoke("demo", "--quick", "--out", out, *args)
    assert not out.exists() and not (tmp_path / "missing").exists()
    assert not Path("/nonexistent").exists()


def test_demo_show_config_still_works_when_valid(tmp_path):
    r = invoke("demo", "--quick", "--set", "bits=4", "--show-config", "--out", tmp_path / "run")
    assert r.exit_code == 0 and '"bits": 4' in r.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--data", "builtin:{tmp}/missing"], r"folder {tmp}/missing does not exist \(make one with `eavs data synth"),
        (["--data", "ravdes:/x"], r"unknown kind 'ravdes'"),
        (["--data", "builtin:{tmp}"], r"{tmp} holds no built-in corpus \(eavs_synth.json missing\); make one with `eavs data synth"),
        (["--data", "npz:/nonexistent/e.npz"], r"file /nonexistent/e.npz not found"),
        (["--bits", "12"], r"--bits: weight_bits must be in 2..8 \(or 0 for the float model\), not 12"),
        (["--modalities", "audo"], r"--modalities: modalities must be a non-empty subset"),
        (["--reset", "half"], r"--reset: reset must be 'zero' or 'subtract', not 'half'"),
        (["--leak-shift", "13"], r"--leak-shift: leak_shift must be an integer in 0..12 \(decay 4096 >> k\), not 13"),
        (["--beta", "1.5"], r"--beta: beta must be a number in \[0, 1\]"),
        (["--readout", "votes"], r"--readout: readout must be 'membrane' or 'spikes', not 'votes'"),
    ],
)
def test_train_checks_options_before_reading_data(tmp_path, args, message):
    from sw.data.synth import MANIFEST

    corpus = tmp_path / "corpus"  # a stand-in corpus: its manifest only, so any read of it would fail differently
    corpus.mkdir()
    (corpus / MANIFEST).write_text("{}")
    base = {"--data": f"builtin:{corpus}"}
    base.update(dict(zip(args[::2], (a.replace("{tmp}", str(tmp_path)) for a in args[1::2]))))
    flat = [x for kv in base.items() for x in kv]
    with pytest.raises(CheckError, match=message.replace("{tmp}", re.escape(str(tmp_path)))):
        invoke("train", "--out", tmp_path / "run", "--no-progress", *flat)
    assert not (tmp_path / "run").exists() and not (tmp_path / "missing").exists()
    assert [p.name for p in corpus.iterdir()] == [MANIFEST]
    assert not Path("/nonexistent").exists()


def test_export_bad_checkpoints_one_line(tmp_path):
    torch = pytest.importorskip("torch")
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint\n")
    one_line_error(eavs("export", text, "--out", tmp_path / "m.qnet"), "not a PyTorch checkpoint")
    pickled = tmp_path / "pickled.pt"
    torch.save({"config": {}, "model": object()}, pickled)
    line = one_line_error(eavs("export", pickled, "--out", tmp_path / "m.qnet"), "not written by `eavs train`")
    assert "weights_only" not in line and "WeightsUnpickler" not in line
    plain = tmp_path / "plain.pt"
    torch.save({"a": 1}, plain)
    one_line_error(eavs("export", plain, "--out", tmp_path / "m.qnet"), "checkpoint has no 'config' entry")
    one_line_error(eavs("export", tmp_path, "--out", tmp_path / "m.qnet"), "is a folder")
    assert not (tmp_path / "m.qnet").exists()


OWNED = ("demo", "train", "export", "report")


def _commands():
    root = typer.main.get_command(app)
    ctx = click.Context(root, info_name="eavs")
    return root, ctx


@pytest.mark.parametrize("name", OWNED)
def test_help_has_no_placeholders_and_every_option_is_described(name):
    root, ctx = _commands()
    cmd = root.get_command(ctx, name)
    sub = click.Context(cmd, info_name=name, parent=ctx)
    text = cmd.get_help(sub)
    assert "{" not in text and "}" not in text, text
    for p in cmd.params:
        if isinstance(p, click.Option) and p.name != "help":
            assert (p.help or "").strip(), f"eavs {name} {p.opts[0]} has no description"


def test_command_list_shows_whole_first_sentences():
    root, ctx = _commands()
    text = root.get_help(ctx)
    listing = text.split("Commands:")[1]
    for name in OWNED:
        line = next(ln for ln in listing.splitlines() if ln.strip().startswith(name + " "))
        assert not line.rstrip().endswith("..."), line
        assert line.rstrip().endswith("."), line


def test_recall_of_a_class_without_samples_is_not_nan():
    from sw.metrics import evaluate, format_recall
    from sw.qnet import InputGroup, Layer, QNet, Source

    # Readout of 2 neurons, input 0 -> neuron 0 (weight 2), input 1 -> neuron 1 (weight 1).
    out = Layer("o", 2, [Source("in", np.array([[2, 0], [0, 1]], np.int8), 4)], threshold=1, leak_shift=0, spiking=False)
    net = QNet(["a", "b"], 1, [InputGroup("in", 2)], [out])
    x = np.array([[[1, 0]], [[0, 1]], [[1, 0]]], np.uint8)  # predictions a, b, a
    ev = evaluate(net, x, np.array([0, 0, 0]))  # every label is a: class b has no samples
    assert ev.recall == {"a": pytest.approx(2 / 3), "b": None}
    line = next(ln for ln in ev.lines() if ln.startswith("per-class recall"))
    assert line == "per-class recall: a 66.7%, b n/a (no samples)"
    assert "nan" not in "\n".join(ev.lines()).lower()
    assert format_recall(None) == "n/a (no samples)" and format_recall(0.5) == "50.0%"


def test_eval_on_a_missing_builtin_folder_names_it_and_creates_nothing(tmp_path):
    """`eavs eval --data builtin:DIR` once synthesised 1,000 clips into a new
    DIR; only `eavs data synth` and the demo may create a corpus."""
    missing = tmp_path / "nowhere" / "corpus"
    with pytest.raises(CheckError, match=re.escape(f"folder {missing} does not exist (make one with `eavs data synth")):
        invoke("eval", "--model", tmp_path / "m.qnet", "--data", f"builtin:{missing}")
    assert not (tmp_path / "nowhere").exists()

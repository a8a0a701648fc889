"""``eavs eval --backend rtl``: the same samples on the simulated core and on
sw.golden, compared sample by sample (prediction, readout, cycles, counters)."""

import json

import pytest
from typer.testing import CliRunner

from eavs.cli import app


def test_eval_rejects_unknown_backend(model_and_data):
    model, data = model_and_data
    result = CliRunner().invoke(app, ["eval", "--model", str(model), "--data", f"npz:{data}", "--split", "all", "--backend", "fpga"])
    assert result.exit_code != 0
    assert "--backend must be golden, rtl, board or serial, not 'fpga'" in str(result.exception or result.output)


@pytest.mark.icarus
@pytest.mark.slow
def test_eval_on_simulated_core_is_bit_exact(model_and_data, tmp_path):
    model, data = model_and_data
    out = tmp_path / "eval.json"
    result = CliRunner().invoke(
        app,
        ["eval", "--model", str(model), "--data", f"npz:{data}", "--split", "all", "--backend", "rtl",
         "--simulator", "icarus", "--json", str(out)],
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "rtl back-end on 3 samples: accuracy 1.0000; bit-exact with sw.golden" in result.output
    report = json.loads(out.read_text())["backend"]
    assert report == {**report, "kind": "rtl", "samples": 3, "accuracy": 1.0, "bit_exact": True}

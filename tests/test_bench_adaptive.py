"""bench.adaptive end to end on a tiny synthetic corpus: its fixed last line."""

import re

import pytest


@pytest.mark.slow
def test_bench_adaptive_prints_its_last_line(tmp_path, capsys):
    from bench import adaptive

    rows = adaptive.main(["--data", f"builtin:{tmp_path / 'c'}?clips=64&actors=8", "--epochs", "1", "--visual-sample", "2", "--no-rtl"])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    pattern = (r"adaptive: accuracy \d+\.\d\d% \(fixed \d+\.\d\d%\), energy \d+\.\d\d nJ \(fixed \d+\.\d\d nJ, ratio \d+\.\d{3}\), "
               r"camera-free \d+\.\d% , mean exit step \d+\.\d of 40, RTL exact (\d+/\d+|NOT RUN \(.*\))").replace("% ,", "%,")
    assert re.fullmatch(pattern, last), last
    assert {r.figure for r in rows} >= {"accuracy (test, synthetic)", "energy per inference (estimated)"}

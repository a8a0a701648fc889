"""The demo's step runner and config, on small stand-in steps (fast).

The real stages run in tests/test_demo_quick.py; here the runner's own
rules are checked: caching by key, re-running downstream of a re-run step,
``not available`` / ``failed`` / ``skipped`` recorded honestly, background
steps and prepared set-ups, and config validation with clear messages.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest

from eavs import pipeline
from eavs.demo_config import ConfigError, DemoConfig
from eavs.steps import NotAvailable, Step


@pytest.fixture
def fake_steps(monkeypatch):
    calls: list[str] = []
    opened: list[str] = []
    closed: list[str] = []

    class Sim:
        def close(self):
            closed.append("sim")

    def prep(ctx):
        opened.append(threading.current_thread().name)
        return Sim()

    def a(ctx):
        calls.append("a")
        (ctx.dir("a") / "out.txt").write_text(str(ctx.cfg.epochs))
        return {"value": ctx.cfg.epochs}

    def b(ctx):
        calls.append("b")
        assert isinstance(ctx.prepared("b"), Sim)
        return {"double": 2 * ctx.results["a"]["value"]}

    def c(ctx):
        calls.append("c")
        if ctx.cfg.board == "nowhere":
            raise NotAvailable("no such tool here")
        if ctx.cfg.board == "broken":
            raise RuntimeError("the tool crashed")
        return {"board": ctx.cfg.board, "thread": threading.current_thread().name}

    def d(ctx):
        calls.append("d")
        return {"sum": ctx.results["b"]["double"] + 1}

    def rep(ctx):
        calls.append("report")
        return {}

    steps = (
        Step("a", "first", ("epochs",), (), a),
        Step("b", "second", (), ("a",), b, prepare=prep),
        Step("c", "independent", ("board",), (), c, background=True),
        Step("d", "third", (), ("b",), d),
        Step("report", "report", (), (), rep, always=True),
    )
    monkeypatch.setattr(pipeline, "STEPS", steps)
    monkeypatch.setattr(pipeline, "STEP_NAMES", tuple(s.name for s in steps))
    return calls, opened, closed


def _run(tmp_path, **kw):
    only = kw.pop("only", None)
    force = kw.pop("force", None)
    return pipeline.run(DemoConfig(**kw), tmp_path, only=only, force=force, log=lambda m: None)


def test_steps_run_in_order_then_are_cached(tmp_path, fake_steps):
    calls, opened, closed = fake_steps
    res = _run(tmp_path, epochs=3)
    assert res["d"] == {"sum": 7}
    assert [res["stages"][n]["status"] for n in "abcd"] == ["done"] * 4
    assert calls.index("a") < calls.index("b") < calls.index("d") < calls.index("report")
    assert res["c"]["thread"].startswith("eavs-step")  # background step ran in a worker thread
    assert opened and opened[0].startswith("eavs-step") and closed == ["sim"]
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["d"] == {"sum": 7} and saved["stages"]["report"]["status"] == "done"

    calls.clear()
    res = _run(tmp_path, epochs=3)
    assert calls == ["report"]
    assert [res["stages"][n]["status"] for n in "abcd"] == ["cached"] * 4
    assert res["d"] == {"sum": 7}


def test_cached_steps_keep_their_original_time_and_when_computed(tmp_path, fake_steps, monkeypatch):
    calls, _, _ = fake_steps
    first = _run(tmp_path, epochs=3)
    a = first["stages"]["a"]
    assert a["status"] == "done" and a["computed"].endswith("UTC")
    record = json.loads((tmp_path / "a" / "step.json").read_text())
    assert (record["seconds"], record["computed"]) == (a["seconds"], a["computed"])
    # Pretend the first run took 12.5 s yesterday: a re-run must keep both.
    record.update(seconds=12.5, computed="2026-11-30 10:00:00 UTC")
    (tmp_path / "a" / "step.json").write_text(json.dumps(record))
    again = _run(tmp_path, epochs=3)
    assert again["stages"]["a"]["status"] == "cached"
    assert again["stages"]["a"]["seconds"] == 12.5
    assert again["stages"]["a"]["computed"] == "2026-11-30 10:00:00 UTC"
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["stages"]["a"]["seconds"] == 12.5


def test_changed_field_reruns_only_dependent_steps(tmp_path, fake_steps):
    calls, _, _ = fake_steps
    _run(tmp_path, epochs=3)
    calls.clear()
    res = _run(tmp_path, epochs=4)
    assert sorted(calls) == ["a", "b", "d", "report"]
    assert res["stages"]["c"]["status"] == "cached"
    assert res["d"] == {"sum": 9}
    calls.clear()
    _run(tmp_path, epochs=4, board="pynq-z1")
    assert sorted(calls) == ["c", "report"]


def test_forced_step_reruns_its_downstream(tmp_path, fake_steps):
    calls, _, _ = fake_steps
    _run(tmp_path, epochs=3)
    calls.clear()
    _run(tmp_path, epochs=3, force=["b"])
    assert sorted(calls) == ["b", "d", "report"]


def test_not_available_and_failed_are_recorded_not_faked(tmp_path, fake_steps):
    calls, _, _ = fake_steps
    res = _run(tmp_path, board="nowhere")
    assert res["stages"]["c"] == {"status": "not available", "reason": "no such tool here", "seconds": res["stages"]["c"]["seconds"]}
    assert "c" not in res
    assert pipeline.failed_stages(res) == []
    res = _run(tmp_path, board="broken")
    assert res["stages"]["c"]["status"] == "failed"
    assert "RuntimeError: the tool crashed" in res["stages"]["c"]["reason"]
    assert "Traceback" in (tmp_path / "c.error.txt").read_text()
    assert pipeline.failed_stages(res) == ["c"]
    # a failed step leaves no record: the next run tries again
    calls.clear()
    _run(tmp_path, board="pynq-z2")
    assert "c" in calls


def test_only_runs_selected_steps_and_skips_what_they_cannot_use(tmp_path, fake_steps):
    calls, _, _ = fake_steps
    res = _run(tmp_path, only=["b"])
    assert res["stages"]["a"]["status"] == "skipped"
    assert res["stages"]["b"] == {"status": "skipped", "reason": "needs a", "seconds": 0.0}
    _run(tmp_path)
    calls.clear()
    res = _run(tmp_path, only=["d"])
    assert calls == ["report"] and res["stages"]["d"]["status"] == "cached"
    with pytest.raises(ConfigError, match="unknown step 'bogus'"):
        _run(tmp_path, only=["bogus"])


def test_demo_config_validation_and_presets(tmp_path):
    q = DemoConfig.quick_preset()
    assert q.quick and not q.ablations and q.clips < DemoConfig.full().clips
    assert DemoConfig.full().variants().keys() == {"audio+visual", "audio", "visual"}
    assert DemoConfig.from_dict(q.to_dict()) == q
    with pytest.raises(ConfigError, match="'epochs' must be a positive integer, not 0"):
        DemoConfig(epochs=0)
    with pytest.raises(ConfigError, match="'simulator' must be 'verilator' or 'icarus', not 'xsim'"):
        DemoConfig(simulator="xsim")
    with pytest.raises(ConfigError, match=r"unknown demo config field\(s\) \['epoch'\]"):
        DemoConfig.from_dict({"epoch": 3})
    bad = tmp_path / "c.json"
    bad.write_text("{")
    with pytest.raises(ConfigError, match="c.json: not valid JSON"):
        DemoConfig.load(bad)


def test_step_keys_follow_params_upstream_and_code():
    cfg = DemoConfig()
    train = next(s for s in pipeline.STEPS if s.name == "train")
    k1 = pipeline.step_key(train, cfg, {"encode": "x"})
    assert k1 == pipeline.step_key(train, DemoConfig(), {"encode": "x"})
    assert k1 != pipeline.step_key(train, DemoConfig(epochs=5), {"encode": "x"})
    assert k1 != pipeline.step_key(train, cfg, {"encode": "y"})
    assert k1 == pipeline.step_key(train, DemoConfig(board="zcu104"), {"encode": "x"})  # board is not a training input
    assert pipeline._code_digest(("sw/model.py",)) != pipeline._code_digest(("sw/train.py",))


def _eavs(*args):
    return subprocess.run([sys.executable, "-m", "eavs", *args], capture_output=True, text=True, timeout=120)


def test_demo_cli_config_and_errors(tmp_path):
    r = _eavs("demo", "--quick", "--set", "epochs=3", "--board", "zcu104", "--show-config")
    assert r.returncode == 0, r.stderr
    cfg = json.loads(r.stdout)
    assert cfg["epochs"] == 3 and cfg["quick"] is True and cfg["board"] == "zcu104"
    r = _eavs("demo", "--set", "epoch=3", "--show-config")
    assert r.returncode == 2 and "unknown demo config field(s) ['epoch']" in r.stderr and "Traceback" not in r.stderr
    r = _eavs("demo", "--set", "epochs=-1", "--show-config")
    assert r.returncode == 2 and "'epochs' must be a positive integer, not -1" in r.stderr
    r = _eavs("demo", "--only", "bogus", "--out", str(tmp_path / "run"))
    assert r.returncode == 2 and "unknown step 'bogus'; steps: data, encode" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "run").exists()
    (tmp_path / "file").write_text("")
    r = _eavs("demo", "--out", str(tmp_path / "file"))
    assert r.returncode == 2 and "exists and is not a directory" in r.stderr

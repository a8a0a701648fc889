"""The verdict: hardware results against the golden model and the cycle model.

Every simulator back-end (Verilator, Icarus, the Amaranth simulator) ends up
with :class:`hw.spec.protocol.Results` per batch plus the registers read after
it; this module computes what they must be from :func:`sw.golden.run` through
:func:`hw.spec.expected.expected_results` (the one definition) and lists every difference, sample by
sample and field by field. Exact equality only: a difference of one cycle or
one membrane unit is a failure.

numpy only (the Amaranth back-end and ``eavs sim`` import it too).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hw.spec import protocol, regmap
from hw.spec.capacity import Capacity
from hw.spec.expected import expected_results
from sw.golden import GoldenResult, run as golden_run
from sw.qnet import QNet

__all__ = ["Expected", "expected", "compare_results", "compare_registers", "compare_load", "Agreement"]


@dataclass
class Expected:
    """What the core must report for a batch (one entry per sample)."""

    results: protocol.Results
    golden: GoldenResult


def expected(net: QNet, spikes: np.ndarray, capacity: Capacity | int) -> Expected:
    """Golden results and cycle counts of ``spikes [B, T, N_in]`` on ``net``:
    :func:`hw.spec.expected.expected_results` of the golden run.

    ``capacity`` (or just the lane count P) fixes the cycle model.
    """
    lanes = capacity if isinstance(capacity, int) else capacity.lanes
    g = golden_run(net, spikes)
    return Expected(expected_results(net, g, spikes, lanes), g)


_FIELDS = ("errors", "prediction", "cycles", "in_events", "spikes", "synaptic_ops", "exit_step")


def exact_samples(got: protocol.Results, exp: protocol.Results) -> np.ndarray:
    """Per sample (of the shorter batch): every record field and the readout
    of ``got`` equal ``exp``'s. The one definition of an exact sample
    (:class:`Agreement`, ``bench.adaptive``)."""
    n = min(len(got.prediction), len(exp.prediction))
    same = np.ones(n, bool)
    for f in _FIELDS:
        same &= np.asarray(getattr(got, f))[:n].astype(np.int64) == np.asarray(getattr(exp, f))[:n].astype(np.int64)
    if got.readout.shape != exp.readout.shape:
        return np.zeros(n, bool)
    return same & (got.readout[:n] == exp.readout[:n]).all(axis=1)


def compare_results(got: protocol.Results, exp: protocol.Results, where: str = "") -> list[str]:
    """Every difference between two batches of results, one line each."""
    pre = f"{where}: " if where else ""
    n_got, n_exp = len(got.prediction), len(exp.prediction)
    out = []
    if n_got != n_exp:
        out.append(f"{pre}{n_got} result records, expected {n_exp}")
    for b in range(min(n_got, n_exp)):
        for name in _FIELDS:
            g, e = int(getattr(got, name)[b]), int(getattr(exp, name)[b])
            if g != e:
                extra = f" ({regmap.decode_errors(g)})" if name == "errors" else ""
                out.append(f"{pre}sample {b}: {name} = {g}{extra}, expected {e}")
        if got.readout.shape[1:] != exp.readout.shape[1:]:
            out.append(f"{pre}sample {b}: readout has {got.readout.shape[1]} values, expected {exp.readout.shape[1]}")
        elif not np.array_equal(got.readout[b], exp.readout[b]):
            bad = np.nonzero(got.readout[b] != exp.readout[b])[0]
            pairs = ", ".join(f"[{j}] {int(got.readout[b, j])} vs {int(exp.readout[b, j])}" for j in bad[:6])
            out.append(f"{pre}sample {b}: readout membranes differ at {len(bad)} neuron(s): {pairs}")
    return out


def compare_registers(regs: dict[str, int], exp: protocol.Results, samples_before: int | None, where: str = "",
                      readout: list[int] | None = None) -> list[str]:
    """Registers read after a batch against its last sample (and the sample count)."""
    pre = f"{where}: " if where else ""
    if not len(exp.prediction):
        return []
    last = len(exp.prediction) - 1
    want = {
        "CYCLES": int(exp.cycles[last]),
        "IN_EVENTS": int(exp.in_events[last]),
        "SPIKES": int(exp.spikes[last]),
        "SOPS": int(exp.synaptic_ops[last]),
        "PREDICTION": int(exp.prediction[last]),
        "SAMPLE_ERRORS": int(exp.errors[last]),
        "ERROR": int(np.bitwise_or.reduce(exp.errors)) if len(exp.errors) else 0,
    }
    if samples_before is not None:
        want["SAMPLES"] = (samples_before + len(exp.prediction)) & 0xFFFFFFFF
    out = []
    for name, value in want.items():
        if name in regs and int(regs[name]) != value:
            out.append(f"{pre}register {name} = {int(regs[name])}, expected {value}")
    if "STATUS" in regs:
        st = regmap.decode_fields("STATUS", int(regs["STATUS"]))
        if st["busy"] or not st["done"]:
            out.append(f"{pre}STATUS = {st} after the batch, expected done and not busy")
        if st["error"] != int(want["ERROR"] != 0):
            out.append(f"{pre}STATUS.error = {st['error']} but ERROR = {regs.get('ERROR')}")
    if readout is not None and list(readout) != [int(v) for v in exp.readout[last]]:
        out.append(f"{pre}READOUT window = {list(readout)}, expected {[int(v) for v in exp.readout[last]]}")
    return out


def compare_load(regs: dict[str, int], net: QNet | None, where: str = "", expect_valid: bool = True,
                 expect_errors: tuple[str, ...] = ()) -> list[str]:
    """Registers after a model load: validity, errors and the model info registers."""
    pre = f"{where}: " if where else ""
    out = []
    st = regmap.decode_fields("STATUS", int(regs["STATUS"]))
    errors = regmap.decode_errors(int(regs["ERROR"]))
    if bool(st["model_valid"]) != expect_valid:
        out.append(f"{pre}STATUS.model_valid = {st['model_valid']} after the load, expected {int(expect_valid)} (ERROR {errors})")
    if sorted(errors) != sorted(expect_errors):
        out.append(f"{pre}ERROR after the load = {errors}, expected {list(expect_errors)}")
    if expect_valid and net is not None:
        want = {
            "MODEL_INPUTS": net.n_inputs,
            "MODEL_TIMESTEPS": net.timesteps,
            "MODEL_LAYERS": len(net.layers),
            "MODEL_OUTPUTS": net.readout.n,
        }
        for name, value in want.items():
            if name in regs and int(regs[name]) != value:
                out.append(f"{pre}register {name} = {int(regs[name])}, expected {value}")
    return out


@dataclass
class Agreement:
    """Summary of a comparison for users (``eavs sim``) and the benchmark."""

    samples: int
    exact: int
    predictions_equal: int
    cycles: int
    mismatches: list[str]

    @property
    def ok(self) -> bool:
        return not self.mismatches and self.exact == self.samples

    @classmethod
    def of(cls, got: protocol.Results, exp: protocol.Results, mismatches: list[str]) -> "Agreement":
        n = min(len(got.prediction), len(exp.prediction))
        exact = int(exact_samples(got, exp).sum())
        preds = int((got.prediction[:n] == exp.prediction[:n]).sum())
        return cls(len(exp.prediction), exact, preds, int(got.cycles[:n].sum()), list(mismatches))

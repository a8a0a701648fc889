"""Early-exit calibration (issue 20): choose a model's exit rule (margin M,
min_step t_min) on the validation split, for a stated accuracy budget.

One full golden run of the validation clips gives everything: the readout's
decision quantity after every step (``GoldenResult.readout_steps``) and the
events every layer consumed at every step (``layer_events_all``). Any rule's
exit steps then follow from :func:`sw.golden.exit_steps` without running the
network again, and its estimated energy from per-step prefix sums of the
same terms :func:`sw.energy.estimate` prices (accumulates, neuron updates,
weight-row reads), so a grid of hundreds of rules costs a few array passes.

The budget: the lowest estimated energy whose predictions lose at most
``tolerance`` percent of the validation clips that the same model's full
(all-T) run classifies correctly; ties go to the larger margin (the safer
rule). Losses are counted clip by clip, so clips a rule happens to get right
where the full run did not never pay for clips it gets wrong: a net accuracy
budget let a rule chosen on 163 validation clips (fixed-cost accuracy
87.7 %, the rule 88.3 %) lose 5.8 points on the test clips (bench.adaptive,
synthetic corpus). The budget implies accuracy within ``tolerance`` points. The curve printed is every grid point's
(M, t_min, accuracy, energy, mean exit step); :func:`pareto` keeps the ones
no other point beats on both accuracy and energy.

Every energy here is **estimated** (sw.energy, Horowitz 45 nm), on whatever
data the caller gives (the demo's: the synthetic corpus).

numpy only (it runs on the board like sw.golden).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from sw import golden
from sw.energy import E_AC_PJ, E_NEURON_PJ, E_SRAM_BIT_PJ
from sw.qnet import ExitRule, QNet

__all__ = ["ExitPoint", "Calibration", "step_energy_pj", "exit_curve", "pareto", "calibrate", "margin_grid",
           "CascadePoint", "CascadeCalibration", "calibrate_cascade", "stage_rules"]


@dataclass(frozen=True)
class ExitPoint:
    """One rule on the curve; ``margin`` None is the fixed-cost run (all T steps)."""

    margin: int | None
    min_step: int
    accuracy: float
    energy_pj: float  # estimated, mean per inference
    mean_exit_step: float
    lost: float = 0.0  # fraction of clips the full run gets right and this rule gets wrong

    def label(self) -> str:
        return "all T steps" if self.margin is None else f"M={self.margin} t_min={self.min_step}"


@dataclass
class Calibration:
    """The curve, the full run and the chosen point (validation split)."""

    points: list[ExitPoint]
    full: ExitPoint
    chosen: ExitPoint
    tolerance: float
    samples: int

    @property
    def rule(self) -> ExitRule | None:
        """The rule to write into the model (None: no rule saves energy within the budget)."""
        c = self.chosen
        return None if c.margin is None else ExitRule(int(c.margin), int(c.min_step))

    def lines(self, all_points: bool = False) -> list[str]:
        pts = self.points if all_points else pareto(self.points)
        out = [f"early-exit curve on the validation split ({self.samples} clips; energy estimated, sw.energy): "
               f"{len(self.points)} rules tried, {'all' if all_points else 'Pareto front'} shown",
               f"  {'rule':<22} {'accuracy':>9} {'energy nJ':>10} {'mean exit step':>15}"]
        for p in sorted(pts, key=lambda p: p.energy_pj):
            mark = "  <- chosen" if p == self.chosen else ""
            out.append(f"  {p.label():<22} {100 * p.accuracy:8.2f}% {p.energy_pj / 1e3:10.2f} {p.mean_exit_step:15.2f}{mark}")
        f, c = self.full, self.chosen
        out.append(f"  full run: accuracy {100 * f.accuracy:.2f}%, energy {f.energy_pj / 1e3:.2f} nJ (estimated), "
                   f"{f.mean_exit_step + 1:.0f} steps")
        out.append(f"chosen ({c.label()}; lowest energy losing at most {self.tolerance:g}% of the clips the full run gets right): "
                   f"accuracy {100 * c.accuracy:.2f}%, energy {c.energy_pj / 1e3:.2f} nJ "
                   f"(ratio {c.energy_pj / f.energy_pj:.3f}), mean exit step {c.mean_exit_step:.2f}, lost {100 * c.lost:.2f}% of clips")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"points": [asdict(p) for p in self.points], "full": asdict(self.full), "chosen": asdict(self.chosen),
                "tolerance": self.tolerance, "samples": self.samples, "kind": "estimated energy, validation split"}


def step_energy_pj(net: QNet, layer_events: np.ndarray, lanes: int) -> np.ndarray:
    """Estimated energy of each sample's step t alone, ``[B, T]`` (pJ).

    The per-step share of :func:`sw.energy.estimate`'s SNN total: every event
    of layer l adds ``n_l`` accumulates and reads ``ceil(n_l / lanes)`` weight
    rows of ``lanes x bits``; every step updates every neuron. Summed over
    steps 0..exit_step it is that sample's estimated energy with the exit.
    """
    ev = np.asarray(layer_events, np.float64)
    n = np.array([layer.n for layer in net.layers], np.float64)
    row_bits = np.array([math.ceil(layer.n / lanes) * lanes * max(s.weight_bits for s in layer.sources)
                         for layer in net.layers], np.float64)
    per_event = n * E_AC_PJ + row_bits * E_SRAM_BIT_PJ
    return ev @ per_event + n.sum() * E_NEURON_PJ


def margin_grid(readout_steps: np.ndarray, count: int = 48) -> list[int]:
    """Candidate margins: 0 and ``count`` quantiles of the margins seen, plus
    one above the largest (the rule that never fires before T-1)."""
    m = golden.margins(readout_steps).ravel()
    qs = np.quantile(m, np.linspace(0.0, 1.0, count)) if m.size else np.zeros(1)
    return sorted({0, *(int(math.ceil(v)) for v in qs)})


def exit_curve(net: QNet, readout_steps: np.ndarray, layer_events_all: np.ndarray, y: np.ndarray, lanes: int,
               margins: list[int] | None = None, min_steps: list[int] | None = None) -> tuple[list[ExitPoint], ExitPoint]:
    """Every (margin, min_step) of the grid on one full golden run (its
    ``readout_steps`` and ``layer_events_all``) against labels ``y``.

    Returns ``(points, full_point)``.
    """
    q = np.asarray(readout_steps, np.int64)
    B, T = q.shape[:2]
    y = np.asarray(y)
    if y.shape != (B,):
        raise ValueError(f"labels must be [{B}], not {list(y.shape)}")
    cum = np.cumsum(step_energy_pj(net, layer_events_all, lanes), axis=1)
    rows = np.arange(B)
    margins = margin_grid(q) if margins is None else margins
    min_steps = sorted(set(range(0, T, max(1, T // 10))) | {T - 1}) if min_steps is None else min_steps

    full_ok = np.argmax(q[:, T - 1], axis=1) == y

    def point(margin: int | None, t_min: int) -> ExitPoint:
        ex = golden.exit_steps(q, margin, t_min)
        ok = np.argmax(q[rows, ex], axis=1) == y
        return ExitPoint(margin, t_min, float(np.mean(ok)), float(cum[rows, ex].mean()), float(ex.mean()),
                         float(np.mean(full_ok & ~ok)))

    points = [point(int(m), int(t)) for m in margins for t in min_steps]
    return points, point(None, T - 1)


def pareto(points: list[ExitPoint]) -> list[ExitPoint]:
    """The points no other point beats: lower energy at higher or equal accuracy."""
    best, out = -1.0, []
    for p in sorted(points, key=lambda p: (p.energy_pj, -p.accuracy)):
        if p.accuracy > best:
            out.append(p)
            best = p.accuracy
    return out


def calibrate(net: QNet, x_val: np.ndarray, y_val: np.ndarray, lanes: int, tolerance: float = 0.5,
              batch: int = 128) -> Calibration:
    """Choose the exit rule on validation clips ``x_val`` ``[B, T, N_in]``.

    ``tolerance`` is a percentage of the validation clips (0.5: at most one
    clip in 200 that the full run gets right may come out wrong). Any rule already in ``net``
    is ignored: the full run is all T steps.
    """
    if not (isinstance(tolerance, (int, float)) and tolerance >= 0):
        raise ValueError(f"tolerance must be a number of accuracy points >= 0, not {tolerance!r}")
    if len(x_val) == 0:
        raise ValueError("no validation clips: cannot calibrate an exit rule")
    plain = QNet(net.classes, net.timesteps, net.inputs, net.layers, net.version, net.metadata, exit=None)
    parts = [golden.run(plain, x_val[i:i + batch]) for i in range(0, len(x_val), batch)]
    q = np.concatenate([p.readout_steps for p in parts])
    events = np.concatenate([p.layer_events_all for p in parts])
    points, full_point = exit_curve(plain, q, events, y_val, lanes)
    ok = [p for p in points if p.lost <= tolerance / 100 + 1e-12]
    chosen = min(ok, key=lambda p: (p.energy_pj, -p.margin)) if ok else full_point
    if chosen.energy_pj >= full_point.energy_pj:
        chosen = full_point
    return Calibration(points, full_point, chosen, float(tolerance), int(len(x_val)))



# -- the cascade ---------------------------------------------------------------------


@dataclass(frozen=True)
class CascadePoint:
    """One operating point of the cascade and/or early exit.

    ``family``: ``exit`` (no cascade: the fused network with rule
    (margin, min_step)), ``cascade`` (the gate (gate_margin, gate_min_step),
    the fused network all T steps), ``both``, or ``fixed`` (neither).
    ``margin`` None: the fused network runs all T steps.
    """

    family: str
    gate_margin: int | None
    gate_min_step: int
    margin: int | None
    min_step: int
    accuracy: float
    energy_pj: float  # estimated, mean per inference, both stages
    mean_exit_step: float  # of the deciding stage
    camera_free: float  # fraction of clips decided by the first stage alone
    lost: float = 0.0  # fraction of clips the fixed run gets right and this point gets wrong

    def label(self) -> str:
        g = "no cascade" if self.gate_margin is None else f"gate M={self.gate_margin} t_min={self.gate_min_step}"
        e = "all T" if self.margin is None else f"exit M={self.margin} t_min={self.min_step}"
        return f"{g}; {e}"


@dataclass
class CascadeCalibration:
    """The three curves (exit alone, cascade alone, both), the fixed run and
    the chosen point, on the validation split."""

    points: list[CascadePoint]
    fixed: CascadePoint
    chosen: CascadePoint
    tolerance: float
    samples: int

    def rules(self) -> tuple[ExitRule | None, ExitRule | None]:
        """``(gate rule of the first stage, exit rule of the fused network)`` to write into the model."""
        c = self.chosen
        g = None if c.gate_margin is None else ExitRule(int(c.gate_margin), int(c.gate_min_step))
        e = None if c.margin is None else ExitRule(int(c.margin), int(c.min_step))
        return g, e

    def front(self, family: str) -> list[CascadePoint]:
        return pareto([p for p in self.points if p.family == family])  # type: ignore[arg-type]

    def lines(self) -> list[str]:
        f, c = self.fixed, self.chosen
        out = [f"adaptive-inference curves on the validation split ({self.samples} clips; energy estimated, sw.energy; "
               f"{len(self.points)} operating points tried); Pareto fronts:"]
        for fam in ("exit", "cascade", "both"):
            out.append(f"  {fam}:")
            for p in self.front(fam):
                out.append(f"    {p.label():<58} acc {100 * p.accuracy:6.2f}%  {p.energy_pj / 1e3:8.2f} nJ  "
                           f"steps {p.mean_exit_step + 1:5.1f}  camera-free {100 * p.camera_free:5.1f}%")
        out.append(f"  fixed-cost run: accuracy {100 * f.accuracy:.2f}%, energy {f.energy_pj / 1e3:.2f} nJ (estimated)")
        out.append(f"chosen ({c.family}: {c.label()}; lowest energy losing at most {self.tolerance:g}% of the clips the fixed run gets right): "
                   f"accuracy {100 * c.accuracy:.2f}%, energy {c.energy_pj / 1e3:.2f} nJ (ratio {c.energy_pj / f.energy_pj:.3f}), "
                   f"mean steps {c.mean_exit_step + 1:.2f}, camera-free {100 * c.camera_free:.1f}%, lost {100 * c.lost:.2f}% of clips")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"points": [asdict(p) for p in self.points], "fixed": asdict(self.fixed), "chosen": asdict(self.chosen),
                "tolerance": self.tolerance, "samples": self.samples, "kind": "estimated energy, validation split"}


@dataclass
class _Stage:
    """Per rule of one stage: exit steps, predictions, energies, margins at the exit."""

    rules: list[tuple[int | None, int]]
    exit: np.ndarray  # [R, B]
    pred: np.ndarray  # [R, B]
    energy: np.ndarray  # [R, B]
    margin: np.ndarray  # [R, B]


def _full_run(net: QNet, x: np.ndarray, batch: int) -> tuple[np.ndarray, np.ndarray]:
    plain = QNet(net.classes, net.timesteps, net.inputs, net.layers, net.version, net.metadata)
    parts = [golden.run(plain, x[i:i + batch]) for i in range(0, len(x), batch)]
    return np.concatenate([p.readout_steps for p in parts]), np.concatenate([p.layer_events_all for p in parts])


def _stage(net: QNet, q: np.ndarray, events: np.ndarray, lanes: int, rules: list[tuple[int | None, int]]) -> _Stage:
    cum = np.cumsum(step_energy_pj(net, events, lanes), axis=1)
    rows = np.arange(len(q))
    ex = np.stack([golden.exit_steps(q, m, t) for m, t in rules])
    at = q[rows[None, :], ex]  # [R, B, n]
    return _Stage(rules, ex, np.argmax(at, axis=2), cum[rows[None, :], ex], golden.margins(at))


def stage_rules(q: np.ndarray, count: int, min_steps: list[int]) -> list[tuple[int | None, int]]:
    """A grid of exit rules (margin quantiles x min steps) plus ``(None, T-1)``: all T steps."""
    T = q.shape[1]
    return [(m, t) for m in margin_grid(q, count) for t in min_steps] + [(None, T - 1)]


def calibrate_cascade(net: QNet, x_val: np.ndarray, y_val: np.ndarray, lanes: int, tolerance: float = 0.5,
                      batch: int = 128, count: int = 24) -> CascadeCalibration:
    """Choose the first stage's gate and the fused network's exit rule on the
    validation clips ``x_val`` (laid out as ``net``'s inputs): the lowest
    estimated energy losing at most ``tolerance`` percent of the clips the
    fixed-cost run (the fused network, all T steps, no cascade) gets right."""
    from sw.cascade import stage_inputs

    if net.cascade is None:
        raise ValueError("the model has no cascade (field 'cascade'): use calibrate() for its exit rule alone")
    if not (isinstance(tolerance, (int, float)) and tolerance >= 0):
        raise ValueError(f"tolerance must be a number of accuracy points >= 0, not {tolerance!r}")
    if len(x_val) == 0:
        raise ValueError("no validation clips: cannot calibrate a cascade")
    y = np.asarray(y_val)
    T = net.timesteps
    steps = sorted(set(range(0, T, max(1, T // 10))) | {T - 1})
    q2, ev2 = _full_run(net, x_val, batch)
    q1, ev1 = _full_run(net.cascade, stage_inputs(net, net.cascade, x_val), batch)
    s2 = _stage(net, q2, ev2, lanes, stage_rules(q2, count, steps))
    s1 = _stage(net.cascade, q1, ev1, lanes, stage_rules(q1, count, steps[:: 2] + [T - 1]))
    ok2 = s2.pred == y[None, :]  # [R2, B]
    fixed_ok = ok2[s2.rules.index((None, T - 1))]
    points: list[CascadePoint] = []
    for i, (m1, t1) in enumerate(s1.rules):
        if m1 is None:  # no cascade: the fused network alone
            free = np.zeros(len(y), bool)
            e1 = np.zeros(len(y))
        else:
            free = s1.margin[i] >= m1
            e1 = s1.energy[i]
        ok = np.where(free[None, :], (s1.pred[i] == y)[None, :], ok2)
        energy = e1[None, :] + np.where(free[None, :], 0.0, s2.energy)
        steps_ = np.where(free[None, :], s1.exit[i][None, :], s2.exit)
        acc, en, st = ok.mean(axis=1), energy.mean(axis=1), steps_.mean(axis=1)
        lost = (fixed_ok[None, :] & ~ok).mean(axis=1)
        for j, (m2, t2) in enumerate(s2.rules):
            family = ("fixed" if m2 is None else "exit") if m1 is None else ("cascade" if m2 is None else "both")
            points.append(CascadePoint(family, m1, t1, m2, t2, float(acc[j]), float(en[j]), float(st[j]), float(free.mean()),
                                       float(lost[j])))
    fixed = next(p for p in points if p.family == "fixed")
    ok_points = [p for p in points if p.lost <= tolerance / 100 + 1e-12]
    chosen = min(ok_points, key=lambda p: (p.energy_pj, p.family != "fixed"))
    return CascadeCalibration(points, fixed, chosen, float(tolerance), int(len(y)))

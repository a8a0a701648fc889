"""Adaptive inference measured on held-out clips (issue 20): what the
calibrated cascade and early exit cost and save against the fixed-cost run
of the same model. Shared by the demo's ``adaptive`` step and
``bench.adaptive``, so both print the same figures from the same code.

Every figure says what it is: energy **estimated** (``sw.energy``'s terms
on golden counts up to each stage's exit), cycles from the **cycle model**
(``hw.spec.capacity.sample_cycles`` on every step's events with the exit
step: what the core's counter reads, the wave schedule's overrun and the
exit decision included), link bytes **counted** (4-byte DMA words: the
events up to the exit, one end-of-step marker per step run, the result
record; per stage run, by a host that stops streaming once the result
arrives; today's core writes the record only after the sample's last
marker, so this saving needs a protocol addition before a link sees it),
visual-encoder CPU time **measured** by the caller.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hw.spec import protocol
from hw.spec.capacity import sample_cycles
from sw import cascade
from sw.adaptive import step_energy_pj
from sw.qnet import QNet

__all__ = ["stage_costs", "measure", "lines"]


def stage_costs(model: QNet, report: cascade.StageReport, lanes: int) -> dict[str, np.ndarray]:
    """Per clip of one stage run (golden report): energy pJ, cycles, link bytes, to its exit."""
    g = report.golden
    return {
        "energy": step_energy_pj(model, g.layer_events, lanes).sum(axis=1),
        "cycles": np.asarray(sample_cycles(model, g.layer_events_all, lanes,
                                           g.exit_step if model.exit is not None else None), np.float64),
        "bytes": 4.0 * (g.input_spikes + g.exit_step + 1 + protocol.result_words(model.readout.n)),
    }


def measure(net: QNet, x: np.ndarray, y: np.ndarray, lanes: int, strong: np.ndarray | None = None,
            visual_s: float | None = None) -> dict[str, Any]:
    """Run ``net`` (calibrated cascade and exit rules) and its fixed-cost
    form on clips ``x`` (laid out as ``net``'s inputs) with labels ``y``.

    ``strong``: bool per clip, strong intensity (for the camera-free share
    of strong and normal clips). ``visual_s``: measured host CPU seconds of
    the visual encoder per clip.
    """
    y = np.asarray(y)
    fixed_net = cascade.fixed(net)
    fixed = cascade.run(fixed_net, x)
    res = cascade.run(net, x)
    f = stage_costs(fixed_net, fixed.second, lanes)
    B = len(y)
    cost = {k: np.zeros(B) for k in f}
    first = stage_costs(net.cascade, res.first, lanes) if res.first is not None else None
    second = stage_costs(net, res.second, lanes) if res.second is not None else None
    for k in cost:
        if first is not None:
            cost[k] += first[k]
        if second is not None:
            cost[k][res.escalated] += second[k]
    esc = res.escalated
    out: dict[str, Any] = {
        "clips": B,
        "timesteps": net.timesteps,
        "accuracy": float(np.mean(res.prediction == y)),
        "fixed_accuracy": float(np.mean(fixed.prediction == y)),
        "energy_nj": float(cost["energy"].mean() / 1e3),
        "fixed_energy_nj": float(f["energy"].mean() / 1e3),
        "cycles": float(cost["cycles"].mean()),
        "fixed_cycles": float(f["cycles"].mean()),
        "link_bytes": float(cost["bytes"].mean()),
        "fixed_link_bytes": float(f["bytes"].mean()),
        "camera_free": float(res.camera_free.mean()),
        "mean_steps": float(res.exit_step.mean() + 1),
        "escalated": int(esc.size),
        "cascade_ran": res.first is not None,
        "paid_twice_nj": float(first["energy"][esc].mean() / 1e3) if first is not None and esc.size else 0.0,
        "visual_ms_per_clip": None if visual_s is None else 1e3 * visual_s,
        "visual_ms_mean": None if visual_s is None else 1e3 * visual_s * esc.size / B,
        "kind": "energy estimated (sw.energy), cycles from the cycle model (the core's, exit included), link bytes counted, "
                "visual-encoder CPU measured",
    }
    if strong is not None and len(strong) == B:
        s = np.asarray(strong, bool)
        out["camera_free_strong"] = float(res.camera_free[s].mean()) if s.any() else None
        out["camera_free_normal"] = float(res.camera_free[~s].mean()) if (~s).any() else None
        out["wrong_camera_free_normal"] = int(np.sum(res.camera_free & ~s & (res.prediction != y)))
    out["per_class"] = {
        int(c): {"clips": int(np.sum(y == c)), "camera_free": float(res.camera_free[y == c].mean()),
                 "accuracy": float(np.mean(res.prediction[y == c] == c)),
                 "fixed_accuracy": float(np.mean(fixed.prediction[y == c] == c)),
                 "mean_steps": float(res.exit_step[y == c].mean() + 1)}
        for c in np.unique(y)
    }
    return out


def lines(m: dict[str, Any], classes: list[str]) -> list[str]:
    """The measurement in words, every figure labelled."""
    out = [
        f"  accuracy {100 * m['accuracy']:.2f}% (fixed-cost run {100 * m['fixed_accuracy']:.2f}%), {m['clips']} clips",
        f"  energy (estimated, sw.energy): {m['energy_nj']:.2f} nJ per clip (fixed {m['fixed_energy_nj']:.2f} nJ, "
        f"ratio {m['energy_nj'] / m['fixed_energy_nj']:.3f}); " + (
            f"{m['escalated']} escalated clips pay the audio stage twice: {m['paid_twice_nj']:.2f} nJ each"
            if m["cascade_ran"] else "the audio stage did not run (no gate at this operating point)"),
        f"  cycles (cycle model, ideal exit): {m['cycles']:,.0f} per clip (fixed {m['fixed_cycles']:,.0f})",
        f"  link bytes (counted, DMA words x 4, if streaming stopped at the exit: not yet in the core's protocol): {m['link_bytes']:,.0f} per clip "
        f"(fixed {m['fixed_link_bytes']:,.0f})",
        f"  camera-free (decided by the audio stage alone): {100 * m['camera_free']:.1f}% of clips; "
        f"mean steps run {m['mean_steps']:.2f} of {m['timesteps']}",
    ]
    if m.get("visual_ms_per_clip") is not None:
        out.append(f"  visual encoder host CPU (measured): {m['visual_ms_per_clip']:.1f} ms per encoded clip; "
                   f"{m['visual_ms_mean']:.1f} ms per clip on average (fixed {m['visual_ms_per_clip']:.1f} ms)")
    if m.get("camera_free_strong") is not None:
        out.append(f"  camera-free strong-intensity clips {100 * m['camera_free_strong']:.1f}%, normal "
                   f"{100 * (m['camera_free_normal'] or 0):.1f}%; wrong camera-free decisions on normal clips: "
                   f"{m['wrong_camera_free_normal']}")
    out.append("  per class: camera-free %, accuracy %, fixed accuracy %, mean steps")
    for c, p in m["per_class"].items():
        out.append(f"    {classes[int(c)]:<10} {100 * p['camera_free']:5.1f} {100 * p['accuracy']:6.1f} "
                   f"{100 * p['fixed_accuracy']:6.1f} {p['mean_steps']:6.1f}")
    return out

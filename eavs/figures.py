"""The report's figures: one matplotlib PNG per function.

Every figure carries, in its title, how its numbers were obtained
(``measured``, ``simulated`` or ``estimated``) so that a PNG copied out of
the report cannot be mistaken for something it is not. The functions take
plain Python data (what :mod:`eavs.pipeline` saves as JSON), so
``eavs report RUN_DIR`` can redraw every figure from a finished run without
re-running any stage.

matplotlib runs with the ``Agg`` back-end: no display is needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

__all__ = [
    "KINDS",
    "FigureError",
    "confusion_matrix",
    "spike_raster",
    "spike_rates",
    "energy_comparison",
    "accuracy_by_modality",
    "resource_use",
]

#: How a figure's numbers were obtained; every figure names one of these.
KINDS = ("measured", "simulated", "estimated")


class FigureError(ValueError):
    """Data that cannot be drawn (wrong shape, unknown kind); names the figure."""


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _check_kind(kind: str, figure: str) -> None:
    if kind not in KINDS:
        raise FigureError(f"figure {figure!r}: kind must be one of {KINDS}, not {kind!r}")


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return path


def confusion_matrix(cm: Sequence[Sequence[int]], classes: Sequence[str], path: str | Path, kind: str = "measured", note: str = "") -> Path:
    """Confusion matrix (rows: true class, columns: predicted), counts in the cells.

    The colour is the row-normalised rate, so classes with fewer clips are
    not washed out; the diagonal rate is each class's recall.
    """
    _check_kind(kind, "confusion matrix")
    cm = np.asarray(cm, dtype=np.int64)
    n = len(classes)
    if cm.shape != (n, n):
        raise FigureError(f"figure 'confusion matrix': expected a {n}x{n} matrix for {n} classes, got shape {cm.shape}")
    plt = _plt()
    rows = cm.sum(axis=1, keepdims=True)
    rate = np.divide(cm, np.maximum(rows, 1))
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * n, 0.8 + 0.6 * n))
    im = ax.imshow(rate, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8, color="white" if rate[i, j] > 0.5 else "black")
    ax.set_xticks(range(n), classes, rotation=45, ha="right")
    ax.set_yticks(range(n), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    acc = np.trace(cm) / max(cm.sum(), 1)
    ax.set_title(f"Confusion matrix [{kind}]\naccuracy {acc:.1%} over {cm.sum()} clips{(' - ' + note) if note else ''}", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046, label="row rate (recall on diagonal)")
    return _save(fig, path)


def spike_raster(
    layers: Sequence[Mapping], timesteps: int, path: str | Path, kind: str = "simulated", title: str = ""
) -> Path:
    """One raster panel per layer for one clip.

    ``layers`` holds dicts with ``name``, ``n`` (neurons or inputs) and
    ``events``: a list of ``[t, index]`` pairs (the spikes).
    """
    _check_kind(kind, "spike raster")
    if not layers:
        raise FigureError("figure 'spike raster': no layers to draw")
    plt = _plt()
    heights = [max(1.0, min(3.0, int(layer["n"]) / 100)) for layer in layers]
    fig, axes = plt.subplots(len(layers), 1, figsize=(7, 1.0 + 1.3 * sum(heights)), sharex=True,
                             gridspec_kw={"height_ratios": heights}, squeeze=False)  # fmt: skip
    for ax, layer in zip(axes[:, 0], layers):
        ev = np.asarray(layer["events"], dtype=np.int64).reshape(-1, 2)
        n = int(layer["n"])
        if ev.size and (ev[:, 0].min() < 0 or ev[:, 0].max() >= timesteps or ev[:, 1].min() < 0 or ev[:, 1].max() >= n):
            raise FigureError(f"figure 'spike raster': layer {layer['name']!r} has events outside [0,{timesteps}) x [0,{n})")
        ax.scatter(ev[:, 0], ev[:, 1], s=2, marker="|", color="black", linewidths=0.8)
        ax.set_ylim(-0.5, n - 0.5)
        # The spike count sits in the axis label, so it can never collide with the title or the dots.
        unit = "channels" if layer["name"] == "input" else "neurons"
        ax.set_ylabel(f"{layer['name']}\n{n} {unit}\n{len(ev)} spikes", fontsize=8)
    axes[-1, 0].set_xlim(-0.5, timesteps - 0.5)
    axes[-1, 0].set_xlabel("timestep")
    axes[0, 0].set_title(f"Spike raster [{kind}]{(chr(10) + title) if title else ''}", fontsize=9)
    return _save(fig, path)


def spike_rates(rates: Mapping[str, float], path: str | Path, kind: str = "measured", note: str = "") -> Path:
    """Mean spikes per neuron per timestep, one bar per layer (inputs included)."""
    _check_kind(kind, "spike rates")
    if not rates:
        raise FigureError("figure 'spike rates': no layers")
    plt = _plt()
    names = list(rates)
    vals = [float(rates[k]) for k in names]
    fig, ax = plt.subplots(figsize=(1.5 + 0.9 * len(names), 3))
    bars = ax.bar(names, vals, color="tab:orange")
    ax.bar_label(bars, [f"{v:.3f}" for v in vals], fontsize=8)
    ax.set_ylabel("spikes / neuron / step")
    ax.set_ylim(0, max(max(vals) * 1.25, 1e-3))
    ax.set_title(f"Spike rates [{kind}]{(' - ' + note) if note else ''}", fontsize=9)
    return _save(fig, path)


def energy_comparison(values_j: Mapping[str, float], path: str | Path, kind: str = "estimated", note: str = "") -> Path:
    """Energy per inference of each variant (e.g. SNN vs the same net as an ANN), log scale."""
    _check_kind(kind, "energy")
    if not values_j or any(not v > 0 for v in values_j.values()):
        raise FigureError(f"figure 'energy': needs positive energies, got {dict(values_j)!r}")
    plt = _plt()
    names = list(values_j)
    vals = np.array([values_j[k] for k in names], dtype=float)
    fig, ax = plt.subplots(figsize=(1.5 + 1.2 * len(names), 3))
    bars = ax.bar(names, vals * 1e9, color=["tab:green", "tab:gray", "tab:blue", "tab:red"][: len(names)])
    ax.bar_label(bars, [_joules(v) for v in vals], fontsize=8, padding=2)
    ax.set_yscale("log")
    # Decades only, no minor-tick labels (they crowd each other), and room above the tallest bar for its label.
    from matplotlib.ticker import LogLocator, NullFormatter

    ax.yaxis.set_major_locator(LogLocator(base=10))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(vals.min() * 1e9 / 3, vals.max() * 1e9 * 4)
    ax.set_ylabel("energy per inference (nJ)")
    ax.set_title(f"Energy per inference [{kind}]{(' - ' + note) if note else ''}", fontsize=9)
    return _save(fig, path)


def adaptive_pareto(fronts: Mapping[str, Sequence[tuple[float, float]]], fixed: tuple[float, float],
                    chosen: tuple[float, float], path: str | Path, kind: str = "estimated", note: str = "") -> Path:
    """Accuracy against energy per inference: the Pareto fronts of early exit,
    the cascade and both (``(energy nJ, accuracy)`` points), the fixed run and the chosen point."""
    _check_kind(kind, "adaptive")
    if not fronts or not any(fronts.values()):
        raise FigureError("figure 'adaptive': no operating points")
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for (name, pts), color in zip(fronts.items(), ("tab:blue", "tab:orange", "tab:green")):
        if pts:
            e, a = zip(*sorted(pts))
            ax.plot(e, [100 * v for v in a], "o-", ms=3, color=color, label=name)
    ax.plot([fixed[0]], [100 * fixed[1]], "ks", label="fixed-cost run")
    ax.plot([chosen[0]], [100 * chosen[1]], "r*", ms=12, label="chosen")
    ax.set_xlabel("energy per inference (nJ)")
    ax.set_ylabel("accuracy (%)")
    ax.legend(fontsize=7)
    ax.set_title(f"Adaptive inference, validation split [{kind}]{(' - ' + note) if note else ''}", fontsize=9)
    return _save(fig, path)


def _joules(j: float) -> str:
    """An energy with an SI prefix and three significant digits (5.56 µJ, not 5.56e+03 nJ)."""
    for scale, prefix in ((1, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"), (1e-12, "p")):
        if abs(j) >= scale:
            return f"{j / scale:.3g} {prefix}J"
    return f"{j / 1e-15:.3g} fJ"


def accuracy_by_modality(acc: Mapping[str, float], chance: float, path: str | Path, kind: str = "measured", note: str = "") -> Path:
    """Test accuracy per input modality (audio only, visual only, both), with the chance level."""
    _check_kind(kind, "accuracy by modality")
    if not acc:
        raise FigureError("figure 'accuracy by modality': no accuracies")
    plt = _plt()
    names = list(acc)
    vals = [float(acc[k]) for k in names]
    fig, ax = plt.subplots(figsize=(1.5 + 1.1 * len(names), 3))
    bars = ax.bar(names, vals, color="tab:blue")
    ax.bar_label(bars, [f"{v:.1%}" for v in vals], fontsize=8)
    ax.axhline(chance, color="tab:red", ls="--", lw=1, label=f"chance {chance:.1%}")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("test accuracy")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)  # outside: never over a bar
    ax.set_title(f"Accuracy by modality [{kind}]{(' - ' + note) if note else ''}", fontsize=9)
    return _save(fig, path)


def resource_use(used: Mapping[str, float], budget: Mapping[str, float], path: str | Path, kind: str = "estimated", note: str = "") -> Path:
    """Resources the core uses as a share of the board's budget (LUT, FF, BRAM, DSP)."""
    _check_kind(kind, "resources")
    names = [k for k in used if k in budget and budget[k]]
    if not names:
        raise FigureError(f"figure 'resources': no resource has both a use and a budget (use {dict(used)!r}, budget {dict(budget)!r})")
    plt = _plt()
    share = [float(used[k]) / float(budget[k]) for k in names]
    labels = {"lut": "LUTs", "ff": "flip-flops", "bram": "block RAMs", "dsp": "DSP slices"}
    fig, ax = plt.subplots(figsize=(6, 0.8 + 0.5 * len(names)))
    bars = ax.barh([labels.get(k, k) for k in names], share, color=["tab:red" if s > 1 else "tab:purple" for s in share])
    def num(v) -> str:
        v = float(v)
        return f"{v:,.0f}" if v == int(v) else f"{v:,.1f}"

    ax.bar_label(bars, [f"{num(used[k])} / {num(budget[k])} ({s:.1%})" for k, s in zip(names, share)], fontsize=8, padding=3)
    ax.axvline(1.0, color="black", lw=0.8)
    ax.set_xlim(0, max(1.25, max(share) * 1.3))
    ax.set_xlabel("share of the board's budget")
    ax.invert_yaxis()
    ax.set_title(f"Resource use [{kind}]{(' - ' + note) if note else ''}", fontsize=9)
    return _save(fig, path)

"""What ``eavs live`` leaves behind and shows: timeline.csv, timeline.png,
summary.json, and the rich terminal view.

The files are written whenever the run stops (the input ended, Ctrl-C, a
device or back-end that went away), so a timeline is never lost.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Sequence

from host.live import COLUMNS, Decision

__all__ = ["save", "write_timeline", "plot_timeline", "LiveView"]


def write_timeline(decisions: Sequence[Decision], path: Path) -> Path:
    """``timeline.csv``: one row per decision, columns :data:`host.live.COLUMNS`."""
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(COLUMNS))
        w.writeheader()
        for d in decisions:
            w.writerow(d.row())
    return path


def plot_timeline(decisions: Sequence[Decision], classes: Sequence[str], path: Path, title: str) -> Path:
    """``timeline.png``: the predicted emotion per window (margin as marker size), the
    camera's state and each decision's latency, against input time."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, (ax, cam, lat) = plt.subplots(3, 1, figsize=(10, 5.5), sharex=True, gridspec_kw={"height_ratios": [4, 1, 2]})
    t = [0.5 * (d.t_start_s + d.t_end_s) for d in decisions]
    idx = {c: i for i, c in enumerate(classes)}
    y = [idx.get(d.prediction, -1) for d in decisions]
    m = [max(d.margin, 0) for d in decisions]
    top = max(m) if m and max(m) > 0 else 1
    ax.scatter(t, y, s=[12 + 60 * v / top for v in m], c=y, cmap="tab10", vmin=0, vmax=9)
    ax.set_yticks(range(len(classes)), list(classes))
    ax.set_ylim(-0.5, len(classes) - 0.5)
    ax.set_title(title, fontsize=9)
    for d in decisions:
        if d.fault:
            ax.axvline(d.t_end_s, color="red", lw=0.8, ls="--")
            ax.text(d.t_end_s, len(classes) - 0.6, d.fault, color="red", fontsize=7, rotation=90, va="top")
    cam.step(t, [d.camera for d in decisions], where="mid")
    cam.set_yticks([0, 1], ["off", "on"])
    cam.set_ylabel("camera")
    lat.plot(t, [d.latency_ms for d in decisions], ".-", lw=0.8)
    lat.set_ylabel("latency (ms)")
    lat.set_xlabel("input time (s), window centre")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def save(out: Path, decisions: Sequence[Decision], summary: dict[str, Any], classes: Sequence[str], title: str) -> None:
    """Write timeline.csv, timeline.png and summary.json into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    write_timeline(decisions, out / "timeline.csv")
    plot_timeline(decisions, classes, out / "timeline.png", title)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")


class LiveView:
    """The rich terminal view: current emotion, margin, camera, latency (a live table)."""

    def __init__(self, console, backend: str, source: str):
        from rich.live import Live

        self.console = console
        self.backend, self.source = backend, source
        self._live = Live(self._render(None), console=console, auto_refresh=False, transient=False)

    def __enter__(self):
        self._live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._live.__exit__(*exc)

    def update(self, d: Decision) -> None:
        self._live.update(self._render(d), refresh=True)

    def _render(self, d: Decision | None):
        from rich.table import Table

        table = Table(title=f"eavs live on {self.backend}: {self.source}", show_header=False, min_width=48)
        table.add_column(style="bold")
        table.add_column()
        if d is None:
            table.add_row("emotion", "(waiting for the first window)")
            return table
        table.add_row("emotion", f"[bold cyan]{d.prediction}[/]")
        table.add_row("margin", str(d.margin))
        table.add_row("camera", "[green]on[/]" if d.camera else "off")
        table.add_row("latency", f"{d.latency_ms:.1f} ms")
        table.add_row("window", f"{d.t_start_s:.1f}-{d.t_end_s:.1f} s")
        if d.fault:
            table.add_row("fault", f"[red]{d.fault}[/]")
        return table

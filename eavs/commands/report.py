"""``eavs report RUN_DIR``: re-render a demo run's report from its saved JSON."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report_cmd(
        run_dir: Path = typer.Argument(..., metavar="RUN_DIR", help="A run directory written by `eavs demo --out DIR` (holds results.json)."),
    ) -> None:
        """Re-render a demo run's report from its saved results.

        Writes RUN_DIR/report.html, report.md and figures/*.png from
        RUN_DIR/results.json. No stage is re-run: the report is drawn from
        the numbers the run saved.
        """
        from eavs import report

        results = report.load_results(run_dir)
        htm, md = report.render(run_dir, results)
        for line in report.summary_lines(results):
            typer.echo(line)
        typer.echo(f"report: {htm} ({md.name}, figures in {run_dir / report.FIG_DIR})")

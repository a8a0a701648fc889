"""``eavs demo [--quick] --out DIR``: the whole flow on the built-in corpus, then the report."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo_cmd(
        out: Path = typer.Option(Path("runs/demo"), "--out", help="Run directory (results, models, report)."),
        quick: bool = typer.Option(False, "--quick", help="Smaller corpus, fewer epochs, no ablations (< 5 min on 2 cores)."),
        config: Optional[Path] = typer.Option(None, "--config", help="JSON file of DemoConfig fields (overrides the preset)."),
        set_: list[str] = typer.Option([], "--set", help="Override one config field, e.g. --set epochs=5 (repeatable)."),
        only: list[str] = typer.Option([], "--only", help="Run only these steps (others reuse their cached results)."),
        force: list[str] = typer.Option([], "--force", help="Re-run these steps even when cached."),
        board: Optional[str] = typer.Option(None, "--board", help="Board of boards.toml (default pynq-z2)."),
        data: Optional[str] = typer.Option(None, "--data", help="builtin (default), ravdess:DIR or cremad:DIR."),
        simulator: Optional[str] = typer.Option(None, "--simulator", help="verilator (default) or icarus."),
        cache: Optional[Path] = typer.Option(None, "--cache", help="Cache directory for the corpus and encoded spikes (default OUT/cache)."),
        seeds: Optional[int] = typer.Option(None, "--seeds", min=1, help="Train the audio+visual model with N seeds and report the spread of its accuracy (default 1)."),
        show_config: bool = typer.Option(False, "--show-config", help="Print the effective config as JSON and exit."),
    ) -> None:
        """Run the whole flow on a corpus and write the report.

        Stages: corpus, encode, train (QAT), export, golden evaluation, RTL
        simulation, resource estimate, energy estimate; then OUT/report.html
        and OUT/report.md. The configuration (board, data spec, model
        options) is checked before any stage runs.

        Re-runs reuse every step whose parameters did not change. Steps:
        data, encode, train, export, evaluate, simulate, resources, energy,
        seeds, report.
        """
        import json

        from eavs.demo_config import ConfigError, DemoConfig, check_config
        from sw.fields import check_known_fields

        overrides: dict = {}
        if config is not None:
            overrides.update(DemoConfig.load(config).to_dict())
            overrides.pop("quick", None)
        for item in set_:
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise ConfigError(f"--set expects FIELD=VALUE, not {item!r}")
            try:
                overrides[key.strip()] = json.loads(value)
            except json.JSONDecodeError:
                overrides[key.strip()] = value
        for name, value in (("board", board), ("data", data), ("simulator", simulator), ("cache_dir", str(cache) if cache else None), ("seeds", seeds)):
            if value is not None:
                overrides[name] = value
        check_known_fields(DemoConfig, overrides, "demo config", ConfigError)
        try:
            cfg = DemoConfig.quick_preset(**overrides) if quick else DemoConfig.full(**overrides)
        except TypeError as e:
            raise ConfigError(f"bad demo config: {e}") from None
        check_config(cfg)
        if show_config:
            typer.echo(json.dumps(cfg.to_dict(), indent=1))
            return

        from rich.console import Console
        from rich.markup import escape

        from eavs import pipeline, report

        console = Console(stderr=False)

        def log(msg: str) -> None:
            if msg.startswith("["):
                console.print(f"[bold cyan]{escape(msg)}[/]", highlight=False, soft_wrap=True)
            else:
                console.print(f"  {msg}", highlight=False, markup=False, soft_wrap=True)

        command = "eavs " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        results = pipeline.run(cfg, out, only=list(only), force=list(force), log=log, command=command)
        console.rule("summary")
        for line in report.summary_lines(results):
            console.print(line, highlight=False, markup=False, soft_wrap=True)
        console.print(f"report: {out / 'report.html'} (and report.md)", highlight=False, markup=False)
        failed = pipeline.failed_stages(results)
        if failed:
            for name in failed:
                reason = escape(str(results["stages"][name].get("reason")))
                console.print(f"[red]stage {name} failed: {reason} (see {escape(str(out / (name + '.error.txt')))})[/]", soft_wrap=True)
            raise typer.Exit(1)
        sim = results.get("simulate", {})
        if sim.get("bit_exact") is False:
            console.print("[red]the RTL is NOT bit-exact with the golden model[/]")
            raise typer.Exit(1)

"""``eavs live``: emotion decisions from a microphone and a camera (or files) as they come.

The runner is :class:`host.live.LiveRunner` (the decision rule and its
reason are in its module docstring); this command opens the sources and the
back-end, shows the rich live view, and saves timeline.csv, timeline.png and
summary.json whatever way the run ends: the input ended (exit 0), a device
or the back-end went away (one line, exit 1), Ctrl-C (exit 130).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("live")(live)


def _backend_options(kind: str, port, board, bitstream, simulator) -> dict:
    if kind == "board":
        return {"bitfile": str(bitstream), "board": board}
    if kind == "serial":
        if not port:
            raise typer.BadParameter("--backend serial needs --port (a device such as /dev/ttyUSB0, or socket://HOST:PORT)")
        return {"port": port, "board": board or "ulx3s-85f"}
    if kind == "rtl":
        options: dict = {"simulator": simulator}
        if board:
            from hw.spec.boards import get_board

            options["capacity"] = get_board(board).capacity
        return options
    return {"board": board} if board else {}


def live(
    model: Path = typer.Option(..., "--model", help="An integer model (.qnet) whose audio encoder is version 2 (causal)."),
    audio: Optional[str] = typer.Option(None, "--audio", help="A sound file (wav, flac, ...), mic or mic:N."),
    video: Optional[str] = typer.Option(None, "--video", help="A video file (mp4, avi, ...), cam or cam:N."),
    backend: str = typer.Option("golden", "--backend", help="golden | rtl | serial | board"),
    out: Path = typer.Option(Path("live_out"), "--out", help="Folder for timeline.csv, timeline.png, summary.json."),
    window: float = typer.Option(2.5, "--window", min=0.1, help="Seconds classified per decision (about the training clips' length: "
                                "2.5 s is the synthetic corpus's median)."),
    hop: float = typer.Option(0.5, "--hop", min=0.05, help="Seconds between decisions."),
    fast: bool = typer.Option(False, "--fast", help="Files: run as fast as possible instead of at real pace."),
    port: Optional[str] = typer.Option(None, "--port", help="--backend serial: /dev/ttyUSB0 or socket://HOST:PORT."),
    board: Optional[str] = typer.Option(None, "--board", help="Board of boards.toml (capacity, clock)."),
    bitstream: Path = typer.Option(Path("eavs.bit"), "--bitstream", help="Overlay for --backend board."),
    simulator: str = typer.Option("verilator", "--simulator", help="--backend rtl: verilator | icarus."),
) -> None:
    """Classify emotion live from --audio and --video (files, mic[:N], cam[:N]) on any back-end;
    decisions every --hop seconds over the last --window seconds."""
    import host
    from host.backend import HostError
    from host.live import LiveRunner, summary_line
    from host.live_sources import RealClock, open_audio, open_video
    from sw.encode import AudioEncoder, VisualEncoder, encoders_from_inputs
    from sw.qnet import load

    from eavs.live_out import LiveView, save

    if backend not in host.BACKENDS:
        raise typer.BadParameter(f"--backend must be one of {', '.join(host.BACKENDS)}, not {backend!r}")
    net = load(model)
    encs = encoders_from_inputs(net.inputs)
    aenc = next((e for e in encs if isinstance(e, AudioEncoder)), None)
    venc = next((e for e in encs if isinstance(e, VisualEncoder)), None)
    from rich.console import Console

    console = Console(stderr=False)
    for given, enc, what in ((audio, aenc, "--audio"), (video, venc, "--video")):
        if given and enc is None:  # said, not silently dropped
            typer.echo(f"note: the model has no {'audio' if what == '--audio' else 'visual'} input; {what} {given} is not used")
    clock = RealClock()
    sources = []
    runner = None
    code = 0
    try:
        a = open_audio(audio, aenc.sample_rate) if aenc is not None and audio else None
        v = open_video(video, clock=clock) if venc is not None and video else None
        sources = [s for s in (a, v) if s is not None]
        with host.open_backend(backend, **_backend_options(backend, port, board, bitstream, simulator)) as be:
            be.load_model(net)
            runner = LiveRunner(be, a, v, window_s=window, hop_s=hop, clock=clock, pace=not fast)
            if console.is_terminal:
                with LiveView(console, backend, " + ".join(s.name for s in sources)) as view:
                    runner.on_decision = view.update
                    runner.run()
            else:
                runner.run()
    except KeyboardInterrupt:
        console.print("interrupted: saving the timeline so far")
        code = 130
    except HostError as e:  # sources, back-end, live runner: one line
        typer.secho(f"error: {e}", fg="red", err=True)
        code = 1
    finally:
        for s in sources:
            s.close()
    if runner is None:
        raise typer.Exit(code or 1)
    summary = runner.summary()
    summary.update({"model": str(model), "backend": backend, "audio": audio, "video": video, "window_s": window,
                    "hop_s": hop, "paced": not fast, "exit": code})  # fmt: skip
    title = f"eavs live, {backend} back-end, {window} s window every {hop} s [measured]"
    save(out, runner.decisions, summary, list(net.classes), title)
    typer.echo(f"wrote {out / 'timeline.csv'}, {out / 'timeline.png'}, {out / 'summary.json'}")
    typer.echo(summary_line(summary))
    sys.stdout.flush()
    if code:
        raise typer.Exit(code)

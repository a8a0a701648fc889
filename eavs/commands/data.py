"""``eavs data``: make the built-in corpus, inspect and encode data sets.

- ``eavs data synth --out DIR --clips N --seed S``: write the synthetic corpus.
- ``eavs data info SPEC``: scan a data set and print what would be used and
  what is skipped (no encoding).
- ``eavs data encode SPEC --out FILE.npz``: encode with the default (or
  given) encoder parameters, print the summary, save the spike trains.
- ``eavs data cache [--clear]``: where the encoding cache is, its size; empty it.
- ``eavs data probe SPEC``: linear-probe accuracy of audio, visual and both
  with actor-disjoint cross-validation (does fusion matter on this data?).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np
import typer

data_app = typer.Typer(help="Data sets: synthetic corpus, RAVDESS, CREMA-D; spike encoding.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")


@data_app.command("synth")
def synth(
    out: Path = typer.Option(..., "--out", help="Folder to write the corpus into (must be new or empty)."),
    clips: int = typer.Option(1000, "--clips", help="Number of clips (at most 60 per actor)."),
    seed: int = typer.Option(0, "--seed", help="Generator seed; same seed, same files."),
    actors: int = typer.Option(24, "--actors", help="Synthetic actors (odd male, even female)."),
    workers: int = typer.Option(2, "--workers", help="Processes."),
) -> None:
    """Write the built-in SYNTHETIC audio-visual emotion corpus in RAVDESS layout."""
    from sw.data.synth import synthesize

    path = synthesize(out, clips=clips, seed=seed, actors=actors, workers=workers, progress=True)
    typer.echo(f"wrote {clips} synthetic clips ({actors} actors, seed {seed}) to {path}")


def _encoders(modality: str, timesteps: int, params: Optional[Path]):
    from sw.encode import AudioEncoder, VisualEncoder, encoder_from_dict

    if params is not None:
        if not params.is_file():
            raise FileNotFoundError(f"encoder parameter file {params} not found")
        try:
            spec = json.loads(params.read_text())
        except ValueError as e:
            raise ValueError(f"{params}: not valid JSON ({e})") from None
        if not isinstance(spec, list):
            raise ValueError(f"{params}: want a JSON list of encoder parameter objects (with 'kind')")
        return [encoder_from_dict(d) for d in spec]
    choices = {"av": ["audio", "visual"], "audio": ["audio"], "visual": ["visual"]}
    if modality not in choices:
        raise ValueError(f"--modality must be one of {list(choices)}, not {modality!r}")
    make = {"audio": AudioEncoder, "visual": VisualEncoder}
    return [make[k](timesteps=timesteps) for k in choices[modality]]


VOCAL_HELP = ("RAVDESS vocal channel: speech (default), song or both. The song set has fewer emotions "
              "(no disgust, no surprised).")


def _with_vocal(spec: str, vocal: Optional[str]) -> str:
    """Add ``vocal=`` to a spec's options (the spec's own option wins if both are given)."""
    if vocal is None or "vocal=" in spec:
        return spec
    if vocal not in ("speech", "song", "both"):
        raise ValueError(f"--vocal must be speech, song or both, not {vocal!r}")
    if spec.startswith("cremad:"):
        raise ValueError("--vocal is for RAVDESS-layout data (ravdess:, builtin:), not cremad:")
    return spec + ("&" if "?" in spec else "?") + f"vocal={vocal}"


#: Up to this many skipped files (or warnings) are listed one by one; more are summarised by reason.
SHOW_ALL = 10


def _echo_each_or_by_reason(items: list, verbose: bool, word: str, summary: str) -> None:
    """Every ``(path, reason)`` on its own line when asked or when there are
    few (<= SHOW_ALL); otherwise one line per reason with counts and examples."""
    from sw.data.dataset import by_reason
    from sw.data.media import show

    if verbose or len(items) <= SHOW_ALL:
        for path, reason in items:
            typer.echo(f"  {word} {show(path)}: {reason}")
        return
    typer.echo(f"  {summary}")
    for line in by_reason(items):
        typer.echo(f"    {line}")


@data_app.command("info")
def info(
    spec: str = typer.Argument(..., help="builtin:DIR, ravdess:DIR or cremad:DIR"),
    modality: str = typer.Option("av", "--modality", help="av, audio or visual: which files a clip needs."),
    vocal: Optional[str] = typer.Option(None, "--vocal", help=VOCAL_HELP),
    check_faces: bool = typer.Option(False, "--check-faces", help="Also decode every video and track its face, as encode does (slow; a progress bar)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="List every skipped file and every warning (default: a summary by reason)."),
    skipped_csv: Optional[Path] = typer.Option(None, "--skipped", help="Write every skipped file and its reason to this CSV (path,reason)."),
) -> None:
    """Scan a data set and open every file's header: clips per class and actor, every skipped
    file with its reason, and warnings. With --check-faces the counts equal what `encode`
    uses; without, the summary says how many clips were not checked for a face."""
    from sw.data.dataset import face_problems, scan_spec, top_reasons, write_skipped_csv

    spec = _with_vocal(spec, vocal)
    encoders = _encoders(modality, 40, None)
    classes, clips, skipped, warnings = scan_spec(spec, encoders)
    unchecked = 0
    if any(e.kind == "visual" for e in encoders):
        if check_faces:
            bad = face_problems(clips, encoders, progress=True)
            skipped = skipped + bad
            clips = [c for c in clips if c.path not in {s.path for s in bad}]
        else:
            unchecked = len(clips)
    counts = np.bincount([c.label for c in clips], minlength=len(classes))
    n_warn = sum(len(w) for w in warnings.values())
    typer.echo(f"{spec}: {len(clips)} clips, {len({c.actor for c in clips})} actors, {len(skipped)} skipped, {n_warn} warnings")
    typer.echo("  per class: " + ", ".join(f"{c} {n}" for c, n in zip(classes, counts)))
    if "vocal=song" in spec or "vocal=both" in spec:
        typer.echo("  note: RAVDESS song takes have six emotions only (no disgust, no surprised)")
    skips = [(s.path, s.reason) for s in skipped]
    warns = [(path, w) for path, ws in warnings.items() for w in ws]
    if skips:
        typer.echo(f"  skipped: {top_reasons(skips)}")
    _echo_each_or_by_reason(skips, verbose, "skipped", "skipped, by reason (every file: --verbose or --skipped FILE.csv):")
    _echo_each_or_by_reason(warns, verbose, "warning", "warnings, by kind (every one: --verbose):")
    if skipped_csv is not None:
        typer.echo(f"  wrote {write_skipped_csv(skipped_csv, skips)} skipped files to {skipped_csv}")
    if unchecked:
        typer.echo(f"  {unchecked} clips not checked for a face: `encode` may still skip some (--check-faces checks them now)")
    typer.echo("  (silent audio is checked, as a warning, when the clips are encoded)")


@data_app.command("encode")
def encode(
    spec: str = typer.Argument(..., help="builtin:DIR[?clips=N&seed=S], ravdess:DIR or cremad:DIR"),
    out: Optional[Path] = typer.Option(None, "--out", help="Save x, y, actors, classes and inputs to this .npz."),
    modality: str = typer.Option("av", "--modality", help="av, audio or visual."),
    timesteps: int = typer.Option(40, "--timesteps", help="T: bins per clip."),
    params: Optional[Path] = typer.Option(None, "--params", help="JSON list of encoder parameters (overrides --modality)."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Encoding cache folder (default $XDG_CACHE_HOME/eavs or ~/.cache/eavs; never the data folder unless given here)."),
    workers: int = typer.Option(2, "--workers", help="Processes."),
    vocal: Optional[str] = typer.Option(None, "--vocal", help=VOCAL_HELP),
) -> None:
    """Encode a data set to spike trains (cached) and print the summary."""
    from sw.data import load_encoded

    spec = _with_vocal(spec, vocal)
    encoders = _encoders(modality, timesteps, params)
    s = load_encoded(spec, encoders, cache_dir=cache_dir, progress=True, workers=workers)
    if out is not None:
        from sw.train import TrainData, save_npz  # the one writer of the npz: format that train and eval read

        save_npz(out, TrainData(x=s.x, y=np.asarray(s.y, np.int64), actors=np.asarray(s.actors, np.int64),
                                classes=list(s.classes), inputs=list(s.inputs)))  # fmt: skip
        typer.echo(f"wrote {out} (read it with --data npz:{out})")


@data_app.command("cache")
def cache_cmd(
    clear: bool = typer.Option(False, "--clear", help="Delete the encoded sets in the cache folder."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="The cache folder (default $XDG_CACHE_HOME/eavs or ~/.cache/eavs)."),
) -> None:
    """Where the encoding cache is and how big; --clear empties it (only its encoded sets)."""
    from sw.data.dataset import cache_files, cache_line, default_cache_dir

    cdir = cache_dir if cache_dir is not None else default_cache_dir()
    if clear:
        files = cache_files(cdir)
        size = sum(p.stat().st_size for p in files)
        for p in files:
            p.unlink()
        typer.echo(f"cleared {len(files)} encoded sets ({size / 1e6:.1f} MB) from {cdir}")
    else:
        typer.echo(cache_line(cdir))


@data_app.command("probe")
def probe_cmd(
    spec: str = typer.Argument(..., help="builtin:DIR, ravdess:DIR or cremad:DIR"),
    timesteps: int = typer.Option(40, "--timesteps", help="T: bins per clip."),
    folds: int = typer.Option(6, "--folds", help="Actor folds for cross-validation."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Encoding cache folder."),
    workers: int = typer.Option(2, "--workers", help="Processes."),
) -> None:
    """Linear-probe accuracy of audio, visual and both (speaker-independent CV):
    does fusion matter on this data set?"""
    from sw.data import load_encoded
    from sw.data.probe import probe

    s = load_encoded(spec, _encoders("av", timesteps, None), cache_dir=cache_dir, progress=True, workers=workers)
    if len(s) == 0:
        raise ValueError(f"{spec}: no usable clips to probe")
    groups, at = {}, 0
    for g in s.inputs:
        groups[g.name] = slice(at, at + g.size)
        at += g.size
    result = probe(s.x, s.y, s.actors, groups, k=folds)
    typer.echo(result.table())

"""The RTL back-end's build key follows every source the core depends on."""

from __future__ import annotations

import shutil
from pathlib import Path

import host.rtl as rtl

ROOT = Path(__file__).resolve().parent.parent


def test_a_change_to_the_event_format_makes_rtl_builds_stale(tmp_path, monkeypatch):
    for d in ("hw", "sw"):
        shutil.copytree(ROOT / d, tmp_path / d, ignore=shutil.ignore_patterns("__pycache__", "data"))
    monkeypatch.setattr(rtl, "ROOT", tmp_path)
    before = rtl.hardware_digest()
    assert rtl.hardware_digest() == before  # deterministic
    events = tmp_path / "sw" / "events.py"
    events.write_text(events.read_text() + "\n# the marker moved\n")
    assert rtl.hardware_digest() != before

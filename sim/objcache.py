"""A tiny compiler cache for Verilator's design-independent runtime objects.

Every Verilator build compiles the same runtime (``verilated.cpp``,
``verilated_vpi.cpp``, cocotb's ``verilator.cpp``...): about 30 s of a 40 s
build on two cores, identical for every design built with the same flags.
Verilator's makefile runs each compile as ``$(OBJCACHE) $(CXX) ...``;
:func:`sim.build.build_verilog` sets ``OBJCACHE`` to this script, which

- passes compiles of the design's own files (in the build directory)
  straight to the compiler, and
- for sources outside the build directory (the runtime), keys the object by
  a hash of the whole command line (compiler path and version, every flag and
  define, absolute source path) plus the source's size and mtime, plus the
  contents of every header *of the build directory* the source included
  (read from its ``.d`` file: the harness and cocotb's ``verilator.cpp``
  include the design's ``Vtop.h``, whose members differ between designs),
  and copies a cached object (and its ``.d`` dependency file) instead of
  compiling.

Usage (by make): ``python sim/objcache.py c++ <flags> -c -o X.o SRC.cpp``.
The cache lives in ``$EAVS_SIM_CACHE`` (default ``~/.cache/eavs-sim``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["cache_root", "main"]


def cache_root() -> Path:
    return Path(os.environ.get("EAVS_SIM_CACHE", Path.home() / ".cache" / "eavs-sim")) / "objects"


def _compiler_id(compiler: str) -> str:
    exe = shutil.which(compiler) or compiler
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    return f"{os.path.realpath(exe)}|{out.splitlines()[0] if out else ''}"


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: objcache.py COMPILER ARGS...", file=sys.stderr)
        return 2
    args = argv[1:]
    out = args[args.index("-o") + 1] if "-o" in args[:-1] else None
    sources = [a for a in args if a.endswith((".cpp", ".cc", ".c"))]
    cwd = Path.cwd().resolve()
    cacheable = (
        out is not None
        and "-c" in args
        and len(sources) == 1
        and Path(sources[0]).is_absolute()
        and cwd not in Path(sources[0]).resolve().parents
    )
    if not cacheable:
        return subprocess.call(argv)
    src = Path(sources[0])
    st = src.stat()
    key = hashlib.sha1(json.dumps([_compiler_id(argv[0]), args, st.st_size, st.st_mtime_ns]).encode()).hexdigest()
    root = cache_root()
    out_path = Path(out)
    dep_out = out_path.with_suffix(".d")
    manifest = root / f"{key}.local"
    if manifest.exists():
        try:
            local = json.loads(manifest.read_text())
        except (OSError, ValueError):
            local = None
        full = _full_key(key, local, cwd) if isinstance(local, list) else None
        if full is not None and (root / f"{full}.o").exists():
            shutil.copyfile(root / f"{full}.o", out_path)
            if (root / f"{full}.d").exists():
                shutil.copyfile(root / f"{full}.d", dep_out)
            return 0
    rc = subprocess.call(argv)
    if rc == 0 and out_path.exists():
        try:
            local = _local_deps(dep_out, cwd) if dep_out.exists() else []
            full = _full_key(key, local, cwd)
            if full is None:
                return rc
            root.mkdir(parents=True, exist_ok=True)
            tmp = root / f".{full}.{os.getpid()}"
            if dep_out.exists():
                shutil.copyfile(dep_out, tmp.with_suffix(".d"))
                os.replace(tmp.with_suffix(".d"), root / f"{full}.d")
            shutil.copyfile(out_path, tmp.with_suffix(".o"))
            os.replace(tmp.with_suffix(".o"), root / f"{full}.o")  # the object last: its presence means complete
            tmp_m = root / f".{key}.{os.getpid()}.local"
            tmp_m.write_text(json.dumps(local))
            os.replace(tmp_m, manifest)
        except OSError:
            pass  # no cache is only slower
    return rc


def _local_deps(dep_file: Path, cwd: Path) -> list[str]:
    """Headers of the build directory a compile read (from its ``.d`` file), relative to it.

    A runtime source can include the design's own headers: the harness and
    cocotb's ``verilator.cpp`` include ``Vtop.h``, whose port members differ
    from design to design; their object is only valid for that header.
    """
    text = dep_file.read_text(errors="replace").replace("\\\n", " ")
    out = set()
    for tok in text.split():
        if tok.endswith(":") or tok == "\\":
            continue
        p = (cwd / tok).resolve()
        if cwd in p.parents and p.suffix in (".h", ".hpp", ".hh", ".inc") and p.is_file():
            out.add(str(p.relative_to(cwd)))
    return sorted(out)


def _full_key(key: str, local: list[str], cwd: Path) -> str | None:
    """``key`` extended by the contents of the build-directory headers in ``local`` (None if one is gone)."""
    h = hashlib.sha1(key.encode())
    for name in local:
        f = cwd / name
        if not f.is_file():
            return None
        h.update(name.encode() + b"\0" + hashlib.sha1(f.read_bytes()).digest())
    return h.hexdigest()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

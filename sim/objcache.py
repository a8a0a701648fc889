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
  define, absolute source path) plus the source's size and mtime, and copies
  a cached object (and its ``.d`` dependency file) instead of compiling.

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
    obj, dep = root / f"{key}.o", root / f"{key}.d"
    out_path = Path(out)
    dep_out = out_path.with_suffix(".d")
    if obj.exists():
        shutil.copyfile(obj, out_path)
        if dep.exists():
            shutil.copyfile(dep, dep_out)
        return 0
    rc = subprocess.call(argv)
    if rc == 0 and out_path.exists():
        try:
            root.mkdir(parents=True, exist_ok=True)
            tmp = root / f".{key}.{os.getpid()}"
            if dep_out.exists():
                shutil.copyfile(dep_out, tmp.with_suffix(".d"))
                os.replace(tmp.with_suffix(".d"), dep)
            shutil.copyfile(out_path, tmp.with_suffix(".o"))
            os.replace(tmp.with_suffix(".o"), obj)  # the object last: its presence means complete
        except OSError:
            pass  # no cache is only slower
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""``python -m bench``: run every benchmark under bench/ and print one table."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
import traceback

import bench
from bench.common import Row, print_table


#: Benchmarks that need arguments (a trained model, a corpus) and minutes of
#: their own: run them alone (``python -m bench.live --help``).
RUN_ALONE = ("live",)


def main() -> int:
    rows: list[Row] = []
    failed = []
    names = [m.name for m in pkgutil.iter_modules(bench.__path__) if m.name not in ("common", *RUN_ALONE) and not m.name.startswith("_")]
    only = set(sys.argv[1:])
    for name in sorted(names):
        if only and name not in only:
            continue
        print(f"== bench.{name}", flush=True)
        try:
            fn = importlib.import_module(f"bench.{name}").main
            # a benchmark with options runs with its defaults, not this command's arguments (the names picked)
            result = fn([]) if "argv" in inspect.signature(fn).parameters else fn()
        except Exception:  # a broken benchmark must not hide the others' figures
            traceback.print_exc()
            failed.append(name)
            continue
        if isinstance(result, list):
            rows.extend(r for r in result if isinstance(r, Row))
    print_table(rows)
    if failed:
        print(f"failed benchmarks: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

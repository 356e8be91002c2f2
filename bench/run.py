"""`make bench`: run every bench/bench_*.py module's main() in turn (never part of `make test`).

Each benchmark prints its own figures and PASS/MISS against its targets; a MISS is a finding to
report, not a failure. Only a benchmark that crashes makes this exit non-zero.
"""

from __future__ import annotations

import importlib.util
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    # Benchmarks may share helpers (bench/_util.py) by importing them as top-level modules.
    sys.path.insert(0, str(HERE))
    wanted = set(sys.argv[1:])  # `python bench/run.py http` runs bench_http.py only
    crashed: list[str] = []
    for path in sorted(HERE.glob("bench_*.py")):
        name = path.stem
        if wanted and name.removeprefix("bench_") not in wanted and name not in wanted:
            continue
        print(f"\n=== {name} ===", flush=True)
        started = time.perf_counter()
        try:
            spec = importlib.util.spec_from_file_location(name, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            status = module.main()
            if status not in (None, 0):
                crashed.append(f"{name} (exit {status})")
        except Exception:
            traceback.print_exc()
            crashed.append(name)
        print(f"--- {name}: {time.perf_counter() - started:.1f} s", flush=True)
    if crashed:
        print(f"\nbenchmarks that did not finish: {', '.join(crashed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""`import artefact` vs `import wandb`, each followed by the first use of `.Artifact` (both
packages load submodules lazily, so a bare import would time next to nothing): each in a
fresh interpreter, interleaved,
median of N. Prints the in-process import time, the whole process's wall time, and a
bare interpreter (`python -c pass`) as the floor. With --top K, one extra run each with
`-X importtime` lists the K slowest top-level imports.

    python benches/import_time.py                 # N = 10
    python benches/import_time.py --quick         # N = 3
    python benches/import_time.py -n 20 --top 10
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common as cm  # noqa: E402

SNIPPET = "import time; t = time.perf_counter(); import {mod}; {mod}.Artifact; print(time.perf_counter() - t)"


def one(mod: str, env: dict[str, str], cwd: str) -> tuple[float, float]:
    """(in-process import seconds, process wall seconds) of a fresh interpreter."""
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", SNIPPET.format(mod=mod)], env=env, cwd=cwd,
                         capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    return float(out.stdout.strip().splitlines()[-1]), wall


def bare(env: dict[str, str], cwd: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], env=env, cwd=cwd, check=True)
    return time.perf_counter() - t0


def slowest_imports(mod: str, env: dict[str, str], cwd: str, k: int) -> list[tuple[int, str]]:
    """The k largest cumulative times (µs) among top-level imports under -X importtime."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {mod}; {mod}.Artifact"], env=env, cwd=cwd,
                         capture_output=True, text=True, check=True)
    rows = []
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _self, cumulative, name = line[len("import time:"):].split("|", 2)
        depth = len(name) - len(name.lstrip(" "))
        if depth <= 3:  # the module itself and what it imports directly
            rows.append((int(cumulative), name.strip()))
    return sorted(rows, reverse=True)[:k]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-n", type=int, help="runs per module (default 10, --quick 3)")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--top", type=int, default=0, help="also list the K slowest direct imports of each")
    p.add_argument("--modules", default="artefact,wandb", help="comma-separated, first is 'ours'")
    args = p.parse_args(argv)
    n = args.n or (3 if args.quick else 10)
    mods = [m.strip() for m in args.modules.split(",") if m.strip()]

    with tempfile.TemporaryDirectory(prefix="artefact-import-") as tmp:
        env = cm.sdk_env(tmp)
        for m in mods:  # warm the bytecode and page caches; not timed
            one(m, env, tmp)
        imp: dict[str, list[float]] = {m: [] for m in mods}
        wall: dict[str, list[float]] = {m: [] for m in mods}
        floor: list[float] = []
        for i in range(n):
            floor.append(bare(env, tmp))
            for m in (mods if i % 2 == 0 else mods[::-1]):
                a, b = one(m, env, tmp)
                imp[m].append(a)
                wall[m].append(b)
        tops = {m: slowest_imports(m, env, tmp, args.top) for m in mods} if args.top else {}

    print(f"\n## import time, fresh interpreter, median of {n} (python {sys.version.split()[0]})\n")
    print("| module | import (in process) | process wall | process wall − bare interpreter |")
    print("|---|---|---|---|")
    f = cm.median(floor)
    for m in mods:
        print(f"| {m} | {cm.fmt_s(cm.median(imp[m]))} | {cm.fmt_s(cm.median(wall[m]))} | "
              f"{cm.fmt_s(cm.median(wall[m]) - f)} |")
    print(f"| (bare `python -c pass`) | – | {cm.fmt_s(f)} | – |")
    if len(mods) >= 2:
        print(f"\n{mods[0]}/{mods[1]} import time: {cm.fmt_ratio(cm.median(imp[mods[0]]), cm.median(imp[mods[1]]))}")
    for m, rows in tops.items():
        print(f"\nslowest direct imports of {m} (-X importtime, cumulative):")
        for us, name in rows:
            print(f"  {us / 1000:8.1f} ms  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Where one re-put of an unchanged tree spends its time (issue 17's re-put row).

    python benches/_reput_phases.py TREE [--runs 5]

Makes a private store with a first put of TREE (stat cache on, untimed), then times, in
fresh processes: the interpreter alone, `artefact put` whole (the console script, and
through `python -m artefact`), `find` of the tree,
and the steps of fastput.py one by one (imports, the walk on its own thread while the
catalog opens, the transaction), and counts the put's fdatasyncs with strace if present.
Medians of `--runs`; the machine's load is printed with them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

_STEPS = r"""
import time; t0 = time.perf_counter()
import os, sys
from artefact import _core, config, fastput
t1 = time.perf_counter()
_core.set_statcache(config.statcache_path())
walk = _core.KnownDir(sys.argv[1], "MD5")
t2 = time.perf_counter()
conn = fastput._connect(os.path.join(config.store_root(), "catalog.db"))
t3 = time.perf_counter()
known = walk.result()
t4 = time.perf_counter()
logged = fastput._dedupe(conn, known[0], config.default_entity(), config.default_project(), "t", "dataset", [], [])
t5 = time.perf_counter()
assert logged is not None
import json  # not before: it imports re, which the put does not
print(json.dumps({"imports (artefact, config, fastput, _core)": t1 - t0, "stat cache + walk started": t2 - t1,
                  "_sqlite3 import + catalog open (walk running)": t3 - t2, "rest of the walk": t4 - t3,
                  "dedupe transaction (one fdatasync)": t5 - t4}))
os._exit(0)
"""


def _timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("tree")
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    tree = os.path.abspath(a.tree)
    work = tempfile.mkdtemp(prefix="artefact-reput-phases-")
    env = dict(os.environ, ARTEFACT_STORE=os.path.join(work, "store"), ARTEFACT_DATA_DIR=os.path.join(work, "data"),
               ARTEFACT_CACHE_DIR=os.path.join(work, "cache"), ARTEFACT_CONFIG_DIR=os.path.join(work, "config"),
               ARTEFACT_QUIET="1", ARTEFACT_ENTITY="bench", ARTEFACT_PROJECT="bench")  # fmt: skip
    for k in ("ARTEFACT_BASE_URL", "WANDB_BASE_URL", "ARTEFACT_STATCACHE", "ARTEFACT_FAST_REPUT"):
        env.pop(k, None)
    script = shutil.which("artefact", path=os.path.dirname(sys.executable)) or "artefact"
    put = [script, "-q", "put", tree, "--name", "t", "--type", "dataset"]  # what a user runs
    put_m = [sys.executable, "-m", "artefact", *put[1:]]
    import _common

    _common.fresh_bytecode("artefact")  # load bytecode, as an installed package does
    try:
        subprocess.run(put, env=env, check=True, stdout=subprocess.DEVNULL)
        load0 = os.getloadavg()[0]
        rows: dict[str, list[float]] = {}
        for _ in range(a.runs):
            rows.setdefault("python -c pass", []).append(_timed([sys.executable, "-c", "pass"], env))
            rows.setdefault("find -printf (the limit)", []).append(
                _timed(["find", tree, "-printf", "%s %T@\n"], env))
            rows.setdefault("artefact put (whole process)", []).append(_timed(put, env))
            rows.setdefault("python -m artefact put (whole process)", []).append(_timed(put_m, env))
            out = subprocess.run([sys.executable, "-c", _STEPS, tree], env=env, check=True, capture_output=True,
                                 text=True).stdout  # fmt: skip
            for k, v in json.loads(out).items():
                rows.setdefault(f"  step: {k}", []).append(v)
        print(f"tree {tree}, {a.runs} runs, load {load0:.1f} -> {os.getloadavg()[0]:.1f} (2 cores, shared)")
        for k, v in rows.items():
            print(f"{k:55s} {statistics.median(v) * 1e3:7.1f} ms")
        if shutil.which("strace"):
            trace = subprocess.run(["strace", "-f", "-c", "-e", "trace=fsync,fdatasync,syncfs", *put], env=env,
                                   capture_output=True, text=True).stderr  # fmt: skip
            syncs = sum(int(line.split()[3]) for line in trace.splitlines()
                        if line.strip().endswith(("fsync", "fdatasync", "syncfs")) and len(line.split()) >= 5)
            print(f"fsyncs + fdatasyncs of one re-put: {syncs}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

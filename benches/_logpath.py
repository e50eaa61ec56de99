"""The log path end to end (issue 17): `artefact put`, `log_artifact` + `wait` and
`artefact get` against the limits of the same run (`cp -r`, `cp` + `sync`, a stat walk)
and beside `dvc add` / `dvc checkout` (if `dvc` is installed).

Every measurement is a fresh process into a fresh store (stat cache off, so first adds),
except re-puts, which go into the store of the put before them with the stat cache on, and
gets, which run as a user's do: the stat cache on, recording the files they place.
Rounds interleave artefact and its limits; outputs are never deleted between runs (a
mass delete slows file creation, BENCHMARKING.md quirk 1).

Rows (`--only log`): per tree and policy, put / add+log+wait / re-put / get, disk after
one put (store + cache + staging over the tree), the 1 GiB file (time and peak RSS), and
the 10k put with 2 GB of another process's dirty data in the page cache.

`--sync-modes` runs only the dirty-data comparison: tree A's mutable put in each
`ARTEFACT_SYNC` mode (auto, filesystem, written), with and without the dirty data,
interleaved with `cp -r` of the tree (also with the dirty data), wall and CPU.

`--baseline DIR` also times put, add+log+wait and get (and the dirty-data pair) with the
artefact package in DIR (e.g. an older checkout's `python/`, its extension built there),
interleaved with the current one: rows marked "(baseline)", ratios against the same
limits. Every process loads bytecode as an installed package does (compiled once into a
private cache), never compiling the package on each start.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from typing import Any, Callable, Optional

import _common as cm
from _common import GiB, KiB, MiB, TreeSpec

FULL = {"A": TreeSpec("A", 10_000, 4 * KiB), "B": TreeSpec("B", 100_000, 1 * KiB), "big": GiB, "dirty": 2 * GiB}
QUICK = {"A": TreeSpec("A-quick", 1_000, 4 * KiB), "B": TreeSpec("B-quick", 5_000, 1 * KiB), "big": 128 * MiB,
         "dirty": 256 * MiB}
POLICIES = ("mutable", "immutable")


TIME = "/usr/bin/time"


def timed(argv: list[str], env: Optional[dict[str, str]] = None, cwd: Optional[str] = None) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one child process, start to exit. The RSS comes
    from /usr/bin/time where there is one: a child's ru_maxrss counts what it shared
    with this (large) process before its exec."""
    import tempfile

    rss_file = None
    if os.path.exists(TIME):
        fd, rss_file = tempfile.mkstemp(prefix="rss-")
        os.close(fd)
        argv = [TIME, "-f", "%M", "-o", rss_file, *argv]
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {err.strip()[-400:]}")
    rss = usage.ru_maxrss / 1024
    if rss_file:
        with open(rss_file) as f:
            rss = int(f.read().split()[-1]) / 1024
        os.remove(rss_file)
    return wall, rss


def shell(cmd: str, env: Optional[dict[str, str]] = None, cwd: Optional[str] = None) -> float:
    return timed(["bash", "-c", cmd], env=env, cwd=cwd)[0]


def disk_bytes(*roots: str) -> int:
    """Allocated bytes under `roots`, each inode counted once (hard links, moves)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for root in roots:
        for d, _dirs, files in os.walk(root):
            for name in files:
                st = os.lstat(os.path.join(d, name))
                if (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    total += st.st_blocks * 512
    return total


class Runner:
    """Fresh run dirs, an artefact CLI in a fresh process, and the collected samples."""

    def __init__(self, work: cm.WorkDir, log: Callable[[str], None], baseline: Optional[str] = None):
        self.work, self.log = work, log
        # "" is the package under test; " (baseline)" the one in `baseline`, if any.
        self.variants: dict[str, dict[str, str]] = {"": {}}
        if baseline:
            self.variants[" (baseline)"] = {"PYTHONPATH": os.path.abspath(baseline)}
        self.samples: dict[str, list[float]] = {}
        self.dvc = shutil.which("dvc") or _venv_tool("dvc")

    def add(self, key: str, value: float) -> None:
        self.samples.setdefault(key, []).append(value)
        self.log(f"  {key}: {value:.3f}")

    def env(self, run_dir: str, statcache: bool = False, variant: str = "") -> dict[str, str]:
        return cm.sdk_env(run_dir, {"ARTEFACT_STATCACHE": "on" if statcache else "off", **self.variants[variant]})

    def put(self, run_dir: str, path: str, policy: str, statcache: bool = False, sync: str = "auto",
            variant: str = "") -> tuple[float, float]:
        argv = [sys.executable, "-m", "artefact", "-q", "put", path, "--name", "t", "--type", "dataset",
                "--policy", policy]
        return timed(argv, env={**self.env(run_dir, statcache, variant), "ARTEFACT_SYNC": sync}, cwd=run_dir)

    def warm_bytecode(self, tree: str) -> None:
        """Compile each variant's modules once (a put and a get of a small tree), as pip
        does at install: a timed process then loads bytecode, never compiles."""
        for v in self.variants:
            d = self.work.new_run_dir("warm")
            self.put(d, tree, "mutable", variant=v)
            timed([sys.executable, "-m", "artefact", "-q", "get", "t:latest", "--root", os.path.join(d, "got")],
                  env=self.env(d, variant=v), cwd=d)
            cm.run_worker({"sdk": "artefact", "op": "add_log", "path": tree, "name": "t", "policy": "mutable"},
                          self.work.new_run_dir("warm-log"), env_extra=self.variants[v])


def _venv_tool(name: str) -> Optional[str]:
    p = os.path.join(os.path.dirname(sys.executable), name)
    return p if os.path.exists(p) else None


def run_round(r: Runner, trees: dict[str, str], big: str, dirty_size: int, first: str,
              tree_names: tuple[str, ...] = ("A", "B")) -> None:
    """One round: every row once, artefact and its limits interleaved."""
    for t, tree in trees.items():
        if t not in tree_names:
            continue
        order = POLICIES if first == "mutable" else POLICIES[::-1]
        r.add(f"{t}/cp -r", shell(f"cp -r {cm.sh_quote(tree)} out", cwd=r.work.new_run_dir(f"{t}-cp")))
        for policy in order:
            for v in r.variants:
                d = r.work.new_run_dir(f"{t}-put-{policy}")
                r.add(f"{t}/{policy}/put{v}", r.put(d, tree, policy, variant=v)[0])
                store, cache = os.path.join(d, "store"), os.path.join(d, "cache")
                staging = os.path.join(d, "data")
                r.add(f"{t}/{policy}/disk{v}", disk_bytes(store, cache, staging) / disk_bytes(tree))
                if policy == "mutable":
                    # Before the SDK's log below, whose staged copies' unlinks would slow the
                    # file creation of the get and its `cp -r` (BENCHMARKING.md quirk 1).
                    out = os.path.join(d, "got")
                    argv = [sys.executable, "-m", "artefact", "-q", "get", "t:latest", "--root", out]
                    # As a user runs it: the stat cache on (empty: this run's own), recording what it placed.
                    r.add(f"{t}/get{v}", timed(argv, env=r.env(d, statcache=True, variant=v), cwd=d)[0])
                    r.add(f"{t}/cp -r (get)", shell(f"cp -r {cm.sh_quote(tree)} out", cwd=r.work.new_run_dir(f"{t}-cp2")))
                sample = cm.run_worker({"sdk": "artefact", "op": "add_log", "path": tree, "name": "t",
                                        "policy": policy}, r.work.new_run_dir(f"{t}-log-{policy}"),
                                       env_extra={"ARTEFACT_STATCACHE": "off", **r.variants[v]})
                if sample.ok:
                    r.add(f"{t}/{policy}/log+wait{v}", sample.wall)
                else:
                    r.log(f"  {t}/{policy}/log+wait{v} failed: {sample.error}")
                # Re-put: stat cache on for a first put, then the timed second one.
                d2 = r.work.new_run_dir(f"{t}-reput-{policy}")
                r.put(d2, tree, policy, statcache=True, variant=v)
                r.add(f"{t}/{policy}/re-put{v}", r.put(d2, tree, policy, statcache=True, variant=v)[0])
        r.add(f"{t}/stat walk", shell(f"find {cm.sh_quote(tree)} -type f -printf '%s %T@ %C@ %i\\n' >/dev/null"))
        if r.dvc:
            d = r.work.new_run_dir(f"{t}-dvc")
            shell(f"{r.dvc} init --no-scm -q && cp -r {cm.sh_quote(tree)} data", cwd=d)
            r.add(f"{t}/dvc add", shell(f"{r.dvc} add -q data", cwd=d))
            os.rename(os.path.join(d, "data"), os.path.join(d, "data.moved"))
            r.add(f"{t}/dvc checkout", shell(f"{r.dvc} checkout -q", cwd=d))
    # One large file: both policies against cp + sync of it.
    d = r.work.new_run_dir("big-cp")
    r.add("big/cp+sync", shell(f"cp {cm.sh_quote(big)} out && sync", cwd=d))
    shutil.rmtree(d)
    # The order alternates by round: the second put of a round writes its GiB after
    # two others (cp, the first put), which alone made immutable look slower.
    for policy in POLICIES if first == "mutable" else POLICIES[::-1]:
        for v in r.variants:
            d = r.work.new_run_dir(f"big-{policy}")
            wall, rss = r.put(d, big, policy, variant=v)
            r.add(f"big/{policy}/put{v}", wall)
            r.add(f"big/{policy}/rss MiB{v}", rss)
            shutil.rmtree(d)  # a GiB in a few files: deleting it frees blocks, not many inodes (quirk 1)
    # The small-file put with another process's dirty data waiting in the page cache.
    # Default (`auto`: one syncfs above 64 files, which also writes out everyone's dirty
    # data) and `written` (only this log's files written out, then fsynced), each with
    # and without.
    tree = trees["A"]
    for sync, v in [("auto", v) for v in r.variants] + [("written", "")]:
        for dirty in (False, True):
            d = r.work.new_run_dir(f"A-dirty-{dirty}-{sync}")
            if dirty:
                shell(f"dd if=/dev/zero of=dirty bs=1M count={dirty_size // MiB} status=none", cwd=d)
            suffix = ("" if sync == "auto" else f" (ARTEFACT_SYNC={sync})") + v
            r.add(f"A/mutable/put {'with' if dirty else 'without'} dirty data{suffix}",
                  r.put(d, tree, "mutable", sync=sync, variant=v)[0])
            if dirty:
                os.remove(os.path.join(d, "dirty"))


SYNC_MODES = ("auto", "filesystem", "written")


def system_dirty_mib() -> float:
    """Dirty + Writeback of the whole system (/proc/meminfo), as `auto` reads it."""
    with open("/proc/meminfo") as f:
        kib = {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in f) if k in ("Dirty", "Writeback")}
    return (kib["Dirty"] + kib["Writeback"]) / 1024


def sync_round(r: Runner, tree: str, dirty_size: int, i: int) -> None:
    """`--sync-modes`: `cp -r` of tree A, then its mutable put in every `ARTEFACT_SYNC`
    mode without and with `dirty_size` of another process's dirty data (written by `dd`
    just before, removed after), the modes' order rotated by round. Wall and CPU (user +
    sys of the put process; a `syncfs`'s writeback runs in kernel threads, not counted)."""
    r.add("A/cp -r", shell(f"cp -r {cm.sh_quote(tree)} out", cwd=r.work.new_run_dir("A-cp")))
    # The same copy with the other process's dirty data being written out meanwhile: what
    # that writeback costs a plain file-creating process, durable or not.
    d = r.work.new_run_dir("A-cp-dirty")
    shell(f"dd if=/dev/zero of=dirty bs=1M count={dirty_size // MiB} status=none", cwd=d)
    r.add("A/cp -r with dirty data", shell(f"cp -r {cm.sh_quote(tree)} out", cwd=d))
    os.remove(os.path.join(d, "dirty"))
    modes = SYNC_MODES[i % len(SYNC_MODES):] + SYNC_MODES[:i % len(SYNC_MODES)]
    for dirty in (False, True) if i % 2 == 0 else (True, False):
        for sync in modes:
            d = r.work.new_run_dir(f"A-sync-{sync}-{dirty}")
            if dirty:
                shell(f"dd if=/dev/zero of=dirty bs=1M count={dirty_size // MiB} status=none", cwd=d)
            r.log(f"  (system dirty before the put: {system_dirty_mib():.0f} MiB)")
            argv = [sys.executable, "-m", "artefact", "-q", "put", tree, "--name", "t", "--type", "dataset",
                    "--policy", "mutable"]
            env = {**r.env(d), "ARTEFACT_SYNC": sync}
            t0 = time.perf_counter()
            proc = subprocess.Popen(argv, env=env, cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            err = proc.stderr.read() if proc.stderr else b""
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - t0
            if os.waitstatus_to_exitcode(status) != 0:
                raise RuntimeError(f"put with ARTEFACT_SYNC={sync} failed: {err.decode(errors='replace')[-400:]}")
            what = "with" if dirty else "without"
            r.add(f"A/sync {sync} {what} dirty data", wall)
            r.add(f"A/sync {sync} {what} dirty data (CPU s)", usage.ru_utime + usage.ru_stime)
            if dirty:
                os.remove(os.path.join(d, "dirty"))


def summarize_sync(samples: dict[str, list[float]]) -> list[dict[str, Any]]:
    """`--sync-modes` rows: each mode against `cp -r`, and with dirty data against without."""
    med = {k: cm.median(v) for k, v in samples.items()}
    rows = []
    if "A/cp -r with dirty data" in med:
        rows.append({"what": "A cp -r: with / without 2 GB dirty", "median": med["A/cp -r with dirty data"],
                     "limit": "A/cp -r", "limit_median": med["A/cp -r"],
                     "ratio": med["A/cp -r with dirty data"] / med["A/cp -r"], "target": None,
                     "n": len(samples["A/cp -r with dirty data"]), "holds": None})
    for sync in SYNC_MODES:
        for what in ("without", "with"):
            for unit in ("", " (CPU s)"):
                key = f"A/sync {sync} {what} dirty data{unit}"
                if key in med:
                    lim = "A/cp -r" if not unit else None
                    rows.append({"what": f"A put mutable, ARTEFACT_SYNC={sync}, {what} 2 GB dirty{unit}",
                                 "median": med[key], "limit": lim, "limit_median": med.get(lim) if lim else None,
                                 "ratio": med[key] / med[lim] if lim else None, "target": None,
                                 "n": len(samples[key]), "holds": None})
        a, b = f"A/sync {sync} with dirty data", f"A/sync {sync} without dirty data"
        if a in med and b in med:
            rows.append({"what": f"A put mutable, ARTEFACT_SYNC={sync}: with / without dirty data", "median": med[a],
                         "limit": b, "limit_median": med[b], "ratio": med[a] / med[b],
                         "target": 1.1 if sync == "auto" else None, "n": len(samples[a]),
                         "holds": med[a] / med[b] <= 1.1 if sync == "auto" else None})
    return rows


def summarize(samples: dict[str, list[float]]) -> list[dict[str, Any]]:
    """Rows: median, its limit's median and the ratio (and the target)."""
    med = {k: cm.median(v) for k, v in samples.items()}
    rows = []

    def row(what: str, key: str, limit: Optional[str], target: Optional[float]) -> None:
        if key not in med:
            return
        lim = med.get(limit) if limit else None
        ratio = med[key] / lim if lim else None
        rows.append({"what": what, "median": med[key], "limit": limit, "limit_median": lim, "ratio": ratio,
                     "target": target, "n": len(samples[key]),
                     "holds": None if ratio is None or target is None else ratio <= target})

    for t in ("A", "B"):
        for p in POLICIES:
            for v in ("", " (baseline)"):
                row(f"{t} put {p}{v}", f"{t}/{p}/put{v}", f"{t}/cp -r", 1.5)
                row(f"{t} add+log+wait {p}{v}", f"{t}/{p}/log+wait{v}", f"{t}/cp -r", 1.5)
                row(f"{t} re-put {p}{v}", f"{t}/{p}/re-put{v}", f"{t}/stat walk", 1.5)
                row(f"{t} disk after put {p} (x tree){v}", f"{t}/{p}/disk{v}", None, 1.05)
        row(f"{t} dvc add", f"{t}/dvc add", f"{t}/cp -r", None)
        for v in ("", " (baseline)"):
            row(f"{t} get{v}", f"{t}/get{v}", f"{t}/cp -r (get)", 1.2)
        row(f"{t} dvc checkout", f"{t}/dvc checkout", f"{t}/cp -r (get)", None)
    for p in POLICIES:
        for v in ("", " (baseline)"):
            row(f"big file put {p} (1 GiB; --quick 128 MiB){v}", f"big/{p}/put{v}", "big/cp+sync", 1.3)
            row(f"big file put {p} peak RSS MiB{v}", f"big/{p}/rss MiB{v}", None, None)
    for v in ("", " (baseline)"):
        row(f"A put mutable, 2 GB dirty elsewhere{v}", f"A/mutable/put with dirty data{v}",
            f"A/mutable/put without dirty data{v}", 1.1)
    row("A put mutable, 2 GB dirty elsewhere, ARTEFACT_SYNC=written",
        "A/mutable/put with dirty data (ARTEFACT_SYNC=written)",
        "A/mutable/put without dirty data (ARTEFACT_SYNC=written)", 1.1)
    row("A put mutable without dirty data: written vs auto", "A/mutable/put without dirty data (ARTEFACT_SYNC=written)",
        "A/mutable/put without dirty data", None)
    row("A put mutable with dirty data: written vs auto", "A/mutable/put with dirty data (ARTEFACT_SYNC=written)",
        "A/mutable/put with dirty data", None)
    for r in rows:  # a plain number has its target as a bound on itself
        if r["limit"] is None and r["target"] is not None:
            r["holds"] = r["median"] <= r["target"]
    return rows


def render(rows: list[dict[str, Any]]) -> str:
    out = ["| row | median | limit (same run) | ratio | target | holds |", "|---|---|---|---|---|---|"]
    for r in rows:
        lim = f"{r['limit']} {r['limit_median']:.3f}" if r["limit_median"] is not None else "–"
        ratio = f"{r['ratio']:.2f}×" if r["ratio"] is not None else "–"
        target = f"≤ {r['target']}" if r["target"] is not None else "–"
        holds = {True: "yes", False: "NO", None: "–"}[r["holds"]]
        out.append(f"| {r['what']} | {r['median']:.3f} | {lim} | {ratio} | {target} | {holds} |")
    return "\n".join(out)


def main(work: cm.WorkDir, quick: bool, rounds: int, log: Callable[[str], None],
         tree_names: tuple[str, ...] = ("A", "B"), baseline: Optional[str] = None,
         sync_modes: bool = False) -> list[dict[str, Any]]:
    """Make the trees, run `rounds` rounds, return the summary rows."""
    size = QUICK if quick else FULL
    if sync_modes:
        tree = cm.make_tree(work.trees, size["A"])[0]
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        os.environ["PYTHONPYCACHEPREFIX"] = os.path.join(work.runs, "pycache")
        r = Runner(work, log)
        r.warm_bytecode(cm.make_tree(work.trees, TreeSpec("warm", 10, KiB))[0])
        for i in range(rounds):
            log(f"# sync modes round {i + 1}/{rounds} (load {os.getloadavg()[0]:.1f})")
            sync_round(r, tree, size["dirty"], i)
        return summarize_sync(r.samples)
    trees = {t: cm.make_tree(work.trees, size[t])[0] for t in ("A", "B") if t in tree_names or t == "A"}
    big = cm.make_big_file(work.trees, f"big-{size['big']}", size["big"])[0]
    # Bytecode as an installed package has it, in a cache of this run's own.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = os.path.join(work.runs, "pycache")
    r = Runner(work, log, baseline)
    r.warm_bytecode(cm.make_tree(work.trees, TreeSpec("warm", 10, KiB))[0])
    for i in range(rounds):
        log(f"# log path round {i + 1}/{rounds}")
        run_round(r, trees, big, size["dirty"], "mutable" if i % 2 == 0 else "immutable", tree_names)
    return summarize(r.samples)


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json")
    ap.add_argument("--trees", default="A,B", help="small-file trees to run (A is always made: the dirty-data row)")
    ap.add_argument("--baseline", help="also time the artefact package in this dir (a `python/` dir with its extension)")
    ap.add_argument("--sync-modes", action="store_true",
                    help="only the dirty-data rows: tree A's mutable put in each ARTEFACT_SYNC mode, with and "
                         "without 2 GB of another process's dirty data, beside cp -r, wall and CPU")
    ap.add_argument("--keep-runs", action="store_true",
                    help="leave this run's outputs (a mass delete slows the next run's file creation for minutes)")
    ap.add_argument("--workdir", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "artefact-bench"))
    a = ap.parse_args()
    w = cm.WorkDir(a.workdir)
    try:
        rows = main(w, a.quick, a.rounds, lambda m: print(m, file=sys.stderr, flush=True),
                    tuple(a.trees.split(",")), a.baseline, a.sync_modes)
    finally:
        if not a.keep_runs:
            w.cleanup()
    print(render(rows))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"machine": cm.machine_info(), "loadavg": os.getloadavg(), "rows": rows}, f, indent=1)

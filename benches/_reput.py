"""Issue 17's two remaining targets, as interleaved pairs (case `reput` of compare_wandb.py):

- re-put of an unchanged tree (`artefact put`, the console script pip installs, process
  start to exit, stat cache on, into the store of a first put of the same tree; also
  through `python -m artefact`) against a bare stat walk of it
  (`find DIR -printf '%s %T@\\n'`, also a process), target ≤ 1.5×;
- `artefact put` of one 1 GiB file (fresh store, default settings) against `cp` + `sync`
  of it, target ≤ 1.3×, with the put's peak RSS (target < 100 MB).

Each pair runs the limit and the put back to back (the order alternates by round), so a
load swing hits both; rows give the median of the per-pair ratios and the medians.
The package is byte-compiled first, as pip does at install (see `_common.fresh_bytecode`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from typing import Any, Callable

import _common as cm
from _common import GiB, KiB, MiB, TreeSpec
from _logpath import Runner, shell, timed

FULL = {"A": TreeSpec("A", 10_000, 4 * KiB), "B": TreeSpec("B", 100_000, 1 * KiB), "big": GiB}
QUICK = {"A": TreeSpec("A-quick", 1_000, 4 * KiB), "B": TreeSpec("B-quick", 5_000, 1 * KiB), "big": 128 * MiB}
POLICIES = ("mutable", "immutable")
# Floors no re-put can go under: the interpreter, and it importing what a re-put needs:
# the fast path's modules (fastput.py), or the SDK's put path (a changed tree).
FLOORS = (("python start", "pass"), ("python start + sqlite3", "import sqlite3"),
          ("python start + fast re-put imports",
           "import artefact.cli, artefact.fastput, artefact.config, artefact._core, _sqlite3, artefact.store.migrations"),
          ("python start + put imports", "import artefact.runs, artefact.cli"))


def console_script() -> str:
    """The `artefact` command pip installed next to this interpreter (what a user runs);
    `python -m artefact` pays runpy's extra imports on top."""
    path = shutil.which("artefact", path=os.path.dirname(sys.executable))
    if path is None:
        raise SystemExit(f"no `artefact` console script next to {sys.executable}: pip install the package first")
    return path


def reput_argv(tree: str, policy: str, module: bool = False) -> list[str]:
    """`artefact -q put TREE` (the console script), or through `python -m artefact`."""
    head = [sys.executable, "-m", "artefact"] if module else [console_script()]
    return [*head, "-q", "put", tree, "--name", "t", "--type", "dataset", "--policy", policy]


def _pair(r: Runner, key: str, limit_key: str, limit, put, put_first: bool) -> None:
    """Run `limit` and `put` back to back; record both and their ratio."""
    if put_first:
        p = put()
        lim = limit()
    else:
        lim = limit()
        p = put()
    r.add(key, p)
    r.add(limit_key, lim)
    r.add(f"{key} ratio", p / lim)


def md5_rate() -> float:
    """Bytes per second of the fastest MD5 the core has (the md-5 crate's or OpenSSL's),
    on one core over 256 MiB in memory, best of 3, in a fresh process."""
    code = "from artefact import _core; print(max(_core.md5_info(256 << 20, 3)[2:]))"
    return float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)


# Each kind of re-put row has its own store (a first put of its own): the teardown row
# closes the catalog and the SDK row is the ordinary path, and both checkpoint and delete
# the WAL a fast re-put leaves, so sharing a store would make every timed fast re-put
# create its WAL anew (one more fdatasync and a directory entry), which a user's
# consecutive re-puts do not.
STORES = ("fast", "teardown", "sdk")


def run_round(r: Runner, trees: dict[str, str], first_puts: dict[tuple[str, str, str], str], big: str,
              i: int) -> None:
    for t, tree in trees.items():
        walk = f"find {cm.sh_quote(tree)} -printf '%s %T@\\n' >/dev/null"
        for policy in POLICIES:
            d, d_teardown, d_sdk = (first_puts[(t, policy, kind)] for kind in STORES)
            _pair(r, f"{t}/{policy}/re-put", f"{t}/{policy}/stat walk", lambda: shell(walk),
                  lambda: timed(reput_argv(tree, policy), env=r.env(d, True), cwd=d)[0], i % 2 == 1)
            # The same through `python -m artefact` (runpy and its imports on top).
            _pair(r, f"{t}/{policy}/re-put -m", f"{t}/{policy}/stat walk (-m pair)", lambda: shell(walk),
                  lambda: timed(reput_argv(tree, policy, module=True), env=r.env(d, True), cwd=d)[0], i % 2 == 0)
            # The same re-put ending with the interpreter's full teardown (cli.main
            # called with argv, as before `_exit_now`): what that shortcut saves.
            teardown = [sys.executable, "-c", "import sys; from artefact.cli import main; sys.exit(main(sys.argv[1:]))",
                        "-q", "put", tree, "--name", "t", "--type", "dataset", "--policy", policy]
            _pair(r, f"{t}/{policy}/re-put with teardown", f"{t}/{policy}/stat walk (teardown pair)",
                  lambda: shell(walk), lambda: timed(teardown, env=r.env(d_teardown, True), cwd=d_teardown)[0],
                  i % 2 == 0)
            # The same re-put through the SDK (the ordinary path, fastput.py off).
            sdk = [sys.executable, "-m", "artefact", "-q", "put", tree, "--name", "t", "--type", "dataset",
                   "--policy", policy]
            _pair(r, f"{t}/{policy}/re-put via the SDK", f"{t}/{policy}/stat walk (SDK pair)", lambda: shell(walk),
                  lambda: timed(sdk, env={**r.env(d_sdk, True), "ARTEFACT_FAST_REPUT": "0"}, cwd=d_sdk)[0],
                  i % 2 == 0)
    walk = f"find {cm.sh_quote(next(iter(trees.values())))} -printf '%s %T@\\n' >/dev/null"
    for what, code in FLOORS:
        _pair(r, f"floor/{what}", f"floor/{what}/stat walk", lambda: shell(walk),
              lambda: timed([sys.executable, "-c", code])[0], i % 2 == 1)
    for policy in POLICIES if big else ():
        rss: list[float] = []
        d_put, d_cp = r.work.new_run_dir(f"big-{policy}"), r.work.new_run_dir("big-cp")

        def put() -> float:
            wall, peak = timed([sys.executable, "-m", "artefact", "-q", "put", big, "--name", "big", "--type",
                                "model", "--policy", policy], env=cm.sdk_env(d_put), cwd=d_put)
            rss.append(peak)
            return wall

        _pair(r, f"big/{policy}/put", f"big/{policy}/cp+sync",
              lambda: shell(f"cp {cm.sh_quote(big)} out && sync", cwd=d_cp), put, i % 2 == 0)
        r.add(f"big/{policy}/rss MiB", rss[0])
        # wandb's digest is the file's MD5, one sequential pass: its time bounds any put.
        # md5sum right after: that one sequential pass bounds any put of this file.
        put_s, md5 = r.samples[f"big/{policy}/put"][-1], shell(f"md5sum {cm.sh_quote(big)}")
        r.add(f"big/{policy}/md5sum", md5)
        r.add(f"big/{policy}/put vs md5sum", put_s)
        r.add(f"big/{policy}/put vs md5sum ratio", put_s / md5)
        # The floor itself: the file's size over the fastest single-core MD5 this process
        # has (the core's two backends, in memory), against the cp + sync of this pair.
        floor = os.path.getsize(big) / md5_rate()
        cp_s = r.samples[f"big/{policy}/cp+sync"][-1]
        r.add(f"big/{policy}/md5 floor", floor)
        r.add(f"big/{policy}/md5 floor vs cp+sync", cp_s)
        r.add(f"big/{policy}/md5 floor ratio", floor / cp_s)
        r.add(f"big/{policy}/put vs md5 floor", put_s)
        r.add(f"big/{policy}/put vs md5 floor ratio", put_s / floor)
        # Two 1 GiB copies per pair would fill a shared disk; a few big unlinks are cheap
        # (unlike mass deletes of small files, BENCHMARKING.md quirk 1).
        shutil.rmtree(d_put, ignore_errors=True)
        shutil.rmtree(d_cp, ignore_errors=True)


def summarize(samples: dict[str, list[float]], trees: dict[str, str]) -> list[dict[str, Any]]:
    rows = []

    def row(what: str, key: str, limit_key: str, target: float) -> None:
        if key not in samples:
            return
        ratio = cm.median(samples[f"{key} ratio"])
        rows.append({"what": what, "median": cm.median(samples[key]), "limit": limit_key.split("/")[-1],
                     "limit_median": cm.median(samples[limit_key]), "ratio": ratio, "target": target,
                     "holds": ratio <= target, "ratios": samples[f"{key} ratio"]})

    for t in trees:
        for p in POLICIES:
            row(f"{t} re-put {p} (`artefact put`)", f"{t}/{p}/re-put", f"{t}/{p}/stat walk", 1.5)
            row(f"{t} re-put {p}, `python -m artefact put`", f"{t}/{p}/re-put -m", f"{t}/{p}/stat walk (-m pair)",
                1.5)
            row(f"{t} re-put {p}, with interpreter teardown (before)", f"{t}/{p}/re-put with teardown",
                f"{t}/{p}/stat walk (teardown pair)", 1.5)
            row(f"{t} re-put {p}, through the SDK (ARTEFACT_FAST_REPUT=0)", f"{t}/{p}/re-put via the SDK",
                f"{t}/{p}/stat walk (SDK pair)", 1.5)
    first = next(iter(trees), "")
    for what, _ in FLOORS:
        row(f"floor: {what} (vs the {first} walk)", f"floor/{what}", f"floor/{what}/stat walk", 1.5)
    for p in POLICIES:
        row(f"big put {p}", f"big/{p}/put", f"big/{p}/cp+sync", 1.3)
        row(f"big put {p} (against md5sum)", f"big/{p}/put vs md5sum", f"big/{p}/md5sum", 1.3)
        row(f"big put {p} (against the MD5 floor: size / one core's MD5 rate)", f"big/{p}/put vs md5 floor",
            f"big/{p}/md5 floor", 1.3)
        row(f"MD5 floor alone against cp + sync ({p} pairs)", f"big/{p}/md5 floor", f"big/{p}/md5 floor vs cp+sync",
            1.3)
        if f"big/{p}/rss MiB" in samples:
            peak = max(samples[f"big/{p}/rss MiB"])
            rows.append({"what": f"big put {p} peak RSS MiB", "median": peak, "limit": None, "limit_median": None,
                         "ratio": None, "target": 100 / 1.048576, "holds": peak < 100 / 1.048576, "ratios": []})
    return rows


def render(rows: list[dict[str, Any]]) -> str:
    out = ["| row | median s | limit (same run) | median of pair ratios | pair ratios | target | holds |",
           "|---|---|---|---|---|---|---|"]
    for r in rows:
        lim = f"{r['limit']} {r['limit_median']:.3f} s" if r["limit"] else "–"
        ratio = f"{r['ratio']:.2f}×" if r["ratio"] is not None else "–"
        pairs = ", ".join(f"{x:.2f}" for x in r["ratios"]) or "–"
        target = f"≤ {r['target']:.1f}" if r["ratio"] is not None else f"< {r['target']:.0f} MiB"
        out.append(f"| {r['what']} | {r['median']:.3f} | {lim} | {ratio} | {pairs} | {target} | "
                   f"{'yes' if r['holds'] else 'NO'} |")
    return "\n".join(out)


def main(work: cm.WorkDir, quick: bool, rounds: int, log: Callable[[str], None],
         tree_names: tuple[str, ...] = ("A", "B"), with_big: bool = True) -> list[dict[str, Any]]:
    """Make the trees and the first puts (untimed), run `rounds` rounds of pairs."""
    size = QUICK if quick else FULL
    cm.fresh_bytecode("artefact")
    trees = {t: cm.make_tree(work.trees, size[t])[0] for t in tree_names}
    big = cm.make_big_file(work.trees, f"big-{size['big']}", size["big"])[0] if with_big else ""
    r = Runner(work, log)
    first_puts = {}
    for t, tree in trees.items():
        for policy in POLICIES:
            for kind in STORES:
                d = work.new_run_dir(f"{t}-first-{policy}-{kind}")
                log(f"first put of {t} ({policy}, for the {kind} rows), untimed")
                r.put(d, tree, policy, statcache=True)
                first_puts[(t, policy, kind)] = d
    for i in range(rounds):
        log(f"# re-put / big put round {i + 1}/{rounds}, load {os.getloadavg()[0]:.1f}")
        run_round(r, trees, first_puts, big, i)
    return summarize(r.samples, trees)


if __name__ == "__main__":
    import argparse
    import json

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--trees", default="A,B")
    ap.add_argument("--no-big", action="store_true", help="skip the 1 GiB put rows")
    ap.add_argument("--json")
    ap.add_argument("--workdir", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "artefact-bench"))
    a = ap.parse_args()
    w = cm.WorkDir(a.workdir)
    load0 = os.getloadavg()
    try:
        rows = main(w, a.quick, a.rounds, lambda m: print(m, file=sys.stderr, flush=True),
                    tuple(x for x in a.trees.split(",") if x), not a.no_big)
    finally:
        w.cleanup()
    print(f"load average at start {load0[0]:.1f}, at end {os.getloadavg()[0]:.1f} (2 cores, shared)\n")
    print(render(rows))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"machine": cm.machine_info(), "loadavg": os.getloadavg(), "rows": rows}, f, indent=1)

#!/usr/bin/env python3
"""artefact and wandb 0.31.0 side by side, and both against the machine's limits.

Every measurement runs in its own fresh process (`_worker.py`), SDKs interleaved within a
round (the one that goes first alternates between rounds), and the table quotes medians.
In the same run it measures the physical limits: single-core MD5 (hashlib), `md5sum`
spread over every core per tree, `md5sum` of the big file, `cp -r` of the small-file
trees, and a stat walk of tree B.

    python benches/compare_wandb.py --quick                  # < 2 min, CI-sized trees
    python benches/compare_wandb.py --json out.json          # full size (quiet machine!)
    python benches/compare_wandb.py --quick --only A,B-readd,manifest

Cases:
    A, A-mut        add_dir of 10,000 files x 4 KiB, immutable / mutable (staging copy)
    B, B-mut        add_dir of 100,000 files x 1 KiB, immutable / mutable
    C               add_dir of 4 files x 256 MiB, immutable
    D               add_file of 1 file x 2 GiB, immutable
    B-readd         a second add_dir of unchanged B in the same process (artefact only:
                    it has a stat cache; wandb redoes the work of B)
    manifest        1M entries: artefact `_core.Manifest` insert + to_manifest_json + digest;
                    wandb ArtifactManifestV1.add_entry(ArtifactManifestEntry) + json.dumps
                    (to_manifest_json()) + digest(). Target: 2 s and 400 MiB at 1M.
    manifest-api    the same through both SDKs' public manifest classes
    import          `import artefact` vs `import wandb` (in-process import time)
    download        download of B into an empty root: cold cache, warm cache, already
                    present (artefact's embedded store only; wandb offline cannot download)
    log             the log path end to end (artefact only, see _logpath.py): `put` and
                    add+log+wait of 10k x 4 KiB and 100k x 1 KiB in both policies against
                    `cp -r`, re-put against a stat walk, disk after one put, `get` against
                    `cp -r`, 1 GiB against `cp` + `sync`, with 2 GB of dirty data; `dvc
                    add`/`dvc checkout` beside them when dvc is installed
    reput           issue 17's remaining targets as interleaved pairs (see _reput.py):
                    re-put of an unchanged 10k / 100k tree against a `find` stat walk,
                    `put` of 1 GiB against `cp` + `sync` (and its peak RSS), with the
                    interpreter start and the put path's imports as floors
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common as cm  # noqa: E402
from _common import GiB, KiB, MiB, TreeSpec  # noqa: E402

ALL_CASES = ["A", "A-mut", "B", "B-mut", "C", "D", "B-readd", "manifest", "manifest-api", "import", "download",
             "log", "reput"]
DOWNLOAD_ROWS = ["download-cold", "download-warm", "download-present", "download-again"]

FULL = {
    "A": TreeSpec("A", 10_000, 4 * KiB),
    "B": TreeSpec("B", 100_000, 1 * KiB),
    "C": TreeSpec("C", 4, 256 * MiB),
    "D": 2 * GiB,
    "entries": 1_000_000,
    "md5_bytes": 1 * GiB,
    "import_reps": 5,
    "rounds": 3,
}
QUICK = {
    "A": TreeSpec("A-quick", 1_000, 4 * KiB),
    "B": TreeSpec("B-quick", 5_000, 1 * KiB),
    "C": TreeSpec("C-quick", 4, 16 * MiB),
    "D": 128 * MiB,
    "entries": 100_000,
    "md5_bytes": 256 * MiB,
    "import_reps": 3,
    "rounds": 1,
}
# wandb 0.31.0 at full size on the reference machine (the issue), for the download rows
# that cannot be measured offline.
WANDB_DOWNLOAD_REFERENCE = {"download-cold": 162.0, "download-warm": 82.0, "download-present": 22.0,
                            "download-again": 22.0}
MANIFEST_TARGET_S_PER_M = 2.0
MANIFEST_TARGET_RSS_MIB = 400.0


@dataclass
class Row:
    case: str
    what: str
    artefact: list[cm.Sample]
    wandb: list[cm.Sample]
    limit: list[float]
    limit_label: str = ""
    note: str = ""

    def med(self, who: str, attr: str) -> float:
        return cm.median([getattr(s, attr) for s in getattr(self, who) if s.ok])


def detect_sdk(module: str, run_dir: str) -> dict[str, bool]:
    """What the SDK module offers, asked in a fresh process (keeps this one lean)."""
    code = (
        "import importlib, json, sys\n"
        f"m = importlib.import_module({module!r})\n"
        "print(json.dumps({k: hasattr(m, k) for k in ('Artifact', 'init', 'Api')}))\n"
    )
    env = cm.sdk_env(run_dir)
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
        return json.loads(out.stdout.strip().splitlines()[-1])
    except Exception:  # noqa: BLE001 - unimportable: nothing available
        return {"Artifact": False, "init": False, "Api": False}


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small trees, 1 round (< 2 min)")
    p.add_argument("--rounds", type=int, help="rounds of every case (default 3, --quick 1)")
    p.add_argument("--only", help=f"comma-separated cases: {','.join(ALL_CASES)}")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    p.add_argument("--workdir", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "artefact-bench"),
                   help="trees (kept between invocations) and run outputs (deleted at the end)")
    p.add_argument("--entries", type=int, help="manifest entries (default 1M, --quick 100k)")
    p.add_argument("--artefact-sdk", default="artefact",
                   help="module measured as artefact (e.g. 'wandb' to test the harness itself)")
    p.add_argument("--keep", action="store_true", help="keep run outputs (staging copies, cp -r copies)")
    p.add_argument("--no-wait", action="store_true",
                   help="do not wait out the slow-file-creation window after a recent mass delete")
    p.add_argument("--timeout", type=float, default=1800, help="per measurement, seconds")
    args = p.parse_args(argv)
    cases = ALL_CASES if not args.only else [c.strip() for c in args.only.split(",") if c.strip()]
    unknown = sorted(set(cases) - set(ALL_CASES))
    if unknown:
        p.error(f"unknown case(s) {unknown}; choose from {ALL_CASES}")
    args.cases = [c for c in ALL_CASES if c in cases]
    return args


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    size = dict(QUICK if args.quick else FULL)
    rounds = args.rounds or size["rounds"]
    entries = args.entries or size["entries"]
    cases = args.cases
    work = cm.WorkDir(args.workdir)
    procs = cm.nproc()
    notes: list[str] = []
    t_start = time.perf_counter()

    def log(msg: str) -> None:
        print(f"# [{time.perf_counter() - t_start:6.1f} s] {msg}", file=sys.stderr, flush=True)

    art_sdk = args.artefact_sdk
    for module in (art_sdk, "wandb"):
        cm.fresh_bytecode(module)
    caps = detect_sdk(art_sdk, work.new_run_dir("detect"))
    if art_sdk != "artefact":
        notes.append(f"'{art_sdk}' stood in for artefact (harness test, not a comparison).")
    if not caps["Artifact"]:
        notes.append(f"{art_sdk}.Artifact does not exist yet: artefact's add/manifest-api cases were skipped.")
    if "download" in cases and not caps["init"]:
        notes.append(f"{art_sdk}.init does not exist yet (embedded store): download cases skipped.")
    log(f"artefact module {art_sdk!r}: {caps}")

    needs_tree = {t for t in ("A", "B", "C") if any(c.split("-")[0] == t for c in cases)}
    if "download" in cases:
        needs_tree.add("B")
    if any(c in cases for c in ("A-mut", "B-mut", "download")):
        # File-creating runs ahead: don't let a recent mass delete slow them (quirk 1).
        warning = cm.wait_for_cooldown(work, wait=not args.no_wait and not args.quick)
        if warning:
            notes.append(warning)

    trees: dict[str, str] = {}
    tree_made_at: dict[str, float] = {}
    for t in sorted(needs_tree):
        spec: TreeSpec = size[t]
        log(f"tree {t}: {spec.files:,} files x {spec.size:,} B")
        trees[t], _ = cm.make_tree(work.trees, spec)
        tree_made_at[t] = os.path.getmtime(trees[t] + ".stamp")
    d_file = None
    if "D" in cases:
        log(f"file D: {size['D']:,} B")
        d_file, _ = cm.make_big_file(work.trees, "D-quick.bin" if args.quick else "D.bin", size["D"])
    for p in list(trees.values()) + ([d_file] if d_file else []):
        cm.warm_page_cache(p)

    # --- what each case runs ---------------------------------------------------------
    def add_specs(op: str, target: str, policy: str) -> dict[str, Any]:
        return {"op": op, "path": target, "policy": policy}

    plan: dict[str, tuple[Optional[dict], Optional[dict]]] = {}  # case -> (artefact spec, wandb spec)
    can_add = caps["Artifact"]
    for t in ("A", "B"):
        if t in cases:
            s = add_specs("add_dir", trees[t], "immutable")
            plan[t] = (s if can_add else None, s)
        if f"{t}-mut" in cases:
            s = add_specs("add_dir", trees[t], "mutable")
            plan[f"{t}-mut"] = (s if can_add else None, s)
    if "C" in cases:
        s = add_specs("add_dir", trees["C"], "immutable")
        plan["C"] = (s if can_add else None, s)
    if "D" in cases:
        s = add_specs("add_file", d_file, "immutable")
        plan["D"] = (s if can_add else None, s)
    if "B-readd" in cases:
        plan["B-readd"] = ({"op": "readd", "path": trees["B"]} if can_add else None, None)
    if "manifest" in cases:
        core_op = "manifest_core" if art_sdk == "artefact" else "manifest_api"
        plan["manifest"] = ({"op": core_op, "entries": entries}, {"op": "manifest_api", "entries": entries})
    if "manifest-api" in cases:
        plan["manifest-api"] = ({"op": "manifest_api", "entries": entries} if can_add else None,
                                {"op": "manifest_api", "entries": entries})

    samples: dict[str, dict[str, list[cm.Sample]]] = {}
    limits: dict[str, list[float]] = {}
    limit_cpu: dict[str, list[float]] = {}

    def add_limit(name: str, timed: cm.Timed) -> None:
        limits.setdefault(name, []).append(timed.wall)
        limit_cpu.setdefault(name, []).append(timed.user + timed.sys)

    def record(case: str, who: str, s: cm.Sample) -> None:
        samples.setdefault(case, {"artefact": [], "wandb": []})[who].append(s)
        state = f"{s.wall:.3f} s, user {s.user:.2f} s, {s.rss_mib:.0f} MiB" if s.ok else f"FAILED: {s.error}"
        log(f"  {case:<16} {who:<8} {state}")

    md5_rates: list[float] = []
    for r in range(rounds):
        log(f"round {r + 1}/{rounds}: limits")
        md5_rates.append(cm.md5_single_core_mbps(size["md5_bytes"]))
        for t in ("A", "B", "C"):
            if t in trees:
                add_limit(f"md5sum-P{procs}:{t}", cm.md5sum_parallel(trees[t], size[t].files, procs))
        for t in ("A", "B"):
            if t in trees and (f"{t}-mut" in cases or (t == "B" and "download" in cases)):
                add_limit(f"cp-r:{t}", cm.cp_tree(trees[t], os.path.join(work.new_run_dir(f"cp-{t}"), t)))
        if "B-readd" in cases:
            add_limit("stat-walk:B", cm.stat_walk(trees["B"]))
        if d_file:
            add_limit("md5sum:D", cm.md5sum_file(d_file))

        order = ["artefact", "wandb"] if r % 2 == 0 else ["wandb", "artefact"]
        log(f"round {r + 1}/{rounds}: SDKs ({' then '.join(order)} first-in-pair)")
        for case, (a_spec, w_spec) in plan.items():
            if case == "B-readd":
                # The stat cache trusts only files whose timestamps are safely old (2 s).
                wait = tree_made_at["B"] + 3 - time.time()
                if wait > 0:
                    time.sleep(wait)
            for who in order:
                spec = a_spec if who == "artefact" else w_spec
                if spec is None:
                    continue
                spec = dict(spec, sdk=art_sdk if who == "artefact" else "wandb")
                record(case, who, cm.run_worker(spec, work.new_run_dir(f"{case}-{who}"), args.timeout))
        if "import" in cases:
            for _ in range(size["import_reps"]):
                for who in order:
                    spec = {"op": "import", "sdk": art_sdk if who == "artefact" else "wandb"}
                    record("import", who, cm.run_worker(spec, work.new_run_dir(f"import-{who}"), args.timeout))
        if "download" in cases and caps["init"]:
            run_download_round(work, trees["B"], art_sdk, args.timeout, record)

    log_rows = []
    if "log" in cases:
        import _logpath

        log_rows = _logpath.main(work, args.quick, rounds, log)
    reput_rows = []
    if "reput" in cases:
        import _reput

        reput_rows = _reput.main(work, args.quick, max(rounds, 3), log)

    # --- the table -------------------------------------------------------------------
    md5_rate = cm.median(md5_rates)
    rows = build_rows(cases, size, entries, procs, samples, limits, md5_rate, trees, art_sdk, notes, args.quick)
    table = render_table(rows)
    header = (
        f"artefact vs wandb 0.31.0 — {'QUICK' if args.quick else 'full'} size, {rounds} round(s), "
        f"{procs} cores; single-core MD5 (hashlib) {md5_rate:.0f} MB/s; medians"
    )
    print(f"\n## {header}\n")
    print(table)
    limit_lines = [f"- {k}: {cm.fmt_s(cm.median(v))} wall, {cm.fmt_s(cm.median(limit_cpu[k]))} CPU"
                   for k, v in sorted(limits.items())]
    print("\nLimits measured in this run:\n" + "\n".join(
        [f"- MD5 single core (hashlib, {size['md5_bytes'] // MiB} MiB): {md5_rate:.0f} MB/s"] + limit_lines))
    if log_rows:
        print("\n### The log path (artefact, medians; limits from this run)\n\n" + _logpath.render(log_rows))
    if reput_rows:
        print(f"\n### Re-put and the 1 GiB put (interleaved pairs; load {os.getloadavg()[0]:.1f})\n\n"
              + _reput.render(reput_rows))
    if notes:
        print("\nNotes:\n" + "\n".join(f"- {n}" for n in notes))

    if args.json:
        doc = {
            "header": header,
            "machine": cm.machine_info(),
            "versions": {"artefact": cm.package_version("artefact"), "wandb": cm.package_version("wandb"),
                         "artefact_module": art_sdk},
            "config": {"quick": args.quick, "rounds": rounds, "cases": cases, "entries": entries,
                       "trees": {t: vars(size[t]) for t in ("A", "B", "C")}, "D_bytes": size["D"]},
            "md5_single_core_mbps": md5_rates,
            "limits": {k: {"wall": v, "cpu": limit_cpu[k]} for k, v in limits.items()},
            "rows": [row_json(r) for r in rows],
            "log_rows": log_rows,
            "reput_rows": reput_rows,
            "notes": notes,
            "table_markdown": table,
        }
        with open(args.json, "w") as f:
            json.dump(no_nan(doc), f, indent=2, allow_nan=False)
        print(f"\nJSON: {args.json}")

    if args.keep:
        print(f"\nRun outputs kept in {work.runs}", file=sys.stderr)
    else:
        log("deleting run outputs (after all timing)")
        work.cleanup()
    log("done")
    return 0


def run_download_round(work: cm.WorkDir, tree_b: str, sdk: str, timeout: float,
                       record: Callable[[str, str, cm.Sample], None]) -> None:
    """Log B once into a private store, then download it: cold cache, warm, present."""
    base = work.new_run_dir("download")
    setup = cm.run_worker({"op": "log", "sdk": sdk, "name": "tree-b", "path": tree_b}, base, timeout)
    if not setup.ok:
        record("download-cold", "artefact", setup)
        return
    cache = os.path.join(base, "cache-download")
    os.makedirs(cache)
    # The store (ARTEFACT_STORE) stays; only the artifact file cache starts empty.
    env = {"ARTEFACT_CACHE_DIR": cache, "WANDB_CACHE_DIR": cache, "XDG_CACHE_HOME": cache}
    # "present" runs right after "warm" placed root-2 (its writeback still in flight): the
    # stat cache holds the keys the placement recorded, its last racy files included when
    # it waited them out; "again" repeats it.
    rows = (("download-cold", "root-1"), ("download-warm", "root-2"), ("download-present", "root-2"),
            ("download-again", "root-2"))
    for row, root in rows:
        spec = {"op": "download", "sdk": sdk, "name": "tree-b", "root": os.path.join(base, root)}
        record(row, "artefact", cm.run_worker(spec, base, timeout, env_extra=env))


def build_rows(cases: list[str], size: dict, entries: int, procs: int, samples: dict, limits: dict,
               md5_rate: float, trees: dict, art_sdk: str, notes: list[str], quick: bool) -> list[Row]:
    rows: list[Row] = []

    def get(case: str, who: str) -> list[cm.Sample]:
        return samples.get(case, {}).get(who, [])

    def tree_what(t: str) -> str:
        s: TreeSpec = size[t]
        unit = f"{s.size // MiB} MiB" if s.size >= MiB else f"{s.size // KiB} KiB"
        return f"{s.files:,} × {unit}"

    for t in ("A", "B"):
        md5p = limits.get(f"md5sum-P{procs}:{t}", [])
        if t in cases:
            rows.append(Row(t, f"add_dir {tree_what(t)}, immutable", get(t, "artefact"), get(t, "wandb"),
                            md5p, f"md5sum -P{procs}"))
        if f"{t}-mut" in cases:
            cp = limits.get(f"cp-r:{t}", [])
            both = [a + b for a, b in zip(cp, md5p)]
            rows.append(Row(f"{t}-mut", f"add_dir {tree_what(t)}, mutable", get(f"{t}-mut", "artefact"),
                            get(f"{t}-mut", "wandb"), both, f"cp -r + md5sum -P{procs}"))
    if "C" in cases:
        spec: TreeSpec = size["C"]
        theory = spec.total_bytes / (min(procs, spec.files) * md5_rate * 1e6)
        measured = limits.get(f"md5sum-P{procs}:C", [])
        best = min(theory, cm.median(measured)) if measured else theory
        label = "MD5 rate × cores" if best == theory else f"md5sum -P{procs}"
        label += f"; hashlib MD5 {md5_rate:.0f} MB/s/core on {cm.machine_info().get('cpu', 'unknown CPU')}"
        rows.append(Row("C", f"add_dir {tree_what('C')}, immutable", get("C", "artefact"), get("C", "wandb"),
                        [best], label))
    if "D" in cases:
        theory = size["D"] / (md5_rate * 1e6)
        measured = limits.get("md5sum:D", [])
        best = min(theory, cm.median(measured)) if measured else theory
        label = "MD5 rate, 1 core" if best == theory else "md5sum"
        label += f"; hashlib MD5 {md5_rate:.0f} MB/s/core on {cm.machine_info().get('cpu', 'unknown CPU')}"
        rows.append(Row("D", f"add_file 1 × {size['D'] // MiB} MiB, immutable", get("D", "artefact"),
                        get("D", "wandb"), [best], label))
    if "B-readd" in cases:
        # wandb has no stat cache: its re-add costs what its first add of B costs.
        rows.append(Row("B-readd", f"re-add unchanged {tree_what('B')} (2nd add in process)",
                        get("B-readd", "artefact"), get("B", "wandb"), limits.get("stat-walk:B", []),
                        "find -printf (stat walk)",
                        note="wandb column: its first add of B (no stat cache)" if "B" in cases else
                        "select B too for the wandb column"))
    if "manifest" in cases:
        target = MANIFEST_TARGET_S_PER_M * entries / 1e6
        rows.append(Row("manifest", f"{entries:,} entries: build + to_manifest_json + digest",
                        get("manifest", "artefact"), get("manifest", "wandb"), [target],
                        f"target {MANIFEST_TARGET_S_PER_M:g} s/1M, {MANIFEST_TARGET_RSS_MIB:.0f} MiB",
                        note="artefact: _core.Manifest; wandb: ArtifactManifestV1 + ArtifactManifestEntry"))
    if "manifest-api" in cases:
        rows.append(Row("manifest-api", f"{entries:,} entries via the public manifest classes",
                        get("manifest-api", "artefact"), get("manifest-api", "wandb"), [], ""))
    if "import" in cases:
        rows.append(Row("import", "import time (fresh process)", get("import", "artefact"),
                        get("import", "wandb"), [], ""))
    if "download" in cases:
        cp = limits.get("cp-r:B", [])
        for name in DOWNLOAD_ROWS:
            what = {"download-cold": "download B, cold cache", "download-warm": "download B, warm cache",
                    "download-present": "download B, already present (right after placing it)",
                    "download-again": "download B, already present again (stat cache warm)"}[name]
            rows.append(Row(name, what, get(name, "artefact"), [], cp, "cp -r",
                            note="" if quick else f"wandb (issue, reference machine): {WANDB_DOWNLOAD_REFERENCE[name]:g} s"))
    # Digests must agree whoever computed them (same tree, same algorithm).
    same = []
    for row in rows:
        a = {s.info.get("digest") for s in row.artefact if s.ok}
        w = {s.info.get("digest") for s in row.wandb if s.ok}
        if row.case in ("A", "A-mut", "B", "B-mut", "C", "D", "manifest", "manifest-api") and a and w:
            if a != w:
                notes.append(f"{row.case}: DIGESTS DIFFER: artefact {sorted(a)} vs wandb {sorted(w)}")
            else:
                same.append(row.case)
        for who in ("artefact", "wandb"):
            for s in getattr(row, who):
                if not s.ok:
                    notes.append(f"{row.case} {who} failed: {s.error}")
    if same:
        notes.insert(0, f"artifact digests identical in artefact and wandb for: {', '.join(same)}")
    if "download" in cases:
        cold = cm.median([s.wall for s in get("download-cold", "artefact") if s.ok])
        for name in ("download-present", "download-again"):
            t = cm.median([s.wall for s in get(name, "artefact") if s.ok])
            if t == t and cold == cold:
                notes.append(f"{name}: {t / cold:.1%} of the cold download (target 5%)")
    if "manifest" in cases:
        ok = [s for s in get("manifest", "artefact") if s.ok]
        rss = cm.median([s.rss_mib for s in ok])
        if rss == rss:
            notes.append(f"manifest: artefact peak RSS {rss:.0f} MiB vs target {MANIFEST_TARGET_RSS_MIB:.0f} MiB "
                         f"(at 1M entries; this run used {entries:,})")
        loop = cm.median([s.info.get("input_loop_s", float("nan")) for s in ok])
        if loop == loop:
            notes.append(f"manifest/manifest-api: of each wall time, {cm.fmt_s(loop)} is the benchmark's own "
                         "loop making the paths (the same for both SDKs)")
    return rows


def render_table(rows: list[Row]) -> str:
    head = ("| case | what | artefact wall | artefact user CPU | artefact peak RSS | wandb wall | "
            "wandb user CPU | wandb peak RSS | limit | artefact/wandb | artefact/limit |")
    lines = [head, "|" + "---|" * 11]
    for r in rows:
        aw, ww = r.med("artefact", "wall"), r.med("wandb", "wall")
        lim = cm.median(r.limit) if r.limit else float("nan")
        lim_s = f"{cm.fmt_s(lim)} ({r.limit_label})" if r.limit else "–"
        what = r.what + (f" — {r.note}" if r.note else "")
        lines.append(
            f"| {r.case} | {what} | {cm.fmt_s(aw)} | {cm.fmt_s(r.med('artefact', 'user'))} | "
            f"{cm.fmt_mib(r.med('artefact', 'rss_mib'))} | {cm.fmt_s(ww)} | {cm.fmt_s(r.med('wandb', 'user'))} | "
            f"{cm.fmt_mib(r.med('wandb', 'rss_mib'))} | {lim_s} | {cm.fmt_ratio(aw, ww)} | {cm.fmt_ratio(aw, lim)} |"
        )
    return "\n".join(lines)


def no_nan(x: Any) -> Any:
    """NaN (no sample) becomes null, so the file is strict JSON."""
    if isinstance(x, float) and x != x:
        return None
    if isinstance(x, dict):
        return {k: no_nan(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [no_nan(v) for v in x]
    return x


def row_json(r: Row) -> dict[str, Any]:
    def side(who: str) -> dict[str, Any]:
        ss = getattr(r, who)
        return {
            "median": {k: r.med(who, k) for k in ("wall", "user", "sys", "rss_mib", "process_wall")},
            "samples": [s.to_json() for s in ss],
        }

    aw, ww = r.med("artefact", "wall"), r.med("wandb", "wall")
    lim = cm.median(r.limit) if r.limit else None

    def ratio(a: float, b: Optional[float]) -> Optional[float]:
        return a / b if b and a == a and b == b else None

    return {
        "case": r.case, "what": r.what, "note": r.note,
        "artefact": side("artefact"), "wandb": side("wandb"),
        "limit": {"wall": lim, "label": r.limit_label, "samples": r.limit},
        "ratio_artefact_wandb": ratio(aw, ww), "ratio_artefact_limit": ratio(aw, lim),
    }


if __name__ == "__main__":
    sys.exit(main())

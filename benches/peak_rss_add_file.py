#!/usr/bin/env python3
"""Peak RSS and throughput of adding one big file, each policy in a fresh process.

artefact streams files through a fixed buffer, so its peak RSS must not grow with the
file: the check is peak RSS < 100 MiB for a 2 GiB file (wandb 0.31.0 peaks at about the
file's size, 2,098 MB, under the immutable policy). Throughput is compared with the
single-core MD5 rate (hashlib) measured in the same run: one file is one MD5 stream, so
that rate is the ceiling.

    python benches/peak_rss_add_file.py                 # 2 GiB (quiet machine)
    python benches/peak_rss_add_file.py --quick         # 256 MiB
    python benches/peak_rss_add_file.py --size 512M --with-wandb

Exit status 1 if an artefact run fails or peaks at or above --max-rss-mib.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common as cm  # noqa: E402
from _common import GiB, MiB  # noqa: E402


def parse_size(text: str) -> int:
    units = {"K": 1024, "M": MiB, "G": GiB}
    t = text.strip().upper().removesuffix("IB").removesuffix("B")
    if t and t[-1] in units:
        return int(float(t[:-1]) * units[t[-1]])
    return int(t)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=parse_size, help="file size, e.g. 2G, 512M (default 2G, --quick 256M)")
    p.add_argument("--quick", action="store_true", help="a 256 MiB file unless --size is given")
    p.add_argument("--max-rss-mib", type=float, default=100.0, help="artefact's peak RSS bound (default 100)")
    p.add_argument("--with-wandb", action="store_true", help="also run wandb 0.31.0 (needs ~file size of RAM)")
    p.add_argument("--sdk", default="artefact", help="module measured as artefact (harness tests)")
    p.add_argument("--policies", default="immutable,mutable")
    p.add_argument("--workdir", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "artefact-bench"))
    args = p.parse_args(argv)
    size = args.size or (256 * MiB if args.quick else 2 * GiB)
    policies = [x.strip() for x in args.policies.split(",") if x.strip()]

    work = cm.WorkDir(args.workdir)
    path, _ = cm.make_big_file(work.trees, f"big-{size}.bin", size)
    cm.warm_page_cache(path)
    md5 = cm.median([cm.md5_single_core_mbps(min(size, GiB)) for _ in range(2)])

    sdks = [args.sdk] + (["wandb"] if args.with_wandb else [])
    results = []
    for policy in policies:
        for sdk in sdks:
            spec = {"op": "add_file", "sdk": sdk, "path": path, "policy": policy}
            s = cm.run_worker(spec, work.new_run_dir(f"{sdk}-{policy}"))
            results.append((sdk, policy, s))

    print(f"\n## add_file of one {size / MiB:,.0f} MiB file — single-core MD5 (hashlib) {md5:.0f} MB/s\n")
    print("| sdk | policy | wall | user CPU | sys CPU | throughput | vs 1-core MD5 | peak RSS | RSS after import | "
          f"< {args.max_rss_mib:.0f} MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    failed = False
    for sdk, policy, s in results:
        if not s.ok:
            print(f"| {sdk} | {policy} | FAILED: {s.error} | | | | | | | |")
            failed = failed or sdk == args.sdk
            continue
        mbps = size / s.wall / 1e6
        under = s.rss_mib < args.max_rss_mib
        if sdk == args.sdk and not under:
            failed = True
        print(f"| {sdk} | {policy} | {cm.fmt_s(s.wall)} | {cm.fmt_s(s.user)} | {cm.fmt_s(s.sys)} | "
              f"{mbps:.0f} MB/s | {mbps / md5:.2f}× | {cm.fmt_mib(s.rss_mib)} | {cm.fmt_mib(s.rss_before_mib)} | "
              f"{'yes' if under else 'NO'} |")
    print("\nmutable = staging copy + hash in one pass, so it also writes the file once "
          "(expect extra sys time: fresh page-cache memory, BENCHMARKING.md quirk 2).")
    work.cleanup()
    return 1 if failed else 0


if __name__ == "__main__":
    t = time.perf_counter()
    rc = main()
    print(f"\n({time.perf_counter() - t:.1f} s)", file=sys.stderr)
    sys.exit(rc)

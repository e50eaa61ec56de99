"""One large file through `artefact server` (local-dir blobs) against `cp` and `md5sum`.

    python benches/server_big.py [--mib 1024] [--rounds 3]

Each round, on one freshly written file of random bytes, interleaved: `cp` of it (page
cache, as a user would copy it), `md5sum` of it (the floor of any MD5 pass), then a
fresh client process logging it (`add_file` + `log_artifact` + `wait`, timed inside
the process, start-up excluded; the add and the log are also reported apart), then a
second fresh client (own cache) downloading it. The server runs on this machine with a
SQLite catalog; both ends share the cores. Reports medians, the ratios cp / artefact
(issue 14 asks >= 0.7) and the load average.
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

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from tests.server._server import ServerProcess  # noqa: E402

from _programs import ART_GET, ART_LOG  # noqa: E402

def run_json(cmd: list[str], env: dict) -> dict:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"{cmd[:3]} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, timeout=3600)
    return time.perf_counter() - t


def client_env(work: str, url: str, key: str) -> dict:
    os.makedirs(work, exist_ok=True)
    return dict(os.environ, ARTEFACT_BASE_URL=url, ARTEFACT_API_KEY=key, ARTEFACT_ENTITY="bench",
                ARTEFACT_CACHE_DIR=os.path.join(work, "cache"), ARTEFACT_DATA_DIR=os.path.join(work, "data"),
                ARTEFACT_QUIET="1")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mib", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dir", default=None, help="where the files go (default: a temp dir)")
    args = ap.parse_args()
    base = tempfile.mkdtemp(prefix="artefact-bigbench-", dir=args.dir)
    results: dict[str, list[float]] = {}
    loads = [os.getloadavg()[0]]

    def add(name: str, value: float) -> None:
        results.setdefault(name, []).append(value)
        print(f"  {name}: {value:.3f}", flush=True)

    server = None
    try:
        server = ServerProcess(os.path.join(base, "catalog.db"), os.path.join(base, "blobs"))
        key = server.make_key("bench", "writer")
        for r in range(args.rounds):
            print(f"round {r + 1}/{args.rounds} (load {os.getloadavg()[0]:.1f})", flush=True)
            big = os.path.join(base, f"big{r}.bin")
            with open(big, "wb") as f:
                for _ in range(args.mib):
                    f.write(os.urandom(1 << 20))
            copy = os.path.join(base, "cp.bin")
            add("cp", timed(["cp", big, copy]))
            os.unlink(copy)
            add("md5sum", timed(["md5sum", big]))
            a = client_env(os.path.join(base, f"a{r}"), server.url, key)
            got = run_json([sys.executable, "-c", ART_LOG, big, f"big{r}", "bench"], a)
            add("log (add+log+wait)", got["seconds"])
            add("  of which add_file", got["add"])
            add("  of which log+wait", got["log"])
            b = client_env(os.path.join(base, f"b{r}"), server.url, key)
            root = os.path.join(base, f"dl{r}")
            add("download", run_json([sys.executable, "-c", ART_GET, f"bench/big{r}:v0", root], b)["seconds"])
            loads.append(os.getloadavg()[0])
            # free the disk before the next round
            for p in (big, root, os.path.join(base, f"a{r}"), os.path.join(base, f"b{r}")):
                shutil.rmtree(p, ignore_errors=True) if os.path.isdir(p) else os.unlink(p)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(base, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in results.items()}
    print(f"\nmedians of {args.rounds} rounds, {args.mib} MiB, load average {min(loads):.1f}-{max(loads):.1f}:")
    for k, v in med.items():
        print(f"  {k}: {v:.3f} s")
    print(f"  upload:   cp / artefact = {med['cp'] / med['log (add+log+wait)']:.2f} (target >= 0.7)")
    print(f"  download: cp / artefact = {med['cp'] / med['download']:.2f} (target >= 0.7)")
    print(f"  md5sum / cp = {med['md5sum'] / med['cp']:.2f} (an MD5 pass in units of cp)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

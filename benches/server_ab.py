"""The server's hot paths, this checkout against another one, interleaved in one run.

    python benches/server_ab.py --base /tmp/old-checkout/python [--rounds 3]

`--base` is the `python/` directory of another checkout (with its own built `_core`);
its servers and clients run with it first on PYTHONPATH. Each round runs every case for
"base" then "new", so both see the same machine load. Cases:

1. commits/s: 8 client processes, 2 server processes, one PostgreSQL (fsync on), each
   client logging `--commits` one-file versions to one collection (as
   server_vs_peers.py does);
2. a batch of 2,000 × 4 KiB blobs POSTed to /api/v1/blobs/batch (the server's split,
   verify and durable store), and the same 2,000 blobs one per request through signed
   PUT URLs is not measured (the client never does that for small files);
3. 1 GiB: `cp` of the file (the limit), then log and download through the server;
4. the `--files` × 4 KiB tree (server_vs_peers.py's case 1 and 3): log, download on a
   second client, download again (already present), re-log with one file changed.

Prints medians per case and variant, and the load average at the start and end.
"""

from __future__ import annotations

import argparse
import hashlib
import base64
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from server_vs_peers import COMMITS, client_env, make_tree, run_json, timed, warm_bytecode  # noqa: E402
from _programs import ART_GET as GET, ART_LOG as LOG  # noqa: E402
from tests.server._postgres import PostgresCluster  # noqa: E402
from tests.server._server import ServerProcess  # noqa: E402


def batch_body(count: int, size: int, seed: bytes) -> tuple[bytes, int]:
    parts = []
    for i in range(count):
        data = hashlib.sha256(seed + i.to_bytes(4, "big")).digest() * (size // 32)
        digest = base64.b64encode(hashlib.md5(data).digest()).decode()
        parts.append(f"MD5 {digest} {len(data)}\n".encode() + data)
    return b"".join(parts), count


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True, help="python/ directory of the checkout to compare with")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--commits", type=int, default=25, help="versions per client")
    ap.add_argument("--big-mib", type=int, default=1024)
    ap.add_argument("--skip-big", action="store_true")
    ap.add_argument("--files", type=int, default=10_000, help="files of the 4 KiB tree (0: skip it)")
    ap.add_argument("--skip-commits", action="store_true")
    args = ap.parse_args()
    base = tempfile.mkdtemp(prefix="artefact-ab-")
    cluster = PostgresCluster(fsync=True)
    results: dict[str, list[float]] = {}
    print("load average at start:", os.getloadavg(), flush=True)

    def add(name: str, value: float) -> None:
        results.setdefault(name, []).append(value)
        print(f"  {name}: {value:.3f}", flush=True)

    big = os.path.join(base, "big.bin")
    if not args.skip_big:
        with open(big, "wb") as f:
            for _ in range(args.big_mib):
                f.write(os.urandom(1 << 20))
    tree = make_tree(os.path.join(base, "tree"), args.files, 4096) if args.files else ""
    saved = os.environ.get("PYTHONPATH")
    try:
        for r in range(args.rounds):
            print(f"round {r + 1}/{args.rounds}", flush=True)
            for variant in ("base", "new"):
                if variant == "base":
                    os.environ["PYTHONPATH"] = args.base
                elif saved is None:
                    os.environ.pop("PYTHONPATH", None)
                else:
                    os.environ["PYTHONPATH"] = saved
                tag = f"{variant}{r}"
                blobs = os.path.join(base, f"blobs-{tag}")
                server = ServerProcess(cluster.new_database(), blobs)
                second = ServerProcess(server.catalog, server.blobs)
                key = server.make_key("bench", "writer")
                try:
                    warm_bytecode(client_env(os.path.join(base, f"w-{tag}"), server, key))
                    if tree:  # 4. the small-file tree
                        a = client_env(os.path.join(base, f"ta-{tag}"), server, key)
                        b = client_env(os.path.join(base, f"tb-{tag}"), second, key)
                        first = run_json([sys.executable, "-c", LOG, tree, "tree", "bench"], a)["seconds"]
                        add(f"{variant} log {args.files} (s)", first)
                        root = os.path.join(base, f"tdl-{tag}")
                        cold = run_json([sys.executable, "-c", GET, "bench/tree:v0", root], b)["seconds"]
                        add(f"{variant} download {args.files} (s)", cold)
                        present = run_json([sys.executable, "-c", GET, "bench/tree:v0", root], b)["seconds"]
                        add(f"{variant} download present (s)", present)
                        add(f"{variant} present / cold (%)", 100 * present / cold)
                        with open(os.path.join(tree, "d00", "f00000.bin"), "wb") as f:
                            f.write(os.urandom(4096))
                        relog = run_json([sys.executable, "-c", LOG, tree, "tree", "bench"], a)["seconds"]
                        add(f"{variant} re-log one changed (s)", relog)
                        add(f"{variant} re-log / first log (%)", 100 * relog / first)
                    if args.skip_commits:
                        continue
                    # 1. commits/s
                    go = os.path.join(base, f"go-{tag}")
                    procs = []
                    for i in range(8):
                        env = client_env(os.path.join(base, f"c-{tag}-{i}"), [server, second][i % 2], key)
                        procs.append(subprocess.Popen([sys.executable, "-c", COMMITS, str(i), str(args.commits), go],
                                                      env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                      text=True))
                    time.sleep(4)
                    t = time.perf_counter()
                    open(go, "w").close()
                    for p in procs:
                        _out, err = p.communicate(timeout=1200)
                        if p.returncode:
                            raise RuntimeError(f"commit client failed:\n{err[-2000:]}")
                    add(f"{variant} commits/s (8 clients)", 8 * args.commits / (time.perf_counter() - t))
                    # 2. a batch of 2,000 x 4 KiB
                    body, count = batch_body(2000, 4096, tag.encode())
                    t = time.perf_counter()
                    resp = requests.post(f"{server.url}/api/v1/blobs/batch", params={"entity": "bench",
                                         "project": "ab"}, data=body, timeout=600,
                                         headers={"Authorization": f"Bearer {key}"})
                    resp.raise_for_status()
                    assert resp.json()["stored"] == count, resp.text
                    add(f"{variant} batch 2000 x 4 KiB (s)", time.perf_counter() - t)
                    # 3. 1 GiB
                    if not args.skip_big:
                        add(f"{variant} cp 1 GiB (s)", timed(["cp", big, os.path.join(base, f"cp-{tag}.bin")]))
                        a = client_env(os.path.join(base, f"a-{tag}"), server, key)
                        b = client_env(os.path.join(base, f"b-{tag}"), second, key)
                        add(f"{variant} log 1 GiB (s)", run_json([sys.executable, "-c", LOG, big, "big", "bench"], a)["seconds"])
                        add(f"{variant} download 1 GiB (s)", run_json(
                            [sys.executable, "-c", GET, "bench/big:v0", os.path.join(base, f"dl-{tag}")], b)["seconds"])
                        for p in (os.path.join(base, f"cp-{tag}.bin"),):
                            os.remove(p)
                finally:
                    second.stop()
                    server.stop()
    finally:
        cluster.destroy()  # stop it and remove its data dir (147 MB each run)
        shutil.rmtree(base, ignore_errors=True)  # trees, blobs and caches of every variant
    print("load average at end:", os.getloadavg())
    print(json.dumps({k: statistics.median(v) for k, v in results.items()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

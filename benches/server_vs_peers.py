"""The team server against MLflow's artifact proxy and DVC, all on this machine.

    python benches/server_vs_peers.py [--peers-python PATH] [--repeat 3] [--files 10000] [--relog-only]

Needs PostgreSQL (scripts/install-postgresql.sh) and, for the peers, a Python with
`mlflow` and `dvc` installed (kept out of artefact's own environment: pass its python
with --peers-python). Each figure is the median of `--repeat` runs, the tools
interleaved (A B C A B C ...), each client a fresh process with a fresh cache, timed
inside the process around the call (interpreter start-up excluded). What it measures:

1. 10,000 × 4 KiB: log through the server, download on a second client; the same tree
   with `mlflow.log_artifacts` / `mlflow.artifacts.download_artifacts` against
   `mlflow server --serve-artifacts`, and `dvc push` / `dvc pull` to a local remote.
2. one 1 GiB file: log and download through the server, against `cp` of the same file.
3. re-logging the tree with one file changed, and downloading a version already present.
4. commits per second from 8 concurrent client processes on PostgreSQL (2 server processes).
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

from tests.server._postgres import PostgresCluster, free_port  # noqa: E402
from tests.server._server import ServerProcess  # noqa: E402

from _programs import _LOAD, ART_GET, ART_LOG, MLFLOW_GET, MLFLOW_LOG  # noqa: E402

COMMITS = _LOAD + r"""
import json, os, sys, tempfile, time
seed, count, go = sys.argv[1], int(sys.argv[2]), sys.argv[3]
d = tempfile.mkdtemp()
paths = []
for i in range(count):
    p = os.path.join(d, f"{i}.txt"); open(p, "w").write(f"{seed}:{i}\n"); paths.append(p)
with wandb.init(project="commits") as run:
    while not os.path.exists(go):
        time.sleep(0.001)
    t = time.perf_counter()
    for p in paths:
        a = wandb.Artifact("c", "dataset"); a.add_file(p); run.log_artifact(a, aliases=[f"s{seed}"]).wait()
print(json.dumps({"seconds": time.perf_counter() - t}))
"""

def make_tree(root: str, files: int, size: int) -> str:
    os.makedirs(root, exist_ok=True)
    for i in range(files):
        sub = os.path.join(root, f"d{i % 100:02d}")
        os.makedirs(sub, exist_ok=True)
        with open(os.path.join(sub, f"f{i:05d}.bin"), "wb") as f:
            f.write(os.urandom(size))
    return root


def run_json(cmd: list[str], env: dict, cwd: str | None = None) -> dict:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600, cwd=cwd)
    if done.returncode != 0:
        raise RuntimeError(f"{cmd[:3]} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def client_env(work: str, server: ServerProcess, key: str) -> dict:
    """A client's environment. Its bytecode is cached beside the work dirs (see
    `warm_bytecode`)."""
    os.makedirs(work, exist_ok=True)
    env = dict(os.environ, ARTEFACT_BASE_URL=server.url, ARTEFACT_API_KEY=key, ARTEFACT_ENTITY="bench",
               ARTEFACT_CACHE_DIR=os.path.join(work, "cache"), ARTEFACT_DATA_DIR=os.path.join(work, "data"),
               ARTEFACT_QUIET="1", PYTHONPYCACHEPREFIX=os.path.join(os.path.dirname(work), "pycache"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def warm_bytecode(env: dict) -> None:
    """Compile artefact's modules (as `env` finds them) into the bench's bytecode cache
    once, untimed. The peers run from a pip install, whose modules were compiled when it
    was installed; an editable checkout under PYTHONDONTWRITEBYTECODE would otherwise
    compile every module it imports inside each timed call."""
    subprocess.run([sys.executable, "-c", "import artefact, compileall, os;"
                    " compileall.compile_dir(os.path.dirname(artefact.__file__), quiet=1)"],
                   env=env, check=True, capture_output=True, timeout=600)


def timed(cmd: list[str], cwd: str | None = None, env: dict | None = None) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, cwd=cwd, env=env, timeout=3600)
    return time.perf_counter() - t


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--peers-python", help="a python with mlflow and dvc installed")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--big-mib", type=int, default=1024)
    ap.add_argument("--commits", type=int, default=40, help="versions per client in the commit test")
    ap.add_argument("--relog-only", action="store_true",
                    help="only the 10k log and its re-log with one file changed (no 1 GiB file, commits or peers)")
    args = ap.parse_args()
    base = tempfile.mkdtemp(prefix="artefact-bench-")
    trash = os.path.join(base, "trash")  # never rm -rf between timings (ext4 inode reuse quirk)
    os.makedirs(trash)
    cluster = PostgresCluster(fsync=True)
    results: dict[str, list[float]] = {}
    mlflow_proc = None

    def add(name: str, value: float) -> None:
        results.setdefault(name, []).append(value)
        print(f"  {name}: {value:.3f}", flush=True)

    try:
        tree = make_tree(os.path.join(base, "tree"), args.files, 4096)
        big = os.path.join(base, "big.bin")
        with open(big, "wb") as f:
            for _ in range(0 if args.relog_only else args.big_mib):
                f.write(os.urandom(1 << 20))
        peers = None if args.relog_only else args.peers_python
        if peers:
            port = free_port()
            mlruns = os.path.join(base, "mlflow")
            os.makedirs(mlruns)
            mlflow_bin = os.path.join(os.path.dirname(peers), "mlflow")
            mlflow_proc = subprocess.Popen(
                [mlflow_bin, "server", "--host", "127.0.0.1", "--port", str(port), "--serve-artifacts",
                 "--backend-store-uri", f"sqlite:///{mlruns}/mlflow.db", "--artifacts-destination", f"{mlruns}/art",
                 "--workers", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=mlruns)
            mlflow_url = f"http://127.0.0.1:{port}"
            import requests

            for _ in range(300):
                try:
                    if requests.get(mlflow_url + "/health", timeout=2).status_code == 200:
                        break
                except requests.RequestException:  # not up yet, or slow to answer on a loaded machine
                    time.sleep(0.2)
        for r in range(args.repeat):
            print(f"round {r + 1}/{args.repeat}", flush=True)
            server = ServerProcess(cluster.new_database(), os.path.join(base, f"blobs{r}"))
            key = server.make_key("bench", "writer")
            try:
                # 1. the 10k tree: log, download on a second client, re-log one changed, re-download
                a = client_env(os.path.join(base, f"a{r}"), server, key)
                b = client_env(os.path.join(base, f"b{r}"), server, key)
                warm_bytecode(a)
                add("artefact log 10k", run_json([sys.executable, "-c", ART_LOG, tree, "tree", "bench"], a)["seconds"])
                root = os.path.join(base, f"dl{r}")
                if not args.relog_only:
                    add("artefact download 10k", run_json([sys.executable, "-c", ART_GET, "bench/tree:v0", root], b)["seconds"])
                    add("artefact download present", run_json([sys.executable, "-c", ART_GET, "bench/tree:v0", root], b)["seconds"])
                changed = os.path.join(tree, "d00", "f00000.bin")
                with open(changed, "wb") as f:
                    f.write(os.urandom(4096))
                add("artefact re-log one changed", run_json([sys.executable, "-c", ART_LOG, tree, "tree", "bench"], a)["seconds"])
                if args.relog_only:
                    continue
                # 2. one big file, against cp
                add("cp 1 GiB", timed(["cp", big, os.path.join(base, f"cp{r}.bin")]))
                add("artefact log 1 GiB", run_json([sys.executable, "-c", ART_LOG, big, "big", "bench"], a)["seconds"])
                add("artefact download 1 GiB", run_json(
                    [sys.executable, "-c", ART_GET, "bench/big:v0", os.path.join(base, f"bigdl{r}")], b)["seconds"])
                # 4. commits/s: 8 clients, 2 server processes on one database
                second = ServerProcess(server.catalog, server.blobs)
                try:
                    go = os.path.join(base, f"go{r}")
                    procs = []
                    for i in range(8):
                        env = client_env(os.path.join(base, f"c{r}-{i}"), [server, second][i % 2], key)
                        procs.append(subprocess.Popen([sys.executable, "-c", COMMITS, str(i), str(args.commits), go],
                                                      env=env, stdout=subprocess.PIPE, text=True))
                    time.sleep(3)
                    t = time.perf_counter()
                    open(go, "w").close()
                    for p in procs:
                        p.communicate(timeout=1200)
                    add("commits/s (8 clients)", 8 * args.commits / (time.perf_counter() - t))
                finally:
                    second.stop()
            finally:
                server.stop()
            if peers:
                log = run_json([peers, "-c", MLFLOW_LOG, mlflow_url, tree], dict(os.environ))
                add("mlflow log 10k", log["seconds"])
                add("mlflow download 10k", run_json(
                    [peers, "-c", MLFLOW_GET, mlflow_url, log["run_id"], os.path.join(base, f"mlflow-dl{r}")],
                    dict(os.environ))["seconds"])
                dvc = os.path.join(os.path.dirname(peers), "dvc")
                repo, clone, remote = (os.path.join(base, f"dvc-{x}{r}") for x in ("repo", "clone", "remote"))
                shutil.copytree(tree, os.path.join(repo, "data"))
                for cmd in (["init", "--no-scm"], ["remote", "add", "-d", "local", remote], ["add", "data"]):
                    subprocess.run([dvc, *cmd], cwd=repo, check=True, capture_output=True)
                add("dvc push 10k", timed([dvc, "push"], cwd=repo))
                os.makedirs(clone)
                subprocess.run([dvc, "init", "--no-scm"], cwd=clone, check=True, capture_output=True)
                shutil.copy(os.path.join(repo, "data.dvc"), clone)
                shutil.copy(os.path.join(repo, ".dvc", "config"), os.path.join(clone, ".dvc", "config"))
                add("dvc pull 10k", timed([dvc, "pull"], cwd=clone))
            with open(os.path.join(tree, "d00", "f00000.bin"), "wb") as f:  # back to v0's content... new bytes
                f.write(os.urandom(4096))
    finally:
        if mlflow_proc is not None:
            mlflow_proc.terminate()
            mlflow_proc.wait(30)
        cluster.destroy()
    med = {k: median(v) for k, v in results.items()}
    print("\nmedians (s unless stated):")
    for k, v in med.items():
        print(f"  {k:32s} {v:10.3f}")
    nan = float("nan")
    ratios = {
        "log 10k: mlflow / artefact": med.get("mlflow log 10k", float("nan")) / med["artefact log 10k"],
        "download 10k: mlflow / artefact": med.get("mlflow download 10k", nan) / med.get("artefact download 10k", nan),
        "log 10k: dvc push / artefact": med.get("dvc push 10k", float("nan")) / med["artefact log 10k"],
        "download 10k: dvc pull / artefact": med.get("dvc pull 10k", nan) / med.get("artefact download 10k", nan),
        "1 GiB log: cp / artefact": med.get("cp 1 GiB", nan) / med.get("artefact log 1 GiB", nan),
        "1 GiB download: cp / artefact": med.get("cp 1 GiB", nan) / med.get("artefact download 1 GiB", nan),
        "re-log one changed / first log": med["artefact re-log one changed"] / med["artefact log 10k"],
        "download present / cold download": med.get("artefact download present", nan) / med.get("artefact download 10k", nan),
    }
    print("\nratios:")
    for k, v in ratios.items():
        print(f"  {k:40s} {v:8.3f}")
    with open(os.path.join(base, "results.json"), "w") as f:
        json.dump({"runs": results, "medians": med, "ratios": ratios}, f, indent=1)
    print(f"\n(raw results in {base}/results.json; remove {base} when done)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

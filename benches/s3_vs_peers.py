"""The peers on one S3 endpoint: artefact's server with S3 blobs against raw boto3,
MLflow's proxied artifacts, DVC's S3 remote and wandb 0.31.0's s3 references.

    python benches/s3_vs_peers.py --peers-python /work/peers-venv/bin/python [--quick] [--rounds 3]

One moto S3 server on 127.0.0.1 (a free port, versioning on), one bucket, each tool under
its own prefix (a fresh one per round, so nothing is deduplicated across rounds). Two
cases: 10,000 × 4 KiB files and one 1 GiB file (`--quick`: 1,000 files, 64 MiB). For each
tool: upload (log) from one client, then download on a second client with an empty cache.

- raw (the limit): boto3 in one process, 32 threads of `put_object`/`get_object` for the
  small files. For the big file the faster of a single `put_object`/`get_object` and
  boto3's multipart `upload_file`/`download_file` (16 threads, 16 MiB parts). No hashing,
  no checks.
- artefact: `artefact server --blobs s3://bucket/art` (SQLite catalog); `add_dir`/`add_file`
  + `log_artifact().wait()`, then `Api().artifact().download()` on a second client.
- mlflow: `mlflow server --serve-artifacts --artifacts-destination s3://bucket/mlflow`
  (its default workers), `mlflow.log_artifacts` / `mlflow.artifacts.download_artifacts`.
- dvc: `dvc add` + `dvc push` to an S3 remote (dvc-s3, `endpointurl` = moto), `dvc pull`
  in a second repo; through `dvc.repo.Repo` in-process.
- wandb 0.31.0 (offline): `add_reference("s3://bucket/raw/...")` of the raw case's objects
  (wandb HEADs each), then `download()` of that manifest with an empty cache.

Each step is a fresh process timed inside around the call (start-up and imports excluded).
The tools are interleaved and their order rotates each round; the table shows medians and
ratios from this run. The machine may be shared: read the ratios, not the absolute times.
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
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

from server._postgres import free_port  # noqa: E402
from server._s3 import ACCESS, SECRET, MotoS3  # noqa: E402
from server._server import ServerProcess  # noqa: E402

from _programs import ART_GET, ART_LOG, MLFLOW_GET, MLFLOW_LOG, WANDB_REFS_GET  # noqa: E402

TOOLS = ("raw", "artefact", "mlflow", "dvc", "wandb")

# Every step script prints one JSON line: {"seconds": ..., ...}.
RAW = r"""
import json, os, sys, time
from concurrent.futures import ThreadPoolExecutor
import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
op, endpoint, bucket, prefix, local = sys.argv[1:6]
c = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", config=Config(max_pool_connections=64))
names = json.loads(open(sys.argv[6]).read())
big = TransferConfig(multipart_threshold=64 << 20, multipart_chunksize=16 << 20, max_concurrency=16)
def put(n):
    with open(os.path.join(local, n), "rb") as f:
        c.put_object(Bucket=bucket, Key=prefix + n, Body=f.read())
def get(n):
    p = os.path.join(local, n); os.makedirs(os.path.dirname(p), exist_ok=True)
    data = c.get_object(Bucket=bucket, Key=prefix + n)["Body"].read()
    with open(p, "wb") as f:
        f.write(data)
t = time.perf_counter()
if op == "put-multipart":
    c.upload_file(os.path.join(local, names[0]), bucket, prefix + names[0], Config=big)
elif op == "get-multipart":
    os.makedirs(local, exist_ok=True); c.download_file(bucket, prefix + names[0], os.path.join(local, names[0]), Config=big)
else:
    with ThreadPoolExecutor(32) as pool:
        list(pool.map(put if op == "put" else get, names))
print(json.dumps({"seconds": time.perf_counter() - t}))
"""

DVC_PUSH = r"""
import json, sys, time
from dvc.repo import Repo
repo = Repo(sys.argv[1])
t = time.perf_counter()
repo.add(sys.argv[2])
added = time.perf_counter() - t
repo.push()
print(json.dumps({"seconds": time.perf_counter() - t, "add": added}))
"""

DVC_PULL = r"""
import json, sys, time
from dvc.repo import Repo
repo = Repo(sys.argv[1])
t = time.perf_counter()
repo.pull()
print(json.dumps({"seconds": time.perf_counter() - t}))
"""

WANDB_ADD = r"""
import json, sys, time, wandb
url, manifest = sys.argv[1:3]
t = time.perf_counter()
art = wandb.Artifact("refs", "dataset")
art.add_reference(url, max_objects=100_000)
data = art.manifest.to_manifest_json()
print(json.dumps({"seconds": time.perf_counter() - t}))
json.dump(data, open(manifest, "w"))
"""

def _tree(root: str, files: int, size_mib: int) -> tuple[str, str, list[str]]:
    """(small dir, big file, the small files' relative names), made once per workdir."""
    small, big = os.path.join(root, "small"), os.path.join(root, "big", "weights.bin")
    names = [f"d{i % 100:02d}/f{i:05d}.bin" for i in range(files)]
    if not os.path.isfile(os.path.join(small, names[-1])) or len(os.listdir(small)) != min(files, 100):
        shutil.rmtree(small, ignore_errors=True)
        for n in names:
            os.makedirs(os.path.dirname(os.path.join(small, n)), exist_ok=True)
            with open(os.path.join(small, n), "wb") as f:
                f.write(os.urandom(4096))
    if not os.path.isfile(big) or os.path.getsize(big) != size_mib << 20:
        os.makedirs(os.path.dirname(big), exist_ok=True)
        with open(big, "wb") as f:
            for _ in range(size_mib):
                f.write(os.urandom(1 << 20))
    return small, big, names


def _step(python: str, code: str, args: list[str], env: dict, cwd: str | None = None) -> dict:
    done = subprocess.run([python, "-c", code, *args], env=env, capture_output=True, text=True, timeout=7200,
                          cwd=cwd)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{args[:2]} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _count(root: str) -> tuple[int, int]:
    """(files, bytes) under root, to check every download is complete."""
    n = b = 0
    for d, _, fs in os.walk(root):
        for f in fs:
            n, b = n + 1, b + os.path.getsize(os.path.join(d, f))
    return n, b


class _Server(ServerProcess):
    """The artefact server with its blobs under `s3://bucket/art`."""

    def start(self) -> None:
        import requests

        self.blobs_arg = f"s3://{self.s3_bucket}/art"
        try:
            super().start()
        except requests.ReadTimeout:  # up, but slow to answer on a loaded machine
            if requests.get(self.url + "/healthz", timeout=60).status_code != 200:
                raise


def _mlflow(peers: str, work: str, moto: MotoS3, bucket: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, **moto.env(), "MLFLOW_S3_ENDPOINT_URL": moto.url}
    proc = subprocess.Popen(
        [os.path.join(os.path.dirname(peers), "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
         "--serve-artifacts", "--artifacts-destination", f"s3://{bucket}/mlflow",
         "--backend-store-uri", f"sqlite:///{work}/mlflow.db"],
        stdout=open(os.path.join(work, "mlflow.log"), "ab"), stderr=subprocess.STDOUT, cwd=work, env=env)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    import requests

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mlflow server exited:\n{open(os.path.join(work, 'mlflow.log')).read()[-3000:]}")
        try:
            if requests.get(url + "/health", timeout=10).status_code == 200:
                return proc, url
        except requests.RequestException:  # not up yet, or slow on a loaded machine
            pass
        time.sleep(0.3)
    proc.terminate()
    raise RuntimeError("mlflow server did not answer /health within 120 s")


def _table(results: dict, notes: dict, tools: list[str], files: int, big_mib: int, rounds: int,
           path: str | None) -> None:
    """Print the medians and ratios so far (and write every measurement to `path`)."""
    load = os.getloadavg()
    med = {k: statistics.median(v) for k, v in results.items()}
    print(f"\nOne moto S3 endpoint on 127.0.0.1, median of {rounds} round(s), tools interleaved;"
          f" load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} CPUs at the end\n")  # fmt: skip
    labels = {"small": f"{files:,} × 4 KiB", "big": f"1 × {big_mib:,} MiB"}
    print("| case | tool | upload (s) | download (s) | upload / raw | download / raw |"
          " tool / artefact (upload) | tool / artefact (download) |")
    print("|---|---|---|---|---|---|---|---|")
    for case in ("small", "big"):
        for tool in tools:
            up, down = med.get((tool, case, "upload")), med.get((tool, case, "download"))
            if up is None:
                continue
            raw_up, raw_down = med.get(("raw", case, "upload")), med.get(("raw", case, "download"))
            art_up, art_down = med.get(("artefact", case, "upload")), med.get(("artefact", case, "download"))

            def ratio(a, b):  # noqa: ANN001, ANN202
                return f"{a / b:.2f}×" if a and b else "–"

            print(f"| {labels[case]} | {tool} | {up:.2f} | {down if down is None else round(down, 2)} | {ratio(up, raw_up)} | {ratio(down, raw_down)}"
                  f" | {ratio(up, art_up)} | {ratio(down, art_down)} |")  # fmt: skip
    for k, v in notes.items():
        print(f"- {k}: {statistics.median(v):.2f} s")
    print("\nraw: boto3, no checks (for 1 file, the faster of single and multipart); wandb's upload is"
          " add_reference (HEAD of every object) of the raw case's objects")
    if path:
        with open(path, "w") as f:
            json.dump({"files": files, "big_mib": big_mib, "rounds": rounds, "load": load,
                       "results": {"/".join(k): v for k, v in results.items()}, "notes": notes}, f, indent=1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--peers-python", required=True, help="a python with mlflow, dvc[s3] (dvc-s3), boto3, wandb")
    ap.add_argument("--quick", action="store_true", help="1,000 files and a 64 MiB file")
    ap.add_argument("--files", type=int)
    ap.add_argument("--big-mib", type=int)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--cases", default="small,big", help="small, big or both")
    ap.add_argument("--tools", default=",".join(TOOLS), help="comma-separated subset of " + ",".join(TOOLS))
    ap.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "artefact-bench-s3-peers"))
    ap.add_argument("--json", help="write every measurement here")
    args = ap.parse_args()
    files = args.files or (1_000 if args.quick else 10_000)
    big_mib = args.big_mib or (64 if args.quick else 1024)
    tools = [t for t in args.tools.split(",") if t]
    peers = args.peers_python
    # wandb 0.31.0 runs from artefact's own environment (the test extra pins it)
    mine = sys.executable
    os.makedirs(args.workdir, exist_ok=True)
    small, big, names = _tree(os.path.join(args.workdir, f"src-{files}-{big_mib}"), files, big_mib)
    names_file = os.path.join(args.workdir, f"names-{files}.json")
    with open(names_file, "w") as f:
        json.dump(names, f)
    run = tempfile.mkdtemp(prefix="run-", dir=args.workdir)
    moto = MotoS3(os.path.join(run, "moto.log"))
    bucket = moto.new_bucket()
    empty = os.path.join(run, "aws-config")  # no profile of this machine's (dvc needs a real file)
    open(empty, "w").close()
    aws = {**moto.env(), "AWS_S3_ENDPOINT_URL": moto.url, "AWS_CONFIG_FILE": empty,
           "AWS_SHARED_CREDENTIALS_FILE": empty}  # fmt: skip
    base_env = {**os.environ, **aws, "ARTEFACT_QUIET": "1", "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    srv = mlflow = None
    results: dict[tuple[str, str, str], list[float]] = {}
    notes: dict[str, list[float]] = {}
    failures: list[str] = []

    def add(tool: str, case: str, op: str, value: float) -> None:
        results.setdefault((tool, case, op), []).append(value)
        print(f"  {tool:8s} {case:5s} {op:8s} {value:8.2f} s", flush=True)

    try:
        if "artefact" in tools:
            ServerProcess.s3 = (moto, bucket)
            srv = _Server(os.path.join(run, "catalog.db"), os.path.join(run, "server"))
            ServerProcess.s3 = None
            key = srv.make_key("bench", "writer")
        if "mlflow" in tools:
            mlflow, mlflow_url = _mlflow(peers, run, moto, bucket)
        for r in range(args.rounds):
            order = tools[r % len(tools):] + tools[: r % len(tools)]
            print(f"round {r + 1}/{args.rounds}: {' '.join(order)}", flush=True)
            for case, src in (("small", small), ("big", big)):
                if case not in args.cases.split(","):
                    continue
                want = (files, files * 4096) if case == "small" else (1, big_mib << 20)
                for tool in order:
                    out = os.path.join(run, f"out-{tool}-{case}-{r}")
                    env = dict(base_env)
                    repo = clone = out
                    try:
                        if tool == "raw":
                            prefix = f"raw/r{r}/{case}/"
                            if case == "small":
                                add(tool, case, "upload", _step(mine, RAW, ["put", moto.url, bucket, prefix, small,
                                                                            names_file], env)["seconds"])  # fmt: skip
                                add(tool, case, "download", _step(mine, RAW, ["get", moto.url, bucket, prefix, out,
                                                                              names_file], env)["seconds"])  # fmt: skip
                            else:
                                one = os.path.join(run, "big-name.json")
                                with open(one, "w") as f:
                                    json.dump(["weights.bin"], f)
                                d = os.path.dirname(big)
                                single = _step(mine, RAW, ["put", moto.url, bucket, prefix + "1/", d, one], env)["seconds"]
                                multi = _step(mine, RAW, ["put-multipart", moto.url, bucket, prefix, d, one], env)["seconds"]
                                notes.setdefault("raw big single PUT", []).append(single)
                                notes.setdefault("raw big multipart PUT", []).append(multi)
                                add(tool, case, "upload", min(single, multi))
                                single = _step(mine, RAW, ["get", moto.url, bucket, prefix + "1/", out + "-1", one],
                                               env)["seconds"]  # fmt: skip
                                multi = _step(mine, RAW, ["get-multipart", moto.url, bucket, prefix, out, one],
                                              env)["seconds"]  # fmt: skip
                                notes.setdefault("raw big single GET", []).append(single)
                                notes.setdefault("raw big multipart GET", []).append(multi)
                                add(tool, case, "download", min(single, multi))
                        elif tool == "artefact":
                            project = f"p{r}"
                            env.update(ARTEFACT_BASE_URL=srv.url, ARTEFACT_API_KEY=key, ARTEFACT_ENTITY="bench")
                            a = dict(env, ARTEFACT_CACHE_DIR=os.path.join(run, f"a-cache-{case}-{r}"),
                                     ARTEFACT_DATA_DIR=os.path.join(run, f"a-data-{case}-{r}"))  # fmt: skip
                            b = dict(env, ARTEFACT_CACHE_DIR=os.path.join(run, f"b-cache-{case}-{r}"),
                                     ARTEFACT_DATA_DIR=os.path.join(run, f"b-data-{case}-{r}"))  # fmt: skip
                            add(tool, case, "upload", _step(mine, ART_LOG, [src, case, project], a)["seconds"])
                            add(tool, case, "download", _step(mine, ART_GET, [f"bench/{project}/{case}:v0", out], b)["seconds"])
                        elif tool == "mlflow":
                            m = dict(env, MLFLOW_S3_ENDPOINT_URL=moto.url)
                            log = _step(peers, MLFLOW_LOG, [mlflow_url, src], m)
                            add(tool, case, "upload", log["seconds"])
                            add(tool, case, "download", _step(peers, MLFLOW_GET, [mlflow_url, log["run_id"], out],
                                                              m)["seconds"])  # fmt: skip
                        elif tool == "dvc":
                            repo, clone = os.path.join(run, f"dvc-repo-{case}-{r}"), os.path.join(run, f"dvc-clone-{case}-{r}")
                            dvc = os.path.join(os.path.dirname(peers), "dvc")
                            os.makedirs(repo)
                            if case == "small":
                                shutil.copytree(small, os.path.join(repo, "data"))
                            else:
                                os.makedirs(os.path.join(repo, "data"))
                                shutil.copy(big, os.path.join(repo, "data", "weights.bin"))
                            for cmd in (["init", "--no-scm"], ["remote", "add", "-d", "s3", f"s3://{bucket}/dvc/r{r}/{case}"],
                                        ["remote", "modify", "s3", "endpointurl", moto.url],
                                        ["remote", "modify", "s3", "region", "us-east-1"]):  # fmt: skip
                                subprocess.run([dvc, *cmd], cwd=repo, check=True, capture_output=True, env=env)
                            push = _step(peers, DVC_PUSH, [repo, "data"], env, cwd=repo)
                            notes.setdefault(f"dvc {case} add (part of upload)", []).append(push["add"])
                            add(tool, case, "upload", push["seconds"])
                            os.makedirs(clone)
                            subprocess.run([dvc, "init", "--no-scm"], cwd=clone, check=True, capture_output=True, env=env)
                            shutil.copy(os.path.join(repo, "data.dvc"), clone)
                            shutil.copy(os.path.join(repo, ".dvc", "config"), os.path.join(clone, ".dvc", "config"))
                            add(tool, case, "download", _step(peers, DVC_PULL, [clone], env, cwd=clone)["seconds"])
                            out = os.path.join(clone, "data")
                        elif tool == "wandb":
                            ref = f"s3://{bucket}/raw/r{r}/{case}" + ("/weights.bin" if case == "big" else "")
                            if "raw" not in tools:
                                raise SystemExit("wandb references the raw case's objects: keep raw in --tools")
                            manifest = os.path.join(run, f"wandb-{case}-{r}.json")
                            w = dict(env, WANDB_DIR=os.path.join(run, f"wandb-dir-{case}-{r}"),
                                     WANDB_CACHE_DIR=os.path.join(run, f"wandb-cache-{case}-{r}"))  # fmt: skip
                            os.makedirs(w["WANDB_DIR"])
                            add(tool, case, "upload", _step(mine, WANDB_ADD, [ref, manifest], w)["seconds"])
                            add(tool, case, "download", _step(mine, WANDB_REFS_GET, [manifest, out], w)["seconds"])
                        got = _count(out)
                        if got != want:
                            raise RuntimeError(f"{tool} {case} downloaded {got} (files, bytes), expected {want}")
                    except RuntimeError as exc:  # a tool that fails under load: reported, the run goes on
                        print(f"  {tool:8s} {case:5s} FAILED: {str(exc)[-600:]}", flush=True)
                        failures.append(f"{tool} {case} round {r + 1}: {str(exc).strip().splitlines()[-1][:300]}")
                    for d in (out, out + "-1", *((repo, clone) if tool == "dvc" else ())):
                        shutil.rmtree(d, ignore_errors=True)  # the disk is shared
            _table(results, notes, tools, files, big_mib, r + 1, args.json)
            for f in failures:
                print(f"- failed: {f}")
    finally:
        if mlflow is not None:
            mlflow.terminate()
            mlflow.wait(30)
        if srv is not None:
            srv.stop()
        moto.stop()
        shutil.rmtree(run, ignore_errors=True)

    return 0


if __name__ == "__main__":
    sys.exit(main())

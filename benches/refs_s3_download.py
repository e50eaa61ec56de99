"""Downloading an s3-reference artifact of N objects (default 10,000 x 4 KiB) from moto's
S3 server: artefact (the Rust core's transfer engine) vs wandb 0.31.0, with raw parallel
GETs of the same objects as the limit (moto's own GET rate, printed).

Every measurement is a fresh process with a fresh root and a fresh, empty cache; the three
are interleaved each round and the order rotates. The manifest is made once, by artefact
(tests/references proves it equal to wandb's), and given to both.

    python benches/refs_s3_download.py                 # 10,000 objects, 1 round
    python benches/refs_s3_download.py -n 1000 -r 3    # quicker
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
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "references"))
from conftest import aws_env, start_moto  # noqa: E402

WORKER = os.path.join(HERE, "_refs_worker.py")


def _run(mode: str, spec: dict, env: dict) -> dict:
    spec_path = os.path.join(os.path.dirname(spec["root"]), f"{os.path.basename(spec['root'])}.json")
    os.makedirs(os.path.dirname(spec_path), exist_ok=True)
    with open(spec_path, "w") as f:
        json.dump(spec, f)
    proc = subprocess.run([sys.executable, WORKER, mode, spec_path], env=env, capture_output=True,
                          text=True, timeout=3600)  # fmt: skip
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            return json.loads(line.split(" ", 1)[1])
    raise RuntimeError(f"{mode} failed:\n{proc.stderr[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--objects", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("-r", "--rounds", type=int, default=1)
    parser.add_argument("--workers", type=int, default=64, help="raw GET threads (artefact's default too)")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="artefact-refs-bench-")
    moto, endpoint = start_moto()
    try:
        env = dict(os.environ, **aws_env(endpoint), WANDB_MODE="offline", WANDB_SILENT="true", ARTEFACT_QUIET="1",
                   ARTEFACT_STORE=os.path.join(work, "store"), ARTEFACT_ENTITY="bench")  # fmt: skip
        os.environ.update(env)
        import boto3

        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        bucket = "refs-bench"
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        keys = [f"data/{i // 1000:02d}/{i:06d}.bin" for i in range(args.objects)]
        t0 = time.perf_counter()
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=os.urandom(args.size)), keys))
        print(f"put {len(keys)} objects in {time.perf_counter() - t0:.1f}s", flush=True)

        import artefact

        t0 = time.perf_counter()
        art = artefact.Artifact("refs", "dataset")
        art.add_reference(f"s3://{bucket}/data")
        with artefact.init(project="bench") as run:
            run.log_artifact(art).wait()
        manifest_path = os.path.join(work, "manifest.json")
        with open(manifest_path, "w") as f:
            json.dump(art.manifest.to_manifest_json(), f)
        print(f"add_reference + log: {time.perf_counter() - t0:.1f}s", flush=True)

        results: dict[str, list[dict]] = {"raw": [], "artefact": [], "wandb": []}
        modes = list(results)
        for r in range(args.rounds):
            order = modes[r % 3:] + modes[: r % 3]
            for mode in order:
                tag = f"{mode}-{r}"
                spec = {"endpoint": endpoint, "bucket": bucket, "keys": keys, "workers": args.workers,
                        "root": os.path.join(work, "roots", tag), "artifact": "bench/bench/refs:v0",
                        "manifest": manifest_path}  # fmt: skip
                mode_env = dict(env, ARTEFACT_CACHE_DIR=os.path.join(work, "cache", tag),
                                WANDB_CACHE_DIR=os.path.join(work, "cache", tag),
                                WANDB_DIR=os.path.join(work, "wandb", tag))  # fmt: skip
                res = _run(mode, spec, mode_env)
                assert res["files"] == args.objects, res
                results[mode].append(res)
                print(f"round {r} {mode:8s} wall {res['wall']:7.2f}s user {res['user']:7.2f}s", flush=True)
        med = {m: statistics.median(x["wall"] for x in v) for m, v in results.items()}
        cpu = {m: statistics.median(x["user"] + x["sys"] for x in v) for m, v in results.items()}
        load = os.getloadavg()[0]
        print(f"\n{args.objects} x {args.size} B s3 references, median of {args.rounds} round(s),"
              f" {os.cpu_count()} cores, load average {load:.1f} at the end")  # fmt: skip
        print("| | wall (s) | CPU user+sys (s) | GETs/s | wall vs raw GET | wandb wall / this |")
        print("|---|---|---|---|---|---|")
        for m in modes:
            print(f"| {m} | {med[m]:.2f} | {cpu[m]:.2f} | {args.objects / med[m]:.0f} | {med[m] / med['raw']:.2f}x"
                  f" | {med['wandb'] / med[m]:.2f}x |")  # fmt: skip
        print(f"moto's raw parallel GET rate (the endpoint's limit here): {args.objects / med['raw']:.0f} GETs/s")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"objects": args.objects, "size": args.size, "results": results, "median": med}, f, indent=1)
    finally:
        moto.terminate()
        moto.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)  # roots and caches of every mode (the disk is shared)


if __name__ == "__main__":
    main()

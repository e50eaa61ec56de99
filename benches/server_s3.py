"""`artefact server --blobs s3://...` against the raw limit of the same S3 endpoint.

    python benches/server_s3.py [--quick] [--files 10000] [--big-mib 1024] [--workdir DIR]

All on this machine: moto's S3 server on 127.0.0.1 (versioning on), an artefact server
(SQLite catalog) whose blobs live in that bucket, and client processes.

- artefact: a client process logs the tree (`add_dir` + `log_artifact().wait()`: MD5s,
  the server's plan, small files by batch to the server which writes them as packs,
  multipart straight to the bucket for the big file, the commit), then a second client
  with its own cache downloads it (`Api().artifact().download()`: presigned GETs straight
  from the bucket, ranges of the packs for the small files, verified).
- the limit: boto3 in one process putting and getting the same objects on the same
  endpoint, 32 threads for the small files; for the big one `upload_file` (multipart,
  16 threads) and one streamed GET in 256 KiB reads and writes (`--ranged-get` also
  times boto3's ranged `download_file`, far slower on moto). It neither hashes nor
  verifies. It is measured just before and just after artefact's log and download, and
  their mean is the limit.
- the floor of a verified download of the big file: the raw GET's time to its first
  byte (moto reads the whole object before it answers) plus one MD5 pass over the file
  in memory (in this process, OpenSSL's through hashlib); a download cannot place the
  file before both. Beside the log: that MD5 pass (`add_file` gives the entry its
  digest before `log_artifact` is called) plus the raw PUT, the log at raw pace with
  nothing overlapped.

`--variant K=V` (repeatable) also logs and downloads the big file through a second server
and clients with that environment (its own bucket on the same endpoint), in the same round: e.g.
`--variant ARTEFACT_SERVER_S3_PART_CHECKSUM=off` for uploads created without part checksums.

`--rounds N` repeats everything on a fresh endpoint and reports medians; each ratio is
the median of the rounds' own ratios (artefact / the limit measured in the same round). The machine is shared with other
work, so read the ratios, not the absolute times. `--quick`: 256 MiB instead of 1 GiB.
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
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

from server._s3 import ACCESS, SECRET, MotoS3  # noqa: E402
from server._server import ServerProcess  # noqa: E402

_LOG = """
import json, sys, time, artefact as wandb
t = time.perf_counter()
with wandb.init(project="bench") as run:
    a = wandb.Artifact(sys.argv[2], "dataset"); a.add_dir(sys.argv[1]); added = time.perf_counter() - t
    run.log_artifact(a).wait()
print(json.dumps({"seconds": time.perf_counter() - t, "add": added}))
"""
_GET = """
import json, sys, time, artefact as wandb
t = time.perf_counter()
art = wandb.Api(overrides={"project": "bench"}).artifact(sys.argv[2] + ":v0")
art.download(sys.argv[1])
print(json.dumps({"seconds": time.perf_counter() - t}))
"""


def _tree(root: str, files: int, big_mib: int) -> tuple[str, str]:
    small, big = os.path.join(root, "small"), os.path.join(root, "big")
    if files and not os.path.isdir(small):
        os.makedirs(small + ".tmp", exist_ok=True)
        for i in range(files):
            with open(os.path.join(small + ".tmp", f"{i // 1000:02d}-{i:05d}.bin"), "wb") as f:
                f.write(os.urandom(4096))
        os.rename(small + ".tmp", small)
    path = os.path.join(big, "weights.bin")
    if not os.path.isfile(path) or os.path.getsize(path) != big_mib << 20:
        os.makedirs(big, exist_ok=True)
        with open(path, "wb") as f:
            for _ in range(big_mib):
                f.write(os.urandom(1 << 20))
    return small, big


def _client(code: str, args: list[str], env: dict, part: str = "seconds") -> float:
    return _client_all(code, args, env)[part]


def _client_all(code: str, args: list[str], env: dict) -> dict:
    done = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def _raw(endpoint: MotoS3, bucket: str, src: str, dest: str, prefix: str, ranged: bool = False,
         checksums: str = "when_supported") -> tuple[float, float, float]:
    """(put seconds, get seconds, the big file's GET's seconds to its first byte) of boto3
    moving the files of `src` as they are (`checksums="when_required"`: without the CRC32
    boto3 adds to each part by default)."""
    import boto3
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config

    c = boto3.client("s3", endpoint_url=endpoint.url, aws_access_key_id=ACCESS, aws_secret_access_key=SECRET,
                     region_name="us-east-1",
                     config=Config(max_pool_connections=64, request_checksum_calculation=checksums))
    names = sorted(os.listdir(src))
    os.makedirs(dest, exist_ok=True)
    if len(names) == 1:  # the big file: multipart both ways
        cfg = TransferConfig(multipart_threshold=64 << 20, multipart_chunksize=16 << 20, max_concurrency=16)
        t = time.perf_counter()
        c.upload_file(os.path.join(src, names[0]), bucket, prefix + names[0], Config=cfg)
        put = time.perf_counter() - t
        # GET: one stream (on moto much faster than boto3's ranged download_file, which
        # slices the object per range), or the faster of both with --ranged-get. 256 KiB
        # writes: on this kind of VM 1 MiB ones cost 2-4x the system time (the page cache
        # then takes 1 MiB folios from memory handed back to the host), a weaker limit.
        t = time.perf_counter()
        body = c.get_object(Bucket=bucket, Key=prefix + names[0])["Body"]
        first = time.perf_counter() - t
        with open(os.path.join(dest, names[0]), "wb") as f:
            for chunk in iter(lambda: body.read(256 << 10), b""):
                f.write(chunk)
        get = time.perf_counter() - t
        if ranged:
            t = time.perf_counter()
            c.download_file(bucket, prefix + names[0], os.path.join(dest, names[0]), Config=cfg)
            get = min(get, time.perf_counter() - t)
        return put, get, first

    def put(name: str) -> None:
        with open(os.path.join(src, name), "rb") as f:
            c.put_object(Bucket=bucket, Key=prefix + name, Body=f.read())

    def get(name: str) -> None:
        data = c.get_object(Bucket=bucket, Key=prefix + name)["Body"].read()
        with open(os.path.join(dest, name), "wb") as f:
            f.write(data)

    with ThreadPoolExecutor(32) as pool:
        t = time.perf_counter()
        list(pool.map(put, names))
        p = time.perf_counter() - t
        t = time.perf_counter()
        list(pool.map(get, names))
        return p, time.perf_counter() - t, 0.0


def _md5_seconds(path: str) -> float:
    """Seconds of one MD5 pass over the file at `path`, held in memory (the read not timed)."""
    import hashlib

    with open(path, "rb") as f:
        chunks = list(iter(lambda: f.read(1 << 20), b""))
    t = time.perf_counter()
    h = hashlib.md5()
    for c in chunks:
        h.update(c)
    return time.perf_counter() - t


def _probe(endpoint: MotoS3, bucket: str, src: str) -> dict[str, float]:
    """Seconds to find every small blob in the bucket: HEADs (32 in parallel) against one
    ListObjectsV2 sweep of the project's keys (server/s3_blobs.py chooses between them)."""
    import base64
    import hashlib

    os.environ.update(endpoint.env())
    from artefact.server.s3_blobs import S3Blobs

    store = S3Blobs(bucket, "blobs/", 900)
    blobs = []
    for name in sorted(os.listdir(src)):
        with open(os.path.join(src, name), "rb") as f:
            data = f.read()
        blobs.append(("MD5", base64.b64encode(hashlib.md5(data).digest()).decode(), len(data)))
    out = {}
    for how in ("list", "head"):
        t = time.perf_counter()
        found = store.probe(1, blobs, how=how)
        out[f"{how} ({len(found):,} found)"] = time.perf_counter() - t
    store.close()
    return out


def _variant(args: argparse.Namespace, endpoint: MotoS3, run: str, src: str, name: str) -> tuple[float, float]:
    """(log, download) seconds through a second server with `--variant`'s environment,
    its blobs in a bucket of their own on the same endpoint."""
    extra = dict(v.split("=", 1) for v in args.variant)
    ServerProcess.s3 = (endpoint, endpoint.new_bucket())
    try:
        srv = ServerProcess(os.path.join(run, "catalog-variant.db"), os.path.join(run, "server-variant"), env=extra)
    finally:
        ServerProcess.s3 = None
    try:
        env = {**os.environ, "ARTEFACT_BASE_URL": srv.url, "ARTEFACT_API_KEY": srv.make_key("bench", "writer"),
               "ARTEFACT_ENTITY": "bench", "ARTEFACT_DATA_DIR": os.path.join(run, "data-variant"), **extra}
        log = _client(_LOG, [src, name], {**env, "ARTEFACT_CACHE_DIR": os.path.join(run, "cache-va")})
        get = _client(_GET, [os.path.join(run, "out-variant"), name],
                      {**env, "ARTEFACT_CACHE_DIR": os.path.join(run, "cache-vb")})
    finally:
        srv.stop()
        for d in ("out-variant", "cache-va", "cache-vb", "data-variant"):
            shutil.rmtree(os.path.join(run, d), ignore_errors=True)
    return log, get


def _round(args: argparse.Namespace, cases: list, run: str) -> list[tuple]:
    """One round on a fresh moto endpoint (it keeps objects in memory) and server:
    per case, the raw limit then artefact's log and download."""
    endpoint = MotoS3(os.path.join(run, "moto.log"))
    srv = None
    rows = []
    try:
        bucket = endpoint.new_bucket()
        ServerProcess.s3 = (endpoint, bucket)
        srv = ServerProcess(os.path.join(run, "catalog.db"), os.path.join(run, "server"))
        ServerProcess.s3 = None
        key = srv.make_key("bench", "writer")
        env = {**os.environ, "ARTEFACT_BASE_URL": srv.url, "ARTEFACT_API_KEY": key, "ARTEFACT_ENTITY": "bench",
               "ARTEFACT_DATA_DIR": os.path.join(run, "data")}
        for label, src, name in cases:
            # The limit is measured just before and just after artefact's runs (their mean),
            # so the load other work puts on a shared machine weighs on both alike.
            before = _raw(endpoint, bucket, src, os.path.join(run, "raw-" + name), f"raw1/{name}/", args.ranged_get)
            shutil.rmtree(os.path.join(run, "raw-" + name), ignore_errors=True)
            logged = _client_all(_LOG, [src, name], {**env, "ARTEFACT_CACHE_DIR": os.path.join(run, "cache-a")})
            log = logged["seconds"]
            get = _client(_GET, [os.path.join(run, "out-" + name), name],
                          {**env, "ARTEFACT_CACHE_DIR": os.path.join(run, "cache-b")})
            after = _raw(endpoint, bucket, src, os.path.join(run, "raw-" + name), f"raw2/{name}/", args.ranged_get)
            shutil.rmtree(os.path.join(run, "raw-" + name), ignore_errors=True)
            raw_put, raw_get = (before[0] + after[0]) / 2, (before[1] + after[1]) / 2
            # An upload created without a checksum algorithm (as the server creates its
            # own) costs moto a full-object CRC64NVME in its complete: the same PUT so.
            # The verified download's floor: time to first byte plus one MD5 pass. Beside the
            # log: the MD5 pass `add` makes before `log_artifact` can start, plus the raw PUT.
            md5s = _md5_seconds(os.path.join(src, os.listdir(src)[0])) if name == "big" else 0.0
            floor = (before[2] + after[2]) / 2 + md5s if name == "big" else 0.0
            log_floor = md5s + raw_put if name == "big" else 0.0
            plain = _raw(endpoint, bucket, src, os.path.join(run, "raw-" + name), f"raw3/{name}/",
                         checksums="when_required")[0] if name == "big" else raw_put
            shutil.rmtree(os.path.join(run, "raw-" + name), ignore_errors=True)
            for d in ("out-" + name, "cache-a", "cache-b"):
                shutil.rmtree(os.path.join(run, d), ignore_errors=True)
            probe = _probe(endpoint, bucket, src) if name == "small" and args.probe else {}
            variant = _variant(args, endpoint, run, src, name) if name == "big" and args.variant else None
            rows.append((label, log, raw_put, get, raw_get, probe, logged["add"], plain, variant, floor, log_floor))
            print(f"  {label}: log {log:.2f} s (add {logged['add']:.2f} s), raw PUT {before[0]:.2f}/{after[0]:.2f} s"
                  f" (no part checksums {plain:.2f} s), download {get:.2f} s,"
                  f" raw GET {before[1]:.2f}/{after[1]:.2f} s" + (f" (floor {floor:.2f} s)" if floor else "")
                  + (f"; MD5 + raw PUT {log_floor:.2f} s" if log_floor else "")
                  + (f"; with {' '.join(args.variant)}: log {variant[0]:.2f} s, download {variant[1]:.2f} s"
                     if variant else "") + f"; load {os.getloadavg()[0]:.1f}", flush=True)
    finally:
        if srv is not None:
            srv.stop()
        endpoint.stop()
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a 256 MiB big file instead of 1 GiB")
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--big-mib", type=int, default=None)
    ap.add_argument("--cases", default="small,big", help="comma-separated: small, big")
    ap.add_argument("--rounds", type=int, default=1, help="rounds (each on a fresh endpoint); medians reported")
    ap.add_argument("--ranged-get", action="store_true",
                    help="also time boto3's ranged download_file for the big file (slow on moto); the faster counts")
    ap.add_argument("--variant", action="append", default=[], metavar="K=V",
                    help="also log and download the big file through a server with this environment (repeatable)")
    ap.add_argument("--no-probe", dest="probe", action="store_false", help="skip the presence-check timing")
    ap.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "artefact-bench-s3"))
    args = ap.parse_args()
    big_mib = args.big_mib or (256 if args.quick else 1024)
    wanted = set(args.cases.split(","))
    os.makedirs(args.workdir, exist_ok=True)
    small, big = _tree(os.path.join(args.workdir, "src"), args.files if "small" in wanted else 0, big_mib)
    cases = [c for c in ((f"{args.files:,} × 4 KiB", small, "small"), (f"1 × {big_mib} MiB", big, "big"))
             if c[2] in wanted]
    loads, rounds = [], []
    for r in range(args.rounds):
        print(f"round {r + 1}/{args.rounds}", flush=True)
        run = tempfile.mkdtemp(prefix="run-", dir=args.workdir)
        try:
            rounds.append(_round(args, cases, run))
        finally:
            shutil.rmtree(run, ignore_errors=True)
        loads.append(os.getloadavg()[0])
    med = statistics.median
    print(f"\nS3 blobs on moto (127.0.0.1), {args.rounds} round(s), medians; load average (1 min) after each round:"
          f" {', '.join(f'{x:.1f}' for x in loads)} on {os.cpu_count()} CPUs (shared machine)\n")
    print("| case | artefact log | raw PUT (boto3) | log / raw | artefact download | raw GET (boto3) |"
          " download / raw |")
    print("|---|---|---|---|---|---|---|")
    for i, (label, _src, _name) in enumerate(cases):
        got = [r[i] for r in rounds]
        log, raw_put = med([g[1] for g in got]), med([g[2] for g in got])
        get, raw_get = med([g[3] for g in got]), med([g[4] for g in got])
        # the ratio is the median of each round's own ratio (same-round limit)
        lr, gr = med([g[1] / g[2] for g in got]), med([g[3] / g[4] for g in got])
        print(f"| {label} | {log:.2f} s | {raw_put:.2f} s | {lr:.2f}× | {get:.2f} s | {raw_get:.2f} s | {gr:.2f}× |")
        if _name == "big":
            print(f"\n{label}: of the log, the add (staged copy, whole-file and part MD5s) {med([g[6] for g in got]):.2f} s;"
                  f" raw PUT without boto3's part checksums (moto then computes a full-object checksum in its"
                  f" complete, as for uploads created without part checksums) {med([g[7] for g in got]):.2f} s,"
                  f" log / that {med([g[1] / g[7] for g in got]):.2f}×")
            print(f"\n{label}: one MD5 pass over the file in memory (which `add` makes before `log_artifact`"
                  f" can start) + the raw PUT, i.e. the log at raw pace with nothing overlapped, {med([g[10] for g in got]):.2f} s ="
                  f" {med([g[10] / g[2] for g in got]):.2f}× raw PUT; log / that {med([g[1] / g[10] for g in got]):.2f}×")
            print(f"\n{label}: the verified download's floor (the raw GET's time to first byte + one MD5 pass over the"
                  f" file in memory) {med([g[9] for g in got]):.2f} s = {med([g[9] / g[4] for g in got]):.2f}× raw GET;"
                  f" download / floor {med([g[3] / g[9] for g in got]):.2f}×")
            if args.variant:
                print(f"\n{label} with {' '.join(args.variant)}: log {med([g[8][0] for g in got]):.2f} s"
                      f" ({med([g[8][0] / g[2] for g in got]):.2f}× raw PUT), download {med([g[8][1] for g in got]):.2f} s"
                      f" ({med([g[8][1] / g[4] for g in got]):.2f}× raw GET)")
    probes = [g[5] for r in rounds for g in r if g[5]]
    if probes:
        print(f"\nPresence check of the {args.files:,} logged blobs (what a commit does for blobs the catalog does not"
              " record yet):")
        for how in probes[0]:
            print(f"- {how}: {med([p[how] for p in probes]):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

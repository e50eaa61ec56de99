"""Child process of refs_s3_download.py: one timed download of an s3-reference artifact.

    python _refs_worker.py raw|artefact|wandb SPEC_JSON_FILE

raw: parallel GETs of presigned URLs of the same objects, bodies written to files (the
limit: no manifest, no checks). artefact: `use_artifact(...).download(root)` from the
embedded store. wandb: wandb 0.31.0's `Artifact._download` of the same manifest (the
server's file-URL pages stood in for, as in tests/references/_wandb_worker.py).
Prints `BENCH_RESULT {"wall": s, "user": s, "sys": s, "files": n}`.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from types import SimpleNamespace


def raw(spec: dict) -> int:
    from concurrent.futures import ThreadPoolExecutor

    import boto3
    import urllib3

    client = boto3.client("s3", endpoint_url=spec["endpoint"], region_name="us-east-1")
    http = urllib3.PoolManager(maxsize=spec["workers"])
    root = spec["root"]

    def get(key: str) -> None:
        url = client.generate_presigned_url("get_object", Params={"Bucket": spec["bucket"], "Key": key})
        body = http.request("GET", url).data
        path = os.path.join(root, key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(body)

    with ThreadPoolExecutor(spec["workers"]) as pool:
        list(pool.map(get, spec["keys"]))
    return len(spec["keys"])


def artefact_download(spec: dict) -> int:
    import artefact

    art = artefact.Api().artifact(spec["artifact"])
    art.download(spec["root"])
    return len(art.manifest.entries)


def wandb_download(spec: dict) -> int:
    import wandb
    from wandb.sdk.artifacts.artifact_manifest import ArtifactManifest

    with open(spec["manifest"]) as f:
        manifest = json.load(f)
    art = wandb.Artifact("refs", "dataset")
    art._manifest = ArtifactManifest.from_manifest_json(manifest)
    for entry in art._manifest.entries.values():
        entry._parent_artifact = art
    nodes = [SimpleNamespace(node=SimpleNamespace(name=p, direct_url=None)) for p in art._manifest.entries]
    page = SimpleNamespace(page_info=SimpleNamespace(has_next_page=False, end_cursor=None), edges=nodes)
    art._fetch_file_urls = lambda cursor, per_page=5000: page
    art.get_entry = lambda name: art._manifest.entries[name]
    art._download(spec["root"])
    return len(nodes)


if __name__ == "__main__":
    mode = sys.argv[1]
    with open(sys.argv[2]) as f:
        spec = json.load(f)
    # imports are outside the timing for every mode
    if mode == "wandb":
        import wandb  # noqa: F401
        from wandb.sdk.artifacts.storage_handlers import s3_handler  # noqa: F401
    else:
        import boto3  # noqa: F401

        import artefact  # noqa: F401
    before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    files = {"raw": raw, "artefact": artefact_download, "wandb": wandb_download}[mode](spec)
    wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF)
    out = {"wall": wall, "user": after.ru_utime - before.ru_utime, "sys": after.ru_stime - before.ru_stime,
           "files": files}  # fmt: skip
    print("BENCH_RESULT " + json.dumps(out), flush=True)

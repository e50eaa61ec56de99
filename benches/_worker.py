"""One measurement in a fresh process: `python _worker.py '<json spec>'`.

The spec names the SDK module (``"artefact"`` or ``"wandb"``; any module with wandb's
public API works, which is how the scripts were tested before artefact's API existed)
and an operation. Only the operation is timed, not the import. The last stdout line that
starts with ``BENCH_RESULT `` is a JSON object:

    wall, user, sys      seconds spent in the operation (perf_counter, getrusage(SELF))
    rss_mib              peak RSS of the whole process (VmHWM, i.e. ru_maxrss without what
                         Linux carries over from the parent across exec), MiB
    rss_before_mib       peak RSS just before the operation (import + setup), MiB
    info                 operation details: digest, entry count, import time, ...

Operations (``op``):

    import        only the import (wall = import time)
    add_dir       Artifact(...).add_dir(path, policy=...), then .digest and
                  .manifest.to_manifest_json()
    add_file      the same with add_file
    readd         add_dir twice in one process (two artifacts); the second add is timed
    manifest_core artefact._core.Manifest: insert N entries, to_manifest_json, digest
    manifest_api  Artifact(...).manifest.add_entry(ArtifactManifestEntry(...)) x N,
                  json.dumps(to_manifest_json()), digest()
    log           init(); log_artifact(an add_dir of path); finish()  (download set-up)
    add_log       init(); add_dir; log_artifact(...).wait(); finish()  (all timed)
    download      init(); use_artifact(name).download(root)             (timed)
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import sys
import time
from typing import Any, Callable

RESULT_MARK = "BENCH_RESULT "


def ru_maxrss_mib() -> float:
    # Linux reports KiB, macOS bytes.
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / (1024 * 1024) if sys.platform == "darwin" else r / 1024


def maxrss_mib() -> float:
    """Peak RSS of this process image.

    On Linux ru_maxrss survives execve: a child started with vfork/fork inherits the
    parent's peak (the bench driver's). VmHWM belongs to the new image only, so it is
    what ru_maxrss would say for a process started from nothing.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return ru_maxrss_mib()


def measure(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    rss_before = maxrss_mib()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    info = fn()
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "ok": True,
        "wall": wall,
        "user": ru1.ru_utime - ru0.ru_utime,
        "sys": ru1.ru_stime - ru0.ru_stime,
        "rss_mib": maxrss_mib(),
        "rss_before_mib": rss_before,
        "info": info or {},
    }


def manifest_json_of(art: Any) -> Any:
    return art.manifest.to_manifest_json()


def entry_class(sdk: Any) -> Any:
    if sdk.__name__ == "wandb":
        from wandb.sdk.artifacts.artifact_manifest_entry import ArtifactManifestEntry

        return ArtifactManifestEntry
    try:
        return importlib.import_module(sdk.__name__ + ".manifest").ArtifactManifestEntry
    except (ImportError, AttributeError):
        return sdk.ArtifactManifestEntry


def entry_inputs(n: int) -> tuple[Callable[[int], str], list[str]]:
    """Paths are made on the fly (the same cost for every SDK); digests cycle a pool."""
    import base64
    import hashlib

    pool = [base64.b64encode(hashlib.md5(str(i).encode()).digest()).decode() for i in range(1024)]
    return (lambda i: f"data/d{i // 1000:04d}/file{i:07d}.bin"), pool


def input_cost(n: int) -> float:
    """Seconds the input loop alone takes (making paths), reported beside the result."""
    path_of, pool = entry_inputs(n)
    t = time.perf_counter()
    for i in range(n):
        _ = (path_of(i), pool[i & 1023])
    return time.perf_counter() - t


def main() -> None:
    spec = json.loads(sys.argv[1])
    op = spec["op"]
    t0 = time.perf_counter()
    sdk = importlib.import_module(spec["sdk"])
    import_s = time.perf_counter() - t0

    if op == "import":
        rss = maxrss_mib()
        out = {"ok": True, "wall": import_s, "user": float("nan"), "sys": float("nan"),
               "rss_mib": rss, "rss_before_mib": rss, "info": {}}

    elif op in ("add_dir", "add_file"):
        path, policy = spec["path"], spec["policy"]
        art = sdk.Artifact(spec.get("name", "bench-tree"), type="dataset")

        def run() -> dict[str, Any]:
            getattr(art, op)(path, policy=policy)
            digest = art.digest
            manifest_json_of(art)
            return {"digest": digest}

        out = measure(run)
        out["info"]["entries"] = len(art.manifest.entries)

    elif op == "readd":
        path = spec["path"]
        first = sdk.Artifact("bench-first", type="dataset")
        t = time.perf_counter()
        first.add_dir(path, policy="immutable")
        first_digest = first.digest
        manifest_json_of(first)
        first_s = time.perf_counter() - t
        art = sdk.Artifact("bench-second", type="dataset")

        def run() -> dict[str, Any]:
            art.add_dir(path, policy="immutable")
            digest = art.digest
            manifest_json_of(art)
            return {"digest": digest}

        out = measure(run)
        out["info"].update(first_add_s=first_s, same_digest=first_digest == out["info"]["digest"],
                           entries=len(art.manifest.entries))

    elif op == "manifest_core":
        core = importlib.import_module(spec["sdk"] + "._core")
        n = spec["entries"]
        path_of, pool = entry_inputs(n)

        def run() -> dict[str, Any]:
            m = core.Manifest()
            insert = m.insert
            for i in range(n):
                insert(path_of(i), pool[i & 1023], size=i)
            text = m.to_manifest_json()
            return {"digest": m.digest(), "json_bytes": len(text), "entries": len(m)}

        out = measure(run)
        out["info"]["input_loop_s"] = input_cost(n)

    elif op == "manifest_api":
        n = spec["entries"]
        path_of, pool = entry_inputs(n)
        entry_cls = entry_class(sdk)
        manifest = sdk.Artifact("bench-manifest", type="dataset").manifest

        def run() -> dict[str, Any]:
            add = manifest.add_entry
            for i in range(n):
                add(entry_cls(path=path_of(i), digest=pool[i & 1023], size=i))
            text = json.dumps(manifest.to_manifest_json())
            return {"digest": manifest.digest(), "json_bytes": len(text), "entries": len(manifest.entries)}

        out = measure(run)
        out["info"]["input_loop_s"] = input_cost(n)

    elif op == "log":
        run_ = sdk.init(project=spec.get("project", "bench"), job_type="bench-setup")
        art = sdk.Artifact(spec["name"], type="dataset")
        art.add_dir(spec["path"], policy=spec.get("policy", "immutable"))
        digest = art.digest

        def run() -> dict[str, Any]:
            run_.log_artifact(art)
            run_.finish()
            return {"digest": digest}

        out = measure(run)

    elif op == "add_log":
        # The whole job of a training script's log: add_dir, log_artifact, wait, finish.
        def run() -> dict[str, Any]:
            run_ = sdk.init(project=spec.get("project", "bench"), job_type="bench-log")
            art = sdk.Artifact(spec["name"], type="dataset")
            art.add_dir(spec["path"], policy=spec.get("policy", "immutable"))
            run_.log_artifact(art).wait()
            run_.finish()
            return {"digest": art.digest}

        out = measure(run)

    elif op == "download":
        run_ = sdk.init(project=spec.get("project", "bench"), job_type="bench-download")
        root = spec["root"]

        def run() -> dict[str, Any]:
            art = run_.use_artifact(f"{spec['name']}:latest")
            got = art.download(root=root)
            return {"digest": art.digest, "root": str(got)}

        out = measure(run)
        run_.finish()
        out["info"]["files"] = sum(len(f) for _d, _s, f in os.walk(root))

    else:
        raise SystemExit(f"unknown op {op!r}")

    out["info"]["import_s"] = import_s
    out["info"]["ru_maxrss_mib"] = ru_maxrss_mib()
    out["info"]["sdk_version"] = getattr(sdk, "__version__", None)
    sys.stdout.flush()
    print(RESULT_MARK + json.dumps(out), flush=True)


if __name__ == "__main__":
    main()

"""What a re-log process pays before and around its work: the core grows the
process's descriptor table once at import (rust/core/src/fdtable.rs), so the 256
shard dirs of the cache's objects that a re-log opens from the pool's threads never
make the kernel grow it under several threads (each growth then waits for an RCU grace
period); and logging through the server imports neither `uuid` nor `platform`.

Real processes: a fresh interpreter for the import, and an SDK client logging a real
tree to a real `artefact server` on loopback, then re-logging it with one file changed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from ._server import ServerProcess

_STATUS = r"""
import os, re
def fdsize():
    return int(re.search(r"FDSize:\s+(\d+)", open("/proc/self/status").read()).group(1))
def open_fds():
    return len(os.listdir("/proc/self/fd"))
"""

IMPORT_PROGRAM = _STATUS + r"""
import json, resource, sys
if len(sys.argv) > 1:
    soft = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
before = open_fds()
import artefact._core
print(json.dumps({"fdsize": fdsize(), "leaked": open_fds() - before,
                  "soft": resource.getrlimit(resource.RLIMIT_NOFILE)[0]}))
"""

RELOG_PROGRAM = _STATUS + r"""
import json, sys
import artefact as wandb
tree, changed = sys.argv[1:3]
out = {}
for step in ("first", "relog"):
    if step == "relog":
        with open(changed, "wb") as f:
            f.write(b"changed content")
    with wandb.init(project="p") as run:
        a = wandb.Artifact("tree", "dataset")
        a.add_dir(tree)
        run.log_artifact(a).wait()
    out[step] = a.version
got = wandb.Api().artifact("acme/p/tree:" + out["relog"])
out["entry"] = got.manifest.entries["d0/f0.bin"].digest
out["files"] = len(got.manifest.entries)
out["modules"] = sorted(m for m in ("uuid", "platform") if m in sys.modules)
print(json.dumps(out))
"""


def _run(program: str, *args: str, env: dict | None = None) -> dict:
    done = subprocess.run([sys.executable, "-c", program, *args], capture_output=True, text=True, timeout=300,
                          env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_importing_the_core_grows_the_descriptor_table_once_and_leaves_nothing_open():
    got = _run(IMPORT_PROGRAM)
    assert got["fdsize"] >= min(1024, got["soft"]), got
    assert got["leaked"] == 0, got
    # a low soft limit is respected (the table covers it, no more is asked), and a very
    # low one leaves the table alone: the import works either way
    low = _run(IMPORT_PROGRAM, "300")
    assert low["soft"] == 300 and low["fdsize"] >= 300 and low["leaked"] == 0, low
    tiny = _run(IMPORT_PROGRAM, "48")
    assert tiny["soft"] == 48 and tiny["leaked"] == 0, tiny


def test_a_relog_through_the_server_with_one_file_changed(tmp_path):
    srv = ServerProcess(str(tmp_path / "catalog.db"), str(tmp_path / "blobs"))
    try:
        key = srv.make_key("acme", "writer")
        tree = tmp_path / "tree"
        for i in range(300):  # more than the 256 shards' worth of objects
            d = tree / f"d{i % 10}"
            d.mkdir(parents=True, exist_ok=True)
            (d / f"f{i}.bin").write_bytes(os.urandom(512))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "ARTEFACT_"))}
        env.update(ARTEFACT_BASE_URL=srv.url, ARTEFACT_API_KEY=key, ARTEFACT_ENTITY="acme", ARTEFACT_QUIET="1",
                   ARTEFACT_CACHE_DIR=str(tmp_path / "cache"), ARTEFACT_DATA_DIR=str(tmp_path / "data"))
        got = _run(RELOG_PROGRAM, str(tree), str(tree / "d0" / "f0.bin"), env=env)
    finally:
        srv.stop()
    import base64
    import hashlib

    assert got["first"] == "v0" and got["relog"] == "v1", got
    assert got["entry"] == base64.b64encode(hashlib.md5(b"changed content").digest()).decode()
    assert got["files"] == 300
    assert got["modules"] == [], f"a log through the server imported {got['modules']}"

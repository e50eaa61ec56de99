"""The timed programs the server benches run, each in a fresh process (`python -c PROGRAM
ARGS...`), so imports and start-up stay outside the timing. Each prints one JSON line
whose "seconds" is the timed part.

Shared by server_vs_peers.py, server_big.py and s3_vs_peers.py; the peers' programs run
under the peers' Python (`--peers-python`).
"""

from __future__ import annotations

import os

HERE = os.path.dirname(os.path.abspath(__file__))

# `import artefact` loads its submodules lazily: each artefact program loads the whole
# public surface before its timer starts, so imports stay outside the timing.
_LOAD = "import artefact as wandb\nfor _n in wandb.__all__: getattr(wandb, _n)\n"

ART_LOG = _LOAD + r"""
import json, os, sys, time
data, name, project = sys.argv[1:4]
t = time.perf_counter()
with wandb.init(project=project) as run:
    a = wandb.Artifact(name, "dataset")
    (a.add_dir if os.path.isdir(data) else a.add_file)(data)
    added = time.perf_counter()
    run.log_artifact(a).wait()
    done = time.perf_counter()
print(json.dumps({"seconds": done - t, "add": added - t, "log": done - added, "version": a.version}))
"""
"""artefact: log a directory or one file as artifact NAME in PROJECT (args: DATA NAME PROJECT)."""

ART_GET = _LOAD + r"""
import json, sys, time
path, root = sys.argv[1:3]
t = time.perf_counter()
wandb.Api().artifact(path).download(root)
print(json.dumps({"seconds": time.perf_counter() - t}))
"""
"""artefact: download artifact PATH (e.g. `bench/tree:v0`) into ROOT (args: PATH ROOT)."""

MLFLOW_LOG = r"""
import json, os, sys, time, mlflow
mlflow.set_tracking_uri(sys.argv[1])
data = sys.argv[2]
t = time.perf_counter()
with mlflow.start_run() as run:
    (mlflow.log_artifacts if os.path.isdir(data) else mlflow.log_artifact)(data)
print(json.dumps({"seconds": time.perf_counter() - t, "run_id": run.info.run_id}))
"""
"""MLflow: log a directory or one file to a new run (args: TRACKING_URI DATA); prints the run id."""

MLFLOW_GET = r"""
import json, sys, time, mlflow
mlflow.set_tracking_uri(sys.argv[1])
t = time.perf_counter()
mlflow.artifacts.download_artifacts(run_id=sys.argv[2], dst_path=sys.argv[3])
print(json.dumps({"seconds": time.perf_counter() - t}))
"""
"""MLflow: download a run's artifacts (args: TRACKING_URI RUN_ID DEST)."""

WANDB_REFS_GET = (
    r"""
import json, sys, time
sys.path.insert(0, %r)
from _refs_worker import wandb_download
import wandb  # imported outside the timing, as the other programs do
from wandb.sdk.artifacts.storage_handlers import s3_handler  # noqa: F401
manifest, root = sys.argv[1:3]
t = time.perf_counter()
wandb_download({"manifest": manifest, "root": root})
print(json.dumps({"seconds": time.perf_counter() - t}))
"""
    % HERE
)
"""wandb 0.31.0: download the references of a manifest file into ROOT, the server's file-URL
pages stood in for as in _refs_worker.py (args: MANIFEST ROOT)."""

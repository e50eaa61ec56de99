"""Child process: log one version of `name` through the public API, print its version.

    python _log_worker.py <name> <seed> <start-flag-path>
"""

import os
import sys
import tempfile
import time

import artefact as wandb

name, seed, flag = sys.argv[1:4]
data = tempfile.mkdtemp(prefix=f"e2e-{seed}-")
for j in range(20):
    with open(os.path.join(data, f"f{j:02d}.bin"), "wb") as f:
        f.write(f"{seed}:{j}:".encode() * (100 + j))
art = wandb.Artifact(name, "dataset")
art.add_dir(data)
while not os.path.exists(flag):  # start together
    time.sleep(0.001)
with wandb.init(project="race", job_type=f"w{seed}") as run:
    run.log_artifact(art, aliases=[f"s{seed}"]).wait()
print(art.version, flush=True)

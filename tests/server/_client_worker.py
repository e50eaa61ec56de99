"""A client process for the server tests: logs versions through the public API.

    _client_worker.py log <project> <name> <seed> <count> [<wait-for>]   # prints version indices
    _client_worker.py get <project> <name:alias> <root>                 # download + verify
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

import artefact as wandb


def log(project: str, name: str, seed: str, count: int, wait_for: str = "") -> None:
    if wait_for:
        while not os.path.exists(wait_for):
            time.sleep(0.005)
    with wandb.init(project=project) as run:
        # Equal content from two clients is one version. Logged first: a dedupe moves the
        # aliases it is given, `latest` included, to the existing version (as the embedded
        # store does), so the last log of every client creates a version and `latest` ends
        # on the newest.
        if seed == "0" or seed == "1":  # equal content from two clients: one version
            data = tempfile.mkdtemp(prefix="same-")
            with open(os.path.join(data, "same.txt"), "w") as f:
                f.write("identical\n")
            art = wandb.Artifact(name, "dataset")
            art.add_dir(data)
            print("same", run.log_artifact(art).wait().version[1:], flush=True)
        for i in range(count):
            data = tempfile.mkdtemp(prefix=f"c{seed}-{i}-")
            for j in range(3):
                with open(os.path.join(data, f"f{j}.txt"), "w") as f:
                    f.write(f"{seed}:{i}:{j}\n" * (j + 1))
            with open(os.path.join(data, "shared.txt"), "w") as f:
                f.write("the same in every version\n")
            art = wandb.Artifact(name, "dataset")
            art.add_dir(data)
            logged = run.log_artifact(art, aliases=[f"s{seed}"])
            logged.wait()
            print(logged.version[1:], flush=True)


def get(project: str, name: str, root: str) -> None:
    art = wandb.Api().artifact(f"{project}/{name}")
    path = art.download(root)
    art.verify(path)
    print(art.version, art.digest, flush=True)


if __name__ == "__main__":
    cmd, *rest = sys.argv[1:]
    if cmd == "log":
        log(rest[0], rest[1], rest[2], int(rest[3]), rest[4] if len(rest) > 4 else "")
    else:
        get(*rest)

"""One process of the load test (test_load.py); loops until a deadline, then prints
one JSON line per operation on stdout.

    _load_worker.py logger <work> <index> <deadline>
    _load_worker.py downloader <work> <index> <deadline>
    _load_worker.py gc <work> <index> <deadline>
    _load_worker.py cleanup <work> <index> <deadline>

Store, cache and cache cap come from the environment (ARTEFACT_*), as for any user.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import shutil
import sys
import time

COLLECTIONS = ("c0", "c1", "c2", "c3")


def emit(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


def logger(work: str, index: int, deadline: float) -> None:
    import artefact as wandb

    rng = random.Random(index)
    i = 0
    with wandb.init(project="load", job_type="logger") as run:
        while time.time() < deadline:
            data = os.path.join(work, "src", f"l{index}-{i}")
            os.makedirs(os.path.join(data, "sub"), exist_ok=True)
            for j in range(rng.randint(2, 6)):
                # Some contents shared across loggers (dedupe, gc races), some fresh.
                body = f"shared-{rng.randint(0, 20)}" if j == 0 else f"{index}:{i}:{j}:{rng.random()}"
                with open(os.path.join(data, "sub" if j % 2 else "", f"f{j}.txt"), "w") as f:
                    f.write(body * rng.randint(1, 400))
            name = rng.choice(COLLECTIONS)
            art = wandb.Artifact(name, "dataset")
            art.add_dir(data)
            try:
                logged = run.log_artifact(art, aliases=[f"l{index}"])
                logged.wait()
                emit(op="log", name=name, version=logged.version, digest=logged.digest)
            except Exception as exc:  # noqa: BLE001 - reported, judged by the test
                emit(op="log", name=name, error=f"{type(exc).__name__}: {exc}")
            i += 1


def _incomplete(artifact, root: str) -> list[str]:
    """Entries of `artifact` missing or different under `root` (extra files ignored:
    another process may be mid-download into a shared root)."""
    bad = []
    for path, entry in artifact.manifest.entries.items():
        full = os.path.join(root, path)
        try:
            with open(full, "rb") as f:
                digest = base64.b64encode(hashlib.md5(f.read()).digest()).decode()
        except OSError as exc:
            bad.append(f"{path}: {exc}")
            continue
        if digest != entry.digest:
            bad.append(f"{path}: digest {digest} != {entry.digest}")
    return bad


def downloader(work: str, index: int, deadline: float) -> None:
    import artefact as wandb

    rng = random.Random(1000 + index)
    i = 0
    while time.time() < deadline:
        api = wandb.Api(overrides={"project": "load"})
        name = rng.choice(COLLECTIONS)
        try:
            artifact = api.artifact(f"{name}:latest")
        except Exception as exc:  # noqa: BLE001 - nothing logged yet
            emit(op="resolve", name=name, error=f"{type(exc).__name__}: {exc}")
            time.sleep(0.05)
            continue
        shared = rng.random() < 0.5
        root = (os.path.join(work, "roots", "shared", f"{name}-{artifact.version}") if shared
                else os.path.join(work, "roots", f"own{index}", f"{name}-{artifact.version}-{i}"))
        try:
            returned = artifact.download(root=root)
        except Exception as exc:  # noqa: BLE001 - an error is allowed; a false success is not
            emit(op="download", shared=shared, root=root, error=f"{type(exc).__name__}: {exc}")
        else:
            emit(op="download", shared=shared, root=root, name=name, version=artifact.version,
                 returned=str(returned), incomplete=_incomplete(artifact, root))
        if not shared:
            shutil.rmtree(root, ignore_errors=True)
        i += 1


def gc(work: str, index: int, deadline: float) -> None:
    from artefact.cli import main

    while time.time() < deadline:
        # A grace longer than one log: a log moves staged copies into the store before its
        # commit, and gc may only collect what no log in flight can still commit.
        emit(op="gc", code=main(["--quiet", "gc", "--grace", "5"]))
        time.sleep(0.2)


def cleanup(work: str, index: int, deadline: float) -> None:
    from artefact.cli import main

    while time.time() < deadline:
        emit(op="cleanup", code=main(["--quiet", "cache", "cleanup", "20KB"]))
        time.sleep(0.1)


if __name__ == "__main__":
    role, work, index, deadline = sys.argv[1:5]
    {"logger": logger, "downloader": downloader, "gc": gc, "cleanup": cleanup}[role](
        work, int(index), float(deadline)
    )

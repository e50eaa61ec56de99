"""Two machines sharing work through the server: separate processes, separate caches,
data and working directories, nothing shared but the server's URL. Machine A logs,
moves aliases and links into a registry; machine B uses, downloads and verifies."""

from __future__ import annotations

import os
import subprocess
import sys

MACHINE_A = r"""
import os, sys, artefact as wandb
work = sys.argv[1]
os.makedirs(work + "/data/sub", exist_ok=True)
for i in range(30):
    open(f"{work}/data/sub/{i}.txt", "w").write(f"row {i}\n" * 50)
open(work + "/data/model.bin", "wb").write(os.urandom(2 << 20))
with wandb.init(project="team", job_type="train") as run:
    a = wandb.Artifact("model", "model", metadata={"acc": 0.9})
    a.add_dir(work + "/data")
    run.log_artifact(a, aliases=["candidate"]).wait()
    open(work + "/data/sub/0.txt", "w").write("changed\n")
    b = wandb.Artifact("model", "model")
    b.add_dir(work + "/data")
    logged = run.log_artifact(b, aliases=["candidate"])
    logged.wait()
    logged.link("model-registry/best", aliases=["production"])
print("A done", logged.version)
"""

MACHINE_B = r"""
import os, sys, artefact as wandb
work = sys.argv[1]
with wandb.init(project="team", job_type="eval") as run:
    art = run.use_artifact("model:candidate")
    assert art.version == "v1", art.version
    root = art.download(work + "/model")
    art.verify(root)
    assert open(root + "/sub/0.txt").read() == "changed\n"
    old = run.use_artifact("model:v0")
    assert old.metadata == {"acc": 0.9} and old.aliases == []
    assert open(old.download(work + "/old") + "/sub/0.txt").read() == "row 0\n" * 50
    prod = wandb.Api().artifact("model-registry/best:production")
    assert prod.source_version == "v1" and prod.version == "v0"
    prod.verify(prod.download(work + "/prod"))
    used = [a.name for a in wandb.Api().run(f"team/{run.id}").used_artifacts()]
    assert sorted(used) == ["model:v0", "model:v1"], used
    art.aliases.append("reviewed")
    art.save()
print("B done")
"""


def _machine(tmp_path, name: str, remote) -> dict:
    home = tmp_path / name
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARTEFACT_STORE")}
    env.update(ARTEFACT_CACHE_DIR=str(home / "cache"), ARTEFACT_DATA_DIR=str(home / "data"),
               ARTEFACT_ARTIFACT_DIR=str(home / "artifacts"), ARTEFACT_STORE=str(home / "no-store"))
    return env


def _run(code: str, env: dict, work) -> str:
    done = subprocess.run([sys.executable, "-c", code, str(work)], env=env, capture_output=True, text=True,
                          timeout=300, cwd=str(work))
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_one_machine_logs_another_uses(remote, tmp_path):
    a, b = _machine(tmp_path, "a", remote), _machine(tmp_path, "b", remote)
    assert "A done v1" in _run(MACHINE_A, a, tmp_path / "a")
    assert "B done" in _run(MACHINE_B, b, tmp_path / "b")
    assert not os.path.exists(tmp_path / "a" / "no-store") and not os.path.exists(tmp_path / "b" / "no-store")
    check = _run("import artefact as wandb; print(sorted(wandb.Api().artifact('team/model:v1').aliases))", a, tmp_path / "a")
    assert check.strip() == "['candidate', 'latest', 'reviewed']"

"""How a log makes its files durable (`ARTEFACT_SYNC`, issue 17): every mode logs the same
version, leaves nothing staged and a store that verifies clean; a bad value is refused
naming it. `written` writes out and fsyncs only this log's files, so another process's
dirty data is not waited for (benches/_logpath.py's dirty-data rows measure it against
`filesystem`, auto's choice above 64 files; a test cannot time it).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def _tree(root, n):
    os.makedirs(root, exist_ok=True)
    for i in range(n):
        sub = os.path.join(root, f"d{i % 7}")
        os.makedirs(sub, exist_ok=True)
        with open(os.path.join(sub, f"f{i}.bin"), "wb") as f:
            f.write(os.urandom(100 + i))
    return str(root)


def _cli(*args, env):
    return subprocess.run([sys.executable, "-m", "artefact", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=300)


@pytest.mark.parametrize("mode", ["auto", "files", "filesystem", "written"])
@pytest.mark.parametrize("policy", ["mutable", "immutable"])
def test_every_sync_mode_logs_a_verifiable_version(tmp_path, mode, policy):
    tree = _tree(tmp_path / "tree", 150)  # above the 64 files `auto` fsyncs one by one
    env = {"ARTEFACT_SYNC": mode}
    r = _cli("put", tree, "--name", "ds", "--type", "dataset", "--policy", policy, env=env)
    assert r.returncode == 0, r.stderr
    assert "ds:v0" in r.stdout and "150 files" in r.stdout
    staging = os.path.join(os.environ["ARTEFACT_DATA_DIR"], "artifacts", "staging")
    assert not os.path.isdir(staging) or os.listdir(staging) == []
    v = _cli("verify", "--store", env=env)
    assert v.returncode == 0, v.stdout + v.stderr
    out = tmp_path / "out"
    g = _cli("get", "ds:v0", "--root", str(out), env=env)
    assert g.returncode == 0, g.stderr
    for d, _dirs, files in os.walk(tree):
        for name in files:
            with open(os.path.join(d, name), "rb") as a, open(out / os.path.relpath(d, tree) / name, "rb") as b:
                assert a.read() == b.read()


def test_a_bad_sync_mode_is_refused_by_name(tmp_path):
    tree = _tree(tmp_path / "tree", 3)
    r = _cli("put", tree, "--name", "ds", "--type", "dataset", env={"ARTEFACT_SYNC": "sometimes"})
    assert r.returncode != 0
    assert "ARTEFACT_SYNC='sometimes'" in r.stderr

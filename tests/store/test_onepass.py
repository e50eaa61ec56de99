"""The immutable policy's one pass over large files (issue 17): a file at or above
ARTEFACT_ONE_PASS_MIN is copied toward the store while it is hashed, and the log
renames that copy in. wandb's semantics stay: the entry's `local_path` is the user's
file and the digest is wandb's (checked against wandb 0.31.0 itself). A copy nobody
logs is removed by a failed log, or by `gc` once its process is dead.
"""

from __future__ import annotations

import base64
import hashlib
import os
import signal
import subprocess
import sys
import textwrap

import pytest

import artefact
from artefact import _core
from artefact.store import LocalStore
from artefact.store.catalog import Catalog
from artefact.store.migrations import STORE_MIGRATIONS


def _staging() -> str:
    return os.path.join(os.environ["ARTEFACT_DATA_DIR"], "artifacts", "staging")


def _staged() -> list[str]:
    d = _staging()
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def _big(path, size=9 << 20, seed=b"x") -> str:
    with open(path, "wb") as f:
        f.write((hashlib.sha256(seed).digest() * (size // 32 + 1))[:size - 16] + os.urandom(16))
    return str(path)


def _md5_b64(path) -> str:
    with open(path, "rb") as f:
        return base64.b64encode(hashlib.md5(f.read()).digest()).decode()


def test_large_immutable_file_is_written_once_and_keeps_wandb_semantics(tmp_path):
    src = _big(tmp_path / "model.bin")
    art = artefact.Artifact("m", "model")
    entry = art.add_file(src, policy="immutable")
    assert entry.local_path == src, "the entry points at the user's file, as in wandb"
    assert entry.digest == _md5_b64(src)
    (copy,) = _staged()
    assert copy.startswith("tmp") and len(copy) == 11, "named and owner-tagged as a staged copy"
    ino = os.stat(os.path.join(_staging(), copy)).st_ino
    with artefact.init(project="p") as run:
        run.log_artifact(art).wait()
    store = LocalStore.open(os.environ["ARTEFACT_STORE"])
    blob = store.blob_path(entry.digest)
    assert os.stat(blob).st_ino == ino, "the copy made while hashing became the object"
    with open(blob, "rb") as a, open(src, "rb") as b:
        assert a.read() == b.read()
    assert _staged() == [] and _core.precopies_pending() == 0
    store.close()


def test_immutable_add_dir_writes_large_files_once_with_wandbs_entries(tmp_path):
    """An immutable add_dir takes the same one pass as add_file: the large file is copied
    while hashed and that copy becomes the object; the small one is only hashed. The
    entries (path, digest, size, local_path) and the artifact digest are wandb 0.31.0's
    (wandb/sdk/artifacts/artifact.py add_dir)."""
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    big = _big(tree / "sub" / "weights.bin")
    _big(tree / "notes.txt", size=1000)
    art = artefact.Artifact("d", "dataset")
    art.add_dir(str(tree), policy="immutable")
    assert art.manifest.entries["sub/weights.bin"].local_path == big
    (copy,) = _staged()
    ino = os.stat(os.path.join(_staging(), copy)).st_ino
    wandb = pytest.importorskip("wandb")
    theirs = wandb.Artifact("d", "dataset")
    theirs.add_dir(str(tree), policy="immutable")
    ours_e = sorted((e.path, e.digest, e.size, e.local_path) for e in art.manifest.entries.values())
    theirs_e = sorted((e.path, e.digest, e.size, e.local_path) for e in theirs.manifest.entries.values())
    assert ours_e == theirs_e and art.digest == theirs.digest
    with artefact.init(project="p") as run:
        run.log_artifact(art).wait()
    store = LocalStore.open(os.environ["ARTEFACT_STORE"])
    assert os.stat(store.blob_path(_md5_b64(big))).st_ino == ino, "the copy made while hashing became the object"
    assert _staged() == [] and _core.precopies_pending() == 0
    store.close()


def test_digests_match_wandb_file_for_file(tmp_path):
    """wandb 0.31.0's own immutable add_file (wandb/sdk/artifacts/artifact.py) gives the
    same entry: path, digest, size, local_path."""
    wandb = pytest.importorskip("wandb")
    big, small = _big(tmp_path / "big.bin"), _big(tmp_path / "small.bin", size=1000)
    ours, theirs = artefact.Artifact("m", "model"), wandb.Artifact("m", "model")
    for p in (big, small):
        ours.add_file(p, policy="immutable")
        theirs.add_file(p, policy="immutable")
    for a, b in zip(sorted(ours.manifest.entries.values(), key=lambda e: e.path),
                    sorted(theirs.manifest.entries.values(), key=lambda e: e.path)):
        assert (a.path, a.digest, a.size, a.local_path) == (b.path, b.digest, b.size, b.local_path)
    assert ours.digest == theirs.digest
    assert len(_staged()) == 1, "only the large file was copied"
    assert _core.discard_precopies([big]) == 1


def test_small_files_and_off_are_only_hashed(tmp_path, monkeypatch):
    src = _big(tmp_path / "model.bin")
    monkeypatch.setenv("ARTEFACT_ONE_PASS_MIN", "off")
    artefact.Artifact("m", "model").add_file(src, policy="immutable")
    monkeypatch.setenv("ARTEFACT_ONE_PASS_MIN", "100MiB")
    artefact.Artifact("m", "model").add_file(src, policy="immutable")
    assert _staged() == []


def test_bad_threshold_is_refused_naming_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("ARTEFACT_ONE_PASS_MIN", "lots")
    r = subprocess.run([sys.executable, "-m", "artefact", "put", _big(tmp_path / "f", size=10),
                        "--name", "m", "--type", "model"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "ARTEFACT_ONE_PASS_MIN='lots'" in r.stderr, r.stderr


def test_failed_log_removes_the_copy_and_a_retry_logs_from_the_file(tmp_path):
    root = os.environ["ARTEFACT_STORE"]
    LocalStore.open(root).close()
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sqlite3, time
        c = sqlite3.connect({os.path.join(root, 'catalog.db')!r}, isolation_level=None)
        c.execute("BEGIN EXCLUSIVE")
        print("locked", flush=True)
        time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    src = _big(tmp_path / "model.bin")
    art = artefact.Artifact("m", "model")
    art.add_file(src, policy="immutable")
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert len(_staged()) == 1
        store = LocalStore(root)
        store.catalog.close()
        store.catalog = Catalog(os.path.join(root, "catalog.db"), timeout=0.5, steps=STORE_MIGRATIONS)
        from artefact.store.errors import CatalogLockedError

        with pytest.raises(CatalogLockedError):
            store.log_version("ent", "proj", "m", "model", art.manifest._core)
        assert _staged() == [] and _core.precopies_pending() == 0
    finally:
        holder.kill()
        holder.wait()
    record = store.log_version("ent", "proj", "m", "model", art.manifest._core)
    assert record.version == "v0"
    blob = store.blob_path(art.manifest._core.entries()[0][1])
    with open(blob, "rb") as a, open(src, "rb") as b:
        assert a.read() == b.read()
    store.close()


def test_gc_removes_the_copy_of_a_killed_process(tmp_path):
    src = _big(tmp_path / "model.bin")
    child = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import os, signal, artefact
        artefact.Artifact("m", "model").add_file({src!r}, policy="immutable")
        os.kill(os.getpid(), signal.SIGKILL)
    """)], timeout=120)
    assert child.returncode == -signal.SIGKILL
    assert len(_staged()) == 1
    store = LocalStore.open(os.environ["ARTEFACT_STORE"])
    assert store.gc(grace_seconds=0).staging_deleted == 1
    assert _staged() == []
    store.close()


def test_cli_put_of_a_large_file_both_policies_verifies(tmp_path):
    src = _big(tmp_path / "model.bin")
    for policy in ("immutable", "mutable"):
        r = subprocess.run([sys.executable, "-m", "artefact", "-q", "put", src, "--name", f"m-{policy}",
                            "--type", "model", "--policy", policy], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert f"digest" in r.stdout
    assert _staged() == []
    r = subprocess.run([sys.executable, "-m", "artefact", "verify", "--store"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr

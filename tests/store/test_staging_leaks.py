"""Staging leaks (issue 11, item 9) and the log path's one copy on disk (issue 17).

Staged copies of the mutable policy must not outlive a failed log: a bad alias or tag
is refused before anything is staged, a failure before the commit deletes them, and
`gc` removes those of a process that was killed (SIGKILL runs no cleanup). A logged
file is stored once: its staged copy becomes the store's object, the cache gets no
second copy, and downloads copy from the store's objects.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import artefact
from artefact import _core
from artefact.store import LocalStore
from artefact.store.catalog import Catalog
from artefact.store.migrations import STORE_MIGRATIONS


def _tree(root, n=5, size=3000):
    os.makedirs(root, exist_ok=True)
    for i in range(n):
        with open(os.path.join(root, f"f{i}.bin"), "wb") as f:
            f.write(bytes([i]) * size + os.urandom(16))
    return str(root)


def _staging() -> str:
    return os.path.join(os.environ["ARTEFACT_DATA_DIR"], "artifacts", "staging")


def _staged() -> list[str]:
    d = _staging()
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "artefact", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


@pytest.mark.parametrize("flag,value", [("--alias", "bad/alias"), ("--tag", "bad!tag")])
def test_cli_put_refuses_bad_alias_or_tag_before_staging(tmp_path, flag, value):
    tree = _tree(tmp_path / "tree")
    r = _cli("put", tree, "--name", "ds", "--type", "dataset", flag, value)
    assert r.returncode == 1, r.stderr
    assert "artefact: error:" in r.stderr
    assert _staged() == []


def test_failed_commit_lock_timeout_leaves_no_staged_copies(tmp_path):
    """Another process holds the catalog's write lock; the log gives up after its
    (short) lock timeout and its staged copies are gone."""
    root = os.environ["ARTEFACT_STORE"]
    LocalStore.open(root).close()  # the catalog exists
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sqlite3, sys, time
            c = sqlite3.connect({os.path.join(root, 'catalog.db')!r}, isolation_level=None)
            c.execute("BEGIN EXCLUSIVE")
            print("locked", flush=True)
            time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        art = artefact.Artifact("ds", "dataset")
        art.add_dir(_tree(tmp_path / "tree"))
        assert len(_staged()) == 5
        store = LocalStore(root)
        store.catalog.close()
        store.catalog = Catalog(os.path.join(root, "catalog.db"), timeout=0.5, steps=STORE_MIGRATIONS)
        from artefact.store.errors import CatalogLockedError

        with pytest.raises(CatalogLockedError, match="catalog lock"):
            store.log_version("ent", "proj", "ds", "dataset", art.manifest._core)
        assert _staged() == []
    finally:
        holder.kill()
        holder.wait()


def _mount_tmpfs(path, size):
    os.makedirs(path, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                       capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {r.stderr.decode().strip()}")


def test_disk_full_put_leaves_no_staged_copies(tmp_path):
    """A real 1 MiB filesystem holds the store and the staging dir; the put of a 2 MB
    tree fails with ENOSPC, naming it, and leaves nothing staged."""
    mnt = tmp_path / "small"
    _mount_tmpfs(mnt, "1m")
    try:
        env = {"ARTEFACT_STORE": str(mnt / "store"), "ARTEFACT_DATA_DIR": str(mnt / "data")}
        tree = _tree(tmp_path / "tree", n=20, size=100_000)
        r = _cli("put", tree, "--name", "ds", "--type", "dataset", env=env)
        assert r.returncode == 1
        assert "No space left" in r.stderr, r.stderr
        staging = mnt / "data" / "artifacts" / "staging"
        assert not staging.exists() or os.listdir(staging) == []
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_gc_removes_staged_copies_of_a_killed_process_only(tmp_path):
    live = artefact.Artifact("mine", "dataset")
    live.add_dir(_tree(tmp_path / "live", n=3))  # this process's draft: must survive gc
    mine = _staged()
    assert len(mine) == 3
    child = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import os, signal, artefact
        art = artefact.Artifact("ds", "dataset")
        art.add_dir({_tree(tmp_path / 'tree', n=7)!r})
        os.kill(os.getpid(), signal.SIGKILL)
    """)], timeout=120)
    assert child.returncode == -signal.SIGKILL
    assert len(_staged()) == 10
    store = LocalStore.open(os.environ["ARTEFACT_STORE"])
    report = store.gc(grace_seconds=0)
    assert report.staging_deleted == 7
    assert _staged() == mine
    store.close()
    # And the survivor still logs.
    with artefact.init(project="p") as run:
        run.log_artifact(live).wait()
    assert _staged() == []


def test_logged_bytes_are_stored_once(tmp_path):
    """The staged copy becomes the store object (same inode: no second write); no
    cache copy is made; a download copies from the store, a linked one from the cache."""
    tree = _tree(tmp_path / "tree")
    art = artefact.Artifact("ds", "dataset")
    art.add_dir(tree)
    staged = {e[0]: os.stat(e[6]).st_ino for e in art.manifest._core.entries()}
    with artefact.init(project="p") as run:
        run.log_artifact(art).wait()
    store = LocalStore.open(os.environ["ARTEFACT_STORE"])
    for entry in art.manifest._core.entries():
        blob = store.entry_blob_path(entry)
        assert os.stat(blob).st_ino == staged[entry[0]]
        assert os.stat(blob).st_mode & 0o777 == 0o666 & ~_umask()
    assert _staged() == []
    cache_obj = os.path.join(os.environ["ARTEFACT_CACHE_DIR"], "obj")
    assert not os.path.exists(cache_obj)
    got = artefact.Api().artifact("p/ds:latest").download(root=str(tmp_path / "out"))
    assert not os.path.exists(cache_obj), "a copy from the store fills no cache"
    for name in os.listdir(tree):
        with open(os.path.join(tree, name), "rb") as a, open(os.path.join(got, name), "rb") as b:
            assert a.read() == b.read()
    os.environ["ARTEFACT_CACHE_LINK"] = "hardlink"
    try:
        root = artefact.Api().artifact("p/ds:latest").download(root=str(tmp_path / "hl"))
    finally:
        del os.environ["ARTEFACT_CACHE_LINK"]
    for entry in art.manifest._core.entries():
        assert os.stat(os.path.join(root, entry[0])).st_ino != os.stat(store.entry_blob_path(entry)).st_ino
    # Cache cleanup empties the cache and never touches a store blob.
    from artefact.cache import ArtifactCache
    from artefact.store import verify_store

    assert ArtifactCache().cleanup(0) > 0
    assert verify_store(store, rehash=True) == []
    store.close()


def test_relog_of_unchanged_tree_dedupes_and_cleans_staging(tmp_path):
    tree = _tree(tmp_path / "tree")
    for _ in range(2):
        art = artefact.Artifact("ds", "dataset")
        art.add_dir(tree)
        with artefact.init(project="p") as run:
            run.log_artifact(art).wait()
        assert _staged() == []
    assert art.version == "v0"


def _umask() -> int:
    old = os.umask(0)
    os.umask(old)
    return old


def test_a_logs_cleaning_leaves_the_removal_threads_copies_to_it(tmp_path):
    """A log hands its packed copies to a removal thread, then cleans the manifest's
    staged copies: the cleaning removes only the others (it used to list the thread's
    too and race it with a second unlink of each: 10k failed unlinks on a 10k log, seen
    with strace), and once the thread is joined every copy is gone."""
    from artefact.staging import clean_staged_copies, remove_staged, settle_removals, staged_paths

    data = tmp_path / "d"
    data.mkdir()
    for i in range(250):
        (data / f"f{i}.bin").write_bytes(os.urandom(64))
    art = artefact.Artifact("many", type="dataset")
    art.add_dir(str(data), policy="mutable")
    core = art.manifest._core
    staged = staged_paths(core)
    assert len(staged) == 250 and all(os.path.exists(p) for p in staged)
    remove_staged(staged[:200])
    assert clean_staged_copies(core) == 50
    settle_removals()
    assert [p for p in staged if os.path.exists(p)] == []

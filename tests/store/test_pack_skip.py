"""A mutable add does not stage files whose content the store holds in a pack
(staging.skipping_packed, rust/core/src/stage.rs `set_known_packed`), as it already
did not for loose objects: the stat cache knows the file, the catalog says the digest
is packed. The entry keeps the original's path; should the pack's row be gone by the
log (a gc), the log stores the content again from the original, verified.

Real files, real processes: `artefact put` as a command, the SDK in process.
"""

from __future__ import annotations

import filecmp
import os
import subprocess
import sys
import time

import pytest

import artefact as wandb
from artefact import config
from artefact.staging import get_staging_dir
from artefact.store import LocalStore, pack_rows, verify_store

from .conftest import write_tree

N = 120  # small files: more than pack_log.FEW, so a log packs them


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    monkeypatch.setenv("ARTEFACT_PACK_BLOB_BYTES", "64KiB")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("ARTEFACT_STATCACHE", raising=False)


def _tree(root) -> str:
    path = write_tree(root, {f"d{i % 3}/f{i:03d}.txt": f"skip {i}\n" * (i + 1) for i in range(N)})
    time.sleep(0.1)  # past the stat cache's racy margin (mtime and ctime)
    return path


def _put(data: str, name: str) -> None:
    done = subprocess.run([sys.executable, "-m", "artefact", "put", data, "--name", name, "--type", "dataset"],
                          capture_output=True, text=True, timeout=300, env=dict(os.environ))
    assert done.returncode == 0, done.stderr


def _staged() -> list[str]:
    staging = get_staging_dir()
    return sorted(f for f in os.listdir(staging) if os.path.isfile(os.path.join(staging, f)))


def _packs() -> list[str]:
    return sorted(e.name for e in pack_rows.pack_files(os.path.join(os.environ["ARTEFACT_STORE"], "objects")))


def _rows() -> int:
    with LocalStore.open(os.environ["ARTEFACT_STORE"]) as store, store.catalog.transaction(write=False) as conn:
        return len(pack_rows.all_rows(conn))


def _loose() -> list[str]:
    out = []
    for d, _s, files in os.walk(os.path.join(os.environ["ARTEFACT_STORE"], "objects", "obj")):
        out += [os.path.join(d, f) for f in files]
    return out


def _add(data: str, name: str) -> wandb.Artifact:
    art = wandb.Artifact(name, "dataset")
    art.add_dir(data)  # mutable: the default policy
    return art


def _log(art: wandb.Artifact) -> None:
    with wandb.init(project=config.default_project()) as run:
        run.log_artifact(art).wait()


def _same_tree(data: str, name: str, out) -> None:
    got = wandb.Api().artifact(f"{name}:latest").download(str(out))
    for d in ("d0", "d1", "d2"):
        cmp = filecmp.dircmp(os.path.join(data, d), os.path.join(got, d))
        assert not cmp.diff_files and not cmp.left_only and not cmp.right_only
        _, mismatch, errors = filecmp.cmpfiles(os.path.join(data, d), os.path.join(got, d), cmp.common_files,
                                               shallow=False)
        assert mismatch == [] and errors == []


def _gc_away(name: str) -> None:
    """Delete `name:v0` and collect with no grace: its pack and rows go."""
    with LocalStore.open(os.environ["ARTEFACT_STORE"]) as store:
        v = store.get_version(config.default_entity(), config.default_project(), f"{name}:v0")
        store.delete_version(v, delete_aliases=True)
        assert store.gc(grace_seconds=0).packs_deleted == 1
    assert _packs() == [] and _rows() == 0


def test_an_unchanged_packed_tree_is_not_staged_and_the_log_dedupes(tmp_path):
    data = _tree(tmp_path / "data")
    _put(data, "src")
    packs, rows, loose = _packs(), _rows(), _loose()
    assert len(packs) == 1 and rows == N and loose == []
    art = _add(data, "again")
    assert _staged() == [], "nothing staged: the store holds every file in its pack"
    for path, entry in art.manifest.entries.items():
        assert entry.local_path == os.path.join(data, path), "the entry keeps the original's path"
    _log(art)
    assert (_packs(), _rows(), _loose()) == (packs, rows, loose), "the log packed and copied nothing"
    _same_tree(data, "again", tmp_path / "out")


def test_a_changed_file_is_staged_the_others_are_not(tmp_path):
    data = _tree(tmp_path / "data")
    _put(data, "src")
    packs = _packs()
    changed = os.path.join(data, "d1", "f004.txt")
    with open(changed, "w") as f:
        f.write("changed since the put\n")
    time.sleep(0.1)
    art = _add(data, "again")
    assert len(_staged()) == 1
    staged_entries = [p for p, e in art.manifest.entries.items() if e.local_path != os.path.join(data, p)]
    assert staged_entries == ["d1/f004.txt"]
    _log(art)
    assert _packs() == packs, "one new blob: stored loose, no new pack"
    assert len(_loose()) == 1
    _same_tree(data, "again", tmp_path / "out")


def test_with_the_stat_cache_off_everything_is_staged(tmp_path, monkeypatch):
    data = _tree(tmp_path / "data")
    _put(data, "src")
    packs, rows = _packs(), _rows()
    monkeypatch.setenv("ARTEFACT_STATCACHE", "off")
    art = _add(data, "again")
    assert len(_staged()) == N
    assert all(e.local_path.startswith(get_staging_dir()) for e in art.manifest.entries.values())
    _log(art)
    assert (_packs(), _rows(), _loose()) == (packs, rows, []), "the log dedupes the staged copies"
    _same_tree(data, "again", tmp_path / "out")


def test_a_pack_gone_before_the_log_is_stored_again_from_the_originals(tmp_path):
    data = _tree(tmp_path / "data")
    _put(data, "src")
    art = _add(data, "again")
    assert _staged() == []
    _gc_away("src")
    _log(art)
    assert len(_packs()) == 1 and _rows() == N, "packed again, from the original files"
    with LocalStore.open(os.environ["ARTEFACT_STORE"]) as store:
        assert verify_store(store, rehash=True) == []
    _same_tree(data, "again", tmp_path / "out")


def test_an_original_changed_after_its_pack_went_fails_the_log_naming_it(tmp_path):
    data = _tree(tmp_path / "data")
    _put(data, "src")
    art = _add(data, "again")
    _gc_away("src")
    victim = os.path.join(data, "d2", "f005.txt")
    size = os.path.getsize(victim)
    with open(victim, "wb") as f:
        f.write(b"X" * size)  # same size, other bytes
    with pytest.raises(Exception, match="d2/f005.txt"):
        _log(art)
    assert (_packs(), _rows(), _loose()) == ([], 0, []), "nothing placed"
    with LocalStore.open(os.environ["ARTEFACT_STORE"]) as store:
        with pytest.raises(Exception):
            store.get_version(config.default_entity(), config.default_project(), "again:v0")


@pytest.mark.parametrize("change", [False, True])
def test_rows_gone_between_the_plan_and_the_commit_are_stored_from_the_originals(tmp_path, change):
    """The log planned to dedupe against pack rows (store_packed) and a gc removed them
    before the commit: rows_at_commit stores the unstaged entries again, loose, from
    the originals, verified; one changed meanwhile fails naming it, nothing placed."""
    from artefact.store.local import _split_entries
    from artefact.store.pack_log import rows_at_commit, store_packed

    data = _tree(tmp_path / "data")
    _put(data, "src")
    art = _add(data, "again")
    assert _staged() == []
    root = os.environ["ARTEFACT_STORE"]
    with LocalStore.open(root) as store:
        files, _c, _t, sizes = _split_entries(art.manifest._core, with_sizes=True)
        plan = store_packed(store, files, sizes)
        assert len(plan.deduped) == N and plan.rows == [] and plan.loose == []
    _gc_away("src")
    if change:
        with open(os.path.join(data, "d0", "f003.txt"), "w") as f:
            f.write("edited after the add\n")
    with LocalStore.open(root) as store, store.catalog.transaction() as conn:
        if change:
            with pytest.raises(ValueError, match="d0/f003.txt"):
                rows_at_commit(store, plan, conn)
            assert _loose() == [], "nothing placed"
        else:
            assert rows_at_commit(store, plan, conn) == []
            assert len(_loose()) == N
    if not change:
        with LocalStore.open(root) as store:
            assert verify_store(store, rehash=True) == []

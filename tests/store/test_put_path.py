"""The put path's per-file work (issue 17): one batch of blobs per log, the commit's last
check of its objects in one native call, and downloads that give each file its object's
mode without an fchmod per file where the umask already does."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap

import pytest

from artefact import _core

from .conftest import manifest_of

FILES = {f"d{i % 3}/f{i}.bin": os.urandom(100 + i) for i in range(12)}


def _objects(store, m) -> list[str]:
    return [store.blobs.object_path(e[1], "MD5") for e in m.entries() if e[1]]


def test_objects_missing_names_only_what_the_store_lacks(store, tmp_path):
    m = manifest_of(tmp_path / "src", FILES)
    store.log_version("ent", "proj", "ds", "dataset", m)
    items = [(e[1], "MD5") for e in m.entries()]
    assert _core.objects_missing(store.blobs.objects_root, items) == []
    objs = _objects(store, m)
    os.remove(objs[3])
    os.remove(objs[7])
    os.symlink(str(tmp_path / "src" / "d0" / "f0.bin"), objs[7])  # never trusted as stored
    assert _core.objects_missing(store.blobs.objects_root, items) == [3, 7]
    with pytest.raises(ValueError, match="no-such-alg"):
        _core.objects_missing(store.blobs.objects_root, [(items[0][0], "no-such-alg")])


def test_an_object_collected_before_the_commit_is_stored_again(store, tmp_path, monkeypatch):
    """A gc without grace may delete a fresh object between the blob writes and the
    commit; the commit's check (under the catalog's write lock) finds it missing and
    stores it again from the file."""
    m = manifest_of(tmp_path / "src", FILES)
    real = store.blobs.put_files
    calls: list[int] = []

    def put_then_collect(items, progress=None):
        n = real(items, progress)
        if not calls:  # the log's own batch: then one object goes, as a gc would take it
            os.remove(store.blobs.object_path(items[5][1], "MD5"))
        calls.append(len(items))
        return n

    monkeypatch.setattr(store.blobs, "put_files", put_then_collect)
    record = store.log_version("ent", "proj", "ds", "dataset", m)
    assert calls == [len(FILES), 1], "one batch for the log, one for the object found missing"
    for e in store.load_manifest(record).entries():
        store.blobs.verify_object(e[1], "MD5")  # raises on a missing or corrupt object


def test_a_log_stores_its_blobs_in_one_batch(store, tmp_path, monkeypatch):
    """Each batch pays the flush (two syncfs, or a round of fsyncs): a log makes one."""
    from artefact.store import blobs

    m = manifest_of(tmp_path / "src", FILES)
    real = blobs._core.store_files
    batches: list[int] = []

    def counted(root, items, sync="auto", progress=None):
        batches.append(len(items))
        return real(root, items, sync, progress)

    monkeypatch.setattr(blobs._core, "store_files", counted)
    store.log_version("ent", "proj", "ds", "dataset", m)
    assert batches == [len(FILES)]


def _get_under_umask(tmp_path, umask: int, out: str) -> None:
    code = textwrap.dedent(f"""
        import os, sys
        os.umask({umask:#o})
        from artefact.store import LocalStore
        from artefact.download import download_entries
        s = LocalStore.open(sys.argv[1])
        rec = s.get_version("ent", "proj", "ds:latest")
        download_entries(s.load_manifest(rec), sys.argv[2], s, None)
    """)
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "store"), out], check=True)


def test_downloaded_files_have_their_objects_mode_under_any_umask(store, tmp_path):
    m = manifest_of(tmp_path / "src", FILES)
    store.log_version("ent", "proj", "ds", "dataset", m)
    for umask in (0o022, 0o077, 0o002):
        out = str(tmp_path / f"out-{umask:o}")
        _get_under_umask(tmp_path, umask, out)
        for e in m.entries():
            dest = os.path.join(out, e[0])
            obj = store.blobs.object_path(e[1], "MD5")
            assert stat.S_IMODE(os.stat(dest).st_mode) == stat.S_IMODE(os.stat(obj).st_mode), (umask, e[0])
        leftovers = [n for _, _, fs in os.walk(out) for n in fs if n.startswith(".artefact-")]
        assert leftovers == []


_IMMUTABLE_LOG = textwrap.dedent("""
    import os, sys, time
    import artefact as wandb
    src, edit = sys.argv[1], sys.argv[2]
    time.sleep(0.2)  # the files are then safely older than their hash (not racy)
    run = wandb.init(project="p")
    art = wandb.Artifact("ds", type="dataset")
    art.add_dir(src, policy="immutable")
    if edit:
        with open(os.path.join(src, edit), "r+b") as f:
            f.write(b"X")  # same size, other bytes, after the add hashed it
    try:
        run.log_artifact(art).wait()
    except ValueError as e:
        print("refused:", e)
    run.finish()
""")


@pytest.mark.parametrize("statcache", ["off", "on"])
def test_an_immutable_file_is_hashed_once_and_an_edit_after_the_add_still_refused(tmp_path, statcache):
    """The add's digest of a small immutable file is remembered (the stat cache, or this
    process's own record where it is off), so the commit copies it without hashing it
    again; a file edited after the add has another stat key, is hashed, and is refused."""
    from artefact.store import LocalStore

    env = {**os.environ, "WANDB_MODE": "offline", "ARTEFACT_STATCACHE": statcache, "ARTEFACT_SYNC": "written"}
    for edit in ("", "d1/f4.bin"):
        src = tmp_path / f"src-{bool(edit)}"
        files = {rel: os.urandom(len(data)) for rel, data in FILES.items()}  # none stored yet
        for rel, data in files.items():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            (src / rel).write_bytes(data)
        out = subprocess.run([sys.executable, "-c", _IMMUTABLE_LOG, str(src), edit], env=env, cwd=tmp_path,
                             capture_output=True, text=True, check=True).stdout
        store = LocalStore.open(os.environ["ARTEFACT_STORE"])
        try:
            if edit:
                assert "refused:" in out and "d1/f4.bin" in out and "modified after it was added" in out, out
                continue
            assert "refused" not in out, out
            m = store.load_manifest(store.get_version("tester", "p", "ds:latest"))
            assert sorted(e[0] for e in m.entries()) == sorted(files)
            for e in m.entries():
                with open(store.blobs.object_path(e[1], "MD5"), "rb") as f:
                    assert f.read() == files[e[0]], e[0]
        finally:
            store.close()

"""Small blobs of a large log go into one pack file (store/pack_log.py, rust/core/src/pack.rs).

Real files, real processes: `artefact put`/`get`/`verify`/`gc` as commands, the SDK in
process, kills at the pack's failpoints.
"""

from __future__ import annotations

import filecmp
import os
import signal
import subprocess
import sys
import time

import pytest

import artefact as wandb
from artefact import config
from artefact import _core
from artefact.store import LocalStore, verify_store
from artefact.store import pack_rows
from artefact.store.errors import CorruptBlobError
from artefact.store.failpoints import PACK_POINTS
from artefact.store.gc import TEMP_MIN_AGE, unreferenced
from artefact.store.verify import check_store, format_check

from .conftest import worker_cmd, write_tree

SMALL = 120  # more than pack_log.FEW


def _tree(root, n=SMALL, big=True, tag="") -> str:
    files: dict[str, bytes | str] = {f"d{i % 3}/f{i:03d}.txt": f"{tag}small {i}\n" * (i + 1) for i in range(n)}
    if big:
        files["big.bin"] = bytes(range(256)) * 1024  # 256 KiB, over the test's 64 KiB limit
    return write_tree(root, files)


@pytest.fixture(autouse=True)
def _small_limit(monkeypatch):
    monkeypatch.setenv("ARTEFACT_PACK_BLOB_BYTES", "64KiB")
    monkeypatch.setenv("WANDB_MODE", "offline")


def _cli(*args: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "artefact", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})
    if check:
        assert done.returncode == 0, done.stderr
    return done


def _rows(store: LocalStore) -> list:
    with store.catalog.transaction(write=False) as conn:
        return pack_rows.all_rows(conn)


def _packs(root: str) -> list[str]:
    return sorted(e.name for e in pack_rows.pack_files(os.path.join(root, "objects")))


def _loose(root: str) -> list[str]:
    out = []
    for d, _s, files in os.walk(os.path.join(root, "objects", "obj")):
        out += [os.path.join(d, f) for f in files]
    return out


@pytest.mark.parametrize("policy", ["mutable", "immutable"])
def test_a_put_of_many_small_files_packs_them_the_big_one_stays_loose(tmp_path, policy):
    data = _tree(tmp_path / "data")
    root = os.environ["ARTEFACT_STORE"]
    _cli("put", data, "--name", "ds", "--type", "dataset", "--policy", policy)
    assert len(_packs(root)) == 1
    assert len(_loose(root)) == 1, "the 256 KiB file is a loose object"
    with LocalStore.open(root) as store:
        rows = _rows(store)
        assert len(rows) == SMALL and {r[2] for r in rows} == set(_packs(root))
        assert sorted(r[3] for r in rows) == sorted({r[3] for r in rows}), "one offset each"
        assert check_store(store).problems == [] and verify_store(store, rehash=True) == []
    assert os.listdir(os.path.join(root, "objects", "tmp")) == []
    from artefact.staging import get_staging_dir

    staging = get_staging_dir()
    assert [f for f in os.listdir(staging) if os.path.isfile(os.path.join(staging, f))] == []
    out = tmp_path / "out"
    _cli("get", "ds:latest", "--root", str(out))
    assert not filecmp.dircmp(data, out).diff_files
    assert sorted(os.listdir(out)) == sorted(os.listdir(data))
    for d in ("d0", "d1", "d2"):
        cmp = filecmp.dircmp(os.path.join(data, d), os.path.join(out, d))
        assert not cmp.diff_files and not cmp.left_only and not cmp.right_only
    assert "OK" in _cli("verify", "--store").stdout


def test_a_hardlink_download_copies_packed_files_and_single_entries_read_back(tmp_path):
    data = _tree(tmp_path / "data")
    table = wandb.Table(columns=["id", "label"], data=[[1, "cat"], [2, "dog"]])
    with wandb.init(project="packs") as run:
        art = wandb.Artifact("mixed", "dataset")
        art.add_dir(data)
        art.add(table, "my_table")
        run.log_artifact(art).wait()
    root = os.environ["ARTEFACT_STORE"]
    with LocalStore.open(root) as store:
        assert len(_rows(store)) == SMALL + 1, "the table's JSON is packed too"
    got = wandb.Api().artifact("packs/mixed:latest")
    assert got.get("my_table").data == [[1, "cat"], [2, "dog"]]
    one = got.get_entry("d1/f004.txt").download(str(tmp_path / "one"))
    with open(one) as f, open(os.path.join(data, "d1/f004.txt")) as g:
        assert f.read() == g.read()
    linked = tmp_path / "linked"
    done = _cli("get", "packs/mixed:latest", "--root", str(linked), env={"ARTEFACT_CACHE_LINK": "hardlink"})
    assert "Linked 1 file from" in done.stderr and "keeps in packs" in done.stderr, done.stderr
    small = os.path.join(linked, "d0/f000.txt")
    assert os.stat(small).st_nlink == 1, "a packed file is a copy of its own"
    # Again with only the big file missing: one file placed, a link; nothing copied out of a pack.
    os.remove(os.path.join(linked, "big.bin"))
    done = _cli("get", "packs/mixed:latest", "--root", str(linked), env={"ARTEFACT_CACHE_LINK": "hardlink"})
    assert "Linked 1 file from" in done.stderr and "keeps in packs" not in done.stderr, done.stderr
    assert os.stat(os.path.join(linked, "big.bin")).st_nlink == 2
    with open(small, "a") as f:
        f.write("edited")
    with LocalStore.open(root) as store:
        assert verify_store(store, rehash=True) == [], "editing the copy leaves the pack alone"


def test_dedupe_across_puts_packs_nothing_twice(tmp_path):
    data = _tree(tmp_path / "data")
    root = os.environ["ARTEFACT_STORE"]
    _cli("put", data, "--name", "a", "--type", "dataset")
    first = _packs(root)
    _cli("put", data, "--name", "b", "--type", "dataset")
    assert _packs(root) == first, "the second put packed nothing"
    # A tree of the same files and 70 new ones: only the new ones are packed.
    _tree(tmp_path / "data", n=70, big=False, tag="new ")
    write_tree(tmp_path / "data", {f"extra/{i}.txt": f"extra {i}" for i in range(70)})
    _cli("put", data, "--name", "a", "--type", "dataset")
    with LocalStore.open(root) as store:
        rows = _rows(store)
        assert len(_packs(root)) == 2
        assert len(rows) == SMALL + 70 + 70
        assert verify_store(store, rehash=True) == []
    out = tmp_path / "out"
    _cli("get", "a:latest", "--root", str(out))
    assert not filecmp.dircmp(data, out).diff_files


def test_a_corrupt_pack_range_is_reported_and_never_placed(tmp_path):
    data = _tree(tmp_path / "data", big=False)
    root = os.environ["ARTEFACT_STORE"]
    _cli("put", data, "--name", "ds", "--type", "dataset")
    with LocalStore.open(root) as store:
        row = next(r for r in _rows(store) if r[4] > 8)
        pack = pack_rows.pack_path(store.objects_root, row[2])
        with open(pack, "r+b") as f:
            f.seek(row[3] + 3)
            f.write(b"\xff")
        problems = check_store(store).problems
        assert len(problems) == 1 and pack in problems[0] and "mismatch" in problems[0]
        assert len(verify_store(store, rehash=True)) == 1
    done = _cli("get", "ds:latest", "--root", str(tmp_path / "out"), check=False)
    assert done.returncode != 0 and pack in done.stderr
    placed = [f for _d, _s, fs in os.walk(tmp_path / "out") for f in fs]
    assert placed == [], "nothing is placed when a source is corrupt"
    with LocalStore.open(root) as store:
        entry = next(t for t in store.load_manifest(store.get_version(config.default_entity(), config.default_project(), "ds")).entries()
                     if t[1] == row[1])
        with pytest.raises(CorruptBlobError):
            from artefact.download import download_entries

            one = _core.Manifest()
            one.insert(entry[0], entry[1], None, None, entry[4], entry[5], None, False)
            download_entries(one, str(tmp_path / "single"), store, progress=False)


def test_gc_drops_dead_rows_deletes_whole_dead_packs_and_keeps_partly_dead_ones(tmp_path):
    root = os.environ["ARTEFACT_STORE"]
    a = _tree(tmp_path / "a", big=False, tag="a ")
    b = _tree(tmp_path / "b", big=False, tag="b ")
    _cli("put", a, "--name", "a", "--type", "dataset")
    _cli("put", b, "--name", "b", "--type", "dataset")
    assert len(_packs(root)) == 2
    with LocalStore.open(root) as store:
        store.delete_version(store.get_version(config.default_entity(), config.default_project(), "a:v0"), delete_aliases=True)
        report = store.gc(grace_seconds=0)
        assert report.packs_deleted == 1
        assert len(_rows(store)) == SMALL and len(_packs(root)) == 1
        assert unreferenced(store) == [] and verify_store(store, rehash=True) == []
    # b's pack, half of it kept alive by a version that uses half of its files.
    half = tmp_path / "half"
    for i in range(0, SMALL, 2):
        rel = f"d{i % 3}/f{i:03d}.txt"
        write_tree(half, {rel: open(os.path.join(b, rel)).read()})
    write_tree(half, {f"n/{i}.txt": f"n{i}" for i in range(70)})
    _cli("put", str(half), "--name", "h", "--type", "dataset")
    with LocalStore.open(root) as store:
        store.delete_version(store.get_version(config.default_entity(), config.default_project(), "b:v0"), delete_aliases=True)
        report = store.gc(grace_seconds=0)
        assert report.packs_deleted == 0, "a partly dead pack stays whole"
        assert len(_rows(store)) == SMALL // 2 + 70
        assert verify_store(store, rehash=True) == [] and check_store(store).problems == []
    out = tmp_path / "out"
    _cli("get", "h:latest", "--root", str(out))
    assert not filecmp.dircmp(half, out).diff_files


def test_a_pack_without_rows_waits_as_a_temp_file_then_goes(tmp_path):
    """A log in flight has its pack on disk before its rows: gc, even with no grace,
    leaves a pack that never had rows alone until it is TEMP_MIN_AGE old."""
    from artefact.store.local import _split_entries
    from artefact.store.pack_log import store_packed

    from .conftest import manifest_of

    root = os.environ["ARTEFACT_STORE"]
    with LocalStore.open(root) as store:
        files, _carried, _total, sizes = _split_entries(manifest_of(_tree(tmp_path / "d", big=False)), with_sizes=True)
        plan = store_packed(store, files, sizes)
        assert plan.rows and plan.loose == []
        (pack,) = _packs(root)
        _cli("gc", "--grace", "0")
        assert _packs(root) == [pack], "a live put's pack is not removed"
        old = time.time() - TEMP_MIN_AGE - 5
        os.utime(pack_rows.pack_path(store.objects_root, pack), (old, old))
        assert unreferenced(store) == [pack_rows.pack_path(store.objects_root, pack)]
        assert " 1 packs " in _cli("gc", "--grace", "0").stdout
        assert _packs(root) == [] and unreferenced(store) == []


def test_a_log_whose_pack_vanished_before_its_commit_stores_it_again(tmp_path):
    """Should a pack go before the commit (a gc run with its temp age passed), the
    commit, under the write lock, stores those blobs again (loose) before the rows."""
    from artefact.store.local import _split_entries
    from artefact.store.pack_log import rows_at_commit, store_packed

    from .conftest import manifest_of

    root = os.environ["ARTEFACT_STORE"]
    with LocalStore.open(root) as store:
        files, _c, _t, sizes = _split_entries(manifest_of(_tree(tmp_path / "d", big=False)), with_sizes=True)
        plan = store_packed(store, files, sizes)
        os.remove(pack_rows.pack_path(store.objects_root, plan.rows[0][2]))
        with store.catalog.transaction() as conn:
            assert rows_at_commit(store, plan, conn) == []
        assert len(_loose(root)) == SMALL


@pytest.mark.crash
@pytest.mark.parametrize("point", [*PACK_POINTS, "after_blobs", "before_commit"])
def test_a_packing_log_killed_before_its_commit_leaves_a_consistent_store(tmp_path, point):
    root = os.environ["ARTEFACT_STORE"]
    LocalStore.open(root).close()
    env = {**os.environ, "ARTEFACT_FAILPOINT": point}
    done = subprocess.run(worker_cmd("log", root, "ds", "crash", "--files", "100"), env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr
    with LocalStore.open(root) as store:
        with pytest.raises(LookupError):
            store.get_version("ent", "proj", "ds:latest")
        assert _rows(store) == []
        check = check_store(store)
        assert verify_store(store, rehash=True) == [] and check.problems == []
        # A pack renamed into packs/ but never committed is named, not a problem.
        assert check.unnamed_packs == sorted(pack_rows.pack_path(store.objects_root, n) for n in _packs(root))
        assert ("no version names" in format_check(check, root)) == bool(_packs(root))
        # It waits as a temp file would.
        for name in _packs(root):
            old = time.time() - TEMP_MIN_AGE - 5
            os.utime(pack_rows.pack_path(store.objects_root, name), (old, old))
        for d, _s, fs in os.walk(os.path.join(root, "objects", "tmp")):
            for f in fs:
                old = time.time() - TEMP_MIN_AGE - 5
                os.utime(os.path.join(d, f), (old, old))
        store.gc(grace_seconds=0)
        assert unreferenced(store) == [] and _packs(root) == []
        assert os.listdir(os.path.join(root, "objects", "tmp")) == []
    again = subprocess.run(worker_cmd("log", root, "ds", "crash", "--files", "100"),
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    with LocalStore.open(root) as store:
        assert store.get_version("ent", "proj", "ds").file_count == 100
        assert len(_rows(store)) == 100 and len(_packs(root)) == 1
        check = check_store(store)
        assert verify_store(store, rehash=True) == [] and check.problems == [] and check.unnamed_packs == []


@pytest.mark.crash
def test_a_packing_log_killed_after_its_commit_keeps_its_version(tmp_path):
    root = os.environ["ARTEFACT_STORE"]
    env = {**os.environ, "ARTEFACT_FAILPOINT": "after_commit"}
    done = subprocess.run(worker_cmd("log", root, "ds", "crash", "--files", "100"), env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == -signal.SIGKILL
    with LocalStore.open(root) as store:
        assert store.get_version("ent", "proj", "ds").file_count == 100
        assert len(_rows(store)) == 100
        store.gc(grace_seconds=0)
        assert unreferenced(store) == [] and len(_packs(root)) == 1
        assert verify_store(store, rehash=True) == [] and check_store(store).problems == []


@pytest.mark.slow
def test_gc_running_beside_packing_logs_never_breaks_a_version(tmp_path):
    root = os.environ["ARTEFACT_STORE"]
    LocalStore.open(root).close()
    logger = subprocess.Popen(worker_cmd("log", root, "ds", "live", "--files", "80", "--count", "8"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while logger.poll() is None:
        _cli("gc", "--grace", "0")
    assert logger.returncode == 0, logger.stderr.read()
    with LocalStore.open(root) as store:
        assert [v.version_index for v in store.list_versions("ent", "proj", "ds")] == list(range(7, -1, -1))
        assert verify_store(store, rehash=True) == [] and check_store(store).problems == []


def test_pack_knobs_are_checked_and_zero_disables_packs(tmp_path, monkeypatch):
    root = os.environ["ARTEFACT_STORE"]
    data = _tree(tmp_path / "data", big=False)
    done = _cli("put", data, "--name", "ds", "--type", "dataset", env={"ARTEFACT_PACK_BLOB_BYTES": "lots"}, check=False)
    assert done.returncode != 0 and "ARTEFACT_PACK_BLOB_BYTES" in done.stderr and "lots" in done.stderr
    # Refused when the store opens, before anything is read or written.
    with pytest.raises(ValueError, match="ARTEFACT_PACK_BYTES.*0"):
        monkeypatch.setenv("ARTEFACT_PACK_BYTES", "0")
        LocalStore(root)
    monkeypatch.delenv("ARTEFACT_PACK_BYTES")
    _cli("put", data, "--name", "ds", "--type", "dataset", env={"ARTEFACT_PACK_BLOB_BYTES": "0"})
    assert _packs(root) == [] and len(_loose(root)) == SMALL


def test_a_packed_log_has_wandbs_manifest_byte_for_byte(tmp_path):
    """wandb 0.31.0's own `Artifact.add_dir` (offline, no server needed) against ours
    logged through the pack path: same manifest JSON, same digest, same bytes back."""
    real = pytest.importorskip("wandb")
    import json

    data = _tree(tmp_path / "data")
    theirs = real.Artifact("packed", "dataset")
    theirs.add_dir(data)
    with wandb.init(project="compat") as run:
        ours = wandb.Artifact("packed", "dataset")
        ours.add_dir(data)
        run.log_artifact(ours).wait()
    with LocalStore.open(os.environ["ARTEFACT_STORE"]) as store:
        assert len(_rows(store)) == SMALL, "this log went through the pack path"
    logged = wandb.Api().artifact("compat/packed:latest")
    want = theirs.manifest.to_manifest_json()
    got = logged.manifest.to_manifest_json()
    # Entry order is the walk's in wandb's draft; the digest sorts them, and so do we.
    assert json.dumps(got, sort_keys=True) == json.dumps(want, sort_keys=True)
    assert logged.digest == theirs.digest
    out = logged.download(str(tmp_path / "out"))
    for rel in want["contents"]:
        with open(os.path.join(out, rel), "rb") as f, open(os.path.join(data, rel), "rb") as g:
            assert f.read() == g.read(), rel


def test_a_small_version_of_a_store_with_many_packed_blobs_downloads_by_lookup(tmp_path):
    """With far more rows in the store than entries in the version, a download looks up
    only its own entries' rows (pack_rows.download_rows), and gets the right bytes."""
    root = os.environ["ARTEFACT_STORE"]
    many = write_tree(tmp_path / "many", {f"m/{i}.txt": f"many {i}" for i in range(1300)})
    few = _tree(tmp_path / "few", n=70, big=False, tag="few ")
    _cli("put", many, "--name", "many", "--type", "dataset")
    _cli("put", few, "--name", "few", "--type", "dataset")
    with LocalStore.open(root) as store:
        assert len(_rows(store)) == 1370
        from artefact.download import packed_objects

        m = store.load_manifest(store.get_version(config.default_entity(), config.default_project(), "few"))
        assert len(packed_objects(m, store, None)) == 70
    out = tmp_path / "out"
    _cli("get", "few:latest", "--root", str(out))
    assert not filecmp.dircmp(few, out).diff_files and sorted(os.listdir(out)) == sorted(os.listdir(few))


def test_a_mutable_sdk_log_removes_its_staged_copies_after_the_commit(tmp_path):
    """The staged copies a pack took in are removed on a thread once the version is
    committed: gone after `settle_removals`, and gone when a logging process exits."""
    from artefact.staging import get_staging_dir, settle_removals

    data = _tree(tmp_path / "data")
    staging = get_staging_dir()
    with wandb.init(project="packs") as run:
        art = wandb.Artifact("staged", type="dataset")
        art.add_dir(data, policy="mutable")
        staged = [e.local_path for e in art.manifest.entries.values() if e.local_path.startswith(staging)]
        assert len(staged) == SMALL + 1
        run.log_artifact(art).wait()
    settle_removals()
    assert [p for p in staged if os.path.exists(p)] == [], "packed copies removed, the big one moved into the store"
    root = os.environ["ARTEFACT_STORE"]
    with LocalStore.open(root) as store:
        assert len(_rows(store)) == SMALL
    # A process that logs and exits at once: the interpreter joins the removal.
    code = ("import artefact as wandb, sys\n"
            "with wandb.init(project='packs') as run:\n"
            "    a = wandb.Artifact('exiting', type='dataset')\n"
            "    a.add_dir(sys.argv[1], policy='mutable')\n"
            "    run.log_artifact(a).wait()\n")
    other = _tree(tmp_path / "other", tag="other ")
    done = subprocess.run([sys.executable, "-c", code, other], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert [f for f in os.listdir(staging) if os.path.isfile(os.path.join(staging, f))] == []


def test_the_ui_reads_packed_blobs_verified_even_from_many_threads_at_once(tmp_path):
    """ui/preview.py: a packed file's preview reads its bytes through a verified copy,
    which concurrent requests for the same blob never see half-written, and which is
    written again if it no longer matches its digest."""
    from concurrent.futures import ThreadPoolExecutor

    from artefact.ui.preview import make_preview, object_path
    from artefact.ui.tree import FileEntry, FileIndex  # noqa: F401 - FileEntry: the read's type

    data = _tree(tmp_path / "data", big=False)
    _cli("put", data, "--name", "ui", "--type", "dataset")
    root = os.environ["ARTEFACT_STORE"]
    with LocalStore.open(root) as store:
        version = store.get_version(config.default_entity(), config.default_project(), "ui:latest")
        index = FileIndex(store.load_manifest(version).entries())
        entries = [index.get(p) for p in index.paths[:40]]
        assert all(not os.path.exists(store.blob_path(e.digest)) for e in entries), "they are packed"

        def read(e: FileEntry) -> bool:
            with open(object_path(store, e), "rb") as f:
                return _core.hash_bytes(f.read()) == e.digest

        with ThreadPoolExecutor(6) as pool:
            assert all(pool.map(read, entries * 6))
        first = entries[0]
        path = object_path(store, first)
        with open(path, "r+b") as f:
            f.write(b"X")
        assert read(first), "a copy that no longer matches is written again"
        assert make_preview(store, index, first).kind == "text"
        assert [f for f in os.listdir(os.path.dirname(path)) if f.endswith(".tmp")] == []


def test_the_servers_store_has_no_pack_tables_and_a_missing_blob_previews_as_missing(tmp_path):
    """The server's catalog has no store_pack_entries: a blob that is not a loose file is
    "missing" on its pages, never a query of a table it lacks."""
    from artefact.server.state import ServerStore
    from artefact.ui.preview import object_path
    from artefact.ui.tree import FileEntry

    store = ServerStore(str(tmp_path / "catalog.db"), str(tmp_path / "blobs"))
    try:
        entry = FileEntry("a.txt", _core.hash_bytes(b"absent"), 6, None, "MD5")
        path = object_path(store, entry)
        assert path == store.blob_path(entry.digest) and not os.path.exists(path)
    finally:
        store.catalog.close()


def test_a_log_that_fails_after_packing_deletes_its_pack(tmp_path):
    """A loose file changed since the add fails the log after the small files were
    packed: the error names it, and the pack, which no row can name, is deleted at once
    rather than left for gc."""
    data = _tree(tmp_path / "data")
    root = os.environ["ARTEFACT_STORE"]
    with wandb.init(project="packs") as run:
        art = wandb.Artifact("fails", type="dataset")
        art.add_dir(data, policy="immutable")
        with open(os.path.join(data, "big.bin"), "r+b") as f:
            f.write(b"changed")  # same size, other bytes
        with pytest.raises(Exception, match="big.bin"):
            run.log_artifact(art).wait()
    assert _packs(root) == [] and os.listdir(os.path.join(root, "objects", "tmp")) == []
    with LocalStore.open(root) as store:
        assert _rows(store) == []


def test_two_processes_packing_the_same_new_content_at_once_both_commit(tmp_path):
    """Two puts of one new tree at the same moment may both pack it: the first commit's
    rows win, the other pack is left without rows and goes as a temp file; both versions
    download whole and the store verifies, before and after that gc."""
    data = _tree(tmp_path / "data")
    root = os.environ["ARTEFACT_STORE"]
    argv = [sys.executable, "-m", "artefact", "put", data, "--type", "dataset", "--name"]
    procs = [subprocess.Popen([*argv, name], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name in ("one", "two")]
    for p in procs:
        _out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    with LocalStore.open(root) as store:
        rows = _rows(store)
        assert len(rows) == SMALL and len({r[2] for r in rows}) == 1, "one location per digest"
        assert verify_store(store, rehash=True) == [] and check_store(store).problems == []
        spare = [p for p in _packs(root) if p != rows[0][2]]
        assert len(spare) <= 1
        old = time.time() - TEMP_MIN_AGE - 5
        for name in spare:
            os.utime(pack_rows.pack_path(store.objects_root, name), (old, old))
        assert store.gc(grace_seconds=0).packs_deleted == len(spare)
        assert _packs(root) == [rows[0][2]]
    for name in ("one", "two"):
        out = tmp_path / f"out-{name}"
        _cli("get", f"{name}:latest", "--root", str(out))
        assert not filecmp.dircmp(data, out).diff_files and sorted(os.listdir(out)) == sorted(os.listdir(data))


def test_a_small_log_of_packed_content_copies_nothing_loose(tmp_path):
    """A log of a few files (no pack of its own) whose content a pack already holds
    dedupes against the pack's rows: no loose copy is written."""
    data = _tree(tmp_path / "data", big=False)
    root = os.environ["ARTEFACT_STORE"]
    _cli("put", data, "--name", "all", "--type", "dataset")
    few = tmp_path / "few"
    for rel in ("d0/f000.txt", "d1/f001.txt", "d2/f002.txt"):
        write_tree(few, {rel: open(os.path.join(data, rel)).read()})
    _cli("put", str(few), "--name", "few", "--type", "dataset")
    assert _loose(root) == [] and len(_packs(root)) == 1
    out = tmp_path / "out"
    _cli("get", "few:latest", "--root", str(out))
    assert not filecmp.dircmp(few, out).diff_files and sorted(os.listdir(out)) == ["d0", "d1", "d2"]


def test_a_store_from_before_packs_upgrades_on_open_and_keeps_its_versions(tmp_path):
    """A store made by a release without packs: its catalog at schema step 1 (V1 alone:
    the packs step only adds its two tables), every blob loose. Opening it adds the packs
    step; its versions read back, the next log packs, gc and verify see both kinds."""
    import sqlite3

    from artefact.store.migrations import MIGRATIONS, STORE_MIGRATIONS

    root = os.environ["ARTEFACT_STORE"]
    old = _tree(tmp_path / "old", tag="old ")
    _cli("put", old, "--name", "ds", "--type", "dataset", env={"ARTEFACT_PACK_BLOB_BYTES": "0"})
    with sqlite3.connect(os.path.join(root, "catalog.db")) as db:
        db.execute("DROP TABLE store_pack_entries")
        db.execute("DROP TABLE store_packs")
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")
    assert _packs(root) == [] and len(_loose(root)) == SMALL + 1

    out = tmp_path / "out"
    _cli("get", "ds:v0", "--root", str(out))
    assert not filecmp.dircmp(old, out).diff_files and sorted(os.listdir(out)) == sorted(os.listdir(old))
    with sqlite3.connect(os.path.join(root, "catalog.db")) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(STORE_MIGRATIONS)
    new = _tree(tmp_path / "new", tag="new ")
    _cli("put", new, "--name", "ds", "--type", "dataset")
    assert len(_packs(root)) == 1
    with LocalStore.open(root) as store:
        assert len(_rows(store)) == SMALL
        check = check_store(store)
        assert check.problems == [] and check.objects == 2 * SMALL + 1 and verify_store(store, rehash=True) == []
    for version, tree in (("v0", old), ("v1", new)):
        again = tmp_path / f"again-{version}"
        _cli("get", f"ds:{version}", "--root", str(again))
        assert not filecmp.dircmp(tree, again).diff_files

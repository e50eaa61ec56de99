"""Placing entries into a root: cache use, safety against bad manifests and content."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import threading
from pathlib import Path

import pytest

from artefact import _core
from artefact.download import (
    MissingReferenceError,
    checkout_root,
    download_entries,
    link_mode_from_env,
    verify_root,
)
from artefact.store import CorruptBlobError, MissingBlobError

from .conftest import manifest_of, write_tree

FILES = {"a.txt": "alpha\n", "sub/b.txt": "bravo\n", "sub/deep/c.bin": b"\x01" * 1000}


@pytest.fixture
def logged(store, tmp_path):
    m = manifest_of(tmp_path / "src", FILES)
    record = store.log_version("ent", "proj", "ds", "dataset", m)
    return record, store.load_manifest(record)


def tree(root) -> dict[str, bytes]:
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            out[os.path.relpath(p, root)] = Path(p).read_bytes()
    return out


def expected() -> dict[str, bytes]:
    return {k: v.encode() if isinstance(v, str) else v for k, v in FILES.items()}


def test_download_copies_from_the_store_and_links_from_the_cache(store, cache, logged, tmp_path):
    """Copies come straight from the embedded store's objects (no second copy in the
    cache); links come from the cache, so no store object is ever open to edits."""
    record, m = logged
    root = str(tmp_path / "out")
    assert download_entries(m, root, store, cache) == root
    assert tree(root) == expected()
    assert not os.path.exists(cache.obj_dir)
    verify_root(m, root, record.name)
    linked = str(tmp_path / "linked")
    download_entries(m, linked, store, cache, link_mode="hardlink")
    assert tree(linked) == expected()
    for entry in m.entries():
        assert cache.is_hit(cache.entry_path(entry), entry[4])
        placed = os.stat(os.path.join(linked, entry[0]))
        assert placed.st_ino == os.stat(cache.entry_path(entry)).st_ino
        assert placed.st_ino != os.stat(store.entry_blob_path(entry)).st_ino


def test_second_download_skips_unchanged_and_repairs_changed(store, cache, logged, tmp_path):
    _, m = logged
    root = str(tmp_path / "out")
    download_entries(m, root, store, cache)
    mtime = os.stat(os.path.join(root, "a.txt")).st_mtime_ns
    write_tree(root, {"sub/b.txt": "edited"})
    download_entries(m, root, store, cache)
    assert tree(root) == expected()
    assert os.stat(os.path.join(root, "a.txt")).st_mtime_ns == mtime  # untouched


def test_placed_copies_are_remembered_at_once_and_an_edit_right_after_is_repaired(store, cache, logged, tmp_path, monkeypatch):
    """Each copy gets an mtime of the download's own (a racy margin in the past), so the
    stat cache records it with no wait; an edit made at once, of the same size, sets
    the mtime from the clock and is caught by the next download."""
    _, m = logged
    monkeypatch.setenv("ARTEFACT_CACHE_DIR", str(tmp_path / "sc"))
    monkeypatch.setenv("ARTEFACT_STATCACHE", "on")
    try:
        root = str(tmp_path / "out")
        download_entries(m, root, store, cache)
        _core.flush_statcache()
        assert (tmp_path / "sc" / "statcache.bin").stat().st_size >= 16 + len(FILES) * 57 + 16  # header, records, checksum
        write_tree(root, {"sub/b.txt": "BRAVO\n"})  # same size, at once
        download_entries(m, root, store, cache)
        assert tree(root) == expected()
    finally:
        _core.set_statcache(None)


def test_core_download_reports_what_it_added_to_the_cache(store, cache, logged, tmp_path):
    _, m = logged
    run = lambda root: m.download(str(root), store.objects_root, cache.root)  # noqa: E731
    refs, present, placed, skipped, filled_bytes, linked = run(tmp_path / "one")
    assert (refs, present, placed, skipped, filled_bytes, linked) == ([], 0, 3, [], sum(e[4] for e in m.entries()), 0)
    assert run(tmp_path / "two")[1:] == (0, 3, [], 0, 0), "warm cache: placed, nothing added"
    assert run(tmp_path / "two")[1:] == (3, 0, [], 0, 0), "already present"
    linked = m.download(str(tmp_path / "three"), store.objects_root, cache.root, mode="hardlink")
    assert linked[2:] == (3, [], 0, 3), "links of the cache's objects"


def test_download_that_adds_nothing_leaves_the_cache_alone(store, cache, logged, tmp_path, monkeypatch):
    _, m = logged
    root = str(tmp_path / "out")
    download_entries(m, root, store, cache)
    before = sorted(os.path.join(d, f) for d, _, fs in os.walk(cache.obj_dir) for f in fs)
    monkeypatch.setenv("ARTEFACT_CACHE_MAX", "100B")  # lowered later: no scan until the cache grows
    download_entries(m, root, store, cache)
    assert sorted(os.path.join(d, f) for d, _, fs in os.walk(cache.obj_dir) for f in fs) == before
    download_entries(m, str(tmp_path / "other"), store, cache)  # warm: copies, adds nothing
    assert tree(str(tmp_path / "other")) == expected()
    assert sorted(os.path.join(d, f) for d, _, fs in os.walk(cache.obj_dir) for f in fs) == before


def test_download_over_the_cap_evicts_down_to_it(store, cache, logged, tmp_path, monkeypatch):
    _, m = logged
    total = sum(e[4] for e in m.entries())
    cached = lambda: sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(cache.obj_dir) for f in fs)  # noqa: E731
    # Linked downloads fill the cache (copies come straight from the store).
    download_entries(m, str(tmp_path / "one"), store, cache, link_mode="hardlink")
    assert cached() == total
    cache.cleanup(0)  # empty again, and the running total knows it
    monkeypatch.setenv("ARTEFACT_CACHE_MAX", f"{total - 1}B")
    download_entries(m, str(tmp_path / "two"), store, cache, link_mode="hardlink")
    assert tree(str(tmp_path / "two")) == expected()
    assert 0 < cached() <= total - 1


def test_path_prefix_is_a_raw_string_prefix(store, cache, logged, tmp_path):
    _, m = logged
    root = str(tmp_path / "out")
    download_entries(m, root, store, cache, path_prefix="sub/d")
    assert list(tree(root)) == ["sub/deep/c.bin"]


def test_corrupt_store_object_is_never_placed_or_cached(store, cache, logged, tmp_path):
    _, m = logged
    entry = m.get("sub/b.txt")
    blob = store.entry_blob_path(entry)
    os.chmod(blob, 0o644)
    with open(blob, "wb") as f:
        f.write(b"BRAVO\n")  # same size, other bytes
    root = str(tmp_path / "out")
    with pytest.raises(CorruptBlobError) as info:
        download_entries(m, root, store, cache)
    assert blob in str(info.value) and "'sub/b.txt'" in str(info.value)
    assert not os.path.exists(root) or tree(root) == {}
    assert not os.path.exists(cache.entry_path(entry))
    # skip_cache reads the store directly: same guarantee
    with pytest.raises(CorruptBlobError, match="nothing was placed"):
        download_entries(m, root, store, cache, skip_cache=True)
    assert not os.path.exists(root) or tree(root) == {}


def test_missing_store_object_is_a_clear_error(store, cache, logged, tmp_path):
    _, m = logged
    os.remove(store.entry_blob_path(m.get("a.txt")))
    with pytest.raises(MissingBlobError, match="'a.txt' is missing"):
        download_entries(m, str(tmp_path / "out"), store, cache)


def test_escaping_entry_writes_nothing_anywhere(store, cache, logged, tmp_path):
    _, m = logged
    wire = json.loads(m.to_wire_json())
    digest = m.get("a.txt")[1]
    wire["contents"]["../../escaped.txt"] = {"digest": digest, "size": 6}
    bad = _core.Manifest.from_json(json.dumps(wire))
    root = tmp_path / "deep" / "er" / "out"
    before = set(Path(tmp_path).rglob("*"))
    with pytest.raises(ValueError, match=r"\.\./\.\./escaped\.txt.*escape"):
        download_entries(bad, str(root), store, cache)
    assert set(Path(tmp_path).rglob("*")) == before


def test_skip_cache_leaves_cache_empty(store, cache, logged, tmp_path):
    _, m = logged
    root = str(tmp_path / "out")
    download_entries(m, root, store, cache, skip_cache=True, link_mode="hardlink")
    assert tree(root) == expected()
    assert not os.path.exists(cache.obj_dir)
    assert os.stat(os.path.join(root, "a.txt")).st_nlink == 1  # never linked to the store


def test_hardlink_mode_links_from_cache_and_warns(store, cache, logged, tmp_path, monkeypatch, capsys):
    _, m = logged
    monkeypatch.setenv("ARTEFACT_CACHE_LINK", "hardlink")
    assert link_mode_from_env() == "hardlink"
    root = str(tmp_path / "out")
    download_entries(m, root, store, cache)
    assert tree(root) == expected()
    placed = os.stat(os.path.join(root, "a.txt"))
    assert os.path.samestat(placed, os.stat(cache.entry_path(m.get("a.txt"))))
    assert "hardlinks" in capsys.readouterr().err
    monkeypatch.setenv("ARTEFACT_CACHE_LINK", "symlink")
    with pytest.raises(ValueError, match="ARTEFACT_CACHE_LINK='symlink'"):
        link_mode_from_env()


def test_cap_applies_after_download(store, cache, logged, tmp_path, monkeypatch):
    _, m = logged
    monkeypatch.setenv("ARTEFACT_CACHE_MAX", "100B")
    download_entries(m, str(tmp_path / "out"), store, cache)
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(cache.obj_dir) for f in fs)
    assert total <= 100
    assert tree(str(tmp_path / "out")) == expected()


def test_file_references(store, cache, tmp_path):
    src = write_tree(tmp_path / "refs", {"r1.txt": "ref one", "r2.txt": "ref two"})
    m = _core.Manifest()
    r1 = os.path.join(src, "r1.txt")
    m.insert("checked.txt", _core.hash_file(r1)[0], ref=Path(r1).as_uri(), size=7)
    r2 = os.path.join(src, "r2.txt")
    m.insert("unchecked.txt", _core.hash_bytes(Path(r2).resolve().as_uri().encode()),
             ref=Path(r2).as_uri(), size=7)
    root = str(tmp_path / "out")
    download_entries(m, root, store, cache)
    assert tree(root) == {"checked.txt": b"ref one", "unchecked.txt": b"ref two"}
    assert cache.is_hit(cache.object_path(m.get("checked.txt")[1]), 7)
    # a checksummed reference whose file changed is refused
    write_tree(src, {"r1.txt": "ref 1!!"})
    os.remove(cache.object_path(m.get("checked.txt")[1]))
    with pytest.raises(ValueError, match="Local file reference: Digest mismatch for path"):
        download_entries(m, str(tmp_path / "out2"), store, cache)
    # a missing one is a FileNotFoundError, or a warning when allowed
    os.remove(r2)
    os.remove(r1)
    with pytest.raises(MissingReferenceError, match="Failed to find file"):
        download_entries(m, str(tmp_path / "out3"), store, cache)
    download_entries(m, str(tmp_path / "out3"), store, cache, allow_missing_references=True)


def test_unknown_scheme_is_a_clear_error(store, cache, tmp_path):
    m = _core.Manifest()
    m.insert("x", "d", ref="foo://bucket/key", size=1)
    with pytest.raises(ValueError, match="Cannot download file at path foo://bucket/key, scheme foo not recognized"):
        download_entries(m, str(tmp_path / "out"), store, cache)
    assert not os.path.exists(tmp_path / "out")


class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}

    def do_GET(self):  # noqa: N802 (http.server API)
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("ETag", '"' + hashlib.md5(body).hexdigest() + '"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def http_base():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Handler.files
    server.shutdown()
    server.server_close()
    thread.join()


def test_http_references(store, cache, tmp_path, http_base, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    base, files = http_base
    files.clear()
    files["/data.bin"] = b"remote bytes"
    etag = hashlib.md5(b"remote bytes").hexdigest()
    m = _core.Manifest()
    m.insert("data.bin", etag, ref=base + "/data.bin", size=12, extra=json.dumps({"etag": f'"{etag}"'}))
    m.insert("nochk.bin", base + "/data.bin", ref=base + "/data.bin")  # checksum=False
    root = str(tmp_path / "out")
    download_entries(m, root, store, cache)
    assert tree(root) == {"data.bin": b"remote bytes", "nochk.bin": b"remote bytes"}
    assert cache.is_hit(cache.etag_path(base + "/data.bin", etag), 12)
    # the server's content changed: the recorded ETag no longer matches
    files["/data.bin"] = b"other bytes!"
    with pytest.raises(ValueError, match="Digest mismatch for url"):
        download_entries(m, str(tmp_path / "out2"), store, cache, skip_cache=True)


def test_verify_messages_are_wandbs(store, cache, logged, tmp_path, capsys):
    record, m = logged
    root = str(tmp_path / "out")
    download_entries(m, root, store, cache)
    write_tree(root, {"sub/b.txt": "wrong!"})
    with pytest.raises(ValueError, match=r"^Digest mismatch for file: sub/b.txt$"):
        verify_root(m, root, record.name)
    write_tree(root, {"extra.txt": "?"})
    with pytest.raises(ValueError, match=f"^Found file {root}/extra.txt which is not a member of artifact ds:v0$"):
        verify_root(m, root, record.name)
    os.remove(os.path.join(root, "extra.txt"))
    os.remove(os.path.join(root, "a.txt"))
    with pytest.raises(FileNotFoundError):
        verify_root(m, root, record.name)
    m.insert("ref.txt", "x", ref="https://example.com/ref.txt")
    download_entries(m, root, store, cache, path_prefix="a")
    write_tree(root, {"sub/b.txt": FILES["sub/b.txt"], "ref.txt": "whatever"})
    verify_root(m, root, record.name)
    assert "skipped verification of 1 refs" in capsys.readouterr().err


def test_checkout_removes_strangers(store, cache, logged, tmp_path):
    _, m = logged
    root = write_tree(tmp_path / "out", {"stranger.txt": "x", "sub/other": "y", "a.txt": "old"})
    checkout_root(m, root, store, cache)
    assert tree(root) == expected()

"""`artefact verify --store` re-hashes every object and manifest (issue 11, item 13),
and `gc` goes on past a damaged manifest (item 12). Real processes, real files."""

from __future__ import annotations

import os

from .test_faults import assert_clean_error, cli
from .conftest import write_tree


def _put(tmp_path, name: str, files: dict) -> None:
    data = write_tree(tmp_path / f"src-{name}", files)
    done = cli("--quiet", "put", data, "--name", name, "--type", "dataset")
    assert done.returncode == 0, done.stderr


def _entity() -> str:
    from artefact import config

    return config.default_entity()


def _record(name: str):
    from artefact.store import LocalStore

    with LocalStore.open() as store:
        record = store.get_version(_entity(), "uncategorized", name)
        return store.blobs.manifest_path(record.manifest_key), [
            store.entry_blob_path(e) for e in store.load_manifest(record).entries()
        ]


def test_verify_store_rehashes_everything_and_names_what_is_wrong(tmp_path):
    _put(tmp_path, "ds", {"a.txt": "alpha\n", "b.txt": "beta\n"})
    _put(tmp_path, "other", {"c.txt": "gamma\n"})
    done = cli("--quiet", "verify", "--store")
    assert done.returncode == 0, done.stderr
    assert "2 versions, 2 manifests, 3 objects" in done.stdout and done.stdout.strip().endswith("OK")

    manifest, objects = _record("ds:v0")
    _, (other_object,) = _record("other:v0")
    with open(objects[0], "r+b") as f:  # same size, other bytes: only a re-hash sees it
        f.write(b"X")
    os.unlink(other_object)
    with open(manifest, "ab") as f:
        f.write(b" ")
    stray = os.path.join(os.path.dirname(objects[1]), "not-a-digest")
    with open(stray, "w") as f:
        f.write("?")
    done = cli("--quiet", "verify", "--store")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    err = done.stderr
    assert f"{objects[0]}: corrupt, digest mismatch" in err and "used by" in err
    assert f"{other_object}: object missing (entry 'c.txt' of" in err
    assert f"{manifest}: corrupt" in err
    assert f"{stray}: not an object name" in err
    assert "4 problem(s)" in done.stdout


def test_gc_goes_on_past_a_damaged_manifest(tmp_path):
    _put(tmp_path, "keep", {"k.txt": "kept\n"})
    _put(tmp_path, "gone", {"g.txt": "goes\n"})
    _put(tmp_path, "damaged", {"d.txt": "damaged but parsable\n"})
    from artefact import config
    from artefact.store import LocalStore

    _, (gone_object,) = _record("gone:v0")
    damaged_manifest, (damaged_object,) = _record("damaged:v0")
    with LocalStore.open() as store:
        store.delete_version(store.get_version(config.default_entity(), "uncategorized", "gone:v0"),
                             delete_aliases=True)
    with open(damaged_manifest, "ab") as f:  # MD5 no longer matches; JSON still parses
        f.write(b"\n")
    done = cli("--quiet", "gc", "--grace", "0")
    assert done.returncode == 1, done.stderr  # did its work, and says something is wrong
    assert "Traceback" not in done.stderr
    assert "deleted 1 objects and 1 manifests" in done.stdout
    assert f"manifest {damaged_manifest} is corrupt" in done.stderr
    assert "damaged:v0" in done.stderr and "the objects it names were kept" in done.stderr
    assert not os.path.exists(gone_object)
    assert os.path.exists(damaged_object)
    out = tmp_path / "out"
    assert cli("--quiet", "get", "keep", "--root", str(out)).returncode == 0

    # Unparsable: what it references is unknown, so no object is deleted this run;
    # everything else still happens, and the version at fault is named.
    _put(tmp_path, "gone2", {"g2.txt": "goes too\n"})
    _, (gone2_object,) = _record("gone2:v0")
    with LocalStore.open() as store:
        store.delete_version(store.get_version(config.default_entity(), "uncategorized", "gone2:v0"),
                             delete_aliases=True)
    with open(damaged_manifest, "r+b") as f:
        f.truncate(10)
    done = cli("--quiet", "gc", "--grace", "0")
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "deleted 0 objects and 1 manifests" in done.stdout
    assert "no objects were deleted" in done.stderr and "damaged:v0" in done.stderr
    assert os.path.exists(gone2_object) and os.path.exists(damaged_object)
    assert_clean_error(cli("--quiet", "get", "damaged", "--root", str(tmp_path / "d")), damaged_manifest)

"""The embedded store through the public API and the CLI, with real processes."""

import glob
import os
import signal
import subprocess
import sys

import pytest

import artefact as wandb

HERE = os.path.dirname(os.path.abspath(__file__))


def _tree(root, files):
    for rel, text in files.items():
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)
    return str(root)


@pytest.mark.slow
def test_eight_processes_log_the_same_artifact_at_once(tmp_path):
    flag = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, os.path.join(HERE, "_log_worker.py"), "shared", str(i), str(flag)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(8)]
    flag.write_text("go")
    outs = [p.communicate(timeout=180) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    versions = sorted(int(o[0].strip()[1:]) for o in outs)
    assert versions == list(range(8)), versions
    api = wandb.Api(overrides={"project": "race"})
    listed = api.artifacts("dataset", "shared")
    assert sorted(a.version for a in listed) == [f"v{i}" for i in range(8)]
    assert api.artifact("shared:latest").version == "v7"
    for i in range(8):  # every process's custom alias points at the version it got
        assert api.artifact(f"shared:s{i}").version in {f"v{n}" for n in range(8)}


@pytest.mark.crash
@pytest.mark.parametrize("point", ["during_blobs", "after_manifest", "before_commit"])
def test_killed_log_leaves_no_half_version_and_gc_cleans_up(tmp_path, point):
    data = _tree(tmp_path / "d", {"a.txt": "a\n", "b/c.txt": "c\n"})
    code = f"""
import artefact as wandb
with wandb.init(project="crash") as run:
    a = wandb.Artifact("ds", "dataset"); a.add_dir({data!r}); run.log_artifact(a)
"""
    env = dict(os.environ, ARTEFACT_FAILPOINT=point)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr
    api = wandb.Api(overrides={"project": "crash"})
    assert not api.artifact_exists("ds:latest")
    with wandb.init(project="crash") as run:  # the next log succeeds, as v0
        a = wandb.Artifact("ds", "dataset")
        a.add_file(os.path.join(data, "a.txt"))
        run.log_artifact(a).wait()
        assert a.version == "v0"
    gc = subprocess.run([sys.executable, "-m", "artefact", "gc", "--grace", "0"],
                        capture_output=True, text=True, timeout=120)
    assert gc.returncode == 0, gc.stderr
    objects = [p for p in glob.glob(os.path.join(os.environ["ARTEFACT_STORE"], "objects", "obj", "**", "*"),
                                    recursive=True) if os.path.isfile(p)]
    assert len(objects) == 1, objects  # only a.txt of the committed v0 is left
    assert api.artifact("ds:v0").download(str(tmp_path / "out"))


def _logged(tmp_path, files, name="ds"):
    data = _tree(tmp_path / f"src-{name}", files)
    with wandb.init(project="p") as run:
        a = wandb.Artifact(name, "dataset")
        a.add_dir(data)
        run.log_artifact(a).wait()
    return a


def test_corrupt_store_blob_is_reported_and_never_placed(tmp_path):
    art = _logged(tmp_path, {"good.txt": "good\n", "bad.txt": "original content\n"})
    entry = art.manifest.entries["bad.txt"]
    blob = wandb.Api().artifact("p/ds:v0")._store.store.blob_path(entry.digest)
    os.chmod(blob, 0o644)
    with open(blob, "w") as f:
        f.write("tampered content\n")
    cache = os.environ["ARTEFACT_CACHE_DIR"]
    for p in glob.glob(os.path.join(cache, "**", "*"), recursive=True):  # force a cache miss
        if os.path.isfile(p):
            os.remove(p)
    root = tmp_path / "root"
    with pytest.raises(Exception) as info:
        wandb.Api().artifact("p/ds:v0").download(str(root))
    assert os.path.basename(blob) in str(info.value) or blob in str(info.value), info.value
    assert not (root / "bad.txt").exists()
    for p in glob.glob(os.path.join(cache, "**", "*"), recursive=True):
        if os.path.isfile(p):
            with open(p, "rb") as f:  # the cache dir also holds the binary stat cache
                assert f.read() != b"tampered content\n", p


def test_manifest_entry_escaping_the_root_is_refused(tmp_path):
    art = wandb.Artifact("esc", "dataset")
    src = _tree(tmp_path / "s", {"x.txt": "x\n"})
    art.add_file(os.path.join(src, "x.txt"))
    with wandb.init(project="p") as run:
        run.log_artifact(art).wait()
    fetched = wandb.Api().artifact("p/esc:v0")
    manifest = fetched.manifest
    digest = manifest.entries["x.txt"].digest
    with manifest._lock:  # a crafted entry, as a tampered manifest would carry
        manifest._core.insert("../../escaped.txt", digest, size=2)
    root = tmp_path / "deep" / "root"
    with pytest.raises(ValueError, match="escape"):
        fetched.download(str(root))
    assert not (tmp_path / "escaped.txt").exists()
    assert not (tmp_path / "deep" / "escaped.txt").exists()
    assert not root.exists() or not any(root.iterdir())


def test_staging_is_empty_after_log_and_cache_stays_under_cap(tmp_path, monkeypatch):
    monkeypatch.setenv("ARTEFACT_CACHE_MAX", "3000B")
    monkeypatch.setenv("ARTEFACT_CACHE_LINK", "hardlink")  # linked downloads fill the cache
    for i in range(4):
        _logged(tmp_path, {f"f{i}.bin": str(i) * 1000}, name=f"ds{i}")
    staging = os.path.join(os.environ["ARTEFACT_DATA_DIR"], "artifacts", "staging")
    assert os.listdir(staging) == []
    cache = os.path.join(os.environ["ARTEFACT_CACHE_DIR"], "artifacts", "obj")

    def total() -> int:
        return sum(os.path.getsize(p) for p in glob.glob(os.path.join(cache, "**", "*"), recursive=True)
                   if os.path.isfile(p))

    if os.environ.get("ARTEFACT_BASE_URL"):  # a remote store's cache is the only local copy
        assert 0 < total() <= 3000  # filled by each log, capped after it
        return
    assert total() == 0, "logging stores each byte once: in the store, not the cache"
    for i in range(4):
        wandb.Api().artifact(f"p/ds{i}:latest").download(root=str(tmp_path / f"out{i}"))
    assert 0 < total() <= 3000


def test_cli_put_get_verify_roundtrip(tmp_path):
    data = _tree(tmp_path / "sample", {"a.txt": "a\n", "deep/er/b.bin": "b" * 5000})
    cli = [sys.executable, "-m", "artefact", "--quiet"]

    def run(*args):
        return subprocess.run([*cli, *args], capture_output=True, text=True, timeout=120, cwd=tmp_path)

    put = run("put", data, "--name", "sample", "--type", "dataset", "--alias", "first", "--project", "cli")
    assert put.returncode == 0, put.stderr
    assert "sample:v0" in put.stdout and "first" in put.stdout
    got = run("get", "cli/sample:first", "--root", str(tmp_path / "out"))
    assert got.returncode == 0, got.stderr
    assert (tmp_path / "out" / "deep" / "er" / "b.bin").read_text() == "b" * 5000
    assert run("verify", "cli/sample:first", "--root", str(tmp_path / "out")).returncode == 0
    (tmp_path / "out" / "a.txt").write_text("changed\n")
    bad = run("verify", "cli/sample:first", "--root", str(tmp_path / "out"))
    assert bad.returncode == 1 and "Digest mismatch for file: a.txt" in bad.stderr
    listing = run("ls", "--project", "cli")
    assert "sample" in listing.stdout and "1 versions" in listing.stdout
    versions = run("versions", "sample", "--project", "cli")
    assert versions.stdout.startswith("v0\t")
    missing = run("get", "cli/nope:latest")
    assert missing.returncode == 1 and "nope" in missing.stderr


def test_distributed_artifact_upserted_by_two_processes_then_finished(tmp_path):
    code = """
import sys, artefact as wandb
part = sys.argv[1]
with wandb.init(project="dist", group="g1") as run:
    a = wandb.Artifact("shards", "dataset")
    with a.new_file(f"shard-{part}.txt") as f:
        f.write(f"shard {part}\\n")
    run.upsert_artifact(a)
"""
    for part in ("0", "1"):
        done = subprocess.run([sys.executable, "-c", code, part], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    api = wandb.Api(overrides={"project": "dist"})
    assert not api.artifact_exists("shards:latest"), "nothing is committed before finish"
    with wandb.init(project="dist", group="g1") as run:
        final = wandb.Artifact("shards", "dataset")
        with final.new_file("index.txt") as f:
            f.write("2 shards\n")
        run.finish_artifact(final).wait()
    got = api.artifact("shards:latest")
    assert sorted(got.manifest.entries) == ["index.txt", "shard-0.txt", "shard-1.txt"]
    root = got.download(str(tmp_path / "out"))
    assert open(os.path.join(root, "shard-1.txt")).read() == "shard 1\n"
    with wandb.init(project="dist") as run, pytest.raises(TypeError, match="group or distributed_id"):
        run.upsert_artifact(wandb.Artifact("x", "t"))


def test_incremental_and_new_draft_store_only_new_blobs(tmp_path):
    data = _tree(tmp_path / "d", {"a.txt": "a\n", "b.txt": "b\n"})
    objects = os.path.join(os.environ["ARTEFACT_STORE"], "objects", "obj")

    def count():
        return sum(len(files) for _, _, files in os.walk(objects))

    with wandb.init(project="inc") as run:
        first = wandb.Artifact("ds", "dataset")
        first.add_dir(data)
        run.log_artifact(first).wait()
        assert count() == 2
        inc = wandb.Artifact("ds", "dataset", incremental=True)
        inc.add_file(_tree(tmp_path / "e", {"c.txt": "c\n"}) + "/c.txt")
        run.log_artifact(inc).wait()
        assert inc.version == "v1" and count() == 3
        assert sorted(inc.manifest.entries) == ["a.txt", "b.txt", "c.txt"]
        draft = wandb.Api().artifact("inc/ds:latest").new_draft()
        draft.remove("a.txt")
        run.log_artifact(draft).wait()
        assert draft.version == "v2" and count() == 3, "carried entries are not stored again"
    got = wandb.Api().artifact("inc/ds:v2")
    root = got.download(str(tmp_path / "out"))
    assert sorted(os.listdir(root)) == ["b.txt", "c.txt"]


def test_get_table_back_from_a_logged_artifact(tmp_path):
    table = wandb.Table(columns=["id", "label"], data=[[1, "cat"], [2, "dog"]])
    with wandb.init(project="tables") as run:
        art = wandb.Artifact("tbl", "dataset")
        art.add(table, "my_table")
        run.log_artifact(art).wait()
    got = wandb.Api().artifact("tables/tbl:latest").get("my_table")
    assert got.columns == ["id", "label"] and got.data == [[1, "cat"], [2, "dog"]]

"""`artefact put` of an unchanged tree through fastput.py (issue 17's re-put row): the
stat cache knows every file, so the put returns the collection's version with that digest
(wandb's dedupe) in one catalog transaction, without the SDK. These tests run real
`artefact put` processes against real stores and compare the fast path with the
ordinary one (`ARTEFACT_FAST_REPUT=0`): the same output, the same catalog rows, the
same stat-cache rules."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time

import pytest

# Columns that differ between any two puts (ids, clocks, random run ids and commit hashes).
_VOLATILE = {"id", "run_id", "created_at", "finished_at", "updated_at", "run_pk", "commit_hash"}
_TABLES = ("projects", "collections", "versions", "memberships", "aliases", "version_tags", "runs",
           "run_outputs", "run_inputs")


def _env(tmp_path, name: str, fast: bool) -> dict[str, str]:
    root = tmp_path / name
    env = dict(os.environ, ARTEFACT_STORE=str(root / "store"), ARTEFACT_DATA_DIR=str(root / "data"),
               ARTEFACT_CACHE_DIR=str(root / "cache"), ARTEFACT_CONFIG_DIR=str(root / "config"),
               ARTEFACT_FAST_REPUT="1" if fast else "0", ARTEFACT_ENTITY="ent", ARTEFACT_PROJECT="proj")
    for k in ("ARTEFACT_BASE_URL", "WANDB_BASE_URL", "ARTEFACT_API_KEY", "WANDB_API_KEY", "ARTEFACT_QUIET",
              "WANDB_SILENT", "ARTEFACT_STATCACHE"):
        env.pop(k, None)
    return env


def _put(env: dict[str, str], tree, *extra: str) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "artefact", "put", str(tree), "--name", "ds", "--type", "dataset", *extra]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)


def _rows(env: dict[str, str]) -> dict[str, list[tuple]]:
    """Every row of the catalog's tables, without the columns that differ between puts."""
    conn = sqlite3.connect(os.path.join(env["ARTEFACT_STORE"], "catalog.db"))
    try:
        out = {}
        for table in _TABLES:
            cur = conn.execute(f"SELECT * FROM {table}")
            names = [d[0] for d in cur.description]
            out[table] = sorted(
                tuple((n, v) for n, v in zip(names, row) if n not in _VOLATILE) for row in cur.fetchall()
            )
        return out
    finally:
        conn.close()


def _tree(path, files: int = 40):
    path.mkdir()
    (path / "sub").mkdir()
    for i in range(files):
        (path / ("sub" if i % 2 else "") / f"f{i:03d}.bin").write_bytes(os.urandom(300 + i))
    old = time.time() - 60  # past the stat cache's racy margin, so the first put records them
    for f in path.rglob("*.bin"):
        os.utime(f, (old, old))
    time.sleep(0.1)  # and the ctimes too


def _fast_path_taken(env: dict[str, str], tree, *extra: str) -> subprocess.CompletedProcess:
    """A put whose process never imported the SDK's Artifact (so fastput answered it)."""
    code = ("import sys; sys.argv = ['artefact', *sys.argv[1:]];"
            "import atexit; atexit.register(lambda: print('SDK' if 'artefact.artifact' in sys.modules else 'FAST',"
            " file=sys.stderr))\n"
            "from artefact.cli import main; sys.exit(main())")
    argv = [sys.executable, "-c", code, "put", str(tree), "--name", "ds", "--type", "dataset", *extra]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("policy", ["mutable", "immutable"])
def test_fast_reput_prints_and_records_what_the_ordinary_path_does(tmp_path, policy):
    """Two stores, each with a first put of the same tree; then the same re-puts (with
    aliases and tags) through the fast path in one and the ordinary path in the other:
    the same output lines and the same catalog rows (but ids, clocks and run ids)."""
    tree = tmp_path / "tree"
    _tree(tree)
    fast, slow = _env(tmp_path, "fast", True), _env(tmp_path, "slow", False)
    for env in (fast, slow):
        first = _put(env, tree, "--policy", policy, "--alias", "first")
        assert first.returncode == 0, first.stderr
    for extra in ((), ("--alias", "best", "--tag", "t1"), ("--alias", "best", "--alias", "x", "--tag", "t2",
                                                          "--tag", "t1", "--description", "again")):
        a = _fast_path_taken(fast, tree, "--policy", policy, *extra)
        b = _fast_path_taken(slow, tree, "--policy", policy, *extra)
        assert a.returncode == b.returncode == 0, a.stderr + b.stderr
        assert a.stderr.strip().endswith("FAST") and b.stderr.strip().endswith("SDK"), a.stderr + b.stderr
        assert a.stdout == b.stdout
        assert "ent/proj/ds:v0  40 files" in a.stdout
        # The info line on stderr, as Artifact.add_dir says it (but its timing).
        assert a.stderr.split("Done.")[0] == b.stderr.split("Done.")[0]
    rows_fast, rows_slow = _rows(fast), _rows(slow)
    assert rows_fast == rows_slow
    assert len(rows_fast["runs"]) == 4 and len(rows_fast["run_outputs"]) == 4
    assert {dict(r)["state"] for r in rows_fast["runs"]} == {"finished"}
    assert sorted(dict(r)["alias"] for r in rows_fast["aliases"]) == ["best", "first", "latest", "x"]
    # The store verifies, and a new process reads the fast re-put's rows (its WAL was
    # left for it, not checkpointed).
    verify = subprocess.run([sys.executable, "-m", "artefact", "-q", "verify", "--store"], env=fast,
                            capture_output=True, text=True)  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr
    versions = subprocess.run([sys.executable, "-m", "artefact", "versions", "ds"], env=fast,
                              capture_output=True, text=True)  # fmt: skip
    assert versions.returncode == 0, versions.stderr
    assert versions.stdout.split("\t")[0] == "v0" and "best,first,latest,x" in versions.stdout


@pytest.mark.parametrize("policy", ["mutable", "immutable"])
def test_same_size_and_mtime_with_new_content_is_hashed_and_logged_anew(tmp_path, policy):
    """One file's content changed, its size kept and its mtime put back: its ctime still
    moved, so the stat cache does not trust it, the fast path declines, and the put logs
    v1 with the new content (as the ordinary path does)."""
    tree = tmp_path / "tree"
    _tree(tree)
    env = _env(tmp_path, "s", True)
    assert _put(env, tree, "--policy", policy).returncode == 0
    assert _fast_path_taken(env, tree, "--policy", policy).stderr.strip().endswith("FAST")
    victim = tree / "sub" / "f001.bin"
    st = os.stat(victim)
    data = bytearray(victim.read_bytes())
    data[0] ^= 0xFF
    victim.write_bytes(bytes(data))
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(victim).st_size == st.st_size and os.stat(victim).st_mtime_ns == st.st_mtime_ns
    again = _fast_path_taken(env, tree, "--policy", policy)
    assert again.returncode == 0, again.stderr
    assert again.stderr.strip().endswith("SDK")
    assert "ent/proj/ds:v1  40 files" in again.stdout
    root = tmp_path / "got"
    got = subprocess.run([sys.executable, "-m", "artefact", "-q", "get", "ds:v1", "--root", str(root)], env=env,
                         capture_output=True, text=True)  # fmt: skip
    assert got.returncode == 0, got.stderr
    assert (root / "sub" / "f001.bin").read_bytes() == bytes(data)


def test_what_the_fast_path_declines_goes_the_ordinary_way(tmp_path):
    """A new file, another collection, another type, the stat cache off: each answered
    by the ordinary path, with its result or its error."""
    tree = tmp_path / "tree"
    _tree(tree, files=6)
    env = _env(tmp_path, "s", True)
    assert _put(env, tree).returncode == 0
    other = subprocess.run([sys.executable, "-m", "artefact", "put", str(tree), "--name", "other", "--type",
                            "dataset"], env=env, capture_output=True, text=True)  # fmt: skip
    assert other.returncode == 0 and "ent/proj/other:v0" in other.stdout, other.stderr
    wrong = subprocess.run([sys.executable, "-m", "artefact", "put", str(tree), "--name", "ds", "--type", "model"],
                           env=env, capture_output=True, text=True)  # fmt: skip
    assert wrong.returncode == 1
    assert "already exists with type 'dataset'" in wrong.stderr
    off = _fast_path_taken(dict(env, ARTEFACT_STATCACHE="0"), tree)
    assert off.returncode == 0 and off.stderr.strip().endswith("SDK") and "ds:v0" in off.stdout
    bad = _put(env, tree, "--alias", "a:b")
    assert bad.returncode == 1 and "Aliases must not contain" in bad.stderr
    (tree / "new.txt").write_text("new")
    added = _fast_path_taken(env, tree)
    assert added.returncode == 0 and added.stderr.strip().endswith("SDK")
    assert "ent/proj/ds:v1  7 files" in added.stdout


@pytest.mark.parametrize("point", ["before_commit", "after_commit"])
def test_a_fast_reput_killed_at_its_commit_leaves_the_store_consistent(tmp_path, point):
    """SIGKILL just before or after the fast re-put's commit (the crash tests' failpoints):
    before, nothing of it is in the catalog; after, its run and output are, durably
    enough for the next process; either way the store verifies and the next put works."""
    tree = tmp_path / "tree"
    _tree(tree, files=8)
    env = _env(tmp_path, "s", True)
    assert _put(env, tree).returncode == 0
    runs_before = len(_rows(env)["runs"])
    killed = _put(dict(env, ARTEFACT_FAILPOINT=point), tree, "--alias", "best")
    assert killed.returncode == -9, killed.stderr
    rows = _rows(env)
    committed = point == "after_commit"
    assert len(rows["runs"]) == runs_before + committed
    assert ("best" in [dict(r)["alias"] for r in rows["aliases"]]) == committed
    verify = subprocess.run([sys.executable, "-m", "artefact", "-q", "verify", "--store"], env=env,
                            capture_output=True, text=True)  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr
    again = _fast_path_taken(env, tree, "--alias", "best")
    assert again.returncode == 0 and again.stderr.strip().endswith("FAST"), again.stderr
    assert "ds:v0" in again.stdout and "aliases: best, latest" in again.stdout


def test_the_wal_a_fast_reput_leaves_stays_bounded(tmp_path):
    """A fast re-put leaves its WAL for the next process (no checkpoint at exit), which
    recovers it whole and never restarts it: past 1 MiB the put checkpoints it into the
    catalog and truncates it, keeping every committed row."""
    from artefact import fastput

    path = str(tmp_path / "c.db")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    conn.execute("CREATE TABLE t (x BLOB)")
    for _ in range(3):
        conn.execute("INSERT INTO t VALUES (?)", (os.urandom(200_000),))
    fastput._trim_wal(conn)
    assert 0 < os.path.getsize(path + "-wal") <= fastput._WAL_MAX, "under the bound: left alone"
    for _ in range(6):
        conn.execute("INSERT INTO t VALUES (?)", (os.urandom(200_000),))
    assert os.path.getsize(path + "-wal") > fastput._WAL_MAX
    fastput._trim_wal(conn)
    assert os.path.getsize(path + "-wal") == 0
    conn.close()
    again = sqlite3.connect(path)
    assert again.execute("SELECT count(*) FROM t").fetchone()[0] == 9
    again.close()


def test_concurrent_reputs_all_log_their_aliases(tmp_path):
    """Six re-puts of the same tree at once, each with its own alias: whichever path each
    takes (a writer that finds the lock held past 100 ms goes the ordinary way and waits
    there), every one returns v0 and records its run and its alias."""
    tree = tmp_path / "tree"
    _tree(tree, files=200)
    env = _env(tmp_path, "s", True)
    assert _put(env, tree).returncode == 0
    argv = [sys.executable, "-m", "artefact", "-q", "put", str(tree), "--name", "ds", "--type", "dataset"]
    procs = [subprocess.Popen([*argv, "--alias", f"a{i}"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for i in range(6)]  # fmt: skip
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert "ent/proj/ds:v0  200 files" in out
    rows = _rows(env)
    assert len(rows["runs"]) == 7 and len(rows["run_outputs"]) == 7
    assert {dict(r)["alias"] for r in rows["aliases"]} == {"latest", *(f"a{i}" for i in range(6))}
    assert [dict(r)["version_index"] for r in rows["versions"]] == [0]

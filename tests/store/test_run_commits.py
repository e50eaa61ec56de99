"""Run bookkeeping (a run's row and state) commits without waiting for the disk, while
a version's commit waits and flushes the run's row with it (issue 17: a put paid for
seven fdatasync'd commits). The catalog's normal setting (`synchronous=FULL`) comes
back after each such commit, also when it fails for want of the lock."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from artefact.store.catalog import Catalog
from artefact.store.errors import CatalogLockedError


def _synchronous(cat: Catalog) -> int:
    return cat.conn.execute("PRAGMA synchronous").fetchone()[0]


def test_run_rows_commit_and_the_full_setting_returns(tmp_path):
    cat = Catalog(str(tmp_path / "catalog.db"))
    run = cat.create_run("e", "p", "r1", job_type="put")
    assert _synchronous(cat) == 2  # FULL
    cat.finish_run(run)
    assert _synchronous(cat) == 2
    cat.close()
    # Another connection sees both commits (the process may die now: they are in the WAL).
    again = Catalog(str(tmp_path / "catalog.db"))
    assert again.get_run("e", "p", "r1").state == "finished"
    again.close()


def test_a_run_commit_killed_after_it_returns_is_kept(tmp_path):
    path = str(tmp_path / "catalog.db")
    Catalog(path).close()
    child = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import os, signal
        from artefact.store.catalog import Catalog
        Catalog({path!r}).create_run("e", "p", "killed")
        os.kill(os.getpid(), signal.SIGKILL)
    """)], timeout=120)
    assert child.returncode == -9
    cat = Catalog(path)
    assert cat.get_run("e", "p", "killed").state == "running"
    cat.close()


def test_lock_timeout_restores_the_full_setting(tmp_path):
    path = str(tmp_path / "catalog.db")
    Catalog(path).close()
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sqlite3, time
        c = sqlite3.connect({path!r}, isolation_level=None)
        c.execute("BEGIN EXCLUSIVE")
        print("locked", flush=True)
        time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        cat = Catalog(path, timeout=0.3)
        with pytest.raises(CatalogLockedError):
            cat.create_run("e", "p", "r")
        assert _synchronous(cat) == 2
        cat.close()
    finally:
        holder.kill()
        holder.wait()
    assert not os.path.exists(path + "-journal")

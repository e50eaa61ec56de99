"""Issue 11, items 2 and 3: a download stopped by a full disk or SIGTERM never leaves a
partial file under its real name, and a parent directory that cannot be made is an
error naming it (only a real file in the way is skipped, as wandb does)."""

from __future__ import annotations

import os
import random
import signal
import sys
import time

import pytest

from .conftest import cli, put, tree, worker, write_files


def _complete_or_absent(root: str, files: dict[str, bytes]) -> None:
    """Every file under its final name is whole; only in-flight temp names may differ."""
    for rel, data in tree(root).items():
        if os.path.basename(rel).startswith(".artefact-tmp"):
            continue
        assert data == files[rel], f"{rel}: {len(data)} of {len(files[rel])} bytes under its final name"


def test_a_full_disk_leaves_no_partial_file_under_a_final_name(tmp_path, small_fs):
    """Item 2 (ENOSPC): 12 MiB of files into a 6 MiB tmpfs mounted by the test. The
    download fails with an error naming a file, and every file there is complete."""
    rng = random.Random(3)
    files = {f"f{i:02d}.bin": rng.randbytes(1 << 20) for i in range(12)}
    put(write_files(tmp_path / "src", files))
    root = os.path.join(small_fs, "root")
    p = cli("get", "ds:v0", "--root", root, check=False)
    assert p.returncode != 0, p.stdout
    assert "No space left on device" in p.stderr and root in p.stderr, p.stderr
    _complete_or_absent(root, files)
    assert not [f for f in os.listdir(root) if f.startswith(".artefact-tmp")], "temp files cleaned up"


def test_sigterm_mid_download_leaves_no_partial_file_under_a_final_name(tmp_path):
    """Item 2 (SIGTERM): the download is killed the moment the first file shows up in
    the root (other threads are mid-copy then); every file there is complete."""
    rng = random.Random(4)
    files = {f"d{i % 4}/f{i:02d}.bin": rng.randbytes(3 << 20) for i in range(48)}
    put(write_files(tmp_path / "src", files))
    cli("get", "ds:v0", "--root", str(tmp_path / "warm"))  # the cache is full: phase 3 only
    for attempt in range(3):
        root = str(tmp_path / f"root{attempt}")
        p = worker("get", "ds:v0", root)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and p.poll() is None:
            if os.path.isdir(root) and any(
                not f.startswith(".artefact-tmp") for _, _, fs in os.walk(root) for f in fs
            ):
                break
        p.send_signal(signal.SIGTERM)
        p.communicate(timeout=60)
        _complete_or_absent(root, files)


def test_a_root_that_is_a_file_is_an_error_naming_it(tmp_path):
    """Item 3: wandb would report the entries as skipped ("a file is in the way") and
    exit 0 with nothing downloaded."""
    put(write_files(tmp_path / "src", {"a/b.txt": b"b", "c.txt": b"c"}))
    root = tmp_path / "root"
    root.write_bytes(b"a file")
    p = cli("get", "ds:v0", "--root", str(root), check=False)
    assert p.returncode != 0 and str(root) in p.stderr, (p.stdout, p.stderr)
    assert root.read_bytes() == b"a file"


def test_a_directory_name_too_long_is_an_error_naming_it(tmp_path):
    """Item 3: a directory component over NAME_MAX cannot be made (ENAMETOOLONG)."""
    import artefact

    src = write_files(tmp_path / "src", {"x.txt": b"x"})
    long_dir = "d" * 300
    art = artefact.Artifact("ds", "dataset")
    art.add_file(os.path.join(src, "x.txt"), name=f"{long_dir}/x.txt")
    art.add_file(os.path.join(src, "x.txt"), name="ok.txt")
    with artefact.init(project="uncategorized") as run:
        run.log_artifact(art).wait()
    p = cli("get", "ds:v0", "--root", str(tmp_path / "root"), check=False)
    assert p.returncode != 0, (p.stdout, p.stderr)
    assert long_dir in p.stderr and "File name too long" in p.stderr, p.stderr


def test_a_read_only_parent_is_an_error_naming_it(tmp_path, readonly_fs):
    """Item 3: a root whose directories cannot be made (read-only) fails, naming it."""
    put(write_files(tmp_path / "src", {"sub/x.txt": b"x"}))
    p = cli("get", "ds:v0", "--root", readonly_fs, check=False)
    assert p.returncode != 0, (p.stdout, p.stderr)
    assert os.path.join(readonly_fs, "sub") in p.stderr, p.stderr


def test_only_a_real_file_in_the_way_is_skipped(tmp_path):
    """Item 3, the case wandb skips: a file where a directory of an entry should be is
    warned about and its entries skipped; the rest is placed and the exit status is 0."""
    put(write_files(tmp_path / "src", {"sub/x.txt": b"x", "y.txt": b"y"}))
    root = tmp_path / "root"
    root.mkdir()
    (root / "sub").write_bytes(b"in the way")
    p = cli("get", "ds:v0", "--root", str(root), check=False, env={**os.environ, "ARTEFACT_QUIET": ""})
    assert p.returncode == 0, p.stderr
    assert (root / "y.txt").read_bytes() == b"y" and (root / "sub").read_bytes() == b"in the way"
    assert "sub/x.txt" in p.stderr and "in the way" in p.stderr, p.stderr

"""Issue 11, items 6 and 7: no death by SIGBUS when a file shrinks while it is hashed,
FIFOs and devices in an `add_dir` tree refused instead of hanging, and Ctrl-C honoured
during long core calls."""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from .conftest import worker


def test_a_file_truncated_while_hashed_is_an_error_not_sigbus(tmp_path):
    """Item 6: a 4 GiB file is cut to 1 MiB 0.3 s into hashing it (mapped, 8 MiB at a
    time). wandb's mmap hashing dies by SIGBUS there; we raise an error naming the file."""
    path = tmp_path / "big.bin"
    with open(path, "wb") as f:
        f.truncate(4 << 30)  # sparse: seconds of hashing, so the cut always lands inside it
    p = worker("hash-truncated", str(path), str(1 << 20), "0.3")
    out, err = p.communicate(timeout=300)
    assert p.returncode >= 0, f"killed by signal {-p.returncode}: {err}"
    assert p.returncode == 1, (out, err)
    assert "truncated while it was being hashed" in err and str(path) in err, err


def _mkfifo(path) -> None:
    os.mkfifo(path)


@pytest.mark.parametrize("kind", ["fifo", "devzero"])
def test_fifos_and_device_links_in_add_dir_are_refused_promptly(tmp_path, kind):
    """Item 7: wandb 0.31.0's add_dir opens every file it walks (os.walk lists FIFOs and
    symlinks to devices as files) and hangs on a FIFO, or reads /dev/zero forever. We
    refuse with an error naming the file, before reading anything."""
    d = tmp_path / "tree"
    d.mkdir()
    (d / "ok.txt").write_bytes(b"ok")
    bad = d / "bad"
    if kind == "fifo":
        _mkfifo(bad)
    else:
        bad.symlink_to("/dev/zero")
    p = worker("add-dir", str(d))
    try:
        out, err = p.communicate(timeout=60)
    finally:
        p.kill()
    assert p.returncode == 1, (out, err)
    assert str(bad) in err and ("FIFO" in err or "character device" in err), err


def test_ctrl_c_stops_a_long_add_dir_promptly(tmp_path):
    """Item 7: SIGINT during add_dir of a 64 GiB sparse file (minutes of MD5) raises
    KeyboardInterrupt within seconds, not when the Rust call returns."""
    d = tmp_path / "tree"
    d.mkdir()
    with open(d / "sparse.bin", "wb") as f:
        f.truncate(64 << 30)
    p = worker("add-dir", str(d))
    assert p.stdout.readline().strip() == "started"
    time.sleep(1.5)  # well inside the hashing
    sent = time.monotonic()
    p.send_signal(signal.SIGINT)
    try:
        out, err = p.communicate(timeout=20)
    finally:
        p.kill()
    took = time.monotonic() - sent
    assert "KeyboardInterrupt" in err, (out, err)
    assert took < 20, took

"""The stderr progress line: drawn only when wanted, fed by core and Python counters."""

from __future__ import annotations

import time

from artefact import _core
from artefact.progress import ProgressLine, human_size


def test_text_counts_python_and_core_work(tmp_path):
    paths = []
    for i in range(3):
        p = tmp_path / f"f{i}"
        p.write_bytes(b"x" * 1000)
        paths.append(str(p))
    line = ProgressLine("Hashing", 5, 5000, enabled=False)
    _core.hash_files(paths, "MD5", line.core)
    line.advance(1, 1000)
    assert line.text() == "Hashing: 4/5 files, 4.0KB/5.0KB"
    assert ProgressLine("x", enabled=False).text() == "x: 0 files"


def test_draws_when_enabled_and_ends_the_line(capsys):
    with ProgressLine("Copying", 10, enabled=True, delay=0, interval=0.01) as line:
        line.advance(3)
        time.sleep(0.1)
    err = capsys.readouterr().err
    assert "Copying: 3/10 files" in err and err.endswith("\n")


def test_short_operations_and_quiet_mode_draw_nothing(capsys, monkeypatch):
    with ProgressLine("Fast", 1, enabled=True, delay=5):
        pass
    monkeypatch.setenv("ARTEFACT_QUIET", "true")
    with ProgressLine("Quiet", 1, delay=0, interval=0.01) as line:
        assert not line.enabled
        time.sleep(0.03)
    monkeypatch.delenv("ARTEFACT_QUIET")
    assert not ProgressLine("NoTTY").enabled  # pytest's stderr is not a terminal
    assert capsys.readouterr().err == ""


def test_human_size():
    assert (human_size(999), human_size(1000), human_size(12_345_678)) == ("999B", "1.0KB", "12.3MB")

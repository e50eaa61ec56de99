"""`artefact put` imports only what a put needs (issue 17: a re-put of an unchanged tree
is dominated by interpreter start-up and imports), while `artefact --help` still lists
every command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

# Modules of the other commands (ui, server, login) and what they pull in.
NOT_FOR_PUT = ("artefact.ui", "artefact.ui.serve", "artefact.server", "artefact.server.cli", "artefact.remote",
               "artefact.remote.login", "webbrowser", "http.server", "http.client", "urllib.request", "numpy",
               "requests", "wandb",
               # and what a put does not need either (issue 17's import floor): argparse's
               # parser for a plain put, the thread pool and URL parsing of the cache, the
               # decimal module of size settings, the login file's parser, gc and tables.
               "argparse", "concurrent.futures", "urllib.parse", "decimal", "configparser", "getpass",
               "artefact.store.gc", "artefact.store.verify", "artefact.table", "artefact.data_types")  # fmt: skip


def _env(tmp_path) -> dict[str, str]:
    env = dict(os.environ, ARTEFACT_STORE=str(tmp_path / "store"), ARTEFACT_DATA_DIR=str(tmp_path / "data"),
               ARTEFACT_CACHE_DIR=str(tmp_path / "cache"), ARTEFACT_CONFIG_DIR=str(tmp_path / "config"),
               ARTEFACT_QUIET="1")  # fmt: skip
    for k in ("ARTEFACT_BASE_URL", "WANDB_BASE_URL", "ARTEFACT_API_KEY", "WANDB_API_KEY"):
        env.pop(k, None)
    return env


def test_put_and_re_put_import_no_other_command(tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    for i in range(3):
        (tree / f"f{i}.txt").write_text(f"file {i}\n")
    script = (
        "import sys, json\n"
        "from artefact.cli import main\n"
        "code = main(sys.argv[1:])\n"
        "print(json.dumps([code, sorted(sys.modules)]))\n"
    )
    argv = ["-q", "put", str(tree), "--name", "ds", "--type", "dataset"]
    outs = []
    for policy in ("mutable", "immutable", "immutable"):  # the last one re-puts an unchanged tree
        proc = subprocess.run([sys.executable, "-c", script, *argv, "--policy", policy], env=_env(tmp_path),
                              capture_output=True, text=True, check=True)  # fmt: skip
        code, modules = json.loads(proc.stdout.strip().splitlines()[-1])
        assert code == 0, proc.stderr
        assert sorted(m for m in NOT_FOR_PUT if m in modules) == []
        outs.append(proc.stdout)
    # The put really logged: the same content dedupes to v0 each time.
    assert all("ds:v0" in o and "3 files" in o for o in outs), outs


def test_help_still_lists_every_command(tmp_path):
    out = subprocess.run([sys.executable, "-m", "artefact", "--help"], env=_env(tmp_path), capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    for command in ("put", "get", "ls", "versions", "verify", "cache", "gc", "ui", "server", "login"):
        assert command in out
    ui_help = subprocess.run([sys.executable, "-m", "artefact", "-q", "ui", "--help"], env=_env(tmp_path),
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert "usage: artefact ui" in ui_help


def test_plain_put_parses_as_argparse_does_and_leaves_the_rest_to_it():
    """The put fast path gives argparse's own result for spelled-out options, and
    returns None (argparse parses and reports) for anything else."""
    from artefact.cli import _parser, _plain_put

    same = [
        ["put", "d", "--name", "n", "--type", "t"],
        ["-q", "put", "--name=n", "d", "--type", "t", "--alias", "a", "--alias=b", "--tag", "x"],
        ["--quiet", "put", "d", "--name", "n", "--type", "t", "--policy", "immutable", "--description", "",
         "--project", "p", "--entity", "e"],
        ["put", "d", "--name=", "--type", "t"],
    ]
    for argv in same:
        fast = _plain_put(argv)
        assert fast is not None, argv
        assert vars(fast) == vars(_parser(argv).parse_args(argv)), argv
    others = [
        ["put", "d", "--nam", "n", "--type", "t"],  # an abbreviation
        ["put", "d", "--name", "n"],  # --type missing: argparse's usage error
        ["put", "d", "--name", "n", "--type", "t", "--policy", "bad"],
        ["put", "d", "e", "--name", "n", "--type", "t"],
        ["put", "--help"],
        ["put", "d", "--name", "-x", "--type", "t"],
        ["put", "--", "d", "--name", "n", "--type", "t"],
        ["get", "x"],
        [],
    ]
    for argv in others:
        assert _plain_put(argv) is None, argv


def test_put_process_ends_as_a_normal_exit_would_leave_things(tmp_path):
    """`artefact put` as a process skips the interpreter's teardown (cli._exit_now), but
    leaves what a normal exit leaves: its output, the catalog closed (no WAL left), the
    stat cache flushed (the re-put then reads no file), and a store that verifies."""
    tree = tmp_path / "tree"
    tree.mkdir()
    for i in range(5):
        (tree / f"f{i}.bin").write_bytes(os.urandom(500))
    # The stat cache trusts no file changed within its racy margin (50 ms) of being hashed:
    # let the files age past it, so the first put has entries to flush.
    time.sleep(0.3)
    env = _env(tmp_path)
    argv = [sys.executable, "-m", "artefact", "-q", "put", str(tree), "--name", "ds", "--type", "dataset"]
    first = subprocess.run(argv, env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert "ds:v0  5 files" in first.stdout
    assert not (tmp_path / "store" / "catalog.db-wal").exists()
    assert (tmp_path / "cache" / "statcache.bin").exists(), "the exit handlers ran"
    for f in tree.iterdir():
        f.chmod(0)  # unreadable: a re-put that read any file would fail
    try:
        again = subprocess.run(argv, env=env, capture_output=True, text=True)
    finally:
        for f in tree.iterdir():
            f.chmod(0o644)
    # (Run as root, the files stay readable and this only checks the re-put logs.)
    assert again.returncode == 0, again.stderr
    assert "ds:v0  5 files" in again.stdout
    verify = subprocess.run([sys.executable, "-m", "artefact", "-q", "verify", "--store"], env=env,
                            capture_output=True, text=True)  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr

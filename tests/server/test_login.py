"""`artefact login` checks the key against the server, saves URL, key and entity in a
0600 settings file, and a later process with no ARTEFACT_*/WANDB_* server variables
talks to that server through it; a bad key is refused and nothing is saved."""

from __future__ import annotations

import configparser
import os
import stat
import subprocess
import sys

from ._server import ServerProcess


def _cli(env, *args):
    return subprocess.run([sys.executable, "-m", "artefact", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def test_login_saves_and_later_processes_use_it(tmp_path):
    srv = ServerProcess(str(tmp_path / "c.db"), str(tmp_path / "blobs"))
    try:
        key = srv.make_key("acme", "writer", "p")
        env = {k: v for k, v in os.environ.items()
               if k not in ("ARTEFACT_BASE_URL", "WANDB_BASE_URL", "ARTEFACT_API_KEY", "WANDB_API_KEY",
                            "ARTEFACT_ENTITY", "WANDB_ENTITY")}
        env["ARTEFACT_CONFIG_DIR"] = str(tmp_path / "config")
        env["ARTEFACT_HTTP_RETRY_SECONDS"] = "3"
        bad = _cli(env, "login", "ak_0123456789abcdef_" + "x" * 43, "--host", srv.url)
        assert bad.returncode == 1 and "not valid" in bad.stderr
        assert not (tmp_path / "config" / "settings").exists()
        ok = _cli(env, "login", key, "--host", srv.url)
        assert ok.returncode == 0, ok.stderr
        path = tmp_path / "config" / "settings"
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        saved = configparser.ConfigParser()
        saved.read(path)
        assert dict(saved["default"]) == {"base_url": srv.url, "api_key": key, "entity": "acme"}
        verify = _cli(env, "login", "--verify")
        assert verify.returncode == 0 and "writer in acme/p" in verify.stdout, verify.stderr
        data = tmp_path / "data.txt"
        data.write_text("hello\n")
        put = _cli(env, "--quiet", "put", str(data), "--name", "ds", "--type", "dataset", "--project", "p")
        assert put.returncode == 0, put.stderr
        assert os.path.isdir(os.path.join(srv.blobs, "objects", "obj")), "the bytes went to the server"
        listing = _cli(env, "versions", "ds", "--project", "p")
        assert listing.returncode == 0 and listing.stdout.startswith("v0\t"), listing.stderr
    finally:
        srv.stop()

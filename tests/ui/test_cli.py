"""`artefact ui` as a user runs it: a real process serving the store on 127.0.0.1,
read-only unless `--allow-writes`, answering only loopback Host names."""

from __future__ import annotations

import http.cookiejar
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager

import pytest

from . import _store
from ._browser import click_and_load, no_script_ran, shot, wait_for

P = f"/p/{_store.ENTITY}/{_store.PROJECT}"


@contextmanager
def artefact_ui(store_root: str, *args: str):
    """Run `artefact ui --port 0` on the store; yields its URL."""
    env = dict(os.environ, ARTEFACT_STORE=store_root, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "artefact", "ui", "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert found, f"no URL in {line!r}; stderr: {proc.stderr.read() if proc.poll() is not None else ''}"
        yield found.group(0).rstrip("/")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _post_alias(opener, url: str, path: str) -> int:
    with opener.open(url + path) as r:
        page = r.read().decode()
    csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0] if 'name="csrf"' in page else ""
    if not csrf:
        jar_csrf = [c.value for c in opener.jar if c.name == "artefact_csrf"]
        csrf = jar_csrf[0]
    try:
        with opener.open(url + path + "/aliases", data=f"csrf={csrf}&op=add&alias=cli-moved".encode()) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def _opener():
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.jar = jar
    return opener


def _metrics_aliases(root) -> dict:
    from artefact.store import LocalStore

    with LocalStore.open(root) as store:
        return {r.version_index: sorted(r.aliases) for r in store.list_versions(_store.ENTITY, _store.PROJECT, "metrics")}


def test_artefact_ui_serves_the_store_read_only(store_root, chrome):
    before = _metrics_aliases(store_root["root"])  # (another test may move aliases on this shared store)
    with artefact_ui(store_root["root"]) as url:
        chrome.get(url + "/")
        wait_for(chrome, "#projects")
        assert chrome.find_element("id", "principal").text == "local · reader"
        click_and_load(chrome, chrome.find_element("link text", "vision"))
        wait_for(chrome, "#types")
        chrome.get(url + P + "/c/digits/v0")
        assert not chrome.find_elements("id", "alias-form")
        no_script_ran(chrome)
        shot(chrome, "cli-read-only")
        assert _post_alias(_opener(), url, P + "/c/metrics/v2") == 403
        # Only loopback names are answered (a DNS-rebinding page cannot read the store).
        req = urllib.request.Request(url + "/", headers={"Host": "evil.example"})
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req)
        assert e.value.code == 400
    assert _metrics_aliases(store_root["root"]) == before  # the refused POST changed nothing


def test_artefact_ui_allow_writes(store_root):
    with artefact_ui(store_root["root"], "--allow-writes") as url:
        assert _post_alias(_opener(), url, P + "/c/metrics/v2") == 200  # 303 followed to the page
    from artefact.store import LocalStore

    with LocalStore.open(store_root["root"]) as store:
        record = store.get_version(_store.ENTITY, _store.PROJECT, "metrics:cli-moved")
    assert record.version_index == 2


def test_artefact_ui_bad_port_is_named(store_root):
    env = dict(os.environ, ARTEFACT_STORE=store_root["root"], ARTEFACT_UI_PORT="eighty")
    out = subprocess.run([sys.executable, "-m", "artefact", "ui"], capture_output=True, text=True, env=env,
                         timeout=60)
    assert out.returncode == 1
    assert "ARTEFACT_UI_PORT must be a port number, got 'eighty'" in out.stderr


def test_artefact_ui_busy_port_is_named(store_root):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        env = dict(os.environ, ARTEFACT_STORE=store_root["root"])
        start = time.monotonic()
        out = subprocess.run([sys.executable, "-m", "artefact", "ui", "--port", str(port)],
                             capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 1, out.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in out.stderr
    assert time.monotonic() - start < 60

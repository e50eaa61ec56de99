"""Fixtures of the UI tests: a store made through the SDK, the UI served by uvicorn on a
free loopback port (with a real API-key table as its auth hook), and Debian's headless
Chromium driven by Selenium. Screenshots go to `$ARTEFACT_TEST_ARTIFACTS` (default
`tmp/test-artifacts/ui` in the checkout)."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pytest

from . import _store

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def artifacts_dir() -> Path:
    root = os.environ.get("ARTEFACT_TEST_ARTIFACTS")
    base = Path(root) if root else Path(__file__).resolve().parents[2] / "tmp" / "test-artifacts"
    out = base / "ui"
    out.mkdir(parents=True, exist_ok=True)
    return out


@dataclass
class KeyTable:
    """API keys as a server keeps them: key -> principal, and revoked keys."""

    keys: dict = field(default_factory=dict)
    revoked: set = field(default_factory=set)
    calls: int = 0

    def authenticate(self, api_key: str) -> Optional[object]:
        """The auth hook handed to create_app."""
        self.calls += 1
        if api_key in self.revoked:
            return None
        return self.keys.get(api_key)


@dataclass
class Served:
    url: str
    store: object
    keys: Optional[KeyTable]
    server: object
    thread: threading.Thread


@pytest.fixture(scope="session")
def store_root(tmp_path_factory):
    """The test store, built once through the SDK."""
    base = tmp_path_factory.mktemp("ui-store")
    env = {"ARTEFACT_STORE": str(base / "store"), "ARTEFACT_CACHE_DIR": str(base / "cache"),
           "ARTEFACT_DATA_DIR": str(base / "data"), "ARTEFACT_ARTIFACT_DIR": str(base / "artifacts"),
           "ARTEFACT_ENTITY": _store.ENTITY, "ARTEFACT_QUIET": "1"}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        facts = _store.build(base)
    from artefact.store import LocalStore

    LocalStore.shared(env["ARTEFACT_STORE"]).close()
    return {"root": env["ARTEFACT_STORE"], **facts}


def serve(app) -> tuple[str, object, threading.Thread]:
    """Run `app` under uvicorn on 127.0.0.1:<free port> in a thread."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    return f"http://127.0.0.1:{sock.getsockname()[1]}", server, thread


@pytest.fixture(scope="session")
def keyed(store_root):
    """The UI with API keys, as `artefact server` mounts it: a reader, a writer, and a
    key that is revoked from the start."""
    from artefact.store import LocalStore
    from artefact.ui import Principal, create_app

    keys = KeyTable(keys={
        "reader-key": Principal("rita", "reader"),
        "writer-key": Principal("walt", "writer"),
        "old-key": Principal("olga", "writer"),
    }, revoked={"old-key"})
    store = LocalStore.open(store_root["root"])
    url, server, thread = serve(create_app(store, auth=keys.authenticate))
    yield Served(url, store, keys, server, thread)
    server.should_exit = True
    thread.join(10)
    store.close()


@pytest.fixture(scope="session")
def chrome():
    """One headless Chromium for the session (Debian's, via its chromedriver)."""
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.fail("chromium and chromedriver are missing: run scripts/install-chromium.sh")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,1000", "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture
def browser(chrome, keyed):
    """The browser with no session (cookies of the UI cleared before each test)."""
    chrome.get(keyed.url + "/login")
    chrome.delete_all_cookies()
    return chrome

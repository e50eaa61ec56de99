"""API-key checks are cached per server process for `ARTEFACT_SERVER_KEY_CACHE_SECONDS`
(server/keys.py, KeyCache): a revocation through the same process takes effect at once,
one made elsewhere (the CLI, another server process) within the window. Real server
processes on each catalog engine."""

from __future__ import annotations

import time

import requests

from ._server import ServerProcess, cli


def _whoami(server: ServerProcess, key: str) -> int:
    return requests.get(server.url + "/api/v1/whoami", headers={"Authorization": f"Bearer {key}"}, timeout=30).status_code


def test_revocation_takes_effect_at_once_here_and_within_the_window_elsewhere(catalog_location, tmp_path, monkeypatch):
    window = 3.0
    monkeypatch.setenv("ARTEFACT_SERVER_KEY_CACHE_SECONDS", str(window))
    blobs = str(tmp_path / "blobs")
    one = ServerProcess(catalog_location, blobs)
    two = ServerProcess(catalog_location, blobs)
    try:
        admin = one.make_key("acme", "admin")
        here, elsewhere = one.make_key("acme", "writer"), one.make_key("acme", "writer")
        for key in (here, elsewhere):  # both now cached by both processes
            assert _whoami(one, key) == 200 and _whoami(two, key) == 200
        # Revoked through server one: server one refuses it at once.
        r = requests.delete(f"{one.url}/api/v1/keys/{here.split('_')[1]}",
                            headers={"Authorization": f"Bearer {admin}"}, timeout=30)
        assert r.status_code == 200, r.text
        assert _whoami(one, here) == 401
        # Revoked by the CLI (straight into the catalog): refused once the window has passed.
        cli("server", "keys", "revoke", "--catalog", catalog_location, "--blobs", blobs, elsewhere.split("_")[1])
        revoked_at = time.monotonic()  # both processes cached it before this
        while True:
            sent = time.monotonic()
            if _whoami(two, elsewhere) == 401:
                break
            assert sent < revoked_at + window, "a revoked key was still accepted after the cache window"
            time.sleep(0.2)
        assert _whoami(one, elsewhere) == 401 and _whoami(two, here) == 401
        # A wrong secret for a cached key id never hits the cache.
        forged = admin[: -4] + ("AAAA" if not admin.endswith("AAAA") else "BBBB")
        assert _whoami(one, forged) == 401
        assert _whoami(one, admin) == 200
    finally:
        one.stop()
        two.stop()

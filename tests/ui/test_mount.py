"""The app mounted inside another Starlette app under a prefix, as `artefact server` will
mount it: every link, form, cookie and redirect stays under the prefix."""

from __future__ import annotations

import http.cookiejar
import re
import urllib.request

from . import _store
from .conftest import KeyTable, serve


def test_mounted_under_a_prefix(store_root):
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Mount, Route

    from artefact.store import LocalStore
    from artefact.ui import Principal, create_app

    keys = KeyTable(keys={"k": Principal("wendy", "writer")})
    with LocalStore.open(store_root["root"]) as store:
        outer = Starlette(routes=[Route("/api/health", lambda r: PlainTextResponse("ok")),
                                  Mount("/ui", app=create_app(store, auth=keys.authenticate))])
        url, server, thread = serve(outer)
        try:
            jar = http.cookiejar.CookieJar()
            opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
            page = f"/ui/p/{_store.ENTITY}/{_store.PROJECT}/c/digits/v0"
            with opener.open(url + page) as r:  # redirected to the login page under /ui
                assert r.url.startswith(url + "/ui/login?next=")
                login = r.read().decode()
            csrf = re.search(r'name="csrf" value="([^"]+)"', login).group(1)
            body = f"csrf={csrf}&api_key=k&next={page}".encode()
            with opener.open(url + "/ui/login", data=body) as r:
                assert r.url == url + page
                html = r.read().decode()
            assert all(c.path == "/ui" for c in jar)
            links = re.findall(r'(?:href|src|action|data-src)="([^"]+)"', html)
            local = [link for link in links if not link.startswith("https://")]  # the description links out
            assert local and all(link.startswith("/ui/") for link in local), local
            with opener.open(url + "/ui/static/ui.js") as r:
                assert r.status == 200
            with opener.open(url + "/api/health") as r:
                assert r.read() == b"ok"
        finally:
            server.should_exit = True
            thread.join(10)

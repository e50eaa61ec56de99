"""Hostile content is shown as text: names, aliases, descriptions, metadata, run names and
file contents holding HTML and script are escaped, no script runs, Markdown is
sanitised, and previews never reach outside the version."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from urllib.parse import quote

from selenium.webdriver.common.by import By

from . import _store
from ._browser import login, no_script_ran, shot, wait_for

H = f"/p/{_store.ENTITY}/{_store.PROJECT}/c/hostile/v0"


def test_hostile_version_page_shows_text_and_runs_nothing(browser, keyed):
    login(browser, keyed.url, "writer-key")  # a writer sees the most markup (alias forms)
    browser.get(keyed.url + H)
    wait_for(browser, "#facts")
    no_script_ran(browser)
    assert _store.HOSTILE_IMG in browser.find_element(By.ID, "aliases").text
    description = browser.find_element(By.ID, "description")
    assert _store.HOSTILE in description.text and _store.HOSTILE_IMG in description.text
    assert description.find_elements(By.TAG_NAME, "h1")  # Markdown still rendered
    assert not description.find_elements(By.CSS_SELECTOR, "a[href^='javascript'], img, script")
    metadata = browser.find_element(By.ID, "metadata").text
    assert _store.HOSTILE in metadata and _store.HOSTILE_IMG in metadata
    assert _store.HOSTILE_IMG in browser.find_element(By.ID, "logged-by").text
    shot(browser, "hostile-version")
    # The hostile directory name, opened lazily, and its file.
    summary = browser.find_element(By.CSS_SELECTOR, "#tree details summary")
    summary.click()
    link = wait_for(browser, "#tree details a[data-path]")
    assert link.text == "script>.txt"
    no_script_ran(browser)


def test_hostile_files_preview_as_text(browser, keyed):
    login(browser, keyed.url, "reader-key")
    cases = {
        f"{_store.HOSTILE}.txt": _store.HOSTILE,
        "page.html": _store.HOSTILE_IMG,
        "data.json": _store.HOSTILE,
        "icon.svg": "<script>window.__pwned = 3</script>",
    }
    for path, visible in cases.items():
        browser.get(keyed.url + f"{H}/file?path={quote(path, safe='')}")
        preview = wait_for(browser, "#preview")
        assert preview.get_attribute("data-kind") in ("text", "json")
        assert visible in preview.text
        no_script_ran(browser)
    browser.get(keyed.url + f"{H}/file?path=evil.table.json")
    table = wait_for(browser, "#table-preview")
    assert _store.HOSTILE in table.text and _store.HOSTILE_IMG in table.text
    assert "image (not in this version): ../../../../etc/passwd.png" in table.text
    assert not table.find_elements(By.TAG_NAME, "img")
    no_script_ran(browser)
    shot(browser, "hostile-table")


def test_raw_endpoint_never_renders_active_content(keyed):
    """The raw bytes of HTML/SVG are attachments under a sandboxing CSP; images are inline."""
    opener = _session(keyed, "reader-key")
    for path in ("page.html", "icon.svg"):
        with opener.open(f"{keyed.url}{H}/raw?path={quote(path, safe='')}") as r:
            assert r.headers["content-type"] == "application/octet-stream"
            assert r.headers["content-disposition"].startswith("attachment")
            assert "sandbox" in r.headers["content-security-policy"]
            assert r.headers["x-content-type-options"] == "nosniff"
    digits = f"/p/{_store.ENTITY}/{_store.PROJECT}/c/digits/v0"
    with opener.open(f"{keyed.url}{digits}/raw?path=media/images/red.png") as r:
        assert r.headers["content-type"] == "image/png"
        assert r.read().startswith(b"\x89PNG")


def test_previews_never_leave_the_version(keyed):
    opener = _session(keyed, "reader-key")
    hostname = open("/etc/hostname").read().strip()
    for endpoint in ("file", "raw"):
        for path in ("../../catalog.db", "/etc/passwd", "../../../../../etc/passwd", "catalog.db",
                     "%2e%2e/catalog.db", "outside/../../catalog.db"):
            try:
                opener.open(f"{keyed.url}{H}/{endpoint}?path={quote(path, safe='')}")
                raise AssertionError(f"{endpoint} served {path!r}")
            except urllib.error.HTTPError as e:
                assert e.code == 404, (endpoint, path, e.code)
                assert "no file" in e.read().decode()
    # A file:// reference in the manifest is shown as its URI, never read.
    with opener.open(f"{keyed.url}{H}/file?path=outside/hostname") as r:
        page = r.read().decode()
    assert "file:///etc/hostname" in page
    assert 'data-kind="reference"' in page
    if len(hostname) >= 6:  # a short hostname could appear by chance
        assert hostname not in page.replace("file:///etc/hostname", "")
    try:
        opener.open(f"{keyed.url}{H}/raw?path=outside/hostname")
        raise AssertionError("raw served a reference")
    except urllib.error.HTTPError as e:
        assert e.code == 400


def test_pages_carry_a_strict_content_security_policy(keyed):
    opener = _session(keyed, "reader-key")
    with opener.open(f"{keyed.url}{H}") as r:
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert r.headers["x-frame-options"] == "DENY"


def test_cross_origin_post_is_refused(keyed):
    """A page elsewhere posting to the UI (even with the cookies) is refused by origin."""
    opener, csrf = _session(keyed, "writer-key", with_csrf=True)
    body = f"csrf={csrf}&op=add&alias=evil".encode()
    for origin in ("http://evil.example", "null", keyed.url.replace("127.0.0.1", "localhost")):
        req = urllib.request.Request(f"{keyed.url}/p/{_store.ENTITY}/{_store.PROJECT}/c/metrics/v3/aliases",
                                     data=body, headers={"Origin": origin})
        try:
            opener.open(req)
            raise AssertionError(f"cross-origin POST from {origin} accepted")
        except urllib.error.HTTPError as e:
            assert e.code == 403
    names = {a for r in keyed.store.list_versions(_store.ENTITY, _store.PROJECT, "metrics") for a in r.aliases}
    assert "evil" not in names


def test_login_never_redirects_to_another_site(keyed):
    """`next` after login stays on this site, whatever tricks it carries."""
    import http.cookiejar

    for target in ("//evil.example/", "/\\evil.example", "/\t/evil.example", "/\n/evil.example",
                   "https://evil.example/", "javascript:alert(1)"):
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect())
        with opener.open(f"{keyed.url}/login") as r:
            csrf = r.read().decode().split('name="csrf" value="', 1)[1].split('"', 1)[0]
        body = urllib.parse.urlencode({"csrf": csrf, "api_key": "reader-key", "next": target}).encode()
        try:
            opener.open(f"{keyed.url}/login", data=body)
            raise AssertionError("login did not redirect")
        except urllib.error.HTTPError as e:
            assert e.code == 303 and e.headers["location"] == "/", (target, e.headers["location"])


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003
        return None


def _session(keyed, key: str, with_csrf: bool = False):
    """An HTTP client logged in with `key` (cookies kept), as a browser would be."""
    import http.cookiejar

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(f"{keyed.url}/login") as r:
        page = r.read().decode()
    csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    login = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect())
    try:
        login.open(f"{keyed.url}/login", data=f"csrf={csrf}&api_key={key}&next=/".encode())
    except urllib.error.HTTPError as e:
        assert e.code == 303, e.code
    assert any(c.name == "artefact_session" for c in jar)
    return (opener, csrf) if with_csrf else opener

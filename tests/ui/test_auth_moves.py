"""Logins with API keys, and alias and tag moves from the page: a writer moves, a reader
is refused, a revoked key cannot log in (and loses a session it already had)."""

from __future__ import annotations

from selenium.webdriver.common.by import By

from . import _store
from ._browser import click_and_load, login, shot, wait_for

P = f"/p/{_store.ENTITY}/{_store.PROJECT}"


def _aliases(store, name: str) -> dict[str, int]:
    """alias -> version index of the collection, read through the store's public API."""
    return {a: r.version_index for r in store.list_versions(_store.ENTITY, _store.PROJECT, name) for a in r.aliases}


def _move(browser, alias: str) -> None:
    field = browser.find_element(By.ID, "alias-input")
    field.clear()
    field.send_keys(alias)
    click_and_load(browser, browser.find_element(By.ID, "alias-move"))


def test_writer_moves_an_alias_and_a_tag(browser, keyed):
    login(browser, keyed.url, "writer-key")
    assert browser.find_element(By.ID, "principal").text == "walt · writer"
    browser.get(keyed.url + f"{P}/c/metrics/v5")
    _move(browser, "chosen")
    wait_for(browser, "#aliases")
    assert "chosen" in browser.find_element(By.ID, "aliases").text
    assert _aliases(keyed.store, "metrics")["chosen"] == 5
    shot(browser, "alias-moved")
    # Moving it to v7 takes it off v5 in the same transaction, as Artifact.save() does.
    browser.get(keyed.url + f"{P}/c/metrics/v7")
    _move(browser, "chosen")
    wait_for(browser, "#aliases")
    assert _aliases(keyed.store, "metrics")["chosen"] == 7
    browser.get(keyed.url + f"{P}/c/metrics/v5")
    assert "chosen" not in browser.find_element(By.ID, "aliases").text
    # The alias URL now leads to v7.
    browser.get(keyed.url + f"{P}/c/metrics/chosen")
    assert browser.current_url.endswith("/c/metrics/v7")
    # Removing it.
    click_and_load(browser, browser.find_element(By.CSS_SELECTOR, "button[title='remove alias chosen']"))
    wait_for(browser, "#aliases")
    assert "chosen" not in _aliases(keyed.store, "metrics")
    # Tags: add, then remove.
    browser.get(keyed.url + f"{P}/c/metrics/v7")
    browser.find_element(By.ID, "tag-input").send_keys("reviewed ok")
    click_and_load(browser, browser.find_element(By.ID, "tag-add"))
    wait_for(browser, "#tags")
    record = keyed.store.get_version(_store.ENTITY, _store.PROJECT, "metrics:v7")
    assert record.tags == ("reviewed ok",)
    click_and_load(browser, browser.find_element(By.CSS_SELECTOR, "button[title='remove tag reviewed ok']"))
    wait_for(browser, "#tags")
    assert keyed.store.get_version(_store.ENTITY, _store.PROJECT, "metrics:v7").tags == ()


def test_invalid_alias_and_tag_get_the_sdks_errors_and_change_nothing(browser, keyed):
    login(browser, keyed.url, "writer-key")
    before = _aliases(keyed.store, "metrics")
    for alias, message in (("a/b", "Aliases must not contain any of the following characters"),
                           ("v3", "'v3' is a version index")):
        browser.get(keyed.url + f"{P}/c/metrics/v2")
        _move(browser, alias)
        error = wait_for(browser, "#error").text
        assert message in error
    browser.get(keyed.url + f"{P}/c/metrics/v2")
    browser.find_element(By.ID, "tag-input").send_keys("bad/tag")
    click_and_load(browser, browser.find_element(By.ID, "tag-add"))
    assert "Invalid tag(s)" in wait_for(browser, "#error").text
    shot(browser, "alias-refused-invalid")
    assert _aliases(keyed.store, "metrics") == before
    assert keyed.store.get_version(_store.ENTITY, _store.PROJECT, "metrics:v2").tags == ()


def test_reader_sees_no_forms_and_a_forged_move_is_refused(browser, keyed):
    login(browser, keyed.url, "reader-key")
    browser.get(keyed.url + f"{P}/c/digits/v0")
    assert browser.find_element(By.ID, "principal").text == "rita · reader"
    assert not browser.find_elements(By.ID, "alias-form")
    assert not browser.find_elements(By.ID, "tag-form")
    before = _aliases(keyed.store, "digits")
    # The reader posts the form a writer would see, with a valid session and CSRF cookie.
    status = browser.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        const csrf = document.querySelector("input[name=csrf]").value;
        fetch(location.pathname + "/aliases", {method: "POST", body: new URLSearchParams({csrf, op: "add", alias: "best"}),
              redirect: "manual"}).then(r => done(r.status), e => done(String(e)));
        """
    )
    assert status == 403
    # And through the browser's own navigation, so the refusal page is seen.
    browser.execute_script(
        """
        const f = document.createElement("form");
        f.method = "post"; f.action = location.pathname + "/aliases";
        for (const [k, v] of Object.entries({csrf: document.querySelector("input[name=csrf]").value, op: "add", alias: "best"})) {
          const i = document.createElement("input"); i.type = "hidden"; i.name = k; i.value = v; f.appendChild(i);
        }
        document.body.appendChild(f); f.submit();
        """
    )
    assert "only writers can move aliases and tags" in wait_for(browser, "#error").text
    shot(browser, "alias-refused-reader")
    assert _aliases(keyed.store, "digits") == before


def test_post_without_the_csrf_token_is_refused(browser, keyed):
    login(browser, keyed.url, "writer-key")
    browser.get(keyed.url + f"{P}/c/metrics/v1")
    status = browser.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        fetch(location.pathname + "/aliases", {method: "POST", body: new URLSearchParams({csrf: "guess", op: "add", alias: "x"}),
              redirect: "manual"}).then(r => done(r.status), e => done(String(e)));
        """
    )
    assert status == 403
    assert "x" not in _aliases(keyed.store, "metrics")


def test_login_with_a_revoked_key_is_refused(browser, keyed):
    login(browser, keyed.url, "old-key")
    assert "/login" in browser.current_url
    assert "refused" in wait_for(browser, "#login-error").text
    shot(browser, "login-revoked")
    login(browser, keyed.url, "no-such-key")
    assert "refused" in wait_for(browser, "#login-error").text
    browser.get(keyed.url + f"{P}/c/digits/v0")
    assert "/login" in browser.current_url


def test_revoking_a_key_ends_its_session(browser, keyed):
    keyed.keys.keys["temp-key"] = _principal("tess", "writer")
    try:
        login(browser, keyed.url, "temp-key", next_path=f"{P}/c/digits/v0")
        assert browser.current_url.endswith(f"{P}/c/digits/v0")
        keyed.keys.revoked.add("temp-key")
        browser.get(keyed.url + f"{P}/c/digits/v1")
        wait_for(browser, "#login-form")
        assert "/login?next=" in browser.current_url
    finally:
        keyed.keys.keys.pop("temp-key")


def test_logout(browser, keyed):
    login(browser, keyed.url, "reader-key")
    click_and_load(browser, browser.find_element(By.ID, "logout"))
    wait_for(browser, "#login-form")
    browser.get(keyed.url + "/")
    assert "/login" in browser.current_url


def test_hook_may_return_any_object_with_a_role(browser, keyed):
    """The server's own user records work as principals (duck-typed: `.role`, `.name`)."""
    class Account:
        def __init__(self, name: str, role: str) -> None:
            self.name, self.role = name, role

    keyed.keys.keys["duck-key"] = Account("dora", "admin")
    keyed.keys.keys["odd-key"] = Account("oscar", "superuser")  # an unknown role is refused
    try:
        login(browser, keyed.url, "duck-key")
        assert browser.find_element(By.ID, "principal").text == "dora · admin"
        browser.delete_all_cookies()
        login(browser, keyed.url, "odd-key")
        assert "refused" in wait_for(browser, "#login-error").text
    finally:
        keyed.keys.keys.pop("duck-key")
        keyed.keys.keys.pop("odd-key")


def _principal(name: str, role: str):
    from artefact.ui import Principal

    return Principal(name, role)

"""The web pages inside a real `artefact server` process, behind its own API keys.

The store is filled through the SDK pointed at the server (remote backend, admin key);
keys are made and revoked with `artefact server keys`; the browser is Debian's headless
Chromium. What is proven: a reader sees the pages and cannot move an alias; a writer
moves one; a revoked key is refused at login and in a session already open; a key of
another project (or entity) sees nothing of this one; the pages run on a PostgreSQL
catalog as on SQLite.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Iterator

import pytest
import requests
from selenium.webdriver.common.by import By

from server._server import ServerProcess, cli  # tests/server: real server processes

from ._browser import click_and_load, login, shot, wait_for

ENTITY, PROJECT, SECRET = "acme", "vision", "secret"
P = f"/p/{ENTITY}/{PROJECT}"

# Logged through the SDK against the server (the same code path as any team member's).
_FILL = r"""
import json, os, sys, tempfile
import artefact as wandb

def log(run, name, type, files, aliases, description=""):
    root = tempfile.mkdtemp()
    for rel, text in files.items():
        os.makedirs(os.path.dirname(os.path.join(root, rel)) or root, exist_ok=True)
        with open(os.path.join(root, rel), "w") as f:
            f.write(text)
    art = wandb.Artifact(name, type, description=description, metadata={"files": len(files)})
    art.add_dir(root)
    run.log_artifact(art, aliases=aliases).wait()

with wandb.init(project="vision", job_type="prepare") as run:
    for i in range(3):
        files = {"README.md": f"# digits v{i}\n", "data/train.csv": "id,label\n" + f"{i},7\n",
                 "data/info.json": json.dumps({"version": i})}
        if i == 2:
            files["data/extra.txt"] = "added in v2\n"
        log(run, "digits", "dataset", files, ["production"] if i == 1 else [],
            description=f"**digits** version {i}")
with wandb.init(project="secret", job_type="train") as run:
    log(run, "hidden-model", "model", {"weights.txt": "top secret\n"}, ["best"])
    # Lineage and a registry link from the secret project onto vision's digits:v1.
    used = run.use_artifact("vision/digits:v1")
    run.link_artifact(used, "secret/digits-registry", aliases=["staging"])
"""


def _fill(server: ServerProcess, tmp) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "ARTEFACT_"))}
    env.update({"ARTEFACT_BASE_URL": server.url, "ARTEFACT_API_KEY": server.make_key(ENTITY, "admin"),
                "ARTEFACT_ENTITY": ENTITY, "ARTEFACT_QUIET": "1", "ARTEFACT_CACHE_DIR": str(tmp / "cache"),
                "ARTEFACT_DATA_DIR": str(tmp / "data"), "ARTEFACT_ARTIFACT_DIR": str(tmp / "artifacts"),
                "WANDB_MODE": "offline"})
    done = subprocess.run([sys.executable, "-c", _FILL], env=env, capture_output=True, text=True, timeout=300,
                          cwd=str(tmp))
    assert done.returncode == 0, done.stderr[-3000:]


def _start(catalog: str, tmp) -> ServerProcess:
    os.makedirs(tmp / "server", exist_ok=True)
    server = ServerProcess(catalog, str(tmp / "server" / "blobs"))
    try:
        _fill(server, tmp)
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture(scope="module")
def team(tmp_path_factory) -> Iterator[ServerProcess]:
    """A server on a SQLite catalog with two projects of entity `acme`."""
    tmp = tmp_path_factory.mktemp("ui-server")
    server = _start(str(tmp / "server-catalog.db"), tmp)
    yield server
    server.stop()


@pytest.fixture
def web(chrome):
    """The shared browser with no cookies of an earlier test."""
    chrome.delete_all_cookies()
    return chrome


def _aliases(server: ServerProcess, project: str, name: str) -> dict[str, int]:
    """alias -> version index, asked of the server's API with a fresh admin key."""
    key = server.make_key(ENTITY, "admin")
    answer = requests.post(f"{server.url}/api/v1/store/list_versions", timeout=30,
                           headers={"Authorization": f"Bearer {key}"},
                           json={"entity": ENTITY, "project": project, "name": name})
    assert answer.status_code == 200, answer.text
    return {a: v["version_index"] for v in answer.json()["result"] for a in v["aliases"]}


def _key_id(key: str) -> str:
    return key.split("_")[1]


def _post_alias(web, alias: str) -> int:
    """POST an alias move from the current version page with the session's own CSRF token
    (as a page a writer sees would); the HTTP status, or "redirect" (to the login page)."""
    return web.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        const input = document.querySelector("input[name=csrf]");
        fetch(location.pathname + "/aliases", {method: "POST", redirect: "manual",
              body: new URLSearchParams({csrf: input ? input.value : "", op: "add", alias: arguments[0]})})
          .then(r => done(r.type === "opaqueredirect" ? "redirect" : r.status), e => done(String(e)));
        """,
        alias,
    )


def test_the_api_still_answers_beside_the_pages(team):
    assert requests.get(team.url + "/healthz", timeout=10).json()["ok"] is True
    refused = requests.get(team.url + "/api/v1/whoami", timeout=10)
    assert refused.status_code == 401 and refused.json()["error"]["type"] == "PermissionError"
    # The API's own paths stay a JSON API: a wrong method is 405, an unknown path a JSON 404.
    wrong = requests.get(team.url + "/api/v1/commit", timeout=10)
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"
    assert wrong.json()["error"]["type"] == "MethodNotAllowed"
    assert requests.delete(team.url + "/healthz", timeout=10).status_code == 405
    unknown = requests.get(team.url + "/api/v1/nothing-here", timeout=10)
    assert unknown.status_code == 404 and unknown.json()["error"]["message"] == "no API route GET /api/v1/nothing-here"
    # Pages without a session go to the login page, keeping where they were going.
    page = requests.get(team.url + P, timeout=10, allow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == f"/login?next=%2Fp%2F{ENTITY}%2F{PROJECT}"
    assert "script-src 'self'" in requests.get(team.url + "/login", timeout=10).headers["content-security-policy"]


def test_reader_sees_the_pages_and_cannot_move_an_alias(web, team):
    key = team.make_key(ENTITY, "reader", PROJECT)
    login(web, team.url, key)
    assert web.find_element(By.ID, "principal").text == f"{ENTITY}/{PROJECT} key {_key_id(key)[:6]} · reader"
    projects = wait_for(web, "#projects").text
    assert PROJECT in projects and SECRET not in projects
    shot(web, "server-projects-reader")
    click_and_load(web, web.find_element(By.LINK_TEXT, PROJECT))
    click_and_load(web, web.find_element(By.LINK_TEXT, "dataset"))
    click_and_load(web, web.find_element(By.LINK_TEXT, "digits"))
    assert web.current_url.endswith(f"{P}/c/digits")
    shot(web, "server-versions")
    web.get(team.url + f"{P}/c/digits/production")
    assert web.current_url.endswith(f"{P}/c/digits/v1")
    assert "digits version 1" in wait_for(web, "#description").text
    assert not web.find_elements(By.ID, "alias-form")
    # A run of the secret project used it and linked it into a registry there: neither is named.
    assert SECRET not in web.page_source and "digits-registry" not in web.page_source
    assert web.find_element(By.ID, "lineage").find_elements(By.TAG_NAME, "text")  # the version itself
    shot(web, "server-version-reader")
    before = _aliases(team, PROJECT, "digits")
    assert _post_alias(web, "production") == 403
    web.get(team.url + f"{P}/c/digits/v2/file?path=data/extra.txt")
    assert "added in v2" in web.page_source
    assert _aliases(team, PROJECT, "digits") == before == {"production": 1, "latest": 2}


def test_writer_moves_an_alias(web, team):
    key = team.make_key(ENTITY, "writer", PROJECT)
    login(web, team.url, key, next_path=f"{P}/c/digits/v0")
    assert web.current_url.endswith(f"{P}/c/digits/v0")
    field = wait_for(web, "#alias-input")
    field.send_keys("production")
    click_and_load(web, web.find_element(By.ID, "alias-move"))
    assert "production" in wait_for(web, "#aliases").text
    shot(web, "server-alias-moved")
    # One move: the alias left v1 as it landed on v0, as the SDK's Artifact.save() moves it.
    assert _aliases(team, PROJECT, "digits") == {"production": 0, "latest": 2}
    web.get(team.url + f"{P}/c/digits/v1")
    assert "production" not in web.find_element(By.ID, "aliases").text
    # Put it back through the page, for the other tests.
    web.find_element(By.ID, "alias-input").send_keys("production")
    click_and_load(web, web.find_element(By.ID, "alias-move"))
    assert _aliases(team, PROJECT, "digits") == {"production": 1, "latest": 2}


def test_revoked_key_is_refused_at_login_and_mid_session(web, team):
    key = team.make_key(ENTITY, "writer", PROJECT)
    login(web, team.url, key, next_path=f"{P}/c/digits/v0")
    assert web.current_url.endswith(f"{P}/c/digits/v0")
    assert web.find_elements(By.ID, "alias-form")
    cli("server", "keys", "revoke", _key_id(key), "--catalog", team.catalog, "--blobs", team.blobs)
    # The session is ended by the next request: no page, no move.
    assert _post_alias(web, "revoked-move") == "redirect"  # to the login page, nothing moved
    assert "revoked-move" not in _aliases(team, PROJECT, "digits")
    web.get(team.url + f"{P}/c/digits/v1")
    wait_for(web, "#login-form")
    assert "/login?next=" in web.current_url
    # And the key cannot log in again.
    login(web, team.url, key)
    assert "refused" in wait_for(web, "#login-error").text
    shot(web, "server-login-revoked")
    web.get(team.url + "/")
    assert "/login" in web.current_url


@pytest.mark.parametrize("grant", [(ENTITY, SECRET), ("globex", None)], ids=["other-project", "other-entity"])
def test_a_key_of_another_project_sees_nothing_of_this_one(web, team, grant):
    entity, project = grant
    key = team.make_key(entity, "writer", project)
    login(web, team.url, key)
    listed = web.find_elements(By.ID, "projects")
    if project is None:
        assert not listed  # the entity globex has no projects here
    else:
        text = listed[0].text
        assert SECRET in text and PROJECT not in text
    shot(web, f"server-projects-{'-'.join(filter(None, grant))}")
    for path in (P, f"{P}/t/dataset", f"{P}/c/digits", f"{P}/c/digits/v1", f"{P}/c/digits/production",
                 f"{P}/c/digits/v1/file?path=README.md", f"{P}/c/digits/v1/raw?path=README.md",
                 f"{P}/c/digits/v1/tree?dir=data", f"{P}/diff/digits?a=v0&b=v2", f"{P}/c/nonexistent"):
        web.get(team.url + path)
        error = wait_for(web, "#error").text
        assert f"no project {ENTITY}/{PROJECT} is open to this API key" in error, path
        assert "README" not in web.page_source and "digits version" not in web.page_source
        if path == P:
            shot(web, f"server-not-granted-{'-'.join(filter(None, grant))}")
    # An alias move forged with its own valid session and token is refused the same way.
    web.get(team.url + "/")
    token = web.find_element(By.CSS_SELECTOR, "input[name=csrf]").get_attribute("value")
    status = web.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        fetch(arguments[0], {method: "POST", redirect: "manual",
              body: new URLSearchParams({csrf: arguments[1], op: "add", alias: "stolen"})})
          .then(r => done(r.status), e => done(String(e)));
        """,
        f"{P}/c/digits/v1/aliases", token,
    )
    assert status == 404
    assert "stolen" not in _aliases(team, PROJECT, "digits")


def test_pages_on_a_postgresql_catalog(web, tmp_path):
    """reads.py's SQL (projects, collection totals, a page of versions) and the version
    pages, over the PostgreSQL dialect layer."""
    from server._postgres import PostgresCluster

    cluster = PostgresCluster()
    try:
        server = _start(cluster.new_database(), tmp_path)
        try:
            key = server.make_key(ENTITY, "writer")  # every project of the entity
            login(web, server.url, key)
            projects = wait_for(web, "#projects").text
            assert PROJECT in projects and SECRET in projects
            shot(web, "server-pg-projects")
            web.get(server.url + f"{P}/t/dataset")
            row = wait_for(web, "#collections").text
            assert "digits" in row and "3" in row and "production" in row
            shot(web, "server-pg-collections")
            web.get(server.url + f"{P}/c/digits")
            assert len(web.find_elements(By.CSS_SELECTOR, "#versions tbody tr")) == 3
            shot(web, "server-pg-versions")
            web.get(server.url + f"{P}/c/digits/v2")
            wait_for(web, "#version-title")
            assert web.find_element(By.CSS_SELECTOR, "#description strong").text == "digits"  # Markdown
            shot(web, "server-pg-version")
            web.get(server.url + f"{P}/diff/digits?a=v0&b=v2")
            assert wait_for(web, "#diff-files tr.added").text.startswith("added data/extra.txt")
            shot(web, "server-pg-diff")
            web.get(server.url + f"{P}/c/digits/v2")
            web.find_element(By.ID, "alias-input").send_keys("production")
            click_and_load(web, web.find_element(By.ID, "alias-move"))
            assert _aliases(server, PROJECT, "digits") == {"production": 2, "latest": 2}
            # This key reads both projects: the lineage and the registry link are shown.
            web.get(server.url + f"{P}/c/digits/v1")
            assert SECRET in web.find_element(By.CSS_SELECTOR, "a.used-by").get_attribute("href")
            assert "digits-registry" in web.find_element(By.ID, "registry").text
            shot(web, "server-pg-version-lineage")
            web.get(server.url + f"/p/{ENTITY}/{SECRET}/c/hidden-model/best")
            assert "top secret" not in web.page_source  # the version page lists files, no content
            assert "weights.txt" in web.page_source
        finally:
            server.stop()
    finally:
        cluster.destroy()

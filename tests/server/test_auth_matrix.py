"""Auth: every API route × {no key, malformed, revoked, reader, writer, admin, a key of
another project}, against a real server on each catalog engine. Refused calls get 401
(no usable key) or 403 (no role there) and change nothing; allowed calls are not refused.
Signed byte URLs: tampered, expired, used with another method, or replayed: refused."""

from __future__ import annotations

import os
import time

import pytest
import requests

import artefact as wandb

from ._server import ServerProcess

READ = {"reader", "writer", "admin"}
WRITE = {"writer", "admin"}
ADMIN = {"admin"}
IDENTITIES = ("none", "malformed", "revoked", "reader", "writer", "admin", "other")


def _headers(keys: dict, who: str) -> dict:
    if who == "none":
        return {}
    if who == "malformed":
        return {"Authorization": "Bearer ak_zz_not-a-key"}
    return {"Authorization": f"Bearer {keys[who]}"}


def _call(server: ServerProcess, keys: dict, who: str, method: str, path: str, body=None, data=None):
    return requests.request(method, server.url + path, json=body, data=data, headers=_headers(keys, who), timeout=60)


def _snapshot(server: ServerProcess, keys: dict) -> list:
    """Everything a write could change, read with the admin key."""
    def post(_method, **args):
        r = _call(server, keys, "admin", "POST", f"/api/v1/store/{_method}", args)
        assert r.status_code == 200, r.text
        return r.json()["result"]

    snap = []
    for coll in post("list_collections", entity="acme", project="p"):
        versions = post("list_versions", entity="acme", project="p", name=coll["name"])
        snap.append((coll["name"], coll["tags"], coll["description"],
                     [(v["version_index"], v["aliases"], v["tags"], v["description"], v["state"]) for v in versions]))
    runs = post("list_runs", entity="acme", project="p")
    snap.append([(r["run_id"], r["state"], r["config"], r["summary"]) for r in runs])
    snap.append(post("history", run=runs[0]))
    keys_now = _call(server, keys, "admin", "GET", "/api/v1/keys").json()["keys"]
    snap.append([(k["key_id"], k["revoked_at"]) for k in keys_now])
    snap.append(server.stored_objects())  # object files, or bucket keys with S3 blobs
    return snap


@pytest.fixture
def world(server, tmp_path, monkeypatch):
    keys = {"reader": server.make_key("acme", "reader", "p"), "writer": server.make_key("acme", "writer", "p"),
            "admin": server.make_key("acme", "admin"), "other": server.make_key("acme", "writer", "q"),
            "revoked": server.make_key("acme", "writer", "p")}
    revoked_id = keys["revoked"].split("_")[1]
    r = requests.delete(f"{server.url}/api/v1/keys/{revoked_id}", headers=_headers(keys, "admin"), timeout=30)
    assert r.status_code == 200, r.text
    monkeypatch.setenv("ARTEFACT_BASE_URL", server.url)
    monkeypatch.setenv("ARTEFACT_API_KEY", keys["admin"])
    monkeypatch.setenv("ARTEFACT_ENTITY", "acme")
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("alpha\n")
    (src / "big.bin").write_bytes(os.urandom(2 << 20))
    with wandb.init(project="p", id="run1") as run:
        for name in ("ds", "doomed"):
            art = wandb.Artifact(name, "dataset")
            art.add_dir(str(src))
            run.log_artifact(art).wait()
        for name in ("gone1", "gone2", "gone3"):  # a collection each allowed delete can take
            art = wandb.Artifact(name, "dataset")
            art.add_file(str(src / "a.txt"))
            run.log_artifact(art).wait()
        run.log({"loss": 1.0})
    ds = wandb.Api().artifact("acme/p/ds:v0")
    ds.link("acme/p/reg", aliases=["prod"])

    def post(_method, **args):
        r = _call(server, keys, "admin", "POST", f"/api/v1/store/{_method}", args)
        assert r.status_code == 200, r.text
        return r.json()["result"]

    record = post("get_version", entity="acme", project="p", name="ds:v0")
    link = post("get_version", entity="acme", project="p", name="reg:v0")
    doomed = post("get_version", entity="acme", project="p", name="doomed:v0")
    gone = [post("get_collection", entity="acme", project="p", name=f"gone{i}") for i in (1, 2, 3)]
    runrec = post("get_run", entity="acme", project="p", run_id="run1")
    manifest = post("load_manifest", record=record)["manifest"]
    small = [e for e in ds.manifest.entries.values() if e.path == "a.txt"][0]
    return dict(keys=keys, record=record, link=link, doomed=doomed, gone=gone, run=runrec, manifest=manifest,
                small=small, src=src)


def _routes(w: dict) -> list:
    """(name, method, path, body, allowed identities) for every API route."""
    rec, run, ep = w["record"], w["run"], {"entity": "acme", "project": "p"}
    blob = [["MD5", w["small"].digest]]
    store = lambda _m, allowed, **args: (_m, "POST", f"/api/v1/store/{_m}", args, allowed)  # noqa: E731
    gone_iter = iter(w["gone"])
    return [
        ("whoami", "GET", "/api/v1/whoami", None, READ | {"other"}),
        store("get_version", READ, **ep, name="ds:latest"),
        store("list_versions", READ, **ep, name="ds"),
        store("version_page", READ, **ep, name="ds", offset=0, limit=2),
        store("collection_page", READ, **ep, limit=5),
        store("get_collection", READ, **ep, name="ds"),
        store("list_collections", READ, **ep),
        store("list_types", READ, **ep),
        store("project_exists", READ, **ep),
        store("get_run", READ, **ep, run_id="run1"),
        store("list_runs", READ, **ep),
        store("version_by_id", READ, artifact_id=rec["id"]),
        store("refresh", READ, record=rec),
        store("load_manifest", READ, record=rec),
        store("links_of", READ, record=rec),
        store("logged_by", READ, record=rec),
        store("used_by", READ, record=rec),
        store("logged_versions", READ, run=run),
        store("used_versions", READ, run=run),
        store("lineage_page", READ, run=run, mode="logged", limit=3),
        store("history", READ, run=run),
        ("locate", "POST", "/api/v1/blobs/locate", {"record": rec, "blobs": blob}, READ),
        ("fetch", "POST", "/api/v1/blobs/fetch", {"record": rec, "blobs": blob}, READ),
        store("update_version", WRITE, record=rec, changes={"description": "edited", "add_tags": ["t1"]}),
        store("link", WRITE, record=rec, **ep, portfolio="reg2", aliases=["x"]),
        store("unlink", WRITE, record=w["link"]),
        store("delete_version", WRITE, record=w["doomed"], delete_aliases=True),
        store("update_collection", WRITE, collection=w["gone"][0], changes={"description": "d"}),
        store("delete_collection", WRITE, collection=next(gone_iter)),
        store("create_run", WRITE, **ep, run_id="run2", fields={"resume": True}),
        store("finish_run", WRITE, run=run, exit_code=0),
        store("log_row", WRITE, run=run, step=5, row={"x": 1}),
        store("set_config", WRITE, run=run, config={"lr": 0.1}),
        store("set_summary", WRITE, run=run, summary={"acc": 1}),
        store("record_use", WRITE, run=run, record=rec, used_as="input"),
        ("lacking", "POST", "/api/v1/blobs/lacking", {**ep, "blobs": [["MD5", "1B2M2Y8AsgTpgAmY7PhCfg==", 0]]}, WRITE),
        ("commit", "POST", "/api/v1/commit", {**ep, "name": "ds", "type": "dataset", "manifest": w["manifest"],
                                               "aliases": ["auth"]}, WRITE),
        ("patches", "POST", "/api/v1/patches", {**ep, "name": "ds", "distributed_id": "d", "manifest": w["manifest"]}, WRITE),
        ("patches-list", "POST", "/api/v1/patches/list", {**ep, "name": "ds", "distributed_id": "d"}, WRITE),
        ("patches-clear", "POST", "/api/v1/patches/clear", {**ep, "name": "ds", "distributed_id": "d"}, WRITE),
        ("batch", "POST", "/api/v1/blobs/batch?entity=acme&project=p", b"MD5 1B2M2Y8AsgTpgAmY7PhCfg== 0\n", WRITE),
        ("keys-list", "GET", "/api/v1/keys?entity=acme", None, ADMIN),
        ("keys-create", "POST", "/api/v1/keys", {"entity": "acme", "project": "p", "role": "reader"}, ADMIN),
    ]


def test_every_route_allows_exactly_its_roles(server, world):
    keys = world["keys"]
    unknown = _call(server, keys, "admin", "POST", "/api/v1/store/no_such_method", {})
    assert unknown.status_code == 400 and "no store method" in unknown.text
    for name, method, path, body, allowed in _routes(world):
        refused = [who for who in IDENTITIES if who not in allowed]
        before = _snapshot(server, keys)
        for who in refused:
            kwargs = {"data": body} if isinstance(body, bytes) else {"body": body}
            r = _call(server, keys, who, method, path, **kwargs)
            expected = 401 if who in ("none", "malformed", "revoked") else 403
            assert r.status_code == expected, (name, who, r.status_code, r.text)
            assert r.json()["error"]["message"], (name, who)
        assert _snapshot(server, keys) == before, f"a refused {name} changed something"
        for who in sorted(allowed, key=["reader", "writer", "admin", "other"].index):
            kwargs = {"data": body} if isinstance(body, bytes) else {"body": body}
            r = _call(server, keys, who, method, path, **kwargs)
            assert r.status_code not in (401, 403), (name, who, r.status_code, r.text)
            if who == sorted(allowed, key=["reader", "writer", "admin", "other"].index)[0]:
                assert r.status_code < 300, (name, who, r.status_code, r.text)


def test_key_revoke_route_is_admin_only(server, world):
    keys = world["keys"]
    target = server.make_key("acme", "reader", "p").split("_")[1]
    for who in ("none", "malformed", "revoked", "reader", "writer", "other"):
        r = _call(server, keys, who, "DELETE", f"/api/v1/keys/{target}")
        assert r.status_code in (401, 403), (who, r.status_code)
    listed = {k["key_id"]: k for k in _call(server, keys, "admin", "GET", "/api/v1/keys").json()["keys"]}
    assert listed[target]["revoked_at"] is None
    assert _call(server, keys, "admin", "DELETE", f"/api/v1/keys/{target}").status_code == 200
    listed = {k["key_id"]: k for k in _call(server, keys, "admin", "GET", "/api/v1/keys").json()["keys"]}
    assert listed[target]["revoked_at"] is not None
    assert all("secret" not in str(k).lower() or "secret_hash" not in k for k in listed.values())


def test_signed_byte_urls_are_bound_and_refused_when_tampered_or_replayed(server, world):
    keys = world["keys"]
    big = [e for e in wandb.Api().artifact("acme/p/ds:v0").manifest.entries.values() if e.path == "big.bin"][0]
    r = _call(server, keys, "reader", "POST", "/api/v1/blobs/locate",
              {"record": world["record"], "blobs": [["MD5", big.digest]]})
    assert r.status_code == 200, r.text
    url = r.json()["urls"][0][2]
    got = requests.get(url, timeout=60)
    assert got.status_code == 200 and len(got.content) == 2 << 20
    assert requests.get(url.split("?")[0], timeout=30).status_code == 403  # unsigned
    tampered = url.replace("&n=0", "&n=1")
    assert tampered != url  # a tamper that changes nothing would pass by accident
    assert requests.get(tampered, timeout=30).status_code == 403
    sig_pos = url.index("&s=") + 3
    flipped = url[:sig_pos] + ("A" if url[sig_pos] != "A" else "B") + url[sig_pos + 1:]
    assert requests.get(flipped, timeout=30).status_code == 403
    other_blob = url.replace(url.split("/blobs/md5/")[1].split("?")[0], "0" * 32)
    assert requests.get(other_blob, timeout=30).status_code == 403
    assert requests.put(url, data=b"x", timeout=30).status_code == 403  # signed for GET, not PUT
    # a PUT URL is create-only: once its blob is stored, a replay is refused and writes nothing
    payload = os.urandom(3000)
    import base64
    import hashlib

    digest = base64.b64encode(hashlib.md5(payload).digest()).decode()
    lack = _call(server, keys, "writer", "POST", "/api/v1/blobs/lacking",
                 {"entity": "acme", "project": "p", "blobs": [["MD5", digest, len(payload)]]}).json()["lacking"]
    put_url = lack[0][2]
    assert requests.put(put_url, data=payload[:-1] + bytes([payload[-1] ^ 1]), timeout=30).status_code == 400  # wrong content
    assert requests.put(put_url, data=payload, timeout=30).status_code == 201
    assert requests.put(put_url, data=payload, timeout=30).status_code == 409
    assert requests.get(put_url, timeout=30).status_code == 403  # signed for PUT, not GET


def test_expired_byte_urls_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("ARTEFACT_SERVER_URL_TTL", "1")
    srv = ServerProcess(str(tmp_path / "c.db"), str(tmp_path / "blobs"))
    try:
        key = srv.make_key("acme", "writer")
        lack = requests.post(srv.url + "/api/v1/blobs/lacking", headers={"Authorization": f"Bearer {key}"}, timeout=30,
                             json={"entity": "acme", "project": "p", "blobs": [["MD5", "1B2M2Y8AsgTpgAmY7PhCfg==", 0]]})
        url = lack.json()["lacking"][0][2]
        time.sleep(2.2)
        r = requests.put(url, data=b"", timeout=30)
        assert r.status_code == 403 and "expired" in r.json()["error"]["message"]
    finally:
        srv.stop()

"""Small manifests live in the catalog (`catalog_manifests`, written in the commit's own
transaction: no file, no fsyncs), larger ones stay files; every place that reads a
manifest finds both: the SDK's download through another server process, a re-log
through a process whose manifest cache is cold, and the `load_manifest` call. Real server processes on SQLite and PostgreSQL catalogs."""

from __future__ import annotations

import hashlib
import os

import pytest
import requests

import artefact as wandb

from ._server import ServerProcess


def _manifest_files(root: str) -> list[str]:
    top = os.path.join(root, "manifests")
    return [f for d, _, fs in os.walk(top) if os.path.basename(d) != "tmp" for f in fs]


def _rows(catalog: str) -> int:
    sql = "SELECT COUNT(*) FROM catalog_manifests"
    if catalog.startswith("postgres"):
        import psycopg

        with psycopg.connect(catalog) as conn:
            return conn.execute(sql).fetchone()[0]
    import sqlite3

    conn = sqlite3.connect(catalog)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


@pytest.mark.parametrize("files", [3, 1500], ids=["small", "large"])
def test_manifests_in_rows_and_files_read_back_everywhere(catalog_location, tmp_path, monkeypatch, files):
    blobs = str(tmp_path / "blobs")
    a = ServerProcess(catalog_location, blobs)
    b = ServerProcess(catalog_location, blobs)
    try:
        key = a.make_key("tester", "writer")
        monkeypatch.setenv("ARTEFACT_API_KEY", key)
        monkeypatch.setenv("ARTEFACT_ENTITY", "tester")
        monkeypatch.setenv("ARTEFACT_BASE_URL", a.url)
        src = tmp_path / "src"
        src.mkdir()
        for i in range(files):
            (src / f"f{i:05d}.txt").write_text(f"file {i}\n")
        with wandb.init(project="rows") as run:
            art = wandb.Artifact("ds", "dataset")
            art.add_dir(str(src))
            run.log_artifact(art).wait()
        small = files < 100
        assert (_rows(catalog_location), len(_manifest_files(blobs))) == ((1, 0) if small else (0, 1))
        # another process, with a cold manifest cache: the re-log and the download
        monkeypatch.setenv("ARTEFACT_BASE_URL", b.url)
        (src / "f00000.txt").write_text("changed\n")
        with wandb.init(project="rows") as run:
            art = wandb.Artifact("ds", "dataset")
            art.add_dir(str(src))
            run.log_artifact(art).wait()
        assert art.version == "v1"
        monkeypatch.setenv("ARTEFACT_CACHE_DIR", str(tmp_path / "cache-b"))
        api = wandb.Api(overrides={"project": "rows"})
        for alias, first in (("v0", "file 0\n"), ("v1", "changed\n")):
            got = api.artifact(f"ds:{alias}")
            root = got.download(str(tmp_path / f"out-{alias}"))
            got.verify(root)
            assert open(os.path.join(root, "f00000.txt")).read() == first
            assert len(got.manifest.entries) == files
        record = requests.post(f"{b.url}/api/v1/store/get_version", timeout=60,
                               headers={"Authorization": f"Bearer {key}"},
                               json={"entity": "tester", "project": "rows", "name": "ds:v0"}).json()["result"]
        answer = requests.post(f"{b.url}/api/v1/store/load_manifest", timeout=60,
                               headers={"Authorization": f"Bearer {key}"}, json={"record": record})
        assert answer.status_code == 200, answer.text
        text = answer.json()["result"]["manifest"]
        assert hashlib.md5(text.encode()).hexdigest() == record["manifest_key"] and '"f00000.txt"' in text
    finally:
        a.stop()
        b.stop()

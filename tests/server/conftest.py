"""Fixtures of the team tier: one throwaway PostgreSQL cluster per test session, a
fresh database per test, and `artefact server` processes on loopback.

The `server` fixture runs each test on a SQLite catalog, a PostgreSQL catalog, and (in
the modules of S3_MODULES) on PostgreSQL with its blobs in S3 (`--blobs s3://...` on
moto's server, a fresh versioned bucket per test)."""

from __future__ import annotations

import os
from typing import Iterator

import pytest

from ._postgres import PostgresCluster
from ._s3 import MotoS3
from ._server import ServerProcess

# The key files that also run with S3 blobs (others: local-dir blobs only).
S3_MODULES = {"test_auth_matrix", "test_two_machines", "test_faults", "test_round_trips", "test_present_download"}
# Tests of the server's own byte URLs and files, which S3 blobs replace: moto checks no
# signatures (test_s3_signatures.py checks the presigned URLs on s3s-fs instead).
# Others count batch requests or corrupt files of the local directory; test_s3_*.py has
# their S3 counterparts.
S3_LOCAL_ONLY = {"test_signed_byte_urls_are_bound_and_refused_when_tampered_or_replayed",
                 "test_blob_corrupted_on_the_server_is_caught_and_never_placed",
                 "test_a_version_whose_blobs_the_server_holds_is_one_call[s3-lacking-first]"}


def pytest_collection_modifyitems(config, items):
    """Keep the `s3` case of `server` only in S3_MODULES and the test_s3_* files."""
    keep, drop = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        module = item.module.__name__.rsplit(".", 1)[-1] if item.module else ""
        if params.get("server") == "s3" and (module not in S3_MODULES and not module.startswith("test_s3")
                                             or {item.originalname, item.name} & S3_LOCAL_ONLY):
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory) -> Iterator[MotoS3]:
    """One moto S3 server on 127.0.0.1 for the session."""
    endpoint = MotoS3(str(tmp_path_factory.mktemp("moto") / "moto.log"))
    try:
        yield endpoint
    finally:
        endpoint.stop()


@pytest.fixture
def s3_blobs(moto_s3) -> Iterator[tuple]:
    """While active, every ServerProcess keeps its blobs in a fresh versioned bucket."""
    ServerProcess.s3 = (moto_s3, moto_s3.new_bucket())
    try:
        yield ServerProcess.s3
    finally:
        ServerProcess.s3 = None


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def pg_url(pg_cluster) -> str:
    """The URL of a fresh, empty PostgreSQL database."""
    return pg_cluster.new_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_location(request, tmp_path) -> str:
    """A catalog location for each engine: a SQLite file, or a PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "catalog.db")
    return request.getfixturevalue("pg_url")


@pytest.fixture(params=["sqlite", "postgresql", "s3"])
def server(request, tmp_path) -> Iterator[ServerProcess]:
    """A running `artefact server` on each catalog engine (local-dir blobs), and on
    PostgreSQL with S3 blobs."""
    if request.param == "s3":
        request.getfixturevalue("s3_blobs")
    catalog = str(tmp_path / "server" / "catalog.db") if request.param == "sqlite" else request.getfixturevalue("pg_url")
    os.makedirs(tmp_path / "server", exist_ok=True)
    proc = ServerProcess(catalog, str(tmp_path / "server" / "blobs"))
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def remote(server, monkeypatch) -> ServerProcess:
    """The SDK pointed at `server` with a writer key for entity `tester` (all projects)."""
    monkeypatch.setenv("ARTEFACT_BASE_URL", server.url)
    monkeypatch.setenv("ARTEFACT_API_KEY", server.make_key("tester", "writer"))
    monkeypatch.setenv("ARTEFACT_ENTITY", "tester")
    return server

"""Fixtures of the team tier: one throwaway PostgreSQL cluster per test session, a
fresh database per test, and `artefact server` processes on loopback."""

from __future__ import annotations

import os
from typing import Iterator

import pytest

from ._postgres import PostgresCluster
from ._server import ServerProcess


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


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request, tmp_path) -> Iterator[ServerProcess]:
    """A running `artefact server` on each catalog engine (local-dir blobs)."""
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

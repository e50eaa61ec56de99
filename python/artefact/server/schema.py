"""The server's own tables, appended to the catalog's migrations (one schema, both
engines): API keys, which project holds which blob, and settings every server process
shares (the URL-signing secret), so that any number of stateless processes agree."""

from __future__ import annotations

from ..store.migrations import MIGRATIONS, Step

SERVER_V1: Step = (
    """CREATE TABLE api_keys (
        id INTEGER PRIMARY KEY,
        key_id TEXT NOT NULL UNIQUE,
        secret_hash TEXT NOT NULL,
        entity TEXT NOT NULL,
        project TEXT,
        role TEXT NOT NULL CHECK (role IN ('reader', 'writer', 'admin')),
        description TEXT,
        created_at REAL NOT NULL,
        revoked_at REAL)""",
    # Content a project may name in a manifest: uploaded to it, or committed in it. Keyed
    # by project so that knowing another tenant's MD5 never grants its bytes.
    """CREATE TABLE project_blobs (
        project_id INTEGER NOT NULL REFERENCES projects(id),
        algorithm TEXT NOT NULL,
        digest TEXT NOT NULL,
        size INTEGER NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (project_id, algorithm, digest))""",
    """CREATE TABLE server_settings (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL)""",
    # Parts of distributed artifacts (upsert_artifact) waiting for finish_artifact.
    """CREATE TABLE pending_patches (
        project_id INTEGER NOT NULL REFERENCES projects(id),
        collection TEXT NOT NULL,
        distributed_id TEXT NOT NULL,
        manifest_key TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (project_id, collection, distributed_id, manifest_key))""",
)

# Commits lock only their collection (protocol.py): the database itself refuses two
# committed versions of one collection with the same content, as dedupe promises.
SERVER_V2: Step = (
    """CREATE UNIQUE INDEX versions_one_committed_digest ON versions (collection_id, digest_algorithm, digest)
        WHERE state = 'COMMITTED'""",
)

# Small blobs in S3 travel many to one object, a pack (s3_packs.py): where each blob
# sits. Written only once its pack is durable in the bucket; the project_blobs row
# (what a project may name) follows. First location wins: packs are immutable.
SERVER_V3_PACKS: Step = (
    """CREATE TABLE packed_blobs (
        project_id INTEGER NOT NULL REFERENCES projects(id),
        algorithm TEXT NOT NULL,
        digest TEXT NOT NULL,
        pack_key TEXT NOT NULL,
        pack_size INTEGER NOT NULL,
        byte_offset INTEGER NOT NULL,
        byte_length INTEGER NOT NULL,
        PRIMARY KEY (project_id, algorithm, digest))""",
)

# Small manifests live in the catalog, written in their commit's transaction (state.py:
# no file write and two fsyncs fewer per commit); larger ones stay files under their key.
SERVER_V4_COMMITS: Step = (
    """CREATE TABLE catalog_manifests (
        manifest_key TEXT PRIMARY KEY,
        body TEXT NOT NULL)""",
    # Blobs uploaded straight to an object store that no commit has claimed yet
    # (pending.py): a commit turns them into project_blobs, the janitor deletes them
    # after ARTEFACT_SERVER_PENDING_TTL (marking them `deleting` with its sweep's token first).
    """CREATE TABLE pending_uploads (
        project_id INTEGER NOT NULL REFERENCES projects(id),
        algorithm TEXT NOT NULL,
        digest TEXT NOT NULL,
        size INTEGER NOT NULL,
        issued_at REAL NOT NULL,
        deleting INTEGER NOT NULL DEFAULT 0,
        marked_at REAL,
        PRIMARY KEY (project_id, algorithm, digest))""",
    "CREATE INDEX pending_uploads_by_age ON pending_uploads (issued_at)",
)

SERVER_MIGRATIONS = [*MIGRATIONS, SERVER_V1, SERVER_V2, SERVER_V3_PACKS, SERVER_V4_COMMITS]

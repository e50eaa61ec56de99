"""What one server process holds: the catalog, the blob directory, the URL signer.

Nothing here is kept between requests that another process would need: the catalog is
the database, blobs are files, the signing secret lives in the catalog. So any number of
processes can serve one database behind a load balancer.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

from .. import _core, config
from ..store.blobs import BlobStore
from ..store.catalog import Catalog
from ..store.errors import CorruptBlobError, MissingBlobError
from ..store.local import LocalStore
from ..store.postgres import is_postgres_url
from ..store.records import VersionRecord
from .schema import SERVER_MIGRATIONS
from .blob_store import open_blobs
from .signer import DEFAULT_TTL, Signer, load_secret

if TYPE_CHECKING:
    from typing import Union

    # A manifest's distinct (algorithm, digest) keys: a core `BlobKeys` for one this
    # process committed, a frozenset for one read back (both answer `in`).
    BlobSet = Union[frozenset[tuple[str, str]], _core.BlobKeys]

__all__ = ["ServerConfig", "ServerState", "ServerStore", "default_data_dir"]


def default_data_dir() -> str:
    """`$ARTEFACT_SERVER_DIR`, else `<user data dir>/artefact/server`."""
    return os.environ.get("ARTEFACT_SERVER_DIR") or os.path.join(config.user_data_dir(), "server")


@dataclass
class ServerConfig:
    """The server's settings (each has an `ARTEFACT_SERVER_*` variable; see cli.py)."""

    catalog: str = ""  # SQLite path or postgresql:// URL; default <data dir>/catalog.db
    blobs: str = ""  # a local directory (default <data dir>/blobs) or s3://bucket/prefix
    public_url: str = "http://127.0.0.1:8080"
    url_ttl: int = DEFAULT_TTL
    max_json_bytes: int = 256 * 2**20
    max_batch_bytes: int = 256 * 2**20
    fsync: bool = True  # blobs fsynced before the catalog records them (power-loss safe)

    def resolved(self) -> "ServerConfig":
        data = default_data_dir()
        catalog = self.catalog or os.path.join(data, "catalog.db")
        blobs = self.blobs or os.path.join(data, "blobs")
        if blobs.startswith("file://"):
            blobs = blobs[len("file://"):]
        if "://" in blobs and not blobs.startswith("s3://"):
            raise ValueError(f"--blobs {blobs!r}: expected a local directory or s3://bucket/prefix")
        if not is_postgres_url(catalog) and "://" in catalog:
            raise ValueError(f"--catalog {catalog!r}: expected a SQLite file path or a postgresql:// URL")
        return ServerConfig(catalog, blobs if blobs.startswith("s3://") else os.path.abspath(blobs),
                            self.public_url, self.url_ttl, self.max_json_bytes, self.max_batch_bytes, self.fsync)

    def local_root(self) -> str:
        """The local directory of blobs and manifests (with S3 blobs, manifests and
        temp files only: <data dir>/blobs)."""
        if self.blobs.startswith("s3://"):
            return os.path.join(default_data_dir(), "blobs")
        return self.blobs


ROW_MANIFEST_BYTES = 64 * 1024  # manifests up to this size live in their catalog row


class ServerStore(LocalStore):
    """The embedded store's logic over the server's catalog (either engine) and blobs.

    A small manifest (most commits: a few files) is kept in the catalog (`catalog_manifests`,
    written in the commit's own transaction), not as a file: that saves a file write and
    two fsyncs per commit, and every server process reads it from the database. Larger
    ones are files (or objects) under their MD5 key, as in the embedded store."""

    has_packs = False  # the server's blobs are packed its own way (s3_packs.py), not as the store's

    def __init__(self, catalog: str, blobs: str) -> None:  # noqa: D107 - LocalStore's, other roots
        self.root = os.path.abspath(blobs)
        self.blobs = BlobStore(self.root)
        self.catalog = Catalog(catalog, steps=SERVER_MIGRATIONS)

    @staticmethod
    def manifest_row(data: bytes) -> Optional[tuple[str, str]]:
        """`(key, text)` to keep manifest `data` in the catalog (put_manifest_row), or None
        if it is too large and goes to a file (blobs.put_manifest)."""
        if len(data) > ROW_MANIFEST_BYTES:
            return None
        import hashlib

        return hashlib.md5(data).hexdigest(), data.decode("utf-8")

    @staticmethod
    def put_manifest_row(conn: Any, row: tuple[str, str]) -> None:
        """Keep a manifest in the catalog, in `conn`'s write transaction (create-if-absent)."""
        conn.execute("INSERT OR IGNORE INTO catalog_manifests (manifest_key, body) VALUES (?,?)", row)

    def _manifest_row_body(self, key: str, conn: Any = None) -> Optional[str]:
        """The catalog row's text of manifest `key`, or None if it is a file (read in
        `conn`'s transaction if given, else in a snapshot left before any file is read)."""
        sql = "SELECT body FROM catalog_manifests WHERE manifest_key = ?"
        if conn is None:
            with self.catalog.transaction(write=False) as own:
                row = own.execute(sql, (key,)).fetchone()
        else:
            row = conn.execute(sql, (key,)).fetchone()
        return None if row is None else row[0]

    def manifest_bytes(self, key: str) -> bytes:
        """The stored manifest `key` as its JSON bytes: its catalog row, else its file."""
        body = self._manifest_row_body(key)
        if body is not None:
            return body.encode("utf-8")
        path = self.blobs.manifest_path(key)
        try:
            with open(path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise MissingBlobError(f"manifest {path} is missing from the store") from None

    def load_manifest_key(self, key: str, conn: Any = None) -> "_core.Manifest":
        """The manifest stored under `key` (row or file), parsed while its MD5 is checked
        (its row read in `conn`'s transaction if given)."""
        body = self._manifest_row_body(key, conn)
        if body is None:
            return self.blobs.load_manifest(key)
        try:
            return _core.Manifest.from_json(body.encode("utf-8"), key)
        except ValueError as exc:
            if getattr(exc, "kind", None) == "corrupt":
                raise CorruptBlobError(f"manifest {key} in the catalog is corrupt: {exc}") from None
            raise

    def load_manifest(self, record: VersionRecord) -> "_core.Manifest":
        """The version's manifest (catalog row or file), checked against its key."""
        return self.load_manifest_key(record.manifest_key)


class ServerState:
    """Per-process state: store, signer, and a small cache of manifests' digest sets."""

    def __init__(self, cfg: ServerConfig) -> None:
        self.config = cfg.resolved()
        self.store = ServerStore(self.config.catalog, self.config.local_root())
        os.makedirs(os.path.join(self.store.blobs.objects_root, "tmp"), exist_ok=True)
        self.signer = Signer(load_secret(self.store.catalog), self.config.public_url, self.config.url_ttl)
        self.blobs = open_blobs(self.config.blobs, self.store.blobs, self.signer, self.config.url_ttl)
        if hasattr(self.blobs, "manifests"):  # an object store keeps the manifests too
            self.store.blobs = self.blobs.manifests(self.store.root)  # type: ignore[attr-defined]
            self.blobs.recorded_count = self._recorded_count  # type: ignore[attr-defined]
            from .s3_packs import catalog_hooks  # packs: where each small blob sits
            self.blobs.record_packed, self.blobs.locate_packed = catalog_hooks(lambda: self.catalog)  # type: ignore[attr-defined]
        self._source_projects: dict[int, int] = {}
        self._manifests: "OrderedDict[str, BlobSet]" = OrderedDict()
        self._committed: "OrderedDict[tuple[str, str, str], str]" = OrderedDict()
        self._lock = threading.Lock()

    @property
    def catalog(self) -> Catalog:
        return self.store.catalog

    def manifest_blobs(self, record: VersionRecord) -> BlobSet:
        """`(algorithm, digest)` of every stored entry of the version's manifest."""
        return self.blobs_of_manifest(record.manifest_key)

    def blobs_of_manifest(self, manifest_key: str, conn: Any = None) -> BlobSet:
        """`(algorithm, digest)` of every stored entry of the manifest `manifest_key`
        (cached with `manifest_blobs`; read from the store on a miss, in `conn`'s
        transaction if given)."""
        from ..store.blobs import entry_algorithm

        with self._lock:
            found = self._manifests.get(manifest_key)
            if found is not None:
                self._manifests.move_to_end(manifest_key)
                return found
        manifest = self.store.load_manifest_key(manifest_key, conn)
        found = frozenset((entry_algorithm(e[5]), e[1]) for e in manifest.entries() if e[2] is None)
        self.remember_manifest(manifest_key, found)
        return found

    def remember_manifest(self, manifest_key: str, blobs: BlobSet) -> None:
        """Cache what `blobs_of_manifest` answers for a manifest this process just committed."""
        with self._lock:
            self._manifests[manifest_key] = blobs
            self._manifests.move_to_end(manifest_key)
            while len(self._manifests) > 64:
                self._manifests.popitem(last=False)

    def committed_here(self, collection: tuple[str, str, str]) -> Optional[str]:
        """The manifest key of the version this process last committed to `collection`
        (entity, project, name). Its blobs were held when it committed and nothing
        un-holds a blob, so they are held now, whatever other processes committed since."""
        with self._lock:
            return self._committed.get(collection)

    def remember_committed(self, collection: tuple[str, str, str], manifest_key: str) -> None:
        """Note the version this process just committed to `collection` (see `committed_here`)."""
        with self._lock:
            self._committed[collection] = manifest_key
            self._committed.move_to_end(collection)
            while len(self._committed) > 1024:
                self._committed.popitem(last=False)

    def _recorded_count(self, pid: int) -> int:
        with self.catalog.transaction(write=False) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM project_blobs WHERE project_id = ?", (pid,)).fetchone()[0])

    def source_project(self, record: VersionRecord) -> int:
        """The id of the project whose blobs a version's manifest names (a link's source)."""
        from ..store.records import decode_id

        cid = decode_id(record.source_collection_id, "ArtifactCollection") or 0
        with self._lock:
            pid = self._source_projects.get(cid)
        if pid is None:
            with self.catalog.transaction(write=False) as conn:
                row = conn.execute("SELECT project_id FROM collections WHERE id = ?", (cid,)).fetchone()
            if row is None:
                raise LookupError(f"collection of {record.qualified_name} not found")
            pid = int(row[0])
            with self._lock:
                self._source_projects[cid] = pid
        return pid

    def close(self) -> None:
        close = getattr(self.blobs, "close", None)
        if close is not None:
            close()
        self.store.catalog.close()


def object_hex(digest: str) -> str:
    """The hex form of an entry digest (base64), as used in URLs and object paths."""
    from .. import _core

    return _core.b64_to_hex(digest)


def digest_from_hex(hex_digest: str) -> Optional[str]:
    """The base64 entry digest for a hex one; None if it is not hex of 16 bytes."""
    import base64

    if len(hex_digest) != 32:
        return None
    try:
        return base64.b64encode(bytes.fromhex(hex_digest)).decode()
    except ValueError:
        return None

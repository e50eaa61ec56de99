"""LocalStore: the embedded store the Run, Artifact and Api layers call.

It ties the blobs (blobs.py) to the catalog (catalog.py) in the one order that keeps a
crash harmless: objects, then the manifest, then the catalog rows in one transaction.
A process killed anywhere leaves at worst unreferenced objects or manifests, which
`gc()` removes; never a version whose content is missing.
"""

from __future__ import annotations

import errno
import os
import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Optional, Sequence

from .. import _core
from .. import config as _config
from ..progress import ProgressLine
from ..staging import remove_staged
from .blobs import STORE_ENV, BlobStore, default_store_root, entry_algorithm
from .catalog import Catalog, DedupeMissed
from .pack_log import PackPlan, discard_unrecorded, pack_blob_bytes, pack_bytes, rows_at_commit, store_packed
from .failpoints import failpoint
from .migrations import STORE_MIGRATIONS
from .records import CollectionRecord, RunRecord, VersionRecord, decode_id

if TYPE_CHECKING:
    from ..cache import ArtifactCache
    from .gc import GcReport

__all__ = ["LocalStore", "split_alias"]

_SHORT_ALGORITHM = {"MANIFEST_MD5": "MD5", "MANIFEST_XXH128": "XXH128"}


def split_alias(name: str) -> tuple[str, str]:
    """`"name:alias"` → `("name", "alias")`; no alias means `latest` (split on the first `:`)."""
    collection, sep, alias = name.partition(":")
    return collection, (alias if sep else "latest")


class LocalStore:
    """Catalog + blobs under one root directory (see blobs.py for the layout).

    One instance per process and root is enough (it is thread-safe and re-opens its
    SQLite connection after fork); `LocalStore.shared()` hands out that instance.
    """

    _shared: dict[str, "LocalStore"] = {}
    _shared_lock = threading.Lock()
    #: Whether the catalog has the pack tables (STORE_V2_PACKS); the server's does not.
    has_packs = True

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        _config.check_settings()
        pack_blob_bytes(), pack_bytes()  # the store's own knobs, refused up front too
        if os.path.exists(self.root) and not os.path.isdir(self.root):
            raise NotADirectoryError(
                errno.ENOTDIR,
                f"the artefact store must be a directory (set {STORE_ENV} to one), but this is a file",
                self.root,
            )
        self.blobs = BlobStore(self.root)
        # The embedded store's schema: the shared steps and its packs' index.
        self.catalog = Catalog(os.path.join(self.root, "catalog.db"), steps=STORE_MIGRATIONS)

    @classmethod
    def open(cls, root: Optional[str] = None) -> "LocalStore":
        """Open (creating if needed) the store at `root`, default `$ARTEFACT_STORE` or
        `<user data dir>/artefact/store`."""
        return cls(root or default_store_root())

    @classmethod
    def shared(cls, root: Optional[str] = None) -> "LocalStore":
        """The process-wide store for `root` (default as in `open`), opened on first use."""
        key = os.path.abspath(root or default_store_root())
        with cls._shared_lock:
            store = cls._shared.get(key)
            if store is None:
                store = cls._shared[key] = cls(key)
            return store

    @property
    def objects_root(self) -> str:
        """The content-addressed objects (`obj/md5/<2>/<30>`), read by downloads."""
        return self.blobs.objects_root

    def close(self) -> None:
        """Close the catalog connection (a shared store is forgotten, so the next
        `shared()` opens a fresh one)."""
        with self._shared_lock:
            if self._shared.get(self.root) is self:
                del self._shared[self.root]
        self.catalog.close()

    def __enter__(self) -> "LocalStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- logging -------------------------------------------------------------------
    def log_version(
        self,
        entity: str,
        project: str,
        name: str,
        type: str,
        manifest: "_core.Manifest",
        *,
        digest: Optional[str] = None,
        digest_algorithm: str = "MANIFEST_MD5",
        description: Optional[str] = None,
        metadata: Optional[dict] = None,
        aliases: Iterable[str] = ("latest",),
        tags: Iterable[str] = (),
        ttl_seconds: Optional[int] = None,
        ttl_inherited: bool = True,
        run: Optional[RunRecord] = None,
        base_version_id: Optional[str] = None,
        history_step: Optional[int] = None,
        storage_region: Optional[str] = None,
        cache: "Optional[ArtifactCache]" = None,
    ) -> VersionRecord:
        """Store a finalized manifest as the next version of `entity/project/name`.

        Files (entries with a `local_path` and no `ref`) are copied into the store unless
        already there, verified while copying. Entries without a local path (carried over
        by `new_draft()`) must already be in the store. If a committed version of the
        collection has the same digest, nothing is copied and that version is returned
        with the new aliases and tags (`record.created` is False).

        Each logged byte is stored once: staged copies (mutable policy) are moved into
        the store, and the file cache is not filled (`cache` is accepted for the
        signature's sake): downloads copy straight from the store's objects. If logging
        fails before the commit, the manifest's staged copies are deleted.
        """
        short = _SHORT_ALGORITHM.get(digest_algorithm)
        if short is None:
            raise ValueError(
                f"unknown digest algorithm {digest_algorithm!r}; expected one of"
                f" {sorted(_SHORT_ALGORITHM)}"
            )
        try:
            return self._log_version(
                entity, project, name, type, manifest, digest=digest,
                digest_algorithm=digest_algorithm, short=short, description=description,
                metadata=metadata, aliases=aliases, tags=tags, ttl_seconds=ttl_seconds,
                ttl_inherited=ttl_inherited, run=run, base_version_id=base_version_id,
                history_step=history_step, storage_region=storage_region,
            )
        except BaseException:
            # Nothing will log these copies now (issue: staging leaks on failure).
            from ..onepass import discard_precopies
            from ..staging import clean_staged_copies

            clean_staged_copies(manifest)
            discard_precopies(e[6] for e in manifest.entries())
            raise

    def _log_version(
        self, entity: str, project: str, name: str, type: str, manifest: "_core.Manifest", *,
        digest: Optional[str], digest_algorithm: str, short: str, description: Optional[str],
        metadata: Optional[dict], aliases: Iterable[str], tags: Iterable[str],
        ttl_seconds: Optional[int], ttl_inherited: bool, run: Optional[RunRecord],
        base_version_id: Optional[str], history_step: Optional[int], storage_region: Optional[str],
    ) -> VersionRecord:
        digest = digest or manifest.digest(short)
        aliases, tags = list(aliases), list(tags)
        fields: dict[str, Any] = dict(
            entity=entity, project=project, name=name, type=type, digest=digest,
            digest_algorithm=digest_algorithm, size=manifest.size(), file_count=len(manifest),
            description=description, metadata=metadata, aliases=aliases, tags=tags,
            ttl_seconds=ttl_seconds, ttl_inherited=ttl_inherited,
            run_pk=run.pk if run is not None else None, history_step=history_step,
            storage_region=storage_region,
            base_version_pk=decode_id(base_version_id, "Artifact") if base_version_id else None,
        )
        twin = self.catalog.committed_with_digest(entity, project, name, digest, digest_algorithm)
        if twin is not None:
            try:
                return self.catalog.assign_version(
                    manifest_key=twin.manifest_key, dedupe_only=True, **fields
                )
            except DedupeMissed:
                pass  # the twin was deleted meanwhile: log for real
        files, carried, total, sizes = _split_entries(manifest, with_sizes=True)
        self._require_carried(carried)
        with ProgressLine(f"Storing {name}", len(files), total) as progress:
            with _naming(self.blobs.objects_root, "storing the files of", name):
                plan = store_packed(self, files, sizes, progress.core)
                try:
                    if plan.rows:
                        failpoint("after_pack")
                    self.blobs.put_files(plan.loose, progress.core)
                except BaseException:
                    discard_unrecorded(self, plan)
                    raise
        try:
            record = self._commit_version(name, manifest, plan, carried, fields)
        except BaseException:
            discard_unrecorded(self, plan)
            raise
        try:
            remove_staged(list(plan.staged))  # their bytes are in a pack now
        except Exception:  # committed: a copy left behind is staging's cleanup's to remove
            pass
        return record

    def _commit_version(self, name: str, manifest: "_core.Manifest", plan: PackPlan,
                        carried: list[tuple[str, str, str]], fields: dict[str, Any]) -> VersionRecord:
        """The rest of a log once its files are stored: the manifest, then the catalog's
        transaction with the pack rows (see _log_version)."""
        failpoint("after_blobs")
        wire = manifest.to_wire_json()
        with _naming(self.blobs.manifests_root, "storing the manifest of", name):
            key = self.blobs.put_manifest(wire)
        failpoint("after_manifest")

        def recheck_content() -> None:
            # Under the catalog's write lock, which gc holds while deleting: whatever is
            # present now stays until our commit makes it referenced. Something found
            # missing was collected after our touch (a slow log, or a gc with no grace).
            loose = plan.loose
            gone = _core.objects_missing(self.blobs.objects_root, [(f[1], f[2]) for f in loose])
            self.blobs.put_files([loose[i] for i in gone])
            if not os.path.exists(self.blobs.manifest_path(key)):
                self.blobs.put_manifest(wire)

        def packed(conn: Any) -> list:
            # Also under the write lock, in the commit's transaction: carried entries,
            # loose or packed, are still held.
            self._require_carried(carried, conn)
            return rows_at_commit(self, plan, conn)

        record = self.catalog.assign_version(
            manifest_key=key, before_insert=recheck_content,
            packed=packed if plan.rows or plan.deduped or carried else None, **fields
        )
        failpoint("after_commit")
        return record

    def _require_carried(self, carried: list[tuple[str, str, str]], conn: Any = None) -> None:
        """`require_objects` for entries with no local file, those held in packs excepted
        (`conn`: inside the caller's transaction)."""
        if not carried:
            return
        from .pack_rows import locations, pack_path

        found = locations(self.catalog, [(a, d) for _, d, a in carried], conn) if self.has_packs else {}
        # A row counts only with its pack on disk (a gc that failed after deleting a pack
        # but before its commit leaves the rows back).
        in_packs = {k for k, v in found.items() if os.path.isfile(pack_path(self.objects_root, v[0]))}
        self.blobs.require_objects([c for c in carried if (c[2], c[1]) not in in_packs])

    # --- reading -------------------------------------------------------------------
    def get_version(
        self, entity: str, project: str, name_with_alias: str, type: Optional[str] = None
    ) -> VersionRecord:
        """Resolve `name:alias` or `name:v<N>` (no alias: `latest`) in a sequence or a
        portfolio. Raises ProjectNotFoundError / ArtifactNotFoundError with wandb's
        messages, TypeMismatchError if `type` is given and differs."""
        name, alias = split_alias(name_with_alias)
        return self.catalog.resolve(entity, project, name, alias, type)

    def version_by_id(self, artifact_id: str) -> VersionRecord:
        """A committed version by its id, seen through its own sequence."""
        return self.catalog.version_by_id(artifact_id)

    def refresh(self, record: VersionRecord) -> VersionRecord:
        """The current state of `record`, through the same collection."""
        return self.catalog.refresh(record)

    def load_manifest(self, record: VersionRecord) -> "_core.Manifest":
        """The version's manifest, read from the store (checked against its key)."""
        return self.blobs.load_manifest(record.manifest_key)

    def blob_path(self, digest: str, algorithm: str = "MD5") -> str:
        """Path of the stored object for an entry digest (downloads read from here)."""
        return self.blobs.object_path(digest, algorithm)

    def entry_blob_path(self, entry: tuple) -> str:
        """Path of the stored object for a non-reference `_core` entry tuple."""
        return self.blobs.object_path(entry[1], entry_algorithm(entry[5]))

    def list_versions(
        self,
        entity: str,
        project: str,
        name: str,
        *,
        order: Optional[str] = None,
        tags: Sequence[str] = (),
    ) -> list[VersionRecord]:
        """Committed versions of a collection, newest first unless `order` (`+field`/
        `-field`) says otherwise; `tags` keeps versions that have all of them."""
        return self.catalog.list_versions(entity, project, name, order=order, tags=tags)

    def version_page(self, entity: str, project: str, name: str, **page: Any) -> tuple[list[VersionRecord], int]:
        """One page of a collection's committed versions and their total (keywords:
        offset, limit, order), for the paginated listings."""
        return self.catalog.version_page(entity, project, name, **page)

    def collection_page(self, entity: str, project: str, **page: Any) -> tuple[list[CollectionRecord], int]:
        """One page of a project's collections and their total (keywords: type, offset, limit)."""
        return self.catalog.collection_page(entity, project, **page)

    def lineage_page(self, run: RunRecord, mode: str, **page: Any) -> tuple[list[VersionRecord], int]:
        """One page of the versions a run logged (`mode` "logged") or used ("used"), and their total."""
        return self.catalog.lineage_page(run, mode, **page)

    def get_collection(self, entity: str, project: str, name: str) -> CollectionRecord:
        """A collection (sequence or portfolio) by name."""
        return self.catalog.get_collection(entity, project, name)

    def list_collections(
        self, entity: str, project: str, *, type: Optional[str] = None, kind: Optional[str] = None
    ) -> list[CollectionRecord]:
        """Collections of a project, filtered by type and/or kind."""
        return self.catalog.list_collections(entity, project, type=type, kind=kind)

    def list_types(self, entity: str, project: str) -> list[str]:
        """Artifact types used in a project."""
        return self.catalog.list_types(entity, project)

    def project_exists(self, entity: str, project: str) -> bool:
        """True once anything was logged or run in the project."""
        return self.catalog.project_exists(entity, project)

    # --- changing ------------------------------------------------------------------
    def update_version(self, record: VersionRecord, **changes: Any) -> VersionRecord:
        """Persist edits of a logged artifact. Keywords: description, metadata,
        ttl_seconds, ttl_inherited (omitted = unchanged), add_aliases, remove_aliases,
        add_tags, remove_tags. Aliases act in the collection `record` came through."""
        return self.catalog.update_version(record, **changes)

    def update_collection(self, collection: CollectionRecord, **changes: Any) -> CollectionRecord:
        """Rename/retype/describe/tag a collection (keywords of Catalog.update_collection)."""
        return self.catalog.update_collection(collection, **changes)

    def delete_version(self, record: VersionRecord, delete_aliases: bool = False) -> None:
        """wandb's `Artifact.delete`: unlink a link; refuse a version with aliases unless
        `delete_aliases`. Its content is freed by the next `gc()`."""
        self.catalog.delete_version(record, delete_aliases=delete_aliases)

    def delete_collection(self, collection: CollectionRecord) -> None:
        """Delete a whole collection (its versions, or a portfolio's links)."""
        self.catalog.delete_collection(collection)

    def link(
        self,
        record: VersionRecord,
        entity: str,
        project: str,
        portfolio: str,
        aliases: Iterable[str] = (),
    ) -> VersionRecord:
        """Link a version into a portfolio (e.g. `model-registry/<X>`); the linked view."""
        return self.catalog.link(record, entity, project, portfolio, aliases)

    def links_of(self, record: VersionRecord) -> list[VersionRecord]:
        """The version as seen through each portfolio it is linked into."""
        return self.catalog.links_of(record)

    def unlink(self, record: VersionRecord) -> None:
        """Remove a link; ValueError (wandb's message) if `record` is not a link."""
        self.catalog.unlink(record)

    # --- runs and lineage -------------------------------------------------------------
    def create_run(self, entity: str, project: str, run_id: str, **fields: Any) -> RunRecord:
        """Start a run (keywords: name, job_type, group, config, resume)."""
        return self.catalog.create_run(entity, project, run_id, **fields)

    def get_run(self, entity: str, project: str, run_id: str) -> RunRecord:
        """A run by path."""
        return self.catalog.get_run(entity, project, run_id)

    def finish_run(self, run: RunRecord, exit_code: int = 0) -> RunRecord:
        """Mark a run finished (0) or failed."""
        return self.catalog.finish_run(run, exit_code)

    def log_row(self, run: RunRecord, step: int, row: dict) -> None:
        """Store one history row."""
        self.catalog.log_row(run, step, row)

    def set_config(self, run: RunRecord, config: dict) -> None:
        """Replace the run's config."""
        self.catalog.set_config(run, config)

    def set_summary(self, run: RunRecord, summary: dict) -> None:
        """Replace the run's summary."""
        self.catalog.set_summary(run, summary)

    def record_use(self, run: RunRecord, record: VersionRecord, used_as: Optional[str] = None) -> None:
        """Record that `run` used the version."""
        self.catalog.record_use(run, record, used_as)

    def logged_by(self, record: VersionRecord) -> Optional[RunRecord]:
        """The run that created the version, if any."""
        return self.catalog.logged_by(record)

    def used_by(self, record: VersionRecord) -> list[RunRecord]:
        """Runs that used the version."""
        return self.catalog.used_by(record)

    def logged_versions(self, run: RunRecord) -> list[VersionRecord]:
        """Versions the run logged (`Run.logged_artifacts()`), dedupes included."""
        return self.catalog.logged_versions(run)

    def used_versions(self, run: RunRecord) -> list[VersionRecord]:
        """Versions the run used (`Run.used_artifacts()`)."""
        return self.catalog.used_versions(run)

    def list_runs(self, entity: str, project: str) -> list[RunRecord]:
        """Runs of a project, oldest first."""
        return self.catalog.list_runs(entity, project)

    def history(self, run: RunRecord) -> list[dict]:
        """The run's history rows in step order (each with `_step`)."""
        return self.catalog.history(run)

    # --- maintenance -------------------------------------------------------------------
    def gc(self, grace_seconds: Optional[float] = None) -> "GcReport":
        """Expire versions past their TTL, then delete content no version references
        (see gc.py)."""
        from .gc import collect_garbage

        return collect_garbage(self, grace_seconds=grace_seconds)


@contextmanager
def _naming(directory: str, doing: str, name: str) -> Iterator[None]:
    """Give an OSError that names no file (ENOSPC from a write, say) the store
    directory it happened in, so the message says where space or access is lacking."""
    try:
        yield
    except OSError as exc:
        if exc.filename is not None:
            raise
        if exc.errno is None:  # the core's message carries the errno: "... (os error 28)"
            from .verify import read_failure

            raise read_failure(directory, str(exc), f"{doing} {name!r} in the store") from exc
        raise OSError(exc.errno, f"{exc.strerror} (while {doing} {name!r} in the store)", directory) from exc


def _split_entries(manifest: "_core.Manifest", with_sizes: bool = False) -> Any:
    """`(src, digest, algorithm, path)` of files to copy in (one per object),
    `(path, digest, algorithm)` of content entries with no local file, and the bytes
    of the former (`with_sizes`: and the size of each file, in order)."""
    files: dict[tuple[str, str], tuple[str, str, str, str]] = {}
    sizes: list[int] = []
    carried: list[tuple[str, str, str]] = []
    total = 0
    for path, digest, ref, _birth, size, extra, local_path, _skip in manifest.entries():
        if ref is not None:
            continue
        algorithm = entry_algorithm(extra)
        if not local_path:
            carried.append((path, digest, algorithm))
        elif (digest, algorithm) not in files:
            files[(digest, algorithm)] = (local_path, digest, algorithm, path)
            sizes.append(size or 0)
            total += size or 0
    if with_sizes:
        return list(files.values()), carried, total, sizes
    return list(files.values()), carried, total

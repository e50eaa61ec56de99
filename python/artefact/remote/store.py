"""RemoteStore: the embedded store's interface, answered by `artefact server`.

`StoreBackend` (store/backend.py), and through it Run, Artifact and Api, call the same
methods on a LocalStore or on this class, and get the same records and errors back.
Catalog calls are one request each; logging and downloading go through the batched
protocol (server/protocol.py) with the bytes moved by the Rust core (transfer.py).
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any, Iterable, Optional, Sequence

from ..progress import ProgressLine
from ..side_work import beside
from ..server.wire import dump, load_collection, load_run, load_version
from ..store.failpoints import failpoint
from ..store.local import split_alias
from ..store.records import CollectionRecord, RunRecord, VersionRecord
from . import transfer
from .cache_fill import fill_after_log
from .client import shared_client
from .direct_upload import takes_raw_manifest

if TYPE_CHECKING:
    from .. import _core
    from ..cache import ArtifactCache

__all__ = ["RemoteStore"]

_FRESH_SECONDS = 2.0  # how long a commit's answer stands in for a lookup of it
_SHORT_ALGORITHM = {"MANIFEST_MD5": "MD5", "MANIFEST_XXH128": "XXH128"}


def _versions(data: list) -> list[VersionRecord]:
    return [load_version(d) for d in data]


class RemoteStore:
    """A team server seen as a store (see LocalStore for what each method means)."""

    def __init__(self, base_url: str, api_key: Optional[str]) -> None:
        self.client = shared_client(base_url, api_key)
        self.root = self.client.base_url
        # The record a commit just answered, by id: `wait()` asks for it right after
        # the log, and the answer is that fresh (one lookup each, so later ones ask).
        self._fresh: dict[str, tuple[float, VersionRecord]] = {}

    def whoami(self) -> dict:
        """The API key's entity, project (None: all) and role."""
        return self.client.request("GET", "/api/v1/whoami")

    def close(self) -> None:
        """Close the kept-alive connections (one per thread)."""
        self.client.close()

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
        """Log a version: one commit call carrying the manifest, which dedupes or commits
        when the server holds every blob; else the blobs it lacks, then the commit again
        (see LocalStore.log_version)."""
        short = _SHORT_ALGORITHM.get(digest_algorithm)
        if short is None:
            raise ValueError(
                f"unknown digest algorithm {digest_algorithm!r}; expected one of {sorted(_SHORT_ALGORITHM)}"
            )
        fields: dict[str, Any] = dict(
            entity=entity, project=project, name=name, type=type,
            digest=digest or manifest.digest(short), digest_algorithm=digest_algorithm,
            description=description, metadata=metadata, aliases=list(aliases), tags=list(tags),
            ttl_seconds=ttl_seconds, ttl_inherited=ttl_inherited, run=dump(run) if run else None,
            base_version_id=base_version_id, history_step=history_step, storage_region=storage_region,
        )
        # The manifest's bytes are made on the second core while the blobs to carry are
        # picked and read (both in the core, outside the GIL; side_work.py).
        made = beside(len(manifest), manifest.to_wire_json)
        try:
            inline = transfer.inline_blobs(manifest, cache)
        finally:
            made.wait()
        raw = made.result()
        wire = raw.decode("utf-8")
        sent: set[tuple[str, str]] = set()  # blobs this log uploaded
        if inline is not None:  # small new content rides along: one call when the server holds the rest
            body, sent = inline
            for point in ("during_blobs", "after_blobs", "after_manifest", "before_commit"):
                failpoint(point)
            # The manifest's bytes follow the first line, or (an older server) ride in it as a JSON string.
            raw_ok = takes_raw_manifest(self.client.base_url)
            manifest_field = {"manifest_bytes": len(raw)} if raw_ok else {"manifest": wire}
            head = json.dumps({**fields, **manifest_field, "batch_limit": transfer.batch_limit()},
                              separators=(",", ":")).encode("utf-8")
            payload = b"".join((head, b"\n", raw if raw_ok else b"", body))
            answer = self.client.request("POST", "/api/v1/commit/inline", raw=payload)
        else:  # one call when the server holds every blob (or a twin): it commits, or names what it lacks
            answer = self.client.request("POST", "/api/v1/commit", body={**fields, "manifest": wire,
                                                                         "or_lacking": True,
                                                                         "batch_limit": transfer.batch_limit()})
        if answer["record"] is None:
            with ProgressLine(f"Uploading {name}", 0, 0) as line:
                transfer.upload_lacking(self.client, entity, project, manifest, answer["lacking"], line,
                                         cache=cache)
            sent |= {(item[0], item[1]) for item in answer["lacking"]}
            failpoint("after_blobs")
            failpoint("after_manifest")
            failpoint("before_commit")
            answer = self.client.request("POST", "/api/v1/commit", body={**fields, "manifest": wire})
        record = load_version(answer["record"])
        self._fresh = {record.id: (time.monotonic() + _FRESH_SECONDS, record)}
        failpoint("after_commit")
        if cache is not None and record.created:
            fill_after_log(cache, manifest, sent)
        return record

    # --- distributed artifacts (upsert_artifact / finish_artifact) -----------------------
    def stage_patch(self, entity: str, project: str, name: str, distributed_id: str,
                    manifest: "_core.Manifest") -> str:
        """Upload one part's blobs and keep its manifest as a pending patch on the server."""
        with ProgressLine(f"Uploading {name}", 0, 0) as line:
            transfer.upload_missing(self.client, entity, project, manifest, line)
        body = dict(entity=entity, project=project, name=name, distributed_id=distributed_id,
                    manifest=manifest.to_wire_json().decode("utf-8"))
        return self.client.request("POST", "/api/v1/patches", body=body)["manifest_key"]

    def merged_patches(self, entity: str, project: str, name: str, distributed_id: str,
                       storage_layout: str = "V2") -> "_core.Manifest":
        """The union of the group's pending patches, oldest first (later ones win a path)."""
        from .. import _core

        body = dict(entity=entity, project=project, name=name, distributed_id=distributed_id)
        merged = _core.Manifest(storage_layout)
        for key, text in self.client.request("POST", "/api/v1/patches/list", body=body)["manifests"]:
            for path, digest, ref, birth, size, extra, _local, skip in _core.Manifest.from_json(
                    text.encode("utf-8"), key).entries():
                merged.insert(path, digest, ref, birth, size, extra, None, skip, overwrite=True)
        return merged

    def clear_patches(self, entity: str, project: str, name: str, distributed_id: str) -> None:
        """Forget the group's pending patches (after the union was committed)."""
        body = dict(entity=entity, project=project, name=name, distributed_id=distributed_id)
        self.client.request("POST", "/api/v1/patches/clear", body=body)

    # --- downloading -----------------------------------------------------------------
    def fetch_blobs(self, record: VersionRecord, manifest: "_core.Manifest", objects_root: str,
                    root: Optional[str], path_prefix: Optional[str]) -> int:
        """Bring the stored blobs of `manifest` that `objects_root` lacks into it
        (verified); blobs whose file under `root` is already right are skipped."""
        with ProgressLine("Fetching artifact files", 0, 0) as line:
            return transfer.download_missing(self.client, record, manifest, objects_root, root, path_prefix, line)

    # --- reading -------------------------------------------------------------------
    def get_version(self, entity: str, project: str, name_with_alias: str, type: Optional[str] = None) -> VersionRecord:
        """Resolve `name:alias` (see LocalStore.get_version)."""
        split_alias(name_with_alias)
        return load_version(self.client.call("get_version", entity=entity, project=project,
                                             name=name_with_alias, type=type))

    def version_by_id(self, artifact_id: str) -> VersionRecord:
        fresh = self._fresh.pop(artifact_id, None)
        if fresh is not None and time.monotonic() < fresh[0]:
            return fresh[1]
        return load_version(self.client.call("version_by_id", artifact_id=artifact_id))

    def refresh(self, record: VersionRecord) -> VersionRecord:
        return load_version(self.client.call("refresh", record=dump(record)))

    def load_manifest(self, record: VersionRecord) -> "_core.Manifest":
        """The version's manifest, checked against its key (the MD5 of its bytes): from
        the artifact cache when it holds it (manifest_cache.py), else from the server
        (then kept in the cache)."""
        from .. import _core
        from ..cache import ArtifactCache
        from .manifest_cache import cached_manifest, keep_manifest

        cache = ArtifactCache()
        found = cached_manifest(cache, record.manifest_key)
        if found is not None:
            return found
        answer = self.client.call("load_manifest", record=dump(record))
        data = answer["manifest"].encode("utf-8")
        manifest = _core.Manifest.from_json(data, answer["manifest_key"])
        keep_manifest(cache, answer["manifest_key"], data)
        return manifest

    def list_versions(self, entity: str, project: str, name: str, *, order: Optional[str] = None,
                      tags: Sequence[str] = ()) -> list[VersionRecord]:
        return _versions(self.client.call("list_versions", entity=entity, project=project, name=name,
                                          order=order, tags=list(tags)))

    def _page(self, method: str, load: Any, **args: Any) -> tuple[list, int]:
        """One page of a paginated listing: its records (each through `load`) and the total."""
        records, total = self.client.call(method, **args)
        return [load(r) for r in records], int(total)

    def version_page(self, entity: str, project: str, name: str, **page: Any) -> tuple[list[VersionRecord], int]:
        """One page of a collection's committed versions and their total (offset, limit, order)."""
        return self._page("version_page", load_version, entity=entity, project=project, name=name, **page)

    def collection_page(self, entity: str, project: str, **page: Any) -> tuple[list[CollectionRecord], int]:
        """One page of a project's collections and their total (type, offset, limit)."""
        return self._page("collection_page", load_collection, entity=entity, project=project, **page)

    def lineage_page(self, run: RunRecord, mode: str, **page: Any) -> tuple[list[VersionRecord], int]:
        """One page of the versions a run logged or used, and their total."""
        return self._page("lineage_page", load_version, run=dump(run), mode=mode, **page)

    def get_collection(self, entity: str, project: str, name: str) -> CollectionRecord:
        return load_collection(self.client.call("get_collection", entity=entity, project=project, name=name))

    def list_collections(self, entity: str, project: str, *, type: Optional[str] = None,
                         kind: Optional[str] = None) -> list[CollectionRecord]:
        found = self.client.call("list_collections", entity=entity, project=project, type=type, kind=kind)
        return [load_collection(c) for c in found]

    def list_types(self, entity: str, project: str) -> list[str]:
        return self.client.call("list_types", entity=entity, project=project)

    def project_exists(self, entity: str, project: str) -> bool:
        return bool(self.client.call("project_exists", entity=entity, project=project))

    # --- changing ------------------------------------------------------------------
    def update_version(self, record: VersionRecord, **changes: Any) -> VersionRecord:
        return load_version(self.client.call("update_version", record=dump(record), changes=changes))

    def update_collection(self, collection: CollectionRecord, **changes: Any) -> CollectionRecord:
        return load_collection(self.client.call("update_collection", collection=dump(collection), changes=changes))

    def delete_version(self, record: VersionRecord, delete_aliases: bool = False) -> None:
        self.client.call("delete_version", record=dump(record), delete_aliases=delete_aliases)

    def delete_collection(self, collection: CollectionRecord) -> None:
        self.client.call("delete_collection", collection=dump(collection))

    def link(self, record: VersionRecord, entity: str, project: str, portfolio: str,
             aliases: Iterable[str] = ()) -> VersionRecord:
        return load_version(self.client.call("link", record=dump(record), entity=entity, project=project,
                                             portfolio=portfolio, aliases=list(aliases)))

    def links_of(self, record: VersionRecord) -> list[VersionRecord]:
        return _versions(self.client.call("links_of", record=dump(record)))

    def unlink(self, record: VersionRecord) -> None:
        self.client.call("unlink", record=dump(record))

    # --- runs and lineage -------------------------------------------------------------
    def create_run(self, entity: str, project: str, run_id: str, **fields: Any) -> RunRecord:
        try:
            return load_run(self.client.call("create_run", entity=entity, project=project, run_id=run_id,
                                             fields=fields))
        except ValueError as exc:
            # Re-sent after a lost answer (the server restarted mid-call): the run the first
            # send created is this one, not a clash, as wandb's upsertBucket would have it.
            if self.client.resent() and "already exists" in str(exc):
                return self.get_run(entity, project, run_id)
            raise

    def get_run(self, entity: str, project: str, run_id: str) -> RunRecord:
        return load_run(self.client.call("get_run", entity=entity, project=project, run_id=run_id))

    def finish_run(self, run: RunRecord, exit_code: int = 0) -> RunRecord:
        return load_run(self.client.call("finish_run", run=dump(run), exit_code=exit_code))

    def log_row(self, run: RunRecord, step: int, row: dict) -> None:
        self.client.call("log_row", run=dump(run), step=step, row=json.loads(json.dumps(row, default=str)))

    def set_config(self, run: RunRecord, config: dict) -> None:
        self.client.call("set_config", run=dump(run), config=json.loads(json.dumps(config, default=str)))

    def set_summary(self, run: RunRecord, summary: dict) -> None:
        self.client.call("set_summary", run=dump(run), summary=json.loads(json.dumps(summary, default=str)))

    def record_use(self, run: RunRecord, record: VersionRecord, used_as: Optional[str] = None) -> None:
        self.client.call("record_use", run=dump(run), record=dump(record), used_as=used_as)

    def logged_by(self, record: VersionRecord) -> Optional[RunRecord]:
        found = self.client.call("logged_by", record=dump(record))
        return load_run(found) if found else None

    def used_by(self, record: VersionRecord) -> list[RunRecord]:
        return [load_run(r) for r in self.client.call("used_by", record=dump(record))]

    def logged_versions(self, run: RunRecord) -> list[VersionRecord]:
        return _versions(self.client.call("logged_versions", run=dump(run)))

    def used_versions(self, run: RunRecord) -> list[VersionRecord]:
        return _versions(self.client.call("used_versions", run=dump(run)))

    def list_runs(self, entity: str, project: str) -> list[RunRecord]:
        return [load_run(r) for r in self.client.call("list_runs", entity=entity, project=project)]

    def history(self, run: RunRecord) -> list[dict]:
        return self.client.call("history", run=dump(run))

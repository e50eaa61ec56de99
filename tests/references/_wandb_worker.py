"""Runs real wandb 0.31.0 (offline) for the differential tests, in its own process so that
its module-level caches (the artifact file cache, the S3 resource) start fresh.

    python _wandb_worker.py add SPEC OUT       add_reference calls -> manifest JSON
    python _wandb_worker.py download SPEC OUT  manifest JSON -> files under a root

`download` runs wandb's own `Artifact._download` (wandb/sdk/artifacts/artifact.py): per
entry `ArtifactManifestEntry.download` -> `WandbStoragePolicy.load_reference` ->
`S3Handler.load_path`. The one thing it needs from a W&B server, the pages of file
nodes (`_fetch_file_urls`, the GetArtifactMembershipFileUrls query), is given here from
the manifest: references have no direct URL, so nothing else of the server is used.
`get_entry` (refused by `ensure_logged` on an unlogged artifact) returns the entry.
"""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace


def _error(exc: BaseException) -> list:
    return [type(exc).__name__, str(exc)]


def add(spec: dict) -> dict:
    import wandb

    art = wandb.Artifact("refs", "dataset")
    try:
        for uri, kwargs in spec["refs"]:
            art.add_reference(uri, **kwargs)
    except Exception as exc:  # the error is the result being compared
        return {"error": _error(exc)}
    return {"manifest": art.manifest.to_manifest_json()}


def download(spec: dict) -> dict:
    import wandb
    from wandb.sdk.artifacts.artifact_manifest import ArtifactManifest

    art = wandb.Artifact("refs", "dataset")
    art._manifest = ArtifactManifest.from_manifest_json(spec["manifest"])
    for entry in art._manifest.entries.values():
        entry._parent_artifact = art
    nodes = [SimpleNamespace(node=SimpleNamespace(name=p, direct_url=None)) for p in art._manifest.entries]
    page = SimpleNamespace(page_info=SimpleNamespace(has_next_page=False, end_cursor=None), edges=nodes)
    art._fetch_file_urls = lambda cursor, per_page=5000: page
    # Artifact.get_entry is only refused because the artifact is not logged; its body:
    art.get_entry = lambda name: art._manifest.entries[name]
    try:
        art._download(spec["root"], **spec.get("options", {}))
    except Exception as exc:
        return {"error": _error(exc)}
    return {"ok": True}


def _run_settings(spec: dict):  # type: ignore[no-untyped-def]
    """An offline run when the case needs run settings (Azure account keys: wandb reads
    `wandb.run.settings.azure_account_url_to_access_key`, azure_handler.py)."""
    import wandb

    if not spec.get("azure_keys"):
        return None
    return wandb.init(mode="offline", settings=wandb.Settings(azure_account_url_to_access_key=spec["azure_keys"]))


if __name__ == "__main__":
    command, spec_path, out_path = sys.argv[1:4]
    with open(spec_path) as f:
        spec = json.load(f)
    run = _run_settings(spec)
    result = {"add": add, "download": download}[command](spec)
    if run is not None:
        run.finish()
    with open(out_path, "w") as f:
        json.dump(result, f)

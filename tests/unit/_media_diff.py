"""Run one script through real wandb 0.31.0 and through artefact and compare the results:
every entry's bytes (or reference), the manifest JSON and the artifact digest."""

from __future__ import annotations

import json
import time
import zipfile

_FIXED_CLOCK = time.mktime((2026, 1, 2, 3, 4, 6, 0, 0, -1))


class _FixedTime:
    """`zipfile`'s view of `time`: numpy's .npz members are stamped with a fixed clock,
    so both libraries' archives can be compared byte for byte."""

    def __getattr__(self, name):
        return getattr(time, name)

    @staticmethod
    def time():
        return _FIXED_CLOCK


def freeze_zip_clock(monkeypatch):
    """Stamp zip members (numpy's savez_compressed) with one fixed time."""
    monkeypatch.setattr(zipfile, "time", _FixedTime())


def snapshot(artifact) -> dict:
    """{path: bytes or ("ref", uri, digest)}, the manifest JSON and the digest."""
    files = {}
    for path, entry in sorted(artifact.manifest.entries.items()):
        if entry.ref is not None:
            files[path] = ("ref", entry.ref, entry.digest)
        else:
            with open(entry.local_path, "rb") as f:
                files[path] = f.read()
    manifest = json.dumps(artifact.manifest.to_manifest_json(), sort_keys=True)
    return {"files": files, "manifest": manifest, "digest": artifact.digest}


def outcome(fn):
    """("ok", value) or (error class name, message) of `fn()`."""
    try:
        return ("ok", fn())
    except Exception as e:  # noqa: BLE001 - comparing arbitrary outcomes
        return (type(e).__name__, str(e))


def run_both(wandb, script):
    """`script(module, artifact)` on wandb and on artefact: (theirs, ours) snapshots with
    the script's outcome."""
    import artefact

    results = []
    for module in (wandb, artefact):
        art = module.Artifact("media", "dataset")
        result = outcome(lambda: script(module, art))
        if result[0] == "ok":
            result = ("ok", None)
        results.append({"outcome": result, **snapshot(art)})
    return results


def assert_same(wandb, script):
    """The script gives the same outcome, files, manifest and digest on both."""
    theirs, ours = run_both(wandb, script)
    assert ours["outcome"] == theirs["outcome"], (ours["outcome"], theirs["outcome"])
    assert sorted(ours["files"]) == sorted(theirs["files"])
    for path in theirs["files"]:
        assert ours["files"][path] == theirs["files"][path], path
    assert ours["manifest"] == theirs["manifest"]
    assert ours["digest"] == theirs["digest"]
    return ours

"""Running the same reference operations through wandb 0.31.0 and artefact."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import artefact

WORKER = os.path.join(os.path.dirname(__file__), "_wandb_worker.py")


def tree(root) -> dict[str, bytes]:
    """Every file under `root` (relative path -> bytes); {} if there is no root."""
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            out[os.path.relpath(p, root)] = Path(p).read_bytes()
    return out


def etag_cache(root) -> set[str]:
    """Relative paths of the reference objects in a cache (`.../obj/etag/<2>/<62>`)."""
    out = set()
    for d, _, files in os.walk(root):
        if f"{os.sep}obj{os.sep}etag" in d + os.sep:
            out.update(os.path.join(os.path.basename(d), f) for f in files)
    return out


class Wandb:
    """wandb in a subprocess with its own cache dir."""

    def __init__(self, tmp_path) -> None:
        self.home = tmp_path / "wandb-home"
        self.cache = self.home / "cache"
        self.env = dict(os.environ)
        for name, sub in (("WANDB_CACHE_DIR", "cache"), ("WANDB_DATA_DIR", "data"), ("WANDB_DIR", "dir"),
                          ("WANDB_CONFIG_DIR", "config"), ("WANDB_ARTIFACT_DIR", "artifacts")):  # fmt: skip
            self.env[name] = str(self.home / sub)
        self.env.update(WANDB_MODE="offline", WANDB_SILENT="false")
        self.stderr = ""

    def _run(self, command: str, spec: dict) -> dict:
        spec_path, out_path = self.home / f"{command}.json", self.home / f"{command}.out.json"
        self.home.mkdir(parents=True, exist_ok=True)
        spec_path.write_text(json.dumps(spec))
        proc = subprocess.run(
            [sys.executable, WORKER, command, str(spec_path), str(out_path)],
            env=self.env, capture_output=True, text=True, timeout=600,
        )
        assert proc.returncode == 0, proc.stderr
        self.stderr = proc.stderr
        return json.loads(out_path.read_text())

    azure_keys: dict = {}

    def add(self, refs: list) -> dict:
        return self._run("add", {"refs": refs, "azure_keys": self.azure_keys})

    def download(self, manifest: dict, root, **options) -> dict:
        spec = {"manifest": manifest, "root": str(root), "options": options, "azure_keys": self.azure_keys}
        return self._run("download", spec)


class Artefact:
    """artefact in this process: add, log to the embedded store, download."""

    def __init__(self) -> None:
        self.logged = None

    def add(self, refs: list) -> dict:
        art = artefact.Artifact("refs", "dataset")
        try:
            for uri, kwargs in refs:
                art.add_reference(uri, **kwargs)
        except Exception as exc:
            return {"error": [type(exc).__name__, str(exc)]}
        draft = art.manifest.to_manifest_json()
        with artefact.init(project="refs") as run:
            self.logged = run.log_artifact(art).wait()
        return {"manifest": draft}

    def logged_manifest(self) -> dict:
        """The manifest as logged: numbers in `extra` re-encoded as float64, as wandb-core
        (Go) uploads them, so a GCS generation loses its last digits in both SDKs."""
        assert self.logged is not None
        return self.logged.manifest.to_manifest_json()

    def download(self, root, **options) -> dict:
        assert self.logged is not None
        try:
            self.logged.download(str(root), **options)
        except Exception as exc:
            return {"error": [type(exc).__name__, str(exc)]}
        return {"ok": True}


def contents(manifest: dict) -> dict:
    return dict(sorted(manifest["contents"].items()))

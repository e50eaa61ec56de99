"""`import artefact` stays cheap: no numpy, requests, wandb or cloud SDKs at import time."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("numpy", "requests", "urllib3", "wandb", "pydantic", "boto3", "botocore", "google.cloud", "azure",
         "http.client", "urllib.request", "pandas")  # fmt: skip


def _modules_after(code: str) -> list[str]:
    script = f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def test_import_artefact_does_not_import_heavy_modules():
    loaded = set(_modules_after("import artefact"))
    assert sorted(m for m in HEAVY if m in loaded) == []


def test_building_a_draft_does_not_import_heavy_modules(tmp_path):
    code = (
        "import os, artefact\n"
        f"os.environ['ARTEFACT_DATA_DIR'] = {str(tmp_path)!r}\n"
        f"open({str(tmp_path / 'f.txt')!r}, 'w').write('x')\n"
        "a = artefact.Artifact('x', 'dataset', metadata={'k': 1})\n"
        f"a.add_file({str(tmp_path / 'f.txt')!r})\n"
        f"a.add_dir({str(tmp_path)!r}, name='d', policy='immutable')\n"
        "a.digest, a.manifest.to_manifest_json()\n"
    )
    loaded = set(_modules_after(code))
    assert sorted(m for m in HEAVY if m in loaded) == []


def test_quiet_add_dir_imports_neither_logging_nor_pathlib(tmp_path):
    # Quiet info lines go to the `artefact` logger; unconfigured, they go nowhere, so
    # the first add_dir does not pay for importing logging and pathlib (~9 ms).
    code = (
        "import os\n"
        "os.environ['ARTEFACT_QUIET'] = 'true'\n"
        f"os.environ['ARTEFACT_DATA_DIR'] = {str(tmp_path / 'data')!r}\n"
        "import artefact\n"
        f"os.makedirs({str(tmp_path / 'tree')!r}); open({str(tmp_path / 'tree' / 'f.txt')!r}, 'w').write('x')\n"
        "a = artefact.Artifact('x', 'dataset')\n"
        f"a.add_dir({str(tmp_path / 'tree')!r}, policy='immutable')\n"
        "assert len(a.manifest.entries) == 1\n"
    )
    loaded = set(_modules_after(code))
    assert sorted(m for m in ("logging", "pathlib") if m in loaded) == []

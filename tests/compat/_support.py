"""Shared helpers for the compat and differential suites.

Mirrors the logic of the vector generator (gen_vectors.py): tree materialisation,
gen_bytes, the loopback HTTP server and the offline environment. Importing this
module makes the scratch dirs; the `compat_env` fixture sets the environment per test.
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import http.server
import importlib
import json
import os
import re
import shutil
import tempfile
import threading
import warnings
from functools import cached_property

import pytest

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
ROOT = "/tmp/wandb-artifact-vectors"  # fixed: file:// refs in the vectors embed it
TREES = os.path.join(ROOT, "trees")
HTTP_PORT = 47123  # the port recorded in the vectors
SUBJECT_NAME = os.environ.get("COMPAT_SUBJECT", "artefact")

# Scratch dirs live in a private temp root (not ROOT) so that parallel runs of
# different suites never wipe each other's cache/staging.
SESSION_ROOT = tempfile.mkdtemp(prefix="artefact-compat-")
ENV = {
    "WANDB_MODE": "offline",
    "WANDB_SILENT": "true",
    "WANDB_CACHE_DIR": os.path.join(SESSION_ROOT, "cache"),
    "WANDB_DATA_DIR": os.path.join(SESSION_ROOT, "data"),
    "WANDB_DIR": os.path.join(SESSION_ROOT, "wandbdir"),
    "WANDB_ARTIFACT_DIR": os.path.join(SESSION_ROOT, "artifacts"),
    "WANDB_CONFIG_DIR": os.path.join(SESSION_ROOT, "config"),
    "WANDB_ERROR_REPORTING": "false",
    "WANDB_DISABLE_GIT": "true",
    "WANDB_CONSOLE": "off",
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}
ENV["ARTEFACT_DATA_DIR"] = ENV["WANDB_DATA_DIR"]
ENV["ARTEFACT_CACHE_DIR"] = ENV["WANDB_CACHE_DIR"]
ENV["ARTEFACT_STORE"] = os.path.join(SESSION_ROOT, "store")  # artefact's embedded store
ENV_REMOVE = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY",
              "all_proxy", "_WANDB_USE_V1_ARTIFACTS", "WANDB_DEBUG")


def _make_dirs() -> None:
    for d in ("cache", "data", "wandbdir", "artifacts", "config", "store"):
        os.makedirs(os.path.join(SESSION_ROOT, d), exist_ok=True)


# The environment is applied per test (compat_env, through monkeypatch), never for the
# whole session: other suites must not inherit WANDB_SILENT and friends.
_make_dirs()


def rmtree_safe(path: str) -> None:
    """rmtree that first makes everything writable (staged copies are 0o400)."""
    if os.path.islink(path):
        os.unlink(path)
        return
    if not os.path.exists(path):
        return
    for dp, dns, fns in os.walk(path):
        for n in dns + fns:
            try:
                os.chmod(os.path.join(dp, n), 0o700, follow_symlinks=False)
            except (OSError, NotImplementedError):
                pass
    shutil.rmtree(path, ignore_errors=True)


atexit.register(rmtree_safe, SESSION_ROOT)


@pytest.fixture(autouse=True)
def compat_env(monkeypatch):
    """Re-assert the offline environment for every test (other suites may change it)."""
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    for k in ENV_REMOVE:
        monkeypatch.delenv(k, raising=False)
    _make_dirs()
    yield


def staging_dir() -> str:
    data = os.environ.get("ARTEFACT_DATA_DIR") or os.environ["WANDB_DATA_DIR"]
    return os.path.abspath(os.path.join(data, "artifacts", "staging"))


def load_json(name: str) -> dict:
    with open(os.path.join(DATA_DIR, name), encoding="utf-8") as f:
        return json.load(f)


# --------------------------------------------------------------------------
# Deterministic content (README.md "gen_bytes").
# --------------------------------------------------------------------------
def gen_bytes(seed: str, size: int) -> bytes:
    out = bytearray()
    seed_b = seed.encode("utf-8") + b"\x00"
    i = 0
    while len(out) < size:
        out += hashlib.sha256(seed_b + i.to_bytes(8, "big")).digest()
        i += 1
    return bytes(out[:size])


def content_bytes(spec: dict) -> bytes:
    if "utf8" in spec:
        return spec["utf8"].encode("utf-8")
    if "b64" in spec:
        return base64.b64decode(spec["b64"])
    if "gen" in spec:
        return gen_bytes(spec["gen"]["seed"], spec["gen"]["size"])
    raise ValueError(spec)


def b64md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode("ascii")


def materialize_tree(base: str, tree: list[dict]) -> str:
    """Wipe `base` and recreate the vector tree items under it; return `base`."""
    rmtree_safe(base)
    os.makedirs(base, exist_ok=True)
    for item in tree:
        p = os.path.join(base, *item["path"].split("/"))
        if item.get("kind") == "dir":
            os.makedirs(p, exist_ok=True)
            continue
        os.makedirs(os.path.dirname(p), exist_ok=True)
        if item.get("kind") == "symlink":
            os.symlink(item["target"], p)
            continue
        data = content_bytes(item["content"])
        with open(p, "wb") as f:
            f.write(data)
        # the vectors record size/md5 of every file: catch recreation mistakes early
        if "md5_b64" in item:
            assert (len(data), b64md5(data)) == (item["size"], item["md5_b64"]), item["path"]
    return base


def case_tree(case_id: str, tree: list[dict]) -> str:
    return materialize_tree(os.path.join(TREES, case_id), tree)


def errors_tree() -> str:
    """The tree gen_vectors.error_vectors() used (messages embed its path)."""
    files = [("a.txt", "a\n"), ("b.txt", "b\n"), ("d/x.txt", "x\n"),
             ("refdir/1", "1\n"), ("refdir/2", "2\n"), ("refdir/3", "3\n")]
    return case_tree("errors", [{"kind": "file", "path": p, "content": {"utf8": c}} for p, c in files])


# --------------------------------------------------------------------------
# Loopback HTTP server (same behaviour as gen_vectors.start_http_server).
# --------------------------------------------------------------------------
class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        path = self.path.split("?", 1)[0]
        parts = path.strip("/").split("/", 1)
        kind, name = (parts + [""])[:2]
        if kind == "redirect":
            self.send_response(302)
            self.send_header("Location", f"/etag/{name}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = gen_bytes("http/" + name, 100)
        self.send_response(200)
        if kind == "etag":
            self.send_header("ETag", '"' + hashlib.md5(body).hexdigest() + '"')
        elif kind == "weak":
            self.send_header("ETag", 'W/"' + hashlib.md5(body).hexdigest()[:8] + '"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def start_http_server():
    try:
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", HTTP_PORT), _Handler)
    except OSError:
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, srv.server_address[1]


@pytest.fixture(scope="session")
def http_port():
    srv, port = start_http_server()
    yield port
    srv.shutdown()
    srv.server_close()


# --------------------------------------------------------------------------
# Redaction (as in gen_vectors.redact) and outcome capture.
# --------------------------------------------------------------------------
_TMP_RE = re.compile(r"(?:/tmp|" + re.escape(tempfile.gettempdir()) + r")/tmp[0-9a-z_]+")


def redact(s: str) -> str:
    s = s.replace(ROOT, "<ROOT>")
    s = _TMP_RE.sub("<TMPDIR>", s)
    return re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:<PORT>", s)


def jsonable(val):
    """What the generator stored: tuples become lists, etc."""
    return json.loads(json.dumps(val))


def capture(fn):
    """Run fn; return ("ok", value) or ("raises", exception). Warnings are silenced
    because the generator ran without warnings-as-errors (use_as warns)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return "ok", fn()
        except Exception as e:  # noqa: BLE001
            return "raises", e


# --------------------------------------------------------------------------
# The module under test: wandb (oracle) or artefact.
# --------------------------------------------------------------------------
def _import_first(candidates):
    errors = []
    for modname, attr in candidates:
        try:
            return getattr(importlib.import_module(modname), attr)
        except (ImportError, AttributeError) as e:
            errors.append(f"{modname}.{attr}: {e}")
    raise ImportError("none of these exist: " + "; ".join(errors))


class Subject:
    """Uniform access to the pieces of the API that live in different modules."""

    def __init__(self, name: str):
        self.name = name
        self.is_wandb = name == "wandb"
        self.mod = importlib.import_module(name)

    @property
    def Artifact(self):  # noqa: N802
        return self.mod.Artifact

    @property
    def Table(self):  # noqa: N802
        return self.mod.Table

    @property
    def Html(self):  # noqa: N802
        return self.mod.Html

    @cached_property
    def validate_aliases(self):
        return self._validator("validate_aliases")

    @cached_property
    def validate_tags(self):
        return self._validator("validate_tags")

    def _validator(self, fn):
        if self.is_wandb:
            return _import_first([("wandb.sdk.artifacts._validators", fn)])
        return _import_first([(f"{self.name}.validate", fn)])

    @cached_property
    def ArtifactManifest(self):  # noqa: N802
        if self.is_wandb:
            return _import_first([("wandb.sdk.artifacts.artifact_manifest", "ArtifactManifest")])
        return _import_first([(f"{self.name}.manifest", "ArtifactManifest")])

    @cached_property
    def Error(self):  # noqa: N802
        if self.is_wandb:
            return _import_first([("wandb.errors", "Error")])
        return _import_first([(f"{self.name}.errors", "Error")])

    @cached_property
    def ArtifactTTL(self):  # noqa: N802
        if self.is_wandb:
            return _import_first([("wandb.sdk.artifacts.artifact_ttl", "ArtifactTTL")])
        n = self.name
        return _import_first([(n, "ArtifactTTL"), (f"{n}.artifact_ttl", "ArtifactTTL"),
                              (f"{n}.ttl", "ArtifactTTL"), (f"{n}.artifact", "ArtifactTTL")])

    @cached_property
    def digest_algorithm_enum(self):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return type(self.Artifact("x", "t").digest_algorithm)


_SUBJECTS: dict[str, Subject] = {}


def get_subject(name: str) -> Subject:
    if name not in _SUBJECTS:
        try:
            _SUBJECTS[name] = Subject(name)
        except Exception as e:  # noqa: BLE001 - a broken build may raise anything
            pytest.fail(f"cannot import subject module {name!r}: {e!r}", pytrace=False)
    return _SUBJECTS[name]


@pytest.fixture(scope="session")
def subject() -> Subject:
    return get_subject(SUBJECT_NAME)

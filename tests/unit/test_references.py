"""add_reference: file://, http(s):// (loopback server), cloud schemes, artifact refs."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import sys
import threading

import pytest

from artefact import Artifact, ArtifactState, instance_cache
from artefact.errors import Error

from ._helpers import error_of


def _write(path, data: bytes) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return str(path)


@pytest.fixture
def refdir(tmp_path):
    root = tmp_path / "with space" / "refdir"
    _write(root / "a.txt", b"a\n")
    _write(root / "sub" / "b.txt", b"b\n")
    _write(root / "sub" / "empty", b"")
    _write(tmp_path / "outside" / "o.txt", b"outside\n")
    os.symlink(tmp_path / "outside" / "o.txt", root / "linked_file.txt")
    os.symlink(tmp_path / "outside", root / "linked_dir")  # skipped: no followlinks
    return root


def _manifest_json(artifact) -> str:
    data = artifact.manifest.to_manifest_json()
    data["contents"] = dict(sorted(data["contents"].items()))  # os.walk order may differ
    return json.dumps(data)


def _file_ops(artifact, root, uri_root):
    artifact.add_reference(f"{uri_root}/a.txt")
    artifact.add_reference(f"{uri_root}/a.txt", name="renamed/a.txt", checksum=False)
    artifact.add_reference(uri_root, name="mounted")
    artifact.add_reference(f"{uri_root}/sub/", checksum=False)
    artifact.add_reference(f"{uri_root}/linked_file.txt", name="via_link.txt", checksum=False)
    return artifact


def test_file_references_match_wandb(wandb, refdir):
    uri_root = "file://" + str(refdir).replace(" ", "%20")
    ours = _file_ops(Artifact("refs", "dataset"), refdir, uri_root)
    theirs = _file_ops(wandb.Artifact("refs", "dataset"), refdir, uri_root)
    assert _manifest_json(ours) == _manifest_json(theirs)
    assert ours.digest == theirs.digest
    assert "mounted/linked_dir/o.txt" not in ours.manifest.entries
    assert ours.manifest.entries["mounted/sub/b.txt"].ref == f"{uri_root}/sub/b.txt"


def test_file_reference_digests(refdir):
    a = Artifact("x", "t")
    [entry] = a.add_reference(f"file://{refdir}/a.txt")
    assert (entry.path, entry.digest, entry.size, entry.extra) == ("a.txt", "YLcl8QychccNl4gN/oGRsw==", 2, {})
    [entry] = a.add_reference(f"file://{refdir}/a.txt", name="nock", checksum=False)
    uri = (refdir / "a.txt").resolve().as_uri().encode()
    import base64

    assert entry.digest == base64.b64encode(hashlib.md5(uri).digest()).decode()


def test_max_objects(refdir):
    a = Artifact("x", "t")
    assert error_of(lambda: a.add_reference(f"file://{refdir}", max_objects=2)) == (
        "ValueError", "Exceeded 2 objects tracked, pass max_objects to add_reference")  # fmt: skip
    assert len(a.add_reference(f"file://{refdir}", max_objects=4)) == 4  # equal is fine


def test_reference_errors(tmp_path):
    a = Artifact("x", "t")
    assert error_of(lambda: a.add_reference("/plain/path")) == (
        "ValueError", "References must be URIs. To reference a local file, use file://")  # fmt: skip
    missing = f"file://{tmp_path}/missing"
    assert error_of(lambda: a.add_reference(missing)) == (
        "ValueError", f"Path {missing!r} must be a valid file or directory path")  # fmt: skip
    assert error_of(lambda: a.add_reference("foo://bar/baz.txt")) == (
        "ValueError",
        'You must pass name="<entry_name>" when tracking references with unknown schemes. ref: foo://bar/baz.txt',
    )


def test_unknown_schemes_are_tracked(capsys, monkeypatch):
    monkeypatch.delenv("ARTEFACT_QUIET")
    monkeypatch.delenv("WANDB_SILENT")
    a = Artifact("x", "t")
    [entry] = a.add_reference("custom-scheme://bucket/path/obj.bin", name="tracked/obj.bin")
    assert a.manifest.to_manifest_json()["contents"] == {
        "tracked/obj.bin": {"digest": "custom-scheme://bucket/path/obj.bin", "ref": "custom-scheme://bucket/path/obj.bin"}
    }
    assert "Artifact references with unsupported schemes cannot be checksummed" in capsys.readouterr().err


def _without(modules: list[str], code: str) -> str:
    """Run `code` in a fresh interpreter where `modules` cannot be imported (the SDK extras
    are installed for the other tests); its stdout."""
    import subprocess
    import textwrap

    prelude = "import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in modules)
    proc = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


_ADD = """
import artefact
try:
    artefact.Artifact("x", "t").add_reference({uri!r}, checksum={checksum})
except Exception as exc:
    print(type(exc).__name__ + ": " + str(exc))
"""


def test_s3_without_boto3():
    for checksum in (True, False):
        out = _without(["boto3", "botocore"], _ADD.format(uri="s3://bucket/key", checksum=checksum))
        assert out == "Error: s3:// references requires the boto3 library, run pip install wandb[aws]\n"


def test_gcs_without_library():
    out = _without(["google.cloud.storage"], _ADD.format(uri="gs://bucket/key", checksum=True))
    assert out == "Error: gs:// references require the google-cloud-storage library, run pip install wandb[gcp]\n"


def test_azure_without_checksum_needs_no_library():
    a = Artifact("x", "t")
    uri = "https://acct.blob.core.windows.net/container/dir/blob.bin?versionId=1"
    [entry] = a.add_reference(uri, checksum=False)
    plain = "https://acct.blob.core.windows.net/container/dir/blob.bin"
    assert (entry.path, entry.digest, entry.ref, entry.size) == ("dir/blob.bin", plain, plain, None)
    out = _without(["azure.storage.blob", "azure.identity"], _ADD.format(uri=uri, checksum=True))
    assert out.startswith("Error: Azure references require the azure library")


def test_client_artifact_references():
    source = Artifact("src", "t")
    with source.new_file("f.txt") as f:
        f.write("x")
    target = Artifact("dst", "t")
    uri = f"wandb-client-artifact://{source._client_id}/f.txt"
    [entry] = target.add_reference(uri)
    assert (entry.path, entry.ref, entry.size, entry.digest) == ("f.txt", uri, 0, source.manifest.entries["f.txt"].digest)


def test_artifact_references_resolve_in_process_or_fail_clearly():
    with pytest.raises(Error, match="is not in this process nor in the artifact store"):
        Artifact("x", "t").add_reference("wandb-artifact://41727469666163743a393939/f.txt")
    logged = Artifact("logged", "t")
    with logged.new_file("f.txt") as f:
        f.write("x")
    logged._state = ArtifactState.COMMITTED  # as the store sets it once logged
    logged._id = "QXJ0aWZhY3Q6OTk5"  # Artifact:999
    instance_cache.by_id[logged._id] = logged
    try:
        [entry] = Artifact("x", "t").add_reference(logged.get_entry("f.txt"))
        assert (entry.ref, entry.size) == ("wandb-artifact://41727469666163743a393939/f.txt", 0)
        assert entry.digest == logged.manifest.entries["f.txt"].digest
    finally:
        instance_cache.by_id.pop(logged._id)


# --- http --------------------------------------------------------------------------------

BODY = bytes(range(100))


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        kind = self.path.strip("/").split("/", 1)[0]
        if kind == "redirect":
            self.send_response(302)
            self.send_header("Location", "/etag/" + self.path.split("/", 2)[2])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if kind == "missing":
            self.send_error(404)
            return
        self.send_response(200)
        if kind == "etag":
            self.send_header("ETag", '"' + hashlib.md5(BODY).hexdigest() + '"')
        elif kind == "weak":
            self.send_header("ETag", 'W/"abc"')
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def http_base():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _http_ops(artifact, base):
    artifact.add_reference(f"{base}/etag/model.bin")
    artifact.add_reference(f"{base}/noetag/data.bin")
    artifact.add_reference(f"{base}/weak/weak.bin")
    artifact.add_reference(f"{base}/etag/nock.bin", checksum=False)
    artifact.add_reference(f"{base}/etag/q.bin?v=1&x=2")
    artifact.add_reference(f"{base}/redirect/moved.bin", name="moved.bin")
    return artifact


def test_http_references_match_wandb(wandb, http_base):
    ours = _http_ops(Artifact("http", "t"), http_base)
    theirs = _http_ops(wandb.Artifact("http", "t"), http_base)
    assert json.dumps(ours.manifest.to_manifest_json()) == json.dumps(theirs.manifest.to_manifest_json())
    contents = ours.manifest.to_manifest_json()["contents"]
    md5 = hashlib.md5(BODY).hexdigest()
    assert contents["model.bin"] == {
        "digest": md5, "ref": f"{http_base}/etag/model.bin", "size": 100, "extra": {"etag": f'"{md5}"'}}  # fmt: skip
    assert contents["weak.bin"]["digest"] == 'W/"abc'
    assert contents["data.bin"]["digest"] == f"{http_base}/noetag/data.bin"
    assert contents["nock.bin"] == {"digest": f"{http_base}/etag/nock.bin", "ref": f"{http_base}/etag/nock.bin"}
    assert contents["moved.bin"]["ref"] == f"{http_base}/etag/moved.bin"
    assert "q.bin?v=1&x=2" in contents


def test_http_errors(http_base):
    import requests

    a = Artifact("x", "t")
    with pytest.raises(ValueError, match=r"Invalid artifact path: '\.'"):
        a.add_reference(f"{http_base}/etag/dir/")
    with pytest.raises(requests.HTTPError):
        a.add_reference(f"{http_base}/missing/x.bin")

"""A small Azure Blob Storage endpoint for the tests: the REST calls azure-storage-blob
makes for wandb's azure_handler.py (Get Blob Properties, Get Blob with If-Match / a
version id / a range, List Blobs with versions), served over TLS for
`https://<account>.blob.core.windows.net` through a loopback HTTPS proxy (CONNECT), so
both SDKs run unchanged. Requests must carry a SharedKey `Authorization` header, which
is checked against the account key, or a service SAS (what artefact's transfer engine
sends).
"""

from __future__ import annotations

import base64
import datetime
import email.utils
import hashlib
import hmac
import http.server
import os
import socketserver
import ssl
import threading
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

ACCOUNT_KEY = base64.b64encode(b"artefact-test-account-key").decode()


@dataclass
class Version:
    version_id: str
    etag: str
    body: bytes
    metadata: dict = field(default_factory=dict)
    modified: str = field(default_factory=lambda: email.utils.formatdate(usegmt=True))
    content_md5: str = ""  # base64, computed when the blob is put

    def __post_init__(self) -> None:
        self.content_md5 = self.content_md5 or base64.b64encode(hashlib.md5(self.body).digest()).decode()


class Store:
    """account -> container -> blob name -> versions (the last one is current, unless deleted)."""

    def __init__(self) -> None:
        self.blobs: dict[tuple[str, str, str], list[Version]] = {}
        self.deleted: set[tuple[str, str, str]] = set()
        self.lock = threading.Lock()

    def put(self, account: str, container: str, name: str, body: bytes, metadata: dict | None = None) -> Version:
        now = datetime.datetime.now(datetime.timezone.utc)
        version = Version(now.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z", f'"0x{uuid.uuid4().hex[:15].upper()}"',
                          body, metadata or {})  # fmt: skip
        with self.lock:
            self.blobs.setdefault((account, container, name), []).append(version)
            self.deleted.discard((account, container, name))
        return version

    def delete(self, account: str, container: str, name: str, purge: bool = False) -> None:
        with self.lock:
            if purge:
                self.blobs.pop((account, container, name), None)
            self.deleted.add((account, container, name))

    def find(self, account: str, container: str, name: str, version_id: str | None):
        versions = self.blobs.get((account, container, name), [])
        if version_id is not None:
            return next((v for v in versions if v.version_id == version_id), None)
        if not versions or (account, container, name) in self.deleted:
            return None
        return versions[-1]


def _make_cert(directory: str) -> tuple[str, str]:
    """A self-signed certificate for *.blob.core.windows.net: (cert+CA path, key path)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "*.blob.core.windows.net")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("*.blob.core.windows.net")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = os.path.join(directory, "azure-ca.pem"), os.path.join(directory, "azure-key.pem")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))  # fmt: skip
    return cert_path, key_path


class _BlobHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    store: Store

    def log_message(self, *args) -> None:
        pass

    def _account(self) -> str:
        return self.headers.get("Host", "").split(".", 1)[0]

    def _authorized(self, account: str) -> bool:
        """SharedKey: HMAC-SHA256 of the canonical request with the account key; or a
        service SAS in the query (`sig`), recomputed with azure-storage-blob's own
        generate_blob_sas from the same fields, unexpired and allowing reads."""
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if "sig" in query:
            return self._sas_valid(account, url.path, query)
        auth = self.headers.get("Authorization", "")
        if not auth.startswith(f"SharedKey {account}:"):
            return False
        h = self.headers
        length = h.get("Content-Length", "")
        parts = [self.command, h.get("Content-Encoding", ""), h.get("Content-Language", ""),
                 "" if length == "0" else length, h.get("Content-MD5", ""), h.get("Content-Type", ""), "",
                 h.get("If-Modified-Since", ""), h.get("If-Match", ""), h.get("If-None-Match", ""),
                 h.get("If-Unmodified-Since", ""), h.get("Range", "")]  # fmt: skip
        ms = sorted((k.lower(), v.strip()) for k, v in h.items() if k.lower().startswith("x-ms-"))
        url = urlsplit(self.path)
        resource = f"/{account}{url.path}"
        query = parse_qs(url.query, keep_blank_values=True)
        for k in sorted(query, key=str.lower):
            resource += f"\n{k.lower()}:{','.join(sorted(query[k]))}"
        string = "\n".join(parts) + "\n" + "".join(f"{k}:{v}\n" for k, v in ms) + resource
        mac = hmac.new(base64.b64decode(ACCOUNT_KEY), string.encode(), hashlib.sha256).digest()
        return hmac.compare_digest(auth.split(":", 1)[1], base64.b64encode(mac).decode())

    def _sas_valid(self, account: str, path: str, query: dict) -> bool:
        from azure.storage.blob import generate_blob_sas

        container, _, name = unquote(path).lstrip("/").partition("/")
        expiry = datetime.datetime.strptime(query.get("se", ""), "%Y-%m-%dT%H:%M:%SZ")
        if expiry.replace(tzinfo=datetime.timezone.utc) < datetime.datetime.now(datetime.timezone.utc):
            return False
        if "r" not in query.get("sp", "") or query.get("sr") not in ("b", "bv"):
            return False
        if (query.get("sr") == "bv") != ("versionid" in query):
            return False  # a version SAS is for that version only
        again = generate_blob_sas(account, container, name, account_key=ACCOUNT_KEY, permission=query["sp"],
                                  expiry=query["se"], start=query.get("st"),
                                  version_id=query.get("versionid") if query.get("sr") == "bv" else None)  # fmt: skip
        expected = {k: v[0] for k, v in parse_qs(again).items()}
        return hmac.compare_digest(expected.get("sig", ""), query["sig"]) and expected.get("sv") == query.get("sv")

    def _error(self, status: int, code: str) -> None:
        body = b"" if self.command == "HEAD" else (
            f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code><Message>{code}</Message></Error>'
        ).encode()  # fmt: skip
        self.send_response(status)
        self.send_header("x-ms-error-code", code)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        account = self._account()
        if not self._authorized(account):
            return self._error(403, "AuthenticationFailed")
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        container, _, name = unquote(url.path).lstrip("/").partition("/")
        if query.get("comp") == "list":
            return self._list(account, container, query)
        version = self.store.find(account, container, name, query.get("versionid"))
        if version is None:
            return self._error(404, "BlobNotFound")
        if_match = self.headers.get("If-Match")
        if if_match and if_match not in ("*", version.etag):
            return self._error(412, "ConditionNotMet")
        body, status, extra = version.body, 200, {}
        byte_range = self.headers.get("x-ms-range") or self.headers.get("Range")
        if byte_range and self.command == "GET" and body:
            start, _, end = byte_range.split("=", 1)[1].partition("-")
            first, last = int(start), min(int(end) if end else len(body) - 1, len(body) - 1)
            extra["Content-Range"] = f"bytes {first}-{last}/{len(body)}"
            body, status = body[first:last + 1], 206
        self.send_response(status)
        for k, v in {"ETag": version.etag, "Last-Modified": version.modified, "x-ms-blob-type": "BlockBlob",
                     "x-ms-version-id": version.version_id, "Content-Type": "application/octet-stream",
                     "x-ms-creation-time": version.modified, "Accept-Ranges": "bytes", **extra,
                     **{f"x-ms-meta-{k}": v for k, v in version.metadata.items()}}.items():  # fmt: skip
            self.send_header(k, v)
        if status == 200 and version.content_md5:  # as Azure: the MD5 it stored at Put Blob
            self.send_header("Content-MD5", version.content_md5)
        self.send_header("Content-Length", str(len(body) if self.command == "GET" else len(version.body)))
        self.end_headers()
        if self.command == "GET":
            self.wfile.write(body)

    def _list(self, account: str, container: str, query: dict) -> None:
        prefix, delimiter = query.get("prefix", ""), query.get("delimiter")
        with_versions = "versions" in query.get("include", "").split(",")
        items, prefixes = [], set()
        with self.store.lock:
            keys = sorted(k for k in self.store.blobs if k[:2] == (account, container) and k[2].startswith(prefix))
            for key in keys:
                name = key[2]
                if delimiter and delimiter in name[len(prefix):]:
                    prefixes.add(name[: len(prefix) + name[len(prefix):].index(delimiter) + 1])
                    continue
                versions = self.store.blobs[key]
                current = None if key in self.store.deleted else versions[-1]
                for v in versions if with_versions else ([current] if current else []):
                    items.append((name, v, v is current))
        xml = ['<?xml version="1.0" encoding="utf-8"?>',
               f'<EnumerationResults ServiceEndpoint="https://{account}.blob.core.windows.net/" '
               f'ContainerName="{escape(container)}"><Prefix>{escape(prefix)}</Prefix><Blobs>']  # fmt: skip
        for name, v, current in items:
            # Azure sends <Metadata> only when asked (include=metadata) or set
            meta = "".join(f"<{k}>{escape(val)}</{k}>" for k, val in v.metadata.items())
            meta = f"<Metadata>{meta}</Metadata>" if meta else ""
            xml.append(
                f"<Blob><Name>{escape(name)}</Name><VersionId>{v.version_id}</VersionId>"
                f"{'<IsCurrentVersion>true</IsCurrentVersion>' if current else ''}"
                f"<Properties><Last-Modified>{v.modified}</Last-Modified><Etag>{escape(v.etag)}</Etag>"
                f"<Content-Length>{len(v.body)}</Content-Length><Content-Type>application/octet-stream"
                f"</Content-Type><BlobType>BlockBlob</BlobType></Properties>{meta}</Blob>"
            )
        xml.extend(f"<BlobPrefix><Name>{escape(p)}</Name></BlobPrefix>" for p in sorted(prefixes))
        xml.append("</Blobs><NextMarker /></EnumerationResults>")
        body = "".join(xml).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Proxy(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class AzureFake:
    """The proxy + TLS + blob endpoint; `env` is what a client process needs."""

    def __init__(self, directory: str) -> None:
        self.store = Store()
        cert, key = _make_cert(directory)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        store = self.store

        class Handler(_BlobHandler):
            pass

        Handler.store = store

        class Tunnel(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                line = self.rfile.readline()
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                if not line.startswith(b"CONNECT "):
                    return
                self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                self.wfile.flush()
                tls = context.wrap_socket(self.connection, server_side=True)
                Handler(tls, self.client_address, self.server)

        self.server = _Proxy(("127.0.0.1", 0), Tunnel)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        proxy = f"http://127.0.0.1:{self.server.server_address[1]}"
        # SSL_CERT_FILE: the core's transfer engine (OpenSSL) trusts the test CA too
        self.env = {"HTTPS_PROXY": proxy, "https_proxy": proxy, "REQUESTS_CA_BUNDLE": cert, "SSL_CERT_FILE": cert}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

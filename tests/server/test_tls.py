"""The server behind uvicorn's TLS options, and the SDK over https: catalog calls
(requests) and blob transfers (the Rust core, through the system OpenSSL) both check the
server's certificate."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ._server import ServerProcess

CLIENT = r"""
import os, sys, artefact as wandb
work = sys.argv[1]
os.makedirs(work + "/data", exist_ok=True)
for i in range(20):
    open(f"{work}/data/{i}.txt", "w").write(f"{i}\n" * 100)
open(work + "/data/big.bin", "wb").write(os.urandom(3 << 20))
with wandb.init(project="tls") as run:
    a = wandb.Artifact("ds", "dataset"); a.add_dir(work + "/data"); run.log_artifact(a).wait()
os.environ["ARTEFACT_CACHE_DIR"] = work + "/cache2"
art = wandb.Api().artifact("tls/ds:latest")
art.verify(art.download(work + "/out"))
print("ok", art.version)
"""


def test_log_and_download_over_https(tmp_path):
    key, cert = str(tmp_path / "key.pem"), str(tmp_path / "cert.pem")
    made = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                           "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                          capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"openssl cannot make a test certificate: {made.stderr[-300:]}")
    srv = ServerProcess(str(tmp_path / "c.db"), str(tmp_path / "blobs"), tls=(key, cert))
    try:
        api_key = srv.make_key("tester", "writer")
        env = dict(os.environ, ARTEFACT_BASE_URL=srv.url, ARTEFACT_API_KEY=api_key, ARTEFACT_ENTITY="tester",
                   REQUESTS_CA_BUNDLE=cert, SSL_CERT_FILE=cert, ARTEFACT_HTTP_RETRY_SECONDS="5",
                   ARTEFACT_TRANSFER_RETRIES="1")
        done = subprocess.run([sys.executable, "-c", CLIENT, str(tmp_path)], env=env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        assert done.stdout.strip() == "ok v0"
        # without trusting the certificate, the client refuses to talk
        env.pop("REQUESTS_CA_BUNDLE"), env.pop("SSL_CERT_FILE")
        bad = subprocess.run([sys.executable, "-c", "import artefact as w; w.Api().artifact('tls/ds:latest')"],
                             env=env, capture_output=True, text=True, timeout=120)
        assert bad.returncode != 0 and "certificate" in bad.stderr.lower()
    finally:
        srv.stop()

#!/usr/bin/env bash
# Install artefact with its test dependencies into ./.venv and run every test tier:
# the Rust core's `cargo test`, then pytest (vectors, differential vs wandb, store, crash).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
bash scripts/install-postgresql.sh  # Debian PostgreSQL (tests/server) and OpenSSL headers (https transfers)
# Builds the Rust extension (maturin, release profile) and installs the wheel.
.venv/bin/python -m pip install -q ".[test]"
cargo test -p artefact-core --quiet
bash scripts/install-s3s-fs.sh  # signature-checking S3 endpoint for the server's S3-blob tests
bash scripts/install-chromium.sh  # headless Chromium + chromedriver for the web UI's browser tests
# The package lives in python/, so tests import the installed wheel, not the source tree.
.venv/bin/python -m pytest -q --durations=25 "$@"

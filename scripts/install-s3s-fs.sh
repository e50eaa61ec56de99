#!/usr/bin/env bash
# s3s-fs 0.14.1 (crates.io): an S3 endpoint that checks SigV4 signatures, presigned URLs
# included, for tests/server/test_s3_*.py. Built once into ~/.cache/artefact-tools
# (ARTEFACT_TOOLS_DIR overrides); skipped when present. 0.14.1 is the last release that
# builds with rustc 1.95. The build takes several minutes on 2 cores.
set -euo pipefail
root="${ARTEFACT_TOOLS_DIR:-$HOME/.cache/artefact-tools}/s3s-fs"
[ -x "$root/bin/s3s-fs" ] && exit 0
mkdir -p "$root"
started=$(date +%s)
cargo install s3s-fs --version 0.14.1 --features binary --locked --root "$root" --quiet
echo "install-s3s-fs.sh: built s3s-fs in $(( $(date +%s) - started )) s" >&2

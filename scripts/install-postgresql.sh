#!/usr/bin/env bash
# Debian packages the team tier needs, installed only where missing (idempotent):
# - postgresql: the tests make throwaway clusters of it with initdb/pg_ctl;
# - libssl-dev + pkg-config: the Rust core's https transfers link the system OpenSSL.
set -euo pipefail
need=()
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    need+=(postgresql)
fi
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
if ! pkg-config --exists openssl 2>/dev/null; then
    need+=(libssl-dev)
fi
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "install-postgresql.sh: missing ${need[*]}; run as root to apt-get install them" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q "${need[@]}"

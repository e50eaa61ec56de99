#!/usr/bin/env bash
# Debian's PostgreSQL for the team-tier tests (a throwaway cluster is made by the tests
# themselves with initdb/pg_ctl). Idempotent: does nothing when initdb is already there.
set -euo pipefail
if command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "install-postgresql.sh: PostgreSQL is missing; run as root to apt-get install it" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q postgresql

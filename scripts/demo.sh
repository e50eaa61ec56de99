#!/usr/bin/env bash
# The main job, from a fresh machine: install artefact into ./.venv, version a directory
# into the embedded store (ARTEFACT_STORE, default ~/.local/share/artefact/store) and
# read it back. Usage: scripts/demo.sh [DIR]   (without DIR, a sample tree is made)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q .
work=$(mktemp -d)
src=${1:-$work/sample}
if [ $# -eq 0 ]; then
  mkdir -p "$src/images" "$src/labels"
  for i in $(seq 0 99); do head -c 4096 /dev/urandom > "$src/images/img_$i.bin"; echo "$i,$((i % 10))" > "$src/labels/$i.csv"; done
  echo "a sample dataset made by scripts/demo.sh" > "$src/README.md"
fi
artefact=.venv/bin/artefact
name=$(basename "$(cd "$src" && pwd)" | tr -c 'A-Za-z0-9_.\n-' '-')
$artefact put "$src" --name "$name" --type dataset --alias demo
$artefact versions "$name"
$artefact get "$name:demo" --root "$work/restored"
$artefact verify "$name:demo" --root "$work/restored"
diff -r "$src" "$work/restored" && echo "read back: identical to $src"

"""Child-process driver for the concurrency and crash tests (real processes, real files).

    _worker.py log <store> <name> <seed> [--files N] [--count K] [--wait-for PATH]
    _worker.py loop <store> <name> <seed>            # log forever (killed from outside)

Each log writes N fresh files derived from (seed, i) into a private dir and logs them.
The indices of the versions it got are printed one per line.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

from artefact import _core
from artefact.store import LocalStore


def _log_one(store: LocalStore, name: str, seed: str, i: int, files: int) -> int:
    data = tempfile.mkdtemp(prefix=f"w{seed}-{i}-")
    for j in range(files):
        with open(os.path.join(data, f"f{j:03d}.bin"), "wb") as f:
            f.write(f"{seed}:{i}:{j}:".encode() * (50 + j))
    m = _core.Manifest()
    m.add_dir(data, None, "MD5", "immutable", None, False, False)
    record = store.log_version("ent", "proj", name, "dataset", m, aliases=["latest", f"s{seed}"])
    return record.version_index


def main(argv: list[str]) -> int:
    cmd, root, name, seed = argv[:4]
    opts = dict(zip(argv[4::2], argv[5::2]))
    files = int(opts.get("--files", 5))
    count = int(opts.get("--count", 1))
    wait_for = opts.get("--wait-for")
    if wait_for:
        while not os.path.exists(wait_for):
            time.sleep(0.001)
    store = LocalStore.open(root)
    i = 0
    while cmd == "loop" or i < count:
        print(_log_one(store, name, seed, i, files), flush=True)
        i += 1
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

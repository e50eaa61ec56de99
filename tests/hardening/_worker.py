"""Child process for the download hardening tests (real processes, real files, real signals).

    _worker.py get <name> <root> [--barrier PATH] [--repeat N] [--fresh 1]
        download then verify, N times (into <root>/<k> each time with --fresh)
    _worker.py cleanup-loop <stop PATH>                          `cache cleanup 0` until PATH exists
    _worker.py add-dir <dir>                                     Artifact.add_dir, print the digest
    _worker.py hash-truncated <file> <keep bytes> <delay s>      hash while a thread truncates it

Exit status 0 means every step succeeded; an exception prints its traceback and exits 1.
"""

from __future__ import annotations

import os
import sys
import threading
import time


def _get(name: str, root: str, opts: dict[str, str]) -> int:
    import artefact

    barrier = opts.get("--barrier")
    if barrier:
        while not os.path.exists(barrier):
            time.sleep(0.001)
    for k in range(int(opts.get("--repeat", 1))):
        where = os.path.join(root, str(k)) if opts.get("--fresh") else root
        art = artefact.Api().artifact(name)
        art.download(root=where)
        art.verify(root=where)  # a download that returned is complete, whatever the others do
    print("OK")
    return 0


def _cleanup_loop(stop: str) -> int:
    from artefact.cache import ArtifactCache

    n = 0
    while not os.path.exists(stop):
        ArtifactCache().cleanup(0, remove_temp=n % 2 == 1)
        n += 1
    print(f"OK {n}")
    return 0


def _add_dir(path: str) -> int:
    import artefact

    art = artefact.Artifact("x", "dataset")
    print("started", flush=True)
    art.add_dir(path)
    print(art.manifest.digest() if hasattr(art.manifest, "digest") else "done")
    return 0


def _hash_truncated(path: str, keep: int, delay: float) -> int:
    from artefact import _core

    def cut() -> None:
        time.sleep(delay)
        os.truncate(path, keep)

    threading.Thread(target=cut).start()
    print("hashing", flush=True)
    _core.hash_file(path, "MD5")
    return 0


def main(argv: list[str]) -> int:
    # As in an interactive shell: a process started in the background by a
    # non-interactive shell inherits SIGINT ignored, and Python then keeps it ignored.
    import signal

    signal.signal(signal.SIGINT, signal.default_int_handler)
    cmd = argv[0]
    if cmd == "get":
        return _get(argv[1], argv[2], dict(zip(argv[3::2], argv[4::2])))
    if cmd == "cleanup-loop":
        return _cleanup_loop(argv[1])
    if cmd == "add-dir":
        return _add_dir(argv[1])
    if cmd == "hash-truncated":
        return _hash_truncated(argv[1], int(argv[2]), float(argv[3]))
    raise SystemExit(f"unknown command {cmd!r}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

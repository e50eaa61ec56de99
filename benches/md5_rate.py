"""MD5 throughput of artefact's core against `hashlib.md5` (OpenSSL), in one process.

    python benches/md5_rate.py [--mib 256] [--rounds 7]

Per round, interleaved: hashlib.md5 over an in-memory buffer (the limit: what wandb's
hashing runs at), `_core.hash_bytes` over the same buffer (the backend artefact chose
at run time), both core backends (the md-5 crate and OpenSSL's libcrypto) measured
directly, and one file of the same size hashed from the page cache by `_core.hash_file`
(mapped) and by hashlib reading it in 1 MiB blocks. Medians and bests (the round least
disturbed by other work: on a shared machine the steadier figure); ratios are to
hashlib in the same run. Prints the CPU model: the point of the run is the CPU it is made on.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time

from artefact import _core


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def rate(fn, nbytes: int) -> float:
    t = time.perf_counter()
    fn()
    return nbytes / (time.perf_counter() - t) / 1e6


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args(argv)
    n = args.mib << 20
    buf = os.urandom(n)
    results: dict[str, list[float]] = {k: [] for k in
                                        ("hashlib", "artefact", "rust", "openssl", "hashlib file", "artefact file")}
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "f.bin")
        with open(path, "wb") as f:
            f.write(buf)

        def hashlib_file() -> None:
            h = hashlib.md5()
            with open(path, "rb", buffering=0) as f:
                while block := f.read(1 << 20):
                    h.update(block)

        assert _core.hash_bytes(buf) == _core.hash_file(path)[0]
        for _ in range(args.rounds):
            results["hashlib"].append(rate(lambda: hashlib.md5(buf).digest(), n))
            results["artefact"].append(rate(lambda: _core.hash_bytes(buf), n))
            chosen, lib, rust, openssl = _core.md5_info(n, 1)
            results["rust"].append(rust / 1e6)
            results["openssl"].append(openssl / 1e6)
            results["hashlib file"].append(rate(hashlib_file, n))
            results["artefact file"].append(rate(lambda: _core.hash_file(path), n))
    med = {k: statistics.median(v) for k, v in results.items()}
    best = {k: max(v) for k, v in results.items()}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"CPU: {cpu_model()} ({os.cpu_count()} logical); load average {load:.1f}; "
          f"{args.rounds} rounds of {args.mib} MiB, medians")
    print(f"artefact MD5 backend chosen at run time: {chosen} (libcrypto: {lib or 'not found'})")
    print(f"{'what':<34}{'median MB/s':>12}{'× hashlib':>11}{'best MB/s':>11}{'× hashlib':>11}")
    for k, what in (("hashlib", "hashlib.md5, in memory (limit)"), ("artefact", "artefact hash_bytes, in memory"),
                    ("rust", "  md-5 crate backend"), ("openssl", "  OpenSSL libcrypto backend"),
                    ("hashlib file", "hashlib, file read 1 MiB blocks"), ("artefact file", "artefact hash_file (mapped)")):
        ref = "hashlib file" if "file" in k else "hashlib"
        print(f"{what:<34}{med[k]:>12.0f}{med[k] / med[ref]:>10.2f}×{best[k]:>11.0f}{best[k] / best[ref]:>10.2f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""A Table of images added to an artifact: artefact vs wandb 0.31.0, each run in a fresh
process, interleaved, medians quoted.

Cases (the timed part builds the images, the Table, `artifact.add(table, "t")` and
`manifest.to_manifest_json()`; the pixel arrays are made before the clock starts):

- `mnist`: 10,000 × 28×28 uint8 grayscale images with an int label column.
- `rgb256`: 1,000 × 256×256×3 uint8 images with an int label column.

Each run reports wall time, user+sys CPU, peak RSS and the artifact digest; the digests of
the two SDKs must be equal (same bytes), or the script exits with status 1.
The limits beside them, measured in the same run: PIL alone encoding the same PNGs in
memory on one thread (`pil-1t`), zlib alone deflating Pillow's filtered rows with Pillow's
parameters (`zlib-1t`: the work any encoder writing the same bytes must do), artefact's
native encoder alone on one thread (`native-1t`), and the speed-up bounds they give on all
cores (wandb's CPU time over their CPU time spread over the cores), and creating one small file per image (`create-files`;
every SDK must write each image to a file, and on a busy ext4 file creation can dominate).
Children exit with `os._exit` so neither SDK's at-exit temp-dir removal (a mass delete)
slows the runs after it.

    python benches/media_table.py                    # both cases, 3 rounds
    python benches/media_table.py --only mnist --rounds 1
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import struct
import subprocess
import sys
import time
import zlib

CASES = {"mnist": (10_000, (28, 28)), "rgb256": (1_000, (256, 256, 3))}
MARK = "MEDIA_BENCH "
SDKS = ["wandb", "artefact", "pil-1t", "zlib-1t", "native-1t", "create-files"]


def _pixels(case: str):
    import numpy as np

    count, shape = CASES[case]
    rng = np.random.default_rng(0)
    if case == "mnist":  # MNIST-like: mostly black with a bright blob
        base = rng.integers(0, 256, (count,) + shape, dtype=np.uint8)
        base[:, :6, :] = 0
        base[:, -6:, :] = 0
        return base
    return rng.integers(0, 256, (count,) + shape, dtype=np.uint8)


def _filtered_rows(arr) -> bytes:
    """The filtered rows Pillow deflates for `arr` (its PNG's IDAT data, inflated)."""
    import io

    from PIL import Image as PILImage

    buffer = io.BytesIO()
    PILImage.fromarray(arr).save(buffer, format="png", transparency=None)
    png, i, idat = buffer.getvalue(), 8, b""
    while i < len(png):
        (n,) = struct.unpack(">I", png[i : i + 4])
        if png[i + 4 : i + 8] == b"IDAT":
            idat += png[i + 8 : i + 8 + n]
        i += 12 + n
    return zlib.decompress(idat)


def child(sdk: str, case: str, workdir: str) -> None:
    """One timed run in this process; prints a MARK line with the results."""
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
    os.environ["WANDB_DIR"] = os.environ["WANDB_DATA_DIR"] = os.environ["WANDB_CACHE_DIR"] = workdir
    os.environ["ARTEFACT_DATA_DIR"] = os.environ["ARTEFACT_CACHE_DIR"] = workdir
    pixels = _pixels(case)
    if sdk == "create-files":  # the file-creation rate: one small file per image
        start, cpu0 = time.perf_counter(), time.process_time()
        for i, arr in enumerate(pixels):
            with open(os.path.join(workdir, f"{i}.png"), "wb") as f:
                f.write(arr.tobytes()[:300])
        digest = ""
    elif sdk == "pil-1t":
        import io

        from PIL import Image as PILImage

        start, cpu0 = time.perf_counter(), time.process_time()
        for arr in pixels:
            PILImage.fromarray(arr).save(io.BytesIO(), format="png", transparency=None)
        digest = ""
    elif sdk == "zlib-1t":  # Pillow's deflate alone (its filtered rows made before the clock)
        rows = [_filtered_rows(arr) for arr in pixels]
        start, cpu0 = time.perf_counter(), time.process_time()
        for raw in rows:
            z = zlib.compressobj(6, zlib.DEFLATED, 15, 9, zlib.Z_FILTERED)  # Pillow's ZipEncode.c
            z.compress(raw)
            z.flush()
        digest = ""
    elif sdk == "native-1t":  # artefact's Pillow-identical encoder alone, one thread
        from artefact import _core

        shape = pixels.shape[1:]
        channels = 1 if len(shape) == 2 else shape[2]
        start, cpu0 = time.perf_counter(), time.process_time()
        for arr in pixels:
            _core.encode_png(arr.tobytes(), shape[1], shape[0], channels)
        digest = ""
    else:
        module = __import__("wandb" if sdk == "wandb" else "artefact")
        start, cpu0 = time.perf_counter(), time.process_time()
        table = module.Table(columns=["image", "label"])
        for i, arr in enumerate(pixels):
            table.add_data(module.Image(arr), i % 10)
        art = module.Artifact("bench", "dataset")
        art.add(table, "t")
        art.manifest.to_manifest_json()
        digest = art.digest
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(MARK + json.dumps({"wall": wall, "cpu": cpu, "rss_mb": rss_mb, "digest": digest}), flush=True)
    # Skip both SDKs' at-exit removal of their temp files: a mass delete slows every file
    # creation on this ext4 for minutes (BENCHMARKING.md), which would skew the next run.
    os._exit(0)


def run_one(sdk: str, case: str, workdir: str) -> dict:
    out = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--child", sdk, case, workdir],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    for line in out.stdout.splitlines():
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
    raise RuntimeError(f"no result from {sdk}/{case}: {out.stderr[-2000:]}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    p.add_argument("--only", default="mnist,rgb256")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--workdir", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "artefact-media-bench"))
    args = p.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    failed = False
    print(f"cpus={os.cpu_count()} loadavg={os.getloadavg()}")
    print("| case | sdk | wall s (median) | cpu s | peak RSS MB | artefact speed-up |")
    print("|---|---|---|---|---|---|")
    for case in args.only.split(","):
        runs: dict[str, list[dict]] = {sdk: [] for sdk in SDKS}
        for rnd in range(args.rounds):
            order = ["wandb", "artefact"] if rnd % 2 == 0 else ["artefact", "wandb"]
            order += SDKS[2:]
            for sdk in order:
                workdir = os.path.join(args.workdir, f"{case}-{sdk}-{rnd}-{time.time_ns()}")
                os.makedirs(workdir, exist_ok=True)
                runs[sdk].append(run_one(sdk, case, workdir))
        digests = {r["digest"] for sdk in ("wandb", "artefact") for r in runs[sdk]}
        if len(digests) != 1:
            print(f"{case}: DIGESTS DIFFER {digests}")
            failed = True
        med = {sdk: {k: statistics.median(r[k] for r in rs) for k in ("wall", "cpu", "rss_mb")} for sdk, rs in runs.items()}
        for sdk in SDKS:
            m = med[sdk]
            ratio = med["wandb"]["wall"] / med["artefact"]["wall"] if sdk == "artefact" else ""
            ratio_text = f"{ratio:.2f}×" if ratio else ""
            print(f"| {case} | {sdk} | {m['wall']:.2f} | {m['cpu']:.2f} | {m['rss_mb']:.0f} | {ratio_text} |")
        print(f"| {case} | digest | {sorted(digests)} | | | |")
        cores = os.cpu_count() or 1
        # The best speed-up any SDK writing the same bytes can reach on an idle machine:
        # wandb encodes on one thread (its wall time is its CPU time when idle), the limit's
        # work spread over every core.
        for limit in ("pil-1t", "zlib-1t"):
            bound = med["wandb"]["cpu"] / (med[limit]["cpu"] / cores)
            print(f"| {case} | bound: wandb cpu / ({limit} cpu / {cores} cores) | {bound:.2f}× | | | |")
        idle = med["wandb"]["cpu"] / (med["artefact"]["cpu"] / cores)
        print(f"| {case} | artefact on idle cores: wandb cpu / (artefact cpu / {cores}) | {idle:.2f}× | | | |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

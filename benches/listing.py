"""Paginated listings: what the first page of `Api().artifacts(...)` costs next to
reading the whole collection, for a collection of many versions.

    python benches/listing.py [--versions 2000] [--per-page 50] [--repeats 5] [--workdir DIR]

It logs `--versions` tiny versions of one collection into a fresh store under
`<workdir>/listing-<n>` (reused by later runs), then times, in this process, medians of:
the first artifact of a paginator (one page fetched), a full iteration, `len()`, and a
resume from a saved cursor in the middle. The full iteration is the baseline: it is what
a listing cost when listings were lists.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from itertools import islice


def _median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--versions", type=int, default=2000)
    parser.add_argument("--per-page", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "artefact-bench"))
    args = parser.parse_args()

    root = os.path.join(args.workdir, f"listing-{args.versions}")
    os.environ["ARTEFACT_STORE"] = os.path.join(root, "store")
    os.environ["ARTEFACT_CACHE_DIR"] = os.path.join(root, "cache")
    os.environ["ARTEFACT_DATA_DIR"] = os.path.join(root, "data")
    os.environ["ARTEFACT_QUIET"] = "1"
    import artefact

    api = artefact.Api(overrides={"entity": "bench", "project": "listing"})
    have = len(api.artifacts("dataset", "many")) if api.artifact_collection_exists("many", "dataset") else 0
    if have < args.versions:
        src = os.path.join(root, "f.txt")
        start = time.perf_counter()
        with artefact.init(project="listing", entity="bench") as run:
            for i in range(have, args.versions):
                with open(src, "w") as f:
                    f.write(f"version {i}")
                art = artefact.Artifact("many", "dataset")
                art.add_file(src)
                run.log_artifact(art)
        print(f"logged {args.versions - have} versions in {time.perf_counter() - start:.1f} s")

    per_page = args.per_page
    first = _median_seconds(lambda: next(iter(api.artifacts("dataset", "many", per_page=per_page))), args.repeats)
    page = _median_seconds(lambda: list(islice(api.artifacts("dataset", "many", per_page=per_page), per_page)),
                           args.repeats)
    length = _median_seconds(lambda: len(api.artifacts("dataset", "many", per_page=per_page)), args.repeats)
    full = _median_seconds(lambda: list(api.artifacts("dataset", "many", per_page=per_page)), args.repeats)
    middle = api.artifacts("dataset", "many", per_page=per_page)
    list(islice(middle, args.versions // 2))
    cursor = middle.cursor
    resume = _median_seconds(lambda: next(iter(api.artifacts("dataset", "many", per_page=per_page, start=cursor))),
                             args.repeats)
    print(f"{args.versions} versions, per_page={per_page}, medians of {args.repeats} (machine shared: "
          f"load {os.getloadavg()[0]:.1f})")
    print("| what | time | / full iteration |")
    print("|---|---|---|")
    for what, seconds in (("first artifact (one page)", first), (f"first {per_page} artifacts", page),
                          ("len()", length), ("resume at the middle (first artifact)", resume),
                          ("full iteration (baseline)", full)):
        print(f"| {what} | {seconds * 1000:.1f} ms | {seconds / full:.3f}x |")


if __name__ == "__main__":
    main()

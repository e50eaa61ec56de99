"""Time to first render of the web UI (`artefact ui`) for large stores, in headless Chromium.

Cases (issue 16: "a collection of 10,000 versions and a version of 100,000 files open in
under a second on this machine"):

- `collection p1`: the versions page (page 1) of a collection of 10,000 versions;
- `collection last`: its last page (deepest OFFSET);
- `version 100k cold`: the page of a 100,000-file version, first request of a fresh server
  (reads and indexes the manifest);
- `version 100k warm`: the same page again (index cached by manifest key);
- `subtree`: opening one directory of it (the fragment the page fetches);
- `diff 100k`: the diff of two 100,000-file versions (both cold).

Each round starts a fresh `artefact ui` process; each page is a fresh navigation of one
headless Chromium (Debian's). Reported: first contentful paint (FCP) from Chromium's Paint
Timing, and the server's response time (responseEnd - requestStart). Limits measured in
the same run: FCP of the smallest page from the same server and browser (`floor`), and
reading the 100k manifest in-process (`LocalStore.load_manifest` + `entries()`), the
least work any page that shows its files must do cold.

    python benches/ui_first_render.py            # 10,000 versions, 100,000 files, 3 rounds
    python benches/ui_first_render.py --quick    # 1,000 and 10,000, 1 round

The store is built once under `<workdir>/ui-<versions>-<files>/` and reused (building
10,000 versions takes a few minutes: each version is one durable catalog commit).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

ENTITY, PROJECT = "bench", "ui"


def build_store(root: str, versions: int, files: int) -> None:
    """`many` with `versions` versions (one file each, content shared), `wide` with two
    versions of `files` files in 100 directories of 10 subdirectories."""
    from artefact import _core
    from artefact.store import LocalStore

    marker = os.path.join(root, "built.json")
    if os.path.exists(marker):
        return
    if os.path.exists(root):
        shutil.rmtree(root)
    os.makedirs(root)
    seed = os.path.join(root, "seed.bin")
    with open(seed, "wb") as f:
        f.write(b"x" * 1024)
    digest = base64.b64encode(hashlib.md5(b"x" * 1024).digest()).decode()
    store = LocalStore.open(os.path.join(root, "store"))
    first = _core.Manifest()
    first.insert("seed.bin", digest, None, None, 1024, "{}", seed, False)
    store.log_version(ENTITY, PROJECT, "seed", "dataset", first)
    start = time.monotonic()
    for i in range(versions):
        m = _core.Manifest()  # the object is in the store already: no copy, one commit
        m.insert(f"part-{i:05d}.bin", digest, None, None, 1024, "{}", None, False)
        aliases = ["latest"] + (["production"] if i == versions // 2 else [])
        store.log_version(ENTITY, PROJECT, "many", "dataset", m, aliases=aliases, metadata={"i": i})
        if i % 1000 == 999:
            print(f"  {i + 1} versions ({time.monotonic() - start:.0f} s)", file=sys.stderr, flush=True)
    for v in range(2):
        m = _core.Manifest()
        for i in range(files):
            name = f"d{i // 1000:03d}/s{(i // 100) % 10}/f{i:06d}.bin"
            changed = v == 1 and i % 1000 == 0
            m.insert(name, digest if not changed else _md5(f"{i}"), None, None, 1024, "{}", None, False)
        if v == 1:
            m.insert("added.txt", digest, None, None, 1024, "{}", None, False)
        if v == 1:  # the changed entries need their objects
            for i in range(0, files, 1000):
                path = os.path.join(root, f"c{i}.bin")
                with open(path, "w") as f:
                    f.write(f"{i}")
                name = f"d{i // 1000:03d}/s{(i // 100) % 10}/f{i:06d}.bin"
                m.insert(name, _md5(f"{i}"), None, None, len(f"{i}"), "{}", path, False)
        store.log_version(ENTITY, PROJECT, "wide", "dataset", m)
    store.close()
    with open(marker, "w") as f:
        json.dump({"versions": versions, "files": files}, f)


def _md5(text: str) -> str:
    return base64.b64encode(hashlib.md5(text.encode()).digest()).decode()


def manifest_read_seconds(store_root: str) -> float:
    """In-process: read and list the 100k manifest (the floor of a cold version page)."""
    code = (
        "import sys, time\n"
        "from artefact.store import LocalStore\n"
        "s = LocalStore.open(sys.argv[1])\n"
        "r = s.get_version('bench', 'ui', 'wide:v0')\n"
        "t = time.perf_counter(); s.load_manifest(r).entries(); print(time.perf_counter() - t)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, store_root], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def start_ui(store_root: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "artefact", "ui", "--port", "0", "--store", store_root],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    found = re.search(r"http://127\.0\.0\.1:\d+", line)
    if not found:
        proc.kill()
        raise RuntimeError(f"artefact ui did not start: {line!r} {proc.stderr.read()}")
    return proc, found.group(0)


def chromium():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,1000", "--disable-extensions"):
        options.add_argument(arg)
    return webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"))


def navigate(driver, url: str) -> dict[str, float]:
    """Load `url` afresh; FCP and server response time in seconds."""
    driver.get("about:blank")
    driver.get(url)
    deadline = time.monotonic() + 10
    while True:  # the paint entry is recorded shortly after load
        timing = driver.execute_script(
            "const n = performance.getEntriesByType('navigation')[0];"
            "const p = performance.getEntriesByName('first-contentful-paint')[0];"
            "return {fcp: p ? p.startTime : null, server: n.responseEnd - n.requestStart,"
            " status: n.responseStatus, bytes: n.transferSize};"
        )
        if timing["fcp"] is not None or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    if timing["status"] != 200:
        raise RuntimeError(f"{url}: HTTP {timing['status']}")
    if timing["fcp"] is None:
        raise RuntimeError(f"{url}: no first contentful paint")
    return {"fcp": timing["fcp"] / 1000, "server": timing["server"] / 1000, "bytes": timing["bytes"]}


def fetch_seconds(url: str) -> float:
    import urllib.request

    start = time.perf_counter()
    with urllib.request.urlopen(url) as r:
        r.read()
    return time.perf_counter() - start


def run_round(driver, store_root: str, versions: int, files: int, per_page: int = 50) -> dict[str, dict[str, float]]:
    proc, base = start_ui(store_root)
    p = f"{base}/p/{ENTITY}/{PROJECT}"
    last = -(-versions // per_page)
    out: dict[str, dict[str, float]] = {}
    try:
        out["floor"] = navigate(driver, f"{base}/")
        out["floor"] = navigate(driver, f"{base}/")  # templates compiled: the floor proper
        out[f"collection of {versions:,}, page 1"] = navigate(driver, f"{p}/c/many")
        out[f"collection of {versions:,}, page {last}"] = navigate(driver, f"{p}/c/many?page={last}")
        out[f"a version of the {versions:,}"] = navigate(driver, f"{p}/c/many/production")
        out[f"version of {files:,} files, cold"] = navigate(driver, f"{p}/c/wide/v0")
        out[f"version of {files:,} files, warm"] = navigate(driver, f"{p}/c/wide/v0")
        out["subtree"] = {"server": fetch_seconds(f"{p}/c/wide/v0/tree?dir=d{files // 2000:03d}/s3")}
        out[f"diff of two {files:,}-file versions"] = navigate(driver, f"{p}/diff/wide?a=v0&b=v1")
    finally:
        proc.terminate()
        proc.wait(10)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--versions", type=int, default=10_000)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1,000 versions, 10,000 files, 1 round")
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "artefact-bench"))
    parser.add_argument("--json", help="write the samples and medians here")
    args = parser.parse_args(argv)
    if args.quick:
        args.versions, args.files, args.rounds = 1_000, 10_000, 1
    root = os.path.join(args.workdir, f"ui-{args.versions}-{args.files}")
    print(f"store {root} ({args.versions} versions, {args.files} files)", file=sys.stderr)
    build_store(root, args.versions, args.files)
    store_root = os.path.join(root, "store")
    driver = chromium()
    rounds: list[dict[str, Any]] = []
    reads: list[float] = []
    try:
        for i in range(args.rounds):
            reads.append(manifest_read_seconds(store_root))
            rounds.append(run_round(driver, store_root, args.versions, args.files))
            print(f"  round {i + 1}/{args.rounds} done", file=sys.stderr)
    finally:
        driver.quit()
    cases = list(rounds[0])
    med = {c: {k: statistics.median(r[c][k] for r in rounds) for k in rounds[0][c] if k != "bytes"} for c in cases}
    floor = med["floor"]["fcp"]
    read = statistics.median(reads)
    print(f"\n{args.versions} versions, {args.files} files; {args.rounds} rounds, medians; loadavg {os.getloadavg()[0]:.2f}\n")
    print("| page | first contentful paint | server response | FCP / floor | FCP / manifest read |")
    print("|---|---|---|---|---|")
    for c in cases:
        fcp, server = med[c].get("fcp"), med[c]["server"]
        cells = [f"{fcp * 1000:.0f} ms" if fcp is not None else "–", f"{server * 1000:.0f} ms",
                 f"{fcp / floor:.1f}×" if fcp is not None else "–",
                 f"{fcp / read:.1f}×" if fcp is not None and "files" in c else "–"]
        print(f"| {c} | " + " | ".join(cells) + " |")
    print(f"\nLimits in this run: floor (smallest page, same server and browser) {floor * 1000:.0f} ms FCP;"
          f" reading the {args.files}-entry manifest in-process {read * 1000:.0f} ms.")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"versions": args.versions, "files": args.files, "rounds": rounds, "medians": med,
                       "manifest_read": reads}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

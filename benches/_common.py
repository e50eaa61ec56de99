"""Shared pieces of the benchmark scripts: deterministic trees, fresh-process runs, limits.

Two machine quirks shape everything here (see BENCHMARKING.md):

1. After a mass delete, file creation crawls for minutes (ext4 without a journal skips
   recently freed inodes). Nothing a timed run created is deleted until every timing is
   done: each measurement writes into its own directory under ``<workdir>/runs`` and the
   whole of ``runs`` goes at the very end. The source trees are kept between invocations.
2. Writing into fresh memory costs extra system time, so large write paths swing from run
   to run. SDKs are interleaved, medians are quoted, and user CPU is reported beside wall.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "_worker.py")
RESULT_MARK = "BENCH_RESULT "
KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
# A mass delete slows file creation for up to ~6 minutes afterwards.
DELETE_COOLDOWN_S = 360
LAST_DELETE_MARKER = ".last_mass_delete"


def nproc() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def gen_bytes(seed: str, size: int) -> bytes:
    """The conformance vectors' generator: SHA-256 blocks of seed || 0x00 || u64be(i)."""
    out = bytearray()
    seed_b = seed.encode("utf-8") + b"\x00"
    i = 0
    while len(out) < size:
        out += hashlib.sha256(seed_b + i.to_bytes(8, "big")).digest()
        i += 1
    return bytes(out[:size])


def write_big_file(path: str, size: int, seed: int) -> None:
    """`size` deterministic incompressible bytes (PCG64 stream), written in 64 MiB chunks.

    gen_bytes would take minutes for gigabytes; the content does not change hash speed.
    """
    import numpy as np

    rng = np.random.Generator(np.random.PCG64(seed))
    chunk = 64 * MiB
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(chunk, left)
            f.write(rng.bytes(n))
            left -= n


@dataclass
class TreeSpec:
    """A source tree: `files` files of `size` bytes, 1,000 per sub-directory."""

    name: str
    files: int
    size: int

    @property
    def total_bytes(self) -> int:
        return self.files * self.size

    def stamp(self) -> str:
        return f"v1 {self.name} {self.files} {self.size}"


def make_tree(root: str, spec: TreeSpec) -> tuple[str, bool]:
    """Create (or reuse, if its stamp matches) the tree; returns (path, created_now).

    A tree that does not match is renamed aside, not deleted (quirk 1); it goes with the
    rest of the work dir's trash at the end.
    """
    path = os.path.join(root, spec.name)
    stamp_path = path + ".stamp"
    if os.path.isdir(path) and os.path.exists(stamp_path):
        with open(stamp_path) as f:
            if f.read().strip() == spec.stamp():
                return path, False
    if os.path.exists(path):
        os.rename(path, path + f".stale-{time.time_ns()}")
    if os.path.exists(stamp_path):
        os.remove(stamp_path)
    tmp = path + ".partial"
    if os.path.exists(tmp):
        os.rename(tmp, tmp + f".stale-{time.time_ns()}")
    os.makedirs(tmp)
    if spec.size >= 8 * MiB:
        for i in range(spec.files):
            write_big_file(os.path.join(tmp, f"part{i:03d}.bin"), spec.size, seed=zlib.crc32(spec.name.encode()) + i)
    else:
        for i in range(spec.files):
            d = os.path.join(tmp, f"d{i // 1000:03d}")
            if i % 1000 == 0:
                os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, f"f{i:06d}.bin"), "wb") as f:
                f.write(gen_bytes(f"{spec.name}/{i}", spec.size))
    os.rename(tmp, path)
    with open(stamp_path, "w") as f:
        f.write(spec.stamp() + "\n")
    return path, True


def make_big_file(root: str, name: str, size: int) -> tuple[str, bool]:
    """One deterministic file of `size` bytes (reused when its stamp matches)."""
    path = os.path.join(root, name)
    stamp_path = path + ".stamp"
    stamp = f"v1 {name} {size}"
    if os.path.isfile(path) and os.path.exists(stamp_path):
        with open(stamp_path) as f:
            if f.read().strip() == stamp and os.path.getsize(path) == size:
                return path, False
    tmp = path + ".partial"
    write_big_file(tmp, size, seed=size % 2**32)
    os.replace(tmp, path)
    with open(stamp_path, "w") as f:
        f.write(stamp + "\n")
    return path, True


def fresh_bytecode(module: str) -> None:
    """Compile `module`'s package as pip does at install, so imports in the measured
    processes load bytecode even under PYTHONDONTWRITEBYTECODE (an editable install
    would otherwise recompile every module in every process)."""
    code = (f"import compileall, importlib.util, os; spec = importlib.util.find_spec({module!r}); "
            "compileall.compile_dir(os.path.dirname(spec.origin), quiet=1)")
    subprocess.run([sys.executable, "-c", code], check=False, capture_output=True)


def warm_page_cache(path: str) -> None:
    """Read every byte once so timed runs measure hashing, not the disk."""
    buf = bytearray(MiB)
    view = memoryview(buf)
    for dirpath, _dirs, files in os.walk(path) if os.path.isdir(path) else [("", [], [path])]:
        for name in files:
            with open(os.path.join(dirpath, name), "rb", buffering=0) as f:
                while f.readinto(view):
                    pass


# --- work dir and deferred cleanup -----------------------------------------------------


class WorkDir:
    """``<root>/trees`` (kept across invocations) and ``<root>/runs`` (this invocation's
    outputs, deleted only at the very end)."""

    def __init__(self, root: str):
        self.root = os.path.abspath(root)
        self.trees = os.path.join(self.root, "trees")
        self.runs = os.path.join(self.root, "runs", f"{os.getpid()}-{time.time_ns()}")
        os.makedirs(self.trees, exist_ok=True)
        os.makedirs(self.runs, exist_ok=True)
        self._n = 0

    def new_run_dir(self, label: str) -> str:
        self._n += 1
        d = os.path.join(self.runs, f"{self._n:04d}-{label}")
        os.makedirs(d)
        return d

    def seconds_since_last_delete(self) -> Optional[float]:
        try:
            return time.time() - os.path.getmtime(os.path.join(self.root, LAST_DELETE_MARKER))
        except OSError:
            return None

    def cleanup(self) -> None:
        """Delete this invocation's outputs (after all timing) and note when."""
        if os.path.isdir(self.runs):
            files = sum(len(f) for _d, _s, f in os.walk(self.runs))
            shutil.rmtree(self.runs, ignore_errors=True)
            if files >= 1000:  # a handful of big files does not trigger the quirk
                with open(os.path.join(self.root, LAST_DELETE_MARKER), "w") as f:
                    f.write(f"{time.time()} {files}\n")


def wait_for_cooldown(work: WorkDir, wait: bool) -> Optional[str]:
    """Quirk 1: after a mass delete, file creation crawls for up to ~6 minutes.

    Waits out the rest of that window if `wait`, else returns a warning for the report.
    """
    since = work.seconds_since_last_delete()
    if since is None or since >= DELETE_COOLDOWN_S:
        return None
    left = DELETE_COOLDOWN_S - since
    if wait:
        print(f"# last mass delete in {work.root} was {since:.0f} s ago: waiting {left:.0f} s "
              "so file creation is not slowed (--no-wait skips this)", file=sys.stderr)
        time.sleep(left)
        return None
    msg = (f"a previous run deleted its outputs {since:.0f} s before this one started: cases that create "
           "files (mutable, download, cp -r) may be slowed (BENCHMARKING.md quirk 1)")
    print(f"# WARNING: {msg}", file=sys.stderr)
    return msg


# --- fresh-process measurements ----------------------------------------------------------


def sdk_env(run_dir: str, extra: Optional[dict[str, str]] = None) -> dict[str, str]:
    """Environment for one measurement: offline, silent, every data/cache dir private."""
    env = dict(os.environ)
    dirs = {
        "data": os.path.join(run_dir, "data"),
        "cache": os.path.join(run_dir, "cache"),
        "config": os.path.join(run_dir, "config"),
        "wandb": os.path.join(run_dir, "wandb"),
        "artifacts": os.path.join(run_dir, "artifacts"),
    }
    for d in dirs.values():
        os.makedirs(d, exist_ok=True)
    env.update(
        WANDB_MODE="offline",
        WANDB_SILENT="true",
        ARTEFACT_QUIET="true",
        WANDB_DIR=dirs["wandb"],
        WANDB_DATA_DIR=dirs["data"],
        ARTEFACT_DATA_DIR=dirs["data"],
        WANDB_CACHE_DIR=dirs["cache"],
        ARTEFACT_CACHE_DIR=dirs["cache"],
        WANDB_CONFIG_DIR=dirs["config"],
        WANDB_ARTIFACT_DIR=dirs["artifacts"],
        ARTEFACT_ARTIFACT_DIR=dirs["artifacts"],
        XDG_CACHE_HOME=dirs["cache"],
        XDG_DATA_HOME=dirs["data"],
        XDG_CONFIG_HOME=dirs["config"],
        # artefact's embedded store (catalog + blobs).
        ARTEFACT_STORE=os.path.join(run_dir, "store"),
        WANDB_DISABLE_GIT="true",
        WANDB_CONSOLE="off",
    )
    if extra:
        env.update(extra)
    return env


@dataclass
class Sample:
    ok: bool
    wall: float = float("nan")
    user: float = float("nan")
    sys: float = float("nan")
    rss_mib: float = float("nan")
    rss_before_mib: float = float("nan")
    process_wall: float = float("nan")
    info: dict[str, Any] = field(default_factory=dict)
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in ("ok", "wall", "user", "sys", "rss_mib", "rss_before_mib", "process_wall")}
        d["info"] = self.info
        if self.error:
            d["error"] = self.error
        return d


def run_worker(spec: dict[str, Any], run_dir: str, timeout: float = 3600, env_extra: Optional[dict[str, str]] = None) -> Sample:
    """Run one operation in a fresh Python process and parse what it reports."""
    env = sdk_env(run_dir, env_extra)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, WORKER, json.dumps(spec)],
            cwd=run_dir, env=env, capture_output=True, text=True, timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return Sample(ok=False, error=f"timeout after {timeout:.0f} s")
    process_wall = time.perf_counter() - t0
    result = None
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_MARK):
            result = json.loads(line[len(RESULT_MARK):])
    if proc.returncode != 0 or result is None:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-6:]
        return Sample(ok=False, process_wall=process_wall, error=" | ".join(tail) or f"exit {proc.returncode}")
    if not result.get("ok", True):
        return Sample(ok=False, process_wall=process_wall, error=result.get("error", "failed"))
    return Sample(
        ok=True, wall=result["wall"], user=result["user"], sys=result["sys"],
        rss_mib=result["rss_mib"], rss_before_mib=result["rss_before_mib"],
        process_wall=process_wall, info=result.get("info", {}),
    )


@dataclass
class Timed:
    wall: float
    user: float
    sys: float


def time_command(cmd: str, cwd: Optional[str] = None) -> Timed:
    """Wall and CPU (from RUSAGE_CHILDREN) of a shell pipeline."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(["bash", "-c", "set -o pipefail; " + cmd], cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return Timed(wall, after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime)


# --- physical limits ----------------------------------------------------------------------


def md5_single_core_mbps(total: int = GiB) -> float:
    """hashlib.md5 over `total` bytes (a 64 MiB buffer fed repeatedly), MB/s (10^6)."""
    buf = os.urandom(min(64 * MiB, total))
    h = hashlib.md5()
    h.update(buf[: MiB])  # warm-up
    h = hashlib.md5()
    done = 0
    t0 = time.perf_counter()
    while done < total:
        h.update(buf)
        done += len(buf)
    return done / (time.perf_counter() - t0) / 1e6


def md5sum_parallel(path: str, files: int, procs: int) -> Timed:
    """`md5sum` of every file under path, spread over `procs` processes."""
    per = max(1, -(-files // (procs * 8)))
    return time_command(f"find . -type f -print0 | xargs -0 -P {procs} -n {per} md5sum", cwd=path)


def md5sum_file(path: str) -> Timed:
    return time_command(f"md5sum {sh_quote(path)}")


def cp_tree(src: str, dst: str) -> Timed:
    return time_command(f"cp -r {sh_quote(src)} {sh_quote(dst)}")


def stat_walk(path: str) -> Timed:
    """Walk and stat every file (the floor for re-adding an unchanged tree)."""
    return time_command("find . -type f -printf '%s %T@ %C@ %i\\n'", cwd=path)


def sh_quote(s: str) -> str:
    return "'" + s.replace("'", "'\\''") + "'"


# --- statistics and formatting ------------------------------------------------------------


def median(xs: list[float]) -> float:
    xs = [x for x in xs if x == x]
    return statistics.median(xs) if xs else float("nan")


def fmt_s(x: Optional[float]) -> str:
    if x is None or x != x:
        return "–"
    if x < 0.01:
        return f"{x * 1000:.2f} ms"
    if x < 1:
        return f"{x * 1000:.0f} ms"
    return f"{x:.2f} s"


def fmt_mib(x: Optional[float]) -> str:
    return "–" if x is None or x != x else f"{x:.0f} MiB"


def fmt_ratio(a: Optional[float], b: Optional[float]) -> str:
    if a is None or b is None or a != a or b != b or b == 0:
        return "–"
    r = a / b
    return f"{r:.2f}×" if r < 10 else f"{r:.0f}×"


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {"nproc": nproc(), "python": sys.version.split()[0], "platform": sys.platform}
    try:
        info["kernel"] = os.uname().release
    except AttributeError:
        pass
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as f:
            info["mem_gib"] = round(int(f.readline().split()[1]) / MiB, 1)
    except (OSError, ValueError, IndexError):
        pass
    return info


def package_version(name: str) -> Optional[str]:
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:  # noqa: BLE001 - absent or broken metadata: just unknown
        return None


# --- pytest-benchmark helpers --------------------------------------------------------------


def record_mbps(benchmark: Any, nbytes: int) -> Optional[float]:
    """MB/s (10^6) of the median round, kept in the benchmark's extra_info."""
    if benchmark.stats is None:  # --benchmark-disable: the body ran once, untimed
        return None
    rate = nbytes / benchmark.stats.stats.median / 1e6
    benchmark.extra_info["MB/s"] = round(rate, 1)
    return rate


def record_per_item_us(benchmark: Any, items: int, unit: str = "file") -> Optional[float]:
    """Microseconds per item of the median round, kept in the benchmark's extra_info."""
    if benchmark.stats is None:  # --benchmark-disable
        return None
    us = benchmark.stats.stats.median / items * 1e6
    benchmark.extra_info[f"us/{unit}"] = round(us, 3)
    return us

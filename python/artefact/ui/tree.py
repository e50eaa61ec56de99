"""A version's files as a tree the page can open one directory at a time.

The manifest is read once per manifest key (manifests are content-addressed, so an entry
never goes stale) into a sorted path list plus prefix sums of sizes. Listing a directory
jumps over whole subtrees with bisection, so the root of a 100,000-file version costs
about one step per child, and a directory's file count and size are O(log n).
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections import OrderedDict
from dataclasses import dataclass
from itertools import accumulate
from typing import Optional

from ..store import LocalStore, entry_algorithm
from ..store.records import VersionRecord

__all__ = ["FileEntry", "DirEntry", "Listing", "FileIndex", "file_index"]

_CACHED = 4  # manifests kept (a diff needs two); a 100,000-file index is about 40 MB
_cache: "OrderedDict[str, FileIndex]" = OrderedDict()
_lock = threading.Lock()


@dataclass(frozen=True)
class FileEntry:
    """One manifest entry: its path, digest, size, and reference URI if it is one."""

    path: str
    digest: str
    size: int
    ref: Optional[str]
    algorithm: str  # the stored object's digest algorithm ("MD5" or "XXH128")

    @property
    def name(self) -> str:
        """The last path component."""
        return self.path.rpartition("/")[2]


@dataclass(frozen=True)
class DirEntry:
    """A directory: its path (no trailing `/`), file count and total size below it."""

    path: str
    files: int
    size: int

    @property
    def name(self) -> str:
        """The last path component."""
        return self.path.rpartition("/")[2]


@dataclass(frozen=True)
class Listing:
    """One page of a directory's children: directories first, then files, by name."""

    directory: str
    dirs: list[DirEntry]
    files: list[FileEntry]
    offset: int
    next_offset: Optional[int]  # where the next page starts, None on the last page


class FileIndex:
    """The files of one manifest, sorted by path, with cumulative sizes."""

    def __init__(self, entries: list[tuple]) -> None:
        entries.sort(key=lambda e: e[0])
        self.paths: list[str] = [e[0] for e in entries]
        self._entries = entries
        self._cumulative = [0, *accumulate(int(e[4] or 0) for e in entries)]

    def __len__(self) -> int:
        return len(self.paths)

    def get(self, path: str) -> Optional[FileEntry]:
        """The entry at exactly `path`, or None: the only way a preview finds content."""
        i = bisect_left(self.paths, path)
        if i < len(self.paths) and self.paths[i] == path:
            return self._entry(i)
        return None

    def _entry(self, i: int) -> FileEntry:
        path, digest, ref, _birth, size, extra, *_ = self._entries[i]
        return FileEntry(path, digest, int(size or 0), ref, entry_algorithm(extra))

    def content_key(self, i: int) -> tuple:
        """What decides whether entry `i` changed: its digest and reference."""
        entry = self._entries[i]
        return entry[1], entry[2]

    def _span(self, prefix: str) -> tuple[int, int]:
        # Paths under `prefix` ("a/b/") sort together: ["a/b/", "a/b0") since "0" follows "/".
        return bisect_left(self.paths, prefix), bisect_left(self.paths, prefix[:-1] + "0")

    def is_dir(self, directory: str) -> bool:
        """True if some file lies below `directory` ("" is the root)."""
        if not directory:
            return True
        lo, hi = self._span(directory + "/")
        return hi > lo

    def listing(self, directory: str, offset: int = 0, limit: int = 200) -> Listing:
        """Children `offset..offset+limit` of `directory` ("" is the root)."""
        prefix = directory + "/" if directory else ""
        lo, hi = self._span(prefix) if prefix else (0, len(self.paths))
        dirs: list[DirEntry] = []
        files: list[FileEntry] = []
        i, seen = lo, 0
        while i < hi and len(dirs) + len(files) < limit:
            rest = self.paths[i][len(prefix):]
            slash = rest.find("/")
            if slash < 0:
                if seen >= offset:
                    files.append(self._entry(i))
                seen += 1
                i += 1
                continue
            sub = prefix + rest[:slash]
            j = bisect_left(self.paths, sub + "0", i, hi)
            if seen >= offset:
                dirs.append(DirEntry(sub, j - i, self._cumulative[j] - self._cumulative[i]))
            seen += 1
            i = j
        # A directory sorts among files by its name, so page by position, then order the page.
        dirs.sort(key=lambda d: d.path)
        return Listing(directory, dirs, files, offset, offset + limit if i < hi else None)


def file_index(store: LocalStore, record: VersionRecord) -> FileIndex:
    """The FileIndex of `record`'s manifest (cached by manifest key)."""
    key = record.manifest_key
    with _lock:
        found = _cache.get(key)
        if found is not None:
            _cache.move_to_end(key)
            return found
    index = FileIndex(store.load_manifest(record).entries())
    with _lock:
        _cache[key] = index
        while len(_cache) > _CACHED:
            _cache.popitem(last=False)
    return index

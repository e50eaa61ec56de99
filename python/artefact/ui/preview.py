"""Previews of one file of a version: text, JSON, images and wandb `Table`s.

Content is found only through the version's manifest (an exact path lookup in its
FileIndex) and read from the store's content-addressed object for that entry's digest,
so no request path is ever joined onto a directory: nothing outside the version can be
previewed. Reference entries (`s3://`, `file://`, ...) are shown as their URI, never
followed. Everything returned here is data; the templates escape it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Optional

from ..store import LocalStore
from .tree import FileEntry, FileIndex

__all__ = ["Preview", "TableCell", "make_preview", "object_path", "IMAGE_TYPES"]

TEXT_BYTES = 64 * 1024  # shown of a text file
JSON_BYTES = 1024 * 1024  # parsed of a JSON file
TABLE_BYTES = 16 * 1024 * 1024  # parsed of a Table
TABLE_ROWS = 50  # rows shown of a Table

# Served inline by the raw endpoint; anything else (SVG included) is a download.
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".bmp": "image/bmp",
}


@dataclass
class TableCell:
    """A Table cell: plain text, or an image of the same version (`image_path`)."""

    text: str = ""
    image_path: Optional[str] = None


@dataclass
class Preview:
    """What the file page shows. `kind`: text, json, image, table, binary, reference,
    missing or too_large."""

    entry: FileEntry
    kind: str
    text: str = ""
    truncated: bool = False
    columns: list[str] = field(default_factory=list)
    rows: list[list[TableCell]] = field(default_factory=list)
    total_rows: int = 0
    note: str = ""


def object_path(store: LocalStore, entry: FileEntry) -> Optional[str]:
    """The stored object holding `entry`'s bytes (for a packed blob, a copy of its
    range), or None for a reference entry."""
    if entry.ref is not None:
        return None
    path = store.blob_path(entry.digest, entry.algorithm)
    if os.path.exists(path) or not store.has_packs:
        return path
    return _extracted(store, entry.digest, entry.algorithm) or path


def _extracted(store: LocalStore, digest: str, algorithm: str) -> Optional[str]:
    """A file holding one packed blob's bytes (store/pack_rows.py), for the page's readers
    that need a path: `<objects>/tmp/extracted/<rel>`, or the same under the system's temp
    dir where the store is read-only. Each use checks it against the digest (a packed blob
    is small) and writes it again if it differs; it is written under a unique temp name
    and renamed, so concurrent requests never read a partial file. gc removes it once
    unused for TEMP_MIN_AGE. None if the blob is not packed."""
    import tempfile

    from .. import _core
    from ..store.pack_rows import pack_location

    found = pack_location(store.catalog, store.objects_root, digest, algorithm)
    if found is None:
        return None
    rel = _core.object_relpath(digest, algorithm).split("/")
    data: Optional[bytes] = None
    for base in (os.path.join(store.objects_root, "tmp", "extracted"),
                 os.path.join(tempfile.gettempdir(), f"artefact-extracted-{os.getuid()}")):
        path = os.path.join(base, *rel)
        try:
            if _core.hash_file(path, algorithm)[0] == digest:
                os.utime(path)
                return path
        except OSError:
            pass
        if data is None:
            data = _core.read_packed(*found, digest, algorithm)  # verified; a bad range raises
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".extract-", suffix=".tmp")
        except OSError:
            continue  # not writable here: the next place
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        return path
    return None


def _read(path: str, limit: int) -> tuple[bytes, bool]:
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    return data[:limit], len(data) > limit


def _looks_binary(data: bytes) -> bool:
    if b"\x00" in data[:8192]:
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        return e.start < len(data) - 4  # a cut multi-byte character at the end is fine
    return False


def make_preview(store: LocalStore, index: FileIndex, entry: FileEntry) -> Preview:
    """The preview of `entry` (an entry of `index`'s version)."""
    if entry.ref is not None:
        return Preview(entry, "reference", note=entry.ref)
    path = object_path(store, entry)
    if path is None or not os.path.exists(path):
        return Preview(entry, "missing", note="the stored object for this file is missing")
    lower = entry.path.lower()
    ext = os.path.splitext(lower)[1]
    if ext in IMAGE_TYPES:
        return Preview(entry, "image")
    if lower.endswith(".table.json"):
        return _table(store, index, entry, path)
    if ext == ".json":
        return _json(entry, path)
    data, truncated = _read(path, TEXT_BYTES)
    if _looks_binary(data):
        return Preview(entry, "binary")
    return Preview(entry, "text", text=data.decode("utf-8", "replace"), truncated=truncated)


def _json(entry: FileEntry, path: str) -> Preview:
    data, truncated = _read(path, JSON_BYTES)
    if not truncated:
        try:
            text = json.dumps(json.loads(data), indent=2, ensure_ascii=False)
        except (ValueError, RecursionError):
            text = data.decode("utf-8", "replace")
        shown = text[:TEXT_BYTES]
        return Preview(entry, "json", text=shown, truncated=len(shown) < len(text))
    return Preview(entry, "text", text=data[:TEXT_BYTES].decode("utf-8", "replace"), truncated=True)


def _table(store: LocalStore, index: FileIndex, entry: FileEntry, path: str) -> Preview:
    if entry.size > TABLE_BYTES:
        return Preview(entry, "too_large", note=f"tables over {TABLE_BYTES} bytes are not previewed")
    try:
        with open(path, "rb") as f:
            table = json.load(f)
        columns = [str(c) for c in table["columns"]]
        data = table["data"]
        if not isinstance(data, list):
            raise TypeError("data is not a list")
    except (ValueError, KeyError, TypeError, RecursionError) as e:
        preview = _json(entry, path)
        preview.note = f"not a readable Table ({e}); shown as JSON"
        return preview
    base = entry.path.rpartition("/")[0]
    rows = [
        [_cell(index, base, value) for value in (row if isinstance(row, list) else [row])]
        for row in data[:TABLE_ROWS]
    ]
    return Preview(entry, "table", columns=columns, rows=rows, total_rows=len(data))


def _cell(index: FileIndex, base: str, value: Any) -> TableCell:
    """A cell's text; an `image-file` cell whose file is in this version shows as an image.
    wandb writes media paths relative to the artifact root (`media/images/<sha>.png`)."""
    if isinstance(value, dict) and value.get("_type") == "image-file":
        rel = str(value.get("path", ""))
        for candidate in (rel, f"{base}/{rel}" if base else rel):
            found = index.get(candidate)
            if found is not None and os.path.splitext(found.path.lower())[1] in IMAGE_TYPES:
                return TableCell(text=rel, image_path=found.path)
        return TableCell(text=f"image (not in this version): {rel}")
    if isinstance(value, (dict, list)):
        return TableCell(text=json.dumps(value, ensure_ascii=False)[:500])
    return TableCell(text="" if value is None else str(value)[:500])

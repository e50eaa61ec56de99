"""Typed stubs for the Rust extension `artefact._core` (checked against it in tests).

Every function that reads files or hashes releases the GIL while it works.
Algorithms are the strings "MD5" or "XXH128". Digests are base64 with padding.
"""

from typing import Any, Iterator, Optional

__version__: str

class Progress:
    """Counters a long core call updates while it runs (read from another thread)."""

    def __init__(self) -> None: ...
    @property
    def files(self) -> int: ...
    @property
    def bytes(self) -> int: ...
    @property
    def total_files(self) -> int: ...
    @property
    def total_bytes(self) -> int: ...

# --- digest.rs ---------------------------------------------------------------
def hash_file(path: str, algorithm: str = "MD5") -> tuple[str, int]:
    """(base64 digest, size) of a file, streamed in constant memory."""

def hash_bytes(data: bytes, algorithm: str = "MD5") -> str:
    """base64 digest of a byte string."""

def md5_info(size: int = 64 << 20, rounds: int = 3) -> tuple[str, Optional[str], float, float]:
    """(MD5 backend in use: "openssl" or "rust", libcrypto loaded or None, rust rate,
    openssl rate), the rates in bytes per second over `size` bytes in memory."""

def hash_files(
    paths: list[str], algorithm: str = "MD5", progress: Optional[Progress] = None
) -> list[tuple[str, int]]:
    """(digest, size) for each path, in parallel, in input order."""

def s3_multipart_etag(path: str, part_size: int) -> str:
    """The ETag S3 gives a multipart upload of `path` in parts of `part_size` bytes."""

def multipart_part_size(size: int) -> int:
    """wandb-core's multipart part size for a file of `size` bytes."""

def b64_to_hex(digest: str) -> str:
    """Lower-case hex of a base64 digest (wandb's b64_to_hex_id)."""

# --- paths.rs ----------------------------------------------------------------
def normalize_path(path: str) -> str:
    """wandb's LogicalPath: str(PurePosixPath(path)) on POSIX."""

def validate_path(path: str) -> str:
    """Normalise and validate a logical path; ValueError("Invalid artifact path: ...")."""

# --- walk.rs -----------------------------------------------------------------
def scan_dir(root: str, follow_links: bool = True) -> list[tuple[str, str, int]]:
    """(relative path, absolute path, size) of every file under root, sorted."""

# --- stage.rs ----------------------------------------------------------------
def stage_file(src: str, staging_dir: str, algorithm: str = "MD5") -> tuple[str, int, str]:
    """Copy src into staging_dir (mode 0o400) while hashing it: (digest, size, staged path)."""

# --- manifest.rs -------------------------------------------------------------
EntryTuple = tuple[
    str,  # path
    str,  # digest
    Optional[str],  # ref
    Optional[str],  # birth_artifact_id
    Optional[int],  # size
    str,  # extra, as a JSON object string ("{}" when empty)
    Optional[str],  # local_path
    bool,  # skip_cache
]

class Manifest:
    """wandb's ArtifactManifestV1, held in Rust. Entries keep insertion order."""

    def __init__(self, storage_layout: str = "V2", storage_region: Optional[str] = None) -> None: ...
    @property
    def storage_layout(self) -> str: ...
    @property
    def storage_region(self) -> Optional[str]: ...
    def __len__(self) -> int: ...
    def __contains__(self, path: str) -> bool: ...
    def paths(self) -> list[str]: ...
    def get(self, path: str) -> Optional[EntryTuple]: ...
    def entries(self) -> list[EntryTuple]: ...
    def insert(
        self,
        path: str,
        digest: str,
        ref: Optional[str] = None,
        birth_artifact_id: Optional[str] = None,
        size: Optional[int] = None,
        extra: str = "{}",
        local_path: Optional[str] = None,
        skip_cache: bool = False,
        overwrite: bool = False,
    ) -> None:
        """Add an entry (the path must already be validated). Same path with another
        digest and overwrite=False: ValueError("Cannot add the same path twice: '<path>'").
        A replaced entry keeps its position."""

    def remove(self, path: str) -> bool:
        """Remove one exact path; False if absent."""

    def remove_prefix(self, prefix: str) -> int:
        """Remove every path starting with `prefix`; the number removed."""

    def add_dir(
        self,
        root: str,
        name: Optional[str],
        algorithm: str,
        policy: str,
        staging_dir: Optional[str],
        skip_cache: bool,
        overwrite: bool,
        progress: Optional[Progress] = None,
        precopy_min: Optional[int] = None,
    ) -> AddedFiles:
        """Walk root (following symlinked dirs), hash every file in parallel (copying it
        into staging_dir in the same pass when policy == "mutable"), validate each
        logical path join(name, rel) and insert. XXH128 entries get extra {"alg": "XXH128"}.
        With policy == "immutable" and precopy_min, files of that size or more that the
        stat cache does not know are copied into staging_dir while hashed (one pass).
        Returns (original file path, logical path) pairs in sorted order."""

    def digest(self, algorithm: str = "MD5") -> str:
        """The artifact digest: hex hash of "wandb-artifact-manifest-v1\\n" + sorted "path:digest\\n"."""

    def size(self) -> int: ...
    def contents_dict(self) -> dict[str, dict[str, Any]]:
        """`contents` of wandb's SDK dict, built directly: path -> {digest, ref,
        birthArtifactID, size, extra} with defaults omitted, insertion order."""

    def to_manifest_json(self) -> bytes:
        """wandb's SDK dict (to_manifest_json) as UTF-8 JSON, insertion order."""

    def to_wire_json(self, include_local_path: bool = False) -> bytes:
        """The manifest exactly as wandb-core encodes it for upload (Go json.Marshal)."""

    @staticmethod
    def from_json(data: "bytes | str", md5: Optional[str] = None) -> "Manifest":
        """Parse either layout. Errors as wandb's from_manifest_json; with `md5`, the bytes must
        hash to it (checked beside the parse; ValueError with `.kind` "corrupt")."""

    @staticmethod
    def read(path: str, md5: str) -> "Manifest":
        """A stored manifest file, which must hash to `md5` (ValueError with `.kind`
        "corrupt"; OSError if unreadable). Large ones are parsed on two cores; one the
        stat cache knows unchanged since it matched is not hashed again."""

    def copy(self) -> "Manifest": ...
    def download(
        self,
        root: str,
        store_objects: str,
        cache_root: Optional[str],
        prefix: Optional[str] = None,
        mode: str = "copy",
        progress: Optional[Progress] = None,
        present: Optional[bytes] = None,
        spares: Optional[dict[str, str]] = None,
        packed: Optional[list[tuple[str, str, str, int, int]]] = None,
    ) -> tuple[list[str], int, int, list[tuple[str, str]], int, int]:
        """Place every non-reference entry (with `prefix`) under root in one parallel call:
        `packed` ((algorithm, digest, pack file, offset, length) rows): content the store
        keeps in packs, copied out of its range verified, never linked.
        `present` (from `download_plan`, one byte per stored entry under the prefix) marks
        the files just found right, which are not checked again.
        files already there with the right content are kept (stat cache, else re-hash);
        others come from the cache, filled from `store_objects` (verified) on a miss, or
        straight from the store when cache_root is None. Every destination is checked to
        stay inside root before anything is written (ValueError, .kind == "escapes").
        A missing store object raises FileNotFoundError (.kind "missing"), a corrupt one
        ValueError (.kind "corrupt"). `spares` (object path `obj/md5/..` -> file): verified
        second copies `transfer_get` just wrote, renamed into place instead of copied (the
        caller removes those left over). Returns (reference paths, present, placed, skipped, bytes added to the cache, how many of
        those placed are hard links)."""

# --- cache.rs ----------------------------------------------------------------
def object_relpath(digest: str, algorithm: str = "MD5") -> str:
    """obj/md5/<2 hex>/<30 hex> (or obj/xxh128/...) for an entry digest."""

def etag_relpath(url: str, etag: str) -> str:
    """obj/etag/<2>/<62> for a reference (wandb's ETag cache key)."""

def put_object(
    root: str, src: str, digest: str, algorithm: str = "MD5", durable: bool = True
) -> tuple[str, bool]:
    """Copy src into the content-addressed dir `root` (atomic: temp file, rename; with
    `durable`, fsync of the file and its directory),
    verifying the digest while copying. Returns (object path, newly_written).
    A digest mismatch raises ValueError naming src; nothing is placed."""

def put_objects(
    root: str, items: list[tuple[str, str, str]], progress: Optional[Progress] = None
) -> list[bool]:
    """`put_object` for many (src, digest, algorithm), durably, with one filesystem sync
    before and one after renaming everything into place. Existing objects are touched
    (mtime refreshed). Per item: whether it was written. A bad item raises (ValueError
    for a digest mismatch) with `.index` set, and nothing new is placed."""

def materialize(
    pairs: list[tuple[str, str]], mode: str = "copy", progress: Optional[Progress] = None
) -> int:
    """Copy (or "hardlink") each (source, destination) in parallel, atomically;
    returns the number of files written."""

def cleanup(root: str, target_size: int) -> tuple[int, int]:
    """Delete objects under root/obj, least recently used first, until the total is
    at most target_size. Returns (bytes freed, bytes remaining); the running total
    (root/usage) is set to what remains."""

def enforce_cap(root: str, cap: int, added: int) -> tuple[int, int]:
    """After a fill of `added` bytes: `cleanup(root, cap)` if the running total may be
    over `cap` (or is unknown), else only raise the total. (bytes freed, bytes remaining)."""

def verify_files(items: list[tuple[str, str, str]], progress: Optional[Progress] = None) -> list[Optional[str]]:
    """For each (path, digest, algorithm) return None if the file matches, else a
    reason ("missing", "digest mismatch: <found>")."""

# --- statcache.rs ------------------------------------------------------------
def set_statcache(path: Optional[str], max_entries: int = 4_000_000) -> None:
    """Use the stat cache file at `path` for hash_file/hash_files/add_dir (immutable);
    None turns it off. Files whose (dev, inode, size, mtime_ns, ctime_ns) are unchanged
    are not re-read."""

def flush_statcache() -> None:
    """Write the stat cache's new records to disk (also done after each add_dir)."""

def join_inside(root: str, path: str) -> str:
    """root/path, or ValueError if the manifest path would escape root."""

# --- transfer/ (the team server's bytes) -------------------------------------------
def transfer_put(
    items: list[tuple[str, str, int]], concurrency: int = 16, retries: int = 5, timeout: float = 300.0,
    headers: list[tuple[str, str]] = [], progress: Optional[Progress] = None,
) -> list[Optional[str]]:
    """PUT each (path, signed url, size); None per item done (a 409, already stored, counts
    as done), else the error. Parallel, retried, with the GIL released."""

def transfer_get(
    items: list[tuple[str, str, str, str]], concurrency: int = 16, retries: int = 5, timeout: float = 300.0,
    headers: list[tuple[str, str]] = [], progress: Optional[Progress] = None,
    spares: Optional[list[Optional[str]]] = None,
) -> list[Optional[str]]:
    """GET each (url, dest, digest, algorithm) into a temp file beside dest, hashed while
    streaming; renamed to dest only if it matches. None per item done, else the error.
    `spares` (one per item, or None): also make a second copy there, from the same buffers
    as it arrives (the cache object is then written with O_DIRECT), renamed there only if the digest matches (see `Manifest.download`)."""

def transfer_get_packed(
    items: list[tuple[str, int, int, int, str, str, str]], concurrency: int = 16, retries: int = 5,
    timeout: float = 300.0, progress: Optional[Progress] = None,
) -> list[Optional[str]]:
    """GET small blobs out of packs: each (pack url, offset, length, pack size, dest,
    digest, algorithm); neighbouring ranges of a pack come in one ranged GET, each blob
    is verified before it is renamed to dest. None per item done, else the error."""

def transfer_post_batch(
    url: str, items: list[tuple[str, str, str, int]], max_count: int = 1000, max_bytes: int = 16 << 20,
    concurrency: int = 4, retries: int = 5, timeout: float = 300.0, headers: list[tuple[str, str]] = [],
    progress: Optional[Progress] = None,
) -> list[Optional[str]]:
    """POST (path, algorithm, digest, size) blobs framed many to a request body."""

def transfer_fetch_batch(
    url: str, record_json: str, items: list[tuple[str, str, str, int]], max_count: int = 1000,
    max_bytes: int = 16 << 20, concurrency: int = 4, retries: int = 5, timeout: float = 300.0,
    headers: list[tuple[str, str]] = [], progress: Optional[Progress] = None,
) -> list[Optional[str]]:
    """Fetch (dest, algorithm, digest, size) blobs of one version many to a response,
    each verified before it is renamed to dest."""
# --- store_put.rs (rust/py/src/logpath.rs) -----------------------------------------------
def objects_missing(objects_root: str, items: list[tuple[str, str]]) -> list[int]:
    """Indexes of the `(digest, algorithm)` objects not stored under `objects_root`."""
    ...

def store_files(
    root: str,
    items: list[tuple[str, str, str, bool]],
    sync: str = "auto",
    progress: Optional[Progress] = None,
) -> list[bool]:
    """Store (src, digest, algorithm, staged) files under the store's objects root in one
    write per byte: staged copies are renamed in (or removed when the content is already
    stored), other files copied once and verified. Durable before returning (`sync`:
    "auto", "files" or "filesystem"). Per item, whether it was written; a bad item raises
    with its `index` and nothing new is placed."""

def write_packs(
    root: str,
    items: list[tuple[str, str, str, bool]],
    cap: int,
    progress: Optional[Progress] = None,
) -> list[tuple[str, int, int]]:
    """Write (src, digest, algorithm, staged) small files into new packs under the
    store's objects root (at most `cap` bytes each), each read once and checked against
    its digest unless known, the packs fdatasynced and renamed into `packs/` before this
    returns; per item (pack name, offset, length). A bad item raises with `.index`, and
    no pack is left."""

def read_packed(pack: str, offset: int, length: int, digest: str, algorithm: str = "MD5") -> bytes:
    """The `length` bytes at `offset` of `pack`, checked against `digest` (ValueError if not)."""

def verify_packed(
    items: list[tuple[str, int, int, str, str]], progress: Optional[Progress] = None
) -> list[Optional[str]]:
    """Hash each (pack, offset, length, digest, algorithm) range in parallel: None where
    it matches, else why not ("missing" for a pack that is gone)."""

def remove_files(paths: list[str]) -> int:
    """Unlink these files in parallel (vanished ones are fine); how many were removed."""

def set_known_objects(objects_root: Optional[str] = None) -> None:
    """The embedded store's objects dir: the mutable policy does not stage a file the
    stat cache knows whose content that store already holds."""

def known_digests(root: str, algorithm: str = "MD5") -> list[str]:
    """The distinct digests the stat cache knows for the files under `root` (empty
    without a stat cache); files it does not know are left out."""

def set_known_packed(algorithm: str, digests: Optional[list[str]] = None) -> None:
    """The `algorithm` digests the embedded store holds in packs, for the add in progress
    (None clears them): the mutable policy does not stage a known file with one of them."""

class KnownDir:
    """The re-put's check, run on its own thread from construction: walks `root` and looks
    every file up in the stat cache (see reput.rs)."""

    def __init__(self, root: str, algorithm: str = "MD5") -> None: ...
    def result(self) -> Optional[tuple[str, int, int]]:
        """(artifact digest, size, file count) `add_dir(root)` would give, or None if
        some file is not known to the stat cache (or it is off)."""

def hash_and_precopy(path: str, staging_dir: str, min_size: int, algorithm: str = "MD5") -> tuple[str, int]:
    """The immutable policy's hash: (digest, size). A file of `min_size` bytes or more is
    copied into `staging_dir` while hashed; the log moves that copy into the store."""

def discard_precopies(paths: list[str]) -> int:
    """Remove the pre-copies made for these source paths; how many were removed."""

def precopies_pending() -> int:
    """How many pre-copies this process holds that no log has moved into a store yet."""

def store_blob_batch(root: str, body: bytes, items: list[tuple[int, int, str, str]], durable: bool = True) -> list[bool]:
    """File the (offset, size, algorithm, digest) blobs of a batch body under the object
    root `root`, each verified (ValueError on a mismatch: nothing written); durable
    (fsynced with their shard directories) before returning when `durable`. Per item:
    written now."""

def objects_lacking(root: str, items: list[tuple[str, str, int]]) -> list[int]:
    """Indices of the (digest, algorithm, size) objects the object root `root` lacks (no
    regular file of that size), checked in parallel."""

def download_plan(
    manifest: Manifest, root: Optional[str], objects: str, prefix: Optional[str] = None
) -> tuple[bytes, list[tuple[str, str, str, int]]]:
    """Before a remote download: (one byte per stored entry under `prefix`, 1 if its file
    is already right under `root`; (path, digest, algorithm, size) of each blob neither
    the root nor the cache `objects` holds). Nothing is written."""

def reference_entries(manifest: Manifest, prefix: Optional[str] = None) -> list[tuple]:
    """The reference entries whose path starts with `prefix`, as `Manifest.entries()` gives them."""

def stored_blob_summary(
    manifest: Manifest, staged_prefix: str
) -> tuple[bool, int, list[tuple[str, str, int, Optional[str], str]]]:
    """(every distinct stored blob has a local file, their total size, the staged ones as
    (algorithm, digest, size, local file, path))."""

def local_entries(
    manifest: Manifest, staged_prefix: str, sent: Optional[list[tuple[str, str]]] = None
) -> list[tuple[str, str, int, str]]:
    """(digest, algorithm, size, local file) of the stored entries with a local file and
    no skip_cache that are staged copies or, given `sent`, whose (algorithm, digest) is in it."""

def stored_blobs(manifest: Manifest) -> list[tuple[str, str, int]]:
    """(algorithm, digest, size) of each stored entry (not a reference), in manifest
    order (its paths checked already by manifest_blob_keys)."""

def manifest_blob_keys(manifest: Manifest) -> BlobKeys:
    """Every path validated (ValueError naming the first bad one); then the distinct
    (algorithm, digest) of the stored entries, kept in the core."""

class BlobKeys:
    """The distinct (algorithm, digest) of a manifest's stored entries (`in`, len, iter)."""

    def __len__(self) -> int: ...
    def __contains__(self, item: object) -> bool: ...
    def __iter__(self) -> Iterator[tuple[str, str]]: ...
    def without(self, held: Any = None, prior: Any = None) -> list[tuple[str, str]]:
        """The keys neither `held` nor `prior` (BlobKeys, set of pairs, or None) holds, in manifest order."""
    def within(self, other_set: Any) -> bool:
        """Whether `other_set` (BlobKeys or a set of pairs) holds every key."""

class AddedFiles:
    """`(local path, artifact path)` of each file an `add_dir` added, in path order."""

    def __len__(self) -> int: ...
    def __getitem__(self, index: int) -> tuple[str, str]: ...
    def __iter__(self) -> Iterator[tuple[str, str]]: ...
    def logical_paths(self) -> list[str]: ...

def staged_local_paths(manifest: Manifest, staged_prefix: str) -> list[str]:
    """Local files of the entries that are staged copies (directly in the staging dir)."""

class BlobSink:
    """One blob streamed into a new temp file: `write` each chunk as it arrives, then
    `finish()` gives (base64 digest, size); hashing and writing run on a thread of
    their own (fsynced at the end when `durable`)."""

    def __init__(self, path: str, algorithm: str, durable: bool = True) -> None: ...
    def write(self, data: bytes) -> None:
        """Queue one chunk (copied)."""
    def finish(self) -> tuple[str, int]:
        """Wait for the writer: (base64 digest, bytes written)."""

def encode_png(pixels: bytes, width: int, height: int, channels: int) -> bytes:
    """The PNG Pillow writes for these 8-bit pixels (`channels` 1, 3 or 4: L, RGB, RGBA),
    with Pillow's row filters and zlib calls (ValueError for a size/shape mismatch)."""

def write_png(pixels: bytes, width: int, height: int, channels: int, path: str) -> tuple[str, int, str]:
    """`encode_png`, written to the new file `path` (FileExistsError if it exists): its
    (sha256 hex, size, base64 MD5), hashed in memory. Runs with the GIL released."""

def png_zlib_version() -> Optional[str]:
    """The version of the zlib the PNG encoder loaded, or None where none loads."""
def fetch_objects(
    items: list[tuple[str, list[tuple[str, str]], str, Optional[str], Optional[int], Optional[str], Optional[str], Optional[int], Optional[int], str, bool]],
    s3: Optional[tuple[str, str, Optional[str], str]] = None,
    concurrency: int = 64,
    retries: int = 8,
    range_threshold: int = 64 << 20,
    timeout: float = 300.0,
    progress: Optional[Progress] = None,
) -> list[tuple[str, int, Any]]:
    """Reference downloads: GET each `(url, headers, target, temp_dir, size, md5_hex, etag,
    part_size, crc32c, label, signed)` in parallel (GIL released, Ctrl-C honoured), streamed into
    a resumable partial file and renamed into place only when size/ETag/MD5 match. S3
    items marked signed are signed (SigV4) with `s3 = (access_key, secret_key,
    session_token, region)`. Per item `(kind, status, detail)`: "placed"; "status" (an
    HTTP status to settle, detail = error body); "digest"/"failed"/"io" (detail = message);
    "interrupted"; "skipped" (another item failed first)."""

def fetch_partial_path(target: str, temp_dir: Optional[str] = None, size: Optional[int] = None,
                       md5_hex: Optional[str] = None, etag: Optional[str] = None, crc32c: Optional[int] = None) -> str:
    """The partial file a reference download of `target` writes to and resumes from."""

def sigv4_sign_get(url: str, headers: list[tuple[str, str]], access_key: str, secret_key: str,
                   session_token: Optional[str], region: str, now: int) -> list[tuple[str, str]]:
    """The SigV4 headers (x-amz-date, x-amz-content-sha256, x-amz-security-token, Authorization)
    of an S3 GET of `url` carrying `headers`, at Unix time `now`."""
def transfer_put_ranges(
    items: list[tuple[str, int, int, int, str, list[tuple[str, str]]]], concurrency: int = 16, retries: int = 5,
    timeout: float = 300.0, progress: Optional[Progress] = None,
) -> list[tuple[Optional[str], Optional[str]]]:
    """PUT each (path, offset, length, file size, presigned url, signed headers) byte
    range straight to an object store; per item (etag, None) or (None, error). A 412 to
    a create-only PUT (already stored) counts as done. Parallel, retried, GIL released."""

def write_pngs(items: list[tuple[bytes, int, int, int, str]]) -> list[Any]:
    """`write_png` of each `(pixels, width, height, channels, path)` in one release of the GIL:
    per image its (sha256 hex, size, base64 MD5), or the exception it raised."""
def set_staging_part_size(part_size: int) -> None:
    """From now on, staging a large file also hashes it in parts of `part_size` (0: stop)."""
def file_part_sums(path: str, part_size: int, parts: list[int], threads: int = 4,
                   crc32: bool = True) -> tuple[list[str], list[str]]:
    """The base64 MD5s and base64 CRC32s (S3's form; empty unless `crc32`) of the given parts."""
def staged_part_sums(algorithm: str, digest: str, size: int, part_size: int) -> Optional[tuple[list[str], list[str]]]:
    """The part MD5s and CRC32s hashed when this blob was staged in parts of `part_size`, if it was."""
def sigv4_presign_batch(base: str, items: list[tuple[str, str, list[tuple[str, str]], list[tuple[str, str]]]],
                        access_key: str, secret_key: str, session_token: Optional[str], region: str,
                        expires: int, now: int, service: str = "s3") -> list[str]:
    """Presigned S3 URLs (SigV4 query auth, UNSIGNED-PAYLOAD) for `(method, path, query,
    headers)` requests on `base` (`scheme://host[:port]`), valid `expires` s from `now`;
    the caller must send exactly the signed `headers`. One GIL release for the batch."""

"""Hypothesis strategies for the differential test: odd trees and call sequences.

A scenario is pure data (no filesystem access): a tree spec plus a list of ops whose
targets are paths relative to the example's base dir. `materialize` builds it.
"""

from __future__ import annotations

import os
import unicodedata

from hypothesis import strategies as st

CAFE_NFC = unicodedata.normalize("NFC", "café.txt")
CAFE_NFD = unicodedata.normalize("NFD", "café.txt")
# Valid on Linux: everything except "/" and NUL.
NAME_POOL = ["a.txt", "b", "with space.txt", CAFE_NFC, CAFE_NFD, "quote'and\"dq.txt",
             "pct%20x.txt", "pct%", "~tilde", "tilde~", "colon:x", "a:b", "C:x", "1:b",
             "back\\slash", "emoji_😀.bin", "日本語", "-dash", ".hidden", "UPPER", "upper",
             "frag#x", "q?x=1", "semi;c", "tab\tx", "nl\nx", "ß", "～", "x" * 100]
NAME_CHARS = "abcXYZ019 ._-%~:\\'\"#?é\u0301😀ß～\t"


def _valid_name(s: str) -> bool:
    return s not in (".", "..") and len(s.encode()) <= 200


_pool = st.sampled_from(NAME_POOL)
names = st.one_of(_pool, _pool, st.text(alphabet=NAME_CHARS, min_size=1, max_size=8)).filter(_valid_name)

# Logical (artifact) names, including ones wandb normalises or rejects.
ODD_LOGICAL = ["./x.txt", "a//b.txt", "dir/", "/abs.txt", "../up.txt", "a/../b", "a:b", "C:foo",
               "ab:c", "\\x", "x\\..\\y", "//two", ".", "~/x", " lead", "trail "]
_joined = st.lists(names, min_size=1, max_size=3).map("/".join)
logical_names = st.one_of(_joined, _joined, _joined, st.sampled_from(ODD_LOGICAL))
_prefix = st.lists(names, min_size=1, max_size=2).map("/".join)
prefixes = st.one_of(st.none(), st.none(), _prefix, _prefix, st.just(""),
                     st.sampled_from(["ds/", "a//b", "/abs", "..", "a/..", "C:x"]))
policies = st.sampled_from(["mutable", "mutable", "mutable", "immutable", "immutable", None, "bogus"])
sizes = st.sampled_from([0, 0, 1, 7, 100, 1000, 4096, 65537])
BIG_SIZES = [1 << 20, 2_500_000, 3_000_017]

# Fixed link targets outside the walked tree (so links never form loops).
EXT_FILES = {"t1.txt": 11, "t2.bin": 3000, "dir/x.txt": 5, "dir/sub/y.txt": 0, "dir/sub/z.bin": 700}
EXT_TARGETS = ["t1.txt", "t2.bin", "dir", "dir/sub"]


def resolve_tree(items: list[tuple]) -> list[tuple]:
    """Drop items that clash (a path used as both file and dir, duplicates)."""
    files: set[tuple] = set()
    dirs: set[tuple] = set()
    kept = []
    for item in items:
        parts = tuple(item[1])
        parents = {parts[:i] for i in range(1, len(parts))}
        if parts in files or parts in dirs or parents & files:
            continue
        if item[0] == "dir":
            dirs.add(parts)
        else:
            files.add(parts)
        dirs |= parents
        kept.append((item[0], parts, *item[2:]))
    return kept


def tree_targets(tree: list[tuple]) -> tuple[list[str], list[str], list[str]]:
    """(file targets, dir targets, regular files) as paths relative to the base dir."""
    ftargets, dtargets, regular = [], ["src"], []
    for kind, parts, *rest in tree:
        rel = "/".join(("src",) + parts)
        for i in range(1, len(parts)):
            d = "/".join(("src",) + parts[:i])
            if d not in dtargets:
                dtargets.append(d)
        if kind == "file":
            ftargets.append(rel)
            regular.append(rel)
        elif kind == "link":
            (dtargets if rest[0] in ("dir", "dir/sub") else ftargets).append(rel)
        elif rel not in dtargets:
            dtargets.append(rel)
    return ftargets + ["ext/t1.txt"], dtargets + ["ext/dir"], regular


BAD_FILE_TARGETS = ["src/missing.txt", "src"]
BAD_DIR_TARGETS = ["src/missing", "ext/t1.txt"]


def _mostly(good: list[str], bad: list[str]):
    """Valid targets five times as often as invalid ones."""
    g = st.sampled_from(good)
    return st.one_of(g, g, g, g, g, st.sampled_from(bad))


@st.composite
def trees(draw) -> list[tuple]:
    items = draw(st.lists(st.tuples(st.just("file"), st.lists(names, min_size=1, max_size=3), sizes),
                          max_size=10))
    items += draw(st.lists(st.tuples(st.just("dir"), st.lists(names, min_size=1, max_size=2)),
                           max_size=2))
    items += draw(st.lists(st.tuples(st.just("link"), st.lists(names, min_size=1, max_size=2),
                                     st.sampled_from(EXT_TARGETS)), max_size=3))
    if draw(st.integers(0, 9)) == 9:  # rarely, one large-ish file (shrinks towards none)
        items.insert(0, ("file", ["big.bin"], draw(st.sampled_from(BIG_SIZES))))
    return resolve_tree(items)


def _kw(**optional):
    return st.fixed_dictionaries({}, optional=optional)


def ops_for(ftargets, dtargets, regular):
    add_file = st.tuples(st.just("add_file"), _mostly(ftargets, BAD_FILE_TARGETS), _kw(
        name=st.one_of(st.none(), st.just(""), logical_names), is_tmp=st.booleans(),
        skip_cache=st.booleans(), policy=policies, overwrite=st.booleans()))
    add_dir = st.tuples(st.just("add_dir"), _mostly(dtargets, BAD_DIR_TARGETS), _kw(
        name=prefixes, skip_cache=st.booleans(), policy=policies, merge=st.booleans()))
    text = st.tuples(st.sampled_from(["x", "w"]), st.text(max_size=40))
    binary = st.tuples(st.sampled_from(["xb", "wb"]), st.binary(max_size=200))
    new_file = st.tuples(st.just("new_file"), logical_names, st.one_of(text, binary))
    remove = st.tuples(st.just("remove"),
                       st.sampled_from(["path", "path", "dir", "dir/", "missing", "entry", "entry_twice"]),
                       st.integers(0, 1000), logical_names)
    add_ref = st.tuples(st.just("add_reference"), _mostly(ftargets + dtargets, BAD_FILE_TARGETS), _kw(
        name=logical_names, checksum=st.booleans(), max_objects=st.integers(1, 40)))
    choices = [add_file, add_file, add_dir, add_dir, new_file, remove, add_ref, add_ref]
    if regular:
        choices.append(st.tuples(st.just("write_file"), st.sampled_from(regular), sizes,
                                 st.integers(0, 3)))
    return st.one_of(choices)


@st.composite
def scenarios(draw) -> dict:
    tree = draw(trees())
    ftargets, dtargets, regular = tree_targets(tree)
    ops = draw(st.lists(ops_for(ftargets, dtargets, regular), min_size=1, max_size=8))
    return {"tree": tree, "ops": ops}


def materialize(base: str, tree: list[tuple], gen_bytes) -> None:
    """Build base/ext (fixed link targets) and base/src (the drawn tree)."""
    for rel, size in EXT_FILES.items():
        p = os.path.join(base, "ext", *rel.split("/"))
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(gen_bytes("ext/" + rel, size))
    os.makedirs(os.path.join(base, "ext", "empty_dir"), exist_ok=True)
    src = os.path.join(base, "src")
    os.makedirs(src, exist_ok=True)
    for kind, parts, *rest in tree:
        p = os.path.join(src, *parts)
        if kind == "dir":
            os.makedirs(p, exist_ok=True)
            continue
        os.makedirs(os.path.dirname(p), exist_ok=True)
        if kind == "link":
            up = "../" * len(parts)  # relative link from src/<parts> to base/ext
            os.symlink(up + "ext/" + rest[0], p)
        else:
            with open(p, "wb") as f:
                f.write(gen_bytes("/".join(parts), rest[0]))


# Strategy for raw manifests (from_manifest_json round trip).
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                         st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)), max_leaves=6)
b64_digests = st.binary(min_size=16, max_size=16).map(
    lambda b: __import__("base64").b64encode(b).decode())
entry_fields = _kw(
    ref=st.one_of(st.text(max_size=20), st.sampled_from(["file:///tmp/x", "s3://b/k", "https://h/p?q"])),
    birthArtifactID=st.sampled_from(["QXJ0aWZhY3Q6MQ==", "QXJ0aWZhY3Q6MTIz"]),
    size=st.integers(0, 2**53),
    extra=st.dictionaries(st.text(max_size=6), json_values, max_size=3),
    local_path=st.just("/nonexistent/artefact-diff"),
    skip_cache=st.booleans(),
    zzz_unknown=st.integers(0, 3),
)


@st.composite
def manifest_jsons(draw) -> dict:
    contents = {}
    for path in draw(st.lists(st.one_of(logical_names, st.text(max_size=12)), max_size=12)):
        fields = draw(entry_fields)
        fields["digest"] = draw(st.one_of(b64_digests, st.text(max_size=12)))
        keys = draw(st.permutations(sorted(fields)))  # input key order must not matter
        contents[path] = {k: fields[k] for k in keys}
    cfg = draw(_kw(storageLayout=st.sampled_from(["V1", "V2"]),
                   storageRegion=st.sampled_from(["coreweave-us", " r1 "])))
    return {"version": 1, "storagePolicy": "wandb-storage-policy-v1",
            "storagePolicyConfig": cfg, "contents": contents}

"""Differential test: random trees and call sequences run on real wandb.Artifact and on
the candidate (env COMPAT_SUBJECT, default artefact) must behave identically.

Examples per test: env ARTEFACT_DIFF_EXAMPLES (default 40). Runs are derandomized
(fixed seed per test) unless ARTEFACT_DIFF_RANDOM=1.
"""

from __future__ import annotations

import itertools
import json
import os
import re

import pytest

try:  # tests/ is not a package unless someone adds tests/__init__.py
    from compat import _support as S
except ImportError:  # pragma: no cover
    from tests.compat import _support as S

pytest.importorskip("wandb", reason="the differential test needs the real wandb (pip install wandb==0.31.0)")

from hypothesis import HealthCheck, event, example, given, settings  # noqa: E402

from . import _strategies as ST  # noqa: E402

compat_env = S.compat_env  # autouse fixture: offline env for every test

EXAMPLES = int(os.environ.get("ARTEFACT_DIFF_EXAMPLES", "40"))
settings.register_profile(
    "artefact-diff", max_examples=EXAMPLES, deadline=None, database=None, print_blob=True,
    derandomize=os.environ.get("ARTEFACT_DIFF_RANDOM") != "1",
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much])
DIFF = settings.get_profile("artefact-diff")
_counter = itertools.count()


@pytest.fixture(scope="module")
def pair():
    return S.get_subject("wandb"), S.get_subject(S.SUBJECT_NAME)


# --------------------------------------------------------------------------
# Running one op on one artifact.
# --------------------------------------------------------------------------
def _resolve_remove(op, oracle_art):
    """Pick the concrete remove() argument from the oracle's current entries."""
    _, how, idx, missing = op
    paths = sorted(oracle_art.manifest.entries)
    if how == "missing" or not paths:
        return "path", missing
    path = paths[idx % len(paths)]
    if how == "path":
        return "path", path
    if how in ("dir", "dir/"):
        parent = path.rpartition("/")[0] or path
        return "path", parent + ("/" if how == "dir/" else "")
    return how, path


def _apply(art, op, base: str, remove_arg):
    kind = op[0]
    if kind == "add_file":
        return art.add_file(os.path.join(base, op[1]), **op[2]).path
    if kind == "add_dir":
        return art.add_dir(os.path.join(base, op[1]), **op[2])
    if kind == "new_file":
        mode, payload = op[2]
        kw = {} if "b" in mode else {"encoding": "utf-8"}
        with art.new_file(op[1], mode=mode, **kw) as f:
            f.write(payload)
        return None
    if kind == "remove":
        how, item = remove_arg
        if how == "path":
            return art.remove(item)
        entry = art.manifest.entries[item]
        art.remove(entry)
        return art.remove(entry) if how == "entry_twice" else None
    if kind == "add_reference":
        uri = "file://" + os.path.join(base, op[1])
        return sorted(e.path for e in art.add_reference(uri, **op[2]))
    raise AssertionError(op)


_ADD_DIR_ERR = re.compile(r"^(Invalid artifact path|Cannot add the same path twice): .*\Z", re.S)


def _norm(kind: str, outcome):
    """Comparable form of an outcome. add_dir runs on a thread pool, so which file's
    error surfaces first is arbitrary: compare only the kind of error there."""
    status, val = outcome
    if status == "ok":
        return ("ok", val)
    msg = S.redact(str(val))
    if kind == "add_dir" and isinstance(val, ValueError):
        msg = _ADD_DIR_ERR.sub("<add_dir path error>", msg)
    return ("raises", type(val).__name__, msg)


# --------------------------------------------------------------------------
# Snapshot of everything observable about an artifact's content.
# --------------------------------------------------------------------------
def _snapshot(art, ordered: bool) -> dict:
    staging = S.staging_dir()
    mj = art.manifest.to_manifest_json()
    contents = mj.get("contents", {})
    entries = {}
    for path, e in art.manifest.entries.items():
        lp = e.local_path
        if lp is None:
            where = None
        elif os.path.dirname(os.path.abspath(lp)) == staging:
            where = "staging"
        else:
            where = "original:" + str(lp)
        entries[path] = (e.path, e.skip_cache, where)
    return {
        "top-level keys": list(mj),
        "header": {k: v for k, v in mj.items() if k != "contents"},
        "storagePolicyConfig key order": list(mj.get("storagePolicyConfig", {})),
        "contents": contents,
        "per-entry key order": {p: list(v) for p, v in contents.items()},
        "insertion order": list(contents) if ordered else None,
        "digest": art.digest,
        "size": art.size,
        "len": len(art.manifest),
        "entries (path, skip_cache, local_path)": entries,
    }


def _diff(a: dict, b: dict) -> list[str]:
    out = []
    for k in a:
        if a[k] != b.get(k):
            if isinstance(a[k], dict) and isinstance(b.get(k), dict):
                keys = sorted(set(a[k]) | set(b[k]), key=repr)
                bad = [(x, a[k].get(x, "<absent>"), b[k].get(x, "<absent>"))
                       for x in keys if a[k].get(x, "<absent>") != b[k].get(x, "<absent>")]
                out.append(f"{k}: " + "; ".join(f"{x!r}: wandb={va!r} candidate={vb!r}"
                                                for x, va, vb in bad[:6]))
            else:
                out.append(f"{k}: wandb={a[k]!r} candidate={b.get(k)!r}")
    return out


def _fail(step: str, ops_done: list, problems: list[str], tree=None):
    shown = "\n  ".join(problems)
    where = "" if tree is None else f"\ntree (under src/): {tree!r}"
    pytest.fail(f"divergence at {step}\n  {shown}{where}\nops so far: {ops_done!r}", pytrace=False)


def _added_local_paths(base: str, ops: list) -> list[str]:
    """Every physical path string add_file/add_dir could have recorded."""
    seen = []
    for op in ops:
        if op[0] == "add_file":
            seen.append(os.path.join(base, op[1]))
        elif op[0] == "add_dir" and os.path.isdir(os.path.join(base, op[1])):
            for dp, _, fns in os.walk(os.path.join(base, op[1]), followlinks=True):
                seen += [os.path.join(dp, f) for f in fns]
    return list(dict.fromkeys(seen))


# Pinned divergences found by random runs (so that CI always checks them).
# wandb's add_dir is not atomic: when one file fails, the others stay added.
@example(scenario={"tree": [("file", ("a.txt",), 0), ("file", ("a:b",), 0)],
                   "ops": [("add_dir", "src", {})]})
@example(scenario={"tree": [("file", ("a.txt",), 1), ("file", ("b.txt",), 0)],
                   "ops": [("add_file", "src/a.txt", {}), ("write_file", "src/a.txt", 7, 1),
                           ("add_dir", "src", {})]})
@pytest.mark.parametrize("algorithm", ["MD5", "XXH128"])
@settings(DIFF)
@given(scenario=ST.scenarios())
def test_call_sequences_match(pair, algorithm, scenario):
    oracle, cand = pair
    base = os.path.join(S.SESSION_ROOT, "diff", f"ex{next(_counter)}")
    S.rmtree_safe(base)
    ST.materialize(base, scenario["tree"], S.gen_bytes)
    ctor = {"name": "diff-seq", "type": "dataset"}
    if algorithm == "XXH128":
        ctor["digest_algorithm"] = "XXH128"
    try:
        arts = [S.capture(lambda sj=sj: sj.Artifact(**ctor)) for sj in (oracle, cand)]
        assert arts[0][0] == "ok", arts[0]
        if arts[1][0] != "ok":
            _fail("constructor", [], [f"candidate raised {arts[1][1]!r}"])
        wa, ca = arts[0][1], arts[1][1]
        ordered, done = True, []
        dir_targets = set(ST.tree_targets(scenario["tree"])[1])
        for i, op in enumerate(scenario["ops"]):
            done.append(op)
            if op[0] == "write_file":
                with open(os.path.join(base, op[1]), "wb") as f:
                    f.write(S.gen_bytes(f"rewrite/{op[3]}/{op[1]}", op[2]))
                continue
            if op[0] == "add_dir" or (op[0] == "add_reference" and op[1] in dir_targets):
                ordered = False  # thread pool / os.walk order
            rarg = _resolve_remove(op, wa) if op[0] == "remove" else None
            got_w = _norm(op[0], S.capture(lambda: _apply(wa, op, base, rarg)))
            got_c = _norm(op[0], S.capture(lambda: _apply(ca, op, base, rarg)))
            event(f"{op[0]}: " + ("ok" if got_w[0] == "ok" else f"{got_w[1]}: {got_w[2][:30]}"))
            if got_w != got_c:
                _fail(f"op[{i}] {op!r} (remove arg {rarg!r})", done,
                      [f"wandb: {got_w!r}", f"candidate: {got_c!r}"], scenario["tree"])
            problems = _diff(_snapshot(wa, ordered), _snapshot(ca, ordered))
            if problems:
                _fail(f"state after op[{i}] {op!r}", done, problems, scenario["tree"])
        for p in _added_local_paths(base, scenario["ops"]):
            a, b = wa.get_added_local_path_name(p), ca.get_added_local_path_name(p)
            if a != b:
                _fail("get_added_local_path_name", done, [f"{p!r}: wandb={a!r} candidate={b!r}"],
                      scenario["tree"])
    finally:
        S.rmtree_safe(base)
        S.rmtree_safe(S.staging_dir())  # staged copies of finished examples


# --------------------------------------------------------------------------
# Manifest JSON round trip and digest for random (path, digest) sets.
# --------------------------------------------------------------------------
def _roundtrip(sj, mj: dict, algorithm: str):
    alg = sj.digest_algorithm_enum(f"MANIFEST_{algorithm}")
    m = sj.ArtifactManifest.from_manifest_json(json.loads(json.dumps(mj)), alg)
    out = m.to_manifest_json()
    return {
        "to_manifest_json": out,
        "top-level keys": list(out),
        "contents order": list(out.get("contents", {})),
        "per-entry key order": {p: list(v) for p, v in out.get("contents", {}).items()},
        "json text": json.dumps(out),
        "digest()": m.digest(),
        "size()": m.size(),
        "entry paths": [(k, e.path) for k, e in m.entries.items()],
        "len": len(m),
    }


def _one_extra(value) -> dict:
    return {"version": 1, "storagePolicy": "wandb-storage-policy-v1", "storagePolicyConfig": {},
            "contents": {"a.txt": {"digest": "AAAAAAAAAAAAAAAAAAAAAA==", "extra": {"k": value}}}}


# Pinned: floats must round-trip exactly; ints beyond 64 bits must stay ints.
@example(mj=_one_extra(5.669137116872245e-269))
@example(mj=_one_extra([-(2**63) - 1, 2**64, 10**30]))
@pytest.mark.parametrize("algorithm", ["MD5", "XXH128"])
@settings(DIFF)
@given(mj=ST.manifest_jsons())
def test_manifest_roundtrip_and_digest(pair, algorithm, mj):
    oracle, cand = pair
    got_w = S.capture(lambda: _roundtrip(oracle, mj, algorithm))
    got_c = S.capture(lambda: _roundtrip(cand, mj, algorithm))
    if got_w[0] != "ok" or got_c[0] != "ok":
        # only valid manifests are generated, but compare failures the same way;
        # pydantic appends a docs-URL tail, so only the first two lines count
        nw, nc = (_norm("manifest", g) for g in (got_w, got_c))
        if nw[0] == nc[0] == "raises":
            nw, nc = (n[:2] + tuple(n[2].split("\n")[:2]) for n in (nw, nc))
        if nw != nc:
            _fail("from_manifest_json", [mj], [f"wandb: {nw!r}", f"candidate: {nc!r}"])
        return
    problems = _diff(got_w[1], got_c[1])
    if problems:
        _fail("manifest round trip", [mj], problems)

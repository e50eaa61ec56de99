"""Differential test of logged artifacts: random sequences of log / alias / tag / link /
unlink / save run on the embedded store and on a model of wandb 0.31.0's documented
results, and must agree after every step.

wandb needs a server for these operations, so the reference is (a) wandb's own client
validators (`wandb.sdk.artifacts._validators.validate_aliases` / `validate_tags`, run
for real here) for which inputs are refused and with what message, and (b) a model of
what wandb documents the server doing:

- wandb/sdk/wandb_run.py `Run.log_artifact`: every logged version gets `latest`; a
  version with the same content (digest) as a committed one *is* that version (the
  aliases and tags go to it, no new `v<N>`); aliases are unique within a collection;
- wandb/sdk/artifacts/artifact.py `Artifact.save` (`_update`): aliases and tags saved
  as the difference from what was fetched; an alias moves from any other version;
  tags are checked at save (an in-place `tags.append` included);
- `Artifact.link`: the version joins the portfolio once (next index there, `latest`
  moves to it); linking again only adds aliases; `Artifact.unlink` removes the link;
- `Artifact.save` also persists `description` and `metadata` (the metadata as wandb's
  `validate_metadata` makes it JSON-friendly);
- `Artifact.delete`: refused while the version has aliases unless `delete_aliases=True`
  (CommError from the server); a deleted version leaves its collection and every
  portfolio, `latest` going back to the newest remaining version, and its index is
  never reused.

Examples: env ARTEFACT_DIFF_EXAMPLES (default 40), derandomized unless ARTEFACT_DIFF_RANDOM=1.
"""

from __future__ import annotations

import itertools
import os

import pytest

pytest.importorskip("wandb", reason="the differential test runs wandb's own validators")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

EXAMPLES = int(os.environ.get("ARTEFACT_DIFF_EXAMPLES", "40"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None,
                    derandomize=os.environ.get("ARTEFACT_DIFF_RANDOM") != "1",
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
_projects = itertools.count()

GOOD_ALIASES, BAD_ALIASES = ["best", "prod", "stage"], ["bad:alias", "bad/alias", "v9"]
GOOD_TAGS, BAD_TAGS = ["t1", "t2", "with space"], ["bad/tag", "a,b", ""]
PORTFOLIOS = ["reg1", "reg2"]


def _mostly_valid(good: list, bad: list) -> st.SearchStrategy:
    """Lists of valid values three times in four, else lists that may hold invalid ones."""
    valid = st.lists(st.sampled_from(good), max_size=3)
    return st.one_of(valid, valid, valid, st.lists(st.sampled_from(good + bad), min_size=1, max_size=3))


alias_lists = _mostly_valid(GOOD_ALIASES, BAD_ALIASES)
tag_lists = _mostly_valid(GOOD_TAGS, BAD_TAGS)
TAGS = GOOD_TAGS + BAD_TAGS
OPS = st.lists(st.one_of(
    st.tuples(st.just("log"), st.integers(0, 3), alias_lists, tag_lists),
    st.tuples(st.just("set_aliases"), st.integers(0, 9), alias_lists),
    st.tuples(st.just("set_tags"), st.integers(0, 9), tag_lists),
    st.tuples(st.just("append_tag"), st.integers(0, 9), st.sampled_from(TAGS)),
    st.tuples(st.just("link"), st.integers(0, 9), st.sampled_from(PORTFOLIOS), alias_lists),
    st.tuples(st.just("unlink"), st.sampled_from(PORTFOLIOS), st.integers(0, 9)),
    st.tuples(st.just("delete"), st.integers(0, 9), st.booleans()),
    st.tuples(st.just("describe"), st.integers(0, 9), st.sampled_from(["words", "", None, 5]),
              st.sampled_from([{}, {"k": 1}, {"nested": {"a": [1, 2]}}, {"bad": {1, 2}}])),
), min_size=1, max_size=10).map(lambda ops: [("log", 0, [], []), *ops])


def _refusal(check, value):
    """wandb's validator on `value`: None if accepted, else (class name, message)."""
    try:
        check(value)
    except ValueError as e:
        return (type(e).__name__, str(e))
    return None


class Model:
    """wandb's documented results for one sequence `ds` and its portfolios."""

    def __init__(self) -> None:
        self.versions: list[dict] = []  # index = v<N>: content, aliases, tags
        self.portfolios: dict[str, dict] = {}  # name -> next index, members [[pidx, src, aliases]]

    @staticmethod
    def _move(holders: list[set], target: set, aliases) -> None:
        for alias in aliases:
            for held in holders:
                held.discard(alias)
            target.add(alias)

    def log(self, content: int, aliases: list, tags: list) -> None:
        match = [v for v in self.versions if v["content"] == content and not v["deleted"]]
        if match:
            version = match[-1]
        else:
            version = {"content": content, "aliases": set(), "tags": [], "deleted": False,
                       "description": None, "metadata": {}}
            self.versions.append(version)
        wanted = [a for a in {*aliases, "latest"} if not (a[0] == "v" and a[1:].isdigit())]
        self._move([v["aliases"] for v in self.versions], version["aliases"], wanted)
        version["tags"] += [t for t in dict.fromkeys(tags) if t not in version["tags"]]

    def set_aliases(self, index: int, aliases: list) -> None:
        version = self.versions[index]
        new = {a for a in aliases if not (a[0] == "v" and a[1:].isdigit())} | (version["aliases"] & {"latest"})
        added = new - version["aliases"]
        version["aliases"] &= new
        self._move([v["aliases"] for v in self.versions], version["aliases"], added)

    def set_tags(self, index: int, tags: list) -> None:
        self.versions[index]["tags"] = list(dict.fromkeys(tags))

    def link(self, index: int, portfolio: str, aliases: list) -> None:
        p = self.portfolios.setdefault(portfolio, {"next": 0, "members": []})
        members = [m for m in p["members"] if m[1] == index]
        if members:
            member, wanted = members[0], list(aliases)
        else:
            member = [p["next"], index, set()]
            p["next"] += 1
            p["members"].append(member)
            wanted = ["latest", *aliases]
        wanted = [a for a in wanted if not (a[0] == "v" and a[1:].isdigit())]
        self._move([m[2] for m in p["members"]], member[2], wanted)

    def live(self) -> list[int]:
        """Indices of the versions not deleted."""
        return [i for i, v in enumerate(self.versions) if not v["deleted"]]

    def delete(self, index: int) -> None:
        version = self.versions[index]
        version["deleted"] = True
        had_latest = "latest" in version["aliases"]
        version["aliases"] = set()
        live = self.live()
        if had_latest and live:
            self.versions[live[-1]]["aliases"].add("latest")
        for p in self.portfolios.values():
            for member in [m for m in p["members"] if m[1] == index]:
                p["members"].remove(member)
                if "latest" in member[2] and p["members"]:
                    max(p["members"], key=lambda m: m[0])[2].add("latest")

    def unlink(self, portfolio: str, pick: int) -> None:
        members = self.portfolios[portfolio]["members"]
        gone = members.pop(pick % len(members))
        if "latest" in gone[2] and members:
            max(members, key=lambda m: m[0])[2].add("latest")

    def snapshot(self) -> dict:
        return {
            "versions": [(f"v{i}", sorted(v["aliases"]), sorted(v["tags"]), v["description"], v["metadata"])
                         for i, v in enumerate(self.versions) if not v["deleted"]],
            **{p: sorted((f"v{m[0]}", f"v{m[1]}", sorted(m[2])) for m in self.portfolios[p]["members"])
               for p in self.portfolios},
        }


def _observe(api, model: Model) -> dict:
    arts = api.artifacts("dataset", "ds", order="+versionIndex") if model.live() else []
    seen = {"versions": [(a.version, sorted(a.aliases), sorted(a.tags), a.description, a.metadata)
                         for a in arts]}
    for p in model.portfolios:
        seen[p] = sorted((a.version, a.source_version, sorted(a.aliases))
                         for a in api.artifacts("dataset", p))
    return seen


def _outcome(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - class and message are compared
        return (type(e).__name__, str(e))
    return None


@SETTINGS
@given(ops=OPS)
def test_logged_sequences_match_wandbs_documented_results(tmp_path, ops):
    import artefact
    from wandb.sdk.artifacts._validators import validate_aliases, validate_tags

    project = f"seq{next(_projects)}"
    contents = []
    for i in range(4):
        path = tmp_path / f"content{i}.txt"
        path.write_text(f"content number {i}")
        contents.append(str(path))
    api = artefact.Api(overrides={"entity": "e", "project": project})
    model = Model()
    with artefact.init(project=project, entity="e") as run:
        for step, op in enumerate(ops):
            kind = op[0]
            expected = None
            if kind == "log":
                _, content, aliases, tags = op
                expected = _refusal(validate_aliases, aliases) or _refusal(validate_tags, tags)

                def act(content=content, aliases=aliases, tags=tags):
                    art = artefact.Artifact("ds", "dataset")
                    art.add_file(contents[content], name="data.txt")
                    run.log_artifact(art, aliases=aliases, tags=tags)

                apply = (lambda c=content, a=aliases, t=tags: model.log(c, a, t))
            elif not model.live() and kind != "unlink":
                continue
            elif kind == "set_aliases":
                _, pick, aliases = op
                index = model.live()[pick % len(model.live())]
                expected = _refusal(validate_aliases, aliases)

                def act(index=index, aliases=aliases):
                    art = api.artifact(f"ds:v{index}")
                    art.aliases = [a for a in art.aliases if a == "latest"] + aliases
                    art.save()

                apply = (lambda i=index, a=aliases: model.set_aliases(i, a))
            elif kind == "set_tags":
                _, pick, tags = op
                index = model.live()[pick % len(model.live())]
                expected = _refusal(validate_tags, tags)

                def act(index=index, tags=tags):
                    art = api.artifact(f"ds:v{index}")
                    art.tags = tags
                    art.save()

                apply = (lambda i=index, t=tags: model.set_tags(i, t))
            elif kind == "append_tag":
                _, pick, tag = op
                index = model.live()[pick % len(model.live())]
                refused = _refusal(validate_tags, [tag])
                expected = ("CommError", refused[1]) if refused else None  # raised by save()

                def act(index=index, tag=tag):
                    art = api.artifact(f"ds:v{index}")
                    art.tags.append(tag)
                    art.save()

                apply = (lambda i=index, t=tag: model.set_tags(i, model.versions[i]["tags"] + [t]))
            elif kind == "link":
                _, pick, portfolio, aliases = op
                index = model.live()[pick % len(model.live())]
                refused = _refusal(validate_aliases, aliases)
                expected = ("CommError", refused[1]) if refused else None  # link() normalizes errors

                def act(index=index, portfolio=portfolio, aliases=aliases):
                    api.artifact(f"ds:v{index}").link(f"e/{project}/{portfolio}", aliases=aliases)

                apply = (lambda i=index, p=portfolio, a=aliases: model.link(i, p, a))
            elif kind == "describe":
                _, pick, description, metadata = op
                index = model.live()[pick % len(model.live())]
                # the metadata setter converts as wandb's json_friendly (a set becomes a list);
                # a non-str description is refused at save (CommError), storing nothing
                expected = None if description is None or isinstance(description, str) else (
                    "CommError", f"description must be a string or None, got {description!r}")

                def act(index=index, description=description, metadata=metadata):
                    art = api.artifact(f"ds:v{index}")
                    art.description = description
                    art.metadata = metadata
                    art.save()

                def apply(i=index, d=description, m=metadata):
                    from wandb.sdk.artifacts._validators import validate_metadata

                    model.versions[i]["description"] = d
                    model.versions[i]["metadata"] = validate_metadata(m)
            elif kind == "delete":
                _, pick, delete_aliases = op
                index = model.live()[pick % len(model.live())]
                has_aliases = bool(model.versions[index]["aliases"])
                expected_class = "CommError" if has_aliases and not delete_aliases else None

                def act(index=index, delete_aliases=delete_aliases):
                    api.artifact(f"ds:v{index}").delete(delete_aliases=delete_aliases)

                apply = (lambda i=index: model.delete(i))
                got = _outcome(act)
                assert (got and got[0]) == expected_class, f"step {step} {op!r}: got {got!r}\nops: {ops!r}"
                if expected_class is None:
                    apply()
                assert _observe(api, model) == model.snapshot(), f"state after step {step} {op!r}\nops: {ops!r}"
                continue
            else:  # unlink
                _, portfolio, pick = op
                members = model.portfolios.get(portfolio, {}).get("members") or []
                if not members:
                    continue
                pidx = members[pick % len(members)][0]

                def act(portfolio=portfolio, pidx=pidx):
                    api.artifact(f"{portfolio}:v{pidx}").unlink()

                apply = (lambda p=portfolio, k=pick: model.unlink(p, k))
            got = _outcome(act)
            assert got == expected, f"step {step} {op!r}: expected {expected!r}, got {got!r}\nops: {ops!r}"
            if expected is None:
                apply()
            observed = _observe(api, model)
            assert observed == model.snapshot(), f"state after step {step} {op!r}\nops: {ops!r}"

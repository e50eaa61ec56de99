"""Porting is a mechanical rename: every `from wandb... import X` line that artifact code
uses works as `from artefact... import X`, and the exception classes keep wandb's
hierarchy (compared with the real wandb 0.31.0's classes)."""

from __future__ import annotations

import importlib
import inspect

import pytest

# (wandb module, names) as artifact code imports them.
PATHS = [
    ("wandb.errors", ["Error", "CommError", "UsageError", "AuthenticationError", "UnsupportedError",
                      "WandbCoreNotAvailableError"]),
    ("wandb.sdk.artifacts.exceptions", ["ArtifactStatusError", "ArtifactNotLoggedError",
                                        "ArtifactFinalizedError", "WaitTimeoutError",
                                        "TooFewItemsError", "TooManyItemsError"]),
    ("wandb.sdk.artifacts.artifact", ["Artifact"]),
    ("wandb.sdk.artifacts.artifact_ttl", ["ArtifactTTL"]),
    ("wandb.sdk.artifacts.artifact_state", ["ArtifactState"]),
    ("wandb.sdk.artifacts.artifact_manifest", ["ArtifactManifest"]),
    ("wandb.sdk.artifacts.artifact_manifest_entry", ["ArtifactManifestEntry"]),
    ("wandb.sdk.artifacts.artifact_manifests.artifact_manifest_v1", ["ArtifactManifestV1"]),
    ("wandb.sdk.artifacts.storage_policies", ["WandbStoragePolicy"]),
    ("wandb.sdk.wandb_run", ["Run"]),
    ("wandb.apis.public", ["Api", "ArtifactCollection", "ArtifactCollections", "ArtifactFiles",
                           "ArtifactType", "ArtifactTypes", "Artifacts", "File", "Run", "RunArtifacts",
                           "Runs"]),
    ("wandb.apis.public.api", ["Api"]),
    ("wandb.apis.public.artifacts", ["ArtifactCollection", "ArtifactCollections", "ArtifactFiles",
                                     "ArtifactType", "ArtifactTypes", "Artifacts", "RunArtifacts"]),
    ("wandb.apis.public.runs", ["Run", "Runs", "RunNotFoundError"]),
    ("wandb.apis.paginator", ["Paginator", "SizedPaginator"]),
    ("wandb.data_types", ["Table", "Html"]),
    ("wandb", ["Artifact", "Api", "Table", "Html", "init", "finish", "log", "log_artifact",
               "use_artifact", "Error"]),
]

ERRORS = PATHS[0][1] + PATHS[1][1]
BUILTINS = (Exception, ValueError, AttributeError, RuntimeError, LookupError)


def _ours(module: str) -> str:
    return "artefact" + module[len("wandb"):]


@pytest.mark.parametrize("module,names", PATHS, ids=[p[0] for p in PATHS])
def test_every_wandb_import_line_works_renamed(wandb, module, names):
    theirs, ours = importlib.import_module(module), importlib.import_module(_ours(module))
    for name in names:
        assert hasattr(theirs, name), f"{module}.{name} is not in wandb 0.31.0 (the list is wrong)"
        ours_obj = getattr(ours, name)
        assert inspect.isclass(ours_obj) == inspect.isclass(getattr(theirs, name)), name


def _classes(root: str) -> dict:
    found = {}
    for module, names in PATHS[:2]:
        mod = importlib.import_module(module if root == "wandb" else _ours(module))
        found.update({n: getattr(mod, n) for n in names})
    return found


def test_exception_hierarchy_is_wandbs(wandb):
    theirs, ours = _classes("wandb"), _classes("artefact")
    for a in ERRORS:
        for b in ERRORS:
            assert issubclass(ours[a], ours[b]) == issubclass(theirs[a], theirs[b]), (a, b)
        for builtin in BUILTINS:
            assert issubclass(ours[a], builtin) == issubclass(theirs[a], builtin), (a, builtin)


def test_exception_messages_and_attributes_match(wandb):
    theirs, ours = _classes("wandb"), _classes("artefact")
    for cls in ("CommError", "UsageError", "AuthenticationError", "UnsupportedError", "Error"):
        t, o = theirs[cls]("boom"), ours[cls]("boom")
        assert (str(o), o.message) == (str(t), t.message)
    import artefact

    t_obj, o_obj = wandb.Artifact("a", "t"), artefact.Artifact("a", "t")
    t = theirs["ArtifactNotLoggedError"](fullname="Artifact.version", obj=t_obj)
    o = ours["ArtifactNotLoggedError"](fullname="Artifact.version", obj=o_obj)
    assert (str(o), o.name) == (str(t), t.name)
    t = theirs["ArtifactFinalizedError"](fullname="Artifact.add_file", obj=t_obj)
    o = ours["ArtifactFinalizedError"](fullname="Artifact.add_file", obj=o_obj)
    assert (str(o), o.name) == (str(t), t.name)


def test_one_class_per_concept():
    """The renamed paths hand out artefact's own classes, not copies."""
    import artefact
    from artefact.apis.public import Api
    from artefact.errors import CommError
    from artefact.sdk.artifacts.artifact import Artifact
    from artefact.sdk.artifacts.exceptions import ArtifactNotLoggedError

    assert Artifact is artefact.Artifact and Api is artefact.Api
    assert CommError is artefact.CommError
    assert ArtifactNotLoggedError is artefact.errors.ArtifactNotLoggedError

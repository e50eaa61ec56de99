"""wandb's `wandb.sdk` module paths, mapped onto artefact.

A port of artifact code is a mechanical rename: `from wandb.sdk.artifacts.exceptions
import ArtifactNotLoggedError` becomes `from artefact.sdk.artifacts.exceptions import ...`.
Each module here only re-exports artefact's own classes under wandb's module path.
"""

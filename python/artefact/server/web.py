"""The web pages inside `artefact server`: the UI app (`artefact.ui`) mounted at `/`,
behind the server's own API keys.

The login page takes an API key; the hook below checks it against the key table on
every request (one indexed catalog read), so a revoked key is refused at once, in a
session already open too. A key only sees the projects it is granted (`ApiKey.allows`):
other projects are left out of the list and their pages answer 404.
"""

from __future__ import annotations

from typing import Optional

from starlette.applications import Starlette

from .keys import ApiKey, authenticate
from .state import ServerState

__all__ = ["KeyPrincipal", "web_app"]


class KeyPrincipal:
    """What the UI sees of a live API key: a display name, a role, and its grant."""

    def __init__(self, key: ApiKey) -> None:
        self.key = key
        self.role = key.role
        self.name = f"{key.entity}/{key.project or '*'} key {key.key_id[:6]}"

    def allows(self, entity: str, project: str, role: str) -> bool:
        """True if the key may act as `role` in `entity/project`."""
        return self.key.allows(entity, project, role)


def web_app(state: ServerState) -> Starlette:
    """The UI over the server's store, authenticated by the server's key table."""
    from ..ui import create_app

    def principal_for(api_key: str) -> Optional[KeyPrincipal]:
        key = authenticate(state.catalog, api_key)
        return KeyPrincipal(key) if key is not None else None

    return create_app(state.store, auth=principal_for)

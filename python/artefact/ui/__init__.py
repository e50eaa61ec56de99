"""A web page to browse artifacts: `artefact ui` (the embedded store on 127.0.0.1) and
the same pages inside `artefact server`.

    from artefact.ui import create_app, Principal
    app = create_app(LocalStore.open(root), auth=lambda key: keys.get(key))

`create_app` is in app.py, the auth hook in auth.py, the URL map in routes.py.
Needs the `ui` extra (`pip install "artefact[ui]"`); importing this package does not,
so the `artefact` command starts without it.
"""

from typing import Any

from .auth import Authenticate, Principal

__all__ = ["create_app", "Principal", "Authenticate"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(f"module 'artefact.ui' has no attribute {name!r}")

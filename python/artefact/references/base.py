"""What every reference handler is: `can_handle(parsed_url)` and `store_path(...)`."""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Iterator, Optional
from urllib.parse import ParseResult

from ..term import termlog

if TYPE_CHECKING:
    from ..artifact import Artifact
    from ..manifest import ArtifactManifestEntry

# `max_objects=None` (or 0) means this many.
DEFAULT_MAX_OBJECTS = 10_000_000


class StorageHandler:
    """Handles the references of one URI scheme."""

    scheme: str = ""

    def can_handle(self, parsed_url: ParseResult) -> bool:
        """True if this handler stores references like `parsed_url`."""
        return parsed_url.scheme == self.scheme

    def store_path(
        self,
        artifact: "Artifact",
        path: str,
        name: Optional[str] = None,
        checksum: bool = True,
        max_objects: Optional[int] = None,
    ) -> list["ArtifactManifestEntry"]:
        """The manifest entries for the reference `path` (not yet added to `artifact`)."""
        raise NotImplementedError

    def load_path(self, entry: "ArtifactManifestEntry", local: bool = False) -> str:
        """The target of a reference entry. `local=True` (a download) is the store's job."""
        if local:
            raise NotImplementedError(
                f"Downloading {self.scheme}:// references needs the artifact cache/store layer"
            )
        assert entry.ref is not None
        return entry.ref


@contextlib.contextmanager
def timed(enabled: bool) -> Iterator[None]:
    """Print "Done. 0.3s" after the block, as wandb does after a checksum pass."""
    start = time.monotonic()
    yield
    if enabled:
        termlog(f"Done. {time.monotonic() - start:.1f}s", prefix=False)

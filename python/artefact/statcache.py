"""The stat cache switch: unchanged files (same inode, size, mtime_ns, ctime_ns) are not
re-hashed. The cache itself lives in the Rust core; this module points it at
`<cache dir>/statcache.bin` (or turns it off with `ARTEFACT_STATCACHE=0`) before hashing.
"""

from __future__ import annotations

import atexit
from typing import Optional

from . import _core, config

_current: Optional[str] = None
_configured = False


def ensure() -> None:
    """Point the core at the configured stat cache (cheap when nothing changed)."""
    global _current, _configured
    path = config.statcache_path()
    if _configured and path == _current:
        return
    _core.set_statcache(path)
    _current, _configured = path, True


atexit.register(_core.flush_statcache)

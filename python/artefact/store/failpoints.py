"""Crash injection for tests: `ARTEFACT_FAILPOINT=<name>[,<name>...]` kills the process.

The store calls `failpoint("after_blobs")` etc. at the points where a crash matters; the
crash tests set the variable in a child process and check the store afterwards. Unset,
a failpoint costs one environment lookup.
"""

from __future__ import annotations

import os
import signal

ENV_VAR = "ARTEFACT_FAILPOINT"

# Every name the store uses, so tests can iterate them.
POINTS = ("during_blobs", "after_blobs", "after_manifest", "before_commit", "after_commit")
# A log that packs its small blobs (pack_log.py) passes these too: the pack flushed but
# not yet renamed into packs/ (in the core, pack.rs), and renamed but without rows.
PACK_POINTS = ("before_pack_rename", "after_pack")


def armed(name: str) -> bool:
    """Whether `failpoint(name)` would kill this process."""
    wanted = os.environ.get(ENV_VAR)
    return bool(wanted) and name in wanted.split(",")


def failpoint(name: str) -> None:
    """SIGKILL this process if `name` is listed in ARTEFACT_FAILPOINT (no cleanup runs)."""
    wanted = os.environ.get(ENV_VAR)
    if wanted and name in wanted.split(","):
        os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))

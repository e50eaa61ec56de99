"""The statements that attach a committed version to its aliases, tags and the run that
logged it, and the `v<N>` alias rule.

Shared by the catalog (`Catalog.assign_version` and friends) and the fast re-put
(`fastput.py`), which must write exactly the rows a dedupe writes without importing the
store. So this module imports nothing.
"""

MOVE_ALIAS = "INSERT OR REPLACE INTO aliases (collection_id, alias, version_id) VALUES (?,?,?)"
"""Point (collection, alias) at a version; the alias leaves whichever version held it."""

ADD_TAG = "INSERT OR IGNORE INTO version_tags (version_id, tag) VALUES (?, ?)"
"""Tag a version (a tag it already has is kept once)."""

ADD_RUN_OUTPUT = "INSERT OR IGNORE INTO run_outputs (run_pk, version_id, created_at) VALUES (?,?,?)"
"""Record a version as an output of the run that logged it."""


def is_version_alias(alias: str) -> bool:
    """wandb's `alias_is_version_index`: `v` followed by digits, e.g. `v12`."""
    return len(alias) >= 2 and alias[0] == "v" and alias[1:].isnumeric()

"""Small helpers shared by the unit tests."""

from __future__ import annotations


def error_of(fn):
    """(type name, message) of what `fn()` raises, or ("ok", value)."""
    try:
        return ("ok", fn())
    except Exception as e:  # noqa: BLE001 - comparing arbitrary outcomes
        return (type(e).__name__, str(e))

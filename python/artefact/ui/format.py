"""Template filters: sizes, durations and JSON values as the pages show them."""

from __future__ import annotations

import json
from typing import Any, Optional

__all__ = ["FILTERS", "human_size", "human_duration"]


def human_size(n: Optional[int]) -> str:
    """Bytes in powers of 10, as wandb shows them: `1.2 MB`."""
    if n is None:
        return "–"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"


def human_duration(seconds: Optional[int]) -> str:
    """A TTL: `none`, or days/hours/minutes (`30d`, `2h 5m`)."""
    if seconds is None or seconds <= 0:
        return "none"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return " ".join(parts[:2])


def as_json(value: Any) -> str:
    """A metadata value as compact JSON text (strings without quotes)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def short_digest(digest: Optional[str]) -> str:
    """The first 12 characters of a digest."""
    return (digest or "")[:12]


FILTERS = {"size": human_size, "duration": human_duration, "as_json": as_json, "short": short_digest}

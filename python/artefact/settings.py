"""Strict parsers for numeric settings: sizes, seconds, thread counts.

Each parses the whole string (no prefix match: wandb's `from_human_size` reads
`10GiB` as 10 bytes and `1e9` as 1), range-checks it, and raises ValueError naming
the setting and the value. Sizes take powers of 10 (`KB`, `MB`, `GB`, ..., as wandb)
and powers of 2 (`KiB`, `MiB`, `GiB`, ...), case-insensitive, an optional space, an
optional `B`, and plain or scientific numbers (`1.5GB`, `1e9`).
"""

from __future__ import annotations

import os


__all__ = ["parse_size", "parse_seconds", "parse_threads", "env_bytes", "env_seconds", "MAX_SIZE", "MAX_THREADS",
           "MAX_SECONDS"]

MAX_SIZE = (1 << 63) - 1  # what the Rust core and SQLite hold (i64)
# More threads than this only add memory and scheduling; ~32,000 once exhausted the
# machine's process table. The Rust pool applies the same ceiling (pool.rs).
MAX_THREADS = 256
MAX_SECONDS = 10 * 365 * 24 * 3600.0  # ten years: anything longer is a typo

_UNITS = {
    "": 1, "b": 1,
    "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "pb": 10**15, "eb": 10**18,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40, "pib": 2**50, "eib": 2**60,
}
_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_SIZE = r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?|[0-9]+\.)\s*([A-Za-z]*)\s*"


def _size_pattern():  # noqa: ANN202 (re.Pattern, and re is imported here)
    import re

    return re.compile(_SIZE)  # re caches compiled patterns


_SIZE_FORMS = "a size such as 10GB, 10GiB, 1.5 MB or 1e9 (bytes)"


def _shown(what: str, text: str) -> str:
    """`NAME='value'`, a very long value cut so the error stays readable."""
    return f"{what}={text if len(text) <= 60 else text[:40] + '...' + text[-10:]!r}"


def parse_size(text: str, what: str = "size") -> int:
    """Bytes for `text` (`10GB`, `10 GiB`, `1e9`, `512`); a fraction of a byte is
    dropped. ValueError naming `what` for anything else, negatives, or sizes past 2^63-1."""
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a string such as '10GB', not {type(text).__name__}")
    number = text.rstrip(_LETTERS)  # `100GB`, `8MiB`, `512`: no regex (re costs a re-put ~2 ms)
    unit = text[len(number):]
    if not (number.isascii() and number.isdigit()):
        match = _size_pattern().fullmatch(text)
        if match is None:
            raise ValueError(f"{_shown(what, text)} is not {_SIZE_FORMS}")
        number, unit = match.groups()
    factor = _UNITS.get(unit.lower())
    if factor is None:
        raise ValueError(
            f"{_shown(what, text)}: unknown unit {unit!r}; use B, KB, MB, GB, TB, PB, EB"
            " (powers of 10) or KiB, MiB, GiB, TiB, PiB, EiB (powers of 2)"
        )
    if number.isdigit() and len(number) <= 18:  # whole numbers are exact as ints
        value_int = int(number) * factor
        if value_int > MAX_SIZE:
            raise ValueError(f"{_shown(what, text)} is too large (at most {MAX_SIZE} bytes, about 9.2 EB)")
        return value_int
    # Fractions and exponents only: decimal costs a few ms to import on every CLI run.
    from decimal import Decimal, InvalidOperation

    try:
        # Decimal keeps 1e400 exact (no float overflow) and 1.1GB exact.
        value = Decimal(number) * factor
    except InvalidOperation:
        raise ValueError(f"{_shown(what, text)} is not {_SIZE_FORMS}") from None
    except ArithmeticError:  # decimal.Overflow: an exponent past Decimal's range
        value = Decimal(MAX_SIZE + 1)
    if value > MAX_SIZE:
        raise ValueError(f"{_shown(what, text)} is too large (at most {MAX_SIZE} bytes, about 9.2 EB)")
    return int(value)


def parse_seconds(text: str, what: str, maximum: float = MAX_SECONDS) -> float:
    """Seconds for `text` (a plain or decimal number, ≥ 0 and at most `maximum`)."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{_shown(what, text)} is not a number of seconds") from None
    if value != value or value < 0:  # NaN (math.isnan without importing math)
        raise ValueError(f"{_shown(what, text)} must be a number of seconds ≥ 0")
    if value > maximum:
        raise ValueError(f"{_shown(what, text)} is too long (at most {maximum:.0f} seconds)")
    return value


def parse_threads(text: str, what: str) -> int:
    """A worker count ≥ 1 for `text`, clamped to MAX_THREADS; ValueError for 0,
    negatives and anything that is not a whole number."""
    digits = text.strip().lstrip("+")
    if digits.isdigit() and digits.isascii() and len(digits) > 18:
        return MAX_THREADS  # past int()'s digit limit, and plainly more than the ceiling
    try:
        value = int(text.strip())
    except ValueError:
        raise ValueError(f"{_shown(what, text)} is not a whole number of threads (1 to {MAX_THREADS})") from None
    if value < 1:
        raise ValueError(f"{_shown(what, text)} must be at least 1 (unset it for one thread per core)")
    return min(value, MAX_THREADS)


def env_bytes(name: str, default: int, minimum: int = 0) -> int:
    """The size environment variable `name` sets (`parse_size`: `16MiB` or `16777216`),
    `default` when unset or blank; ValueError naming it below `minimum`."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    value = parse_size(text, name)
    if value < minimum:
        raise ValueError(f"{_shown(name, text)} must be at least {minimum} bytes")
    return value


def env_seconds(name: str, default: float) -> float:
    """The seconds environment variable `name` sets (`parse_seconds`), `default` when
    unset or blank."""
    text = os.environ.get(name, "").strip()
    return parse_seconds(text, name) if text else default

"""JSON text as wandb's `json_util.dumps` writes it (pydantic_core): no spaces, UTF-8 as
is, and floats in shortest round-trip form laid out as ryu does (`1e+16`, `1e-7`,
`0.00001`, `100.0`), where Python's repr differs (`1e-07`, `1e-05`)."""

from __future__ import annotations

import json
import math
from typing import Any

_encode_str = json.encoder.encode_basestring  # escapes like serde_json, keeps non-ASCII


def _float(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    text = float.__repr__(value)  # numpy float64's own repr names its type
    sign = "-" if text.startswith("-") else ""
    text = text.lstrip("-")
    mantissa, _, exp_text = text.partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    # value = 0.digits × 10^point, from Python's shortest round-trip digits
    point = len(whole) + int(exp_text or 0) if whole != "0" else -(len(frac) - len(frac.lstrip("0")))
    digits = digits.rstrip("0") or "0"
    length = len(digits)
    k = point - length  # value = digits × 10^k
    if 0 <= k and point <= 16:
        return f"{sign}{digits}{'0' * k}.0"
    if 0 < point <= 16:
        return f"{sign}{digits[:point]}.{digits[point:]}"
    if -5 < point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    exponent = point - 1
    exp_text = f"e+{exponent}" if exponent > 0 else f"e{exponent}"
    if length == 1:
        return f"{sign}{digits}{exp_text}"
    return f"{sign}{digits[0]}.{digits[1:]}{exp_text}"


def dumps(obj: Any) -> str:
    """`obj` (dicts, lists, str, int, float, bool, None) as compact JSON text."""
    parts: list[str] = []
    _write(obj, parts.append)
    return "".join(parts)


def _write(obj: Any, out: Any) -> None:
    if obj is None:
        out("null")
    elif obj is True:
        out("true")
    elif obj is False:
        out("false")
    elif isinstance(obj, str):
        out(_encode_str(obj))
    elif isinstance(obj, int):
        out(int.__repr__(obj))
    elif isinstance(obj, float):
        out(_float(obj))
    elif isinstance(obj, dict):
        out("{")
        for i, (key, value) in enumerate(obj.items()):
            if i:
                out(",")
            out(_encode_str(str(key)))
            out(":")
            _write(value, out)
        out("}")
    elif isinstance(obj, (list, tuple)):
        out("[")
        for i, value in enumerate(obj):
            if i:
                out(",")
            _write(value, out)
        out("]")
    else:
        raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")

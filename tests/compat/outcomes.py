"""Compare a captured outcome against an errors.json record."""

from __future__ import annotations

import builtins
import json

import pytest

from . import _support as S


def _dumps(v):
    return json.dumps(v, allow_nan=True)


def check_outcome(rec: dict, outcome: tuple, *, check_value: bool = True) -> None:
    """`outcome` comes from _support.capture(). Fails with a readable diff."""
    kind, val = outcome
    rid = rec["id"]
    if rec["outcome"] == "ok":
        if kind != "ok":
            pytest.fail(f"[{rid}] expected success, got {type(val).__name__}: {val}", pytrace=False)
        if not check_value:
            return
        if "returned" in rec:
            exp = rec["returned"]
            try:
                same = val == exp and _dumps(val) == _dumps(exp)
            except (TypeError, ValueError):
                same = False
            assert same, f"[{rid}] returned {val!r}, expected {exp!r}"
        elif "returned_repr" in rec:
            assert S.redact(repr(val)) == rec["returned_repr"], f"[{rid}] repr {val!r}"
        return
    if kind != "raises":
        pytest.fail(f"[{rid}] expected {rec['exception']}: {rec['message']!r}, "
                    f"but the call returned {val!r}", pytrace=False)
    check_exception(rec, val)


def check_exception(rec: dict, exc: BaseException) -> None:
    rid = rec["id"]
    problems = []
    if type(exc).__name__ != rec["exception"]:
        problems.append(f"class {type(exc).__name__} (module {type(exc).__module__}), "
                        f"expected {rec['exception']}")
    for qual in rec["mro"]:
        mod, _, cls = qual.rpartition(".")
        if mod == "builtins" and not isinstance(exc, getattr(builtins, cls)):
            problems.append(f"not an instance of builtin {cls}")
    msg = S.redact(str(exc))
    if rec["exception_module"].startswith("pydantic"):
        # our own ValidationError need not be pydantic's; pin the meaningful head
        if not isinstance(exc, ValueError):
            problems.append("pydantic-style ValidationError must subclass ValueError")
        got2, exp2 = msg.split("\n")[:2], rec["message"].split("\n")[:2]
        if got2 != exp2:
            problems.append(f"message first two lines {got2!r}, expected {exp2!r}")
    elif msg != rec["message"]:
        problems.append(f"message {msg!r}, expected {rec['message']!r}")
    if "attr_name" in rec and getattr(exc, "name", None) != rec["attr_name"]:
        problems.append(f".name {getattr(exc, 'name', None)!r}, expected {rec['attr_name']!r}")
    if problems:
        pytest.fail(f"[{rid}] " + "; ".join(problems), pytrace=False)

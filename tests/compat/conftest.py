"""Fixtures for the vector replay suite (see _support.py)."""

from ._support import compat_env, http_port, subject  # noqa: F401

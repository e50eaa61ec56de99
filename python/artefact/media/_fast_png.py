"""The native PNG encoder (`artefact._core.write_png`), used for 8-bit L/RGB/RGBA arrays
only where it writes exactly Pillow's bytes.

It reproduces Pillow's row filters and zlib calls with the zlib Pillow uses, twice as
fast as Pillow (which spends longer choosing filters than deflating). Before first use it
encodes a set of probe images both ways and compares the bytes: a Pillow built with
another zlib (e.g. zlib-ng) fails the probe, and Pillow is used for every image.
`ARTEFACT_PNG_ENCODER=pillow` turns it off.
"""

from __future__ import annotations

import os
from typing import Any, Optional

_CHANNELS = {"L": 1, "RGB": 3, "RGBA": 4}
_state: list = []  # [bool] once probed


def _mode_setting() -> str:
    raw = (os.environ.get("ARTEFACT_PNG_ENCODER") or "auto").strip().lower()
    if raw not in ("auto", "pillow"):
        raise ValueError(f"ARTEFACT_PNG_ENCODER must be 'auto' or 'pillow', got {raw!r}")
    return raw


def _probe_arrays(np: Any) -> list:
    rng = np.random.default_rng(20251128)
    return [
        rng.integers(0, 256, (64, 64, 3), dtype=np.uint8),  # incompressible: several IDAT chunks
        rng.integers(0, 256, (33, 17, 4), dtype=np.uint8),
        np.tile(np.arange(48, dtype=np.uint8), (20, 1)),  # gradient: Sub/Up/Paeth rows
        np.zeros((5, 7), dtype=np.uint8),
        (np.arange(1 * 17_000 * 4) % 251).astype(np.uint8).reshape(1, 17_000, 4),  # a >64 KiB buffer
    ]


def _probe() -> bool:
    import io

    from .. import _core

    if not hasattr(_core, "encode_png") or _core.png_zlib_version() is None:
        return False
    from PIL import Image as PILImage
    import numpy as np

    for arr in _probe_arrays(np):
        buffer = io.BytesIO()
        PILImage.fromarray(arr).save(buffer, format="PNG", transparency=None)
        height, width = arr.shape[:2]
        channels = 1 if arr.ndim == 2 else arr.shape[2]
        if _core.encode_png(arr.tobytes(), width, height, channels) != buffer.getvalue():
            return False
    return True


def enabled() -> bool:
    """True when the native encoder is allowed and reproduces this Pillow's bytes."""
    if _mode_setting() == "pillow":
        return False
    if not _state:
        try:
            _state.append(_probe())
        except Exception:  # noqa: BLE001 - any failure means: use Pillow
            _state.append(False)
    return _state[0]


def channels(data: Any, mode: str) -> Optional[int]:
    """The channel count when `Image.fromarray(data).convert(mode)` of this uint8 array is
    a plain L/RGB/RGBA image the native encoder writes, else None."""
    count = _CHANNELS.get(mode)
    if count is None or data.size == 0:
        return None
    if data.ndim == 2:
        natural = 1
    elif data.ndim == 3 and data.shape[2] in (3, 4):
        natural = data.shape[2]
    else:
        return None
    if natural != count or not enabled():
        return None
    return count


def write(pixels: bytes, width: int, height: int, count: int, path: str) -> tuple[str, int, str]:
    """Write the PNG of `pixels` to the new file `path`: its (sha256 hex, size, base64 MD5)."""
    from .. import _core

    return _core.write_png(pixels, width, height, count, path)

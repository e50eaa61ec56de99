"""The native PNG encoder (`artefact._core.write_png`, used by `artefact.Image` for plain
L/RGB/RGBA arrays) writes exactly the bytes Pillow writes, for every input hypothesis and
the differential tests throw at it; `artefact.Image` still matches wandb 0.31.0 byte for
byte, with the native encoder and with `ARTEFACT_PNG_ENCODER=pillow`."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from artefact import _core
from artefact.media import _fast_png

from ._media_diff import assert_same

PIL = pytest.importorskip("PIL.Image")


def _pillow(arr: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    PIL.fromarray(arr).save(buffer, format="PNG", transparency=None)
    return buffer.getvalue()


def _native(arr: np.ndarray) -> bytes:
    height, width = arr.shape[:2]
    return _core.encode_png(arr.tobytes(), width, height, 1 if arr.ndim == 2 else arr.shape[2])


def test_the_native_encoder_is_used_where_pillow_uses_the_same_zlib():
    # Pillow reports the zlib it runs with; the native encoder loads the process's libz.
    from PIL import _imaging

    if _imaging.zlib_version != _core.png_zlib_version():
        pytest.skip(f"Pillow runs zlib {_imaging.zlib_version}, the encoder {_core.png_zlib_version()}")
    assert _fast_png.enabled()


@st.composite
def images(draw):
    height = draw(st.integers(1, 40))
    width = draw(st.integers(1, 70))
    channels = draw(st.sampled_from([None, 3, 4]))
    shape = (height, width) if channels is None else (height, width, channels)
    size = int(np.prod(shape))
    kind = draw(st.sampled_from(["random", "few-values", "gradient", "runs"]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if kind == "random":
        flat = rng.integers(0, 256, size, dtype=np.uint8)
    elif kind == "few-values":  # flat areas: None/Up/Sub rows win
        flat = rng.choice(np.array(draw(st.lists(st.integers(0, 255), min_size=1, max_size=4)), dtype=np.uint8), size)
    elif kind == "gradient":  # smooth: Paeth and Sub rows win
        flat = (np.arange(size) * draw(st.integers(1, 9)) // 7 % 256).astype(np.uint8)
    else:
        flat = np.repeat(rng.integers(0, 256, size // 5 + 1, dtype=np.uint8), 5)[:size]
    return flat.reshape(shape)


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])  # the same examples every run: CI never fails by chance
@given(images())
def test_native_png_bytes_equal_pillows(arr):
    assert _native(arr) == _pillow(arr)


@pytest.mark.parametrize(
    "shape",
    [(1, 1), (1, 1, 3), (1, 1, 4), (256, 256, 3), (300, 301, 4), (1, 17_000, 4), (17_000, 1), (2, 20_000, 3)],
)
@pytest.mark.parametrize("content", ["random", "zeros", "gradient"])
def test_large_and_thin_images_equal_pillows(shape, content):
    # Random pixels fill several 64 KiB IDAT chunks; 17,000+ pixels wide rows make
    # Pillow's output buffer (and so each IDAT chunk) 4 × width bytes.
    size = int(np.prod(shape))
    if content == "random":
        flat = np.random.default_rng(3).integers(0, 256, size, dtype=np.uint8)
    elif content == "zeros":
        flat = np.zeros(size, dtype=np.uint8)
    else:
        flat = (np.arange(size) % 253).astype(np.uint8)
    arr = flat.reshape(shape)
    assert _native(arr) == _pillow(arr)


def test_bad_pixel_buffers_are_refused_with_the_bad_value():
    with pytest.raises(ValueError, match="5 bytes are not a 2×1×3 image"):
        _core.encode_png(b"\0" * 5, 2, 1, 3)
    with pytest.raises(ValueError, match="channels must be 1, 3 or 4, got 2"):
        _core.encode_png(b"\0" * 4, 2, 1, 2)


def test_an_existing_file_is_never_overwritten(tmp_path):
    target = tmp_path / "x.png"
    target.write_bytes(b"keep")
    with pytest.raises(FileExistsError) as one:
        _core.write_png(b"\0" * 12, 2, 2, 3, str(target))
    assert one.value.filename == str(target) and str(target) in str(one.value)
    [batch] = _core.write_pngs([(b"\0" * 12, 2, 2, 3, str(target))])
    assert isinstance(batch, FileExistsError) and batch.filename == str(target)
    assert target.read_bytes() == b"keep"


def test_written_file_hash_and_size(tmp_path):
    import hashlib

    arr = np.random.default_rng(5).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    path = tmp_path / "a.png"
    sha256, size, md5 = _core.write_png(arr.tobytes(), 30, 20, 3, str(path))
    data = path.read_bytes()
    assert data == _pillow(arr)
    assert (sha256, size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert md5 == _core.hash_file(str(path), "MD5")[0]


def test_unknown_encoder_setting_is_refused(monkeypatch):
    monkeypatch.setenv("ARTEFACT_PNG_ENCODER", "fastest")
    with pytest.raises(ValueError, match="ARTEFACT_PNG_ENCODER must be 'auto' or 'pillow', got 'fastest'"):
        _fast_png.enabled()


ARRAYS = {
    "rgb-random": lambda r: r.integers(0, 256, (64, 48, 3), dtype=np.uint8),
    "rgba-view": lambda r: r.integers(0, 256, (40, 60, 4), dtype=np.uint8)[::2, 5:50],  # not contiguous
    "gray-transposed": lambda r: r.integers(0, 256, (30, 20), dtype=np.uint8).T,
    "gray-hw1": lambda r: r.integers(0, 256, (30, 20, 1), dtype=np.uint8),
    "rgb-float": lambda r: r.random((16, 16, 3)) * 255,
    "gray-bool": lambda r: r.random((9, 11)) > 0.5,
    "rgb-int64-wraps": lambda r: r.integers(-300, 600, (8, 8, 3)),
}


@pytest.mark.parametrize("encoder", ["auto", "pillow"])
@pytest.mark.parametrize("kind", sorted(ARRAYS))
def test_images_and_tables_match_wandb_with_either_encoder(wandb, monkeypatch, kind, encoder):
    monkeypatch.setenv("ARTEFACT_PNG_ENCODER", encoder)

    def script(m, art):
        rng = np.random.default_rng(11)
        art.add(m.Image(ARRAYS[kind](rng), caption=kind), "one")
        table = m.Table(columns=["image", "label"])
        for i in range(6):
            table.add_data(m.Image(ARRAYS[kind](rng)), i)
        art.add(table, "table")

    assert_same(wandb, script)


def test_a_changed_array_is_stored_as_it_was_at_construction(wandb):
    def script(m, art):
        arr = np.random.default_rng(2).integers(0, 256, (32, 32, 3), dtype=np.uint8)
        image = m.Image(arr)
        arr[:] = 0  # before the pool may have encoded it
        art.add(image, "img")

    assert_same(wandb, script)

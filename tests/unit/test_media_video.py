"""`artefact.Video` against real wandb 0.31.0: the same GIF/MP4 bytes, JSON, manifest and
digest (given the same moviepy, imageio and ffmpeg)."""

from __future__ import annotations

import io

import numpy as np
import pytest

import artefact

from ._media_diff import assert_same, outcome

pytest.importorskip("moviepy")
pytest.importorskip("imageio")


def _frames(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.mark.parametrize(
    "shape", [(4, 3, 8, 8), (3, 1, 6, 6), (2, 3, 3, 8, 8), (3, 2, 3, 4, 4)], ids=["TCHW", "TCHW gray", "BTCHW", "B=3"]
)
def test_gif_from_numpy_matches_wandb(wandb, shape):
    def script(m, art):
        art.add(m.Video(_frames(shape), fps=5, format="gif", caption="clip"), "clip")
        art.add(m.Video(_frames(shape).astype(np.float32), format="gif"), "float")

    assert_same(wandb, script)


def test_mp4_from_numpy_matches_wandb(wandb):
    def script(m, art):
        art.add(m.Video(_frames((6, 3, 16, 16)), fps=6, format="mp4"), "movie")

    assert_same(wandb, script)


def test_video_files_and_bytes_match_wandb(wandb, tmp_path):
    import imageio

    path = tmp_path / "anim.gif"
    imageio.mimsave(str(path), list(_frames((3, 8, 8, 3))), duration=100)

    def script(m, art):
        art.add(m.Video(str(path), caption="file"), "from_path")
        art.add(m.Video(io.BytesIO(path.read_bytes()), format="gif"), "from_bytes")
        art.add(m.Table(columns=["v"], data=[[m.Video(path)]]), "videos")

    assert_same(wandb, script)


BAD = {
    "no format": lambda m, p: m.Video(_frames((2, 3, 4, 4))),
    "bad format": lambda m, p: m.Video(_frames((2, 3, 4, 4)), format="avi"),
    "3 dims": lambda m, p: m.Video(_frames((3, 4, 4)), format="gif"),
    "bad extension": lambda m, p: m.Video(p + "/clip.avi"),
    "missing file": lambda m, p: m.Video(p + "/clip.mp4"),
    "bytes without format": lambda m, p: m.Video(io.BytesIO(b"x")),
    "not data": lambda m, p: m.Video([1, 2, 3], format="gif"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_video_input_raises_wandbs_error(wandb, tmp_path, case):
    theirs, ours = outcome(lambda: BAD[case](wandb, str(tmp_path))), outcome(lambda: BAD[case](artefact, str(tmp_path)))
    assert theirs[0] != "ok" and ours == theirs

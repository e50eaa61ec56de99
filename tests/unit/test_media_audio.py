"""`artefact.Audio` against real wandb 0.31.0: same WAV bytes, JSON, manifest and digest."""

from __future__ import annotations

import numpy as np
import pytest

import artefact

from ._media_diff import assert_same, outcome

soundfile = pytest.importorskip("soundfile")

SAMPLES = {
    "mono float32": lambda: np.sin(np.arange(800) / 7).astype(np.float32),
    "mono float64": lambda: np.cos(np.arange(500) / 3),
    "stereo float32": lambda: np.stack([np.sin(np.arange(600) / 5)] * 2, axis=1).astype(np.float32),
    "mono int16": lambda: (np.sin(np.arange(400) / 4) * 3000).astype(np.int16),
    "mono int32": lambda: (np.sin(np.arange(400) / 4) * 3e8).astype(np.int32),
}


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_raw_audio_matches_wandb(wandb, kind):
    def script(m, art):
        art.add(m.Audio(SAMPLES[kind](), sample_rate=8000, caption=kind), "clip")
        art.add(m.Audio(SAMPLES[kind](), sample_rate=16000), "no_caption")

    assert_same(wandb, script)


@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg"])
def test_audio_file_matches_wandb(wandb, tmp_path, fmt):
    path = tmp_path / f"voice.{fmt}"
    soundfile.write(str(path), np.sin(np.arange(2000) / 9).astype(np.float32), 22050)

    def script(m, art):
        art.add(m.Audio(str(path), caption="file"), "voice")
        art.add(m.Audio(path), "same_file")  # pathlib, stored once

    assert_same(wandb, script)


def test_table_of_audio_and_images_matches_wandb(wandb):
    pytest.importorskip("PIL.Image")

    def script(m, art):
        table = m.Table(columns=["audio", "image", "label"])
        for i in range(20):
            table.add_data(m.Audio(SAMPLES["mono float32"]() * (i + 1) / 20, sample_rate=8000, caption=str(i)),
                           m.Image(np.full((3, 3), i, dtype=np.uint8)), i)  # fmt: skip
        art.add(table, "sounds")

    assert_same(wandb, script)


@pytest.mark.parametrize("case", ["no sample_rate", "missing path"])
def test_bad_audio_raises_wandbs_error(wandb, tmp_path, case):
    def make(m):
        if case == "no sample_rate":
            return m.Audio(np.zeros(10))
        return m.Audio(str(tmp_path / "missing.wav"))

    theirs, ours = outcome(lambda: make(wandb)), outcome(lambda: make(artefact))
    assert theirs[0] != "ok" and ours == theirs


def test_audio_reads_back_from_a_logged_artifact():
    samples = SAMPLES["mono float32"]()
    art = artefact.Artifact("sounds", "dataset")
    art.add(artefact.Audio(samples, sample_rate=8000, caption="c"), "clip")
    with artefact.init(project="media") as run:
        run.log_artifact(art).wait()
    clip = artefact.Api().artifact("media/sounds:latest").get("clip")
    assert isinstance(clip, artefact.Audio) and clip._caption == "c"
    assert np.allclose(soundfile.read(clip._path)[0], samples, atol=1e-4)  # 16-bit PCM WAV

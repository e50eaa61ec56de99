"""`Audio`, byte-identical with wandb's: raw samples are written as WAV by soundfile."""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING, Any, Optional

from ..data_types import Media, generate_id, media_tmp_dir
from ..table_types import WBType, register_type
from . import _deps

if TYPE_CHECKING:
    from ..artifact import Artifact

SOUNDFILE_REQUIRED = 'Raw audio requires the soundfile package. To get it, run "pip install soundfile"'


class Audio(Media):
    """An audio clip, as `wandb.Audio`.

    Args:
        data_or_path: A path to an audio file, a `gs://`/`s3://`/`http(s)://` reference, or
            a numpy array of samples ((n,) or (n, channels)).
        sample_rate: Samples per second; required for raw samples.
        caption: A label shown with the clip.

    Raises:
        ValueError: for raw samples without `sample_rate`.
        Error: if soundfile is not installed (`pip install artefact[media]`).
    """

    _log_type = "audio-file"

    def __init__(self, data_or_path: Any, sample_rate: Optional[int] = None, caption: Optional[str] = None) -> None:
        super().__init__(caption=caption)
        self._duration: Optional[float] = None
        self._sample_rate = sample_rate
        if isinstance(data_or_path, str) or data_or_path.__class__.__module__.startswith("pathlib"):
            data_or_path = str(data_or_path)
            if _is_reference(data_or_path):
                self._path = data_or_path
                self._sha256 = hashlib.sha256(data_or_path.encode("utf-8")).hexdigest()
                self._is_tmp = False
            else:
                self._set_file(data_or_path, is_tmp=False)
            return
        if data_or_path.__class__.__module__.startswith("wandb."):
            raise TypeError("artefact.Audio cannot take a wandb object; build an artefact.Audio(samples, sample_rate)")
        if sample_rate is None:
            raise ValueError('Argument "sample_rate" is required when instantiating wandb.Audio with raw data.')
        soundfile = _deps.require("soundfile", SOUNDFILE_REQUIRED)
        tmp_path = os.path.join(media_tmp_dir(), generate_id() + ".wav")
        soundfile.write(tmp_path, data_or_path, sample_rate)
        self._duration = len(data_or_path) / float(sample_rate)
        self._set_file(tmp_path, is_tmp=True)

    @classmethod
    def get_media_subdir(cls) -> str:
        """`media/audio`."""
        return os.path.join("media", "audio")

    @classmethod
    def seq_to_json(cls, seq: Any, run: Any, key: str, step: Any) -> dict:
        """`run.log` of a list of Audio (bound already): wandb's `audio` value."""
        audio_list = list(seq)
        _deps.require("soundfile", "wandb.Audio requires the soundfile package. To get it, run: pip install soundfile")
        meta: dict[str, Any] = {"_type": "audio", "count": len(audio_list), "audio": [a.to_json(run) for a in audio_list]}
        sample_rates = [a._sample_rate for a in audio_list]
        if sample_rates:
            meta["sampleRates"] = sample_rates
        durations = [a._duration for a in audio_list]
        if durations:
            meta["durations"] = durations
        captions = [a._caption for a in audio_list]
        if not all(c is None for c in captions):
            meta["captions"] = ["" if c is None else c for c in captions]
        return meta

    @classmethod
    def from_json(cls, json_obj: dict, source_artifact: "Artifact") -> "Audio":
        """The clip whose file `json_obj["path"]` is in the (downloaded) artifact."""
        return cls(source_artifact.get_entry(json_obj["path"]).download(), caption=json_obj.get("caption"))

    def to_json(self, run_or_artifact: Any) -> dict:
        """`{path, sha256, caption?, _type: "audio-file"}`, storing the file."""
        json_dict = super().to_json(run_or_artifact)
        json_dict["_type"] = self._log_type
        return json_dict

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Audio):
            return False
        if _is_reference(self._path) or _is_reference(other._path):
            return self._path == other._path and self._caption == other._caption
        return self._sha256 == other._sha256 and self._caption == other._caption

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = None  # type: ignore[assignment]


def _is_reference(path: Any) -> bool:
    import re

    return isinstance(path, str) and bool(path and re.match(r"^(gs|s3|https?)://", path))


class AudioFileType(WBType):
    """The column type of audio clips."""

    name = "audio-file"

    @classmethod
    def from_obj(cls, value: Any) -> "AudioFileType":
        return cls()


register_type(Audio, AudioFileType.from_obj)

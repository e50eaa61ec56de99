"""`Video`, byte-identical with wandb's: frames go through moviepy, GIFs through imageio
with wandb's settings, other formats through moviepy's ffmpeg writer."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any, Optional

from ..data_types import Media, generate_id, media_tmp_dir
from ..table_types import WBType, register_type
from . import _deps

if TYPE_CHECKING:
    from ..artifact import Artifact

MOVIEPY_REQUIRED = 'wandb.Video requires moviepy when passing raw data. Install with "pip install wandb[media]"'
IMAGEIO_REQUIRED = 'wandb.Video requires imageio when passing raw data. Install with "pip install wandb[media]"'


def _write_gif(clip: Any, filename: str) -> None:
    imageio = _deps.require("imageio", IMAGEIO_REQUIRED)
    from packaging.version import parse

    if parse(imageio.__version__) < parse("2.28.1"):
        raise ValueError(
            "imageio version 2.28.1 or higher is required to encode gifs. "
            "Please upgrade imageio with `pip install imageio>=2.28.1`"
        )
    writer = imageio.save(filename, quantizer=0, palettesize=256, loop=0, duration=1000 / clip.fps)
    for frame in clip.iter_frames(fps=None, dtype="uint8"):
        writer.append_data(frame)
    writer.close()


class Video(Media):
    """A video, as `wandb.Video`.

    Args:
        data_or_path: A numpy array (time, channels, height, width) or (batch, time,
            channels, height, width) (batches are tiled into a grid), a path to a gif, mp4,
            webm or ogg file, or a BytesIO of one (then `format` is required).
        caption: A label shown with the video.
        fps: Frames per second of an encoded array (default 4).
        format: "gif", "mp4", "webm" or "ogg"; required for arrays and bytes.

    Raises:
        ValueError: for a missing or unsupported format, or an array of fewer than 4 dims.
        Error: if moviepy/imageio are not installed (`pip install artefact[media]`).
    """

    _log_type = "video-file"
    EXTS = ("gif", "mp4", "webm", "ogg")

    @staticmethod
    def _require_format(format: Optional[str], source_description: str) -> str:
        if format is None:
            raise ValueError(f"wandb.Video requires a `format` argument when initializing with {source_description}.")
        if format not in Video.EXTS:
            raise ValueError("wandb.Video accepts {} formats".format(", ".join(Video.EXTS)))
        return format

    def __init__(
        self, data_or_path: Any, caption: Optional[str] = None, fps: Optional[int] = None, format: Optional[str] = None
    ) -> None:
        super().__init__(caption=caption)
        self._width: Optional[int] = None
        self._height: Optional[int] = None
        self._channels: Optional[int] = None
        from io import BytesIO

        if isinstance(data_or_path, (BytesIO, str)) and fps:
            from ..term import termwarn

            termwarn("`fps` argument does not affect the frame rate of the video when providing a file path or raw bytes.")
        if isinstance(data_or_path, BytesIO):
            self._format = self._require_format(format, "raw bytes (an io object)")
            filename = os.path.join(media_tmp_dir(), generate_id() + "." + self._format)
            with open(filename, "wb") as f:
                f.write(data_or_path.read())
            self._set_file(filename, is_tmp=True)
        elif isinstance(data_or_path, str) or data_or_path.__class__.__module__.startswith("pathlib"):
            data_or_path = str(data_or_path)
            ext = os.path.splitext(data_or_path)[1][1:].lower()
            if ext not in Video.EXTS:
                raise ValueError("wandb.Video accepts {} formats".format(", ".join(Video.EXTS)))
            self._format = ext
            self._set_file(data_or_path, is_tmp=False)
        else:
            self._format = self._require_format(format, "a numpy array")
            if hasattr(data_or_path, "numpy"):  # TF eager tensors
                self.data = data_or_path.numpy()
            elif data_or_path.__class__.__name__ == "ndarray" and data_or_path.__class__.__module__ == "numpy":
                self.data = data_or_path
            else:
                raise ValueError("wandb.Video accepts a file path or numpy like data as input")
            self.encode(fps=fps or 4)

    def encode(self, fps: int = 4) -> None:
        """Encode `self.data` into a file of `self._format` at `fps` frames per second."""
        mpy = _deps.require("moviepy.video.io.ImageSequenceClip", MOVIEPY_REQUIRED)
        tensor = self._prepare_video(self.data)
        _, self._height, self._width, self._channels = tensor.shape
        clip = mpy.ImageSequenceClip(list(tensor), fps=fps)
        filename = os.path.join(media_tmp_dir(), generate_id() + "." + self._format)
        if self._format == "gif":
            _write_gif(clip, filename)
        else:
            clip.write_videofile(filename, logger=None)
        self._set_file(filename, is_tmp=True)

    @classmethod
    def get_media_subdir(cls) -> str:
        """`media/videos`."""
        return os.path.join("media", "videos")

    def to_json(self, run_or_artifact: Any) -> dict:
        """`{path, sha256, caption?, _type: "video-file", width?, height?}`."""
        json_dict = super().to_json(run_or_artifact)
        json_dict["_type"] = self._log_type
        if self._width is not None:
            json_dict["width"] = self._width
        if self._height is not None:
            json_dict["height"] = self._height
        return json_dict

    @classmethod
    def seq_to_json(cls, seq: Any, run: Any, key: str, step: Any) -> dict:
        """`run.log` of a list of Videos (bound already): wandb's `videos` value."""
        captions = [v._caption for v in seq] if seq[0]._caption is not None else False
        return {"_type": "videos", "count": len(seq), "videos": [v.to_json(run) for v in seq], "captions": captions}

    @classmethod
    def from_json(cls, json_obj: dict, source_artifact: "Artifact") -> "Video":
        """The video stored at `json_obj["path"]`."""
        return cls(source_artifact.get_entry(json_obj["path"]).download())

    def _prepare_video(self, video: Any) -> Any:
        np = _deps.require(
            "numpy", 'wandb.Video requires numpy when passing raw data. To get it, run "pip install numpy".'
        )
        if video.ndim < 4:
            raise ValueError("Video must be at least 4 dimensions: time, channels, height, width")
        if video.ndim == 4:
            video = video.reshape(1, *video.shape)
        b, t, c, h, w = video.shape
        if video.dtype != np.uint8:
            logging.warning("Converting video data to uint8")
            video = video.astype(np.uint8)
        if not (video.shape[0] != 0 and (video.shape[0] & (video.shape[0] - 1)) == 0):
            len_addition = int(2 ** video.shape[0].bit_length() - video.shape[0])
            video = np.concatenate((video, np.zeros(shape=(len_addition, t, c, h, w))), axis=0)
        n_rows = 2 ** ((b.bit_length() - 1) // 2)
        n_cols = video.shape[0] // n_rows
        video = video.reshape(n_rows, n_cols, t, c, h, w)
        video = np.transpose(video, axes=(2, 0, 4, 1, 5, 3))
        return video.reshape(t, n_rows * h, n_cols * w, c)


class VideoFileType(WBType):
    """The column type of videos."""

    name = "video-file"

    @classmethod
    def from_obj(cls, value: Any) -> "VideoFileType":
        return cls()


register_type(Video, VideoFileType.from_obj)

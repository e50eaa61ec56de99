"""`Bokeh`: a Bokeh figure or document, stored as wandb stores it (`.bokeh.json`)."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from ..data_types import Media, generate_id, media_tmp_dir
from ..table_types import WBType, register_type
from . import _deps, _json_compact

if TYPE_CHECKING:
    from ..artifact import Artifact

BOKEH_REQUIRED = "'Bokeh' requires the bokeh package.  Please install it with `pip install bokeh`."


def _doc_to_json(doc: Any) -> Any:
    try:
        return doc.to_json(deferred=False)
    except TypeError:
        return doc.to_json()


class Bokeh(Media):
    """A Bokeh plot, as `wandb.Bokeh`.

    Args:
        data_or_path: A Bokeh model (e.g. a figure), a Bokeh Document, or the path of a
            `.bokeh.json` file.

    Raises:
        TypeError: for anything else (a path that does not exist included, as in wandb).
        Error: if bokeh is not installed (`pip install artefact[media]`).
    """

    _log_type = "bokeh-file"

    def __init__(self, data_or_path: Any) -> None:
        super().__init__()
        _deps.require("bokeh", BOKEH_REQUIRED)
        document = _deps.require("bokeh.document", BOKEH_REQUIRED)
        model = _deps.require("bokeh.model", BOKEH_REQUIRED)
        is_path = isinstance(data_or_path, str) or data_or_path.__class__.__module__.startswith("pathlib")
        if is_path and os.path.exists(data_or_path):
            data_or_path = str(data_or_path)
            with open(data_or_path) as file:
                b_json = json.load(file)
            self.b_obj = document.Document.from_json(b_json)
            self._set_file(data_or_path, is_tmp=False)
        elif isinstance(data_or_path, model.Model):
            doc = document.Document()
            doc.add_root(data_or_path)
            self.b_obj = document.Document.from_json(_doc_to_json(doc))
            b_json = _doc_to_json(self.b_obj)
            roots = b_json.get("roots")
            if isinstance(roots, dict) and "references" in roots:
                roots["references"].sort(key=lambda x: x["id"])
            tmp_path = os.path.join(media_tmp_dir(), generate_id() + ".bokeh.json")
            with open(tmp_path, "w", encoding="utf-8") as fp:
                fp.write(_json_compact.dumps(b_json))  # wandb's json_dump_safer text
            self._set_file(tmp_path, is_tmp=True)
        elif not isinstance(data_or_path, document.Document):
            raise TypeError("Bokeh constructor accepts Bokeh document/model or path to Bokeh json file")

    @classmethod
    def get_media_subdir(cls) -> str:
        """`media/bokeh`."""
        return os.path.join("media", "bokeh")

    def to_json(self, run_or_artifact: Any) -> dict:
        """`{path, sha256, _type: "bokeh-file"}`, storing the JSON file."""
        json_dict = super().to_json(run_or_artifact)
        json_dict["_type"] = self._log_type
        return json_dict

    @classmethod
    def from_json(cls, json_obj: dict, source_artifact: "Artifact") -> "Bokeh":
        """The plot stored at `json_obj["path"]`."""
        return cls(source_artifact.get_entry(json_obj["path"]).download())


class BokehFileType(WBType):
    """The column type of Bokeh plots."""

    name = "bokeh-file"

    @classmethod
    def from_obj(cls, value: Any) -> "BokehFileType":
        return cls()


register_type(Bokeh, BokehFileType.from_obj)

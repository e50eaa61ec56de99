"""The store the UI tests browse, made through the real SDK (`import artefact as wandb`):
two projects, a dataset collection with three versions (files added, removed, changed;
metadata changed), a Table with image cells, runs that logged and used versions, a
registry link, a collection of 120 versions (pagination), and one collection whose
names, aliases, description, metadata, file names and file contents are hostile HTML.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

HOSTILE = "<script>window.__pwned = 1</script>"
HOSTILE_IMG = "<img src=x onerror=\"window.__pwned = 2\">"
ENTITY = "acme"
PROJECT = "vision"


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A valid RGB PNG of one colour (no imaging library needed)."""
    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def table_json(images: list[str]) -> dict:
    """A Table as wandb 0.31.0 writes it with `wandb.Image` cells: media paths relative to
    the artifact root (wandb/sdk/data_types/table.py `Table.to_json`,
    wandb/sdk/data_types/image.py `Image.to_json`: `_type` "image-file", `path`, `format`)."""
    rows = [[i, {"_type": "image-file", "path": p, "format": "png", "width": 16, "height": 16,
                 "sha256": "0" * 64, "size": 0}, f"label-{i}"] for i, p in enumerate(images)]
    return {"_type": "table", "columns": ["id", "image", "label"], "data": rows,
            "ncols": 3, "nrows": len(rows), "column_types": {"wb_type": "typedDict", "params": {"type_map": {}}}}


def _write(root: Path, files: dict[str, bytes | str]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)


def build(base: Path) -> dict:
    """Fill the store at `$ARTEFACT_STORE` (set by the caller); returns facts the tests check."""
    import artefact as wandb

    images = ["media/images/red.png", "media/images/blue.png"]
    v0_files = {
        "README.md": "# digits\nplain text readme\n",
        "train/labels.csv": "id,label\n0,7\n1,2\n",
        "train/data.json": json.dumps({"rows": 2, "source": "synthetic"}),
        "old.txt": "removed in v1\n",
        "media/images/red.png": png(16, 16, (220, 30, 30)),
        "media/images/blue.png": png(16, 16, (30, 30, 220)),
        "digits.table.json": json.dumps(table_json(images)),
    }
    for i in range(30):
        v0_files[f"shards/part-{i:03d}.txt"] = f"shard {i}\n"
    src0 = base / "src0"
    _write(src0, v0_files)
    src1 = base / "src1"
    v1_files = dict(v0_files)
    del v1_files["old.txt"]
    v1_files["train/labels.csv"] = "id,label\n0,7\n1,2\n2,9\n"
    v1_files["new.txt"] = "added in v1\n"
    _write(src1, v1_files)

    with wandb.init(entity=ENTITY, project=PROJECT, job_type="prepare", name="prepare-digits") as run:
        art = wandb.Artifact("digits", type="dataset", description="# Digits\n\nA **small** set. [docs](https://example.org/docs)",
                             metadata={"rows": 2, "split": "train"})
        art.add_dir(str(src0))
        run.log_artifact(art, aliases=["best"], tags=["baseline"])
        producer = run.id
    with wandb.init(entity=ENTITY, project=PROJECT, job_type="prepare", name="prepare-digits-2") as run:
        art = wandb.Artifact("digits", type="dataset", description="# Digits v1", metadata={"rows": 3, "version": 2})
        art.add_dir(str(src1))
        run.log_artifact(art, aliases=["candidate"])
    with wandb.init(entity=ENTITY, project=PROJECT, job_type="train", name="train-model") as run:
        run.use_artifact("digits:v0")
        model_dir = base / "model"
        _write(model_dir, {"model.bin": bytes(range(256)) * 4, "config.json": '{"lr": 0.1}'})
        model = wandb.Artifact("classifier", type="model", metadata={"accuracy": 0.93})
        model.add_dir(str(model_dir))
        logged = run.log_artifact(model, aliases=["production"])
        logged.wait()
        run.link_artifact(logged, "model-registry/Digits", aliases=["staging"])
        consumer = run.id
    with wandb.init(entity=ENTITY, project=PROJECT, job_type="eval", name="evaluate") as run:
        run.use_artifact("digits:v0")

    # 120 versions: three pages of 50.
    with wandb.init(entity=ENTITY, project=PROJECT, job_type="sweep") as run:
        for i in range(120):
            art = wandb.Artifact("metrics", type="eval-results")
            with art.new_file("score.txt") as f:
                f.write(f"{i}\n")
            run.log_artifact(art)

    # Hostile content everywhere a user can put text.
    hostile_dir = base / "hostile"
    _write(hostile_dir, {
        f"{HOSTILE}.txt": HOSTILE,
        "page.html": f"<html><body>{HOSTILE}{HOSTILE_IMG}</body></html>",
        "data.json": json.dumps({"x": HOSTILE}),
        "icon.svg": '<svg xmlns="http://www.w3.org/2000/svg"><script>window.__pwned = 3</script></svg>',
        "evil.table.json": json.dumps({"columns": [HOSTILE], "data": [[HOSTILE_IMG],
                                       [{"_type": "image-file", "path": "../../../../etc/passwd.png"}]]}),
    })
    with wandb.init(entity=ENTITY, project=PROJECT, job_type=HOSTILE, name=HOSTILE_IMG) as run:
        art = wandb.Artifact("hostile", type="dataset",
                             description=f"# Title\n\n{HOSTILE}\n\n{HOSTILE_IMG}\n\n[click](javascript:window.__pwned=4)",
                             metadata={HOSTILE: HOSTILE_IMG, "nested": {"k": HOSTILE}})
        art.add_dir(str(hostile_dir))
        art.add_reference("file:///etc/hostname", name="outside/hostname")
        run.log_artifact(art, aliases=[HOSTILE_IMG, "ok"])

    with wandb.init(entity=ENTITY, project="other", job_type="misc") as run:
        art = wandb.Artifact("notes", type="text")
        with art.new_file("notes.txt") as f:
            f.write("other project\n")
        run.log_artifact(art)
    wandb.finish()
    return {"producer": producer, "consumer": consumer}

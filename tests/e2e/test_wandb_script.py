"""A whole wandb-style script runs unchanged with `import artefact as wandb`, in a real
process against the embedded store."""

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import os, sys
    import artefact as wandb

    data = sys.argv[1]
    run = wandb.init(project="mnist", job_type="train", config={"lr": 0.1})

    # 1. build an artifact with add_dir and log it with a custom alias
    art = wandb.Artifact("mnist", type="dataset", description="digits", metadata={"n": 3})
    art.add_dir(data)
    run.log_artifact(art, aliases=["best"])
    art.wait()
    assert art.version == "v0" and set(art.aliases) == {"best", "latest"}, art.aliases

    # 2. a second version
    with open(os.path.join(data, "extra.txt"), "w") as f:
        f.write("more data\\n")
    art2 = wandb.Artifact("mnist", type="dataset")
    art2.add_dir(data)
    run.log_artifact(art2).wait()
    assert art2.version == "v1"

    # 3. use the aliased version
    used = run.use_artifact("mnist:best")
    assert used.version == "v0" and used.name == "mnist:best" and used.type == "dataset"
    assert used.metadata == {"n": 3} and used.description == "digits"

    # 4. download, verify, and list files through the public API
    root = used.download()
    assert root.endswith(os.path.join("artifacts", "mnist:v0")), root
    used.verify(root)
    assert sorted(os.listdir(root)) == ["a.txt", "sub"]
    names = [f.name for f in wandb.Api().artifact("mnist:latest").files()]
    assert sorted(names) == ["a.txt", "extra.txt", "sub/b.txt"], names

    # 5. link into the model registry and fetch through the link
    linked = run.link_artifact(used, "model-registry/Digits", aliases=["production"])
    assert linked.is_link
    via_link = wandb.Api().artifact(f"{run.entity}/model-registry/Digits:production")
    assert via_link.source_name == "mnist:v0" and via_link.version == "v0"
    assert via_link.digest == used.digest
    out = via_link.download(os.path.join(os.getcwd(), "via-link"))
    assert open(os.path.join(out, "a.txt")).read() == "alpha\\n"

    run.log({"loss": 0.5})
    run.finish()
    assert wandb.run is None
    print("SCRIPT OK")
    """
)


def test_wandb_style_script_runs_unchanged(tmp_path):
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "a.txt").write_text("alpha\n")
    (data / "sub" / "b.txt").write_text("beta\n")
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    work = tmp_path / "work"
    work.mkdir()
    env = dict(os.environ, ARTEFACT_ARTIFACT_DIR="", WANDB_ARTIFACT_DIR="")
    env.pop("ARTEFACT_ARTIFACT_DIR")
    env.pop("WANDB_ARTIFACT_DIR")
    proc = subprocess.run([sys.executable, str(script), str(data)], cwd=work, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SCRIPT OK" in proc.stdout
    staging = os.path.join(os.environ["ARTEFACT_DATA_DIR"], "artifacts", "staging")
    assert os.listdir(staging) == [], "staging must be empty after logging"

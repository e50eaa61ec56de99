"""What a re-put of an unchanged tree loads before and while the walk runs (issue 17: the
re-put of a 10k-file tree is ~25 ms of walk behind ~15 ms of interpreter start-up and
imports, so every module on that path counts).

Each test runs real `artefact` processes on a real store: the console script pip
installed (what a user runs) and `python -m artefact`.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import time

import artefact

# Modules a fast re-put must not load: importlib (and warnings) through the package's
# lazy names, math through settings, the sqlite3 package (datetime, collections.abc)
# where its C module does, typing and re.
NOT_FOR_REPUT = ("importlib", "warnings", "math", "sqlite3", "sqlite3.dbapi2", "datetime", "typing", "re",
                 "artefact.artifact", "artefact.runs", "artefact.store.catalog", "artefact.store.local")  # fmt: skip

_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(artefact.__file__)))


def _env(tmp_path) -> dict[str, str]:
    env = dict(os.environ, ARTEFACT_STORE=str(tmp_path / "store"), ARTEFACT_DATA_DIR=str(tmp_path / "data"),
               ARTEFACT_CACHE_DIR=str(tmp_path / "cache"), ARTEFACT_CONFIG_DIR=str(tmp_path / "config"),
               ARTEFACT_QUIET="1", ARTEFACT_ENTITY="e", ARTEFACT_PROJECT="p")  # fmt: skip
    for k in ("ARTEFACT_BASE_URL", "WANDB_BASE_URL", "ARTEFACT_API_KEY", "WANDB_API_KEY", "ARTEFACT_FAST_REPUT",
              "ARTEFACT_STATCACHE"):  # fmt: skip
        env.pop(k, None)
    return env


def _tree(tmp_path):
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    for i in range(20):
        (tree / ("sub" if i % 2 else "") / f"f{i}.bin").write_bytes(os.urandom(100 + i))
    # The stat cache trusts no file changed within its racy margin (50 ms) of being
    # hashed: let the files age past it, so that the first put records them all and the
    # re-put can take the fast path.
    time.sleep(0.3)
    return tree


def _objects(store) -> list[str]:
    """Every file of the store but the catalog's (its WAL comes and goes)."""
    return sorted(os.path.join(d, f) for d, _, files in os.walk(store) for f in files if not f.startswith("catalog.db"))


def _console_script() -> str:
    path = shutil.which("artefact", path=os.path.dirname(sys.executable))
    assert path, f"pip installs an `artefact` console script next to {sys.executable}"
    return path


def test_console_script_and_python_m_re_put_alike(tmp_path):
    """The console script and `python -m artefact` print the same line for the same
    re-put, and both take the fast path (no new version, no new object)."""
    tree, env = _tree(tmp_path), _env(tmp_path)
    argv = ["-q", "put", str(tree), "--name", "ds", "--type", "dataset"]
    first = subprocess.run([_console_script(), *argv], env=env, capture_output=True, text=True, check=True).stdout
    objects = _objects(tmp_path / "store")
    outs = [subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
            for cmd in ([_console_script(), *argv], [sys.executable, "-m", "artefact", *argv])]  # fmt: skip
    assert outs[0] == outs[1] == first, (first, outs)
    assert first.startswith("e/p/ds:v0  20 files  ")
    assert _objects(tmp_path / "store") == objects


def test_fast_re_put_loads_only_its_floor(tmp_path):
    """A re-put that takes the fast path (fastput loaded, and none of the SDK's put
    modules) loads none of NOT_FOR_REPUT. Run without `site` (-S), so that nothing but
    the put itself imports anything."""
    tree, env = _tree(tmp_path), _env(tmp_path)
    argv = ["-q", "put", str(tree), "--name", "ds", "--type", "dataset"]
    subprocess.run([_console_script(), *argv], env=env, capture_output=True, check=True)
    script = (
        f"import sys; sys.path.insert(0, {_PACKAGE_PARENT!r})\n"
        "from artefact.cli import main\n"
        "code = main(sys.argv[1:])\n"
        "print(repr([code, sorted(sys.modules)]))\n"
    )
    proc = subprocess.run([sys.executable, "-S", "-c", script, *argv], env=env, capture_output=True, text=True,
                          check=True)  # fmt: skip
    code, modules = ast.literal_eval(proc.stdout.strip().splitlines()[-1])
    assert code == 0, proc.stderr
    assert "artefact.fastput" in modules and "artefact._core" in modules
    assert "_sqlite3" in modules, "the catalog was opened through sqlite3's C module"
    assert sorted(m for m in NOT_FOR_REPUT if m in modules) == []


def test_package_names_load_without_importlib(tmp_path):
    """The package's lazy names (submodules and classes) still resolve, as `import
    artefact as wandb` code uses them, and doing so does not need importlib."""
    script = (
        f"import sys; sys.path.insert(0, {_PACKAGE_PARENT!r})\n"
        "import artefact as wandb\n"
        "from artefact import _core\n"
        "assert 'importlib' not in sys.modules, 'from artefact import _core'\n"
        "assert wandb._core is _core and wandb.errors.CommError is wandb.CommError\n"
        "assert wandb.Artifact('a', 'dataset').type == 'dataset'\n"
        "assert wandb.__version__ == getattr(_core, '__version__', '0.0.0')\n"
        "import artefact.store as store\n"
        "assert store.StoreError is __import__('artefact.store.errors').store.errors.StoreError\n"
        "try:\n"
        "    wandb.NoSuchName\n"
        "except AttributeError as e:\n"
        "    assert 'NoSuchName' in str(e)\n"
        "else:\n"
        "    raise AssertionError('an unknown name resolved')\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-S", "-c", script], env=_env(tmp_path), capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr

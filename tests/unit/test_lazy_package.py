"""`import artefact` loads only the package file (issue 17: `python -m artefact put` and
`import artefact._core` no longer pay for the whole SDK), while every public name of the
drop-in surface still resolves, `from artefact import *` gives them all and `dir()`
lists them."""

from __future__ import annotations

import json
import subprocess
import sys


def _run(code: str) -> object:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_import_loads_no_submodule():
    loaded = _run("import sys, json, artefact; print(json.dumps(sorted(m for m in sys.modules if m.startswith('artefact'))))")
    assert loaded == ["artefact"]


def test_every_public_name_resolves_to_its_module_object():
    got = _run(
        "import json, artefact as wandb\n"
        "from artefact.artifact import Artifact\n"
        "from artefact.errors import CommError\n"
        "from artefact import runs, _core, errors\n"
        "missing = [n for n in wandb.__all__ if n != 'run' and getattr(wandb, n) is None]\n"
        "print(json.dumps({'missing': missing, 'same': [wandb.Artifact is Artifact, wandb.CommError is CommError,\n"
        "  wandb.init is runs.init, wandb._core is _core, wandb.errors is errors],\n"
        "  'version': wandb.__version__ == getattr(_core, '__version__', '0.0.0'), 'run': wandb.run,\n"
        "  'dir': sorted(set(wandb.__all__) - set(dir(wandb)))}))"
    )
    assert got == {"missing": [], "same": [True] * 5, "version": True, "run": None, "dir": []}


def test_star_import_gives_the_whole_surface_and_unknown_names_fail():
    got = _run(
        "import json, artefact\n"
        "ns = {}\n"
        "exec('from artefact import *', ns)\n"
        "try:\n"
        "    artefact.NoSuchThing\n"
        "    err = None\n"
        "except AttributeError as e:\n"
        "    err = str(e)\n"
        "print(json.dumps({'names': sorted(set(artefact.__all__) - set(ns)), 'err': err}))"
    )
    assert got == {"names": [], "err": "module 'artefact' has no attribute 'NoSuchThing'"}

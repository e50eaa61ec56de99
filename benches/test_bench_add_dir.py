"""pytest-benchmark: `Artifact.add_dir` of a small tree (1,000 x 4 KiB), artefact and wandb
in the same process, so the two rows read side by side. Run explicitly:
`pytest benches/test_bench_add_dir.py --benchmark-only`. For fresh-process figures with
peak RSS and the machine's limits, use compare_wandb.py instead.
"""

from __future__ import annotations

import importlib
import itertools

import pytest

pytest.importorskip("pytest_benchmark")

from _common import record_per_item_us  # noqa: E402

pytestmark = pytest.mark.benchmark

_names = itertools.count()


def _sdk(name):
    mod = pytest.importorskip(name)
    if not hasattr(mod, "Artifact"):
        pytest.skip(f"{name}.Artifact is not there yet")
    return mod


@pytest.mark.parametrize("policy", ["immutable", "mutable"])
@pytest.mark.parametrize("sdk_name", ["artefact", "wandb"])
def test_add_dir_1k_files(benchmark, sdk_dirs, tree_1k, sdk_name, policy):
    sdk = _sdk(sdk_name)

    def setup():
        return (sdk.Artifact(f"bench-{next(_names)}", type="dataset"),), {}

    def add(art):
        art.add_dir(str(tree_1k), policy=policy)
        art.manifest.to_manifest_json()
        return art.digest

    digest = benchmark.pedantic(add, setup=setup, rounds=5, iterations=1, warmup_rounds=1)
    assert len(digest) == 32
    record_per_item_us(benchmark, 1_000)

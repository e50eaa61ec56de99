"""`wandb.apis.public.runs`: a run as the public API returns it, and run listings."""

from ...api_runs import PublicRun as Run
from ...api_runs import Runs
from ...store.errors import RunNotFoundError

__all__ = ["Run", "RunNotFoundError", "Runs"]

"""`wandb.sdk.wandb_run`: the `Run` class."""

from ..runs import Run

__all__ = ["Run"]

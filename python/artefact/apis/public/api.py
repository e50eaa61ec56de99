"""`wandb.apis.public.api`: the `Api` class."""

from ...api import Api

__all__ = ["Api"]

"""`wandb.sdk.artifacts.storage_policies`: the storage policy classes."""

from ....storage_policy import WandbStoragePolicy

__all__ = ["WandbStoragePolicy"]

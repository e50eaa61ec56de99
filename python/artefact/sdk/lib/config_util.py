"""`wandb.sdk.lib.config_util`: the run config's error."""

from ...errors import ConfigError

__all__ = ["ConfigError"]

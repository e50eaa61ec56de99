"""`wandb.sdk.artifacts`: the artifact classes under wandb's package path."""

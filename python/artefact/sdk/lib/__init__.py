"""`wandb.sdk.lib`: the helper modules artifact code imports from."""

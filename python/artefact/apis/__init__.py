"""`wandb.apis`: the public API under wandb's package path (see `artefact.sdk`)."""

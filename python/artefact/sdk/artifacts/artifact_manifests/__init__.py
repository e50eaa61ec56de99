"""`wandb.sdk.artifacts.artifact_manifests`: the manifest versions (only V1 exists)."""

"""Media objects an artifact holds besides Tables: images and their masks, boxes and classes.

Each module imports its encoding library (pillow, ...) only when an object is built, so
`import artefact` stays cheap; a missing library raises wandb's "install ..." `Error`.
"""

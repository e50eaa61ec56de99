"""`python -m artefact` runs the `artefact` command."""

import sys

from .cli import main

sys.exit(main())

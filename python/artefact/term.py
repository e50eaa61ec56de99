"""Terminal lines to stderr, as wandb's `termlog`/`termwarn`/`termerror` print them.

wandb reports warnings (deprecations included) this way rather than through the
`warnings` module, so code run with `-W error` keeps working after the switch.
Quiet mode (see `config.quiet`) sends the lines to the `artefact` logger instead.
"""

from __future__ import annotations

import sys
import threading

from . import config

PREFIX = "artefact"
_lock = threading.Lock()
_printed: set[str] = set()


def _emit(text: str, level: str, newline: bool, repeat: bool, prefix: bool) -> None:
    with _lock:
        if not repeat:
            if text in _printed:
                return
            if len(_printed) < 1000:
                _printed.add(text)
    if prefix:
        text = "\n".join(f"{PREFIX}: {line}" for line in text.split("\n"))
    if config.quiet():
        if level == "info" and not info_enabled():
            return
        import logging  # only quiet mode needs it

        getattr(logging.getLogger("artefact"), level)(text)
        return
    sys.stderr.write(text + ("\n" if newline else ""))
    sys.stderr.flush()


def info_enabled() -> bool:
    """Whether an info line goes anywhere. In quiet mode it goes to the `artefact`
    logger; if nothing has imported `logging`, nothing can have enabled INFO there,
    so there is no need to import it (4 ms, paid by the first add_dir)."""
    if not config.quiet():
        return True
    logging = sys.modules.get("logging")
    return logging is not None and logging.getLogger("artefact").isEnabledFor(logging.INFO)


def termlog(text: str = "", newline: bool = True, repeat: bool = True, prefix: bool = True) -> None:
    """An informational line (progress, timings)."""
    _emit(text, "info", newline, repeat, prefix)


def termwarn(text: str, newline: bool = True, repeat: bool = True, prefix: bool = True) -> None:
    """A warning line: `artefact: WARNING <text>`."""
    text = "\n".join(f"WARNING {line}" for line in text.split("\n"))
    _emit(text, "warning", newline, repeat, prefix)


def termerror(text: str, newline: bool = True, repeat: bool = True, prefix: bool = True) -> None:
    """An error line: `artefact: ERROR <text>`."""
    text = "\n".join(f"ERROR {line}" for line in text.split("\n"))
    _emit(text, "error", newline, repeat, prefix)

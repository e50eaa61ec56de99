"""Every knob, read from the environment at call time (never cached at import).

Numbers and sizes are parsed whole and range-checked (settings.py); a bad value is
refused with an error naming the variable before any work starts (`check_settings`).

Each artefact variable wins over its wandb twin, so existing wandb setups keep working:

| what | variables, first set wins | default |
|---|---|---|
| data dir (staging lives in `<data>/artifacts/staging`) | ARTEFACT_DATA_DIR, WANDB_DATA_DIR | user data dir, e.g. `~/.local/share/artefact` |
| cache dir (objects in `<cache>/artifacts/obj/...`) | ARTEFACT_CACHE_DIR, WANDB_CACHE_DIR | user cache dir, e.g. `~/.cache/artefact` |
| download roots | ARTEFACT_ARTIFACT_DIR, WANDB_ARTIFACT_DIR | `./artifacts` |
| cache cap | ARTEFACT_CACHE_MAX (`10GB`, `10GiB`, `1e9`; `off`) | 100GB |
| worker threads | ARTEFACT_THREADS (1..MAX_THREADS; more is clamped) | one per core |
| catalog lock wait | ARTEFACT_LOCK_TIMEOUT (seconds) | 120 |
| storage layout V1 | _WANDB_USE_V1_ARTIFACTS (any non-empty value, even "false") | V2 |
| quiet (no progress or log lines) | ARTEFACT_QUIET, WANDB_SILENT (true/1/yes/on) | off |
| team server (remote backend) | ARTEFACT_BASE_URL, WANDB_BASE_URL, then `artefact login`'s settings file | none: the embedded store |
| API key for the server | ARTEFACT_API_KEY, WANDB_API_KEY, then the settings file | none |
| settings file dir | ARTEFACT_CONFIG_DIR, WANDB_CONFIG_DIR | `~/.config/artefact` |
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing's import is a sixth of a re-put (fastput.py)
if TYPE_CHECKING:
    from typing import Optional

from .settings import MAX_THREADS, parse_seconds, parse_size, parse_threads

APP_NAME = "artefact"
DATA_DIR_VARS = ("ARTEFACT_DATA_DIR", "WANDB_DATA_DIR")
CACHE_DIR_VARS = ("ARTEFACT_CACHE_DIR", "WANDB_CACHE_DIR")
ARTIFACT_DIR_VARS = ("ARTEFACT_ARTIFACT_DIR", "WANDB_ARTIFACT_DIR")
USE_V1_ARTIFACTS_VAR = "_WANDB_USE_V1_ARTIFACTS"
QUIET_VARS = ("ARTEFACT_QUIET", "WANDB_SILENT")
BASE_URL_VARS = ("ARTEFACT_BASE_URL", "WANDB_BASE_URL")
API_KEY_VARS = ("ARTEFACT_API_KEY", "WANDB_API_KEY")
CONFIG_DIR_VARS = ("ARTEFACT_CONFIG_DIR", "WANDB_CONFIG_DIR")

_TRUE_STRINGS = frozenset({"y", "yes", "t", "true", "on", "1"})


def _first_env(names: tuple[str, ...]) -> Optional[str]:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def _user_dir(kind: str) -> str:
    """platformdirs' user_data_dir/user_cache_dir for APP_NAME, without the dependency."""
    home = os.path.expanduser("~")
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.path.join(home, "AppData", "Local")
        return os.path.join(base, APP_NAME, APP_NAME, *(["Cache"] if kind == "cache" else []))
    if sys.platform == "darwin":
        sub = "Caches" if kind == "cache" else "Application Support"
        return os.path.join(home, "Library", sub, APP_NAME)
    if kind == "cache":
        base = os.environ.get("XDG_CACHE_HOME", "").strip() or os.path.join(home, ".cache")
    else:
        base = os.environ.get("XDG_DATA_HOME", "").strip() or os.path.join(
            home, ".local", "share"
        )
    return os.path.join(base, APP_NAME)


def user_data_dir() -> str:
    """platformdirs' user data dir for artefact (XDG_DATA_HOME aware)."""
    return _user_dir("data")


def store_root() -> str:
    """The embedded store: `ARTEFACT_STORE`, else `<user data dir>/store`."""
    return os.environ.get("ARTEFACT_STORE") or os.path.join(user_data_dir(), "store")


def default_entity() -> str:
    """`ARTEFACT_ENTITY`, then `WANDB_ENTITY`, then the OS user name."""
    value = _first_env(("ARTEFACT_ENTITY", "WANDB_ENTITY"))
    if value:
        return value
    if base_url():  # a team server: the entity `artefact login` recorded for the key
        saved = login_settings().get("entity")
        if saved:
            return saved
    return _os_user()


def _os_user() -> str:
    """`getpass.getuser()` without importing getpass (and termios) on every put."""
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        user = os.environ.get(name)
        if user:
            return user
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError, OSError):
        return "artefact"


def default_project() -> str:
    """`ARTEFACT_PROJECT`, then `WANDB_PROJECT`, then "uncategorized"."""
    return _first_env(("ARTEFACT_PROJECT", "WANDB_PROJECT")) or "uncategorized"


def statcache_path() -> Optional[str]:
    """The stat cache file, or None when `ARTEFACT_STATCACHE` is 0/false/off."""
    value = os.environ.get("ARTEFACT_STATCACHE", "").strip().lower()
    if value in ("0", "false", "off", "no"):
        return None
    return os.path.join(cache_dir(), "statcache.bin")


CACHE_MAX_ENV = "ARTEFACT_CACHE_MAX"
DEFAULT_CACHE_MAX = "100GB"  # wandb has no cap; ours keeps a forgotten cache bounded
THREADS_ENV = "ARTEFACT_THREADS"
LOCK_TIMEOUT_ENV = "ARTEFACT_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT = 120.0


ONE_PASS_MIN_ENV = "ARTEFACT_ONE_PASS_MIN"
DEFAULT_ONE_PASS_MIN = "8MiB"


def one_pass_min() -> Optional[int]:
    """From this size on (`ARTEFACT_ONE_PASS_MIN`, default 8MiB), the immutable policy
    copies a file into the staging dir while hashing it, and logging to the embedded
    store moves that copy in (one pass over the file); None for `off`."""
    value = os.environ.get(ONE_PASS_MIN_ENV, "").strip() or DEFAULT_ONE_PASS_MIN
    if value.lower() in ("off", "none", "false", "no"):
        return None
    return parse_size(value, ONE_PASS_MIN_ENV)


def cache_max() -> Optional[int]:
    """The cache cap in bytes from `ARTEFACT_CACHE_MAX` (default 100GB); None for
    `off`/`none`/`0`. ValueError naming the variable for anything else unparsable."""
    value = os.environ.get(CACHE_MAX_ENV, "").strip() or DEFAULT_CACHE_MAX
    if value.lower() in ("off", "none", "0"):
        return None
    return parse_size(value, CACHE_MAX_ENV)


def threads() -> Optional[int]:
    """`ARTEFACT_THREADS` as a worker count (clamped to MAX_THREADS), or None
    when unset (one per core). ValueError for 0, negatives and non-integers."""
    value = os.environ.get(THREADS_ENV, "").strip()
    return parse_threads(value, THREADS_ENV) if value else None


def lock_timeout() -> float:
    """Seconds a catalog writer waits for another process's write lock
    (`ARTEFACT_LOCK_TIMEOUT`, default 120)."""
    value = os.environ.get(LOCK_TIMEOUT_ENV, "").strip()
    return parse_seconds(value, LOCK_TIMEOUT_ENV) if value else DEFAULT_LOCK_TIMEOUT


def check_settings() -> None:
    """Refuse bad numeric settings up front (ValueError naming the variable), so a
    typo fails before a download or log starts rather than after; warns once when
    `ARTEFACT_THREADS` is clamped."""
    cache_max()
    lock_timeout()
    one_pass_min()
    value = os.environ.get(THREADS_ENV, "").strip()
    count = threads()
    if count is not None and int(value) > count and _warned.get(THREADS_ENV) != value:
        from .term import termwarn

        _warned[THREADS_ENV] = value
        termwarn(f"{THREADS_ENV}={value!r} is more than artefact uses; using {count} threads")


_warned: dict[str, str] = {}


def data_dir() -> str:
    """The data dir; staged copies of added files go to `<data_dir>/artifacts/staging`."""
    return _first_env(DATA_DIR_VARS) or _user_dir("data")


def cache_dir() -> str:
    """The cache dir; the artifact file cache is `<cache_dir>/artifacts`."""
    return _first_env(CACHE_DIR_VARS) or _user_dir("cache")


def artifacts_cache_dir() -> str:
    """Root of the content-addressed artifact file cache (wandb's layout under it)."""
    return os.path.join(cache_dir(), "artifacts")


def artifact_dir() -> str:
    """Absolute default parent of download roots (`./artifacts` unless configured)."""
    return os.path.abspath(_first_env(ARTIFACT_DIR_VARS) or os.path.join(".", "artifacts"))


def staging_dir_path() -> str:
    """Where the staging dir is (not created)."""
    return os.path.join(data_dir(), "artifacts", "staging")


def use_v1_artifacts() -> bool:
    """True if `_WANDB_USE_V1_ARTIFACTS` is set to any non-empty string (even "false")."""
    return bool(os.environ.get(USE_V1_ARTIFACTS_VAR))


def storage_layout() -> str:
    """The storage layout new artifacts get: "V1" or "V2"."""
    return "V1" if use_v1_artifacts() else "V2"


def quiet() -> bool:
    """True if progress and log lines are off (ARTEFACT_QUIET or WANDB_SILENT is truthy)."""
    for name in QUIET_VARS:
        value = os.environ.get(name)
        if value is not None and value.strip().lower() in _TRUE_STRINGS:
            return True
    return False


def settings_path() -> str:
    """The file `artefact login` writes: `<ARTEFACT_CONFIG_DIR or ~/.config/artefact>/settings`."""
    base = _first_env(CONFIG_DIR_VARS) or os.path.join(
        os.environ.get("XDG_CONFIG_HOME", "").strip() or os.path.join(os.path.expanduser("~"), ".config"), APP_NAME
    )
    return os.path.join(base, "settings")


def login_settings() -> dict:
    """`base_url`, `api_key`, `entity` from the settings file (empty if there is none)."""
    path = settings_path()
    if not os.path.isfile(path):
        return {}  # the common case: no import of configparser on every put
    import configparser

    parser = configparser.ConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error:
        return {}
    return dict(parser["default"]) if parser.has_section("default") else {}


def base_url() -> Optional[str]:
    """The team server's URL (`ARTEFACT_BASE_URL`, `WANDB_BASE_URL`, then `artefact login`'s
    file), or None for the embedded store."""
    value = _first_env(BASE_URL_VARS) or login_settings().get("base_url")
    return value.rstrip("/") if value else None


def api_key() -> Optional[str]:
    """The API key for the team server (`ARTEFACT_API_KEY`, `WANDB_API_KEY`, then the file)."""
    return _first_env(API_KEY_VARS) or login_settings().get("api_key") or None

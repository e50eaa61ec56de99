"""The `artefact` command: version directories into the embedded store and read them back.

    artefact put ./data --name mnist --type dataset --alias best
    artefact get mnist:best --root ./mnist
    artefact ls | versions mnist | verify mnist:latest --root ./mnist | verify --store
    artefact cache cleanup 10GB | gc
    artefact ui [--port N] [--open]

Errors print one line naming the file or setting at fault (exit 1; 2 for bad usage);
a closed pipe (`artefact versions x | head -1`) ends the command quietly.

Long transfers draw a progress line on stderr; `--quiet` (or ARTEFACT_QUIET) turns it off.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing's import costs a re-put of a small tree more than it checks
if TYPE_CHECKING:
    import argparse
    from typing import Optional, Sequence


def _project_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--project", help="project (default: ARTEFACT_PROJECT or 'uncategorized')")
    p.add_argument("--entity", help="entity (default: ARTEFACT_ENTITY or the OS user)")


# Commands defined here; the others (ui, server, login) live in modules whose imports
# (http, dataclasses, webbrowser...) cost more than a re-put of a small tree.
_OWN = frozenset({"put", "get", "ls", "versions", "verify", "cache", "gc"})


def _command_of(argv: Sequence[str]) -> Optional[str]:
    """The subcommand named in `argv` (the first word that is not an option)."""
    return next((a for a in argv if not a.startswith("-")), None)


def _parser(argv: Optional[Sequence[str]] = None) -> argparse.ArgumentParser:
    """The CLI's parser; the ui/server/login subcommands are registered (imported) only
    when `argv` does not name one of this module's own commands (or for help)."""
    import argparse

    parser = argparse.ArgumentParser(prog="artefact", description="wandb-compatible artifacts in a local store")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    sub = parser.add_subparsers(dest="command", required=True)

    put = sub.add_parser("put", help="log a file or directory as a new artifact version")
    put.add_argument("path")
    put.add_argument("--name", required=True)
    put.add_argument("--type", required=True)
    put.add_argument("--alias", action="append", default=[], help="repeatable")
    put.add_argument("--tag", action="append", default=[], help="repeatable")
    put.add_argument("--description")
    put.add_argument("--policy", choices=["mutable", "immutable"], default="mutable")
    _project_arg(put)

    get = sub.add_parser("get", help="download an artifact version")
    get.add_argument("name", help="[entity/][project/]name[:alias]")
    get.add_argument("--root", help="target directory (default ./artifacts/<name>:v<N>)")
    get.add_argument("--type")
    _project_arg(get)

    ls = sub.add_parser("ls", help="list artifact collections of a project")
    ls.add_argument("--type", help="only this artifact type")
    _project_arg(ls)

    versions = sub.add_parser("versions", help="list the versions of an artifact")
    versions.add_argument("name")
    _project_arg(versions)

    verify = sub.add_parser(
        "verify", help="check a downloaded copy against its manifest, or (--store) the whole store"
    )
    verify.add_argument("name", nargs="?")
    verify.add_argument("--root")
    verify.add_argument(
        "--store", action="store_true",
        help="re-hash every object and manifest of the store and report what is wrong",
    )
    _project_arg(verify)

    cache = sub.add_parser("cache", help="manage the artifact file cache")
    cache_sub = cache.add_subparsers(dest="cache_command", required=True)
    cleanup = cache_sub.add_parser("cleanup", help="evict least recently used files down to SIZE")
    cleanup.add_argument("target_size", help="e.g. 10GB (powers of 10, as wandb)")
    cleanup.add_argument("--remove-temp", action="store_true")

    gc = sub.add_parser("gc", help="drop versions past their TTL and unreferenced blobs")
    gc.add_argument("--grace", type=float, help="keep unreferenced blobs younger than this (seconds)")

    if _command_of(sys.argv[1:] if argv is None else argv) in _OWN:
        return parser
    from .remote import login as _login
    from .server import cli as _server_cli
    from .ui.serve import add_parser as add_ui_parser

    add_ui_parser(sub)
    _server_cli.add_parser(sub)
    _login.add_parser(sub)
    return parser


def _api(args: argparse.Namespace):  # noqa: ANN202 (artefact.Api, imported lazily)
    from .api import Api

    overrides = {k: v for k, v in (("entity", args.entity), ("project", args.project)) if v}
    return Api(overrides=overrides)


def _put(args: argparse.Namespace) -> int:
    from .fastput import reput_unchanged

    code = reput_unchanged(args)  # an unchanged tree: wandb's dedupe, without the SDK
    if code is not None:
        return code
    from .artifact import Artifact
    from .runs import init

    from .validate import validate_aliases, validate_tags

    # Refused before anything is staged: a bad alias must not leave staged copies.
    validate_aliases(args.alias)
    validate_tags(args.tag)
    path = os.path.abspath(args.path)
    artifact = Artifact(args.name, args.type, description=args.description)
    if not os.path.isdir(path) and not os.path.isfile(path):
        print(f"artefact: error: {args.path!r} is not a file or directory", file=sys.stderr)
        return 2
    try:
        if os.path.isdir(path):
            from .onepass import put_dir_policy

            artifact.add_dir(path, policy=put_dir_policy(args.policy))
        else:
            artifact.add_file(path, policy=args.policy)
        with init(project=args.project, entity=args.entity, job_type="put") as run:
            run.log_artifact(artifact, aliases=args.alias or None, tags=args.tag or None).wait()
    except BaseException:
        from .onepass import discard_precopies
        from .staging import clean_staged_copies

        clean_staged_copies(artifact.manifest._core)  # a failed put leaves no copies behind
        discard_precopies(e[6] for e in artifact.manifest._core.entries())
        raise
    aliases = ", ".join(artifact.aliases)
    print(f"{artifact.source_qualified_name}  {artifact.file_count} files  {artifact.size} bytes"
          f"  digest {artifact.digest}" + (f"  aliases: {aliases}" if aliases else ""))
    return 0


def _get(args: argparse.Namespace) -> int:
    artifact = _api(args).artifact(args.name, type=args.type)
    root = artifact.download(root=args.root)
    print(f"{artifact.source_qualified_name} -> {root}")
    return 0


def _ls(args: argparse.Namespace) -> int:
    api = _api(args)
    types = [args.type] if args.type else [t.name for t in api.artifact_types()]
    for type_name in types:
        for coll in api.artifact_collections(f"{api._entity}/{api._project}", type_name):
            kind = "" if coll.is_sequence() else "  (links)"
            print(f"{coll.type}\t{coll.name}\t{len(coll.artifacts())} versions{kind}")
    return 0


def _versions(args: argparse.Namespace) -> int:
    api = _api(args)
    name = args.name.split(":")[0]
    coll = api.artifact_collection(api.artifact(name).type, name)
    for art in coll.artifacts():
        aliases = ",".join(art.aliases)
        print(f"{art.version}\t{art.digest}\t{art.size}\t{art.created_at}\t{aliases}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    if args.store:
        return _verify_store(args)
    if not args.name:
        print("artefact: error: verify needs an artifact name (or --store)", file=sys.stderr)
        return 2
    artifact = _api(args).artifact(args.name)
    artifact.verify(root=args.root)
    print(f"{artifact.source_qualified_name}: OK")
    return 0


def _verify_store(args: argparse.Namespace) -> int:
    from .store.local import LocalStore
    from .store.verify import check_store, format_check

    if args.name or args.root:
        print("artefact: error: verify --store takes no artifact name or --root", file=sys.stderr)
        return 2
    store = LocalStore.shared()
    report = check_store(store)
    for problem in report.problems:
        print(f"artefact: {problem}", file=sys.stderr)
    print(format_check(report, store.root))
    return 1 if report.problems else 0


def _cache(args: argparse.Namespace) -> int:
    from .cache import ArtifactCache, from_human_size

    freed = ArtifactCache().cleanup(from_human_size(args.target_size), remove_temp=args.remove_temp)
    print(f"Reclaimed {freed} bytes of cache space")
    return 0


def _ui(args: argparse.Namespace) -> int:
    from .ui.serve import run

    return run(args)


def _gc(args: argparse.Namespace) -> int:
    from .store.local import LocalStore

    report = LocalStore.shared().gc(grace_seconds=args.grace)
    print(f"expired {len(report.expired)} versions, deleted {report.objects_deleted} objects and"
          f" {report.manifests_deleted} manifests, {report.packs_deleted} packs and {report.staging_deleted} stale staged"
          f" copies ({report.bytes_freed} bytes);"
          f" {report.kept_in_grace} unreferenced objects kept within the grace period")
    for problem in report.problems:
        print(f"artefact: gc: {problem}", file=sys.stderr)
    return 1 if report.problems else 0


def _where(args: argparse.Namespace, e: OSError) -> str:
    """For an OSError that names no file (e.g. ENOSPC from the core): the directories
    the command was writing, so the user knows which disk to look at."""
    if e.filename is not None or str(e).count("/") > 0:
        return ""
    from . import config

    dirs = {"put": [("store", config.store_root()), ("staging", config.staging_dir_path()),
                    ("cache", config.artifacts_cache_dir())],
            "get": [("root", args.root if args.command == "get" and args.root else "./artifacts"),
                    ("cache", config.artifacts_cache_dir())],
            "cache": [("cache", config.artifacts_cache_dir())],
            "gc": [("store", config.store_root())]}.get(args.command, [])
    named = ", ".join(f"{what} {os.path.abspath(path)}" for what, path in dirs)
    return f" (while writing: {named})" if named else ""


def _server(args: argparse.Namespace) -> int:
    from .server.cli import run

    return run(args)


def _login(args: argparse.Namespace) -> int:
    from .remote.login import run

    return run(args)


_COMMANDS = {"put": _put, "get": _get, "ls": _ls, "versions": _versions, "verify": _verify,
             "cache": _cache, "gc": _gc, "ui": _ui, "server": _server, "login": _login}


# `put`'s options that take a value, and those that may repeat (see _plain_put).
_PUT_OPTIONS = {"--name": "name", "--type": "type", "--alias": "alias", "--tag": "tag",
                "--description": "description", "--policy": "policy", "--project": "project",
                "--entity": "entity"}
_PUT_REPEATED = ("alias", "tag")


def _plain_put(argv: Sequence[str]) -> "Optional[argparse.Namespace]":
    """The arguments of a plain `put` command line (options spelled out, as `--opt value`
    or `--opt=value`), without building argparse's parser: building it costs more than
    a re-put of a small unchanged tree. None for anything else (abbreviations, help,
    a missing or bad value...), which argparse then parses and reports as usual."""
    i, quiet = 0, False
    while i < len(argv) and argv[i] in ("-q", "--quiet"):
        quiet, i = True, i + 1
    if i >= len(argv) or argv[i] != "put":
        return None
    got: dict = {"path": None, "name": None, "type": None, "alias": [], "tag": [], "description": None,
                 "policy": "mutable", "project": None, "entity": None}
    i += 1
    while i < len(argv):
        word = argv[i]
        if word.startswith("-"):
            option, eq, value = word.partition("=")
            dest = _PUT_OPTIONS.get(option)
            if dest is None:
                return None
            if not eq:
                i += 1
                if i >= len(argv) or argv[i].startswith("-"):
                    return None
                value = argv[i]
            if dest in _PUT_REPEATED:
                got[dest].append(value)
            else:
                got[dest] = value
        elif got["path"] is None:
            got["path"] = word
        else:
            return None
        i += 1
    if None in (got["path"], got["name"], got["type"]) or got["policy"] not in ("mutable", "immutable"):
        return None
    return _PlainArgs(quiet=quiet, command="put", **got)  # type: ignore[return-value]


class _PlainArgs:
    """argparse.Namespace's attributes (and `vars()`), without importing `types` for
    SimpleNamespace before a re-put's walk starts (fastput.py)."""

    def __init__(self, **kwargs: object) -> None:
        self.__dict__.update(kwargs)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _plain_put(sys.argv[1:] if argv is None else argv) or _parser(argv).parse_args(argv)
    import gc

    if args.command != "put" or not gc.isenabled():
        return _run(args)
    # A put is short and makes few cycles; the collections its imports and per-file
    # lists trigger cost ~10% of a re-put.
    gc.disable()
    try:
        code = _run(args)
    finally:
        if argv is not None:
            gc.enable()
    if argv is None:
        _exit_now(code)
    fastput = sys.modules.get("artefact.fastput")
    if fastput is not None:
        fastput.close()  # in-process: closed (and checkpointed) as the ordinary path's store
    gc.enable()
    return code


def _exit_now(code: int) -> None:
    """End the `artefact put` process without the interpreter's teardown (freeing every
    module and object: ~20% of a re-put's CPU). The catalog is closed as before (its WAL
    checkpointed, so the store is left as a normal exit leaves it), exit handlers (the
    stat cache's flush) run and the output is flushed. Not taken while another thread
    still runs, whose end the normal exit would wait for. A fast re-put's catalog
    connection (fastput.py) is left open: its WAL stays for the next process."""
    threading = sys.modules.get("threading")  # not imported: no other Python thread
    if threading is not None and any(
        not t.daemon for t in threading.enumerate() if t is not threading.main_thread()
    ):
        return
    local = sys.modules.get("artefact.store.local")
    if local is not None:
        for store in list(local.LocalStore._shared.values()):
            store.close()
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = code or 1
    os._exit(code)


def _run(args: argparse.Namespace) -> int:
    if args.quiet:
        os.environ["ARTEFACT_QUIET"] = "1"
    try:
        from .config import check_settings

        check_settings()  # a bad ARTEFACT_* number fails here, before any work
        code = _COMMANDS[args.command](args)
        sys.stdout.flush()  # a closed pipe shows up here, not at interpreter exit
        return code
    except BrokenPipeError:
        # The reader went away (`| head -1`): stop quietly, as coreutils do on SIGPIPE.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        print("artefact: interrupted", file=sys.stderr)
        return 130
    except OSError as e:
        print(f"artefact: error: {e}{_where(args, e)}", file=sys.stderr)
        return 1
    except (ValueError, LookupError) as e:
        print(f"artefact: error: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # CommError and friends carry a message worth showing as is
        from .errors import Error
        from .store.errors import StoreError

        if isinstance(e, (Error, StoreError)):
            print(f"artefact: error: {e}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())

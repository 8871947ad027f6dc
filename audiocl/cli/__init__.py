"""The ``audiocl`` command. Argument parsing only: every command calls library functions.

Each command lives in its own file here and exposes ``add_parser(subparsers)``, which registers the
command's parser and sets ``func`` to the function that runs it.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

# The order of the commands in --help; any other module here is listed after these.
ORDER = ["demo", "pretrain", "prepare", "embed", "probe", "compare", "bench"]


def commands() -> list[str]:
    found = {info.name for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_")}
    return [name for name in ORDER if name in found] + sorted(found - set(ORDER))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="audiocl",
        description="Contrastive learning of audio representations: pretrain, embed, probe, compare, benchmark.",
    )
    parser.add_argument("--version", action="version", version=f"audiocl {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in commands():
        importlib.import_module(f"{__name__}.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        # key=value overrides may also follow an option (``pretrain R --fresh data.root=x``), which argparse
        # alone rejects.
        if not (hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra)):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.overrides = [*args.overrides, *extra]
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


def _version() -> str:
    from audiocl import __version__

    return __version__


if __name__ == "__main__":
    sys.exit(main())

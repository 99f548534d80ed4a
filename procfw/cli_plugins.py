"""``procfw plugins``: list installed plugins and what they provide; ``--check`` runs conformance."""

from __future__ import annotations

import argparse

HELP = "list installed plugins (processes, commands, formats) and failures; --check runs conformance checks"


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``procfw plugins``."""
    parser.add_argument("--check", action="store_true", help="run check_process on every plugin process")
    parser.add_argument("--builtin", action="store_true", help="include procfw's own processes, commands, formats")


def run(args: argparse.Namespace) -> int:
    """List plugins; with --check, exit 1 if any plugin process fails its conformance checks."""
    from procfw.plugins import check_plugins, installed_plugins, load_all

    for info in installed_plugins(include_builtin=args.builtin):
        print(f"{info.distribution} {info.version}")
        for group, ids in sorted(info.provides.items()):
            print(f"  {group}: {', '.join(ids)}")
    failures = load_all()
    if failures:
        print("failures:")
        for failure in failures:
            print(f"  {failure}")
    if not args.check:
        return 0
    results = check_plugins(include_builtin=args.builtin)
    failed = {pid: problems for pid, problems in results.items() if problems}
    print(f"conformance: {len(results) - len(failed)} of {len(results)} plugin processes pass")
    for pid, problems in sorted(failed.items()):
        for problem in problems:
            print(f"  FAIL {pid}: {problem}")
    return 1 if failed else 0

"""``wapipe``: one console script for the services and the operator's tools.

Exit codes (SPEC §10): 0 ok, 1 failure (message on stderr), 2 usage (argparse).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence

from cli import apikeys, dlq, keys, orphans, services, tokens, webhooks
from cli.output import CommandError
from domain.errors import PipelineError
from runtime.settings import SettingsError

VERB_GROUPS = (services, webhooks, dlq, apikeys, keys, tokens, orphans)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wapipe", description="WhatsApp webhook pipeline: services and operator tools."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in VERB_GROUPS:
        group.register(commands)
    return parser


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args, os.environ if environ is None else environ)
    except (SettingsError, CommandError, PipelineError) as error:
        print(f"wapipe {args.command}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":  # pragma: no cover - exercised through the console script
    sys.exit(main())

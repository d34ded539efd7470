"""``wapipe apikeys create|list|revoke``: the keys of ``/api/v1`` (SPEC §8, §10).

The key is printed once, by ``create``; only its hash is stored, so nothing can show it again.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import Any

from adapters.api_keys import (
    KEY_ID,
    MAX_ORGANIZATION_ID_LENGTH,
    ApiKey,
    KeyScope,
    create_api_key,
    list_api_keys,
    revoke_api_key,
)
from cli.database import connect_cli, database_settings
from cli.output import CommandError, print_fields, print_json, print_table

MAX_NAME_LENGTH = 200
LIST_COLUMNS = ("id", "scope", "organization_id", "name", "created_at", "revoked_at")


def register(commands: Any) -> None:
    apikeys = commands.add_parser("apikeys", help="API keys: create, list, revoke")
    verbs = apikeys.add_subparsers(dest="verb", metavar="VERB", required=True)

    create = verbs.add_parser(
        "create", help="a new key, printed once", description="Create an API key; it is shown once."
    )
    scope = create.add_mutually_exclusive_group(required=True)
    scope.add_argument(
        "--org", type=organization_id, metavar="ORG", help="a key of this organization only"
    )
    scope.add_argument("--admin", action="store_true", help="a key for every organization")
    create.add_argument("--name", type=label, metavar="LABEL", help="what the key is for")
    create.add_argument("--json", action="store_true", help="a JSON object on stdout")
    create.set_defaults(handler=run_create)

    listing = verbs.add_parser("list", help="every key (never the key itself), newest first")
    listing.add_argument("--json", action="store_true", help="a JSON array on stdout")
    listing.set_defaults(handler=run_list)

    revoke = verbs.add_parser("revoke", help="revoke a key at once")
    revoke.add_argument("id", type=key_id, metavar="ID", help="the key's id, ak_…")
    revoke.set_defaults(handler=run_revoke)


def organization_id(text: str) -> str:
    if (
        not text
        or len(text) > MAX_ORGANIZATION_ID_LENGTH
        or not text.isprintable()
        or text != text.strip()
    ):
        raise argparse.ArgumentTypeError(
            f"expected an organization id of 1-{MAX_ORGANIZATION_ID_LENGTH} printable characters"
        )
    return text


def label(text: str) -> str:
    if not text.strip() or len(text) > MAX_NAME_LENGTH or not text.isprintable():
        raise argparse.ArgumentTypeError(
            f"expected a label of 1-{MAX_NAME_LENGTH} printable characters"
        )
    return text.strip()


def key_id(text: str) -> str:
    if not KEY_ID.fullmatch(text):
        raise argparse.ArgumentTypeError(f"expected a key id like ak_0123456789ab, got {text!r}")
    return text


def _summary(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "scope": key.scope.value,
        "organization_id": key.organization_id,
        "name": key.name,
        "created_at": key.created_at,
        "revoked_at": key.revoked_at,
    }


def run_create(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    scope = KeyScope.ADMIN if args.admin else KeyScope.ORGANIZATION
    with connect_cli(database_settings(environ)) as conn:
        created = create_api_key(conn, scope=scope, organization_id=args.org, name=args.name)
    if args.json:
        print_json(
            {
                "id": created.id,
                "key": str(created.key),
                "scope": created.scope.value,
                "organization_id": created.organization_id,
                "name": created.name,
            }
        )
    else:
        print_fields(
            [
                ("id", created.id),
                ("scope", created.scope.value),
                ("organization", created.organization_id),
                ("name", created.name),
                ("key", str(created.key)),
            ]
        )
    print("wapipe apikeys create: the key is shown only this once; store it now", file=sys.stderr)
    return 0


def run_list(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    with connect_cli(database_settings(environ)) as conn:
        items = [_summary(key) for key in list_api_keys(conn)]
    if args.json:
        print_json(items)
    else:
        print_table(items, LIST_COLUMNS)
    return 0


def run_revoke(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    with connect_cli(database_settings(environ)) as conn:
        if not revoke_api_key(conn, args.id):
            raise CommandError(f"no API key with id {args.id}")
    print(f"revoked API key {args.id}")
    return 0

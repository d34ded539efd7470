"""``wapipe orphans list|claim``: WABAs no organization owns yet (SPEC §7.3, §7.6, §10).

The same service functions as ``/api/v1/admin/orphans``; a claim writes the audit row with
``--by`` as the actor.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping
from typing import Any

from adapters.connection_views import OrphanView
from cli.apikeys import label, organization_id
from cli.database import connect_cli, database_settings
from cli.output import CommandError, print_json, print_table
from domain.errors import ConnectionNotFound, WabaClaimedElsewhere
from runtime.services import orphans

LIST_COLUMNS = ("waba_id", "owner_business_id", "detected_at")
_WABA_ID = re.compile(r"^[0-9A-Za-z_-]{1,128}$")


def register(commands: Any) -> None:
    group = commands.add_parser("orphans", help="orphan WABAs: list, claim")
    verbs = group.add_subparsers(dest="verb", metavar="VERB", required=True)

    listing = verbs.add_parser("list", help="connections no organization owns, oldest first")
    listing.add_argument("--json", action="store_true", help="a JSON array on stdout")
    listing.set_defaults(handler=run_list)

    claim = verbs.add_parser(
        "claim",
        help="attach an orphan WABA to an organization",
        description="Attach an orphan WABA to an organization; the audit log records --by.",
    )
    claim.add_argument("waba_id", type=waba_id, metavar="WABA_ID")
    claim.add_argument("organization_id", type=organization_id, metavar="ORG_ID")
    claim.add_argument(
        "--by", type=label, required=True, metavar="WHO", help="who claims it (for the audit log)"
    )
    claim.add_argument("--json", action="store_true", help="the connection as JSON on stdout")
    claim.set_defaults(handler=run_claim)


def waba_id(text: str) -> str:
    if not _WABA_ID.fullmatch(text):
        raise argparse.ArgumentTypeError(f"expected a WABA id like 102290129340398, got {text!r}")
    return text


def _summary(orphan: OrphanView) -> dict[str, Any]:
    return {
        "waba_id": orphan.waba_id,
        "owner_business_id": orphan.owner_business_id,
        "detected_at": orphan.detected_at,
    }


def run_list(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    with connect_cli(database_settings(environ)) as conn:
        items = [_summary(orphan) for orphan in orphans.list_orphans(conn)]
    if args.json:
        print_json(items)
    else:
        print_table(items, LIST_COLUMNS)
    return 0


def run_claim(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    with connect_cli(database_settings(environ)) as conn:
        try:
            view = orphans.claim(conn, args.waba_id, args.organization_id, args.by)
        except ConnectionNotFound:
            raise CommandError(f"no connection for WABA {args.waba_id}") from None
        except WabaClaimedElsewhere:
            raise CommandError(
                f"WABA {args.waba_id} is not an orphan: it belongs to an organization"
            ) from None
    if args.json:
        print_json(
            {
                "waba_id": view.waba_id,
                "organization_id": view.organization_id,
                "owner_business_id": view.owner_business_id,
                "status": view.status,
            }
        )
    else:
        print(
            f"claimed WABA {view.waba_id} for organization {view.organization_id}"
            f" (status {view.status}); audit: by {args.by}"
        )
    return 0

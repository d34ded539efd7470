"""``wapipe webhooks list|show``: the raw log as operators see it."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from adapters.postgres import connect
from adapters.webhook_log import PUBLIC_STATUS, STORED_STATUSES, list_webhooks, load_webhook
from cli import arguments
from cli.output import CommandError, print_json, print_table
from runtime.settings import Settings


def register(commands: Any) -> None:
    webhooks = commands.add_parser("webhooks", help="the raw webhook log")
    verbs = webhooks.add_subparsers(dest="verb", metavar="VERB", required=True)

    listing = verbs.add_parser("list", help="webhooks, newest first")
    listing.add_argument("--status", choices=sorted(STORED_STATUSES))
    listing.add_argument("--since", type=arguments.point_in_time, help="ISO time or 2h/7d ago")
    listing.add_argument("--limit", type=arguments.limit, default=100, help="0 = no limit")
    listing.add_argument("--json", action="store_true", help="a JSON array on stdout")
    listing.set_defaults(handler=run_list)

    show = verbs.add_parser("show", help="one webhook: body, events, dead letters")
    show.add_argument("id", type=arguments.positive_id)
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=run_show)


def _dsn(environ: Mapping[str, str]) -> str:
    settings = Settings.from_environ(environ)
    settings.require("DATABASE_URL")
    return str(settings.database_url)


def run_list(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    with connect(_dsn(environ), name="wapipe-cli") as conn:
        rows = list_webhooks(conn, status=args.status, since=args.since, limit=args.limit)
    items = [
        {"id": w.id, "received_at": w.received_at, "status": w.status, "events": w.events}
        for w in rows
    ]
    if args.json:
        print_json(items)
    else:
        print_table(items, ["id", "received_at", "status", "events"])
    return 0


def run_show(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    with connect(_dsn(environ), name="wapipe-cli") as conn:
        webhook = load_webhook(conn, args.id)
        if webhook is None:
            raise CommandError(f"no webhook with id {args.id}")
        events = conn.execute(
            "SELECT id, entry_index, change_index, field, status, attempts, last_error"
            " FROM event WHERE webhook_id = %s ORDER BY entry_index, change_index",
            (webhook.id,),
        ).fetchall()
    event_columns = [
        "id",
        "entry_index",
        "change_index",
        "field",
        "status",
        "attempts",
        "last_error",
    ]
    event_items = [dict(zip(event_columns, row, strict=True)) for row in events]
    detail: dict[str, Any] = {
        "id": webhook.id,
        "received_at": webhook.received_at,
        "status": PUBLIC_STATUS[webhook.status],
        "stage": webhook.status,
        "sha256": webhook.sha256.hex(),
        "source_ip": webhook.source_ip,
        "headers": webhook.headers,
        "last_error": webhook.last_error,
        "events": event_items,
        "body": webhook.body.decode("utf-8", errors="replace"),
    }
    if args.json:
        print_json(detail)
        return 0
    for key in (
        "id",
        "received_at",
        "status",
        "stage",
        "sha256",
        "source_ip",
        "headers",
        "last_error",
    ):
        print(f"{key:<12} {detail[key] if detail[key] is not None else '-'}")
    print()
    print_table(event_items, event_columns)
    print()
    print(detail["body"])
    return 0

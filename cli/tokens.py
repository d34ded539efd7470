"""``wapipe tokens check|encrypt-legacy``: business token health and migration (SPEC §9, §10).

``check`` asks Graph's ``debug_token`` about every stored token (or one organization's) and
records the outcome; a token Graph could not be asked about is left as it was and makes the
command exit 1. ``encrypt-legacy`` encrypts plaintext tokens left by the seed, batch by
batch (resumable). No token is ever printed.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from adapters.token_checks import TokenCheck, check_tokens
from adapters.token_store import encrypt_legacy_batch, token_key_counts
from cli.apikeys import organization_id
from cli.database import connect_cli
from cli.keys import (
    add_batch_argument,
    build_cipher,
    run_batches,
    token_settings,
    wants_bar,
)
from cli.output import CommandError, print_json, print_table

CHECK_COLUMNS = ("waba_id", "status", "expires_at", "reconnect_required", "reason")


def register(commands: Any) -> None:
    tokens = commands.add_parser("tokens", help="business tokens: check, encrypt-legacy")
    verbs = tokens.add_subparsers(dest="verb", metavar="VERB", required=True)

    check = verbs.add_parser(
        "check",
        help="ask Graph about every token and record its health",
        description="Check each stored token with debug_token and record its status.",
    )
    check.add_argument(
        "--org", type=organization_id, metavar="ORG", help="only this organization's tokens"
    )
    check.add_argument("--json", action="store_true", help="a JSON array on stdout")
    check.set_defaults(handler=run_check)

    legacy = verbs.add_parser(
        "encrypt-legacy",
        help="encrypt plaintext tokens under the first key",
        description="Encrypt every legacy plaintext token under the first key (resumable).",
    )
    add_batch_argument(legacy)
    legacy.add_argument("--json", action="store_true", help='{"encrypted": N} on stdout')
    legacy.set_defaults(handler=run_encrypt_legacy)


def _summary(check: TokenCheck) -> dict[str, Any]:
    health = check.health
    if health is None:
        return {
            "waba_id": check.waba_id,
            "checked": False,
            "status": None,
            "reason": check.not_checked,
            "expires_at": None,
            "reconnect_required": None,
        }
    return {
        "waba_id": check.waba_id,
        "checked": True,
        "status": health.status.value,
        "reason": health.reason,
        "expires_at": health.expires_at,
        "reconnect_required": health.reconnect_required,
    }


def run_check(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    settings = token_settings(environ, "META_APP_ID", "APP_SECRET")
    cipher = build_cipher(settings)
    # Imported here: only this command talks to Graph (and pays for httpx).
    from runtime.bootstrap import build_graph_api

    graph = build_graph_api(settings)
    try:
        with connect_cli(settings) as conn:
            checks = check_tokens(
                conn,
                cipher,
                graph,
                now=datetime.now(UTC),
                warn_days=settings.token_warn_days,
                critical_days=settings.token_critical_days,
                organization_id=args.org,
            )
    finally:
        graph.close()
    items = [_summary(check) for check in checks]
    if args.json:
        print_json(items)
    else:
        print_table(
            [{**item, "status": item["status"] or "not checked"} for item in items],
            CHECK_COLUMNS,
        )
    unchecked = [check.waba_id for check in checks if not check.checked]
    if unchecked:
        raise CommandError(
            f"{len(unchecked)} token(s) could not be checked and were left as they were:"
            f" {', '.join(unchecked)}"
        )
    return 0


def run_encrypt_legacy(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    settings = token_settings(environ)
    cipher = build_cipher(settings)
    with connect_cli(settings) as conn:
        total = token_key_counts(conn).get(None, 0)
        encrypted = run_batches(
            lambda: encrypt_legacy_batch(conn, cipher, args.batch),
            verb="encrypted",
            total=total,
            bar=wants_bar(args),
        )
    if args.json:
        print_json({"encrypted": encrypted})
    else:
        print(f"encrypted {encrypted} legacy token(s) under key {cipher.first_kid}")
    return 0

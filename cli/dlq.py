"""``wapipe dlq list|show|replay|purge``: the operator's dead-letter queue (SPEC §10, §16).

Listing, showing and replaying go through ``runtime.services.dead_letters``, the functions the
API and the console call too. Replay commits each dead letter's reset (with an audit row
naming the OS user) first and enqueues after: the reset row is due after one relay lease, so
a broker that is down delays the work and never loses it.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from adapters import dead_letters
from adapters.dead_letters import DeadLetter, ReplayResult, ReplayStatus
from adapters.postgres import Conn
from adapters.queue import close_broker
from cli import arguments
from cli.database import connect_cli, database_settings
from cli.output import CommandError, print_fields, print_json, print_progress, print_table
from domain.errors import DependencyUnavailable
from runtime.bootstrap import build_broker
from runtime.services import dead_letters as service
from runtime.services.dead_letters import (
    DeadLetterNotFound,
    Pacer,
    ReplayEnqueuer,
    Sleep,
)
from runtime.settings import Settings

DEFAULT_REPLAY_RATE = service.DEFAULT_REPLAY_RATE
#: Bulk replays report progress on stderr every this many dead letters (and at the end).
PROGRESS_EVERY = 50
PURGE_BATCH = 5_000

LIST_COLUMNS = ("id", "webhook_id", "event_id", "field", "reason", "error", "attempts", "dead_at")
TABLE_COLUMNS = ("id", "dead_at", "webhook_id", "event_id", "field", "reason", "attempts", "error")
HISTORY_COLUMNS = ("id", "dead_at", "replayed_at", "reason", "attempts", "error")
#: Who an audit row names when nobody can be told apart (no user name on this machine).
UNKNOWN_ACTOR = "unknown"


def register(commands: Any) -> None:
    dlq = commands.add_parser("dlq", help="dead letters: list, show, replay, purge")
    verbs = dlq.add_subparsers(dest="verb", metavar="VERB", required=True)

    listing = verbs.add_parser("list", help="open dead letters, newest first")
    _add_filters(listing)
    listing.add_argument("--limit", type=arguments.limit, default=100, help="0 = no limit")
    listing.add_argument("--json", action="store_true", help="a JSON array on stdout")
    listing.set_defaults(handler=run_list)

    show = verbs.add_parser("show", help="one dead letter: raw payload, error, history")
    show.add_argument("id", type=arguments.positive_id)
    show.add_argument("--json", action="store_true", help="a JSON object on stdout")
    show.set_defaults(handler=run_show)

    replay = verbs.add_parser(
        "replay",
        help="re-enqueue dead letters with a fresh attempt budget",
        description="Replay the given dead letters, or --all open ones matching the filters.",
    )
    replay.add_argument(
        "ids", nargs="*", type=arguments.positive_id, metavar="ID", help="dead letter ids"
    )
    replay.add_argument("--all", action="store_true", help="every open dead letter that matches")
    _add_filters(replay, note=" (with --all)")
    replay.add_argument("--dry-run", action="store_true", help="show what would be replayed")
    replay.add_argument(
        "--rate",
        type=arguments.rate,
        default=DEFAULT_REPLAY_RATE,
        help=f"replays per second (default {DEFAULT_REPLAY_RATE:g}; 0 = no limit)",
    )
    replay.add_argument("--json", action="store_true", help="a JSON object on stdout")
    replay.set_defaults(handler=run_replay, usage_error=replay.error)

    purge = verbs.add_parser("purge", help="delete dead letters (open or replayed) by age")
    purge.add_argument(
        "--older-than", type=arguments.duration, required=True, help="e.g. 30d, 12h, 2w"
    )
    purge.add_argument("--yes", action="store_true", help="really delete them")
    purge.add_argument("--json", action="store_true", help="a JSON object on stdout")
    purge.set_defaults(handler=run_purge)


def _add_filters(parser: argparse.ArgumentParser, *, note: str = "") -> None:
    parser.add_argument("--field", help=f"only this webhook field, e.g. messages{note}")
    parser.add_argument("--reason", help=f"only this reason, e.g. unparseable{note}")
    parser.add_argument(
        "--since", type=arguments.point_in_time, help=f"dead since an ISO time or 2h/7d ago{note}"
    )


def _summary(letter: DeadLetter) -> dict[str, Any]:
    return {
        "id": letter.id,
        "webhook_id": letter.webhook_id,
        "event_id": letter.event_id,
        "field": letter.field,
        "reason": letter.reason,
        "error": letter.error,
        "attempts": letter.attempts,
        "dead_at": letter.dead_at,
    }


def _target(letter: DeadLetter) -> str:
    if letter.is_job:
        return f"job {letter.event_id} ({letter.field})"
    if letter.event_id is None:
        return f"webhook {letter.webhook_id}"
    return f"event {letter.event_id} ({letter.field})"


def run_list(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    with connect_cli(database_settings(environ)) as conn:
        letters = service.list_dead_letters(
            conn, field=args.field, reason=args.reason, since=args.since, limit=args.limit
        )
    items = [_summary(letter) for letter in letters]
    if args.json:
        print_json(items)
    else:
        print_table(items, TABLE_COLUMNS)
    return 0


def run_show(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    with connect_cli(database_settings(environ)) as conn:
        detail = service.show_dead_letter(conn, args.id)
    if detail is None:
        raise CommandError(f"no dead letter with id {args.id}")
    letter = detail.dead_letter
    # The body as stored: Meta's bytes, decoded, never re-serialised (its \u00e9 escapes stay).
    payload = None if detail.body is None else detail.body.decode("utf-8", errors="replace")
    history = [
        {
            "id": old.id,
            "dead_at": old.dead_at,
            "replayed_at": old.replayed_at,
            "reason": old.reason,
            "error": old.error,
            "attempts": old.attempts,
        }
        for old in detail.history
    ]
    if args.json:
        print_json(
            {
                **_summary(letter),
                "webhook_received_at": letter.webhook_received_at,
                "replayed_at": letter.replayed_at,
                "payload": payload,
                "value": detail.value,
                "history": history,
            }
        )
        return 0
    print_fields(
        [
            ("id", letter.id),
            ("state", "open" if letter.is_open else f"replayed at {letter.replayed_at}"),
            (
                "webhook",
                "none (a job)"
                if letter.is_job
                else f"{letter.webhook_id} (received {letter.webhook_received_at})",
            ),
            ("event", None if letter.event_id is None else f"{letter.event_id} ({letter.field})"),
            ("reason", letter.reason),
            ("attempts", letter.attempts),
            ("dead_at", letter.dead_at),
            ("error", letter.error),
        ]
    )
    print("\nhistory (oldest first)")
    print_table(history, HISTORY_COLUMNS)
    if detail.value is not None:
        print("\nchange value")
        print(json.dumps(detail.value, indent=2, ensure_ascii=False, sort_keys=True))
    print("\npayload (the raw body as received)")
    if letter.is_job:
        print("(none: a job carries its parameters in the value above)")
    else:
        print(payload if payload is not None else "(no longer in the log: retention removed it)")
    return 0


def _actor() -> str:
    """The operator, as the audit log names them: the OS user running the CLI."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no user name in the environment nor in the password file
        return UNKNOWN_ACTOR


def _broker_down(settings: Settings, error: DependencyUnavailable) -> None:
    print(
        f"wapipe dlq replay: the broker is unavailable ({error}); the replayed rows are"
        f" due and the relay re-enqueues them within"
        f" {settings.relay_lease_seconds} s",
        file=sys.stderr,
    )


def run_replay(
    args: argparse.Namespace, environ: Mapping[str, str], *, sleep: Sleep = time.sleep
) -> int:
    if args.all and args.ids:
        args.usage_error("give dead letter ids or --all, not both")
    if not args.all and not args.ids:
        args.usage_error("give dead letter ids, or --all")
    if not args.all and (args.field or args.reason or args.since):
        args.usage_error("--field, --reason and --since select dead letters for --all")
    settings = database_settings(environ, *(() if args.dry_run else ("BROKER_URL",)))
    with connect_cli(settings) as conn:
        letters = _select(conn, args)
        if args.dry_run:
            return _report_dry_run(letters, json_output=args.json)
        enqueuer = ReplayEnqueuer(
            partial(build_broker, settings), on_failure=partial(_broker_down, settings)
        )
        try:
            report = service.replay_dead_letters(
                conn,
                letters,
                actor=_actor(),
                lease_seconds=settings.relay_lease_seconds,
                enqueuer=enqueuer,
                pacer=Pacer(args.rate, sleep),
                on_result=partial(_report_one, json_output=args.json, bulk=args.all),
            )
        finally:
            if enqueuer.used is not None:
                close_broker(enqueuer.used)
    failed = report.failed
    if args.json:
        print_json({"replayed": report.replayed})
    else:
        print(
            f"replayed {report.replayed} dead letter(s), skipped {report.skipped},"
            f" failed {len(failed)}; enqueued {report.enqueued}"
        )
    if failed:
        raise CommandError(
            "not replayed: " + "; ".join(f"{r.dead_letter_id}: {r.detail}" for r in failed)
        )
    return 0


def _select(conn: Conn, args: argparse.Namespace) -> list[DeadLetter]:
    """The dead letters to replay: the ids given (all must exist), or the matching open ones."""
    try:
        return service.select_dead_letters(
            conn,
            None if args.all else args.ids,
            field=args.field,
            reason=args.reason,
            since=args.since,
        )
    except DeadLetterNotFound as error:
        raise CommandError(str(error)) from None


def _report_dry_run(letters: Sequence[DeadLetter], *, json_output: bool) -> int:
    would = [letter for letter in letters if letter.is_open]
    for letter in letters:
        if not letter.is_open:
            _say(f"skipped dead letter {letter.id}: already replayed", json_output=json_output)
    if json_output:
        print_json({"replayed": 0, "would_replay": len(would), "ids": [w.id for w in would]})
        return 0
    for letter in would:
        print(f"would replay dead letter {letter.id}: {_target(letter)}, {letter.reason}")
    print(f"dry run: would replay {len(would)} dead letter(s); nothing changed")
    return 0


def _report_one(
    letter: DeadLetter,
    result: ReplayResult,
    done: int,
    total: int,
    *,
    json_output: bool,
    bulk: bool,
) -> None:
    if result.status is ReplayStatus.REPLAYED:
        _say(f"replayed dead letter {letter.id}: {_target(letter)}", json_output=json_output)
    elif result.status is ReplayStatus.ALREADY_REPLAYED:
        _say(f"skipped dead letter {letter.id}: already replayed", json_output=json_output)
    elif result.status is ReplayStatus.NOT_FOUND:
        _say(f"skipped dead letter {letter.id}: purged meanwhile", json_output=json_output)
    if bulk and (done % PROGRESS_EVERY == 0 or done == total):
        print_progress("replayed", done, total)


def _say(line: str, *, json_output: bool) -> None:
    """A line about one dead letter: stdout for people, stderr when stdout holds JSON."""
    print(line, file=sys.stderr if json_output else sys.stdout)


def run_purge(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    with connect_cli(database_settings(environ)) as conn:
        cutoff = dead_letters.purge_cutoff(conn, args.older_than)
        total = dead_letters.count_dead_before(conn, cutoff)
        if not args.yes:
            if args.json:
                print_json({"purged": 0, "would_purge": total})
            raise CommandError(
                f"{total} dead letter(s) died before {cutoff:%Y-%m-%d %H:%M:%S%z} and would be"
                " deleted; pass --yes to delete"
            )
        purged = 0
        while True:
            deleted = dead_letters.purge_batch(conn, cutoff, batch=PURGE_BATCH)
            purged += deleted
            if total > PURGE_BATCH:
                print_progress("purged", purged, max(total, purged))
            if deleted < PURGE_BATCH:
                break
    if args.json:
        print_json({"purged": purged})
    else:
        print(f"purged {purged} dead letter(s) that died before {cutoff:%Y-%m-%d %H:%M:%S%z}")
    return 0

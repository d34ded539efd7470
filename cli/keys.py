"""``wapipe keys generate|rotate``: the keys that encrypt business tokens (SPEC §9, §10).

``WAPIPE_TOKEN_KEYS`` lists ``kid:hexkey`` pairs; the first encrypts, every one decrypts. To
rotate: ``keys generate``, put the new pair first, restart the services, ``keys rotate``;
drop an old key only once ``keys rotate`` says no token is left under it. Rotation commits
batch by batch, so it can be stopped and run again at any time.

Nothing here prints a key or a token, except the new key of ``keys generate``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping
from typing import Any

from adapters.token_store import DEFAULT_BATCH_SIZE, rotate_batch, token_key_counts
from cli.database import connect_cli, database_settings
from cli.output import CommandError, print_json, print_progress
from domain.token_crypto import TokenCipher, generate_key
from runtime.bootstrap import build_token_cipher
from runtime.settings import PREFIX, Settings

MAX_BATCH_SIZE = 10_000


def register(commands: Any) -> None:
    keys = commands.add_parser("keys", help="token encryption keys: generate, rotate")
    verbs = keys.add_subparsers(dest="verb", metavar="VERB", required=True)

    generate = verbs.add_parser(
        "generate",
        help="print a new kid:hexkey for WAPIPE_TOKEN_KEYS",
        description="Print a new token key as kid:hexkey (the only time a key is printed).",
    )
    generate.set_defaults(handler=run_generate)

    rotate = verbs.add_parser(
        "rotate",
        help="re-encrypt every token under the first key of WAPIPE_TOKEN_KEYS",
        description="Re-encrypt every stored token under the first key (resumable).",
    )
    add_batch_argument(rotate)
    rotate.add_argument("--json", action="store_true", help='{"rotated": N} on stdout')
    rotate.set_defaults(handler=run_rotate)


def add_batch_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--batch",
        type=batch_size,
        default=DEFAULT_BATCH_SIZE,
        metavar="N",
        help=f"tokens per transaction (default {DEFAULT_BATCH_SIZE})",
    )


def batch_size(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_BATCH_SIZE:
        raise argparse.ArgumentTypeError(f"expected a batch size of 1-{MAX_BATCH_SIZE}")
    return int(text)


def token_settings(environ: Mapping[str, str], *required: str) -> Settings:
    """The settings, failing (exit 1, naming the variables) without a database or keys."""
    return database_settings(environ, "TOKEN_KEYS", *required)


def build_cipher(settings: Settings) -> TokenCipher:
    """The cipher of ``TOKEN_KEYS`` (``token_settings`` made sure they are set)."""
    cipher = build_token_cipher(settings)
    if cipher is None:
        raise CommandError("WAPIPE_TOKEN_KEYS is not set")
    return cipher


def run_batches(step: Callable[[], int], *, verb: str, total: int, bar: bool) -> int:
    """Call ``step`` until it returns 0; the sum. Progress: a bar, or plain lines on stderr."""
    done = 0
    if not bar:
        while count := step():
            done += count
            print_progress(verb, done, total)
        return done
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    columns = (TextColumn(verb), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task(verb, total=total)
        while count := step():
            done += count
            progress.update(task, advance=count)
    return done


def wants_bar(args: argparse.Namespace) -> bool:
    """A progress bar for a person at a terminal; plain lines for scripts (SPEC §18)."""
    return not args.json and sys.stdout.isatty()


def run_generate(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    kid, key = generate_key()
    print(f"{kid}:{key}")
    print(
        f"wapipe keys generate: put this key first in {PREFIX}TOKEN_KEYS (the first key"
        " encrypts, every key listed decrypts), restart the services, then run"
        " `wapipe keys rotate`; keep the old keys listed until it reports none left."
        " The key is shown only this once.",
        file=sys.stderr,
    )
    return 0


def run_rotate(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    settings = token_settings(environ)
    cipher = build_cipher(settings)
    first = cipher.first_kid
    with connect_cli(settings) as conn:
        before = token_key_counts(conn)
        total = sum(n for kid, n in before.items() if kid is not None and kid != first)
        rotated = run_batches(
            lambda: rotate_batch(conn, cipher, args.batch),
            verb="rotated",
            total=total,
            bar=wants_bar(args),
        )
        after = token_key_counts(conn)
    if args.json:
        print_json({"rotated": rotated})
    else:
        print(f"rotated {rotated} token(s) to key {first}")
    legacy = after.get(None, 0)
    if legacy:
        print(
            f"wapipe keys rotate: {legacy} legacy plaintext token(s) left;"
            " `wapipe tokens encrypt-legacy` encrypts them",
            file=sys.stderr,
        )
    stuck = {kid: n for kid, n in after.items() if kid is not None and kid != first}
    if stuck:
        unknown = sorted(kid for kid in stuck if kid not in cipher.key_ids)
        detail = f"; not in {PREFIX}TOKEN_KEYS: {', '.join(unknown)}" if unknown else ""
        raise CommandError(
            f"{sum(stuck.values())} token(s) are still under old keys"
            f" ({', '.join(f'{kid}: {n}' for kid, n in sorted(stuck.items()))}{detail}):"
            " they do not decrypt and are marked undecryptable (or another run holds them)."
            " Keep their keys listed; those WABAs need to reconnect."
        )
    return 0

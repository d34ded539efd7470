"""``python -m bench``: run the selected scenarios, print one line per figure, write the JSON."""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import redis

from bench.infra import redis_url, server_url
from bench.report import Verdict, result_document
from bench.scenarios import SCENARIOS, Context, Timing

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DEFAULT_GROWTH_ROWS = 10_000_000
QUICK_GROWTH_ROWS = 200_000
GROWTH_ROWS_VARIABLE = "WAPIPE_BENCH_GROWTH_ROWS"


def parse_selection(text: str | None) -> frozenset[str]:
    """The scenarios named in ``--only`` (comma-separated); all of them when absent.

    Raises:
        argparse.ArgumentTypeError: an unknown name.
    """
    if text is None:
        return frozenset(SCENARIOS)
    names = {part.strip() for part in text.split(",") if part.strip()}
    unknown = sorted(names - set(SCENARIOS))
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown scenario(s) {', '.join(unknown) or '(none)'}; choose from "
            + ", ".join(SCENARIOS)
        )
    return frozenset(names)


def growth_rows(environ: dict[str, str], *, quick: bool) -> int:
    """``WAPIPE_BENCH_GROWTH_ROWS`` if set, else 10 million (200 000 with ``--quick``).

    Raises:
        ValueError: the variable is not a positive integer.
    """
    raw = environ.get(GROWTH_ROWS_VARIABLE, "").replace("_", "").strip()
    if not raw:
        return QUICK_GROWTH_ROWS if quick else DEFAULT_GROWTH_ROWS
    rows = int(raw)
    if rows < 1:
        raise ValueError(f"{GROWTH_ROWS_VARIABLE} must be a positive integer")
    return rows


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="wapipe's performance figures (SPEC §14), each against its baseline."
        " Exit status 0 when every selected figure was measured, whatever its verdict"
        " (the verdicts are in the output and the JSON); 1 when a scenario failed.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="short durations and a small growth fill (smoke run)"
    )
    parser.add_argument(
        "--only",
        type=parse_selection,
        default=frozenset(SCENARIOS),
        metavar="LIST",
        help="comma-separated subset of: " + ", ".join(SCENARIOS),
    )
    parser.add_argument(
        "--explain",
        action="store_true",
        help="also measure the ingress step by step (bare, +HMAC, +commit, +enqueue)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=RESULTS_DIR / "latest.json",
        help="where to write the JSON results (default bench/results/latest.json)",
    )
    return parser


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def environment_facts() -> dict[str, Any]:
    with psycopg.connect(server_url(), connect_timeout=5) as conn:
        row = conn.execute("SELECT version(), current_setting('synchronous_commit')").fetchone()
    client = redis.Redis.from_url(redis_url(), socket_timeout=5)
    try:
        redis_version = client.info("server").get("redis_version")
    finally:
        client.close()
    has_uvloop = importlib.util.find_spec("uvloop") is not None
    has_httptools = importlib.util.find_spec("httptools") is not None
    return {
        "cpu_count": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "machine_shared": (
            "the load generator, the servers under test, Postgres and Redis share these CPUs"
        ),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "postgres": row[0] if row else None,
        "postgres_synchronous_commit": row[1] if row else None,
        "redis": redis_version,
        "packages": {
            name: _version(name)
            for name in ("uvicorn", "starlette", "dramatiq", "psycopg", "redis", "h11")
        },
        "uvicorn_loop": "uvloop" if has_uvloop else "asyncio",
        "uvicorn_http": "httptools" if has_httptools else "h11",
    }


def run(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        rows = growth_rows(dict(os.environ), quick=args.quick)
    except ValueError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    timing = Timing.quick(rows) if args.quick else Timing.full(rows)
    # The servers' output of the last run, beside its results (git-ignored by default).
    log_dir = args.output.with_name(f"{args.output.stem}-logs")
    log_dir.mkdir(parents=True, exist_ok=True)
    for old_log in log_dir.glob("*.log"):
        old_log.unlink()
    ctx = Context(timing=timing, selected=args.only, explain=args.explain, log_dir=log_dir)
    started = datetime.now(UTC)
    clock = time.monotonic()
    environment = environment_facts()
    print(
        f"wapipe bench ({'quick' if args.quick else 'full'}): {', '.join(sorted(args.only))};"
        f" {environment['cpu_count']} CPUs shared by generator, servers, Postgres and Redis;"
        f" load average {environment['load_average']}; logs in {log_dir}",
        flush=True,
    )
    from bench.scenarios import growth, ingress, worker

    failures: list[str] = []
    steps = [
        (
            "ingress",
            ctx.wants("ingress") or ctx.wants("latency") or ctx.wants("memory"),
            ingress.run,
        ),
        ("worker", ctx.wants("worker") or ctx.wants("memory"), worker.run),
        ("growth", ctx.wants("growth"), growth.run),
    ]
    for name, wanted, step in steps:
        if not wanted:
            continue
        try:
            step(ctx)
        except Exception as error:  # noqa: BLE001 - one failed scenario must not hide the rest
            failures.append(f"{name}: {type(error).__name__}: {error}")
            print(
                f"bench: scenario {name} failed: {type(error).__name__}: {error}", file=sys.stderr
            )
    if ctx.wants("memory"):
        from bench.scenarios import memory

        memory.add_figures(ctx)

    environment["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    document = result_document(
        figures=ctx.figures,
        scenarios=ctx.scenarios,
        environment=environment,
        run={
            "mode": "quick" if args.quick else "full",
            "selected": sorted(args.only),
            "explain": args.explain,
            "started_at": started.isoformat(timespec="seconds"),
            "duration_s": round(time.monotonic() - clock, 1),
            "scenario_durations_s": ctx.durations_s,
            "timing": dict(vars(timing)),
            "generator": {
                "implementation": "asyncio streams, HTTP/1.1 keep-alive, pre-built requests, "
                "one OS process per generator (multiprocessing spawn)",
                "processes": timing.generator_processes,
                "connections_per_process": timing.connections_per_process,
            },
            "failures": failures,
            "log_dir": str(log_dir),
        },
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    summary = document["summary"]
    print(
        f"{summary['passed']} passed, {summary['failed']} failed, {summary['missing']} not"
        f" measured; {document['run']['duration_s']} s; results in {args.output}",
        flush=True,
    )
    if failures:
        return 1
    return 0 if all(f.verdict is not Verdict.MISSING for f in ctx.figures) else 1

"""Ingest throughput with millions of rows of history against the same on an empty log.

A database is filled with ``WAPIPE_BENCH_GROWTH_ROWS`` rows (default 10 million) spread over
the past 30 days (``bench/fill.py``), vacuumed and analysed; then the same closed-loop load runs
against a ``wapipe ingress`` on it and on a freshly migrated empty database, alternately (a
few rounds, means compared) so that load from elsewhere on the machine hits both sides.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.fill import FillReport, fill_webhook_log
from bench.infra import (
    backend_pids,
    bench_database,
    bench_namespace,
    redis_url,
    sql_rows,
    wapipe_environ,
)
from bench.procs import (
    DEFAULT_START_TIMEOUT_S,
    Service,
    Watch,
    child_environ,
    free_port,
    http_ok,
    running,
)
from bench.report import Figure, Target, TargetKind
from bench.scenarios import Context, Stopwatch
from bench.scenarios.ingress import load_details, wapipe_ingress_argv

GROWTH_TARGET = Target(TargetKind.RATIO_AT_LEAST, 0.90)


def _measure(
    ctx: Context, service: Service, port: int, database: str, label: str
) -> dict[str, Any]:
    watch = Watch({"server": lambda: [service.pid], "postgres": lambda: backend_pids(database)})
    result = ctx.measure(ctx.load_spec(port, label=label), watch)
    details = load_details(result, watch)
    ctx.say(
        f"{label} log: {details['requests_per_s']} req/s, server {details['server_cpu_cores']}"
        f" cores, Postgres {details['postgres_cpu_cores']} cores"
        f" ({details['postgres_cpu_us_per_request']} µs/req),"
        f" p99 {details['latency_ms'].get('p99')} ms, rest of the machine"
        f" {details['other_cpu_cores']} cores"
    )
    return details


def _fill(ctx: Context, database: str, rows: int, clock: Stopwatch) -> FillReport:
    ctx.say(f"filling webhook_log with {rows:,} rows (set-based SQL, 2 sessions)…")
    step = max(1, rows // 5)
    reported = [0]

    def progress(done: int) -> None:
        if done - reported[0] >= step and done < rows:
            reported[0] = done
            ctx.say(f"  {done:,} rows in {clock.seconds():.0f} s")

    report = fill_webhook_log(database, rows, progress=progress)
    ctx.say(
        f"filled in {report.total_s} s (insert {report.insert_s} s, vacuum+analyze"
        f" {report.vacuum_s} s, checkpoint+sync {report.settle_s} s):"
        f" webhook_log {report.webhook_log_bytes / 1e6:.0f} MB,"
        f" webhook_digest {report.webhook_digest_bytes / 1e6:.0f} MB"
    )
    return report


def run(ctx: Context) -> None:
    clock = Stopwatch()
    rows = ctx.timing.growth_rows
    details: dict[str, Any] = {"rows": rows, "rounds": ctx.timing.growth_rounds}
    ctx.scenarios["growth"] = details
    with (
        bench_database("growth_filled", ctx.log_dir) as filled,
        bench_database("growth_empty", ctx.log_dir) as empty,
        bench_namespace("growth-filled") as filled_namespace,
        bench_namespace("growth-empty") as empty_namespace,
    ):
        report = _fill(ctx, filled, rows, clock)
        details["fill"] = {
            "rows": report.rows,
            "days": report.days,
            "partitions_created": report.partitions_created,
            "sessions": report.sessions,
            "insert_s": report.insert_s,
            "vacuum_analyze_s": report.vacuum_s,
            "checkpoint_sync_s": report.settle_s,
            "total_s": report.total_s,
            "webhook_log_mb": round(report.webhook_log_bytes / 1e6, 1),
            "webhook_digest_mb": round(report.webhook_digest_bytes / 1e6, 1),
        }
        services = {}
        for label, database, namespace in (
            ("filled", filled, filled_namespace),
            ("empty", empty, empty_namespace),
        ):
            env = child_environ(wapipe_environ(database, redis_url(), namespace))
            port = free_port()
            services[label] = (
                Service(
                    f"ingress-{label}", wapipe_ingress_argv(port), env=env, log_dir=ctx.log_dir
                ),
                port,
                database,
            )
        timeout = DEFAULT_START_TIMEOUT_S
        runs: dict[str, list[dict[str, Any]]] = {"filled": [], "empty": []}
        with (
            running(services["filled"][0], _healthz(services["filled"][1]), timeout),
            running(services["empty"][0], _healthz(services["empty"][1]), timeout),
        ):
            # Alternated, so a burst of load from elsewhere on the machine hits both sides.
            for _ in range(ctx.timing.growth_rounds):
                for label in ("filled", "empty"):
                    service, port, database = services[label]
                    runs[label].append(_measure(ctx, service, port, database, label))
        details["filled_runs"] = runs["filled"]
        details["empty_runs"] = runs["empty"]
        details["rows_after"] = sql_rows(filled, "SELECT count(*) FROM webhook_log")[0][0]
    filled_rps = _mean([run["requests_per_s"] for run in runs["filled"]])
    empty_rps = _mean([run["requests_per_s"] for run in runs["empty"]])
    details["filled_requests_per_s"] = filled_rps
    details["empty_requests_per_s"] = empty_rps
    ctx.add(
        Figure(
            key="growth_throughput",
            title=f"ingest with {_count(rows)} rows",
            value=filled_rps,
            unit="req/s",
            baseline_name="empty log",
            baseline_value=empty_rps,
            target=GROWTH_TARGET,
            notes=[
                f"{rows:,} rows over {report.days} daily partitions, filled in"
                f" {report.total_s} s (insert {report.insert_s} s + vacuum/analyze"
                f" {report.vacuum_s} s + checkpoint/sync {report.settle_s} s); the filled"
                " database is dropped after the run",
                "same closed-loop load as the ingress figure; filled and empty alternated"
                f" {ctx.timing.growth_rounds}x, means reported (runs: filled"
                f" {[r['requests_per_s'] for r in runs['filled']]}, empty"
                f" {[r['requests_per_s'] for r in runs['empty']]})",
            ],
        )
    )
    ctx.durations_s["growth"] = clock.seconds()


def _healthz(port: int) -> Callable[[], bool]:
    return http_ok(f"http://127.0.0.1:{port}/healthz")


def _mean(values: list[float]) -> float:
    return round(sum(values) / len(values), 1)


def _count(rows: int) -> str:
    if rows >= 1_000_000 and rows % 1_000_000 == 0:
        return f"{rows // 1_000_000}M"
    if rows >= 1_000 and rows % 1_000 == 0:
        return f"{rows // 1_000}k"
    return str(rows)

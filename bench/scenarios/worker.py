"""Worker throughput against Dramatiq's no-op throughput, and the lag at half that load.

Baseline: ``python -m dramatiq bench.noop_worker --processes 1 --threads 8`` drains messages
pre-enqueued on the same Redis server; its rate is read from the queue's pending count.

wapipe: signed webhooks are POSTed to a real ``wapipe ingress`` (closed loop, a few seconds)
while no worker runs, then ONE ``wapipe worker --processes 1 --threads 8`` drains that backlog
end to end (split → event → processed), its rate read from ``event.finished_at``. Both rates are
taken between 10 % and 90 % of the drain, so worker start-up and the tail do not count. Then,
with the worker warm, webhooks are POSTed at half that rate (open loop) and the lag
``webhook_log.finished_at - received_at`` of each is read from Postgres.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from dramatiq.brokers.redis import RedisBroker

from bench.broker import enqueue_pipelined, pending_messages, redis_message
from bench.infra import (
    backend_pids,
    bench_database,
    bench_namespace,
    redis_url,
    sql_rows,
    wapipe_environ,
)
from bench.loadgen import run_load
from bench.noop_worker import NOOP_ACTOR, NOOP_QUEUE
from bench.procs import (
    DEFAULT_START_TIMEOUT_S,
    Service,
    Watch,
    child_environ,
    free_port,
    http_ok,
    process_tree,
    python_argv,
    running,
)
from bench.report import Figure, Target, TargetKind
from bench.scenarios import Context, Stopwatch
from bench.scenarios.ingress import wapipe_ingress_argv
from bench.stats import rate_from_progress, steady_rate, summarize_latencies

THROUGHPUT_TARGET = Target(TargetKind.RATIO_AT_LEAST, 0.50)
LAG_TARGET = Target(TargetKind.VALUE_AT_MOST, 1.0)
THREADS = 8
POLL_S = 0.2
ENQUEUE_CHUNK = 1000
MB = 1_000_000
TERMINAL_EVENTS = "('processed', 'ignored', 'dead')"


def run(ctx: Context) -> None:
    clock = Stopwatch()
    details: dict[str, Any] = {}
    ctx.scenarios["worker"] = details
    noop = _noop_baseline(ctx)
    details["dramatiq_noop"] = noop
    ctx.say(
        f"Dramatiq no-op: {noop['messages_per_s']} msg/s over {noop['measured_s']} s"
        f" ({noop['messages']} pre-enqueued), worker CPU {noop['worker_cpu_cores']} cores,"
        f" RSS {noop['worker_rss_peak_mb']} MB"
    )
    ctx.shared["noop_worker_rss_mb"] = noop["worker_rss_peak_mb"]
    _wapipe_worker(ctx, details, noop)
    ctx.durations_s["worker"] = clock.seconds()


def _noop_baseline(ctx: Context) -> dict[str, Any]:
    total = ctx.timing.noop_messages
    with bench_namespace("noop") as namespace:
        broker = RedisBroker(url=redis_url(), namespace=namespace)  # type: ignore[no-untyped-call]
        try:
            started = time.monotonic()
            for first in range(0, total, ENQUEUE_CHUNK):
                chunk = range(first, min(first + ENQUEUE_CHUNK, total))
                enqueue_pipelined(
                    broker, [redis_message(NOOP_QUEUE, NOOP_ACTOR, (n,)) for n in chunk]
                )
            enqueue_s = time.monotonic() - started
            env = child_environ({"BENCH_REDIS_URL": redis_url(), "BENCH_NAMESPACE": namespace})
            argv = python_argv(
                "-m", "dramatiq", "bench.noop_worker",
                "--processes", "1", "--threads", str(THREADS),
            )  # fmt: skip
            service = Service("noop-worker", argv, env=env, log_dir=ctx.log_dir)
            watch = Watch({"worker": lambda: process_tree(service.pid)})
            samples: list[tuple[float, int]] = []
            with running(service, lambda: True, DEFAULT_START_TIMEOUT_S):
                watch.begin()
                deadline = time.monotonic() + ctx.timing.drain_timeout_s
                while True:
                    remaining = pending_messages(broker, NOOP_QUEUE)
                    samples.append((time.monotonic(), total - remaining))
                    if remaining == 0 or time.monotonic() > deadline:
                        break
                    service.ensure_running()
                    time.sleep(POLL_S)
                watch.end()
        finally:
            broker.close()
            broker.client.close()
    rate, span = rate_from_progress(samples, total)
    return {
        "messages": total,
        "enqueue_s": round(enqueue_s, 2),
        "messages_per_s": round(rate, 1),
        "measured_s": round(span, 2),
        "drained": samples[-1][1] == total,
        "threads": THREADS,
        "processes": 1,
        "worker_cpu_cores": round(watch.cpu_cores("worker"), 2),
        "worker_rss_peak_mb": round(watch.rss_peak.get("worker", 0) / MB, 1),
    }


def _progress(database: str, after_id: int) -> tuple[int, int]:
    """(terminal, total) webhooks with an id above ``after_id``."""
    row = sql_rows(
        database,
        "SELECT count(*) FILTER (WHERE status IN ('processed', 'dead')), count(*)"
        " FROM webhook_log WHERE id > %s",
        (after_id,),
    )[0]
    return int(str(row[0])), int(str(row[1]))


def _wait_terminal(database: str, after_id: int, timeout: float, worker: Service) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        done, total = _progress(database, after_id)
        if done >= total:
            return True
        if time.monotonic() > deadline:
            return False
        worker.ensure_running()
        time.sleep(POLL_S)


def _wapipe_worker(ctx: Context, details: dict[str, Any], noop: dict[str, Any]) -> None:
    with (
        bench_database("worker", ctx.log_dir) as database,
        bench_namespace("worker") as namespace,
    ):
        env = child_environ(
            wapipe_environ(database, redis_url(), namespace, WORKER_METRICS_PORT=str(free_port()))
        )
        port = free_port()
        ingress = Service("ingress-worker", wapipe_ingress_argv(port), env=env, log_dir=ctx.log_dir)
        with running(ingress, http_ok(f"http://127.0.0.1:{port}/healthz"), DEFAULT_START_TIMEOUT_S):
            fill = dataclasses.replace(
                ctx.load_spec(port, label="backlog"),
                warmup_s=0.0,
                duration_s=ctx.timing.worker_fill_s,
            )
            posted = run_load(fill)
            backlog = _progress(database, 0)[1]
            ctx.say(
                f"backlog: {backlog} webhooks POSTed in {ctx.timing.worker_fill_s:.0f} s"
                f" ({posted.requests_per_s:.0f} req/s) with no worker running"
            )
            argv = python_argv(
                "-m", "cli.main", "worker", "--processes", "1", "--threads", str(THREADS)
            )
            worker = Service("worker", argv, env=env, log_dir=ctx.log_dir)
            with running(worker, lambda: True, DEFAULT_START_TIMEOUT_S):
                watch = Watch(
                    {
                        "worker": lambda: process_tree(worker.pid),
                        "postgres": lambda: backend_pids(database),
                    }
                )
                watch.begin()
                drained = _wait_terminal(database, 0, ctx.timing.drain_timeout_s, worker)
                watch.end()
                drain = _drain_details(database, backlog, drained, watch)
                details["wapipe_drain"] = drain
                ctx.say(
                    f"wapipe worker drain: {drain['events_per_s']} events/s over"
                    f" {drain['measured_s']} s, worker CPU {drain['worker_cpu_cores']} cores,"
                    f" Postgres {drain['postgres_cpu_cores']} cores, statuses"
                    f" {drain['event_statuses']}"
                )
                _add_throughput(ctx, drain, noop)
                lag = _lag(ctx, database, port, worker, drain["events_per_s"])
                details["wapipe_lag"] = lag
                rss = max(drain["worker_rss_peak_mb"], lag.get("worker_rss_peak_mb", 0.0))
                ctx.shared["worker_rss_mb"] = rss


def _drain_details(database: str, backlog: int, drained: bool, watch: Watch) -> dict[str, Any]:
    completions = [
        float(str(row[0]))
        for row in sql_rows(
            database,
            f"SELECT extract(epoch FROM finished_at) FROM event WHERE status IN {TERMINAL_EVENTS}",
        )
    ]
    rate, span = steady_rate(completions)
    statuses = {
        str(row[0]): int(str(row[1]))
        for row in sql_rows(database, "SELECT status, count(*) FROM event GROUP BY status")
    }
    relayed = sql_rows(database, "SELECT count(*) FROM webhook_log WHERE split_attempts > 1")[0][0]
    return {
        "backlog_webhooks": backlog,
        "drained": drained,
        "events_per_s": round(rate, 1),
        "measured_s": round(span, 2),
        "dramatiq_messages_per_event": 2,
        "event_statuses": statuses,
        "webhooks_split_more_than_once": relayed,
        "worker_cpu_cores": round(watch.cpu_cores("worker"), 2),
        "postgres_cpu_cores": round(watch.cpu_cores("postgres"), 2),
        "worker_rss_peak_mb": round(watch.rss_peak.get("worker", 0) / MB, 1),
    }


def _add_throughput(ctx: Context, drain: dict[str, Any], noop: dict[str, Any]) -> None:
    if ctx.wants("worker"):
        ctx.add(
            Figure(
                key="worker_throughput",
                title="worker throughput",
                value=drain["events_per_s"],
                unit="events/s",
                baseline_name="Dramatiq no-op",
                baseline_value=noop["messages_per_s"],
                target=THROUGHPUT_TARGET,
                baseline_unit="msg/s",
                notes=[
                    "one worker process, 8 threads; end to end: each POSTed webhook is split"
                    " into one event and the event processed (2 Dramatiq messages and 5"
                    " Postgres transactions per event); baseline unit is messages/s",
                    "the production handler registry is empty today, so every event ends"
                    " 'ignored' — that is the real current work"
                    f" (statuses {drain['event_statuses']})",
                    f"measured between 10 % and 90 % of a {drain['backlog_webhooks']}-webhook"
                    f" backlog drain ({drain['measured_s']} s); no-op baseline drained"
                    f" {noop['messages']} pre-enqueued messages ({noop['measured_s']} s)",
                ],
            )
        )


def _lag(
    ctx: Context, database: str, port: int, worker: Service, events_per_s: float
) -> dict[str, Any]:
    marker = int(str(sql_rows(database, "SELECT coalesce(max(id), 0) FROM webhook_log")[0][0]))
    rate = max(1.0, events_per_s / 2)
    spec = ctx.load_spec(port, rate=rate, label="lag")
    watch = Watch({"worker": lambda: process_tree(worker.pid)})
    posted = ctx.measure(spec, watch)
    finished = _wait_terminal(database, marker, ctx.timing.drain_timeout_s, worker)
    lags = [
        float(str(row[0]))
        for row in sql_rows(
            database,
            "SELECT extract(epoch FROM coalesce(finished_at, now()) - received_at)"
            " FROM webhook_log WHERE id > %s",
            (marker,),
        )
    ]
    summary = summarize_latencies(lags)
    lag = {
        "rate": round(rate, 1),
        "webhooks": len(lags),
        "all_finished": finished,
        "lag_s": summary,
        "ack_latency_ms": posted.summary()["latency_ms"],
        "worker_rss_peak_mb": round(watch.rss_peak.get("worker", 0) / MB, 1),
        "worker_cpu_cores": round(watch.cpu_cores("worker"), 2),
    }
    ctx.say(
        f"lag at {rate:.0f} webhooks/s (open loop): p50 {summary.get('p50')} s,"
        f" p99 {summary.get('p99')} s, max {summary.get('max')} s over {len(lags)} webhooks"
    )
    if ctx.wants("worker"):
        ctx.add(
            Figure(
                key="worker_lag_p99",
                title="worker lag p99",
                value=summary.get("p99"),
                unit="s",
                baseline_name="target",
                baseline_value=LAG_TARGET.threshold,
                target=LAG_TARGET,
                notes=[
                    f"webhooks POSTed at {rate:.0f}/s (half the measured worker throughput),"
                    " lag = webhook_log.finished_at - received_at from Postgres",
                    f"p50 {summary.get('p50')} s, p90 {summary.get('p90')} s,"
                    f" max {summary.get('max')} s; all finished: {finished}",
                ],
            )
        )
    return lag

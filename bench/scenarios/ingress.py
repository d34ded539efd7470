"""Ingress throughput against a bare Starlette endpoint, and the ack latency at half load.

Both servers run side by side for the whole scenario (the idle one costs nothing) and are
measured one after the other with the same generator settings. With ``--explain`` the
intermediate variants of ``bench/bare_app.py`` are measured too, each alone.
"""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.infra import (
    backend_pids,
    bench_database,
    bench_namespace,
    redis_server_pid,
    redis_url,
    sql_rows,
    wapipe_environ,
)
from bench.loadgen import LoadResult
from bench.procs import (
    DEFAULT_START_TIMEOUT_S,
    Service,
    Watch,
    child_environ,
    free_port,
    http_ok,
    python_argv,
    running,
)
from bench.report import Figure, Target, TargetKind
from bench.scenarios import Context, Stopwatch

THROUGHPUT_TARGET = Target(TargetKind.RATIO_AT_LEAST, 0.50)
LATENCY_TARGET = Target(TargetKind.VALUE_AT_MOST, 20.0)
EXPLAIN_VARIANTS = ("hmac", "commit", "enqueue", "pipelined", "lean")
MB = 1_000_000


def wapipe_ingress_argv(port: int) -> list[str]:
    return python_argv("-m", "cli.main", "ingress", "--port", str(port))


def bare_app_argv(variant: str, port: int) -> list[str]:
    return python_argv("-m", "bench.bare_app", "--variant", variant, "--port", str(port))


def server_watch(server: Service, database: str | None, redis_pid: int | None) -> Watch:
    roots: dict[str, Callable[[], list[int]]] = {"server": lambda: [server.pid]}
    if database is not None:
        roots["postgres"] = lambda: backend_pids(database)
    if redis_pid is not None:
        roots["redis"] = lambda: [redis_pid]
    return Watch(roots)


def load_details(result: LoadResult, watch: Watch) -> dict[str, Any]:
    details = result.summary()
    rps = result.requests_per_s
    details["server_cpu_cores"] = round(watch.cpu_cores("server"), 2)
    details["server_cpu_us_per_request"] = (
        round(watch.cpu_used.get("server", 0.0) / result.ok * 1e6, 1) if result.ok else None
    )
    for name in ("postgres", "redis"):
        if name in watch.roots:
            details[f"{name}_cpu_cores"] = round(watch.cpu_cores(name), 2)
            details[f"{name}_cpu_us_per_request"] = (
                round(watch.cpu_used.get(name, 0.0) / result.ok * 1e6, 1) if result.ok else None
            )
    details["server_rss_peak_mb"] = round(watch.rss_peak.get("server", 0) / MB, 1)
    # What the machine did besides this measurement (other engineers' tests, say): the
    # busy cores not accounted for by the server, its Postgres/Redis or the generator.
    accounted = sum(watch.cpu_cores(name) for name in watch.roots) + result.generator_cpu
    details["machine_busy_cores"] = round(watch.machine_cores(), 2)
    details["other_cpu_cores"] = round(max(0.0, watch.machine_cores() - accounted), 2)
    details["requests_per_s"] = round(rps, 1)
    return details


_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:]+)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$")


def parse_prometheus(text: str) -> dict[str, float]:
    """``name{labels}`` → value of a Prometheus text exposition (comments skipped)."""
    samples: dict[str, float] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line.strip())
        if match is None:
            continue
        key = match["name"] + (f"{{{match['labels']}}}" if match["labels"] else "")
        samples[key] = float(match["value"])
    return samples


#: Per-run figures averaged over the rounds of a closed-loop comparison.
MEAN_KEYS = (
    "requests_per_s",
    "server_cpu_cores",
    "server_cpu_us_per_request",
    "postgres_cpu_cores",
    "postgres_cpu_us_per_request",
    "redis_cpu_cores",
    "redis_cpu_us_per_request",
    "generator_cpu_cores",
    "mean_group_commit_batch",
    "other_cpu_cores",
)


def merge_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One figure from several runs of the same load: means of ``MEAN_KEYS``, summed
    failures, the peak RSS, and every run kept under ``runs``.

    Raises:
        ValueError: no runs.
    """
    if not runs:
        raise ValueError("no runs to merge")
    merged: dict[str, Any] = {"rounds": len(runs)}
    for key in MEAN_KEYS:
        values = [float(run[key]) for run in runs if run.get(key) is not None]
        merged[key] = round(sum(values) / len(values), 2) if values else None
    merged["failures"] = sum(
        run["transport_errors"]
        + run["timeouts"]
        + sum(n for status, n in run["statuses"].items() if not status.startswith("2"))
        for run in runs
    )
    merged["server_rss_peak_mb"] = max(run["server_rss_peak_mb"] for run in runs)
    for key in ("processes", "connections", "body_bytes", "duration_s", "warmup_s"):
        merged[key] = runs[0][key]
    merged["runs"] = runs
    return merged


def mean_batch(before: dict[str, float], after: dict[str, float]) -> float | None:
    """Mean group-commit batch size between two scrapes of the ingress metrics."""
    count = "wapipe_ingest_batch_size_count"
    total = "wapipe_ingest_batch_size_sum"
    batches = after.get(count, 0.0) - before.get(count, 0.0)
    if batches <= 0:
        return None
    return round((after.get(total, 0.0) - before.get(total, 0.0)) / batches, 2)


def ingress_metrics(port: int) -> dict[str, float]:
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as answer:
        return parse_prometheus(answer.read().decode())


def _describe(label: str, details: dict[str, Any]) -> str:
    """One line on a single run (``load_details``)."""
    latency = details.get("latency_ms", {})
    text = (
        f"{label}: {details['requests_per_s']} req/s, server {details['server_cpu_cores']} cores"
        f" ({details['server_cpu_us_per_request']} µs CPU/req)"
    )
    if "postgres_cpu_cores" in details:
        text += (
            f", postgres {details['postgres_cpu_cores']} cores"
            f" ({details['postgres_cpu_us_per_request']} µs/req)"
        )
    text += (
        f", generator {details['generator_cpu_cores']} cores, rest of the machine"
        f" {details['other_cpu_cores']} cores, p99 {latency.get('p99')} ms,"
        f" failures {details['transport_errors'] + details['timeouts']}"
        f" non-2xx {sum(v for k, v in details['statuses'].items() if not k.startswith('2'))}"
    )
    return text


@dataclass
class _Target:
    """One server under test: its process, port and what its watch looks at."""

    service: Service
    port: int
    database: str | None = None
    redis_pid: int | None = None

    def watch(self) -> Watch:
        return server_watch(self.service, self.database, self.redis_pid)

    def measure(
        self, ctx: Context, *, rate: float | None = None, label: str = ""
    ) -> dict[str, Any]:
        """One load against this server; wapipe runs also get their group-commit batch."""
        watch = self.watch()
        before = ingress_metrics(self.port) if self.database is not None else None
        result = ctx.measure(ctx.load_spec(self.port, rate=rate, label=label), watch)
        details = load_details(result, watch)
        if before is not None:
            details["mean_group_commit_batch"] = mean_batch(before, ingress_metrics(self.port))
        return details


def run(ctx: Context) -> None:
    clock = Stopwatch()
    details: dict[str, Any] = {}
    ctx.scenarios["ingress"] = details
    redis_pid = redis_server_pid(redis_url())
    with (
        bench_database("ingress", ctx.log_dir) as database,
        bench_namespace("ingress") as namespace,
    ):
        env = child_environ(wapipe_environ(database, redis_url(), namespace))
        bare_port, wapipe_port = free_port(), free_port()
        bare = _Target(
            Service("bare", bare_app_argv("bare", bare_port), env=env, log_dir=ctx.log_dir),
            bare_port,
        )
        wapipe = _Target(
            Service("ingress", wapipe_ingress_argv(wapipe_port), env=env, log_dir=ctx.log_dir),
            wapipe_port,
            database,
            redis_pid,
        )
        timeout = DEFAULT_START_TIMEOUT_S
        with (
            running(bare.service, http_ok(f"http://127.0.0.1:{bare_port}/healthz"), timeout),
            running(wapipe.service, http_ok(f"http://127.0.0.1:{wapipe_port}/healthz"), timeout),
        ):
            bare_closed, wapipe_closed = _closed_loop_rounds(ctx, bare, wapipe)
            details["bare_closed_loop"] = bare_closed
            details["wapipe_closed_loop"] = wapipe_closed
            ctx.shared["wapipe_max_rps"] = wapipe_closed["requests_per_s"]
            if ctx.wants("ingress") and bare_closed is not None:
                _add_throughput(ctx, wapipe_closed, bare_closed, database, wapipe_port)
            rss_peak_mb = wapipe_closed["server_rss_peak_mb"]
            if ctx.wants("latency"):
                rate = max(1.0, wapipe_closed["requests_per_s"] / 2)
                details["half_load_rate"] = round(rate, 1)
                bare_open = bare.measure(ctx, rate=rate)
                details["bare_open_loop"] = bare_open
                ctx.say(_describe(f"bare Starlette, open loop at {rate:.0f} req/s", bare_open))
                wapipe_open = wapipe.measure(ctx, rate=rate)
                details["wapipe_open_loop"] = wapipe_open
                ctx.say(_describe(f"wapipe ingress, open loop at {rate:.0f} req/s", wapipe_open))
                rss_peak_mb = max(rss_peak_mb, wapipe_open["server_rss_peak_mb"])
                _add_latency(ctx, wapipe_open, bare_open, rate)
            ctx.shared["ingress_rss_mb"] = rss_peak_mb
            ctx.shared["bare_rss_mb"] = bare_closed["server_rss_peak_mb"] if bare_closed else None

        if ctx.explain:
            details["explain"] = _explain(ctx, env, database, redis_pid)
    ctx.durations_s["ingress"] = clock.seconds()


def _closed_loop_rounds(
    ctx: Context, bare: _Target, wapipe: _Target
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """Bare then wapipe, alternated for some rounds (a burst of load from elsewhere on the
    machine then hits both sides); the merged bare figures are None when not wanted."""
    bare_runs: list[dict[str, Any]] = []
    wapipe_runs: list[dict[str, Any]] = []
    rounds = ctx.timing.ingress_rounds if ctx.wants("ingress") else 1
    for _ in range(rounds):
        if ctx.wants("ingress"):
            bare_runs.append(bare.measure(ctx, label="bare"))
            ctx.say(_describe("bare Starlette, closed loop", bare_runs[-1]))
        wapipe_runs.append(wapipe.measure(ctx, label="wapipe"))
        ctx.say(_describe("wapipe ingress, closed loop", wapipe_runs[-1]))
    return (merge_runs(bare_runs) if bare_runs else None), merge_runs(wapipe_runs)


def _add_throughput(
    ctx: Context,
    wapipe: dict[str, Any],
    bare: dict[str, Any],
    database: str,
    port: int,
) -> None:
    metrics = ingress_metrics(port)
    rows = sql_rows(database, "SELECT count(*) FROM webhook_log")[0][0]
    wapipe["webhook_log_rows_after"] = rows
    wapipe["accepted_total"] = metrics.get('wapipe_webhooks_received_total{outcome="accepted"}')
    notes = [
        f"load: {wapipe['connections']} keep-alive connections from "
        f"{wapipe['processes']} generator processes, ~{wapipe['body_bytes']} B signed bodies,"
        " every body unique",
        f"generator CPU: {bare['generator_cpu_cores']} cores (bare run), "
        f"{wapipe['generator_cpu_cores']} cores (wapipe run) — it shares the machine's CPUs "
        "with the servers, Postgres and Redis",
        f"server CPU: bare {bare['server_cpu_cores']} cores "
        f"({bare['server_cpu_us_per_request']} µs/req), wapipe {wapipe['server_cpu_cores']} "
        f"cores ({wapipe['server_cpu_us_per_request']} µs/req); Postgres backends "
        f"{wapipe.get('postgres_cpu_cores')} cores",
        f"mean group-commit batch: {wapipe['mean_group_commit_batch']} webhooks per COMMIT",
        f"CPU used by the rest of the machine meanwhile: {bare['other_cpu_cores']} cores (bare"
        f" runs), {wapipe['other_cpu_cores']} cores (wapipe runs)",
        f"means of {wapipe['rounds']} alternated rounds: bare"
        f" {[run['requests_per_s'] for run in bare['runs']]}, wapipe"
        f" {[run['requests_per_s'] for run in wapipe['runs']]} req/s; failures: bare"
        f" {bare['failures']}, wapipe {wapipe['failures']}",
    ]
    ctx.add(
        Figure(
            key="ingress_throughput",
            title="ingress throughput",
            value=wapipe["requests_per_s"],
            unit="req/s",
            baseline_name="bare Starlette",
            baseline_value=bare["requests_per_s"],
            target=THROUGHPUT_TARGET,
            notes=notes,
        )
    )


def _add_latency(ctx: Context, wapipe: dict[str, Any], bare: dict[str, Any], rate: float) -> None:
    wapipe_latency = wapipe["latency_ms"]
    bare_latency = bare["latency_ms"]
    ctx.add(
        Figure(
            key="ingress_p99_latency",
            title="ingress p99 ack latency",
            value=wapipe_latency.get("p99"),
            unit="ms",
            baseline_name="bare Starlette at the same rate",
            baseline_value=bare_latency.get("p99"),
            target=LATENCY_TARGET,
            notes=[
                f"open loop at {rate:.0f} req/s (half of wapipe's measured maximum), latency "
                "from each request's scheduled send time (no coordinated omission)",
                f"wapipe p50 {wapipe_latency.get('p50')} ms, p90 {wapipe_latency.get('p90')} ms,"
                f" p99.9 {wapipe_latency.get('p999')} ms, max {wapipe_latency.get('max')} ms;"
                f" timeouts {wapipe['timeouts']}",
                f"wapipe server CPU {wapipe['server_cpu_cores']} cores at this rate"
                f" ({wapipe['server_cpu_us_per_request']} µs/req), mean group-commit batch"
                f" {wapipe.get('mean_group_commit_batch')}",
            ],
        )
    )


def _explain(
    ctx: Context, env: dict[str, str], database: str, redis_pid: int | None
) -> dict[str, Any]:
    """Closed-loop throughput of each intermediate variant: where the ingress time goes."""
    found: dict[str, Any] = {}
    for variant in EXPLAIN_VARIANTS:
        port = free_port()
        service = Service(
            f"variant-{variant}", bare_app_argv(variant, port), env=env, log_dir=ctx.log_dir
        )
        with running(service, http_ok(f"http://127.0.0.1:{port}/healthz"), DEFAULT_START_TIMEOUT_S):
            uses_postgres = variant != "hmac"
            watch = server_watch(
                service,
                database if uses_postgres else None,
                redis_pid if variant == "enqueue" else None,
            )
            result = ctx.measure(ctx.load_spec(port, label=variant), watch)
            found[variant] = load_details(result, watch)
            ctx.say(_describe(f"explain: {variant}", found[variant]))
    # The real ingress with the per-IP bad-signature limit off: no Redis read per request.
    port = free_port()
    unlimited = {**env, "WAPIPE_BAD_SIGNATURE_LIMIT_PER_IP": "0", "WAPIPE_RATE_LIMIT_PER_IP": "0"}
    service = Service(
        "variant-nolimit", wapipe_ingress_argv(port), env=unlimited, log_dir=ctx.log_dir
    )
    with running(service, http_ok(f"http://127.0.0.1:{port}/healthz"), DEFAULT_START_TIMEOUT_S):
        watch = server_watch(service, database, redis_pid)
        result = ctx.measure(ctx.load_spec(port, label="nolimit"), watch)
        found["wapipe_without_ip_limit"] = load_details(result, watch)
        ctx.say(_describe("explain: wapipe, per-IP limits off", found["wapipe_without_ip_limit"]))
    return found

"""RSS of the ingress and the worker, sampled during the loads of the other scenarios."""

from __future__ import annotations

from bench.report import Figure, Target, TargetKind
from bench.scenarios import Context

INGRESS_RSS_TARGET = Target(TargetKind.VALUE_AT_MOST, 150.0)
WORKER_RSS_TARGET = Target(TargetKind.VALUE_AT_MOST, 250.0)


def add_figures(ctx: Context) -> None:
    ctx.add(
        Figure(
            key="ingress_rss",
            title="ingress RSS",
            value=ctx.shared.get("ingress_rss_mb"),
            unit="MB",
            baseline_name="bare Starlette",
            baseline_value=ctx.shared.get("bare_rss_mb"),
            target=INGRESS_RSS_TARGET,
            notes=[
                "peak VmRSS of the uvicorn process (/proc/<pid>/status), sampled every 0.5 s"
                " during the closed- and open-loop ingress loads; MB = 10^6 bytes"
            ],
        )
    )
    ctx.add(
        Figure(
            key="worker_rss",
            title="worker RSS",
            value=ctx.shared.get("worker_rss_mb"),
            unit="MB",
            baseline_name="Dramatiq no-op worker",
            baseline_value=ctx.shared.get("noop_worker_rss_mb"),
            target=WORKER_RSS_TARGET,
            notes=[
                "peak VmRSS summed over the Dramatiq main process and its children, sampled"
                " every 0.5 s during the backlog drain and the lag load; MB = 10^6 bytes"
            ],
        )
    )

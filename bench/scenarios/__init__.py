"""The measurements of ``make bench``; each module runs one and adds its figures."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.loadgen import LoadResult, LoadSpec, run_load
from bench.procs import Watch
from bench.report import Figure

SCENARIOS = ("ingress", "latency", "worker", "growth", "memory")


@dataclass(frozen=True)
class Timing:
    """How long each phase runs; ``quick`` is a smoke run, not a measurement."""

    warmup_s: float
    duration_s: float
    generator_processes: int
    connections_per_process: int
    worker_fill_s: float  # webhooks are POSTed this long before the worker starts draining
    noop_messages: int  # messages pre-enqueued for Dramatiq's no-op baseline
    drain_timeout_s: float
    growth_rows: int
    growth_rounds: int = 2  # filled/empty measurements alternated this many times
    ingress_rounds: int = 2  # bare/wapipe closed-loop measurements alternated this many times

    @classmethod
    def full(cls, growth_rows: int) -> Timing:
        return cls(
            warmup_s=3.0,
            duration_s=12.0,
            generator_processes=2,
            connections_per_process=32,
            worker_fill_s=5.0,
            noop_messages=40_000,
            drain_timeout_s=120.0,
            growth_rows=growth_rows,
        )

    @classmethod
    def quick(cls, growth_rows: int) -> Timing:
        return cls(
            warmup_s=1.0,
            duration_s=3.0,
            generator_processes=2,
            connections_per_process=32,
            worker_fill_s=2.0,
            noop_messages=5_000,
            drain_timeout_s=60.0,
            growth_rows=growth_rows,
            growth_rounds=1,
            ingress_rounds=1,
        )


@dataclass
class Context:
    timing: Timing
    selected: frozenset[str]
    explain: bool
    log_dir: Path
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    figures: list[Figure] = field(default_factory=list)
    scenarios: dict[str, Any] = field(default_factory=dict)
    durations_s: dict[str, float] = field(default_factory=dict)
    #: Facts one scenario leaves for another (wapipe's max requests/s, the ingress RSS, …).
    shared: dict[str, Any] = field(default_factory=dict)
    _sequence: int = 0

    def wants(self, name: str) -> bool:
        return name in self.selected

    def say(self, text: str) -> None:
        print(f"  · {text}", flush=True)

    def add(self, figure: Figure) -> None:
        self.figures.append(figure)
        print(figure.line(), flush=True)

    def load_spec(self, port: int, *, rate: float | None = None, label: str = "") -> LoadSpec:
        """The generator settings every comparison shares; only the target and rate differ."""
        from bench.infra import APP_SECRET

        self._sequence += 1
        timing = self.timing
        per_process_cap = 5000.0 if rate is None else rate / timing.generator_processes * 1.05
        prebuild = int((timing.warmup_s + timing.duration_s) * per_process_cap) + 100
        return LoadSpec(
            host="127.0.0.1",
            port=port,
            secret=APP_SECRET,
            tag=f"{self.tag}{label}{self._sequence}".replace("_", ""),
            processes=timing.generator_processes,
            connections=timing.connections_per_process,
            warmup_s=timing.warmup_s,
            duration_s=timing.duration_s,
            rate=rate,
            prebuild=prebuild,
        )

    def measure(self, spec: LoadSpec, watch: Watch) -> LoadResult:
        return run_load(spec, on_window_start=watch.begin, on_window_end=watch.end)


class Stopwatch:
    def __init__(self) -> None:
        self.started = time.monotonic()

    def seconds(self) -> float:
        return round(time.monotonic() - self.started, 2)

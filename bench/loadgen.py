"""An HTTP/1.1 load generator: raw asyncio streams, keep-alive, pre-built request bytes.

Each generator process (``multiprocessing``, spawn) opens its own connections and runs one of
two loops:

- closed loop (``rate=None``): every connection sends its next request as soon as the previous
  answer arrived — the maximum throughput at that concurrency;
- open loop (``rate`` = requests/s in total): requests are *scheduled* at a constant rate and
  each latency is measured from its scheduled time, so a slow answer that holds back the next
  sends counts against the server (no coordinated omission).

Only answers that arrive inside the measurement window (after the warm-up) count. Each process
reports its own CPU time, so a report can show the generator was not the bottleneck.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import resource
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from bench.stats import summarize_latencies
from bench.webhooks import RequestFactory

DEFAULT_READY_TIMEOUT_S = 120.0
START_MARGIN_S = 0.3
WRITE_HIGH_WATER = 64 * 1024


class ResponseError(ValueError):
    """The server's answer was not a well-formed HTTP/1.1 response."""


def parse_response_head(head: bytes) -> tuple[int, int]:
    """Status code and Content-Length of a response head (``…\\r\\n\\r\\n`` included).

    Raises:
        ResponseError: no status line, or a body length the generator cannot frame
            (absent or chunked; every server measured here sends Content-Length).
    """
    if not head.startswith(b"HTTP/1.") or len(head) < 12:
        raise ResponseError(f"not an HTTP/1.x status line: {head[:40]!r}")
    try:
        status = int(head[9:12])
    except ValueError:
        raise ResponseError(f"bad status code: {head[:40]!r}") from None
    lowered = head.lower()
    start = lowered.find(b"\r\ncontent-length:")
    if start < 0:
        if status in (204, 304) or 100 <= status < 200:
            return status, 0
        raise ResponseError("response without Content-Length")
    start += len(b"\r\ncontent-length:")
    end = lowered.find(b"\r\n", start)
    try:
        length = int(lowered[start:end].strip())
    except ValueError:
        raise ResponseError("bad Content-Length") from None
    return status, length


@dataclass(frozen=True, slots=True)
class LoadSpec:
    host: str
    port: int
    secret: str
    tag: str  # unique per run and target: bodies are never duplicates of earlier ones
    processes: int = 2
    connections: int = 32  # per process
    warmup_s: float = 3.0
    duration_s: float = 12.0
    rate: float | None = None  # requests/s over all processes; None = closed loop
    body_bytes: int = 2048
    prebuild: int = 20_000  # requests built per process before the clock starts
    drain_timeout_s: float = 10.0

    @property
    def mode(self) -> str:
        return "closed" if self.rate is None else "open"

    def describe(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "processes": self.processes,
            "connections_per_process": self.connections,
            "connections": self.processes * self.connections,
            "rate": self.rate,
            "warmup_s": self.warmup_s,
            "duration_s": self.duration_s,
            "body_bytes": self.body_bytes,
            "keep_alive": True,
        }


@dataclass
class ProcessResult:
    index: int
    ok: int = 0  # 2xx answers completed in the window
    statuses: Counter[int] = field(default_factory=Counter)
    transport_errors: int = 0
    timeouts: int = 0  # open loop: scheduled in the window, unanswered at the end
    latencies: list[float] = field(default_factory=list)  # seconds
    send_delays: list[float] = field(default_factory=list)  # open loop: scheduled → written
    built_late: int = 0  # requests built during the run (the pre-built ones ran out)
    window_cpu_s: float = 0.0
    window_wall_s: float = 0.0
    error: str | None = None


@dataclass
class LoadResult:
    spec: LoadSpec
    processes: list[ProcessResult]

    @property
    def ok(self) -> int:
        return sum(p.ok for p in self.processes)

    @property
    def requests_per_s(self) -> float:
        return self.ok / self.spec.duration_s

    @property
    def statuses(self) -> Counter[int]:
        total: Counter[int] = Counter()
        for process in self.processes:
            total.update(process.statuses)
        return total

    @property
    def failures(self) -> int:
        non_2xx = sum(n for status, n in self.statuses.items() if not 200 <= status < 300)
        return non_2xx + sum(p.transport_errors + p.timeouts for p in self.processes)

    @property
    def generator_cpu(self) -> float:
        """CPU cores the generator processes used during the window (1.0 = one core)."""
        return sum(p.window_cpu_s / p.window_wall_s for p in self.processes if p.window_wall_s > 0)

    def latencies(self) -> list[float]:
        return [value for p in self.processes for value in p.latencies]

    def summary(self) -> dict[str, Any]:
        latencies = self.latencies()
        delays = [value for p in self.processes for value in p.send_delays]
        return {
            **self.spec.describe(),
            "requests_per_s": round(self.requests_per_s, 1),
            "ok": self.ok,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "transport_errors": sum(p.transport_errors for p in self.processes),
            "timeouts": sum(p.timeouts for p in self.processes),
            "latency_ms": summarize_latencies(latencies, scale=1000.0),
            "send_delay_ms": summarize_latencies(delays, scale=1000.0) if delays else None,
            "generator_cpu_cores": round(self.generator_cpu, 2),
            "generator_cpu_per_process": [
                round(p.window_cpu_s / p.window_wall_s, 2) if p.window_wall_s else None
                for p in self.processes
            ],
            "requests_built_during_run": sum(p.built_late for p in self.processes),
            "errors": [p.error for p in self.processes if p.error],
        }


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Requests:
    def __init__(self, factory: RequestFactory, prebuilt: list[bytes]) -> None:
        self._factory = factory
        self._prebuilt = prebuilt
        self._next = 0
        self.built_late = 0

    def take(self) -> bytes:
        index = self._next
        self._next += 1
        if index < len(self._prebuilt):
            request = self._prebuilt[index]
            self._prebuilt[index] = b""  # free it: each body is sent once
            return request
        self.built_late += 1
        return self._factory.request(index)


class _Run:
    """One process's run: the clock, the counters and the connection loops."""

    def __init__(self, spec: LoadSpec, index: int, requests: _Requests, start: float) -> None:
        self.spec = spec
        self.requests = requests
        self.result = ProcessResult(index)
        self.start = start
        self.window_start = start + spec.warmup_s
        self.window_end = self.window_start + spec.duration_s
        self._cpu_at_start = 0.0
        self._in_flight: dict[int, float] = {}  # connection → scheduled time (open loop)
        self._closed = False  # set once unanswered requests were written off as timeouts

    def in_window(self, moment: float) -> bool:
        return self.window_start <= moment < self.window_end

    def record(self, status: int, done: float, latency: float) -> None:
        if self._closed or not self.in_window(done if self.spec.rate is None else done - latency):
            return
        self.result.statuses[status] += 1
        if 200 <= status < 300:
            self.result.ok += 1
        self.result.latencies.append(latency)

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(self.spec.host, self.spec.port)

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
    ) -> int:
        writer.write(request)
        transport = writer.transport
        if transport.get_write_buffer_size() > WRITE_HIGH_WATER:
            await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status, length = parse_response_head(head)
        if length:
            await reader.readexactly(length)
        return status

    async def closed_connection(self) -> None:
        loop = asyncio.get_running_loop()
        reader, writer = await self._connect()
        try:
            while loop.time() < self.window_end:
                request = self.requests.take()
                sent = loop.time()
                try:
                    status = await self._exchange(reader, writer, request)
                except (OSError, asyncio.IncompleteReadError, ResponseError):
                    self.result.transport_errors += 1
                    writer.close()
                    reader, writer = await self._connect()
                    continue
                done = loop.time()
                self.record(status, done, done - sent)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def open_dispatcher(self, queue: asyncio.Queue[float | None]) -> None:
        loop = asyncio.get_running_loop()
        assert self.spec.rate is not None
        interval = self.spec.processes / self.spec.rate
        # Processes interleave their schedules instead of sending in lockstep.
        first = self.start + interval * self.result.index / self.spec.processes
        sequence = 0
        while True:
            scheduled = first + sequence * interval
            if scheduled >= self.window_end:
                break
            delay = scheduled - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            queue.put_nowait(scheduled)
            sequence += 1

    async def open_connection(self, slot: int, queue: asyncio.Queue[float | None]) -> None:
        loop = asyncio.get_running_loop()
        reader, writer = await self._connect()
        try:
            while True:
                scheduled = await queue.get()
                if scheduled is None:
                    return
                request = self.requests.take()
                sent = loop.time()
                self._in_flight[slot] = scheduled
                try:
                    status = await self._exchange(reader, writer, request)
                except (OSError, asyncio.IncompleteReadError, ResponseError):
                    self.result.transport_errors += 1
                    writer.close()
                    reader, writer = await self._connect()
                    continue
                finally:
                    del self._in_flight[slot]
                    queue.task_done()
                done = loop.time()
                if self.in_window(scheduled):
                    self.result.send_delays.append(sent - scheduled)
                self.record(status, done, done - scheduled)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    def _window_opens(self) -> None:
        self._cpu_at_start = _cpu_seconds()

    def _window_closes(self) -> None:
        self.result.window_cpu_s = _cpu_seconds() - self._cpu_at_start
        self.result.window_wall_s = self.spec.duration_s

    async def run(self) -> ProcessResult:
        loop = asyncio.get_running_loop()
        # ``start`` is on time.monotonic(), the clock asyncio's loop.time() uses.
        loop.call_at(self.window_start, self._window_opens)
        loop.call_at(self.window_end, self._window_closes)
        delay = self.start - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if self.spec.rate is None:
            tasks = [
                asyncio.create_task(self.closed_connection()) for _ in range(self.spec.connections)
            ]
            await asyncio.wait_for(
                asyncio.gather(*tasks), self.window_end - loop.time() + self.spec.drain_timeout_s
            )
        else:
            await self._run_open()
        # Let the window-closing callback run if the loops finished exactly at the end.
        while not self.result.window_wall_s:
            await asyncio.sleep(0.01)
        self.result.built_late = self.requests.built_late
        return self.result

    async def _run_open(self) -> None:
        queue: asyncio.Queue[float | None] = asyncio.Queue()
        workers = [
            asyncio.create_task(self.open_connection(slot, queue))
            for slot in range(self.spec.connections)
        ]
        await self.open_dispatcher(queue)
        try:
            await asyncio.wait_for(queue.join(), self.spec.drain_timeout_s)
        except TimeoutError:
            self._record_unanswered(queue)
        for _ in workers:
            queue.put_nowait(None)
        done, pending = await asyncio.wait(workers, timeout=1.0)
        for task in pending:
            task.cancel()
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                self.result.error = repr(task.exception())

    def _record_unanswered(self, queue: asyncio.Queue[float | None]) -> None:
        """Queued or in-flight requests without an answer: timeouts, with the time they have
        waited so far as their (lower-bound) latency, so the percentiles do not forget them."""
        now = asyncio.get_running_loop().time()
        self._closed = True
        waiting = list(self._in_flight.values())
        while not queue.empty():
            scheduled = queue.get_nowait()
            queue.task_done()
            if scheduled is not None:
                waiting.append(scheduled)
        for scheduled in waiting:
            if self.in_window(scheduled):
                self.result.timeouts += 1
                self.result.latencies.append(now - scheduled)


def _process_main(spec: LoadSpec, index: int, channel: Connection) -> None:
    """Child process: build requests, report ready, wait for the start time, run, report."""
    try:
        factory = RequestFactory(
            spec.host, spec.port, spec.secret, f"{spec.tag}p{index}", spec.body_bytes
        )
        requests = _Requests(factory, factory.prebuild(0, spec.prebuild))
        channel.send("ready")
        start_wall: float = channel.recv()
        start = time.monotonic() + (start_wall - time.time())
        result = asyncio.run(_Run(spec, index, requests, start).run())
    except Exception as error:  # noqa: BLE001 - reported to the parent, which fails the run
        channel.send(ProcessResult(index, error=f"{type(error).__name__}: {error}"))
        return
    channel.send(result)


class GeneratorFailed(Exception):
    """A generator process failed or did not report in time."""


def run_load(
    spec: LoadSpec,
    *,
    on_window_start: Callable[[], None] | None = None,
    on_window_end: Callable[[], None] | None = None,
) -> LoadResult:
    """Run ``spec`` in ``spec.processes`` processes; the callbacks mark the window in the parent.

    Raises:
        GeneratorFailed: a process crashed, or did not get ready or report in time.
    """
    context = multiprocessing.get_context("spawn")
    channels: list[Connection] = []
    processes: list[Any] = []
    try:
        for index in range(spec.processes):
            parent, child = context.Pipe()
            process = context.Process(
                target=_process_main, args=(spec, index, child), name=f"bench-load-{index}"
            )
            process.start()
            child.close()
            channels.append(parent)
            processes.append(process)
        for channel in channels:
            message = _receive(channel, DEFAULT_READY_TIMEOUT_S, "get ready")
            if isinstance(message, ProcessResult):
                raise GeneratorFailed(message.error or "generator process failed")
        start_wall = time.time() + START_MARGIN_S
        for channel in channels:
            channel.send(start_wall)
        window_start = start_wall + spec.warmup_s
        _sleep_until(window_start)
        if on_window_start is not None:
            on_window_start()
        _sleep_until(window_start + spec.duration_s)
        if on_window_end is not None:
            on_window_end()
        results: list[ProcessResult] = []
        timeout = spec.drain_timeout_s + 30.0
        for channel in channels:
            results.append(_receive(channel, timeout, "report"))
        failed = [r.error for r in results if r.error and not r.ok]
        if failed:
            raise GeneratorFailed("; ".join(str(error) for error in failed))
        return LoadResult(spec, sorted(results, key=lambda r: r.index))
    finally:
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)
        for channel in channels:
            channel.close()


def _receive(channel: Connection, timeout: float, what: str) -> Any:
    try:
        if channel.poll(timeout):
            return channel.recv()
    except EOFError:
        raise GeneratorFailed(f"a generator process died before it could {what}") from None
    raise GeneratorFailed(f"a generator process did not {what} in time")


def _sleep_until(wall: float) -> None:
    delay = wall - time.time()
    if delay > 0:
        time.sleep(delay)

"""Group commit: many concurrent webhooks share one INSERT and one COMMIT.

Each request hands its raw body to ``IngestPipeline.append`` and waits. A few writer tasks
take whatever has queued up, commit it in one transaction, enqueue the wake-ups and only then
answer each request: every 200 still means "committed". Batches form by themselves under load
(requests queue while the previous commit is in flight) and are size 1 when traffic is light,
so no request waits for a timer.

Once a batch is committed its requests are answered 200 whatever fails afterwards (the relay
delivers what was not enqueued), and no failure of one batch ends a writer: a dead writer
would leave its batch unanswered and, with all of them gone, every request would time out.
Should every writer end all the same, ``append`` refuses at once and ``/readyz`` says so.

The pipeline holds a bounded number of bodies (and bytes): while Postgres stalls, requests
beyond the bound are refused at once with ``IngestOverloaded`` (a 503 with ``Retry-After``)
instead of queueing without limit. Nothing was promised to them and Meta retries.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from psycopg_pool import AsyncConnectionPool

from adapters.postgres import AsyncConn, is_connection_error
from adapters.webhook_log import RawWebhook, append_webhooks
from domain.errors import DependencyUnavailable
from runtime.metrics import ingress as metrics
from runtime.settings import DEFAULT_INGEST_MAX_PENDING, DEFAULT_INGEST_MAX_PENDING_BYTES

log = logging.getLogger(__name__)

DEFAULT_WRITERS = 4
DEFAULT_MAX_BATCH = 64
DEFAULT_APPEND_TIMEOUT_S = 8.0
BROKER_COOLDOWN_S = 2.0


class IngestOverloaded(DependencyUnavailable):
    """The pipeline refused a body at once: its bound is reached, or no writer is left.

    A ``DependencyUnavailable`` like a failed commit, so the endpoint answers the same 503
    with ``Retry-After``; ``reason`` says which (``queue_full`` or ``writers_down``).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"ingest: {reason}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Ingested:
    webhook_id: int | None  # None: a duplicate of a body already in the log

    @property
    def duplicate(self) -> bool:
        return self.webhook_id is None


@dataclass(slots=True)
class _Pending:
    raw: RawWebhook
    future: asyncio.Future[Ingested] = field(repr=False)


class BrokerGate:
    """Enqueues wake-ups on one thread; after a failure, skips the broker for a cooldown.

    A skipped or failed enqueue loses nothing: the row is committed with a ``due_at`` and the
    relay enqueues it once the lease passes. So ``send`` never raises an ``Exception``: each
    failure is counted and logged here instead.
    """

    def __init__(self, enqueue: Callable[[Sequence[int]], int]) -> None:
        self._enqueue = enqueue
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="enqueue")
        self._skip_until = 0.0

    async def send(self, webhook_ids: Sequence[int]) -> None:
        if not webhook_ids:
            return
        if time.monotonic() < self._skip_until:
            metrics.ENQUEUE_FAILURES.inc(len(webhook_ids))
            return
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._enqueue, webhook_ids)
        except DependencyUnavailable as error:
            self._skip_until = time.monotonic() + BROKER_COOLDOWN_S
            metrics.ENQUEUE_FAILURES.inc(len(webhook_ids))
            metrics.DEPENDENCY_UP.labels("broker").set(0)
            log.warning(
                "enqueue failed; the relay will deliver these webhooks",
                extra={"webhooks": len(webhook_ids), "error": str(error)},
            )
            return
        except Exception:  # the rows are committed: no enqueue error may fail them
            # Not an outage (``enqueue`` translates those): a bug or a message the broker cannot
            # take. No cooldown and no gauge change, since the broker itself may be fine; the
            # traceback is logged because nobody expects this.
            metrics.ENQUEUE_FAILURES.inc(len(webhook_ids))
            log.error(
                "enqueue failed unexpectedly; the relay will deliver these webhooks",
                exc_info=True,
                extra={"webhooks": len(webhook_ids)},
            )
            return
        metrics.DEPENDENCY_UP.labels("broker").set(1)

    def close(self) -> None:
        self._executor.shutdown(wait=True)


class IngestPipeline:
    def __init__(
        self,
        pool: AsyncConnectionPool[AsyncConn],
        gate: BrokerGate,
        *,
        relay_lease_seconds: int,
        writers: int = DEFAULT_WRITERS,
        max_batch: int = DEFAULT_MAX_BATCH,
        append_timeout: float = DEFAULT_APPEND_TIMEOUT_S,
        max_pending: int = DEFAULT_INGEST_MAX_PENDING,
        max_pending_bytes: int = DEFAULT_INGEST_MAX_PENDING_BYTES,
    ) -> None:
        self._pool = pool
        self._gate = gate
        self._lease = relay_lease_seconds
        self._writers = writers
        self._max_batch = max_batch
        self._timeout = append_timeout
        self._max_pending = max_pending
        self._max_pending_bytes = max_pending_bytes
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        # Bodies (and their bytes) held from ``append`` until their batch is done: queued or
        # in a writer's hands, since both are in memory.
        self._pending = 0
        self._pending_bytes = 0
        self._alive = 0
        self._stopping = False

    @property
    def pending(self) -> int:
        """Bodies accepted and not yet done with (queued or being committed)."""
        return self._pending

    @property
    def pending_bytes(self) -> int:
        return self._pending_bytes

    @property
    def writers_alive(self) -> int:
        """Writer tasks still running; 0 means no body can be committed."""
        return self._alive

    def start(self) -> None:
        self._stopping = False
        self._tasks = [
            asyncio.create_task(self._write_forever(), name=f"ingest-writer-{n}")
            for n in range(self._writers)
        ]
        self._alive = len(self._tasks)
        for task in self._tasks:
            task.add_done_callback(self._writer_ended)

    async def stop(self) -> None:
        """Finish what is queued, then stop the writers."""
        if self._alive:
            await self._queue.join()
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        # Writers that ended early left their queue behind: answer it rather than hang.
        self._fail_queued(IngestOverloaded("writers_down"))

    def _writer_ended(self, task: asyncio.Task[None]) -> None:
        self._alive -= 1
        if self._stopping:
            return
        # ``_write_forever`` survives every ``Exception``: only a cancellation from outside
        # or a ``BaseException`` ends it. Say so loudly, since it never comes back.
        error = None if task.cancelled() else task.exception()
        log.error(
            "ingest writer stopped",
            exc_info=error,
            extra={"writer": task.get_name(), "writers_alive": self._alive},
        )
        if not self._alive:
            # Nobody will take what is queued: answer it now (503) instead of at the timeout.
            self._fail_queued(IngestOverloaded("writers_down"))

    def _fail_queued(self, failure: DependencyUnavailable) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            _fail([item], failure)
            self._release([item])
            self._queue.task_done()

    def _release(self, batch: list[_Pending]) -> None:
        self._pending -= len(batch)
        self._pending_bytes -= sum(len(item.raw.body) for item in batch)

    async def append(self, raw: RawWebhook) -> Ingested:
        """Commit ``raw`` (or find it is a duplicate) and enqueue its wake-up.

        Raises:
            IngestOverloaded: refused at once (bound reached, or no writer left); nothing
                was promised.
            DependencyUnavailable: Postgres did not commit it in time; nothing was promised.
        """
        if not self._alive:
            metrics.INGEST_REFUSED.labels("writers_down").inc()
            raise IngestOverloaded("writers_down")
        size = len(raw.body)
        # An empty pipeline takes any body, so one larger than the byte bound is never
        # refused for ever (MAX_BODY_BYTES bounds it).
        if self._pending >= self._max_pending or (
            self._pending and self._pending_bytes + size > self._max_pending_bytes
        ):
            metrics.INGEST_REFUSED.labels("queue_full").inc()
            raise IngestOverloaded("queue_full")
        future: asyncio.Future[Ingested] = asyncio.get_running_loop().create_future()
        self._pending += 1
        self._pending_bytes += size
        self._queue.put_nowait(_Pending(raw, future))
        try:
            async with asyncio.timeout(self._timeout):
                return await future
        except TimeoutError:
            # The future is cancelled: a later commit of this body answers nobody, and Meta's
            # retry of it will be a duplicate of a stored row. Nothing is lost either way.
            raise DependencyUnavailable("postgres: commit timed out") from None

    async def _write_forever(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except asyncio.QueueEmpty:
                    break
            try:
                await self._write(batch)
            except Exception as error:  # one bad batch must not end the writer
                # ``_write`` answers every request itself, so this is a bug. Whether the batch
                # was committed is unknown here: answer what is still waiting with a 503 (the
                # endpoint counts it as ``unavailable``); Meta retries, and a retry of a stored
                # body is a duplicate.
                log.error(
                    "ingest writer failed on a batch; the writer carries on",
                    exc_info=True,
                    extra={"batch": len(batch)},
                )
                _fail(batch, DependencyUnavailable(f"ingest: {type(error).__name__}"))
            except BaseException:
                # Cancelled or worse: this writer ends (``_writer_ended`` logs it). Whatever of
                # its batch is still waiting gets its 503 now rather than at the timeout.
                _fail(batch, IngestOverloaded("writers_down"))
                raise
            finally:
                self._release(batch)
                for _ in batch:
                    self._queue.task_done()

    async def _commit(self, raws: list[RawWebhook]) -> list[int | None]:
        """One autocommit statement: when it returns, the batch is committed."""
        try:
            async with self._pool.connection() as conn:
                return await append_webhooks(conn, raws, relay_lease_seconds=self._lease)
        except Exception as error:
            if not is_connection_error(error):
                raise
        # A pooled connection that died since its last use (Postgres restarted, idle kill):
        # its idle siblings likely died too, so test them all (replacing the dead) and try
        # once more. The statement is idempotent by digest: a batch that did commit the
        # first time comes back as duplicates.
        await self._pool.check()
        async with self._pool.connection() as conn:
            return await append_webhooks(conn, raws, relay_lease_seconds=self._lease)

    async def _write(self, batch: list[_Pending]) -> None:
        try:
            ids = await self._commit([item.raw for item in batch])
        except Exception as error:  # noqa: BLE001 - any failure means "not committed": 503
            metrics.DEPENDENCY_UP.labels("postgres").set(0)
            log.error(
                "webhook batch not committed", extra={"batch": len(batch), "error": repr(error)}
            )
            _fail(batch, DependencyUnavailable(f"postgres: {type(error).__name__}"))
            return
        # Committed: from here on every request of the batch is answered 200, even if what
        # follows raises (the writer loop then logs it and carries on).
        try:
            metrics.DEPENDENCY_UP.labels("postgres").set(1)
            metrics.INGEST_BATCH_SIZE.observe(len(batch))
            await self._gate.send([webhook_id for webhook_id in ids if webhook_id is not None])
        finally:
            for item, webhook_id in zip(batch, ids, strict=True):
                if not item.future.done():
                    item.future.set_result(Ingested(webhook_id))


def _fail(batch: list[_Pending], failure: DependencyUnavailable) -> None:
    """Answer the requests of ``batch`` still waiting with ``failure`` (a 503)."""
    for item in batch:
        if not item.future.done():
            item.future.set_exception(failure)

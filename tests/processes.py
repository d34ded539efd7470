"""Real processes for end-to-end tests: wapipe's services and a throwaway Redis.

Every process starts in its own session (``start_new_session=True``), so the whole group —
Dramatiq's main process, its worker processes and its fork processes — can be signalled at
once. Output goes to a log file whose tail is printed when a test fails around it. Every
helper stops what it started, by process group id, in a ``finally``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import httpx

# One implementation for the tests and the benchmark, which start the same services.
from bench.procs import free_port

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_START_TIMEOUT_S = 30.0
DEFAULT_STOP_TIMEOUT_S = 15.0
#: Dramatiq logs this once per worker process when its threads consume.
WORKER_READY_MARKER = "Worker process is ready for action."
LOG_TAIL_LINES = 60


def wait_until(
    condition: Callable[[], bool],
    *,
    timeout: float,
    interval: float = 0.1,
    message: str | Callable[[], str] = "condition",
) -> None:
    """Poll ``condition`` until it is true; AssertionError naming ``message`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {text}")
        time.sleep(interval)


class ProcessExited(AssertionError):
    """A process we wait for died before it was ready."""


class ManagedProcess:
    """One command in its own process group with its output in ``log_path``."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        log_dir: Path,
        cwd: Path = REPO_ROOT,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.cwd = cwd
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{name}.log"
        self._popen: subprocess.Popen[bytes] | None = None
        self._group_cleared = False

    @property
    def pid(self) -> int:
        assert self._popen is not None, f"{self.name} was never started"
        return self._popen.pid

    def start(self) -> None:
        assert self._popen is None or self._popen.poll() is not None, f"{self.name} is running"
        self._group_cleared = False
        with self.log_path.open("ab") as log:
            log.write(f"----- start {' '.join(self.argv)}\n".encode())
            log.flush()
            self._popen = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def is_running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def returncode(self) -> int | None:
        return None if self._popen is None else self._popen.poll()

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        tail = "\n".join(self.log_text().splitlines()[-lines:])
        return f"----- last {lines} lines of {self.log_path}\n{tail}\n-----"

    def ensure_running(self) -> None:
        if not self.is_running():
            raise ProcessExited(
                f"{self.name} exited with code {self.returncode()}\n{self.log_tail()}"
            )

    def signal_group(self, signum: signal.Signals) -> None:
        """Send ``signum`` to every process of the group this process leads."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signum)

    def wait_exit(self, timeout: float) -> int:
        assert self._popen is not None
        return self._popen.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL the whole group and reap the leader (a crash, as the kernel would do it)."""
        self.signal_group(signal.SIGKILL)
        self.wait_exit(DEFAULT_STOP_TIMEOUT_S)
        self._group_cleared = True

    def stop(self, timeout: float = DEFAULT_STOP_TIMEOUT_S) -> None:
        """Graceful stop, then SIGKILL to whatever is left of the group (once per start).

        SIGTERM goes to the leader only: Dramatiq's main process forwards it to its worker
        processes, and a worker process that gets a second SIGTERM exits at once instead of
        finishing its messages. uvicorn and redis-server are single processes.
        """
        if self._popen is None or self._group_cleared:
            return
        if self._popen.poll() is None:
            self._popen.send_signal(signal.SIGTERM)
            try:
                self._popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.signal_group(signal.SIGKILL)
                self._popen.wait(timeout=timeout)
        # Members that outlived the leader (a Dramatiq worker whose main process died).
        self.signal_group(signal.SIGKILL)
        self._group_cleared = True


@contextlib.contextmanager
def managed(process: ManagedProcess) -> Iterator[ManagedProcess]:
    """Stop ``process`` on the way out; print its log tail when the block failed."""
    try:
        yield process
    except BaseException:
        print(process.log_tail())
        raise
    finally:
        process.stop()


def wapipe_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "cli.main", *args]


def ingress_process(
    env: Mapping[str, str], log_dir: Path, *, name: str = "ingress"
) -> ManagedProcess:
    return ManagedProcess(name, wapipe_argv("ingress"), env=env, log_dir=log_dir)


def wait_for_ingress(process: ManagedProcess, base_url: str, timeout: float) -> None:
    def healthy() -> bool:
        process.ensure_running()
        try:
            return httpx.get(f"{base_url}/healthz", timeout=1.0).status_code == 200
        except httpx.TransportError:
            return False

    wait_until(healthy, timeout=timeout, message=lambda: f"{process.name}\n{process.log_tail()}")


@contextlib.contextmanager
def running_ingress(
    env: Mapping[str, str],
    log_dir: Path,
    *,
    name: str = "ingress",
    timeout: float = DEFAULT_START_TIMEOUT_S,
) -> Iterator[str]:
    """``wapipe ingress`` on ``WAPIPE_HOST:WAPIPE_PORT``; its base URL once /healthz answers."""
    base_url = f"http://{env['WAPIPE_HOST']}:{env['WAPIPE_PORT']}"
    process = ingress_process(env, log_dir, name=name)
    with managed(process):
        process.start()
        wait_for_ingress(process, base_url, timeout)
        yield base_url


class WorkerProcess(ManagedProcess):
    """A Dramatiq worker: ``wapipe worker`` or ``python -m dramatiq <module>`` (test apps).

    Ready once every worker process has logged that it consumes; for ``wapipe worker`` also
    once its metrics port answers.
    """

    def __init__(
        self,
        env: Mapping[str, str],
        log_dir: Path,
        *,
        module: str | None = None,
        processes: int = 1,
        threads: int = 2,
        name: str = "worker",
    ) -> None:
        counts = ("--processes", str(processes), "--threads", str(threads))
        if module is None:
            argv = wapipe_argv("worker", *counts)
        else:
            argv = [sys.executable, "-m", "dramatiq", module, *counts]
        super().__init__(name, argv, env=env, log_dir=log_dir)
        self.processes = processes
        self.serves_metrics = module is None
        self._ready_seen = 0

    def start(self) -> None:
        # Readiness counts markers written after this start (the log file is appended to).
        self._ready_seen = self.log_text().count(WORKER_READY_MARKER)
        super().start()

    def has_booted(self) -> bool:
        """Every worker process of this start logged that it consumes (it may have died since)."""
        booted = self.log_text().count(WORKER_READY_MARKER) - self._ready_seen
        return booted >= self.processes

    def _metrics_answer(self) -> bool:
        url = f"http://{self.env['WAPIPE_HOST']}:{self.env['WAPIPE_WORKER_METRICS_PORT']}/"
        try:
            return httpx.get(url, timeout=1.0).status_code == 200
        except httpx.TransportError:
            return False

    def is_ready(self) -> bool:
        if self.has_booted() and (not self.serves_metrics or self._metrics_answer()):
            return True
        self.ensure_running()
        return False

    def wait_ready(self, timeout: float = DEFAULT_START_TIMEOUT_S) -> None:
        wait_until(
            self.is_ready, timeout=timeout, message=lambda: f"{self.name}\n{self.log_tail()}"
        )


@contextlib.contextmanager
def running_worker(
    env: Mapping[str, str],
    log_dir: Path,
    *,
    module: str | None = None,
    processes: int = 1,
    threads: int = 2,
    name: str = "worker",
    timeout: float = DEFAULT_START_TIMEOUT_S,
) -> Iterator[WorkerProcess]:
    """A started, ready worker; stopped (group SIGTERM, then SIGKILL) on the way out."""
    worker = WorkerProcess(
        env, log_dir, module=module, processes=processes, threads=threads, name=name
    )
    with managed(worker):
        worker.start()
        worker.wait_ready(timeout)
        yield worker


class ThrowawayRedis:
    """A private ``redis-server`` on a free port that a test may stop and start again.

    No persistence: a restart comes back empty, as a Redis that lost its memory would.
    """

    def __init__(self, log_dir: Path, *, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        argv = [
            "redis-server",
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
        ]  # fmt: skip
        self._process = ManagedProcess(f"redis-{self.port}", argv, env=os.environ, log_dir=log_dir)

    def ping(self) -> bool:
        """One PING over a plain socket (redis-py would retry a refused connection for seconds)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self, timeout: float = 10.0) -> None:
        self._process.start()

        def answers() -> bool:
            self._process.ensure_running()
            return self.ping()

        wait_until(answers, timeout=timeout, message=f"redis-server on port {self.port}")

    def stop(self) -> None:
        self._process.stop()
        wait_until(lambda: not self.ping(), timeout=10.0, message="redis-server to go away")

    def log_tail(self) -> str:
        return self._process.log_tail()


@contextlib.contextmanager
def throwaway_redis(log_dir: Path) -> Iterator[ThrowawayRedis]:
    server = ThrowawayRedis(log_dir)
    try:
        server.start()
        yield server
    finally:
        server.stop()

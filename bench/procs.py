"""Processes the benchmark starts (and stops, by pid), and what ``/proc`` says about them."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_START_TIMEOUT_S = 30.0
DEFAULT_STOP_TIMEOUT_S = 15.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def child_environ(settings: Mapping[str, str]) -> dict[str, str]:
    """This environment without the shell's ``WAPIPE_*``/Prometheus variables, plus ``settings``."""
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("WAPIPE_", "dramatiq_prom_"))
        and key.upper() != "PROMETHEUS_MULTIPROC_DIR"
    }
    path = os.pathsep.join(p for p in (str(REPO_ROOT), inherited.get("PYTHONPATH", "")) if p)
    return {**inherited, "PYTHONPATH": path, **settings}


class ProcessFailed(Exception):
    """A process the benchmark started exited early or never became ready."""


class Service:
    """One command in its own session, output to ``log_path``; ``stop`` ends it by its pid."""

    def __init__(
        self, name: str, argv: Sequence[str], *, env: Mapping[str, str], log_dir: Path
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{name}.log"
        self._popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self._popen is None:
            raise ProcessFailed(f"{self.name} was never started")
        return self._popen.pid

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self._popen = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def ensure_running(self) -> None:
        if self._popen is None or self._popen.poll() is not None:
            code = None if self._popen is None else self._popen.returncode
            raise ProcessFailed(f"{self.name} exited (code {code}); log:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = DEFAULT_STOP_TIMEOUT_S) -> None:
        """SIGTERM to our process, then SIGKILL to what is left of the group it leads."""
        if self._popen is None:
            return
        if self._popen.poll() is None:
            self._popen.send_signal(signal.SIGTERM)
            try:
                self._popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._popen.pid, signal.SIGKILL)
                self._popen.wait(timeout=timeout)
        # Children that outlived their parent (Dramatiq's worker processes): same group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._popen.pid, signal.SIGKILL)


@contextlib.contextmanager
def running(service: Service, ready: Callable[[], bool], timeout: float) -> Iterator[Service]:
    """Start ``service``, wait until ``ready()``; stop it on the way out."""
    try:
        service.start()
        deadline = time.monotonic() + timeout
        while not ready():
            service.ensure_running()
            if time.monotonic() > deadline:
                raise ProcessFailed(
                    f"{service.name} not ready after {timeout:.0f} s; log:\n{service.log_tail()}"
                )
            time.sleep(0.1)
        yield service
    finally:
        service.stop()


def http_ok(url: str) -> Callable[[], bool]:
    def probe() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=1.0) as answer:  # noqa: S310 - our own URL
                return bool(answer.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    return probe


def python_argv(*args: str) -> list[str]:
    return [sys.executable, *args]


# --- /proc ------------------------------------------------------------------------------


def parse_vm_rss_kib(status_text: str) -> int | None:
    """``VmRSS`` of a ``/proc/<pid>/status`` text, in KiB (None for a kernel thread)."""
    for line in status_text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def parse_stat(stat_text: str) -> tuple[int, float]:
    """(parent pid, user+system CPU seconds) of a ``/proc/<pid>/stat`` line."""
    # The command name is in parentheses and may itself hold spaces or parentheses.
    rest = stat_text[stat_text.rindex(")") + 2 :].split()
    ppid = int(rest[1])
    ticks = int(rest[11]) + int(rest[12])
    return ppid, ticks / CLOCK_TICKS


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants alive now."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat = _read(f"/proc/{entry}/stat")
        if stat is None:
            continue
        ppid, _ = parse_stat(stat)
        parents.setdefault(ppid, []).append(int(entry))
    tree: list[int] = []
    pending = [root]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending.extend(parents.get(pid, []))
    return tree


def rss_bytes(pids: Sequence[int]) -> int:
    total = 0
    for pid in pids:
        status = _read(f"/proc/{pid}/status")
        kib = parse_vm_rss_kib(status) if status else None
        total += (kib or 0) * 1024
    return total


def cpu_seconds(pids: Sequence[int]) -> float:
    total = 0.0
    for pid in pids:
        stat = _read(f"/proc/{pid}/stat")
        if stat is not None:
            total += parse_stat(stat)[1]
    return total


def parse_machine_busy_seconds(proc_stat_text: str) -> float:
    """CPU seconds all CPUs spent busy (not idle, not waiting for I/O), from ``/proc/stat``."""
    for line in proc_stat_text.splitlines():
        if line.startswith("cpu "):
            ticks = [int(value) for value in line.split()[1:]]
            idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
            # guest time is already counted in user time
            busy = sum(ticks[:8]) - idle
            return busy / CLOCK_TICKS
    raise ValueError("no aggregate cpu line in /proc/stat")


def machine_busy_seconds() -> float:
    text = _read("/proc/stat")
    return parse_machine_busy_seconds(text) if text else 0.0


@dataclass
class Watch:
    """CPU and RSS of named process trees over a window (RSS sampled on a thread)."""

    roots: dict[str, Callable[[], list[int]]]
    interval_s: float = 0.5
    rss_peak: dict[str, int] = field(default_factory=dict)
    rss_samples: dict[str, list[int]] = field(default_factory=dict)
    cpu_start: dict[str, float] = field(default_factory=dict)
    cpu_used: dict[str, float] = field(default_factory=dict)
    machine_busy_s: float = 0.0  # every process on the machine, ours included
    wall_s: float = 0.0
    _started: float = 0.0
    _machine_start: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def begin(self) -> None:
        self._started = time.monotonic()
        self._machine_start = machine_busy_seconds()
        self.cpu_start = {name: cpu_seconds(pids()) for name, pids in self.roots.items()}
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample, name="bench-rss", daemon=True)
        self._thread.start()

    def end(self) -> None:
        self.wall_s = time.monotonic() - self._started
        self.machine_busy_s = machine_busy_seconds() - self._machine_start
        self.cpu_used = {
            name: cpu_seconds(pids()) - self.cpu_start.get(name, 0.0)
            for name, pids in self.roots.items()
        }
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _sample(self) -> None:
        while not self._stop.is_set():
            for name, pids in self.roots.items():
                value = rss_bytes(pids())
                self.rss_samples.setdefault(name, []).append(value)
                self.rss_peak[name] = max(self.rss_peak.get(name, 0), value)
            self._stop.wait(self.interval_s)

    def machine_cores(self) -> float:
        """CPU cores busy on the whole machine during the window."""
        return self.machine_busy_s / self.wall_s if self.wall_s else 0.0

    def cpu_cores(self, name: str) -> float:
        return self.cpu_used.get(name, 0.0) / self.wall_s if self.wall_s else 0.0

    def rss_mib(self, name: str) -> float:
        return self.rss_peak.get(name, 0) / (1024 * 1024)

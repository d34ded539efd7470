"""Entry point of ``python -m bench`` (``make bench``)."""

from __future__ import annotations

if __name__ == "__main__":
    from bench.runner import run

    raise SystemExit(run())

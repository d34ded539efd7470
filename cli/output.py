"""How commands print: JSON for scripts, aligned tables for people, errors to stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TextIO


class CommandError(Exception):
    """The command failed for a reason the operator can act on (exit 1)."""


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return value


def print_json(value: Any, *, stream: TextIO | None = None) -> None:
    json.dump(value, stream or sys.stdout, default=_plain, ensure_ascii=False)
    (stream or sys.stdout).write("\n")


def print_table(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str], *, stream: TextIO | None = None
) -> None:
    out = stream or sys.stdout
    cells = [[_cell(row.get(column)) for column in columns] for row in rows]
    widths = [
        max([len(column), *(len(line[i]) for line in cells)]) for i, column in enumerate(columns)
    ]
    out.write(
        "  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip() + "\n"
    )
    for line in cells:
        out.write("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() + "\n")
    if not rows:
        out.write("(none)\n")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S%z")
    text = str(value).replace("\n", " ")
    return text if len(text) <= 80 else text[:79] + "…"


def print_fields(
    fields: Sequence[tuple[str, Any]], *, stream: TextIO | None = None, width: int = 12
) -> None:
    """``label  value`` lines for one record (``-`` for a missing value)."""
    out = stream or sys.stdout
    for label, value in fields:
        text = "-" if value is None else _plain(value)
        out.write(f"{label:<{width}} {text}\n")


def print_progress(verb: str, done: int, total: int, *, stream: TextIO | None = None) -> None:
    """``replayed 150/1200`` on stderr: progress never mixes with a JSON document on stdout."""
    out = stream or sys.stderr
    out.write(f"{verb} {done}/{total}\n")
    out.flush()

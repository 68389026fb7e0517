"""Export entries as JSON Lines: one canonical entry document per line (see `chain`).

Each line carries its `prev_hash` and `hash`, so a copy can be re-checked away from the
database: an exported contiguous range re-verifies with `ChainChecker` started at its
first line's `prev_hash`; any single line re-hashes on its own.
"""

from __future__ import annotations

from datetime import datetime
from typing import TextIO

from sqlalchemy import Engine

from shared.audit.chain import export_line
from shared.audit.log import Target, iter_entries, reading
from shared.audit.model import AuditKind


def export_jsonl(source: Target | Engine, out: TextIO, *, subject: str | None = None,
                 kind: AuditKind | None = None, since: datetime | None = None,
                 until: datetime | None = None) -> int:
    """Write the matching entries, oldest first, to `out`; returns how many.

    `since` is inclusive and `until` exclusive, both on the recorded time.
    """
    written = 0
    with reading(source) as connection:
        entries = iter_entries(connection, subject=subject, kind=kind, since=since, until=until)
        for entry in entries:
            out.write(export_line(entry) + "\n")
            written += 1
    return written

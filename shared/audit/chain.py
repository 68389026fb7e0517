"""The hash chain: how an entry is encoded and hashed, and how a run of entries is checked.

Encoding, version 1 (changing any of it invalidates every stored hash)
----------------------------------------------------------------------
The *document* of an entry is a JSON object with exactly these keys, every key always
present (an absent value is `null`, never a missing key)::

    v              1
    seq            integer, 1 for the first entry, no gaps
    time           "YYYY-MM-DDTHH:MM:SS.ffffffZ" (RFC 3339, UTC, always 6 fraction digits)
    kind           "access" | "disclosure"
    actor          client id, or "system:<name>"
    subject        the employee's key subject id
    resource_type  code
    resource_ids   array of ids, sorted, unique
    fields         array of field names, sorted, unique
    purpose        code
    consent_id     id | null
    recipient      {"party_id": id, "role": code} | null

Its *canonical bytes* are `json.dumps(document, sort_keys=True, separators=(",", ":"),
ensure_ascii=True)` encoded as ASCII: no whitespace, keys in code-point order, only ASCII.
Then::

    hash = SHA-256( bytes.fromhex(prev_hash) || canonical bytes )   as 64 lower-case hex

with `prev_hash` the previous entry's hash, or 64 zeros (`GENESIS_HASH`) for entry 1.
This is unambiguous: the previous hash is a fixed 32 bytes, and JSON with every key
present is self-delimiting, so two different (prev_hash, entry) pairs never share an
input. Because `seq` is inside the hash, moving an entry to another place breaks it.

An exported JSON Lines record is the document plus `prev_hash` and `hash`, in the same
canonical form: remove those two keys and the line re-hashes by the rule above.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from shared.audit.model import AuditEntry, AuditEvent, AuditKind, Recipient

ENCODING_VERSION = 1
GENESIS_HASH = "0" * 64
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(_TIME_FORMAT)


def entry_document(seq: int, recorded_at: datetime, event: AuditEvent) -> dict[str, Any]:
    recipient = event.recipient
    return {
        "v": ENCODING_VERSION, "seq": seq, "time": format_time(recorded_at),
        "kind": str(event.kind), "actor": event.actor, "subject": event.subject,
        "resource_type": event.resource_type, "resource_ids": list(event.resource_ids),
        "fields": list(event.fields), "purpose": event.purpose, "consent_id": event.consent_id,
        "recipient": None if recipient is None else
        {"party_id": recipient.party_id, "role": recipient.role},
    }


def canonical_bytes(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=True).encode("ascii")


def chain_hash(prev_hash: str, seq: int, recorded_at: datetime, event: AuditEvent) -> str:
    canonical = canonical_bytes(entry_document(seq, recorded_at, event))
    return hashlib.sha256(bytes.fromhex(prev_hash) + canonical).hexdigest()


def seal(prev_hash: str, seq: int, recorded_at: datetime, event: AuditEvent) -> AuditEntry:
    """The entry that follows `prev_hash` at position `seq`."""
    return AuditEntry(seq, recorded_at, event, prev_hash,
                      chain_hash(prev_hash, seq, recorded_at, event))


def export_line(entry: AuditEntry) -> str:
    document = entry_document(entry.seq, entry.recorded_at, entry.event)
    document.update(prev_hash=entry.prev_hash, hash=entry.hash)
    return canonical_bytes(document).decode("ascii")


def entry_from_line(line: str) -> AuditEntry:
    """Read an exported line back (to re-check a copy away from the database)."""
    doc = json.loads(line)
    if doc.get("v") != ENCODING_VERSION:
        raise ValueError("unknown audit encoding version")
    recipient = None if doc["recipient"] is None else Recipient(**doc["recipient"])
    event = AuditEvent(AuditKind(doc["kind"]), doc["actor"], doc["subject"],
                       doc["resource_type"], tuple(doc["resource_ids"]), tuple(doc["fields"]),
                       doc["purpose"], doc["consent_id"], recipient)
    recorded_at = datetime.strptime(doc["time"], _TIME_FORMAT).replace(tzinfo=UTC)
    return AuditEntry(doc["seq"], recorded_at, event, doc["prev_hash"], doc["hash"])


class BreakReason(StrEnum):
    MISSING_ENTRY = "missing_entry"
    ENTRY_ALTERED = "entry_altered"
    BROKEN_LINK = "broken_link"
    HEAD_MISMATCH = "head_mismatch"
    HEAD_MISSING = "head_missing"
    ANCHOR_MISMATCH = "anchor_mismatch"


_EXPLANATIONS = {
    BreakReason.MISSING_ENTRY: "no entry has this sequence number: it was removed",
    BreakReason.ENTRY_ALTERED: "the entry does not match its hash: it was edited, or moved "
                               "here by an insertion, removal or reordering",
    BreakReason.BROKEN_LINK: "the entry does not follow the previous entry's hash: an entry "
                             "before it was replaced, inserted or reordered",
    BreakReason.HEAD_MISMATCH: "the chain head disagrees with the last entry: entries at the "
                               "end were removed, added or replaced outside the audit log",
    BreakReason.HEAD_MISSING: "the chain head row is gone",
    BreakReason.ANCHOR_MISMATCH: "the chain differs from the anchor recorded earlier: it was "
                                 "truncated or rewritten",
}


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """Where the chain first breaks: the sequence number of the first bad position."""

    seq: int
    reason: BreakReason

    def describe(self) -> str:
        return f"chain broken at entry {self.seq} ({self.reason}): {_EXPLANATIONS[self.reason]}"


@dataclass(frozen=True, slots=True)
class ChainAnchor:
    """A position and hash of the chain, e.g. the head as recorded outside the database.

    The chain alone cannot reveal a rewrite of its whole tail (head included); checking
    against an anchor kept elsewhere can."""

    seq: int
    hash: str

    @classmethod
    def parse(cls, text: str) -> ChainAnchor:
        seq, sep, digest = text.partition(":")
        if not sep or not seq.isdigit() or len(digest) != 64:
            raise ValueError("an anchor is SEQ:HASH with a 64-digit hex hash")
        int(digest, 16)
        return cls(int(seq), digest.lower())

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"


START = ChainAnchor(0, GENESIS_HASH)


@dataclass(frozen=True, slots=True)
class VerificationResult:
    entries_checked: int
    last: ChainAnchor  # the last entry that checked out (`START` when there is none)
    first_break: ChainBreak | None

    @property
    def ok(self) -> bool:
        return self.first_break is None


class ChainChecker:
    """Feed entries in sequence order; the first bad one is reported and checking stops."""

    def __init__(self, start: ChainAnchor = START, anchor: ChainAnchor | None = None) -> None:
        self.last = start
        self.count = 0
        self.anchor = anchor
        self.first_break: ChainBreak | None = None

    def check(self, entry: AuditEntry) -> ChainBreak | None:
        if self.first_break is None:
            self.first_break = self._problem(entry)
            if self.first_break is None:
                self.last = ChainAnchor(entry.seq, entry.hash)
                self.count += 1
        return self.first_break

    def _problem(self, entry: AuditEntry) -> ChainBreak | None:
        expected = self.last.seq + 1
        if entry.seq != expected:
            return ChainBreak(min(expected, entry.seq), BreakReason.MISSING_ENTRY)
        actual = chain_hash(entry.prev_hash, entry.seq, entry.recorded_at, entry.event)
        if actual != entry.hash:
            return ChainBreak(entry.seq, BreakReason.ENTRY_ALTERED)
        if entry.prev_hash != self.last.hash:
            return ChainBreak(entry.seq, BreakReason.BROKEN_LINK)
        if self.anchor and self.anchor.seq == entry.seq and self.anchor.hash != entry.hash:
            return ChainBreak(entry.seq, BreakReason.ANCHOR_MISMATCH)
        return None

    def finish(self, head: ChainAnchor | None) -> VerificationResult:
        """Compare the end of the chain with the recorded head (None: the head row is gone)."""
        if self.first_break is None:
            self.first_break = self._end_problem(head)
        return VerificationResult(self.count, self.last, self.first_break)

    def _end_problem(self, head: ChainAnchor | None) -> ChainBreak | None:
        last = self.last
        if self.anchor and self.anchor.seq > last.seq:
            return ChainBreak(last.seq + 1, BreakReason.ANCHOR_MISMATCH)
        if head is None:
            return ChainBreak(last.seq + 1, BreakReason.HEAD_MISSING)
        if head == last:
            return None
        seq = head.seq if head.seq == last.seq else min(head.seq, last.seq) + 1
        return ChainBreak(seq, BreakReason.HEAD_MISMATCH)

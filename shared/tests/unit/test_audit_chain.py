"""The documented hash encoding, export lines, and the chain checker on in-memory entries."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest

from shared.audit import (
    GENESIS_HASH,
    AuditEvent,
    BreakReason,
    ChainAnchor,
    ChainChecker,
    Recipient,
    entry_from_line,
    export_line,
)
from shared.audit.chain import seal
from shared.audit.testing import sample_event
from shared.ids import new_id

A, B, C, D, E = ("a" * 26, "b" * 26, "c" * 26, "d" * 26, "e" * 26)
MOMENT = datetime(2027, 1, 5, 18, 30, 0, 1, tzinfo=UTC)
EVENT = AuditEvent.disclosure(
    actor=f"cli_{A}", subject=f"sub_{B}", resource_type="attestation",
    resource_ids=[f"att_{C}"], fields=["compliant", "attendance"],
    purpose="employment_support", consent_id=f"con_{D}", recipient=Recipient(f"emp_{E}", "hr"))
# Written out by hand from the module documentation, not produced by the code under test.
CANONICAL = (
    '{"actor":"cli_' + A + '","consent_id":"con_' + D + '","fields":["attendance","compliant"],'
    '"kind":"disclosure","purpose":"employment_support","recipient":{"party_id":"emp_' + E
    + '","role":"hr"},"resource_ids":["att_' + C + '"],"resource_type":"attestation","seq":1,'
    '"subject":"sub_' + B + '","time":"2027-01-05T18:30:00.000001Z","v":1}'
)


def chain(length: int) -> list:
    entries, prev = [], GENESIS_HASH
    subject = new_id("sub")
    for index in range(length):
        entry = seal(prev, index + 1, MOMENT + timedelta(seconds=index), sample_event(subject, index))
        entries.append(entry)
        prev = entry.hash
    return entries


def check(entries, head=None, anchor=None):
    checker = ChainChecker(anchor=anchor)
    for entry in entries:
        if checker.check(entry):
            break
    last = entries[-1] if entries else None
    default_head = ChainAnchor(last.seq, last.hash) if last else ChainAnchor(0, GENESIS_HASH)
    return checker.finish(head or default_head)


def test_the_hash_follows_the_documented_encoding():
    entry = seal(GENESIS_HASH, 1, MOMENT, EVENT)
    expected = hashlib.sha256(bytes(32) + CANONICAL.encode("ascii")).hexdigest()
    assert entry.hash == expected
    assert entry.hash == "ea1b3c9ce5253d65354314b0f22eb516f13780332bff968ce747324f3706d481"


def test_the_previous_hash_is_part_of_the_hash():
    assert seal("1" * 64, 1, MOMENT, EVENT).hash != seal(GENESIS_HASH, 1, MOMENT, EVENT).hash


def test_an_export_line_is_the_document_plus_its_hashes_and_reads_back():
    entry = chain(3)[1]
    line = export_line(entry)
    document = json.loads(line)
    assert line == json.dumps(document, sort_keys=True, separators=(",", ":"))
    assert document.pop("hash") == entry.hash
    prev_hash = document.pop("prev_hash")
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":")).encode("ascii")
    assert hashlib.sha256(bytes.fromhex(prev_hash) + canonical).hexdigest() == entry.hash
    assert entry_from_line(line) == entry


def test_an_intact_chain_checks_out():
    result = check(chain(5))
    assert result.ok and result.entries_checked == 5


def test_an_empty_chain_checks_out():
    assert check([]).ok


@pytest.mark.parametrize("position", range(5))
def test_a_missing_entry_is_named(position):
    original = chain(5)
    entries = original[:position] + original[position + 1:]
    result = check(entries, head=ChainAnchor(5, original[-1].hash))
    assert result.first_break.seq == position + 1


def test_an_entry_given_another_entrys_content_breaks_there():
    entries = chain(4)
    victim = entries[2]
    entries[2] = type(victim)(victim.seq, victim.recorded_at, entries[1].event,
                              victim.prev_hash, victim.hash)
    result = check(entries)
    assert (result.first_break.seq, result.first_break.reason) == (3, BreakReason.ENTRY_ALTERED)


def test_an_entry_that_does_not_follow_its_predecessor_is_a_broken_link():
    entries = chain(3)
    stranger = seal("1" * 64, 3, MOMENT, entries[2].event)  # validly sealed, wrong parent
    result = check([*entries[:2], stranger])
    assert (result.first_break.seq, result.first_break.reason) == (3, BreakReason.BROKEN_LINK)


def test_a_head_behind_the_chain_reveals_unrecorded_entries():
    entries = chain(4)
    result = check(entries, head=ChainAnchor(2, entries[1].hash))
    assert (result.first_break.seq, result.first_break.reason) == (3, BreakReason.HEAD_MISMATCH)


def test_an_anchor_beyond_the_end_reveals_truncation():
    entries = chain(4)
    anchor = ChainAnchor(4, entries[3].hash)
    result = check(entries[:3], anchor=anchor)
    assert (result.first_break.seq, result.first_break.reason) == (4, BreakReason.ANCHOR_MISMATCH)


def test_an_anchor_that_matches_passes():
    entries = chain(4)
    assert check(entries, anchor=ChainAnchor(2, entries[1].hash)).ok


@pytest.mark.parametrize("text", ["12", "x:" + "a" * 64, "3:" + "a" * 63, "3:" + "g" * 64])
def test_malformed_anchors_are_refused(text):
    with pytest.raises(ValueError):
        ChainAnchor.parse(text)


def test_an_anchor_round_trips_through_text():
    anchor = ChainAnchor(7, "ab" * 32)
    assert ChainAnchor.parse(str(anchor)) == anchor

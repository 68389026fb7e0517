"""Audit events hold ids, field names and codes only: values are refused when built."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.audit import AuditEvent, AuditKind, AuditLog, InvalidAuditEvent, Recipient, system_actor
from shared.ids import new_id

SUBJECT = new_id("sub")

# What values look like: none of them may land in any slot of an entry.
VALUES = [
    "jane.doe@example.com",
    "Jane Doe",
    "+1 555 0100",
    "2027-01-05",
    "Major depressive disorder",
    "Depression",
    "alcohol use disorder",
    "prefers evening sessions; relapse in May",
    "x" * 200,
    "",
]


def disclosure(**overrides):
    arguments = dict(actor=new_id("cli"), subject=SUBJECT, resource_type="attestation",
                     resource_ids=[new_id("att")], fields=["attendance"],
                     purpose="employment_support", consent_id=new_id("con"),
                     recipient=Recipient(new_id("emp"), "hr"))
    arguments.update(overrides)
    return AuditEvent.disclosure(**arguments)


SLOTS = {
    "actor": lambda v: disclosure(actor=v),
    "subject": lambda v: disclosure(subject=v),
    "resource_type": lambda v: disclosure(resource_type=v),
    "resource_id": lambda v: disclosure(resource_ids=[new_id("att"), v]),
    "field": lambda v: disclosure(fields=["attendance", v]),
    "purpose": lambda v: disclosure(purpose=v),
    "consent_id": lambda v: disclosure(consent_id=v),
    "recipient_party": lambda v: disclosure(recipient=Recipient(v, "hr")),
    "recipient_role": lambda v: disclosure(recipient=Recipient(new_id("emp"), v)),
    "system_actor": lambda v: disclosure(actor="system:" + v),
}


def test_a_well_formed_disclosure_is_accepted():
    event = disclosure(fields=["claims.compliant", "attendance"], actor=system_actor("issuer"))
    assert event.kind is AuditKind.DISCLOSURE
    assert event.actor == "system:issuer"


@pytest.mark.parametrize("slot", sorted(SLOTS))
@pytest.mark.parametrize("value", VALUES)
def test_values_are_refused_in_every_slot(slot, value):
    with pytest.raises(InvalidAuditEvent) as refused:
        SLOTS[slot](value)
    # The refusal must not repeat the value: error messages end up in logs.
    if len(value) > 3:
        assert value not in str(refused.value)


@given(st.text(min_size=1).filter(lambda t: any(c not in "abcdefghijklmnopqrstuvwxyz0123456789_."
                                                for c in t)))
def test_a_field_name_with_any_other_character_is_refused(text):
    with pytest.raises(InvalidAuditEvent):
        disclosure(fields=[text])


@given(st.text(alphabet=st.characters(categories=["Zs", "Po", "Lu", "Nd"]), min_size=1))
def test_ids_with_spaces_punctuation_or_upper_case_only_are_refused(text):
    with pytest.raises(InvalidAuditEvent):
        disclosure(resource_ids=[text])


def test_a_string_instead_of_a_list_is_refused_not_split_into_characters():
    with pytest.raises(InvalidAuditEvent, match="list"):
        disclosure(fields="attendance")


def test_field_and_resource_lists_are_sets_stored_sorted():
    first, second = sorted([new_id("att"), new_id("att")])
    event = disclosure(fields=["compliant", "attendance", "compliant"],
                       resource_ids=[second, first, second])
    assert event.fields == ("attendance", "compliant")
    assert event.resource_ids == (first, second)


def test_empty_field_list_is_refused():
    with pytest.raises(InvalidAuditEvent):
        disclosure(fields=[])


def test_a_disclosure_needs_a_recipient_and_a_consent():
    with pytest.raises(InvalidAuditEvent):
        AuditEvent(AuditKind.DISCLOSURE, new_id("cli"), SUBJECT, "attestation",
                   (new_id("att"),), ("attendance",), "employment_support", new_id("con"), None)
    with pytest.raises(InvalidAuditEvent):
        AuditEvent(AuditKind.DISCLOSURE, new_id("cli"), SUBJECT, "attestation",
                   (new_id("att"),), ("attendance",), "employment_support", None,
                   Recipient(new_id("emp"), "hr"))


def test_an_access_has_no_recipient():
    with pytest.raises(InvalidAuditEvent):
        AuditEvent(AuditKind.ACCESS, new_id("cli"), SUBJECT, "accommodation",
                   (new_id("acc"),), ("functional_limitations",), "accommodation_review",
                   None, Recipient(new_id("emp"), "hr"))


def test_a_closed_purpose_set_refuses_other_purposes():
    log = AuditLog(purposes={"accommodation_review"})
    with pytest.raises(InvalidAuditEvent, match="purpose"):
        log.append(None, disclosure(purpose="employment_support"))  # refused before any I/O

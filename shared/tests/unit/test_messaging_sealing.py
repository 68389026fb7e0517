"""Sensitive fields: encrypted before the outbox, bound to where they live, opened on arrival."""

from __future__ import annotations

from dataclasses import replace

import pytest

from shared.messaging import CloudEvent, EventSealer
from shared.messaging.sealing import SealedFieldError
from shared.messaging.testing import ERASED, FakeCipher

DATA = {"referral_id": "ref_1",
        "employee": {"name": "Dana Whitfield", "email": "dana@example.com", "phone": None},
        "level_of_care": {"kind": "IOP", "hours": 12},
        "records": [{"id": "r1", "note": "group"}, {"id": "r2", "note": "individual"}]}
SENSITIVE = ("employee.name", "employee.email", "employee.phone", "employee.missing",
             "level_of_care", "records.*.note")


@pytest.fixture
def cipher():
    return FakeCipher()


def make_event(**overrides):
    fields = dict(type="enrollment.started", source="/referral", tenant="emp_1",
                  key_subject="sub_1", data=DATA, sensitive_fields=SENSITIVE)
    fields.update(overrides)
    return CloudEvent(**fields)


def test_sealed_event_holds_no_plaintext_and_opens_to_the_original(cipher):
    sealer = EventSealer(cipher)
    event = make_event()
    sealed = sealer.seal(event)
    body = sealed.to_json()
    for secret in ("Dana", "dana@example.com", "IOP", "group", "individual"):
        assert secret not in body
    assert sealed.data["referral_id"] == "ref_1"
    assert sealed.data["records"][0]["id"] == "r1"
    assert sealed.data["employee"]["phone"] is None
    assert "missing" not in sealed.data["employee"]
    assert event.data == DATA  # the caller's event is not modified
    opened = sealer.open(CloudEvent.from_json(body))
    assert opened.data == DATA


def test_each_value_is_bound_to_its_concrete_path(cipher):
    sealer = EventSealer(cipher)
    sealed = sealer.seal(make_event())
    records = sealed.data["records"]
    swapped = [{**records[0], "note": records[1]["note"]}, {**records[1], "note": records[0]["note"]}]
    with pytest.raises(SealedFieldError):
        sealer.open(replace(sealed, data={**sealed.data, "records": swapped}))


def test_ciphertext_moved_to_another_field_fails(cipher):
    sealer = EventSealer(cipher)
    sealed = sealer.seal(make_event())
    employee = {**sealed.data["employee"], "email": sealed.data["employee"]["name"]}
    with pytest.raises(SealedFieldError):
        sealer.open(replace(sealed, data={**sealed.data, "employee": employee}))


@pytest.mark.parametrize("change", [{"tenant": "emp_2"}, {"type": "enrollment.completed"},
                                    {"id": "evt_other"}, {"key_subject": "sub_2"}])
def test_ciphertext_in_another_event_tenant_or_subject_fails(cipher, change):
    sealer = EventSealer(cipher)
    sealed = sealer.seal(make_event())
    with pytest.raises(SealedFieldError):
        sealer.open(replace(sealed, **change))


def test_erased_subject_opens_as_the_erased_marker(cipher):
    sealer = EventSealer(cipher)
    sealed = sealer.seal(make_event())
    cipher.erased_subjects.add("sub_1")
    opened = sealer.open(sealed)
    assert opened.data["employee"]["name"] is ERASED
    assert opened.data["referral_id"] == "ref_1"


def test_a_listed_field_that_is_not_a_ciphertext_is_refused(cipher):
    forged = make_event(data={**DATA, "level_of_care": {"kind": "IOP"}},
                        sensitive_fields=("level_of_care",))
    with pytest.raises(SealedFieldError):
        EventSealer(cipher).open(forged)


def test_event_without_sensitive_fields_passes_unchanged(cipher):
    event = make_event(sensitive_fields=(), key_subject=None)
    sealer = EventSealer(cipher)
    assert sealer.seal(event) is event
    assert sealer.open(event) is event
